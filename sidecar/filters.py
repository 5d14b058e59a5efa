"""Server-side filters (grep, minimum level, fields) shared by the stream and history transports.

Filters act on entries. `level` (and `since`) look at a line's entry level and time, which
every line of an entry shares, so they can be checked line by line. `grep` and each `field`
expression are conditions an entry meets when any of its lines does; an entry is kept when it
meets all of them (AND). `EntrySelection` decides that for held lines, `LiveEntries` for live
batches (delivering the entry's earlier lines from the buffer when a later line completes it).

`grep` and `~` use RE2: linear time whatever the pattern, so a client's regex cannot stall the
event loop for everyone (Python's `re` can backtrack for minutes on a hostile pattern).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import re2

from sidecar.entries.parse import decode_fields, lookup
from sidecar.lines import LEVEL_RANK, LEVELS, LogLine
from sidecar.regex import OPTIONS as _RE2_OPTIONS
from sidecar.regex import compile_re2

if TYPE_CHECKING:
    from sidecar.hub import Batch, Hub

MAX_PATTERN_CHARS = 1000
MAX_FIELD_FILTERS = 20
_OPERATORS = (">=", "<=", "!=", "=", "~", ">", "<")  # two-character operators first
_NUMERIC = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__}


class BadFilter(ValueError):
    """A filter parameter the client must fix; its message is shown in the 400 response."""


def compile_grep(pattern: str, what: str = "grep") -> Callable[[str], object]:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise BadFilter(f"{what}: pattern longer than {MAX_PATTERN_CHARS} characters")
    return compile_re2(pattern, f"{what}: invalid regular expression (RE2 syntax)", BadFilter).search


class FieldFilter:
    """`KEY OP VALUE` on a line's parsed fields. Dotted keys reach into nested objects; a line
    without the key (or without fields) never matches, whatever the operator."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        at, op = _find_operator(expression)
        self.key, self.op, self.value = expression[:at].strip(), op, expression[at + len(op) :].strip()
        if not self.key:
            raise BadFilter(f"field {expression!r}: no key before {op!r}")
        self._search = compile_grep(self.value, f"field {expression!r}") if op == "~" else None
        self._number = math.nan
        if op in _NUMERIC:
            try:
                self._number = float(self.value)
            except ValueError:
                raise BadFilter(f"field {expression!r}: {op} needs a number, got {self.value!r}") from None
            if math.isnan(self._number):
                raise BadFilter(f"field {expression!r}: {op} needs a number, got {self.value!r}")

    def __call__(self, fields: dict | None) -> bool:
        if fields is None:
            return False
        try:
            value = lookup(fields, self.key)
        except KeyError:
            return False
        if self.op in _NUMERIC:
            number = _as_number(value)
            return number is not None and _NUMERIC[self.op](number, self._number)
        text = _as_text(value)
        if self.op == "~":
            return self._search(text) is not None
        return (text == self.value) == (self.op == "=")


def _find_operator(expression: str) -> tuple[int, str]:
    best: tuple[int, str] | None = None
    for op in _OPERATORS:
        at = expression.find(op)
        if at >= 0 and (best is None or at < best[0] or (at == best[0] and len(op) > len(best[1]))):
            best = (at, op)
    if best is None:
        raise BadFilter(f"field {expression!r}: expected KEY OP VALUE with OP one of = != ~ > >= < <=")
    return best


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return value if isinstance(value, str) else str(value)


# Decoded fields of recent lines, shared by every client filtering on fields: a line is decoded
# once however many clients look at it. Keyed by the id of the Raw object, which the entry keeps
# alive, so an id cannot be reused while it is cached. Small: a few batches' worth.
_DECODED: dict[int, tuple[object, dict | None]] = {}
DECODED_CACHE_LINES = 4096


