"""Server-side line filters (grep, minimum level) shared by the stream and history transports.

`grep` uses RE2: linear time whatever the pattern, so a client's regex cannot stall the
event loop for everyone (Python's `re` can backtrack for minutes on a hostile pattern).
"""

from __future__ import annotations

from collections.abc import Callable

import re2

from sidecar.lines import LEVEL_RANK, LEVELS, LogLine

MAX_PATTERN_CHARS = 1000
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class BadFilter(ValueError):
    """A filter parameter the client must fix; its message is shown in the 400 response."""


def compile_grep(pattern: str) -> Callable[[str], object]:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise BadFilter(f"grep: pattern longer than {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(pattern, _RE2_OPTIONS).search
    except re2.error as error:
        reason = error.args[0].decode(errors="replace") if error.args and isinstance(error.args[0], bytes) else str(error)
        raise BadFilter(f"grep: invalid regular expression (RE2 syntax): {reason}") from None


class LineFilter:
    """Keeps lines matching `grep` and at or above `level`. Empty filter keeps everything."""

    def __init__(self, grep: str | None = None, level: str | None = None) -> None:
        self.grep = grep or None
        self.level = level or None
        self._search = compile_grep(grep) if grep else None
        if self.level is not None:
            if self.level not in LEVEL_RANK:
                raise BadFilter(f"level: must be one of {', '.join(LEVELS)}")
            self._min_rank = LEVEL_RANK[self.level]

    @property
    def keeps_all(self) -> bool:
        return self._search is None and self.level is None

    def __call__(self, line: LogLine) -> bool:
        if self.level is not None and (line.level is None or LEVEL_RANK[line.level] < self._min_rank):
            return False
        return self._search is None or self._search(line.text) is not None
