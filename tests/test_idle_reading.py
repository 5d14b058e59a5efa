"""Lazy reading while nobody watches (issue 12.1), end to end against the real server.

With no client, a file source stops listening to inotify and reads on its poll rounds only.
What must hold: every line still reaches the buffer, the metrics and the pattern counters,
and a client that connects brings back immediate reading at once (its next line arrives
live, and lines written while nobody watched are neither lost nor sent twice).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.server import SidecarProcess
from tests.support.sse import StreamClient
from tests.support.writer import append

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def serve(sidecar, logs: Path) -> Callable[..., SidecarProcess]:
    def start(**settings: object) -> SidecarProcess:
        env = {"LOG_SIDECAR_FILES": str(logs / "*.log"), "LOG_SIDECAR_ACCESS_LOG": "false"}
        env.update({f"LOG_SIDECAR_{key.upper()}": str(value) for key, value in settings.items()})
        return sidecar(env=env)

    return start


def lines_seen(server: SidecarProcess, source: str = "app.log") -> int:
    response = httpx.get(server.url + "/api/sources", timeout=5)
    response.raise_for_status()
    return next(s["lines_seen"] for s in response.json()["sources"] if s["id"] == source)


def metric(server: SidecarProcess, name: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=5).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_lines_written_while_nobody_watches_are_all_held_counted_and_then_streamed(serve, logs: Path) -> None:
    server = serve(count="boom=boom")
    for start in range(0, 300, 10):  # single-line writes, as a logger does
        for n in range(start, start + 10):
            append(logs / "app.log", f"line {n}{' boom' if n % 3 == 0 else ''}\n")
    wait_until(lambda: lines_seen(server) == 300)
    assert metric(server, 'log_sidecar_lines_read_total{source="app.log"}') == 300
    assert metric(server, 'log_sidecar_pattern_matches_total{pattern="boom",source="app.log"}') == 100
    page = httpx.get(server.url + "/api/lines", params={"limit": 1000}, timeout=5).json()
    assert [line["text"].split()[1] for line in page["lines"]] == [str(n) for n in range(300)]
    assert httpx.get(server.url + "/readyz", timeout=5).status_code == 200

    with StreamClient(server.url, {"tail": 1000}) as stream:
        stream.until_line("line 299")
        append(logs / "app.log", "written after the client came\n")
        stream.until_line("written after the client came")
        texts = stream.texts("app.log")
    assert texts == [f"line {n}{' boom' if n % 3 == 0 else ''}" for n in range(300)] + ["written after the client came"]


def test_a_client_that_connects_wakes_the_reader_at_once(serve, logs: Path) -> None:
    # Polls a minute apart: without a client the file is not read before the next one, so
    # only the client's arrival can bring these lines within the test's few seconds.
    server = serve(poll_interval=60)
    append(logs / "app.log", "written while nobody watched\n")
    with StreamClient(server.url, {"tail": 10}) as stream:
        stream.until_line("written while nobody watched")
        append(logs / "app.log", "the next line\n")
        stream.until_line("the next line")
        assert stream.texts("app.log") == ["written while nobody watched", "the next line"]
    wait_until(lambda: lines_seen(server) == 2)
