"""Programs that write log files the way real ones do, for the file source's tests."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def append(path: Path, data: bytes | str) -> None:
    """One write(2) at the end of `path` (created if missing), like a logger's flush."""
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, raw)
    finally:
        os.close(fd)


def numbered(n: int) -> bytes:
    return b"n=%06d\n" % n


class _WriterThread(threading.Thread):
    """A writer in a thread of its own; an exception is kept in `.error` for the test to raise."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._write_all()
        except BaseException as error:  # surfaced by the test through .error
            self.error = error

    def _write_all(self) -> None:
        raise NotImplementedError


class RotatingWriter(_WriterThread):
    """Writes numbered lines to `path` and rename-rotates it every `rotate_every` lines.

    Like a logger under logrotate's `create` mode with a slow reopen: after the rename it
    still writes `late_lines` lines to the old file before it opens the new one, so the
    reader must finish the old file before starting the new one to keep the order."""

    def __init__(
        self, path: Path, total: int, rotate_every: int, late_lines: int = 3, pause: float = 0.0002
    ) -> None:
        super().__init__()
        self.path = path
        self.total = total
        self.rotate_every = rotate_every
        self.late_lines = late_lines
        self.pause = pause
        self.rotations = 0

    def _write_all(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        n = 0
        while n < self.total:
            os.write(fd, numbered(n))
            n += 1
            if n % self.rotate_every == 0 and n + self.late_lines < self.total:
                os.rename(self.path, self.path.with_name(self.path.name + ".1"))
                for _ in range(self.late_lines):
                    os.write(fd, numbered(n))
                    n += 1
                os.close(fd)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self.rotations += 1
            if self.pause:
                time.sleep(self.pause)
        os.close(fd)


class LogrotateWriter(_WriterThread):
    """Writes numbered lines at `rate` lines/s and rotates like logrotate (`rotate keep`,
    `create`) every `rotate_seconds`: app.log.(k-1) -> app.log.k, ..., app.log -> app.log.1,
    then a new app.log; the oldest generation is deleted."""

    def __init__(self, path: Path, total: int, rate: float, rotate_seconds: float, keep: int = 5) -> None:
        super().__init__()
        self.path, self.total, self.rate = path, total, rate
        self.rotate_seconds, self.keep = rotate_seconds, keep
        self.rotations = 0

    def _rotate(self) -> None:
        def generation(k: int) -> Path:
            return self.path.with_name(f"{self.path.name}.{k}")

        generation(self.keep).unlink(missing_ok=True)
        for k in range(self.keep - 1, 0, -1):
            if generation(k).exists():
                os.rename(generation(k), generation(k + 1))
        os.rename(self.path, generation(1))
        self.rotations += 1

    def _write_all(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        start = time.monotonic()
        next_rotation = start + self.rotate_seconds
        n = 0
        while n < self.total:
            due = min(self.total, int((time.monotonic() - start) * self.rate) + 1)
            if due > n:
                os.write(fd, b"".join(numbered(k) for k in range(n, due)))
                n = due
            if time.monotonic() >= next_rotation and n < self.total:
                self._rotate()
                os.close(fd)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                next_rotation += self.rotate_seconds
            time.sleep(0.002)
        os.close(fd)


def write_late(fd: int, first: int, count: int, pause: float) -> int:
    """`count` numbered lines to an already rotated-away file, `pause` seconds apart; returns the next number."""
    for n in range(first, first + count):
        os.write(fd, numbered(n))
        time.sleep(pause)
    return first + count


class PacedWriter(threading.Thread):
    """Numbered lines at `rate` lines/s, in small bursts, until `total` are written."""

    def __init__(self, path: Path, total: int, rate: float, first: int = 0) -> None:
        super().__init__(daemon=True)
        self.path, self.total, self.rate, self.first = path, total, rate, first
        self.written = first

    def run(self) -> None:
        start = time.monotonic()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            while self.written < self.total:
                due = min(self.total, self.first + int((time.monotonic() - start) * self.rate) + 1)
                if due > self.written:
                    os.write(fd, b"".join(numbered(n) for n in range(self.written, due)))
                    self.written = due
                time.sleep(0.002)
        finally:
            os.close(fd)
