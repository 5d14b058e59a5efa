"""Entries and fields through the HTTP API of a real sidecar: filters keep whole entries,
pages never cut one, field filters, pattern counters; the pod source groups too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.sse import StreamClient
from tests.test_pod_source import fake, follow_web_app, stream_clients  # noqa: F401 - fixtures

TRACE = [
    "2026-11-26T12:00:01Z ERROR [orders] order failed for user=bob",
    "Traceback (most recent call last):",
    '  File "/app/orders/service.py", line 88, in place_order',
    "    raise InventoryUnavailable(item)",
    "orders.errors.InventoryUnavailable: item 42 out of stock",
]
BEFORE = "2026-11-26T12:00:00Z INFO [orders] before"
AFTER = "2026-11-26T12:00:02Z INFO [orders] after"
STRUCTURED = [
    '{"level":"info","msg":"served","http":{"status":200,"path":"/a"},"user":"bob"}',
    '{"level":"error","msg":"served","http":{"status":503,"path":"/b"},"user":"carol"}',
    "level=warn msg=served status=504 user=bob",
    "level=info msg=served status=201 user=dave",
    "INFO plain line, no fields status=500",
]


def append(path: Path, *lines: str) -> None:
    with open(path, "a") as file:
        file.write("".join(line + "\n" for line in lines))


def start(sidecar, logs: Path, **extra: str):
    return sidecar({"LOG_SIDECAR_FILES": str(logs / "*.log"), **{f"LOG_SIDECAR_{k.upper()}": v for k, v in extra.items()}})


def texts(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [line["text"] for line in response.json()["lines"]]


def wait_held(url: str, text: str) -> None:
    with StreamClient(url, {"tail": 1000}) as reader:
        reader.until_line(text)


def test_level_error_returns_whole_stack_traces(sidecar, logs: Path) -> None:
    server = start(sidecar, logs)
    live = StreamClient(server.url, {"tail": 0, "level": "error"}).start()
    append(logs / "app.log", BEFORE, *TRACE, AFTER)
    wait_held(server.url, AFTER)
    assert texts(httpx.get(server.url + "/api/lines", params={"level": "error"})) == TRACE
    download = httpx.get(server.url + "/api/download", params={"level": "error"})
    assert download.text.splitlines() == TRACE
    with StreamClient(server.url, {"level": "error"}) as backfill:
        backfill.until_line(TRACE[-1])
        assert backfill.texts() == TRACE
    live.until_line(TRACE[-1])
    assert live.texts() == TRACE
    lines = live.lines()
    assert {(line["entry"], line["level"], line["time"]) for line in lines} == {(lines[0]["id"], "error", 1795694401.0)}
    live.close()


def test_a_grep_match_on_a_later_line_delivers_the_whole_entry(sidecar, logs: Path) -> None:
    server = start(sidecar, logs)
    live = StreamClient(server.url, {"tail": 0, "grep": "InventoryUnavailable"}).start()
    append(logs / "app.log", BEFORE, *TRACE[:3])
    wait_held(server.url, TRACE[2])  # the first lines went out in earlier batches, unmatched
    append(logs / "app.log", *TRACE[3:])
    append(logs / "app.log", AFTER, "\tat an.indented.Line(Again.java:1)")
    wait_held(server.url, AFTER)
    live.until_line(TRACE[-1])
    assert live.texts() == TRACE  # its earlier lines from the buffer, in order, then the match
    with StreamClient(server.url, {"grep": "InventoryUnavailable", "tail": 2}) as backfill:
        backfill.until_line(TRACE[-1])
        assert backfill.texts() == TRACE  # a tail of 2 is extended to the entry's first line
    assert texts(httpx.get(server.url + "/api/lines", params={"grep": "InventoryUnavailable"})) == TRACE
    live.close()


def test_a_filtered_resume_gets_the_part_of_an_entry_it_could_not_have(sidecar, logs: Path) -> None:
    server = start(sidecar, logs)
    append(logs / "app.log", BEFORE, *TRACE, AFTER)
    wait_held(server.url, AFTER)
    held = httpx.get(server.url + "/api/lines").json()["lines"]
    first_of_trace = next(line for line in held if line["text"] == TRACE[0])
    # A client that saw up to the trace's first line (it did not match then) resumes.
    with StreamClient(server.url, {"grep": "InventoryUnavailable"}, {"Last-Event-ID": str(first_of_trace["id"])}) as resumed:
        resumed.until_line(TRACE[-1])
        assert resumed.texts() == TRACE
    # Unfiltered, it already has that line: only the rest comes.
    with StreamClient(server.url, headers={"Last-Event-ID": str(first_of_trace["id"])}) as resumed:
        resumed.until_line(AFTER)
        assert resumed.texts() == [*TRACE[1:], AFTER]


def test_history_pages_are_extended_to_entry_edges(sidecar, logs: Path) -> None:
    server = start(sidecar, logs)
    append(logs / "app.log", BEFORE, *TRACE, AFTER)
    wait_held(server.url, AFTER)
    newest = httpx.get(server.url + "/api/lines", params={"limit": 2}).json()
    assert [line["text"] for line in newest["lines"]] == [*TRACE, AFTER] and newest["more"] is True
    older = httpx.get(server.url + "/api/lines", params={"limit": 2, "before": newest["lines"][0]["id"]}).json()
    assert [line["text"] for line in older["lines"]] == [BEFORE] and older["more"] is False
    forward = httpx.get(server.url + "/api/lines", params={"limit": 2, "after": older["lines"][0]["id"]}).json()
    assert [line["text"] for line in forward["lines"]] == TRACE and forward["more"] is True


def test_field_filters_on_json_and_logfmt(sidecar, logs: Path) -> None:
    server = start(sidecar, logs)
    append(logs / "app.log", *STRUCTURED)
    wait_held(server.url, STRUCTURED[-1])

    def matching(*fields: str, **params: str) -> list[int]:
        got = texts(httpx.get(server.url + "/api/lines", params={"field": list(fields), **params}))
        return [STRUCTURED.index(text) for text in got]

    assert matching("http.status>=500") == [1]
    assert matching("status>=500") == [2]  # the plain line has no fields: no match
    assert matching("user=bob") == [0, 2]
    assert matching("user!=bob") == [1, 3]
    assert matching("http.path~^/b") == [1]
    assert matching("user=bob", "status>500") == [2]  # repeated: AND
    assert matching("user=bob", level="warn") == [2]
    assert matching("user=bob", grep="status=504") == [2]
    assert matching("nope=1") == []
    line = httpx.get(server.url + "/api/lines", params={"field": "http.status=503"}).json()["lines"][0]
    assert line["fields"]["http"] == {"status": 503, "path": "/b"} and line["level"] == "error"
    download = httpx.get(server.url + "/api/download", params={"field": "status>=500"})
    assert download.text.splitlines() == [STRUCTURED[2]]
    with StreamClient(server.url, {"field": "user=bob", "tail": 100}) as reader:
        reader.until_line(STRUCTURED[2])
        assert reader.texts() == [STRUCTURED[0], STRUCTURED[2]]


@pytest.mark.parametrize(
    ("field", "problem"),
    [("status", "expected KEY OP VALUE"), ("=5", "no key"), ("status>=abc", "needs a number"), ("msg~(", "RE2")],
)
def test_a_bad_field_expression_is_a_400_naming_it(sidecar, logs: Path, field: str, problem: str) -> None:
    server = start(sidecar, logs)
    for path in ("/api/lines", "/api/download", "/api/stream"):
        response = httpx.get(server.url + path, params={"field": field})
        assert response.status_code == 400, path
        assert problem in response.text and field in response.text


def test_pattern_counters_count_matching_lines_per_source(sidecar, logs: Path) -> None:
    server = start(sidecar, logs, count=r"errors=(?i)\berror\b,timeouts=timed out,slow=\d{3,4}ms")
    metrics = httpx.get(server.url + "/metrics").text
    assert 'log_sidecar_pattern_matches_total{pattern="timeouts",source="app.log"} 0.0' in metrics  # known at 0
    append(logs / "app.log", BEFORE, *TRACE, "WARN upstream timed out after 1200ms", "INFO error error error", AFTER)
    wait_held(server.url, AFTER)
    metrics = httpx.get(server.url + "/metrics").text
    assert 'log_sidecar_pattern_matches_total{pattern="errors",source="app.log"} 2.0' in metrics  # lines, not matches
    assert 'log_sidecar_pattern_matches_total{pattern="timeouts",source="app.log"} 1.0' in metrics
    assert 'log_sidecar_pattern_matches_total{pattern="slow",source="app.log"} 1.0' in metrics


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [("count", "errors", "NAME=RE2"), ("count", "x=(", "count pattern 'x'"), ("multiline", "(", "multiline"),
     ("redact_patterns", "card=[", "redact rule 'card'"), ("redact", "maybe", "redact")],
)
def test_bad_entries_settings_stop_the_start_with_a_clear_message(setting: str, value: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve"],
        env={"PATH": "/usr/bin:/bin", f"LOG_SIDECAR_{setting.upper()}": value},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_the_pod_log_source_groups_entries_too(follow_web_app, fake) -> None:  # noqa: F811
    side, client = follow_web_app()
    fake.emit("web", "app", ["ERROR request failed", "java.lang.IllegalStateException: boom",
                             "\tat com.acme.Web.handle(Web.java:12)", "INFO next"])
    client.wait(lambda: "INFO next" in client.texts("web.app"), "the pod's lines")
    lines = client.lines("web.app")
    assert [line["entry"] == lines[0]["id"] for line in lines] == [True, True, True, False]
    assert [line["level"] for line in lines] == ["error", "error", "error", "info"]


def test_a_previous_instance_is_redacted_and_parsed_too(follow_web_app, fake) -> None:  # noqa: F811
    side, client = follow_web_app()
    fake.emit("web", "app", ["INFO db at postgres://app:prevSecret99@db/x", '{"level":"error","msg":"bye"}'])
    client.wait(lambda: len(client.texts("web.app")) == 2, "the first instance's lines")
    fake.restart("web", "app")
    page = httpx.get(side.url + "/api/lines", params={"source": "web.app", "previous": "true"})
    assert page.status_code == 200 and "prevSecret99" not in page.text
    lines = page.json()["lines"]
    assert "[REDACTED:url-credentials]" in lines[0]["text"]
    assert lines[1]["fields"] == {"level": "error", "msg": "bye"} and lines[1]["level"] == "error"
