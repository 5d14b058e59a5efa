"""`log-sidecar demo`: the embedded default a new user runs first."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sidecar.demo import ROTATE_EVERY_LINES, DemoWriter
from tests.support.sse import StreamClient


def test_demo_writer_produces_varied_logs_and_rotates(tmp_path: Path) -> None:
    writer = DemoWriter(tmp_path, rate=100, seed=7)
    writer.prime(ROTATE_EVERY_LINES * 3)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert {"app.log", "worker.log", "access.log", "gateway.log"} <= set(names)
    assert any(name.endswith(".log.1") for name in names)  # rename rotation happened
    app = b"".join(path.read_bytes() for path in tmp_path.glob("app.log*"))
    assert b"Traceback (most recent call last):" in app
    assert b"\tat com.acme." in app and b"goroutine " in app and b"    at priceOf" in app  # Java, Go, Node.js
    assert b"Authorization: Bearer" in app and b"postgres://orders:" in app  # fake secrets
    assert b"\x1b[33m" in app and b"<script>" in app
    assert b"\xff\xfe" in app  # invalid UTF-8 on purpose
    assert max(len(line) for line in app.split(b"\n")) > 65536
    worker = (tmp_path / "worker.log").read_text().splitlines()
    assert all(json.loads(line)["level"] in {"debug", "info", "warn", "error"} for line in worker)
    assert all(isinstance(json.loads(line)["job"], dict) for line in worker)  # nested fields
    gateway = (tmp_path / "gateway.log").read_text().splitlines()
    assert all(" http.status=" in line and line.startswith("time=") for line in gateway)


def test_demo_command_serves_live_demo_logs(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sidecar", "demo", "--port", "0", "--rate", "200", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            match = re.search(r"open (http://127\.0\.0\.1:\d+)/", line)
            url = match.group(1) if match else None
        assert url, "the demo did not print its URL"
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        reader = StreamClient(url, {"tail": 0}).start()
        lines, _ = reader.collect_lines(100)
        assert {line["source"] for line in lines} == {"app.log", "worker.log", "access.log", "gateway.log"}
        assert {line["level"] for line in lines} >= {"info"}
        assert any(line["fields"] and "job" in line["fields"] for line in lines)  # JSON, parsed
        assert any(line["fields"] and "http.status" in line["fields"] for line in lines)  # logfmt, parsed
        page = httpx.get(url + "/api/lines", params={"limit": 10000}).json()["lines"]
        assert any(line["entry"] != line["id"] for line in page)  # traces grouped into entries
        assert any("[REDACTED:" in line["text"] for line in page)
        download = httpx.get(url + "/api/download").text
        assert "demo-Pa55word" not in download and "demoT0kenNotReal" not in download
        assert httpx.get(url + "/").status_code == 200
        metrics = httpx.get(url + "/metrics").text  # the demo shows the pattern counters too
        assert 'log_sidecar_pattern_matches_total{pattern="errors",source="app.log"}' in metrics
        assert 'log_sidecar_pattern_matches_total{pattern="timeouts",source="app.log"}' in metrics
    finally:
        proc.terminate()
        proc.wait(10)
