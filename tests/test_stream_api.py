"""The HTTP contract end to end: a real sidecar process, real files, a real SSE client."""

from __future__ import annotations

import json
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from tests.support.server import SidecarProcess
from tests.support.sse import StreamClient


def append(path: Path, *lines: str | bytes) -> None:
    with open(path, "ab") as file:
        for line in lines:
            file.write((line.encode() if isinstance(line, str) else line) + b"\n")


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for the tests that only send requests and change nothing."""
    folder = tmp_path_factory.mktemp("shared")
    append(folder / "app.log", "hello")
    with SidecarProcess({"LOG_SIDECAR_FILES": str(folder / "*.log")}) as server:
        yield server


def env_for(logs: Path, **extra: str) -> dict[str, str]:
    return {"LOG_SIDECAR_FILES": str(logs / "*.log"), **extra}


def test_live_lines_arrive_with_ids_levels_and_sources(sidecar, logs: Path) -> None:
    server = sidecar(env_for(logs))
    reader = StreamClient(server.url, {"tail": 0}).start()
    assert reader.status == 200
    assert reader.response_headers["content-type"].startswith("text/event-stream")
    assert reader.response_headers["x-accel-buffering"] == "no"
    reader.wait(lambda: reader.retry is not None, "the opening retry: field", timeout=10)
    assert reader.retry == 1000  # the browser reconnects after 1 s, not its default 3 s
    assert "no-cache" in reader.response_headers["cache-control"]
    append(logs / "app.log", "INFO started", "ERROR broken")
    lines, _ = reader.collect_lines(2)
    assert [(line["text"], line["level"], line["source"]) for line in lines] == [
        ("INFO started", "info", "app.log"),
        ("ERROR broken", "error", "app.log"),
    ]
    assert lines[0]["id"] < lines[1]["id"]
    sources = httpx.get(server.url + "/api/sources").json()["sources"]
    assert [(s["id"], s["kind"], s["state"]) for s in sources] == [("app.log", "file", "following")]


def test_tail_and_since_backfill(sidecar, logs: Path) -> None:
    append(logs / "app.log", *[f"old {i}" for i in range(50)])
    server = sidecar(env_for(logs))
    _wait_lines(server.url, 50)
    reader = StreamClient(server.url, {"tail": 5}).start()
    lines, _ = reader.collect_lines(5)
    assert [line["text"] for line in lines] == [f"old {i}" for i in range(45, 50)]

    cutoff = datetime.now(timezone.utc)
    time.sleep(0.05)
    append(logs / "app.log", "new 1", "new 2")
    _wait_lines(server.url, 52)
    since = StreamClient(server.url, {"since": cutoff.isoformat()}).start()
    lines, _ = since.collect_lines(2)
    assert [line["text"] for line in lines] == ["new 1", "new 2"]


def test_reconnect_with_last_event_id_has_no_gap_and_no_duplicate(sidecar, logs: Path) -> None:
    server = sidecar(env_for(logs))
    first = StreamClient(server.url, {"tail": 0}).start()
    append(logs / "app.log", *[f"n {i}" for i in range(10)])
    lines, _ = first.collect_lines(10)
    first.close()
    last_seen = lines[4]["id"]  # pretend the client saw only the first five
    append(logs / "app.log", *[f"n {i}" for i in range(10, 20)])
    _wait_lines(server.url, 20)
    resumed = StreamClient(server.url, headers={"Last-Event-ID": str(last_seen)}).start()
    more, others = resumed.collect_lines(15)
    assert [line["text"] for line in more] == [f"n {i}" for i in range(5, 20)]
    assert not [event for event in others if event.event == "gap"]


def test_resume_past_the_buffer_starts_with_a_gap(sidecar, logs: Path) -> None:
    server = sidecar(env_for(logs, LOG_SIDECAR_BUFFER_LINES="10"))
    reader = StreamClient(server.url, {"tail": 0}).start()
    append(logs / "app.log", "first")
    [seen], _ = reader.collect_lines(1)
    append(logs / "app.log", *[f"later {i}" for i in range(30)])
    _wait_lines(server.url, 10)
    resumed = StreamClient(server.url, {"last_event_id": seen["id"]}).start()
    gap = resumed.wait_for("gap")
    assert json.loads(gap.data) == {"source": "app.log", "missed": 20, "reason": "evicted"}
    lines, _ = resumed.collect_lines(10)
    assert [line["text"] for line in lines] == [f"later {i}" for i in range(20, 30)]


def test_slow_client_gets_a_gap_while_a_fast_client_gets_everything(sidecar, logs: Path) -> None:
    total, step = 120_000, 4_000
    server = sidecar(env_for(logs, LOG_SIDECAR_CLIENT_QUEUE_LINES="5000", LOG_SIDECAR_BUFFER_LINES="1000"))
    fast = StreamClient(server.url, {"tail": 0}).start()
    slow = socket.create_connection(("127.0.0.1", server.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    slow.sendall(f"GET /api/stream?tail=0 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
    time.sleep(0.3)  # let the slow stream subscribe; it then reads nothing while lines pour in
    rss_before = server.rss_bytes()
    padding = "x" * 100
    received: list[dict] = []
    for start in range(0, total, step):
        append(logs / "app.log", *[f"{i} {padding}" for i in range(start, start + step)])
        lines, others = fast.collect_lines(step, timeout=30)  # the fast client keeps up
        received += lines
        assert not [event for event in others if event.event == "gap"]
    assert [int(line["text"].split()[0]) for line in received] == list(range(total))
    rss_after = server.rss_bytes()

    slow.settimeout(5)
    body = b""
    deadline = time.monotonic() + 30
    while b"event: gap" not in body and time.monotonic() < deadline:
        chunk = slow.recv(1 << 20)
        if not chunk:
            break
        body += chunk
    slow.close()
    assert b"event: gap" in body
    assert b'"reason":"slow-client"' in body
    # ~13 MB of lines went through; the stuck client may hold only its bounded queue.
    assert rss_after - rss_before < 50 * 1024 * 1024
    metrics = httpx.get(server.url + "/metrics").text
    assert _metric(metrics, 'log_sidecar_lines_dropped_total{source="app.log"}') > 0
    assert _metric(metrics, 'log_sidecar_gaps_total{reason="slow-client"}') >= 1


def test_hostile_lines_are_delivered_safely(sidecar, logs: Path) -> None:
    server = sidecar(env_for(logs, LOG_SIDECAR_MAX_LINE_BYTES="65536"))
    reader = StreamClient(server.url, {"tail": 0}).start()
    append(
        logs / "app.log",
        b"M" * 1_048_576,
        b"bad \xff\xfe utf8",
        b"nul \x00 byte",
        b"<script>alert(1)</script>",
        b"forged\rid: 999\revent: x",
        b"after",
    )
    lines, others = reader.collect_lines(6)
    texts = [line["text"] for line in lines]
    assert texts[0] == "M" * 65536 and lines[0]["truncated"] is True
    assert texts[1] == "bad \ufffd\ufffd utf8"
    assert texts[2] == "nul \x00 byte"
    assert texts[3] == "<script>alert(1)</script>"
    assert texts[4] == "forged\rid: 999\revent: x"
    assert texts[5] == "after"
    assert not [event for event in others if event.event == "x"]

    plain = httpx.Client(timeout=10)
    with plain.stream("GET", server.url + "/api/stream", params={"format": "text", "tail": 3}) as response:
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if body.count(b"\r\n\r\nid: ") >= 3:
                break
    events = [block for block in body.decode().split("\r\n\r\n") if block.startswith("id: ")][:3]
    assert [event.split("\r\n")[1] for event in events] == [
        "data: <script>alert(1)</script>",
        "data: forged\\rid: 999\\revent: x",
        "data: after",
    ]
    assert all(event.split("\r\n")[0].startswith("id: ") for event in events)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"grep": "(unclosed"}, "grep: invalid regular expression"),
        ({"level": "loud"}, "level: must be one of"),
        ({"tail": "-1"}, "tail"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-26T12:00:00"}, "time zone"),
        ({"format": "xml"}, "format"),
        ({"last_event_id": "abc"}, "Last-Event-ID"),
    ],
)
def test_bad_query_parameters_get_a_clear_400(shared_server, params: dict, message: str) -> None:
    server = shared_server
    response = httpx.get(server.url + "/api/stream", params=params)
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_unknown_source_is_404_and_paths_are_never_followed(shared_server) -> None:
    server = shared_server
    for value in ("../../etc/passwd", "/etc/passwd", "nope"):
        response = httpx.get(server.url + "/api/lines", params={"source": value})
        assert response.status_code == 404
        assert "unknown source" in response.json()["detail"]


def test_previous_instance_is_only_for_pod_sources(shared_server) -> None:
    response = httpx.get(shared_server.url + "/api/lines", params={"previous": "true"})
    assert response.status_code == 400
    assert "one source, of kind pod" in response.json()["detail"]


def test_grep_and_level_filter_stream_and_history(sidecar, logs: Path) -> None:
    server = sidecar(env_for(logs))
    reader = StreamClient(server.url, {"tail": 0, "grep": "(?i)order", "level": "warn"}).start()
    append(logs / "app.log", "INFO order placed", "ERROR order failed", "ERROR disk full", "WARN Order slow")
    lines, _ = reader.collect_lines(2)
    assert [line["text"] for line in lines] == ["ERROR order failed", "WARN Order slow"]
    page = httpx.get(server.url + "/api/lines", params={"grep": "disk|placed"}).json()
    assert [line["text"] for line in page["lines"]] == ["INFO order placed", "ERROR disk full"]
    download = httpx.get(server.url + "/api/download", params={"source": "app.log", "level": "error"})
    assert download.headers["content-type"].startswith("text/plain")
    assert download.text == "ERROR order failed\nERROR disk full\n"


def test_history_pages_backwards_and_forwards(sidecar, logs: Path) -> None:
    append(logs / "app.log", *[f"line {i}" for i in range(30)])
    server = sidecar(env_for(logs))
    _wait_lines(server.url, 30)
    newest = httpx.get(server.url + "/api/lines", params={"limit": 10}).json()
    assert [line["text"] for line in newest["lines"]] == [f"line {i}" for i in range(20, 30)] and newest["more"]
    older = httpx.get(server.url + "/api/lines", params={"limit": 25, "before": newest["lines"][0]["id"]}).json()
    assert [line["text"] for line in older["lines"]] == [f"line {i}" for i in range(20)] and not older["more"]
    after = httpx.get(server.url + "/api/lines", params={"limit": 3, "after": older["lines"][0]["id"]}).json()
    assert [line["text"] for line in after["lines"]] == ["line 1", "line 2", "line 3"]


def test_keepalive_comments_are_sent_on_an_idle_stream(sidecar, logs: Path) -> None:
    server = sidecar(env_for(logs, LOG_SIDECAR_KEEPALIVE="0.3"))
    with httpx.stream("GET", server.url + "/api/stream", params={"tail": 0}, timeout=10) as response:
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if body.count(b": ping") >= 2:
                break
    assert body.count(b": ping") >= 2


def test_stream_cap_answers_429(sidecar, logs: Path) -> None:
    server = sidecar(env_for(logs, LOG_SIDECAR_MAX_STREAMS="2"))
    readers = [StreamClient(server.url, {"tail": 0}).start() for _ in range(2)]
    assert [reader.status for reader in readers] == [200, 200]
    response = httpx.get(server.url + "/api/stream")
    assert response.status_code == 429
    assert response.headers["retry-after"]
    assert "limit 2" in response.json()["detail"]
    metrics = httpx.get(server.url + "/metrics").text
    assert _metric(metrics, "log_sidecar_active_streams") == 2
    assert _metric(metrics, "log_sidecar_rejected_streams_total") == 1


def test_lines_of_a_deleted_file_are_freed_after_the_retention(sidecar, logs: Path) -> None:
    append(logs / "old.log", *[f"old {i}" for i in range(20)])
    server = sidecar(env_for(logs, LOG_SIDECAR_ROTATE_WAIT="0.1", LOG_SIDECAR_ENDED_RETENTION="0.5"))
    _wait_lines(server.url, 20)
    (logs / "old.log").unlink()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        record = {s["id"]: s for s in httpx.get(server.url + "/api/sources").json()["sources"]}["old.log"]
        if record["state"] == "ended" and record["lines_held"] == 0:
            break
        time.sleep(0.1)
    assert (record["state"], record["lines_held"], record["lines_seen"]) == ("ended", 0, 20)


def test_readyz_is_503_until_a_file_is_readable(sidecar, tmp_path: Path) -> None:
    server = sidecar({"LOG_SIDECAR_FILES": str(tmp_path / "*.log")}, wait_ready=False)
    response = httpx.get(server.url + "/readyz")
    assert response.status_code == 503
    assert "no file matches" in response.json()["reason"]
    assert httpx.get(server.url + "/healthz").status_code == 200
    append(tmp_path / "late.log", "hello")
    server.wait_ready(10)


def test_readyz_is_503_without_any_source(sidecar) -> None:
    server = sidecar({}, wait_ready=False)
    response = httpx.get(server.url + "/readyz")
    assert response.status_code == 503 and "no source configured" in response.json()["reason"]


def test_metrics_count_what_happened(sidecar, logs: Path) -> None:
    server = sidecar(env_for(logs))
    reader = StreamClient(server.url, {"tail": 0}).start()
    append(logs / "app.log", "one", "two", "three")
    reader.collect_lines(3)
    text = httpx.get(server.url + "/metrics").text
    assert _metric(text, 'log_sidecar_lines_read_total{source="app.log"}') == 3
    assert _metric(text, 'log_sidecar_bytes_read_total{source="app.log"}') == len("one\ntwo\nthree\n")
    assert _metric(text, 'log_sidecar_lines_sent_total{format="json"}') == 3
    assert _metric(text, "log_sidecar_active_streams") == 1
    assert _metric(text, "log_sidecar_delivery_lag_seconds_count") >= 1
    assert _metric(text, 'log_sidecar_sources{state="following"}') == 1
    assert "process_resident_memory_bytes" in text


def test_cors_is_off_unless_origins_are_listed(sidecar, logs: Path) -> None:
    closed = sidecar(env_for(logs))
    response = httpx.get(closed.url + "/api/sources", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    open_ = sidecar(env_for(logs, LOG_SIDECAR_CORS_ORIGINS="https://ops.example"))
    allowed = httpx.get(open_.url + "/api/sources", headers={"Origin": "https://ops.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://ops.example"
    denied = httpx.get(open_.url + "/api/sources", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in denied.headers


def test_graceful_shutdown_ends_open_streams(sidecar, logs: Path) -> None:
    server = sidecar(env_for(logs))
    reader = StreamClient(server.url, {"tail": 0}).start()
    append(logs / "app.log", "before shutdown")
    reader.collect_lines(1)
    started = time.monotonic()
    assert server.stop() == 0  # after closing every connection, PID 1 or not

    assert time.monotonic() - started < 9  # well inside a pod's default 30 s grace period
    reader.wait(lambda: reader.ended, "the end of the stream", timeout=5)  # a proper last chunk, not a reset
    assert "ASGI callable returned without completing response" not in "".join(server.output)


def _wait_lines(url: str, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = sum(s["lines_held"] for s in httpx.get(url + "/api/sources").json()["sources"])
        if held >= count:
            return
        time.sleep(0.02)
    raise TimeoutError(f"fewer than {count} lines held")


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics")
