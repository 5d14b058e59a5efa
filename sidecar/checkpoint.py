"""Restart resume for file sources: a small journal of what was published, in `state_dir`.

Why: after `kill -9` or a container restart the log files are still on the shared volume, so
a restarted sidecar can rebuild its buffers from them with the same ids and resume every
client exactly (`Last-Event-ID`), and go on reading where it stopped, so lines written while it
was down are delivered too.

What is written: one text line per record, appended with a single os.write(2) before the
lines are fanned out. The page cache keeps it when the process is killed (no fsync: a kernel
crash loses the pod's emptyDir state anyway). A record torn by the kill is the last line and is
ignored. Records (`n` is the source's number in this journal, `ident` is dev and inode):

    H log-sidecar-checkpoint 1                      header
    S n source_id "path"                            a file source
    O n dev ino pos flags head_len head_crc opened  a file of it is read from pos (flags: splitter state)
    R n dev ino start end first_id count time flags flush pos flags_out
                                                    one publish: bytes [start, end) gave `count`
                                                    lines, ids from first_id (consecutive)
    C n dev ino                                     that file was closed: never read again
    L n id lines                                    lines lost (a gap) with that id
    X n exact_after                                 lines up to that id are no longer held

Bounded: past COMPACT_MIN records, and twice what is live, the journal is rewritten (a new file
renamed over the old) with only the runs the ring buffers still hold.

Restore (`load`): a journal that is not ours, or that does not parse, is discarded with a
warning; the sidecar then starts as without one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from sidecar.hub import Gap, Hub

logger = logging.getLogger(__name__)

JOURNAL = "checkpoint.journal"
LOCK = "checkpoint.lock"
_SOURCE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
MAGIC = "log-sidecar-checkpoint 1"
COMPACT_MIN = 10_000  # records appended before a rewrite is considered
CLOSED_KEPT = 16  # closed files remembered per source (never read again)
LOSSES_KEPT = 100

Ident = tuple[int, int]
SKIPPING, FLUSHED = 1, 2  # splitter flags


@dataclass(slots=True)
class Run:
    """One publish: the bytes [start, end) of file `ident` gave `count` lines, ids from first_id."""

    ident: Ident
    start: int
    end: int
    first_id: int
    count: int
    time: float
    flags: int  # splitter state at start
    flush: bool  # the last line was a partial line flushed on its own
    record: str = ""  # its journal line as first written: compaction only joins these

    @property
    def last_id(self) -> int:
        return self.first_id + self.count - 1


@dataclass(slots=True)
class Mark:
    """Where reading of one file stands: `pos` with splitter `flags`, and its head to recognise it."""

    pos: int
    flags: int
    head_len: int
    head_crc: int
    opened_ns: int
    closed: bool = False


@dataclass
class SourceJournal:
    number: int
    source_id: str
    path: str
    marks: dict[Ident, Mark] = field(default_factory=dict)  # in the order files were opened
    runs: deque[Run] = field(default_factory=deque)
    losses: deque[tuple[int, int | None]] = field(default_factory=lambda: deque(maxlen=LOSSES_KEPT))
    exact_after: int = 0


class CheckpointError(ValueError):
    """The journal is not ours or does not parse."""


def head_crc(head: bytes) -> int:
    return zlib.crc32(head)


class Checkpoint:
    """The journal of this run: load the last one, then record as the file source reads."""

    def __init__(self, state_dir: Path, hub: Hub) -> None:
        self.dir = state_dir
        self.path = state_dir / JOURNAL
        self.hub = hub
        self.sources: dict[str, SourceJournal] = {}
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._records = 0
        self._next_check = COMPACT_MIN

    # --- start ---

    def lock(self) -> bool:
        """Take the state dir for this process (released by the kernel however it ends, kill -9
        too). False when another live sidecar holds it: two writers would ruin both journals."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def load(self) -> dict[str, SourceJournal]:
        """The last run's journal, or nothing (with a warning) when it is absent, foreign or corrupt."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as error:
            logger.warning("checkpoint %s discarded: it cannot be read (%s)", self.path, error.strerror)
            return {}
        try:
            return self._parse(raw.decode("utf-8", "strict"))
        except UnicodeDecodeError:
            logger.warning("checkpoint %s discarded: not a log-sidecar checkpoint (not text)", self.path)
            return {}
        except CheckpointError as error:
            logger.warning("checkpoint %s discarded: %s", self.path, error)
            return {}

    def _parse(self, text: str) -> dict[str, SourceJournal]:
        lines = text.split("\n")
        if lines[-1]:
            lines.pop()  # torn by a kill in the middle of a write: never completed
        lines = [line for line in lines if line]
        if not lines or lines[0] != "H " + MAGIC:
            raise CheckpointError("not a log-sidecar checkpoint of this version")
        by_number: dict[int, SourceJournal] = {}
        for number, line in enumerate(lines[1:], start=2):
            try:
                self._apply(by_number, line)
            except (ValueError, KeyError, IndexError) as error:
                raise CheckpointError(f"line {number} is corrupt ({error})") from None
        newest = max((run.last_id for j in by_number.values() for run in j.runs), default=0)
        if newest >= self.hub.run_first_id:
            raise CheckpointError("its ids are in the future (clock went back, or another host's state)")
        return {journal.source_id: journal for journal in by_number.values()}

    @staticmethod
    def _apply(by_number: dict[int, SourceJournal], line: str) -> None:
        kind, rest = line[0], line[2:]
        if kind == "S":
            number, source_id, path = rest.split(" ", 2)
            path = json.loads(path)
            if not _SOURCE_ID.fullmatch(source_id) or not isinstance(path, str) or int(number) in by_number:
                raise ValueError("bad source record")
            by_number[int(number)] = SourceJournal(int(number), source_id, path)
            return
        f = rest.split(" ")
        if kind in "ORC" and any(not part.isascii() or not part.isdigit() for i, part in enumerate(f) if i != 7):
            raise ValueError("bad number")
        journal = by_number[int(f[0])]
        if kind == "O":
            ident = (int(f[1]), int(f[2]))
            journal.marks.pop(ident, None)  # re-inserted last: opened most recently
            journal.marks[ident] = Mark(int(f[3]), int(f[4]), int(f[5]), int(f[6]), int(f[7]))
        elif kind == "R":
            ident = (int(f[1]), int(f[2]))
            run = Run(ident, int(f[3]), int(f[4]), int(f[5]), int(f[6]), float(f[7]), int(f[8]), f[9] == "1")
            if run.count <= 0 or run.end < run.start or (journal.runs and run.first_id <= journal.runs[-1].last_id):
                raise ValueError("run out of order")
            journal.runs.append(run)
            mark = journal.marks[ident]
            mark.pos, mark.flags = int(f[10]), int(f[11])
        elif kind == "C":
            journal.marks[(int(f[1]), int(f[2]))].closed = True
        elif kind == "L":
            journal.losses.append((int(f[1]), None if f[2] == "-" else int(f[2])))
        elif kind == "X":
            journal.exact_after = max(journal.exact_after, int(f[1]))
        else:
            raise ValueError(f"unknown record {kind!r}")

    def begin(self) -> None:
        """Start this run's journal (empty but for its header): the last one is read by now."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._rewrite([])

    # --- recording (called by the file source, before the lines are published) ---

    def add_source(self, source_id: str, path: str, exact_after: int = 0) -> None:
        """A file source; `exact_after`: ids up to it are not all in the journal (a source
        read from its end at a start without a checkpoint)."""
        journal = SourceJournal(len(self.sources) + 1, source_id, path, exact_after=exact_after)
        self.sources[source_id] = journal
        self._append(self._source_record(journal))
        if exact_after:
            self._append(f"X {journal.number} {exact_after}\n")

    def record_open(self, source_id: str, ident: Ident, pos: int, flags: int, head: bytes, opened_ns: int) -> None:
        journal = self.sources[source_id]
        mark = Mark(pos, flags, len(head), head_crc(head), opened_ns)
        journal.marks.pop(ident, None)
        journal.marks[ident] = mark
        self._append(self._mark_record(journal.number, ident, mark))

    def record_head(self, source_id: str, ident: Ident, head: bytes) -> None:
        """The file's head grew (it is recognised by its first bytes after a restart)."""
        mark = self.sources[source_id].marks.get(ident)
        if mark is not None and mark.head_len != len(head):
            mark.head_len, mark.head_crc = len(head), head_crc(head)
            self._append(self._mark_record(self.sources[source_id].number, ident, mark))

    def record_run(self, source_id: str, run: Run, pos: int, flags_out: int) -> None:
        journal = self.sources[source_id]
        journal.runs.append(run)
        mark = journal.marks[run.ident]
        mark.pos, mark.flags = pos, flags_out
        run.record = self._run_record(journal.number, run, pos, flags_out)
        self._append(run.record)
        if self._records >= self._next_check:
            self._maybe_compact()

    def record_close(self, source_id: str, ident: Ident) -> None:
        journal = self.sources[source_id]
        mark = journal.marks.get(ident)
        if mark is not None:
            mark.closed = True
            self._append(f"C {journal.number} {ident[0]} {ident[1]}\n")

    def record_loss(self, source_id: str, gap: Gap) -> None:
        journal = self.sources[source_id]
        journal.losses.append((gap.id, gap.missed))
        self._append(f"L {journal.number} {gap.id} {'-' if gap.missed is None else gap.missed}\n")

    def note_exact_after(self, source_id: str, exact_after: int) -> None:
        journal = self.sources[source_id]
        if exact_after > journal.exact_after:
            journal.exact_after = exact_after
            self._append(f"X {journal.number} {exact_after}\n")

    # --- bounds ---

    def _maybe_compact(self) -> None:
        """Rewrite once the journal is more than twice what is live (and past COMPACT_MIN)."""
        self._drop_evicted()
        if self._records > max(COMPACT_MIN, 2 * self._live_records()):
            self.compact()
        self._next_check = self._records + COMPACT_MIN // 4

    def _drop_evicted(self) -> None:
        for journal in self.sources.values():
            record = self.hub.sources.get(journal.source_id)
            held_from = record.buffer.first_id if record is not None else None
            while journal.runs and (held_from is None or journal.runs[0].last_id < held_from):
                journal.exact_after = max(journal.exact_after, journal.runs.popleft().last_id)

    def compact(self) -> None:
        """Rewrite the journal with only the runs still held (and the few closed files kept)."""
        self._drop_evicted()
        for journal in self.sources.values():
            closed = [ident for ident, mark in journal.marks.items() if mark.closed]
            for ident in closed[:-CLOSED_KEPT]:
                if not any(run.ident == ident for run in journal.runs):
                    del journal.marks[ident]
        records = []
        for journal in self.sources.values():
            records.append(self._source_record(journal))
            if journal.exact_after:
                records.append(f"X {journal.number} {journal.exact_after}\n")
            marks = [self._mark_record(journal.number, ident, mark) for ident, mark in journal.marks.items()]
            records += marks
            for run in journal.runs:
                if not run.record:  # restored at start: not written in this run yet
                    mark = journal.marks[run.ident]
                    run.record = self._run_record(journal.number, run, mark.pos, mark.flags)
                records.append(run.record)
            # A run's record moves its file's mark to where reading stood then: the marks again.
            records += marks
            records += [f"C {journal.number} {i[0]} {i[1]}\n" for i, mark in journal.marks.items() if mark.closed]
            records += [f"L {journal.number} {g} {'-' if m is None else m}\n" for g, m in journal.losses]
        self._rewrite(records)

    def _live_records(self) -> int:
        return sum(len(j.runs) + len(j.marks) + 1 for j in self.sources.values())

    # --- the file ---

    def _rewrite(self, records: list[str]) -> None:
        temporary = self.path.with_name(JOURNAL + ".new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            data = ("H " + MAGIC + "\n" + "".join(records)).encode()
            while data:
                data = data[os.write(fd, data) :]
        except BaseException:
            os.close(fd)
            raise
        os.replace(temporary, self.path)
        if self._fd is not None:
            os.close(self._fd)
        self._fd = fd
        os.lseek(fd, 0, os.SEEK_END)
        self._records = len(records)

    def _append(self, record: str) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, record.encode())
        except OSError as error:  # a full state volume: resume is lost, reading goes on
            logger.warning("checkpoint %s cannot be written (%s): restart resume is off", self.path, error)
            os.close(self._fd)
            self._fd = None
            return
        self._records += 1

    def close(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock_fd = None

    @staticmethod
    def _source_record(journal: SourceJournal) -> str:
        return f"S {journal.number} {journal.source_id} {json.dumps(journal.path)}\n"

    @staticmethod
    def _mark_record(number: int, ident: Ident, mark: Mark) -> str:
        return (
            f"O {number} {ident[0]} {ident[1]} {mark.pos} {mark.flags} {mark.head_len} {mark.head_crc} {mark.opened_ns}\n"
        )

    @staticmethod
    def _run_record(number: int, run: Run, pos: int, flags_out: int) -> str:
        return (
            f"R {number} {run.ident[0]} {run.ident[1]} {run.start} {run.end} {run.first_id} {run.count} "
            f"{run.time!r} {run.flags} {int(run.flush)} {pos} {flags_out}\n"
        )
