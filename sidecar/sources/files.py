"""File source: follow the log files that match the configured glob patterns, one reader each.

How changes are seen: inotify on the directories that can hold matching files, with no
debounce, so a write is read within a loop turn; plus a poll every `poll_interval` that globs
again and stats every file, because inotify misses rotations under load and says nothing when
an open file is deleted. While no client watches any file source, inotify is not
listened to and the poll rounds alone read (the kernel keeps and merges the events meanwhile):
the idle tax of one wake-up per write goes; a new subscriber (hub.on_subscribe) resumes inotify
and has every file caught up at once. `watch=poll` uses the poll alone; `watch=auto` falls back to it with a
warning when inotify cannot be set up; `watch=inotify` refuses to start without it.

What holds for each file (DESIGN.md section 4):
- A file present at start is read from its last `start_bytes`, from the next line start;
  a file that appears later is read whole.
- Rename rotation (another inode at the path): the old file is read to its end before the new
  one is read from 0, and stays open until quiet for `rotate_wait` seconds (at most
  `rotate_wait_max`), read first on every wake-up. Writes to it after it was closed are counted
  as lost (`rotated-unread` gap) at the next poll, found by inode beside where it was.
- Files that passed through the path between two looks (rotations faster than the poll) are
  found beside the old file: an identity not known (opened, or present before we followed the
  path), changed since the old file was opened; read in mtime order before the new file.
  A freed inode number given to a new file is told apart by the file's first bytes.
- Truncation (copytruncate): a size below our offset, a change in the file's first 1 KiB, or
  in the 32 bytes just before the offset (truncated and refilled past it between two looks),
  restarts at 0.
- Deletion: the open file is drained, then announced `removed` once quiet for `rotate_wait`; a
  path that comes back is followed again from 0.
- Symlinks: the link's directory and its current target's are watched, so a re-pointed link
  (app.log -> data.2) wakes the tailer through inotify; `watch_mode` per source says whether
  inotify covers both.
- With `state_dir`, every publish is journaled first (sidecar/checkpoint.py); at start the
  buffers are rebuilt from the files with the same ids and reading goes on from each file's
  position (files rotated meanwhile are found by inode); files not in the journal are new since
  and read whole.
- A last line without newline is held until its newline, or sent as is after `partial_flush`
  idle seconds. A line over `max_line_bytes` is cut there and marked; the rest up to its newline
  is skipped without being buffered, so memory stays bounded whatever a file holds.
- Invalid UTF-8 becomes U+FFFD; NUL bytes stay in the text (the JSON encoder escapes them).

Paths and symlinks: only paths returned by globbing the configured patterns are opened, and
only regular files; the check is made on the open descriptor (opened non-blocking), so a FIFO or
device put in place of a log is refused without hanging. A symlink is followed when the glob
returns it, i.e. when its own name matches a pattern (Kubernetes' /var/log/containers/*.log are
symlinks): point patterns at directories whose writers you trust with that. Nothing from a
request reaches this module; clients address sources by id only.

Source ids: the file name with anything outside [A-Za-z0-9._-] replaced by `_`; when taken
(by another file, or another source), parent directories are prefixed one by one with `-`
(`/logs/web/app.log` -> `web-app.log`), then a number is appended. Files found at start are
named in sorted path order, so ids are the same from one start to the next; an id never
changes while the process runs.

Limits: with polling only, a file that is created, written and deleted (or overwritten by the
next rotation) entirely between two looks leaves no trace: it cannot even be counted. Rotated
files are only looked for in the old file's directory, under names that start like its own.
Writes to a closed rotated file are counted, not delivered (they would come after newer lines).
A truncate-and-refill that rewrites the same first 1 KiB and the same 32 bytes before our offset
is not noticed.
"""

from __future__ import annotations

import asyncio
import errno
import glob
import logging
import os
import re
import stat
import time
from collections import deque
from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from pathlib import Path

from sidecar.checkpoint import FLUSHED, SKIPPING, Checkpoint, Mark, Run, SourceJournal, head_crc
from sidecar.config import Settings
from sidecar.hub import Gap, Hub, Subscription
from sidecar.lines import LogLine, leading_time, utf8_prefix

try:  # Linux only; elsewhere the source polls.
    from inotify_simple import Event, INotify, parse_events
    from inotify_simple import flags as inotify_flags
except ImportError:  # pragma: no cover - non-Linux
    Event = tuple  # type: ignore[assignment,misc]
    INotify = None  # type: ignore[assignment,misc]
    inotify_flags = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

# One read. Big enough for throughput (one hub batch per chunk), small enough that handling
# one chunk keeps the event loop busy for a few milliseconds at most.
CHUNK_BYTES = 256 * 1024
# Bytes before the offset compared on every look, to catch truncate-then-refill.
FINGERPRINT_BYTES = 32
# The file's first bytes, compared on every look too: a refill past the old offset whose bytes
# just before it look the same (fixed-width lines) still has another head.
HEAD_BYTES = 1024
# Checks of files without news between two yields to the loop, during a poll round.
YIELD_EVERY = 32
# Seconds between reads while no client watches (FileSource._lazy_reading): each read then
# takes a second of lines at once, and its fixed cost (a directory scan, a wake-up) is paid once.
LAZY_POLL_INTERVAL = 1.0
# Fan-out pacing (pace_after): when handing a batch to the clients kept the loop busy for
# PACE_FROM or longer, the next read waits PACE_SHARE of that time (at most PACE_AT_MOST).
# Below PACE_FROM a pause buys nothing (one client, a few) and the loop's timers are
# millisecond ones. A third: measured at 100 clients x 1,000 lines/s, a quarter less CPU
# per line than no pause at the same p99; a full share halved the CPU but added 25 % to p99.
PACE_FROM = 0.001
PACE_SHARE = 1 / 3
PACE_AT_MOST = 0.010
MAX_ID_LENGTH = 128
# Rotated files found by inode are only those changed after the file before them was opened,
# less this much (file times come from a coarse kernel clock).
AGE_SLACK_NS = 1_000_000_000
# Bytes of a file's head that tell it from a new file given the same inode number.
SAME_FILE_BYTES = 64
# Closed rotated files watched for late writes (counted as lost), per path.
CLOSED_KEPT = 8
LATE_WRITES_WATCHED = 600.0  # seconds: a logger that writes to a file rotated that long ago is gone
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".z")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_GLOB_MAGIC = re.compile(r"[*?[]")


# --- lines ---


