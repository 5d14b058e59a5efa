"""Multi-line entries: is this line a continuation of the open entry, or the first of a new one?

Grouping marks, it never holds a line back: the decision for a line is made when it arrives,
from the lines before it. Modes (LOG_SIDECAR_MULTILINE):
- `auto`: continuation lines of stack traces and dumps, learnt from Fluent Bit's built-in
  multiline parsers (python, java, go, ruby) and extended:
  * indented lines (Java/Kotlin/Node.js/.NET `at ...`, Python `  File ...`, Ruby `from ...`,
    Go `\t/path/file.go:12`, `\t... 3 more`), and `--- End of ... stack trace ---` (.NET);
  * `Caused by: ...` (Java/Kotlin), `Traceback (most recent call last):` after a warn or
    worse line, Python's chained-exception lines, and the exception line ending a Python
    traceback (`ValueError: boom`, right after an indented frame line);
  * an exception header after a warn-or-worse line: a qualified class name ending in
    Exception/Error/Throwable (`java.lang.IllegalStateException: x`,
    `System.InvalidOperationException: x`) or a bare `TypeError: x` (Node.js);
  * Go: after `panic: ` / `fatal error: ` / `goroutine N [state]:` every blank line,
    `goroutine N [...]:` header, function line `pkg.(*T).Method(...)`, `created by ...`,
    `[signal ...`, `exit status N` and register line joins, until any other line;
  * Ruby/Rails backtrace lines `app/models/user.rb:12:in 'save'`.
- `off`: every line is its own entry.
- any other value: an RE2 pattern of an entry's first line; every other line continues.

Bounded by MULTILINE_MAX_LINES and MULTILINE_MAX_BYTES (past them the line starts a new entry)
and by IDLE_SECONDS (a line arriving after a pause that long starts a new entry, like Fluent
Bit's flush_timeout).
"""

from __future__ import annotations

import re2

from sidecar.lines import LEVEL_RANK
from sidecar.regex import OPTIONS as _OPTIONS
from sidecar.regex import compile_re2

IDLE_SECONDS = 5.0
_WARN = LEVEL_RANK["warn"]
_ERROR = LEVEL_RANK["error"]
_EXCEPTION_HEADER = re2.compile(
    r"^(?:(?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable|Fault)\b"
    r"|[A-Z]\w*(?:Error|Exception)(?::|$))",
    _OPTIONS,
)
_PYTHON_EXCEPTION = re2.compile(r"^[A-Za-z_][\w.]*(?::|$)", _OPTIONS)
_GO_LINE = re2.compile(
    r"^(?:goroutine \d+ \[[^\]]*\]:?$|created by |\[signal |exit status \d+$|[a-z0-9]{2,3}\s+0x[0-9a-f]+$"
    r"|[\w./%-]+(?:\.\(\*?[\w\[\]]+\))?\.[\w.\[\]{}-]+\(.*\)$)",
    _OPTIONS,
)
_RUBY_FRAME = re2.compile(r"^[\w./-]+\.rb:\d+:in ", _OPTIONS)
# First characters of the lines that may continue an entry with no trace open and a first line
# below warn: indentation, "", Caused by, Traceback, "--- End of", Ruby frames (any letter).
MAYBE_CONTINUES = frozenset(" \t-CT") | {""}
# First characters of the lines that may open a Go or Python trace (see `started`).
TRACE_STARTS = frozenset("pfgST")
_PYTHON_CHAIN = (
    "During handling of the above exception",
    "The above exception was the direct cause",
    "Traceback (most recent call last):",
)


def compile_first_line(pattern: str) -> re2._Regexp:
    return compile_re2(pattern, "multiline: invalid RE2 pattern of a first line")


class Grouper:
    """One source's entry state: which entry is open and what kind of trace it is in."""

    def __init__(self, mode: str, max_lines: int, max_bytes: int) -> None:
        self.mode = mode if mode in ("auto", "off") else "pattern"
        self._first = compile_first_line(mode).search if self.mode == "pattern" else None
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.lines = 0  # lines in the open entry (0: none open)
        self.bytes = 0
        self.rank = -1  # level rank of the open entry's first line (-1: none)
        self.trace: str | None = None  # "python" or "go" while inside such a trace
        self.indented = False  # the previous line was indented
        self.last_seen = 0.0

    def begin(self, now: float) -> None:
        """A batch arrives at `now` (monotonic): after a pause of IDLE_SECONDS the open entry is closed."""
        if now - self.last_seen > IDLE_SECONDS:
            self.lines = 0
        self.last_seen = now

    def continues(self, text: str) -> bool:
        """True when `text` joins the open entry. Call `started` when it does not."""
        if self.lines == 0 or self.lines >= self.max_lines or self.bytes + len(text) > self.max_bytes:
            return False
        if self.mode == "auto":
            first = text[:1]
            if first not in MAYBE_CONTINUES and self.trace is None and self.rank < _WARN:
                self.indented = False
                return False  # the common case: a plain line after a plain line
            joins = self._auto(text, first)
        elif self.mode == "pattern":
            joins = self._first(text) is None
        else:
            joins = False
        if joins:
            self.lines += 1
            self.bytes += len(text)
        return joins

    def started(self, text: str, level: str | None) -> None:
        """`text` is the first line of a new entry."""
        self.lines, self.bytes = 1, len(text)
        self.rank = LEVEL_RANK[level] if level is not None else -1
        self.indented = False
        self.trace = None
        if self.mode == "auto" and text[:1] in TRACE_STARTS:
            if text.startswith(("panic: ", "fatal error: ", "goroutine ", "SIGQUIT", "SIGABRT", "SIGSEGV")):
                self.trace = "go"
            elif text.startswith("Traceback (most recent call last):"):
                self.trace = "python"

    def plain_start(self, text: str, rank: int) -> None:
        """`started(text, level)` for a first line that opens no trace: one whose first
        character is not in TRACE_STARTS, in auto mode. A caller may keep that state in locals
        until the next line needs it (the ingest stage does: a method call per line was a
        tenth of its cost)."""
        self.lines, self.bytes, self.rank = 1, len(text), rank
        self.indented = False
        self.trace = None

    def joined(self) -> bool:
        """A line is part of the open entry whatever it says (a PEM block's body)."""
        if self.lines == 0:
            return False
        self.lines += 1
        return True

    def _auto(self, text: str, first: str) -> bool:
        trace = self.trace
        if first in (" ", "\t"):
            self.indented = True
            return not text.isspace() or trace is not None
        was_indented, self.indented = self.indented, False
        if not first:
            return trace is not None
        if trace == "go":
            if _GO_LINE.search(text) is not None:
                return True
        elif trace == "python":
            if text.startswith(_PYTHON_CHAIN):
                return True
            if was_indented and _PYTHON_EXCEPTION.search(text) is not None:
                return True  # the exception line closing a traceback; a chained one may follow
        if first == "C" and text.startswith("Caused by: "):
            self.trace = None
            return True
        if first == "T" and text.startswith("Traceback (most recent call last):"):
            self.trace = "python"
            return self.rank >= _WARN
        if first == "-" and text.startswith("--- End of "):
            return True
        if self.rank >= _WARN and _EXCEPTION_HEADER.search(text) is not None:
            if "." in text.partition(":")[0] or self.rank >= _ERROR:
                self.trace = None
                return True
        if ".rb:" in text and _RUBY_FRAME.search(text) is not None:
            return True
        self.trace = None
        return False
