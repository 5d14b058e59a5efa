"""RE2, compiled the same way everywhere: linear time whatever the pattern (no client or config
can stall the event loop), quiet on stderr, and a readable reason when a pattern is bad."""

from __future__ import annotations

import re2

OPTIONS = re2.Options()
OPTIONS.log_errors = False


def compile_re2(pattern: str, problem: str, error: type[ValueError] = ValueError) -> re2._Regexp:
    """`pattern` compiled; else `error("<problem>: <RE2's reason>")`."""
    try:
        return re2.compile(pattern, OPTIONS)
    except re2.error as failure:
        args = failure.args
        reason = args[0].decode(errors="replace") if args and isinstance(args[0], bytes) else str(failure)
        raise error(f"{problem}: {reason}") from None
