"""Pattern counters: named RE2 patterns counted per source, for alerting without a log store.

`LOG_SIDECAR_COUNT=errors=(?i)\\berror\\b,timeouts=timed out` -> the number of lines that match
each, as log_sidecar_pattern_matches_total{source,pattern}. One search per pattern over the
whole batch joined by newlines; matches are mapped back to lines, so a line counts once.
"""

from __future__ import annotations

from bisect import bisect_right

import re2

from sidecar.regex import compile_re2


def compile_pattern(name: str, pattern: str) -> re2._Regexp:
    return compile_re2(pattern, f"count pattern {name!r}: invalid RE2 pattern")


class PatternCounter:
    def __init__(self, patterns: list[tuple[str, str]]) -> None:
        self.patterns = [(name, compile_pattern(name, pattern)) for name, pattern in patterns]

    def count(self, joined: str, starts: list[int]) -> dict[str, int]:
        """Lines matching each pattern in `joined` (the batch's lines joined by newlines,
        `starts` the offset of each line)."""
        counts: dict[str, int] = {}
        for name, regex in self.patterns:
            last = -1
            found = 0
            for match in regex.finditer(joined):
                line = bisect_right(starts, match.start()) - 1
                if line != last:
                    found += 1
                    last = line
            if found:
                counts[name] = found
        return counts
