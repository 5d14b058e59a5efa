"""The guest principle end to end: the sidecar never harms the pod it sits in (issue 8)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
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


class RawStream:
    """A stream opened on a bare socket: from a chosen loopback address, with chosen headers,
    and read only when the test says so (a client that stops reading)."""

    def __init__(self, server: SidecarProcess, source: str = "127.0.0.1", headers: dict | None = None,
                 receive_buffer: int | None = None, query: str = "tail=0") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.bind((source, 0))
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", server.port))
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.sock.sendall(f"GET /api/stream?{query} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
        self.head = b""
        while b"\r\n\r\n" not in self.head:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.head += chunk

    @property
    def status(self) -> int:
        return int(self.head.split(b" ", 2)[1])

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
            key, _, value = line.decode("latin-1").partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    def close(self) -> None:
        self.sock.close()


def _wait_metric(server: SidecarProcess, name: str, wanted: float, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = _metric(httpx.get(server.url + "/metrics", timeout=10).text, name)
        if value == wanted:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} is {value}, not {wanted}")


def test_one_client_address_cannot_take_every_stream(sidecar, tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("hello\n")
    server = sidecar({"LOG_SIDECAR_FILES": str(tmp_path / "*.log"), "LOG_SIDECAR_MAX_STREAMS_PER_CLIENT": "2"})
    held = [RawStream(server) for _ in range(2)]
    assert [stream.status for stream in held] == [200, 200]
    over = RawStream(server)
    assert over.status == 429 and over.header("retry-after") == "5"
    assert b"per client address" in over.head or b"per client address" in over.sock.recv(4096)
    # Without trusted proxies a forged X-Forwarded-For changes nothing.
    forged = RawStream(server, headers={"X-Forwarded-For": "203.0.113.9"})
    assert forged.status == 429
    other = RawStream(server, source="127.0.0.2")
    assert other.status == 200  # another address has slots of its own
    held[0].close()
    _wait_metric(server, "log_sidecar_active_streams", 2)
    again = RawStream(server)
    assert again.status == 200  # a slot comes back when its stream ends
    assert _metric(httpx.get(server.url + "/metrics").text, 'log_sidecar_streams_closed_total{reason="client"}') == 1


def test_forwarded_for_is_believed_only_from_trusted_proxies(sidecar, tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("hello\n")
    server = sidecar({
        "LOG_SIDECAR_FILES": str(tmp_path / "*.log"),
        "LOG_SIDECAR_MAX_STREAMS_PER_CLIENT": "1",
        "LOG_SIDECAR_TRUSTED_PROXIES": "127.0.0.2, 10.0.0.0/8",
    })
    # 127.0.0.2 is a trusted proxy: each viewer behind it counts on its own.
    viewers = [RawStream(server, "127.0.0.2", {"X-Forwarded-For": f"198.51.100.{n}"}) for n in (1, 2)]
    assert [viewer.status for viewer in viewers] == [200, 200]
    assert RawStream(server, "127.0.0.2", {"X-Forwarded-For": "198.51.100.1"}).status == 429
    # 127.0.0.3 is not: its header is ignored, so its second stream is over the cap.
    direct = RawStream(server, "127.0.0.3", {"X-Forwarded-For": "198.51.100.7"})
    assert direct.status == 200
    assert RawStream(server, "127.0.0.3", {"X-Forwarded-For": "198.51.100.8"}).status == 429


def test_bad_trusted_proxy_is_a_config_error() -> None:
    result = subprocess.run([sys.executable, "-m", "sidecar", "serve"], capture_output=True, text=True, timeout=30,
                            env={"PATH": "/usr/bin:/bin", "LOG_SIDECAR_TRUSTED_PROXIES": "10.0.0.0/8,ingress"})
    assert result.returncode == 2 and "'ingress' is not an IP address or CIDR" in result.stderr


def test_healthz_answers_under_a_connection_flood(sidecar, tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("hello\n")
    server = sidecar({"LOG_SIDECAR_FILES": str(tmp_path / "*.log")})
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(300)]
    streams = [RawStream(server, f"127.0.1.{n // 10 + 1}") for n in range(200)]  # 10 per address, the default cap
    try:
        assert {stream.status for stream in streams} == {200}
        assert RawStream(server, "127.0.2.1").status == 429  # the total cap (200) holds too
        health = httpx.get(server.url + "/healthz", timeout=5)
        assert health.status_code == 200 and health.json() == {"alive": True}
        assert httpx.get(server.url + "/readyz", timeout=5).status_code == 200
    finally:
        for sock in idle:
            sock.close()
        for stream in streams:
            stream.close()


def test_a_client_that_stops_reading_is_cut_after_the_send_timeout(sidecar, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("hello\n")
    server = sidecar({"LOG_SIDECAR_FILES": str(tmp_path / "*.log"), "LOG_SIDECAR_SEND_TIMEOUT": "1",
                      "LOG_SIDECAR_CLIENT_QUEUE_LINES": "1000"})
    stuck = RawStream(server, receive_buffer=4096)
    assert stuck.status == 200
    line = "x" * 1000 + "\n"
    with open(log, "a") as file:  # ~8 MB: far more than the socket buffers hold
        for _ in range(8):
            file.write(line * 1000)
            file.flush()
            time.sleep(0.05)
    _wait_metric(server, 'log_sidecar_streams_closed_total{reason="send-timeout"}', 1)
    _wait_metric(server, "log_sidecar_active_streams", 0)
    # Aborted, not closed: what was never sent is dropped with a reset, not drained for minutes.
    stuck.sock.settimeout(10)
    with pytest.raises(ConnectionResetError):
        while stuck.sock.recv(1 << 20):
            pass
    output = "".join(server.output)
    assert "stream of 127.0.0.1 cut: the client took longer than the send timeout" in output
    assert "Traceback" not in output and "ERROR" not in output


def dead_peer_scenario(keepalive: str) -> None:
    """Run inside a private network namespace (see the test below): a client vanishes without
    a FIN, as an iptables DROP of its packets makes it, and the sidecar must free its stream."""
    import tempfile

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    folder = Path(tempfile.mkdtemp())
    (folder / "app.log").write_text("hello\n")
    server = SidecarProcess({"LOG_SIDECAR_FILES": str(folder / "*.log"), "LOG_SIDECAR_DEAD_PEER_TIMEOUT": "3",
                             "LOG_SIDECAR_KEEPALIVE": keepalive}).start()
    try:
        gone = RawStream(server)
        assert gone.status == 200
        port = str(gone.sock.getsockname()[1])
        for direction in ("--sport", "--dport"):
            subprocess.run(["iptables", "-A", "INPUT", "-p", "tcp", direction, port, "-j", "DROP"], check=True)
        _wait_metric(server, 'log_sidecar_streams_closed_total{reason="dead-peer"}', 1, timeout=30)
        _wait_metric(server, "log_sidecar_active_streams", 0)
        output = "".join(server.output)
        assert "stream of 127.0.0.1 cut: the client stopped answering" in output, output
        assert "Traceback" not in output and "ERROR" not in output, output
    finally:
        server.stop()


@pytest.mark.parametrize("keepalive", ["300", "0.5"], ids=["idle-source", "pings-unanswered"])
def test_a_vanished_client_is_freed_within_the_dead_peer_timeout(keepalive: str) -> None:
    probe = subprocess.run(["unshare", "--net", "sh", "-c", "iptables -L INPUT -n"], capture_output=True)
    if not shutil.which("unshare") or not shutil.which("iptables") or probe.returncode != 0:
        pytest.skip("needs unshare --net and iptables (root or CAP_NET_ADMIN)")
    code = f"from tests.test_guest import dead_peer_scenario; dead_peer_scenario({keepalive!r})"
    result = subprocess.run(["unshare", "--net", sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=90, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stdout + result.stderr


def test_host_double_colon_answers_ipv4_and_ipv6(tmp_path: Path) -> None:
    if not socket.has_ipv6 or not Path("/proc/net/if_inet6").exists():
        pytest.skip("no IPv6 in this kernel")
    (tmp_path / "app.log").write_text("hello\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_SIDECAR_")}
    env.update({"LOG_SIDECAR_HOST": "::", "LOG_SIDECAR_PORT": "0", "LOG_SIDECAR_AUTH": "none",
                "LOG_SIDECAR_FILES": str(tmp_path / "*.log")})
    proc = subprocess.Popen([sys.executable, "-m", "sidecar", "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        port = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Uvicorn running on http://[::]:" in line:
                port = int(line.split("[::]:")[1].split()[0])
                break
        assert port, "no listening line"
        for url in (f"http://127.0.0.1:{port}/healthz", f"http://[::1]:{port}/healthz"):
            assert httpx.get(url, timeout=10).json() == {"alive": True}, url
    finally:
        proc.terminate()
        assert proc.wait(15) == 0


def _sources(server: SidecarProcess) -> list[dict]:
    return httpx.get(server.url + "/api/sources", timeout=10).json()["sources"]


def test_twenty_files_of_long_lines_stay_under_the_global_budget(sidecar, tmp_path: Path) -> None:
    budget = 8 * 1_048_576
    for index in range(20):  # present and empty at start: everything appended later is read
        (tmp_path / f"app-{index:02d}.log").write_text("")
    server = sidecar({"LOG_SIDECAR_FILES": str(tmp_path / "*.log"), "LOG_SIDECAR_BUFFER_TOTAL_BYTES": str(budget)})
    rss_start = server.rss_bytes()
    block = "".join(f"{n:05d} " + "y" * 4090 + "\n" for n in range(100))
    for round_ in range(10):  # 20 files x 1000 lines x 4 KB = 80 MB read; each alone fits its 16 MiB bound
        for index in range(20):
            with open(tmp_path / f"app-{index:02d}.log", "a") as file:
                file.write(block)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sources = _sources(server)
        if len(sources) == 20 and sum(source["lines_seen"] for source in sources) == 20_000:
            break
        time.sleep(0.2)
    assert sum(source["lines_seen"] for source in sources) == 20_000
    metrics = httpx.get(server.url + "/metrics").text
    held = sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("log_sidecar_buffer_bytes{"))
    assert 0 < held <= budget
    assert _metric(metrics, "log_sidecar_buffer_budget_bytes") == budget
    # Every source keeps a fair part of the budget: none is squeezed out by the others.
    assert min(source["bytes_held"] for source in sources) >= budget / 20 / 2
    assert server.rss_bytes() - rss_start < budget * 1.25 + 40 * 1_048_576  # ~85 MB more without the budget


@pytest.mark.parametrize(
    ("files", "limit"),
    [
        ({"memory.max": "268435456\n"}, 268435456),  # cgroup v2
        ({"memory.max": "max\n"}, None),
        ({"memory/memory.limit_in_bytes": "536870912\n"}, 536870912),  # cgroup v1
        ({"memory/memory.limit_in_bytes": "9223372036854771712\n"}, None),  # v1 "no limit"
        ({}, None),
    ],
)
def test_the_budget_default_follows_the_cgroup_memory_limit(tmp_path: Path, files: dict, limit: int | None) -> None:
    from sidecar.ops.budget import FIXED_DEFAULT_BYTES, cgroup_memory_limit, default_budget

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_memory_limit(tmp_path) == limit
    budget = default_budget(limit)
    if limit is None:
        assert budget == FIXED_DEFAULT_BYTES
    else:  # lines plus the queues' quarter stay well under the limit, beside the process's own needs
        assert budget * 1.25 + 48 * 1_048_576 < limit


def test_operator_metrics_exist_from_the_first_scrape(sidecar, tmp_path: Path) -> None:
    from sidecar import __version__

    log = tmp_path / "app.log"
    log.write_text("")
    server = sidecar({"LOG_SIDECAR_FILES": str(tmp_path / "*.log")})
    metrics = httpx.get(server.url + "/metrics").text
    assert _metric(metrics, f'log_sidecar_build_info{{version="{__version__}"}}') == 1
    for name in ("lines_read_total", "lines_dropped_total", "lines_evicted_total", "lines_truncated_total"):
        assert _metric(metrics, f'log_sidecar_{name}{{source="app.log"}}') == 0, name
    assert _metric(metrics, 'log_sidecar_rotations_total{kind="rotated",source="app.log"}') == 0
    assert _metric(metrics, 'log_sidecar_lines_total{level="error",source="app.log"}') == 0
    for reason in ("client", "send-timeout", "dead-peer", "shutdown", "server"):
        assert _metric(metrics, f'log_sidecar_streams_closed_total{{reason="{reason}"}}') == 0
    with open(log, "a") as file:
        file.write('2026-11-26T12:00:00Z ERROR boom\n{"level":"warn","msg":"slow"}\nplain words\n')
    deadline = time.monotonic() + 15
    while _metric(httpx.get(server.url + "/metrics").text, 'log_sidecar_lines_read_total{source="app.log"}') < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    metrics = httpx.get(server.url + "/metrics").text
    assert _metric(metrics, 'log_sidecar_lines_total{level="error",source="app.log"}') == 1
    assert _metric(metrics, 'log_sidecar_lines_total{level="warn",source="app.log"}') == 1
    assert _metric(metrics, 'log_sidecar_lines_total{level="none",source="app.log"}') == 1
    assert _metric(metrics, 'log_sidecar_buffer_lines{source="app.log"}') == 3
    assert _metric(metrics, 'log_sidecar_buffer_bytes{source="app.log"}') > 0
    assert abs(_metric(metrics, 'log_sidecar_last_line_timestamp_seconds{source="app.log"}') - time.time()) < 600


def test_a_port_in_use_is_a_clear_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "sidecar", "serve"], capture_output=True, text=True, timeout=30,
                                env={"PATH": "/usr/bin:/bin", "LOG_SIDECAR_PORT": str(port)},
                                cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_serving_process_never_loads_pydantic_v1(tmp_path: Path) -> None:
    # What `serve` does before building the app; the app's routes, validation and OpenAPI must
    # all work with pydantic.v1 missing (FastAPI then treats no annotation as a v1 model).
    (tmp_path / "app.log").write_text("hello\n")
    script = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from sidecar.cli import load_settings, without_pydantic_v1\n"
        "without_pydantic_v1()\n"
        "from sidecar.app import build_app\n"
        f"app = build_app(load_settings([], files=[{str(tmp_path / '*.log')!r}], auth='none'))\n"
        "client = TestClient(app)\n"
        "assert client.get('/api/lines', params={'limit': 'x'}).status_code == 400\n"
        "assert client.get('/api/openapi.json').status_code == 200\n"
        "assert sys.modules.get('pydantic.v1') is None, 'pydantic.v1 was imported'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
