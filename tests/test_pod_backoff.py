"""No hot loop against the API server: in every failure mode the pod source's requests per
container are paced, counted at the fake API server (tests/fake_kube_api.py), and the back-off
is visible in /api/sources, /readyz, `source` events and /metrics. Real sidecar, real client."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.sse import WAIT, StreamClient
from tests.test_pod_source import fake, pod_env, sources, wait_until  # noqa: F401 (fake: a fixture)

pytestmark = pytest.mark.timeout(60)

BACKOFF_CAP = 1.0  # seconds: at the cap, the jittered wait is between half of it and all of it


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(times, times[1:])]


def attempts(times: list[float]) -> list[float]:
    """Requests grouped into attempts: a request the client sent again at once (its one transport
    retry, when the connection broke before the answer) belongs to the attempt before it."""
    grouped: list[float] = []
    for at in times:
        if not grouped or at - grouped[-1] > 0.1:
            grouped.append(at)
    return grouped


@pytest.mark.parametrize(
    ("failure", "retry_after", "state"),
    [
        ("end", None, "backoff"),
        ("reset", None, "backoff"),
        ("stall", None, None),  # our own timeout on a silent stream: paced, not shown as trouble
        (500, None, "backoff"),
        (403, None, "error"),
        (404, None, "backoff"),
        (429, 2, "backoff"),
    ],
    ids=["ends-at-once", "reset-after-headers", "stalls", "500", "403", "404", "429-retry-after"],
)
def test_every_failure_mode_backs_off_to_a_few_requests_a_minute(fake, tmp_path, sidecar, failure, retry_after, state):
    fake.start()
    fake.add_pod("web", ["app"])
    env = pod_env(fake, tmp_path, pod_backoff_max=str(BACKOFF_CAP), pod_stall_seconds="0.3")
    side = sidecar(env=env)
    client = StreamClient(side.url).start(WAIT)
    fake.fail("log", failure, retry_after=retry_after)
    since = time.monotonic()
    fake.cut_streams()

    def log_requests() -> list[float]:
        return [at for at in fake.requests_of("log", "web", "app") if at > since]

    try:
        wanted = 3 if retry_after else 6
        opens = wait_until(lambda: len(t := attempts(log_requests())) >= wanted and t, f"{wanted} attempts", timeout=30)
        sent = [at for at in log_requests() if at <= opens[-1]]
        assert len(sent) <= 2 * len(opens)  # at most one transport retry per attempt
        # After the first two attempts the wait has reached the cap (or the Retry-After): never
        # again closer than that. At the chart's default cap (30 s) that is at most 4 log requests
        # and 4 pod GETs per container per minute, in every failure mode.
        floor = retry_after or BACKOFF_CAP / 2
        steady = gaps(opens)[0 if retry_after else 2 :]
        assert min(steady) >= floor * 0.98, gaps(opens)
        # One pod GET per attempt at most (the pod is re-read before each reopen), never a burst.
        gets = [at for at in fake.requests_of("get") if opens[0] < at <= opens[-1]]
        assert len(gets) <= 2 * len(opens), (len(gets), len(opens))

        metrics = httpx.get(side.url + "/metrics").text
        assert 'log_sidecar_kube_api_requests_total{kind="log"}' in metrics
        if state is None:
            return
        # Visible: the source's state and error, /readyz, a `source` event, the metrics.
        record = wait_until(lambda: (r := sources(side)["web.app"])["state"] == state and r, f"state {state}")
        assert "try" in record["error"]
        ready = httpx.get(side.url + "/readyz")
        assert ready.status_code == 503 and "web.app" in ready.json()["reason"]
        status = failure if isinstance(failure, int) else None

        def error_event() -> dict | None:
            return next((c for c in client.changes("web.app") if c["change"] == "error" and c["status"] == status), None)

        client.wait(error_event, "an error event")
        error = error_event()
        assert error["retry_in"] >= 0 and error["attempt"] >= 1
        if retry_after:
            assert error["retry_in"] >= retry_after
        metrics = httpx.get(side.url + "/metrics").text
        assert f'log_sidecar_sources{{state="{state}"}} 1.0' in metrics
    finally:
        client.close()
        if state is None:
            fake.ok()

    # Repaired: the same source follows again, with no restart.
    with StreamClient(side.url) as later:
        fake.ok()
        fake.emit("web", "app", ["after the repair"])
        later.until_line("after the repair", timeout=30)
        assert later.texts("web.app") == ["after the repair"]


@pytest.mark.parametrize("failure", ["end", 403], ids=["watch-ends-at-once", "watch-forbidden-list-allowed"])
def test_a_selector_watch_that_fails_at_once_is_paced(fake, tmp_path, sidecar, failure):
    fake.start()
    fake.add_pod("web-1", ["app"], {"app": "web"})
    fake.fail("watch", failure)
    side = sidecar(env=pod_env(fake, tmp_path, mode="selector", pod_backoff_max=str(BACKOFF_CAP)))
    watches = wait_until(lambda: len(t := attempts(fake.requests_of("watch"))) >= 6 and t, "6 watches", timeout=30)
    assert min(gaps(watches)[2:]) >= BACKOFF_CAP / 2 * 0.98, gaps(watches)
    lists = [at for at in fake.requests_of("list") if at <= watches[-1]]
    # A watch that ends keeps its resourceVersion (no new list); a failed one lists again, once.
    assert len(lists) <= (2 if failure == "end" else len(watches) + 1), (len(lists), len(watches))
    assert sources(side)["web-1.app"]["state"] == "following"




def test_a_container_that_does_not_run_is_looked_at_less_and_less_often(fake, tmp_path, sidecar):
    fake.start()
    fake.add_pod("web", ["app"], running=False)  # waiting (image pull, CrashLoopBackOff): own mode polls it
    sidecar(env=pod_env(fake, tmp_path, pod_backoff_max="30"), wait_ready=False)
    gets = wait_until(lambda: len(t := fake.requests_of("get")) >= 3 and t, "3 looks at the pod", timeout=30)
    # 2 s, then 4 s, 8 s, 10 s...: at most 6 GETs a minute for a container that stays down, not 30.
    assert gaps(gets)[1] >= 4 * 0.98, gaps(gets)


def test_retry_after_is_read_as_seconds_or_an_http_date():
    from email.utils import formatdate

    from sidecar.sources.kube import _retry_after

    assert _retry_after({"Retry-After": "7"}) == 7.0
    assert 25 <= _retry_after({"Retry-After": formatdate(time.time() + 30, usegmt=True)}) <= 30
    assert _retry_after({"Retry-After": "soon"}) is None and _retry_after({"Retry-After": "²"}) is None
    assert _retry_after({}) is None and _retry_after(None) is None
