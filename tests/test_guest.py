"""The guest principle end to end: the sidecar never harms the pod it sits in (issue 8)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import SidecarProcess
from tests.support.sse import StreamClient

UNICODE_DIGITS = ["²", "①", "١٢", "１２", "٣"]


@pytest.fixture(scope="module")
def guest_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guest")
    (folder / "app.log").write_text("hello\n")
    with SidecarProcess({"LOG_SIDECAR_FILES": str(folder / "*.log")}) as server:
        yield server


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/stream", "last_event_id"),
        ("/api/stream", "tail"),
        ("/api/stream", "since"),
        ("/api/lines", "before"),
        ("/api/lines", "after"),
        ("/api/lines", "limit"),
        ("/api/download", "level"),
        ("/api/stream", "source"),
    ],
)
def test_unicode_digits_in_a_parameter_are_a_4xx(guest_server, path: str, name: str, digits: str) -> None:
    response = httpx.get(guest_server.url + path, params={name: digits}, timeout=10)
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize("raw", ["²".encode("latin-1"), "①".encode(), "١٢".encode(), b"1\xb2"])
def test_unicode_digits_in_last_event_id_header_are_a_400(guest_server, raw: bytes) -> None:
    response = httpx.get(guest_server.url + "/api/stream", headers={"Last-Event-ID": raw}, timeout=10)
    assert response.status_code == 400
    assert "Last-Event-ID" in response.json()["detail"]


def test_odd_session_cookies_and_credentials_are_a_401(sidecar, tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("hello\n")
    server = sidecar({"LOG_SIDECAR_FILES": str(tmp_path / "*.log"), "LOG_SIDECAR_AUTH": "bearer",
                      "LOG_SIDECAR_AUTH_SECRET": "s3cret"})
    for cookie in ("²." + "a" * 64, "99999999999.é", "①②.x", "1" * 400 + ".x"):
        response = httpx.get(server.url + "/api/sources", headers={"Cookie": f"log_sidecar_session={cookie}".encode()})
        assert response.status_code == 401, cookie
    for authorization in ("Bearer é".encode(), "Basic ²".encode("latin-1"), b"Bearer \xff\xfe"):
        response = httpx.get(server.url + "/api/sources", headers={"Authorization": authorization})
        assert response.status_code == 401, authorization
    response = httpx.get(server.url + "/api/sources", params={"access_token": "①"})
    assert response.status_code == 401


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics")


def _open_streams(server: SidecarProcess, count: int) -> list[StreamClient]:
    readers = [StreamClient(server.url, {"tail": 1}).start() for _ in range(count)]
    for reader in readers:
        reader.collect_lines(1)
    return readers


@pytest.mark.parametrize("pid_one", [False, True], ids=["child-process", "pid-1"])
def test_sigterm_exits_0_after_closing_every_stream(tmp_path: Path, pid_one: bool) -> None:
    (tmp_path / "app.log").write_text("hello\n")
    wrapper = ["unshare", "--pid", "--fork", "--mount-proc"] if pid_one else []
    if pid_one and (not shutil.which("unshare") or subprocess.run([*wrapper, "true"], capture_output=True).returncode):
        pytest.skip("unshare --pid needs privileges this test runs without")
    server = SidecarProcess({"LOG_SIDECAR_FILES": str(tmp_path / "*.log")}, wrapper=wrapper).start()
    try:
        readers = _open_streams(server, 3)
        assert server.proc is not None
        target = server.proc.pid
        if pid_one:  # unshare does not forward signals: signal the sidecar, PID 1 of its namespace
            target = int(Path(f"/proc/{target}/task/{target}/children").read_text().split()[0])
        os.kill(target, signal.SIGTERM)
        assert server.proc.wait(15) == 0
        for reader in readers:
            reader.wait(lambda reader=reader: reader.ended, "a clean end of the stream", timeout=5)
        log = "".join(server.output)
        assert "Traceback" not in log and "ERROR" not in log
    finally:
        server.stop()
