"""The ingest stage: what happens to a source's batch once, before ids are shared out.

Per batch: redact (secrets never reach the buffer) -> for each line, group (continuation of
the open entry, or a first line) -> parse first lines (fields, level, time) -> count
patterns. One `Ingest` per source keeps the open entry across batches. Continuation lines
are not parsed: they take the entry's level and time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sidecar.entries.multiline import MAYBE_CONTINUES, TRACE_STARTS, Grouper
from sidecar.entries.parse import leading_time, parse_line
from sidecar.entries.patterns import PatternCounter
from sidecar.entries.redact import DEFAULT_RULES, Redactor
from sidecar.lines import LEVEL_RANK, LogLine, detect_level
from sidecar.ops.metrics import Metrics

_WARN = LEVEL_RANK["warn"]
_RANK: dict[str | None, int] = {None: -1, **LEVEL_RANK}


@dataclass(frozen=True)
class IngestConfig:
    """The entries settings, as the hub needs them (built from Settings in app.py)."""

    multiline: str = "auto"
    multiline_max_lines: int = 500
    multiline_max_bytes: int = 262_144
    redact: bool = True
    redact_patterns: tuple[tuple[str, str], ...] = ()
    count: tuple[tuple[str, str], ...] = ()
    assume_utc: bool = False
    rules: tuple[tuple[str, str], ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", (DEFAULT_RULES if self.redact else ()) + tuple(self.redact_patterns))

    @classmethod
    def from_settings(cls, settings: object) -> IngestConfig:
        return cls(
            multiline=settings.multiline,
            multiline_max_lines=settings.multiline_max_lines,
            multiline_max_bytes=settings.multiline_max_bytes,
            redact=settings.redact == "default",
            redact_patterns=tuple(split_named(settings.redact_patterns)),
            count=tuple(split_named(settings.count)),
            assume_utc=settings.assume_utc,
        )


def split_named(items: list[str]) -> list[tuple[str, str]]:
    """`NAME=RE2` items into (name, pattern) pairs (validated by config.py)."""
    return [(item.partition("=")[0].strip(), item.partition("=")[2]) for item in items]


class Ingest:
    def __init__(self, source_id: str, config: IngestConfig, metrics: Metrics | None) -> None:
        """`metrics` None: nothing is counted (lines from outside the hub, read again on request)."""
        self.source_id = source_id
        self.config = config
        self.redactor = Redactor(list(config.rules))
        self.grouper = Grouper(config.multiline, config.multiline_max_lines, config.multiline_max_bytes)
        self.counter = PatternCounter(list(config.count))
        self.metrics = metrics
        self.entry: LogLine | None = None  # the open entry's first line
        if metrics is None:
            return
        for name in self.redactor.names:
            metrics.redactions.labels(source_id, name).inc(0)
        for name, _ in self.counter.patterns:
            metrics.pattern_matches.labels(source_id, name).inc(0)

    def apply(self, lines: list[LogLine], first_id: int | None = None) -> None:
        """Redact, group and parse `lines` in place, and count them. `first_id`: number them
        from there in the same pass (else their ids are already given).

        One loop over the batch, every line's work inline: a plain line after a plain entry
        (the common case) starts an entry without asking the grouper, whose state is then
        brought up to date only when a line needs it (see Grouper.plain_start)."""
        texts = [line.text for line in lines]
        redactions: dict[str, int] = {}
        in_pem = set(self.redactor.redact(texts, redactions)) if self.redactor.rules else set()
        grouper, entry, assume_utc = self.grouper, self.entry, self.config.assume_utc
        grouper.begin(time.monotonic())
        quick = grouper.mode == "auto" and not in_pem
        rank, trace = grouper.rank, grouper.trace
        stale: str | None = None  # the text of a first line the grouper has not been told of yet
        next_id = first_id
        for index, line in enumerate(lines):
            if next_id is not None:
                line.id = next_id
                next_id += 1
            text = texts[index]
            if text is not line.text:  # redacted (the same object otherwise)
                line.text = text
            first = text[:1]
            if quick and trace is None and rank < _WARN and first not in MAYBE_CONTINUES:
                joins = False  # a plain line after a plain entry: it starts the next one
            else:
                if stale is not None:
                    grouper.plain_start(stale, rank)
                    stale = None
                joins = grouper.joined() if index in in_pem else grouper.continues(text)
                rank, trace = grouper.rank, grouper.trace
            if joins and entry is not None:
                line.entry, line.level, line.time = entry.id, entry.level, entry.time
                continue
            line.entry = line.id
            entry = line
            if first == "{" or "=" in text:
                parsed = parse_line(text, assume_utc)
                line.fields = parsed.fields
                level = line.level = parsed.level or line.level
                if parsed.time is not None:
                    line.time = parsed.time
            else:  # the common plain line, without the Parsed object around it (hot path)
                level = detect_level(text)
                if level is None:
                    level = line.level
                else:
                    line.level = level
                if text[4:5] == "-" or assume_utc:  # else leading_time finds no time (its first test)
                    stamp = leading_time(text, assume_utc)
                    if stamp is not None:
                        line.time = stamp
            if quick and first not in TRACE_STARTS:  # it opens no trace (see Grouper.plain_start)
                stale, rank, trace = text, _RANK[level], None
            else:
                stale = None
                grouper.started(text, level)
                rank, trace = grouper.rank, grouper.trace
        if stale is not None:
            grouper.plain_start(stale, rank)
        self.entry = entry
        if self.metrics is not None:
            self._count(texts, redactions)

    def _count(self, texts: list[str], redactions: dict[str, int]) -> None:
        for name, count in redactions.items():
            self.metrics.redactions.labels(self.source_id, name).inc(count)
        if self.counter.patterns:
            joined = "\n".join(texts)
            starts, at = [], 0
            for text in texts:
                starts.append(at)
                at += len(text) + 1
            for name, count in self.counter.count(joined, starts).items():
                self.metrics.pattern_matches.labels(self.source_id, name).inc(count)
