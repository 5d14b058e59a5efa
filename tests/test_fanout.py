"""Many clients on one file (issue 12.3): with fan-out pacing, every client still gets every
line, once and in order, and the rule itself pauses only when the delivery was costly."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from sidecar.sources import files
from sidecar.sources.files import pace_after
from tests.support.sse import StreamClient
from tests.support.writer import append

pytestmark = pytest.mark.timeout(90)
CLIENTS = 40
LINES = 300


def test_the_pause_follows_the_delivery_time_only_past_a_millisecond() -> None:
    assert pace_after(0.0) == 0.0
    assert pace_after(files.PACE_FROM / 2) == 0.0  # one client, a few: no pause at all
    assert pace_after(files.PACE_FROM) == pytest.approx(files.PACE_FROM * files.PACE_SHARE)
    assert pace_after(0.006) == pytest.approx(0.006 * files.PACE_SHARE)
    assert pace_after(10.0) == files.PACE_AT_MOST  # a stuck loop never stops the reading for long
    assert pace_after(0.006) < 0.006  # never longer than the delivery it follows


def test_forty_clients_each_get_every_line_once_and_in_order(sidecar, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    server = sidecar(env={
        "LOG_SIDECAR_FILES": str(tmp_path / "*.log"),
        "LOG_SIDECAR_ACCESS_LOG": "false",
        "LOG_SIDECAR_MAX_STREAMS_PER_CLIENT": str(CLIENTS),  # all come from 127.0.0.1
    })
    clients = [StreamClient(server.url, {"tail": 0}).start() for _ in range(CLIENTS)]
    try:
        deadline = time.monotonic() + 15
        while f"log_sidecar_active_streams {CLIENTS}.0" not in httpx.get(server.url + "/metrics", timeout=5).text:
            assert time.monotonic() < deadline, "the clients did not all connect"
            time.sleep(0.05)

        def write() -> None:  # one write() per line, as a logger does, about 1,000 lines/s
            for n in range(LINES):
                append(log, f"line {n:04d}\n")
                time.sleep(0.001)

        writer = threading.Thread(target=write)
        writer.start()
        writer.join()
        expected = [f"line {n:04d}" for n in range(LINES)]
        for client in clients:
            client.wait(lambda c=client: len(c.texts()) >= LINES, "every line")
        for client in clients:
            assert client.texts() == expected
            assert client.gaps() == []
            ids = [line["id"] for line in client.lines()]
            assert ids == sorted(set(ids))
    finally:
        for client in clients:
            client.close()
