"""The pod log API source, end to end: the real sidecar process, the real `kubernetes` client,
and a fake API server (tests/fake_kube_api.py) on 127.0.0.1 that the test drives."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.fake_kube_api import FakeKubeApi, rfc3339nano
from tests.support.server import SidecarProcess
from tests.support.sse import WAIT, StreamClient

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def fake() -> Iterator[FakeKubeApi]:
    api = FakeKubeApi()
    yield api
    api.stop()


def pod_env(fake: FakeKubeApi, tmp_path: Path, mode: str = "own", port: int | None = None, **extra: str) -> dict[str, str]:
    env = {
        "KUBECONFIG": str(fake.write_kubeconfig(tmp_path / "kubeconfig", port=port)),
        "KUBERNETES_SERVICE_HOST": "",  # never in-cluster, even when the tests run in a pod
        "LOG_SIDECAR_POD_SOURCE": mode,
        "LOG_SIDECAR_POD_NAMESPACE": "default",
        "LOG_SIDECAR_POD_STALL_SECONDS": "30",
        "LOG_SIDECAR_POD_BACKOFF_MAX": "0.3",
    }
    if mode == "own":
        env["LOG_SIDECAR_POD_NAME"] = "web"
    else:
        env["LOG_SIDECAR_POD_SELECTOR"] = "app=web"
    env.update({f"LOG_SIDECAR_{k.upper()}": v for k, v in extra.items()})
    return env


@pytest.fixture
def stream_clients() -> Iterator[Callable[..., StreamClient]]:
    opened: list[StreamClient] = []

    def open_stream(url: str, **params: str) -> StreamClient:
        client = StreamClient(url, params)
        opened.append(client)
        return client.start(WAIT)

    yield open_stream
    for client in opened:
        client.close()


@pytest.fixture
def follow_web_app(fake, tmp_path, sidecar, stream_clients) -> Callable[..., tuple[SidecarProcess, StreamClient]]:
    """The common start: the API up with pod `web` of one container `app`, the sidecar following
    it (extra LOG_SIDECAR_* settings as keywords) and a client on its stream."""

    def start(**settings: str) -> tuple[SidecarProcess, StreamClient]:
        fake.start()
        fake.add_pod("web", ["app"])
        side = sidecar(env=pod_env(fake, tmp_path, **settings))
        return side, stream_clients(side.url)

    return start


def wait_until(check: Callable[[], object], what: str, timeout: float = WAIT) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def sources(side: SidecarProcess) -> dict[str, dict]:
    return {s["id"]: s for s in httpx.get(side.url + "/api/sources").json()["sources"]}


def numbered(prefix: str, count: int, start: int = 0) -> list[str]:
    return [f"{prefix} {i:03d}" for i in range(start, start + count)]


def test_own_pod_containers_stream_live_without_the_sidecar_itself(fake, tmp_path, sidecar, stream_clients):
    fake.start()
    fake.add_pod("web", ["app", "worker", "log-sidecar"])
    stamp = time.time_ns() - 5_000_000_000
    fake.emit("web", "app", ["from before the start"], stamps=[stamp])
    fake.emit("web", "log-sidecar", ["the sidecar's own output"])
    side = sidecar(env=pod_env(fake, tmp_path))
    client = stream_clients(side.url)
    client.wait(lambda: "from before the start" in client.texts("web.app"), "the tail of the log")

    fake.emit("web", "app", numbered("app", 5))
    fake.emit("web", "worker", ["WARN worker says hello"])
    client.wait(lambda: len(client.texts("web.app")) == 6 and client.texts("web.worker"), "live lines")

    assert client.texts("web.app") == ["from before the start", *numbered("app", 5)]
    first = client.lines("web.app")[0]
    assert first["time"] == pytest.approx(stamp / 1e9, abs=1e-6)  # the API's timestamp, prefix stripped
    assert client.lines("web.worker")[0]["level"] == "warn"
    listed = sources(side)
    assert set(listed) == {"web.app", "web.worker"}
    assert listed["web.app"]["kind"] == "pod"
    assert listed["web.app"]["target"] == "default/web/app"
    assert listed["web.app"]["state"] == "following"
    assert httpx.get(side.url + "/readyz").status_code == 200


def test_containers_named_in_config_are_the_only_ones_followed(fake, tmp_path, sidecar, stream_clients):
    fake.start()
    fake.add_pod("web", ["app", "worker", "log-sidecar"])
    side = sidecar(env=pod_env(fake, tmp_path, pod_containers="worker"))
    assert set(sources(side)) == {"web.worker"}


@pytest.mark.parametrize("abrupt", [False, True], ids=["ended-stream", "broken-connection-mid-line"])
def test_cut_streams_resume_with_no_duplicate_and_no_gap(fake, follow_web_app, abrupt):
    side, client = follow_web_app()
    # Every follow stream is cut after 13 lines; resuming with sinceTime (whole seconds, a second
    # before the newest line) sends up to 10 lines again. Five lines per second, two of them with
    # the same nanosecond.
    fake.cut_every, fake.cut_abruptly = 13, abrupt
    base = (time.time_ns() // 1_000_000_000 - 30) * 1_000_000_000
    stamps = []
    for second in range(12):
        at = base + second * 1_000_000_000
        stamps += [at + 100, at + 100, at + 200_000, at + 300_000_001, at + 999_999_999]
    texts = numbered("line", 60)
    for batch in range(3):
        fake.emit("web", "app", texts[batch * 20 : (batch + 1) * 20], stamps=stamps[batch * 20 : (batch + 1) * 20])
    client.wait(lambda: len(client.texts("web.app")) >= 60, "all 60 lines", timeout=30)
    fake.cut_every = None
    fake.emit("web", "app", ["the end"])
    client.wait(lambda: "the end" in client.texts("web.app"), "a live line after the cuts")

    assert client.texts("web.app") == [*texts, "the end"]  # each exactly once, in order
    times = [line["time"] for line in client.lines("web.app")[:60]]
    assert times == [stamp / 1e9 for stamp in stamps]
    assert fake.log_requests("web", "app") >= 60 // 13
    assert any(c["change"] == "reconnected" for c in client.changes("web.app"))
    metrics = httpx.get(side.url + "/metrics").text
    assert 'log_sidecar_source_reconnects_total{source="web.app"}' in metrics


def test_a_stalled_stream_is_reopened(fake, follow_web_app):
    _, client = follow_web_app(pod_stall_seconds="0.5")
    fake.emit("web", "app", ["one"])
    client.wait(lambda: client.texts("web.app") == ["one"], "the first line")
    wait_until(lambda: fake.log_requests("web", "app") >= 3, "reconnects after silence")
    fake.emit("web", "app", ["two"])
    client.wait(lambda: client.texts("web.app") == ["one", "two"], "the next line, once")
    assert any(c.get("reason") == "stalled" for c in client.changes("web.app"))


def test_a_restarted_container_is_followed_again(fake, follow_web_app):
    side, client = follow_web_app()
    fake.emit("web", "app", ["first life"])
    client.wait(lambda: client.texts("web.app") == ["first life"], "the first instance's line")

    fake.emit("web", "app", ["last words"])
    fake.restart("web", "app", exit_code=137)
    fake.emit("web", "app", ["second life"])
    client.wait(lambda: "second life" in client.texts("web.app"), "the new instance's line")

    assert client.texts("web.app") == ["first life", "last words", "second life"]
    restarted = [c for c in client.changes("web.app") if c["change"] == "restarted"]
    assert len(restarted) == 1
    assert restarted[0]["restart_count"] == 1
    assert restarted[0]["exit_code"] == 137
    assert sources(side)["web.app"]["state"] == "following"


def test_lines_written_while_the_api_failed_before_a_restart_are_caught_up(fake, follow_web_app):
    _, client = follow_web_app()
    fake.emit("web", "app", ["before"])
    client.wait(lambda: client.texts("web.app") == ["before"], "the first line")
    fake.fail("log", 500)
    fake.cut_streams()
    client.wait(lambda: any(c["change"] == "error" for c in client.changes("web.app")), "the error event")
    fake.emit("web", "app", ["while the API failed"])
    fake.restart("web", "app")
    fake.emit("web", "app", ["after the restart"])
    fake.ok()
    client.wait(lambda: "after the restart" in client.texts("web.app"), "the new instance")
    assert client.texts("web.app") == ["before", "while the API failed", "after the restart"]


def test_selector_follows_new_pods_and_ends_deleted_ones(fake, tmp_path, sidecar, stream_clients):
    fake.start()
    fake.add_pod("web-1", ["app"], {"app": "web"})
    fake.add_pod("db-1", ["db"], {"app": "db"})
    side = sidecar(env=pod_env(fake, tmp_path, mode="selector"))
    client = stream_clients(side.url)
    assert set(sources(side)) == {"web-1.app"}

    fake.add_pod("web-2", ["app", "log-sidecar"], {"app": "web"})
    client.wait(lambda: any(c["change"] == "added" for c in client.changes("web-2.app")), "the new pod's source")
    fake.emit("web-2", "app", ["hello from web-2"])
    fake.emit("web-1", "app", ["hello from web-1"])
    client.wait(lambda: client.texts("web-2.app") == ["hello from web-2"], "the new pod's line")
    client.wait(lambda: client.texts("web-1.app") == ["hello from web-1"], "the old pod's line")

    fake.delete_pod("web-2")
    client.wait(lambda: any(c["change"] == "ended" for c in client.changes("web-2.app")), "the ended event")
    listed = sources(side)
    assert listed["web-2.app"]["state"] == "ended"
    assert listed["web-1.app"]["state"] == "following"
    assert "web-2.log-sidecar" not in listed and "db-1.db" not in listed


@pytest.mark.parametrize(
    ("kind", "permission", "source_id"),
    [("log", "get pods/log", "web.app"), ("get", "get pods", "web")],
    ids=["pods-log", "pods"],
)
def test_forbidden_is_reported_with_the_missing_permission(fake, tmp_path, sidecar, stream_clients, kind, permission, source_id):
    fake.start()
    fake.add_pod("web", ["app"])
    fake.emit("web", "app", ["visible once allowed"])
    fake.fail(kind, 403)
    side = sidecar(env=pod_env(fake, tmp_path), wait_ready=False)
    client = stream_clients(side.url)

    def not_ready_reason() -> str | None:
        response = httpx.get(side.url + "/readyz")
        return response.json().get("reason") if response.status_code == 503 and permission in response.text else None

    reason = wait_until(not_ready_reason, "/readyz naming the permission")
    assert "forbidden" in reason and "namespace default" in reason
    record = sources(side)[source_id]
    assert record["state"] == "error"
    assert permission in record["error"] and "default" in record["error"]
    metrics = httpx.get(side.url + "/metrics").text
    assert 'log_sidecar_kube_api_errors_total{status="403"}' in metrics

    fake.ok()  # RBAC fixed: no restart needed
    side.wait_ready()
    client.wait(lambda: client.texts("web.app") == ["visible once allowed"], "the lines once allowed")


def test_forbidden_while_following_sends_an_error_event_then_recovers(fake, follow_web_app):
    side, client = follow_web_app()
    fake.emit("web", "app", ["before"])
    client.wait(lambda: client.texts("web.app") == ["before"], "the first line")

    fake.fail("log", 403)
    fake.cut_streams()
    client.wait(lambda: any(c["change"] == "error" for c in client.changes("web.app")), "the error event")
    error = next(c for c in client.changes("web.app") if c["change"] == "error")
    assert error["status"] == 403 and error["permission"] == "get pods/log"
    assert "'get pods/log' in namespace default" in error["message"]
    assert httpx.get(side.url + "/readyz").status_code == 503
    fake.emit("web", "app", ["during"])

    fake.ok()
    client.wait(lambda: client.texts("web.app") == ["before", "during"], "the lines after the fix")
    assert any(c["change"] == "reconnected" for c in client.changes("web.app"))
    side.wait_ready()


def test_api_down_at_start_then_up_then_down_again(fake, tmp_path, sidecar, stream_clients):
    port = fake.reserve_port()
    fake.add_pod("web", ["app"])
    side = sidecar(env=pod_env(fake, tmp_path, port=port), wait_ready=False)
    response = wait_until(lambda: (r := httpx.get(side.url + "/readyz")).status_code == 503 and "unreachable" in r.text and r, "not ready")
    assert "web" in response.json()["reason"]
    client = stream_clients(side.url)

    fake.start(port=port)
    side.wait_ready()
    fake.emit("web", "app", numbered("up", 5))
    client.wait(lambda: len(client.texts("web.app")) == 5, "lines once the API is up")

    fake.stop()
    client.wait(lambda: any(c["change"] == "error" for c in client.changes("web.app")), "the outage event")
    fake.emit("web", "app", numbered("up", 5, start=5))  # written while the API is unreachable
    fake.start(port=port)
    client.wait(lambda: len(client.texts("web.app")) >= 10, "lines written during the outage")
    assert client.texts("web.app") == numbered("up", 10)
    assert any(c["change"] == "reconnected" for c in client.changes("web.app"))


def test_many_viewers_share_one_api_stream(fake, tmp_path, sidecar, stream_clients):
    fake.start()
    fake.add_pod("web", ["app", "worker"])
    side = sidecar(env=pod_env(fake, tmp_path))
    clients = [stream_clients(side.url) for _ in range(5)]
    fake.emit("web", "app", numbered("fan", 20))
    fake.emit("web", "worker", numbered("work", 3))
    for client in clients:
        client.wait(lambda c=client: len(c.texts("web.app")) == 20 and len(c.texts("web.worker")) == 3, "every line")
        assert client.texts("web.app") == numbered("fan", 20)
    assert fake.log_requests("web", "app") == 1
    assert fake.log_requests("web", "worker") == 1
    assert fake.open_log_streams[("web", "app")] == 1


def test_invalid_utf8_is_replaced_and_long_lines_are_cut(fake, follow_web_app):
    _, client = follow_web_app(max_line_bytes="1024")
    fake.emit("web", "app", [b"bad \xff\xfe bytes", "x" * 5000, "é" * 3000, "after"])
    client.wait(lambda: "after" in client.texts("web.app"), "the lines")
    bad, long_ascii, long_utf8, after = client.lines("web.app")
    assert bad["text"] == "bad \ufffd\ufffd bytes" and not bad.get("truncated")
    assert long_ascii["text"] == "x" * 1024 and long_ascii["truncated"] is True
    assert long_utf8["text"] == "é" * 512 and long_utf8["truncated"] is True
    assert after["text"] == "after" and not after.get("truncated")


def test_no_credentials_is_a_clear_start_up_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_SIDECAR_")}
    env.update(
        KUBECONFIG=str(tmp_path / "missing"),
        KUBERNETES_SERVICE_HOST="",
        LOG_SIDECAR_POD_SOURCE="own",
        LOG_SIDECAR_POD_NAME="web",
        LOG_SIDECAR_POD_NAMESPACE="default",
        LOG_SIDECAR_PORT="0",
    )
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode != 0
    assert "no Kubernetes credentials" in done.stderr and "KUBECONFIG" in done.stderr


def test_previous_instance_lines_are_available_on_request(fake, tmp_path, sidecar, stream_clients):
    fake.start()
    fake.add_pod("web", ["app"])
    fake.emit("web", "app", numbered("old", 5))
    fake.restart("web", "app")
    fake.emit("web", "app", ["new"])
    side = sidecar(env=pod_env(fake, tmp_path))
    client = stream_clients(side.url)
    client.wait(lambda: "new" in client.texts("web.app"), "the running instance's line")
    assert client.texts("web.app") == ["new"]  # the stream follows the running instance

    page = httpx.get(side.url + "/api/lines", params={"source": "web.app", "previous": "true", "limit": 3})
    assert page.status_code == 200
    assert [line["text"] for line in page.json()["lines"]] == numbered("old", 3, start=2)
    fake.fail("log", 500)
    broken = httpx.get(side.url + "/api/lines", params={"source": "web.app", "previous": "true"})
    assert broken.status_code == 502


def test_timestamps_round_trip_at_every_precision():
    from sidecar.sources.kube import parse_timestamp, since_time

    at = 1_795_694_400_123_456_789
    assert rfc3339nano(at) == "2026-11-26T12:00:00.123456789Z"
    assert rfc3339nano(1_795_694_400_120_000_000) == "2026-11-26T12:00:00.12Z"  # Go trims zeros
    assert rfc3339nano(1_795_694_400_000_000_000) == "2026-11-26T12:00:00Z"
    for stamp in (at, 1_795_694_400_120_000_000, 1_795_694_400_000_000_000):
        assert parse_timestamp(rfc3339nano(stamp).encode()) == stamp
    assert parse_timestamp(b"2026-11-26T13:00:00.5+01:00") == 1_795_694_400_500_000_000
    assert parse_timestamp(b"not-a-time") is None
    assert since_time(at) == "2026-11-26T12:00:00Z"  # the API's one-second precision


# --- restarts, start-up and resume: every line once ---


def test_a_restart_during_a_stalled_stream_delivers_the_crash_output_then_restarted(fake, follow_web_app):
    _, client = follow_web_app(pod_stall_seconds="1")
    fake.emit("web", "app", ["first life"])
    client.until_line("first life")
    fake.stall_streams()  # the stream goes silent (a black-holed connection): the crash is not seen
    fake.emit("web", "app", ["panic: out of cheese", "goroutine 1 [running]"])
    fake.restart("web", "app", exit_code=2)
    fake.emit("web", "app", ["second life"])

    items = client.until_line("second life")
    order = [data["text"] if kind == "line" else data["change"] for kind, data in items if kind in ("line", "source")]
    order = [entry for entry in order if entry not in ("reconnected", "error")]
    assert order == ["panic: out of cheese", "goroutine 1 [running]", "restarted", "second life"]
    restarted = next(c for c in client.changes("web.app") if c["change"] == "restarted")
    assert restarted["exit_code"] == 2 and restarted["missed_instances"] == 0
    assert client.texts("web.app") == ["first life", "panic: out of cheese", "goroutine 1 [running]", "second life"]


def test_a_container_that_starts_after_the_sidecar_is_read_from_its_first_line(fake, tmp_path, sidecar, stream_clients):
    fake.start()
    fake.add_pod("web", ["app"], running=False)  # waiting (ContainerCreating): no container id yet
    side = sidecar(env=pod_env(fake, tmp_path, pod_tail_lines="5"), wait_ready=False)
    wait_until(lambda: sources(side).get("web.app", {}).get("state") == "starting", "the waiting container")
    client = stream_clients(side.url)
    fake.start_container("web", "app", texts=numbered("boot", 20))  # more than POD_TAIL_LINES before we look
    fake.emit("web", "app", ["ready"])
    client.until_line("ready")
    assert client.texts("web.app") == [*numbered("boot", 20), "ready"]


def test_resume_keeps_lines_stamped_earlier_than_the_line_before_them(fake, follow_web_app):
    _, client = follow_web_app(pod_stall_seconds="1")
    ms = 1_000_000
    second = (time.time_ns() // 1_000_000_000 - 20) * 1_000_000_000
    fake.emit("web", "app", ["A", "same", "same"], stamps=[second + 200 * ms, second + 250 * ms, second + 250 * ms])
    client.wait(lambda: len(client.texts("web.app")) == 3, "the first lines")
    opened = fake.log_requests("web", "app")
    fake.cut_streams()  # resumed with sinceTime; stdout and stderr are stamped independently, so
    # lines can come with stamps earlier than lines before them, even in the previous second
    wait_until(lambda: fake.log_requests("web", "app") > opened, "the resumed stream")
    fake.emit(
        "web",
        "app",
        ["B stamped earlier", "C in the previous second", "same", "D"],
        stamps=[second + 100 * ms, second - 100 * ms, second + 250 * ms, second + 300 * ms],
    )
    client.until_line("D")
    assert client.texts("web.app") == ["A", "same", "same", "B stamped earlier", "C in the previous second", "same", "D"]

    # Written while the stream is silent (black-holed), then read by the resume after the stall:
    # a line stamped in the second before the newest one seen is still asked for and delivered.
    fake.stall_streams()
    fake.emit("web", "app", ["E previous second again", "F"], stamps=[second - 50 * ms, second + 400 * ms])
    client.until_line("F")
    assert client.texts("web.app")[7:] == ["E previous second again", "F"]