class LineSplitter:
    """Bytes of one file in, LogLines out: holds the partial last line, cuts over-long ones."""

    def __init__(self, source_id: str, max_line_bytes: int) -> None:
        self.source_id = source_id
        self.limit = max_line_bytes
        self.partial = b""
        # Inside a line already cut (or before the first line start): skip up to its newline.
        self.skipping = False
        # The held partial was sent on its own: its newline, when it comes, ends no new line.
        self.flushed = False
        self.truncated = 0  # lines cut since the caller last read and reset this

    def feed(self, data: bytes, now: float) -> list[LogLine]:
        """The complete lines `data` finishes; the unfinished rest is held."""
        if self.flushed:
            self.flushed = False
            if data.startswith(b"\n"):
                data = data[1:]
            elif data.startswith(b"\r\n"):
                data = data[2:]
        if self.skipping:
            newline = data.find(b"\n")
            if newline < 0:
                return []
            data = data[newline + 1 :]
            self.skipping = False
        last = data.rfind(b"\n")
        if last < 0:
            return self._hold(data, now)
        head = self.partial + data[:last] if self.partial else data[:last]
        self.partial = b""
        lines = self._split(head, now)
        lines.extend(self._hold(data[last + 1 :], now))
        return lines

    def flush(self, now: float) -> LogLine | None:
        """The held partial line as a line of its own (idle too long, or its file is closing)."""
        if not self.partial:
            return None
        text = _strip_cr(self.partial.decode("utf-8", "replace"))
        self.partial = b""
        self.flushed = True
        return LogLine(self.source_id, text, leading_time(text) or now)

    @property
    def flags(self) -> int:
        """The state a restart needs besides the position (see sidecar/checkpoint.py)."""
        return (SKIPPING if self.skipping else 0) | (FLUSHED if self.flushed else 0)

    def set_flags(self, flags: int) -> None:
        self.skipping, self.flushed = bool(flags & SKIPPING), bool(flags & FLUSHED)

    def reset(self) -> None:
        """Forget everything held: the file restarts at 0."""
        self.partial = b""
        self.skipping = self.flushed = False

    def _split(self, head: bytes, now: float) -> list[LogLine]:
        """Complete lines (newlines removed). The fast path decodes the whole run at once:
        UTF-8 resynchronises at every ASCII byte, so this equals decoding line by line."""
        source = self.source_id
        texts = head.decode("utf-8", "replace").split("\n")
        # A line of n characters has at most 4n bytes: only then split the bytes to be sure.
        if len(head) > self.limit and max(map(len, texts)) * 4 > self.limit:
            parts = head.split(b"\n")
            if max(map(len, parts)) > self.limit:
                return [self._line(part, now) for part in parts]
        if b"\r" in head:  # CRLF files pay for the strip; others skip the per-line check
            texts = [_strip_cr(text) for text in texts]
        # The line's own time is parsed once, by the hub's ingest stage (sidecar/entries/parse.py).
        return [LogLine(source, text, now) for text in texts]

    def _line(self, raw: bytes, now: float) -> LogLine:
        if len(raw) <= self.limit:
            text = _strip_cr(raw.decode("utf-8", "replace"))
            return LogLine(self.source_id, text, leading_time(text) or now)
        return self._cut(raw, now)

    def _hold(self, rest: bytes, now: float) -> list[LogLine]:
        """Keep `rest` as the partial line unless that passes the limit: then cut and skip."""
        if not rest:
            return []
        held = self.partial + rest if self.partial else rest
        if len(held) <= self.limit:
            self.partial = held
            return []
        self.partial = b""
        self.skipping = True
        return [self._cut(held, now)]

    def _cut(self, raw: bytes, now: float) -> LogLine:
        self.truncated += 1
        return LogLine(self.source_id, utf8_prefix(raw, self.limit).decode("utf-8", "replace"), now, truncated=True)


def _strip_cr(text: str) -> str:
    return text[:-1] if text.endswith("\r") else text


# --- one open file ---


class OpenFile:
    """A descriptor being read, where we are in it, and its line state."""

    def __init__(self, fd: int, st: os.stat_result, splitter: LineSplitter, offset: int, now: float) -> None:
        self.fd = fd
        self.ident = (st.st_dev, st.st_ino)
        self.offset = offset
        self.splitter = splitter
        self.fingerprint = b""
        self.head = b""  # the file's first bytes as we read them: [0, len(head))
        self.last_data = now
        self.opened_ns = time.time_ns()
        self.real_path = ""  # the file's own path when opened (a symlink's target)
        self.retired_at: float | None = None  # set once rotated away or deleted

    def close_deadline(self, quiet: float, cap: float) -> float | None:
        """A retired file closes once quiet for `quiet` seconds, or `cap` after it was retired."""
        if self.retired_at is None:
            return None
        return min(max(self.last_data, self.retired_at) + quiet, self.retired_at + cap)

    def flush_deadline(self, partial_flush: float) -> float | None:
        return self.last_data + partial_flush if self.splitter.partial else None

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


