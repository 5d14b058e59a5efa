"""Start the real sidecar (`python -m sidecar serve`) on 127.0.0.1 with an ephemeral port."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

_LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


class SidecarProcess:
    """The sidecar as a child process, configured through LOG_SIDECAR_* env like in a pod."""

    def __init__(
        self, env: dict[str, str] | None = None, args: list[str] | None = None, wrapper: list[str] | None = None
    ) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_SIDECAR_")}
        self.env.update({"LOG_SIDECAR_HOST": "127.0.0.1", "LOG_SIDECAR_PORT": "0"})
        self.env.update(env or {})
        self.args = args or []
        self.wrapper = wrapper or []  # a command that execs the sidecar, e.g. setpriv to drop privileges
        self.proc: subprocess.Popen[str] | None = None
        self.port: int | None = None
        self.output: list[str] = []
        self._port_seen = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0, wait_ready: bool = True) -> SidecarProcess:
        self.proc = subprocess.Popen(
            [*self.wrapper, sys.executable, "-m", "sidecar", "serve", *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        threading.Thread(target=self._read_output, daemon=True).start()
        if not self._port_seen.wait(timeout):
            self.stop()
            raise RuntimeError("sidecar did not start:\n" + "".join(self.output))
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def _read_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            match = _LISTENING.search(line)
            if match:
                self.port = int(match.group(1))
                self._port_seen.set()

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = httpx.get(self.url + "/readyz", timeout=2)
                if last.status_code == 200:
                    return
            except httpx.HTTPError as error:
                last = error
            time.sleep(0.05)
        raise RuntimeError(f"sidecar not ready: {last!r}\n" + "".join(self.output))

    def rss_bytes(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> SidecarProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_coroutine(coroutine) -> object:
    """asyncio.run in a thread of its own: a browser test earlier in the same session (Playwright's
    sync API) leaves the main thread marked as running a loop, where asyncio.run refuses to start."""
    result: list[object] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]