def fields_of(line: LogLine) -> dict | None:
    raw = line.fields
    if raw is None:
        return None
    hit = _DECODED.get(id(raw))
    if hit is not None and hit[0] is raw:
        return hit[1]
    value = decode_fields(raw)
    if len(_DECODED) >= DECODED_CACHE_LINES:
        _DECODED.clear()
    _DECODED[id(raw)] = (raw, value)
    return value


class LineFilter:
    """grep AND level AND every field expression. Empty filter keeps everything."""

    def __init__(self, grep: str | None = None, level: str | None = None, fields: Iterable[str] = ()) -> None:
        self.grep = grep or None
        self.level = level or None
        self._search = compile_grep(grep) if grep else None
        self._fields = [FieldFilter(expression) for expression in fields if expression.strip()]
        if len(self._fields) > MAX_FIELD_FILTERS:
            raise BadFilter(f"field: at most {MAX_FIELD_FILTERS} expressions")
        self._conditions: list[Callable[[LogLine], bool]] = []
        self._prefilter = None
        if self._search is not None:
            search = self._search
            self._conditions.append(lambda line: search(line.text) is not None)
            if "\\A" not in grep and "\\z" not in grep and search("") is None:
                # Multi-line mode: ^ and $ also match at the newlines of a joined batch, where
                # they mean what they mean at the ends of one line (so do \b and \B: a newline
                # is a non-word character). A match inside one line's span is a match of that
                # line alone; a pattern that matches the empty string is left to the line loop.
                self._prefilter = re2.compile("(?m)" + grep, _RE2_OPTIONS)
        for field in self._fields:
            self._conditions.append(lambda line, field=field: field(fields_of(line)))
        self.full = (1 << len(self._conditions)) - 1
        self._min_rank = 0
        if self.level is not None:
            if self.level not in LEVEL_RANK:
                raise BadFilter(f"level: must be one of {', '.join(LEVELS)}")
            self._min_rank = LEVEL_RANK[self.level]

    @property
    def keeps_all(self) -> bool:
        return not self._conditions and self.level is None

    @property
    def by_entry(self) -> bool:
        """True when some condition (grep, field) is met by an entry through any of its lines."""
        return bool(self._conditions)

    def gate(self, line: LogLine) -> bool:
        """The per-line part: the entry's level (shared by all its lines)."""
        return self.level is None or (line.level is not None and LEVEL_RANK[line.level] >= self._min_rank)

    def bits(self, line: LogLine, grep: bool | None = None) -> int:
        """Which conditions this line meets, one bit each. `grep`: whether the line matches
        grep when already known (see `grep_lines`), None to search it."""
        found = 0
        for bit, condition in enumerate(self._conditions):
            if bit == 0 and self._search is not None and grep is not None:
                found |= grep
            elif condition(line):
                found |= 1 << bit
        return found

    def grep_lines(self, lines: list[LogLine], joined: str | None = None) -> set[int] | None:
        """Indexes of the lines that match `grep`, from one search over the lines joined by
        newlines; None when that cannot tell (no prefilter, a match across a line end) or when
        matches are many (then the caller searches each line, as cheap)."""
        if self._prefilter is None:
            return None
        if joined is None:
            joined = _join_texts(lines)
        found: set[int] = set()
        starts: list[int] | None = None
        budget = len(lines) // 8 + 1  # past it matches are dense: searching line by line is cheaper
        for match in self._prefilter.finditer(joined):
            budget -= 1
            if budget < 0:
                return None
            if starts is None:
                starts = _line_starts(lines)
            index = bisect_right(starts, match.start()) - 1
            if match.end() > starts[index] + len(lines[index].text):
                return None
            found.add(index)
        return found

    def __call__(self, line: LogLine) -> bool:
        """This one line on its own (for lines outside the hub, e.g. a previous container's)."""
        return self.gate(line) and self.bits(line) == self.full


SCAN_CHUNK_LINES = 512