def _ident(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


def _errno_name(error: OSError) -> str:
    return errno.errorcode.get(error.errno or 0, "OSError")


class FileTailer:
    """Follows one path: the file at it now, plus the rotated-away ones still draining."""

    def __init__(self, path: str, source_id: str, settings: Settings, hub: Hub, from_end: bool) -> None:
        self.path = path
        self.id = source_id
        self.settings = settings
        self.hub = hub
        self.current: OpenFile | None = None
        self.retired: list[OpenFile] = []  # oldest first
        self.from_end = from_end  # only for the first open of a file present at start
        self.state = "starting"
        self.error: str | None = None
        self.ever_opened = False
        self.ended = False
        self._chunks_left = 0
        # Files of this path already opened or present before it was followed: never read
        # (again) when found under a rotated name. Pruned to what still exists at each scan.
        # With the first bytes each had (None: not read), since ext4 soon gives a freed inode
        # number to a new file: a known number with another head is another file.
        self.known: dict[tuple[int, int], bytes | None] = {}
        self._scanned = False
        self._rotated_from: OpenFile | None = None  # the last current file, until the next one is open
        # Rotated files closed while still there: (ident, offset). Writes past the offset are lost.
        # (ident, offset, real path, head, when closed), watched for LATE_WRITES_WATCHED seconds.
        self.closed: deque[tuple[tuple[int, int], int, str, bytes, float]] = deque(maxlen=CLOSED_KEPT)
        self.is_followed: Callable[[str], bool] = lambda path: False  # paths with a tailer of their own
        self.checkpoint: Checkpoint | None = None
        self.resume: dict[tuple[int, int], Mark] | None = None  # where the run before stopped, per file
        self._resume_current: tuple[tuple[int, int], Mark] | None = None

    # -- the one entry point --

    def check(self, now: float) -> tuple[bool, bool]:
        """Catch up with the path, reading at most one chunk.

        Returns (more, worked): more is True when data is still waiting (call again after
        yielding), worked when a chunk was read."""
        self._chunks_left = 1
        more = self._catch_up(now)
        self._flush_idle(now)
        return more, self._chunks_left == 0

    def next_deadline(self) -> float | None:
        """When a held partial line must be sent or a drained file closed, if ever."""
        deadlines = []
        for open_file in self._open_files():
            flush_at = open_file.flush_deadline(self.settings.partial_flush)
            if flush_at is not None:
                deadlines.append(flush_at)
            close_at = open_file.close_deadline(self.settings.rotate_wait, self.settings.rotate_wait_max)
            if close_at is not None:
                deadlines.append(close_at)
        return min(deadlines) if deadlines else None

    @property
    def draining(self) -> bool:
        return bool(self.retired)

    def close(self) -> None:
        for open_file in self._open_files():
            open_file.close()
        self.current = None
        self.retired.clear()

    # -- steps --

    def _catch_up(self, now: float) -> bool:
        if self.resume is not None:
            self._resume_files(self._stat_path(), now)
        # Late writes to rotated-away files come first: they were written before the new file's.
        for old in list(self.retired):
            if not self._read(old, now):
                return True
            close_at = old.close_deadline(self.settings.rotate_wait, self.settings.rotate_wait_max)
            if close_at is not None and close_at <= now:
                self._close_retired(old)
        st = self._stat_path()
        if self.current is not None and (st is None or _ident(st) != self.current.ident):
            self._rotated_from = self.current
            self._retire(self.current, now, deleted=st is None)
            self.current = None
        if self.current is None and self._rotated_from is not None and st is not None:
            # Before the file now at the path: those that passed through it since the old one.
            self._find_unread_rotated(self._rotated_from, st, now)
            for retired in list(self.retired):
                if not self._read(retired, now):
                    return True
        if self.current is None:
            if st is None:
                self._end_if_gone()
                return False
            waiting = len(self.retired)
            if not self._open(st, now):
                return False
            if len(self.retired) > waiting:
                return True  # rotated between stat and open: the file(s) found come first
        self._check_truncation(self.current)
        more = not self._read(self.current, now)
        self._set_state("following")
        return more

    def _stat_path(self) -> os.stat_result | None:
        """The file now at the path (symlinks followed), or None when there is none."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        except OSError as error:
            if self.current is None:
                self._fail(f"cannot stat {self.path}: {error.strerror}", _errno_name(error))
                return None
            # The path cannot be checked (e.g. its directory lost its x bit): keep reading
            # what is open rather than calling it deleted.
            logger.debug("%s: cannot stat (%s), still reading the open file", self.path, error.strerror)
            return os.fstat(self.current.fd)
        return st

    def _open(self, st: os.stat_result, now: float) -> bool:
        """Open the file at the path; on failure record why and retry at the next look."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        except OSError as error:
            self._fail(f"cannot open {self.path}: {error.strerror}", _errno_name(error))
            return False
        try:
            stated, st = st, os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                self._fail(f"not a regular file: {self.path}", "not-regular")
                return False
            if _ident(st) != _ident(stated) and self._rotated_from is not None:
                self._find_unread_rotated(self._rotated_from, st, now)  # the one we saw is beside it now
            splitter = LineSplitter(self.id, self.settings.max_line_bytes)
            open_file = OpenFile(fd, st, splitter, 0, now)
            resume, self._resume_current = self._resume_current, None
            if resume is not None and resume[0] == open_file.ident:
                self._resume_at(open_file, resume[1])
            elif self.from_end:
                self._seek_near_end(open_file, st.st_size)
        except OSError as error:
            os.close(fd)
            self._fail(f"cannot read {self.path}: {error.strerror}", _errno_name(error))
            return False
        if not self._scanned:  # what sits beside the first file we follow predates us
            self._scanned = True
            for ident, (path, _) in self._siblings(os.path.realpath(self.path)).items():
                self.known[ident] = _head_of(path, ident)
        self.known[open_file.ident] = None
        self._rotated_from = None
        open_file.real_path = os.path.realpath(self.path)
        self._record_open(open_file)
        self.from_end = False
        self._announce_open()
        self.current = open_file
        self.ever_opened = True
        self.ended = False
        return True

    def _seek_near_end(self, open_file: OpenFile, size: int) -> None:
        """Start at the last `start_bytes`, at the next line start (never half a line)."""
        start = max(0, size - self.settings.start_bytes)
        open_file.offset = start
        open_file.head = os.pread(open_file.fd, min(HEAD_BYTES, start), 0)
        if start > 0:
            length = min(FINGERPRINT_BYTES, start)
            open_file.fingerprint = os.pread(open_file.fd, length, start - length)
            open_file.splitter.skipping = not open_file.fingerprint.endswith(b"\n")

    # -- restart resume --

    def _resume_files(self, st: os.stat_result | None, now: float) -> None:
        """Pick up where the run before stopped: files rotated away since are found by inode
        and drained from their position first; the file at the path goes on from its own."""
        marks, self.resume = self.resume or {}, None
        self._scanned = True
        self.known.update(dict.fromkeys(marks))
        at_path = _ident(st) if st is not None else None
        last_old = None
        for ident, mark in marks.items():
            if mark.closed or ident == at_path:
                continue
            open_file = self._locate(ident, now)
            if open_file is None:
                self._lose(None, None)  # rotated away and gone while we were down
                continue
            self._resume_at(open_file, mark)
            self._retire(open_file, now, deleted=False)
            self._record_open(open_file)
            last_old = open_file
        if at_path is not None and at_path in marks and not marks[at_path].closed:
            self._resume_current = (at_path, marks[at_path])
        elif last_old is not None:
            self._rotated_from = last_old  # files that passed through the path meanwhile are read too

    def _locate(self, ident: tuple[int, int], now: float) -> OpenFile | None:
        """The file `ident` at the path or beside it (rotated), opened; None when it is gone."""
        siblings = self._siblings(os.path.realpath(self.path))
        try:
            st = os.stat(self.path)
            if _ident(st) == ident:
                siblings[ident] = (self.path, st)
        except OSError:
            pass
        if ident not in siblings:
            return None
        path = siblings[ident][0]
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        except OSError:
            return None
        st = os.fstat(fd)
        if _ident(st) != ident or not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        open_file = OpenFile(fd, st, LineSplitter(self.id, self.settings.max_line_bytes), 0, now)
        open_file.real_path = path
        return open_file

    def _resume_at(self, open_file: OpenFile, mark: Mark) -> None:
        """Go on from `mark` unless the file's head changed meanwhile (then it is read from 0)."""
        head = os.pread(open_file.fd, mark.head_len, 0)
        if len(head) != mark.head_len or head_crc(head) != mark.head_crc:
            # Replaced (a new file with a recycled inode number) or truncated while we were
            # down: whatever it held past our position is gone unread.
            logger.info("%s: replaced or truncated while the sidecar was down, reading it from 0", self.path)
            self._lose(None, None)
            return
        open_file.offset = mark.pos
        open_file.head = head
        open_file.opened_ns = mark.opened_ns
        open_file.splitter.set_flags(mark.flags)
        at = max(0, mark.pos - FINGERPRINT_BYTES)
        open_file.fingerprint = os.pread(open_file.fd, mark.pos - at, at)

    def restore_run(self, run: Run, files: dict[tuple[int, int], OpenFile | None], heads: dict) -> list[LogLine] | None:
        """The lines a publish of the run before made, read again from its file; None when the
        file is gone or is no longer what it was."""
        if run.ident not in files:
            files[run.ident] = self._locate(run.ident, 0.0)
        open_file = files[run.ident]
        if open_file is None:
            return None
        mark = heads.get(run.ident)
        if mark is not None:
            head = os.pread(open_file.fd, mark.head_len, 0)
            if head_crc(head) != mark.head_crc or len(head) != mark.head_len:
                return None
        data = os.pread(open_file.fd, run.end - run.start, run.start)
        if len(data) != run.end - run.start:
            return None
        splitter = LineSplitter(self.id, self.settings.max_line_bytes)
        splitter.set_flags(run.flags)
        lines = splitter.feed(data, run.time)
        if run.flush:
            line = splitter.flush(run.time)
            if line is not None:
                lines.append(line)
        return lines if len(lines) == run.count else None

    def _record_open(self, open_file: OpenFile) -> None:
        if self.checkpoint is not None:
            pos = open_file.offset - len(open_file.splitter.partial)
            self.checkpoint.record_open(
                self.id, open_file.ident, pos, open_file.splitter.flags, open_file.head, open_file.opened_ns
            )

    def _publish(self, open_file: OpenFile, lines: list[LogLine], start: int, flags: int, wall: float, flush: bool) -> None:
        """Publish lines read from bytes [start, offset); with a checkpoint, journal them first."""
        if not lines:
            return
        if self.checkpoint is None:
            self.hub.publish(self.id, lines)
            return
        first_id = self.hub.next_id()
        run = Run(open_file.ident, start, open_file.offset, first_id, len(lines), wall, flags, flush)
        pos = open_file.offset - len(open_file.splitter.partial)
        self.checkpoint.record_run(self.id, run, pos, open_file.splitter.flags)
        self.hub.publish(self.id, lines, first_id=first_id)

    def _lose(self, lines: int | None, size: int | None) -> None:
        gap = self.hub.report_loss(self.id, "rotated-unread", lines, size)
        if self.checkpoint is not None:
            self.checkpoint.record_loss(self.id, gap)

    def _announce_open(self) -> None:
        if self.retired:
            self.hub.announce(self.id, "rotated", path=self.path)
            logger.info("%s: rotated, following the new file", self.path)
        elif self.ever_opened or self.state == "error":
            self.hub.announce(self.id, "reconnected", path=self.path)
            self.hub.metrics.source_reconnects.labels(self.id).inc()
            logger.info("%s: following again", self.path)

    def _check_truncation(self, open_file: OpenFile) -> None:
        """Restart at 0 when the file shrank below the offset, or its head or the bytes just
        before the offset changed (truncated and refilled past the offset between two looks)."""
        if open_file.offset == 0:
            return
        size = os.fstat(open_file.fd).st_size
        reason = None
        if size < open_file.offset:
            reason = "size"
        elif open_file.head and os.pread(open_file.fd, len(open_file.head), 0) != open_file.head:
            reason = "head"
        elif open_file.fingerprint:
            at = open_file.offset - len(open_file.fingerprint)
            if os.pread(open_file.fd, len(open_file.fingerprint), at) != open_file.fingerprint:
                reason = "content"
        if reason is None:
            return
        self._publish_flush(open_file)
        old_offset = open_file.offset
        open_file.offset = 0
        open_file.fingerprint = open_file.head = b""
        open_file.splitter.reset()
        self._record_open(open_file)
        self.hub.announce(self.id, "truncated", path=self.path, offset=old_offset, size=size)
        logger.info("%s: truncated (%s) at offset %d, reading from 0", self.path, reason, old_offset)

    def _read(self, open_file: OpenFile, now: float) -> bool:
        """Read one chunk if the budget allows; True when the file is at its end."""
        if self._chunks_left <= 0:
            return False
        data = os.pread(open_file.fd, CHUNK_BYTES, open_file.offset)
        if not data:
            return True
        self._chunks_left -= 1
        if len(open_file.head) == open_file.offset < HEAD_BYTES:
            open_file.head += data[: HEAD_BYTES - open_file.offset]
            if self.checkpoint is not None:
                self.checkpoint.record_head(self.id, open_file.ident, open_file.head)
        splitter = open_file.splitter
        start, flags = open_file.offset - len(splitter.partial), splitter.flags
        open_file.offset += len(data)
        if len(data) >= FINGERPRINT_BYTES:
            open_file.fingerprint = data[-FINGERPRINT_BYTES:]
        else:
            open_file.fingerprint = (open_file.fingerprint + data)[-FINGERPRINT_BYTES:]
        open_file.last_data = now
        wall = time.time()
        lines = splitter.feed(data, wall)
        if splitter.truncated:
            self.hub.metrics.lines_truncated.labels(self.id).inc(splitter.truncated)
            splitter.truncated = 0
        self.hub.record_bytes(self.id, len(data))
        self._publish(open_file, lines, start, flags, wall, flush=False)
        return len(data) < CHUNK_BYTES

    def _retire(self, open_file: OpenFile, now: float, deleted: bool) -> None:
        open_file.retired_at = now
        self.retired.append(open_file)
        logger.debug("%s: %s, draining the old file", self.path, "deleted" if deleted else "replaced")

    def _close_retired(self, old: OpenFile) -> None:
        self._publish_flush(old)
        try:
            still_there = os.fstat(old.fd).st_nlink > 0
        except OSError:
            still_there = False
        if still_there:  # late writes to it can still be seen, and counted as lost
            self.closed.append((old.ident, old.offset, old.real_path, old.head[:SAME_FILE_BYTES], time.monotonic()))
        self.known[old.ident] = old.head[:SAME_FILE_BYTES]
        if self.checkpoint is not None:
            self.checkpoint.record_close(self.id, old.ident)
        old.close()
        self.retired.remove(old)

    # -- rotated files found by inode --

    def _siblings(self, real_path: str) -> dict[tuple[int, int], tuple[str, os.stat_result]]:
        """Regular files beside `real_path` whose names start like its own (app.log.1,
        app-2026-12-02.log), by identity. Compressed ones cannot be read and are left out."""
        directory, name = os.path.split(real_path)
        stem = name.split(".", 1)[0] or name
        found: dict[tuple[int, int], tuple[str, os.stat_result]] = {}
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return found
        for entry in entries:
            if not entry.name.startswith(stem) or entry.name.lower().endswith(_COMPRESSED):
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                found[_ident(st)] = (entry.path, st)
        return found

    def _find_unread_rotated(self, old: OpenFile, at_path: os.stat_result | None, now: float) -> None:
        """Files rotated away before we ever opened them (several rotations between two looks):
        unknown identities beside the old file, changed since it was opened, read in the order
        they were written, after the old file and before the one now at the path."""
        siblings = self._siblings(old.real_path)
        open_idents = {f.ident for f in self._open_files()}
        keep = siblings.keys() | open_idents | {entry[0] for entry in self.closed}
        self.known = {ident: head for ident, head in self.known.items() if ident in keep}
        skip = open_idents | ({_ident(at_path)} if at_path is not None else set())
        found = [
            (st.st_mtime_ns, path, ident)
            for ident, (path, st) in siblings.items()
            if ident not in skip
            and not self._known_file(ident, path)
            and st.st_mtime_ns >= old.opened_ns - AGE_SLACK_NS
            and not self.is_followed(path)
        ]
        for _, path, ident in sorted(found):
            self.known[ident] = None
            open_file = self._open_rotated(path, ident, now, siblings[ident][1].st_size)
            if open_file is not None:
                self._retire(open_file, now, deleted=False)
                self._record_open(open_file)
                logger.info("%s: found %s, rotated away before it was read", self.path, path)

    def _known_file(self, ident: tuple[int, int], path: str) -> bool:
        if ident not in self.known:
            return False
        head = self.known[ident]
        return head is None or _head_of(path, ident, len(head)) == head

    def _open_rotated(self, path: str, ident: tuple[int, int], now: float, size: int) -> OpenFile | None:
        """Open a file found beside the path; if it vanished meanwhile its `size` bytes are lost."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        except OSError:
            self._lose(None, size)
            return None
        st = os.fstat(fd)
        if _ident(st) != ident:  # replaced again between the scan and the open
            os.close(fd)
            self._lose(None, size)
            return None
        open_file = OpenFile(fd, st, LineSplitter(self.id, self.settings.max_line_bytes), 0, now)
        open_file.real_path = path
        return open_file

    def count_late_writes(self) -> None:
        """Lines written to rotated files after we closed them: counted as lost (a gap), since
        reading them now would put them after newer lines."""
        if not self.closed:
            return
        scans: dict[str, dict] = {}
        kept: deque[tuple[tuple[int, int], int, str, bytes, float]] = deque(maxlen=CLOSED_KEPT)
        watched_since = time.monotonic() - LATE_WRITES_WATCHED
        for ident, offset, real_path, head, closed_at in self.closed:
            if closed_at < watched_since:
                continue
            siblings = scans.get(real_path)
            if siblings is None:
                siblings = scans[real_path] = self._siblings(real_path)
            if ident not in siblings or _head_of(siblings[ident][0], ident, len(head)) != head:
                continue  # gone (its inode number may be another file's now): nothing more to count
            path, st = siblings[ident]
            if st.st_size > offset:
                lines = _count_newlines(path, ident, offset, st.st_size)
                if lines is not None:
                    self._lose(lines or None, st.st_size - offset)
                    logger.warning("%s: %d lines written to %s after it was closed", self.path, lines, path)
                offset = st.st_size
            kept.append((ident, offset, real_path, head, closed_at))
        self.closed = kept

    def _end_if_gone(self) -> None:
        """The path is gone and every old descriptor is closed: the source has ended."""
        if self.retired or self.ended:
            return
        self.ended = True
        self.from_end = False  # if it comes back, it is a new file: read it whole
        self.hub.announce(self.id, "removed", path=self.path)
        logger.info("%s: removed", self.path)
        self._set_state("ended")

    def _flush_idle(self, now: float) -> None:
        for open_file in self._open_files():
            deadline = open_file.flush_deadline(self.settings.partial_flush)
            if deadline is not None and deadline <= now:
                self._publish_flush(open_file)

    def _publish_flush(self, open_file: OpenFile) -> None:
        start = open_file.offset - len(open_file.splitter.partial)
        wall = time.time()
        line = open_file.splitter.flush(wall)
        if line is not None:
            self._publish(open_file, [line], start, 0, wall, flush=True)

    def _open_files(self) -> Iterable[OpenFile]:
        yield from self.retired
        if self.current is not None:
            yield self.current

    def _set_state(self, state: str, error: str | None = None) -> None:
        if (state, error) != (self.state, self.error):
            self.state, self.error = state, error
            self.hub.set_state(self.id, state, error)

    def _fail(self, message: str, reason: str) -> None:
        """Record an error once per distinct message: polls retry without flooding the log."""
        if message == self.error:
            return
        logger.warning("%s", message)
        self.hub.metrics.source_errors.labels(self.id, reason).inc()
        self.hub.announce(self.id, "error", error=message)
        self._set_state("error", message)


# --- directory watching ---


# inotify reads: whole events only, each at most 16 bytes + NAME_MAX + 1 (the kernel's EINVAL
# for a buffer too small cannot happen at this size).
EVENTS_READ_BYTES = 65_536
EVENT_MAX_BYTES = 16 + 256


class DirectoryWatcher:
    """inotify on directories, delivered on the event loop as soon as the kernel has events."""

    def __init__(self, on_events: Callable[[list[Event]], None]) -> None:
        if INotify is None:
            raise OSError(errno.ENOSYS, "inotify is not available on this platform")
        f = inotify_flags
        self.mask = (
            f.MODIFY | f.CREATE | f.MOVED_TO | f.MOVED_FROM | f.DELETE | f.CLOSE_WRITE | f.ATTRIB
            | f.DELETE_SELF | f.MOVE_SELF | f.ONLYDIR
        )
        self.inotify = INotify(nonblocking=True)
        self.on_events = on_events
        self.loop: asyncio.AbstractEventLoop | None = None
        self.dirs: dict[str, int] = {}  # directory -> watch descriptor
        self.by_wd: dict[int, set[str]] = {}  # several names can be one directory (symlinks)
        self.paused = False

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver events on `loop` as soon as the kernel has them (no debounce)."""
        self.loop = loop
        loop.add_reader(self.inotify.fileno(), self._readable)

    def pause(self) -> None:
        """Stop waking on events: they wait in the kernel (which merges repeats) until `drain`."""
        if self.loop is not None and not self.paused:
            self.loop.remove_reader(self.inotify.fileno())
            self.paused = True

    def resume(self) -> None:
        if self.loop is not None and self.paused:
            self.loop.add_reader(self.inotify.fileno(), self._readable)
            self.paused = False
            self._readable()

    def drain(self) -> None:
        """Deliver the events waiting in the kernel now (while paused)."""
        self._readable()

    def watch(self, directory: str) -> None:
        """Watch `directory`; raises OSError (ENOSPC: the user's watch limit is reached)."""
        if directory in self.dirs:
            return
        wd = self.inotify.add_watch(directory, self.mask)
        self.dirs[directory] = wd
        self.by_wd.setdefault(wd, set()).add(directory)

    def forget(self, wd: int) -> None:
        """The kernel dropped the watch (directory deleted): it may be watched again later."""
        for directory in self.by_wd.pop(wd, ()):
            self.dirs.pop(directory, None)

    def directories(self, wd: int) -> set[str]:
        return self.by_wd.get(wd, set())

    def _readable(self) -> None:
        events = []
        try:
            # A plain read of the non-blocking descriptor, until it is empty: INotify.read asks
            # FIONREAD first, one more system call for every line when lines come one at a time.
            while True:
                data = os.read(self.inotify.fileno(), EVENTS_READ_BYTES)
                events += parse_events(data)
                if len(data) < EVENTS_READ_BYTES - EVENT_MAX_BYTES:
                    break
        except BlockingIOError:
            pass  # nothing (more) to read
        except OSError as error:
            logger.warning("reading inotify events failed: %s", error)
        if events:
            self.on_events(events)

    def close(self) -> None:
        if self.loop is not None:
            try:
                self.loop.remove_reader(self.inotify.fileno())
            except (ValueError, RuntimeError):  # the loop is already closed
                pass
            self.loop = None
        self.inotify.close()


def pattern_directories(pattern: str) -> set[str]:
    """Existing directories in which a file matching `pattern` can appear (to watch them).

    The pattern's fixed prefix, and every directory each deeper prefix matches, so a new
    subdirectory of a `*/` or `**` pattern is seen being created."""
    parent = os.path.dirname(pattern)
    parts = parent.split(os.sep)
    fixed = 0
    while fixed < len(parts) and not _GLOB_MAGIC.search(parts[fixed]):
        fixed += 1
    directories = {os.sep.join(parts[:fixed]) or os.sep}
    for depth in range(fixed + 1, len(parts) + 1):
        prefix = os.sep.join(parts[:depth])
        directories.update(d for d in glob.glob(prefix, recursive=True) if os.path.isdir(d))
    return {os.path.normpath(d) for d in directories if os.path.isdir(d)}


def source_id_candidates(path: str) -> Iterable[str]:
    """Ids for `path`, most readable first: the file name, then prefixed by parent directories,
    then numbered. Only [A-Za-z0-9._-]; a rule, not a hash, so people can read it."""
    parts = [p for p in path.split(os.sep) if p]
    base = ""
    for depth in range(1, len(parts) + 1):
        base = _clean_id("-".join(parts[-depth:]))
        yield base
    for number in range(2, 1_000_000):
        yield f"{base[: MAX_ID_LENGTH - 8]}-{number}"


def _clean_id(text: str) -> str:
    cleaned = _ID_UNSAFE.sub("_", text)[-MAX_ID_LENGTH:]
    return cleaned if cleaned.strip(".") else "file" + cleaned


# --- the source ---


class FileSourceError(ValueError):
    """The file source cannot run as configured (watch=inotify without inotify). A ValueError,
    like a bad setting, so the CLI reports it as one and exits."""


class Wakeup:
    """A flag the run loop sleeps on until it is set or a deadline comes. An asyncio.Event
    under asyncio.timeout did the same with a Timeout object, a timer and a cancellation per
    sleep: a few per cent of the CPU of a line read when lines come one at a time."""

    def __init__(self) -> None:
        self.is_set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self.is_set = True
        _resolve(self._waiter)

    def clear(self) -> None:
        self.is_set = False

    async def wait_until(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        """Return once set (at once if it is) or at loop time `when`."""
        if self.is_set or when <= loop.time():
            return
        waiter = self._waiter = loop.create_future()
        timer = loop.call_at(when, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _resolve(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def pace_after(delivering: float) -> float:
    """How long to wait before the next read, given how long the clients took to be handed
    the last batch. A wake-up costs each client the same whether it carries one line or ten,
    so with many clients, reading as fast as lines come spends the loop on wake-ups: a pause
    in proportion gives each wake-up more lines and gives CPU back to the pod (the guest
    principle), at a latency cost smaller than the delivery itself. A file with more to
    read is never paused for (FileSource._work), so throughput is not capped by it."""
    return min(delivering * PACE_SHARE, PACE_AT_MOST) if delivering >= PACE_FROM else 0.0


async def _pace(delivering: float) -> None:
    pause = pace_after(delivering)
    if pause:
        await asyncio.sleep(pause)


class FileSource:
    """Finds the files the patterns match, and owns one FileTailer per file."""

    def __init__(self, settings: Settings, hub: Hub) -> None:
        self.settings = settings
        self.hub = hub
        self.patterns = [os.path.abspath(os.path.expanduser(p)) for p in settings.files]
        self.tailers: dict[str, FileTailer] = {}  # by path, kept for the life of the process
        self._by_name: dict[str, list[FileTailer]] = {}  # path or symlink target -> tailers
        self._targets: dict[FileTailer, str] = {}  # the file each tailer's path led to when last opened
        self._dirty: set[FileTailer] = set()  # woken by inotify: look at them first
        self._timed: set[FileTailer] = set()  # holding a partial line or a draining file
        self._rescan = False
        self._check_all = False
        self._watcher: DirectoryWatcher | None = None
        self._watch_failed = False
        self._wake: Wakeup | None = None
        # Here rather than in run(): with watch=inotify, a missing inotify fails the start.
        self._start_watching()
        self.checkpoint: Checkpoint | None = None
        self._resumed = False  # a checkpoint of the run before was found
        if settings.state_dir is not None:
            self._start_checkpoint(settings.state_dir)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._wake = Wakeup()
        if self._watcher is not None:
            self._watcher.attach(loop)
            self.hub.on_subscribe(self._on_subscribe)
        try:
            self._discover(initial=not self._resumed)
            next_poll = loop.time()  # the first round looks at every file
            while True:
                next_poll = await self._round(loop, next_poll)
        finally:
            self._close()

    # -- rounds --

    async def _round(self, loop: asyncio.AbstractEventLoop, next_poll: float) -> float:
        """Wait for a reason to look, then look where needed. Returns the next poll time."""
        await self._sleep_until(loop, min(next_poll, self._earliest_deadline(next_poll)))
        now = loop.time()
        if now >= next_poll or self._check_all:
            lazy = self._lazy_reading(not self.hub.watched(t.id for t in self.tailers.values()))
            self._check_all = False
            self._discover(initial=False)
            due = list(self.tailers.values())
            interval = self.settings.poll_interval
            next_poll = now + (max(interval, LAZY_POLL_INTERVAL) if lazy else interval)
            for tailer in due:
                self._count_late_writes(tailer)
        else:
            if self._rescan:
                self._discover(initial=False)
            due = [t for t in self._timed if (d := t.next_deadline()) is not None and d <= now]
        await self._work(loop, due)
        return next_poll

    async def _work(self, loop: asyncio.AbstractEventLoop, due: list[FileTailer]) -> None:
        """Check tailers one chunk at a time, round-robin, yielding after every chunk (and every
        YIELD_EVERY quiet checks). Files the kernel woke meanwhile jump the queue, so a poll
        round over many files does not delay a fresh line; a busy file goes to the back."""
        queue = deque(sorted(due, key=lambda t: t.id))
        queued = set(queue)
        quiet = 0
        while queue or self._dirty:
            woken = self._dirty - queued
            self._dirty.clear()
            if woken:
                queue.extendleft(sorted(woken, key=lambda t: t.id, reverse=True))
                queued |= woken
            tailer = queue.popleft()
            queued.discard(tailer)
            more, worked = self._check(tailer, loop.time())
            if tailer.next_deadline() is None:
                self._timed.discard(tailer)
            else:
                self._timed.add(tailer)
            if more:
                queue.append(tailer)
                queued.add(tailer)
            quiet = 0 if worked else quiet + 1
            if worked or quiet >= YIELD_EVERY:
                quiet = 0
                yielded = time.monotonic()
                await asyncio.sleep(0)  # the clients' tasks woken by this chunk run first
                if worked and not more:
                    await _pace(time.monotonic() - yielded)

    def _lazy_reading(self, lazy: bool) -> bool:
        """While no client watches any file source, inotify is not listened to: the files are
        read on the poll rounds only, once a second (LAZY_POLL_INTERVAL, or `poll_interval` if
        longer), which turns a thousand wake-ups a second into one. Buffer, metrics and states
        stay right, only later. Events kept by the kernel meanwhile are taken at each round
        (new files, deleted directories). Returns whether reading is lazy now (never without
        inotify: polling is then the only way changes are seen, at `poll_interval`)."""
        if self._watcher is None:
            return False
        if lazy:
            self._watcher.pause()
            self._watcher.drain()  # what it marks is looked at in this round anyway
            if self._wake is not None:
                self._wake.clear()
        else:
            self._watcher.resume()
        return lazy

    def _on_subscribe(self, subscription: Subscription) -> None:
        """A client came: back to reading on every inotify event, catching up right away."""
        if self._watcher is None or not self._watcher.paused:
            return
        if subscription.sources is None or any(t.id in subscription.sources for t in self.tailers.values()):
            self._watcher.resume()
            self._dirty.update(self.tailers.values())
            if self._wake is not None:
                self._wake.set()

    def _check(self, tailer: FileTailer, now: float) -> tuple[bool, bool]:
        """One file's turn; an error there is logged and counted, never fatal to the source."""
        try:
            result = tailer.check(now)
            if tailer.current is not None and self._targets.get(tailer) != tailer.current.real_path:
                self._follow_target(tailer, tailer.current.real_path)
            return result
        except Exception as error:  # noqa: BLE001 - one file must not stop the others
            reason = _errno_name(error) if isinstance(error, OSError) else "unexpected"
            message = f"reading {tailer.path} failed: {error}"
            if message != tailer.error:
                logger.exception("%s", message)
                self.hub.metrics.source_errors.labels(tailer.id, reason).inc()
                tailer.state, tailer.error = "error", message
                self.hub.set_state(tailer.id, "error", message)
            return False, False

    def _count_late_writes(self, tailer: FileTailer) -> None:
        try:
            tailer.count_late_writes()
        except Exception:  # noqa: BLE001 - a count that fails must not stop the source
            logger.exception("%s: counting late writes failed", tailer.path)

    async def _sleep_until(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        assert self._wake is not None
        if self._dirty or self._rescan or self._check_all:
            return
        await self._wake.wait_until(loop, when)
        self._wake.clear()

    def _earliest_deadline(self, default: float) -> float:
        deadlines = [d for t in self._timed if (d := t.next_deadline()) is not None]
        return min(deadlines, default=default)

    # -- discovery --

    def _discover(self, initial: bool) -> None:
        """Glob the patterns; every new regular file gets a tailer (files at start: from the end)."""
        self._rescan = False
        self._update_watches()
        found: set[str] = set()
        for pattern in self.patterns:
            try:
                matches = glob.glob(pattern, recursive=True)
            except OSError as error:  # pragma: no cover - glob swallows most errors itself
                logger.warning("globbing %s failed: %s", pattern, error)
                continue
            if initial and not matches:  # a typo in the pattern is the usual cause: say so now
                logger.warning("%s matches no file yet: watching for files that will match it", pattern)
            found.update(os.path.abspath(p) for p in matches)
        for path in sorted(found - self.tailers.keys()):
            if _is_regular_file(path):
                self._add_tailer(path, from_end=initial)

    def _add_tailer(self, path: str, from_end: bool, source_id: str | None = None) -> FileTailer:
        if source_id is None:
            source_id = next(c for c in source_id_candidates(path) if c not in self.hub.sources)
        tailer = FileTailer(path, source_id, self.settings, self.hub, from_end)
        tailer.is_followed = self.tailers.__contains__
        if self.checkpoint is not None:
            # Resumed: a file the last run did not follow is new since and read whole, so a
            # client of the last run misses none of it. Else lines before this run are unknown.
            self.checkpoint.add_source(source_id, path, 0 if self._resumed else self.hub.run_first_id)
            tailer.checkpoint = self.checkpoint
        self.tailers[path] = tailer
        self.hub.add_source(source_id, "file", path)
        if self._resumed:
            self.hub.mark_restored(source_id, 0)  # _restore sets its own for the sources it restores
        logger.info("following %s as source %s", path, source_id)
        self._register(tailer, path)
        self._follow_target(tailer, os.path.realpath(path))
        self._dirty.add(tailer)
        return tailer

    def _register(self, tailer: FileTailer, name: str) -> bool:
        """Wake `tailer` on inotify events about `name`; False when its directory cannot be watched."""
        tailers = self._by_name.setdefault(name, [])
        if tailer not in tailers:
            tailers.append(tailer)
        return self._watcher is not None and self._watch(os.path.dirname(name))

    def _follow_target(self, tailer: FileTailer, target: str) -> None:
        """A symlinked path now leads to `target` (re-pointed: app.log -> data.2): its writes
        wake the tailer too. The watch mode is what covers both the path and its target."""
        old = self._targets.get(tailer)
        if old is not None and old != tailer.path:
            holders = self._by_name.get(old, [])
            if tailer in holders:
                holders.remove(tailer)
        self._targets[tailer] = target
        watched = [self._register(tailer, name) for name in (tailer.path, target)]
        self.hub.set_watch_mode(tailer.id, "inotify" if all(watched) else "poll")

    # -- restart resume --

    def _start_checkpoint(self, state_dir: Path) -> None:
        """Load the last run's journal, rebuild the buffers from the files, start this run's.

        Done before the server listens, so no client sees a half-restored buffer."""
        checkpoint = Checkpoint(state_dir, self.hub)
        try:
            if not checkpoint.lock():
                logger.warning("state_dir %s is in use by another sidecar: restart resume is off", state_dir)
                return
            previous = checkpoint.load()
            checkpoint.begin()
        except OSError as error:
            checkpoint.close()
            raise FileSourceError(f"state_dir {state_dir} is not writable: {error.strerror}") from error
        self.checkpoint = checkpoint
        if previous:
            self._resumed = True
            self._restore(previous)

    def _restore(self, previous: dict[str, SourceJournal]) -> None:
        assert self.checkpoint is not None
        matching = self._glob()
        restored: list[tuple[FileTailer, SourceJournal]] = []
        for journal in sorted(previous.values(), key=lambda j: j.number):
            if journal.path not in matching or journal.source_id in self.hub.sources:
                logger.info("checkpoint: %s is no longer followed, its state is dropped", journal.path)
                continue
            tailer = self._add_tailer(journal.path, from_end=False, source_id=journal.source_id)
            tailer.resume = dict(journal.marks)
            tailer.known.update(dict.fromkeys(journal.marks))
            for ident, mark in journal.marks.items():
                self.checkpoint.sources[tailer.id].marks[ident] = mark
            restored.append((tailer, journal))
        runs = sorted(((run.first_id, i, run) for i, (_, journal) in enumerate(restored) for run in journal.runs))
        files: list[dict] = [{} for _ in restored]
        counts = [0] * len(restored)
        for _, i, run in runs:
            tailer, journal = restored[i]
            try:
                lines = tailer.restore_run(run, files[i], journal.marks)
            except OSError:
                lines = None
            if lines is None:
                journal.exact_after = max(journal.exact_after, run.last_id)  # those ids are gone for good
                continue
            try:
                self.hub.publish(tailer.id, lines, first_id=run.first_id)
            except ValueError:  # ids out of order: a journal that is not consistent
                journal.exact_after = max(journal.exact_after, run.last_id)
                continue
            self.checkpoint.sources[tailer.id].runs.append(run)
            counts[i] += len(lines)
        for i, (tailer, journal) in enumerate(restored):
            for open_file in files[i].values():
                if open_file is not None:
                    open_file.close()
            for gap_id, missed in journal.losses:
                self.hub.restore_loss(tailer.id, Gap(tailer.id, missed, "rotated-unread", gap_id))
                self.checkpoint.sources[tailer.id].losses.append((gap_id, missed))
            self.checkpoint.sources[tailer.id].exact_after = journal.exact_after
            self.hub.mark_restored(tailer.id, journal.exact_after)
            logger.info("checkpoint: %s restored with %d lines", tailer.path, counts[i])
        self.checkpoint.compact()  # this run's journal now holds what was restored

    def _glob(self) -> set[str]:
        found: set[str] = set()
        for pattern in self.patterns:
            found.update(os.path.abspath(p) for p in glob.glob(pattern, recursive=True))
        return found

    # -- inotify --

    def _start_watching(self) -> None:
        """Set up inotify unless watch=poll; auto falls back to polling, inotify fails loudly."""
        mode = self.settings.watch
        if mode == "poll":
            logger.info("watching files by polling every %ss", self.settings.poll_interval)
            return
        try:
            self._watcher = DirectoryWatcher(self._on_events)
            for pattern in self.patterns:
                for directory in sorted(pattern_directories(pattern)):
                    self._watcher.watch(directory)
        except (OSError, AttributeError) as error:
            if self._watcher is not None:
                self._watcher.close()
                self._watcher = None
            message = f"inotify cannot be used ({_describe(error)})"
            if mode == "inotify":
                raise FileSourceError(f"{message}; set LOG_SIDECAR_WATCH=poll or auto") from error
            logger.warning("%s: polling every %ss instead", message, self.settings.poll_interval)

    def _update_watches(self) -> None:
        if self._watcher is None:
            return
        for pattern in self.patterns:
            for directory in sorted(pattern_directories(pattern)):
                self._watch(directory)

    def _watch(self, directory: str) -> bool:
        assert self._watcher is not None
        try:
            self._watcher.watch(directory)
            return True
        except FileNotFoundError:
            return False  # gone again: the poll will find what appears there
        except OSError as error:
            if not self._watch_failed:  # warn once: the poll covers what inotify cannot
                logger.warning("cannot watch %s (%s): relying on polling there", directory, _describe(error))
                self._watch_failed = True
            return False

    def _on_events(self, events: list[Event]) -> None:
        """Mark the tailers the kernel's events concern; the run loop reads them right away."""
        f = inotify_flags
        assert self._watcher is not None and self._wake is not None
        for event in events:
            wd, mask, _cookie, name = event
            if mask & f.Q_OVERFLOW:
                self._check_all = True
                continue
            if mask & f.IGNORED:
                self._watcher.forget(wd)
                self._rescan = True
                continue
            for directory in self._watcher.directories(wd):
                path = os.path.join(directory, name) if name else directory
                self._dirty.update(self._by_name.get(path, ()))
                if mask & (f.CREATE | f.MOVED_TO) and (mask & f.ISDIR or self._could_match(path)):
                    self._rescan = True
        # Late writes to rotated-away files carry their new names: look at those too
        # (a draining file has a close deadline, so it is in _timed).
        self._dirty.update(t for t in self._timed if t.draining)
        self._wake.set()

    def _could_match(self, path: str) -> bool:
        """A cheap superset of glob matching, to skip globbing for unrelated new files."""
        return any(fnmatchcase(path, pattern) for pattern in self.patterns)

    def _close(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint.close()
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        for tailer in self.tailers.values():
            tailer.close()


def _head_of(path: str, ident: tuple[int, int], length: int = SAME_FILE_BYTES) -> bytes | None:
    """The first bytes of the file `ident` at `path` (None if it is not that file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.pread(fd, length, 0) if _ident(os.fstat(fd)) == ident else None
    finally:
        os.close(fd)


def _count_newlines(path: str, ident: tuple[int, int], start: int, end: int) -> int | None:
    """Lines in bytes [start, end) of the file `ident` at `path`, or None if it is another file now."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if _ident(os.fstat(fd)) != ident:
            return None
        count = 0
        while start < end:
            data = os.pread(fd, min(CHUNK_BYTES, end - start), start)
            if not data:
                break
            count += data.count(b"\n")
            start += len(data)
        return count
    finally:
        os.close(fd)


def _is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "inotify watch limit reached (fs.inotify.max_user_watches)"
    if isinstance(error, OSError) and error.errno == errno.EMFILE:
        return "inotify instance limit reached (fs.inotify.max_user_instances)"
    return str(error) or type(error).__name__
