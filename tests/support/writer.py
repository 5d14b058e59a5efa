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


class RotatingWriter(threading.Thread):
    """Writes numbered lines to `path` and rename-rotates it every `rotate_every` lines.

    Like a logger under logrotate's `create` mode with a slow reopen: after the rename it
    still writes `late_lines` lines to the old file before it opens the new one, so the
    reader must finish the old file before starting the new one to keep the order."""

    def __init__(
        self, path: Path, total: int, rotate_every: int, late_lines: int = 3, pause: float = 0.0002
    ) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.total = total
        self.rotate_every = rotate_every
        self.late_lines = late_lines
        self.pause = pause
        self.rotations = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._write_all()
        except BaseException as error:  # surfaced by the test through .error
            self.error = error

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