def _chunks(lines: Iterable[LogLine], size: int) -> Iterable[list[LogLine]]:
    chunk: list[LogLine] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _join_texts(lines: list[LogLine]) -> str:
    return "\n".join([line.text for line in lines])


def _line_starts(lines: list[LogLine]) -> list[int]:
    starts, at = [], 0
    for line in lines:
        starts.append(at)
        at += len(line.text) + 1
    return starts


class EntrySelection:
    """Keeps the held lines of entries that meet the filter: computed once per request over the
    buffers of the asked sources, then a set lookup per line."""

    def __init__(self, keep: LineFilter, hub: Hub, sources: Iterable[str]) -> None:
        self.filter = keep
        self.matched: set[int] = set()
        self.last: dict[str, tuple[int, int]] = {}  # source -> (entry, bits) of its newest entry
        if keep.by_entry:
            for source in sources:
                self._scan(source, hub.sources[source].buffer.oldest_first())

    def _scan(self, source: str, lines: Iterable[LogLine]) -> None:
        entry, bits, full, line_bits = 0, 0, self.filter.full, self.filter.bits
        for chunk in _chunks(lines, SCAN_CHUNK_LINES):
            grep = self.filter.grep_lines(chunk)  # one search per chunk, not one per line
            for index, line in enumerate(chunk):
                if line.entry != entry:
                    entry, bits = line.entry, 0
                if bits != full:
                    bits |= line_bits(line, None if grep is None else index in grep)
                    if bits == full:
                        self.matched.add(entry)
        if entry:
            self.last[source] = (entry, bits)

    def __call__(self, line: LogLine) -> bool:
        if not self.filter.gate(line):
            return False
        return not self.filter.by_entry or line.entry in self.matched

    def earlier_part(self, hub: Hub, line: LogLine, after_id: int) -> list[LogLine]:
        """For a client resuming after `after_id` whose first new line continues an entry begun
        before: the entry's lines up to `after_id` when the client cannot have them (the entry
        met the filter only through later lines), else nothing."""
        if not self.filter.by_entry or line.entry > after_id or line.entry not in self.matched:
            return []
        earlier = hub.entry_lines(line.source, line.entry, after_id + 1)
        bits = 0
        for old in earlier:
            bits |= self.filter.bits(old)
        return [] if bits == self.filter.full else [old for old in earlier if self.filter.gate(old)]


class LiveEntries:
    """One stream's view of live batches when the filter works by entry: per source, the open
    entry and the conditions it met so far. When a line completes an entry, the entry's earlier
    lines are taken from the buffer and sent before it; the rest of the entry follows live."""

    def __init__(self, keep: LineFilter, hub: Hub) -> None:
        self.filter = keep
        self.hub = hub
        self.open: dict[str, list] = {}  # source -> [entry id, bits, delivered]

    def prime(self, selection: EntrySelection, sent: Iterable[LogLine]) -> None:
        """Carry on from the backfill: the entries open at the end of each buffer."""
        sent_entries = {line.entry for line in sent}
        for source, (entry, bits) in selection.last.items():
            self.open[source] = [entry, bits, entry in sent_entries]

    def select(self, batch: Batch) -> list[LogLine]:
        keep, full = self.filter, self.filter.full
        grep = keep.grep_lines(batch.lines, batch.encoded("\n", _join_texts))  # joined once per batch
        state = self.open.get(batch.source)
        out: list[LogLine] = []
        for index, line in enumerate(batch.lines):
            if state is None or state[0] != line.entry:
                state = self.open[batch.source] = [line.entry, 0, False]
            if not keep.gate(line):
                continue
            if state[2]:
                out.append(line)
                continue
            state[1] |= keep.bits(line, None if grep is None else index in grep)
            if state[1] == full:
                state[2] = True
                if line.id != line.entry:
                    earlier = self.hub.entry_lines(batch.source, line.entry, line.id)
                    out += [old for old in earlier if not out or old.id > out[-1].id]
                out.append(line)
        return out
