"""Multi-line entries: which lines continue an entry, per language, and the bounds."""

from __future__ import annotations

import time

import pytest

from sidecar.entries.ingest import IngestConfig
from sidecar.hub import Hub
from sidecar.lines import LogLine
from sidecar.ops.metrics import Metrics

PYTHON = """2026-11-26T12:00:00Z ERROR [orders] order failed
Traceback (most recent call last):
  File "/app/orders/service.py", line 88, in place_order
    reservation = inventory.reserve(item_id, quantity)
orders.errors.InventoryUnavailable: item 5 out of stock

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/main.py", line 3, in <module>
KeyError: 'x'"""
PYTHON_BARE = """Traceback (most recent call last):
  File "/app/main.py", line 3, in <module>
    main()
ValueError: bad value"""
JAVA = """2026-11-26 12:00:02.123 ERROR 1 --- [main] com.acme.Service : request failed
java.lang.IllegalStateException: boom
\tat com.acme.Service.handle(Service.java:42)
\tat com.acme.Main.main(Main.java:10)
Caused by: java.io.IOException: disk full
\tat com.acme.Disk.read(Disk.java:7)
\t... 2 more"""
KOTLIN = """2026-11-26 12:00:03.000 WARN  retrying
kotlinx.coroutines.TimeoutCancellationException: Timed out waiting for 1000 ms
\tat kotlinx.coroutines.TimeoutKt.TimeoutCancellationException(Timeout.kt:184)
\t... 9 common frames omitted"""
GO_PANIC = """panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.handler(0xc000012345, 0x3)
\t/app/main.go:12 +0x1d
net/http.(*conn).serve(0xc0000a8000)
\t/usr/local/go/src/net/http/server.go:2009 +0x52c
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3086 +0x4cc
exit status 2"""
GO_DUMP = """goroutine 7 [chan receive, 3 minutes]:
main.worker()
\t/app/worker.go:30 +0x45

goroutine 8 [IO wait]:
internal/poll.runtime_pollWait(0x7f, 0x72)
\t/usr/local/go/src/runtime/netpoll.go:343 +0x85"""
NODE = """2026-11-26T12:00:04.000Z error: request failed
TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/app/src/users.js:12:20)
    at async /app/src/server.js:40:5"""
DOTNET = """fail: Microsoft.AspNetCore.Server.Kestrel[13]
      Connection id "0HMV", Request id "0HMV:01": An unhandled exception was thrown.
System.InvalidOperationException: Sequence contains no elements
   at System.Linq.ThrowHelper.ThrowNoElementsException()
 ---> System.Exception: inner
   --- End of inner exception stack trace ---
--- End of stack trace from previous location ---
   at Program.Main() in /src/Program.cs:line 12"""
RUBY = """E, [2026-11-26T12:00:05.000000 #1] ERROR -- : undefined method `name' for nil (NoMethodError)
app/models/user.rb:12:in `display_name'
app/controllers/users_controller.rb:8:in `show'
\tfrom /usr/local/bundle/gems/actionpack/lib/abstract_controller/base.rb:215:in `process'"""


def ingest(text: str, **config: object) -> list[LogLine]:
    hub = Hub(Metrics(), 10_000, 10_000_000, 1000, ingest=IngestConfig(**config))
    hub.add_source("a", "file", "/logs/a.log")
    lines = [LogLine("a", line, time.time()) for line in text.split("\n")]
    hub.publish("a", lines)
    return lines


def entries_of(lines: list[LogLine]) -> list[list[str]]:
    grouped: dict[int, list[str]] = {}
    for line in lines:
        grouped.setdefault(line.entry, []).append(line.text)
    return list(grouped.values())


@pytest.mark.parametrize(
    "trace", [PYTHON, PYTHON_BARE, JAVA, KOTLIN, GO_PANIC, GO_DUMP.split("\n\n")[0], NODE, DOTNET, RUBY],
    ids=["python", "python-bare", "java", "kotlin", "go-panic", "go-goroutine", "node", "dotnet", "ruby"],
)
def test_a_trace_is_one_entry_and_the_next_line_starts_another(trace: str) -> None:
    lines = ingest(trace + "\n2026-11-26T12:00:09Z INFO next request")
    assert entries_of(lines) == [trace.split("\n"), ["2026-11-26T12:00:09Z INFO next request"]]
    first = lines[0]
    assert all(line.level == first.level and line.time == first.time for line in lines[: -1])


def test_a_goroutine_dump_groups_under_its_first_goroutine() -> None:
    lines = ingest(GO_DUMP)
    assert len(entries_of(lines)) == 1


def test_continuations_take_the_level_and_time_of_their_entry() -> None:
    lines = ingest(JAVA)
    assert {line.level for line in lines} == {"error"}  # "Caused by: ... disk full" alone has no level
    assert {line.entry for line in lines} == {lines[0].id}
    lines = ingest(PYTHON)
    assert {line.time for line in lines} == {lines[0].time}
    assert lines[0].time == 1795694400.0  # 2026-11-26T12:00:00Z, not the read time


def test_plain_lines_stay_apart() -> None:
    text = "INFO a\nWARN b\nuser=bob logged in\nValueError: not after an info line\n{\"msg\":\"x\"}"
    assert entries_of(ingest(text)) == [[line] for line in text.split("\n")]


def test_an_exception_header_joins_only_a_warn_or_worse_line() -> None:
    assert len(entries_of(ingest("INFO all good\njava.lang.IllegalStateException: boom"))) == 2
    assert len(entries_of(ingest("ERROR bad\njava.lang.IllegalStateException: boom"))) == 1


def test_off_mode_keeps_every_line_apart() -> None:
    assert len(entries_of(ingest(JAVA, multiline="off"))) == len(JAVA.split("\n"))


def test_a_first_line_pattern_groups_everything_else() -> None:
    text = "[2026] start one\nmore\n  and more\n[2026] start two\nx"
    assert entries_of(ingest(text, multiline=r"^\[\d{4}\]")) == [
        ["[2026] start one", "more", "  and more"],
        ["[2026] start two", "x"],
    ]


def test_entries_are_bounded_by_lines_and_bytes() -> None:
    text = "ERROR x\n" + "\n".join(f"\tat frame{i}" for i in range(10))
    assert [len(e) for e in entries_of(ingest(text, multiline_max_lines=4))] == [4, 4, 3]
    text = "ERROR x\n" + "\n".join("\tat " + "y" * 100 for _ in range(10))
    assert [len(e) for e in entries_of(ingest(text, multiline_max_bytes=350))] == [4, 3, 3, 1]


def test_an_entry_continues_across_batches() -> None:
    hub = Hub(Metrics(), 1000, 10_000_000, 1000)
    hub.add_source("a", "file", "/logs/a.log")
    first = [LogLine("a", "ERROR failed", time.time())]
    hub.publish("a", first)
    rest = [LogLine("a", "\tat x.y(Z.java:1)", time.time())]
    hub.publish("a", rest)
    assert rest[0].entry == first[0].id and rest[0].level == "error"


def _reference_apply(ingest, lines: list[LogLine], first_id: int) -> None:
    """The ingest stage read straight from its rules: one grouper call per line, no shortcut."""
    from sidecar.entries.parse import leading_time, parse_line
    from sidecar.lines import detect_level

    texts = [line.text for line in lines]
    pem = set(ingest.redactor.redact(texts, {}))
    grouper, entry, utc = ingest.grouper, ingest.entry, ingest.config.assume_utc
    grouper.begin(time.monotonic())
    for index, line in enumerate(lines):
        line.id, line.text = first_id + index, texts[index]
        joins = grouper.joined() if index in pem else grouper.continues(line.text)
        if joins and entry is not None:
            line.entry, line.level, line.time = entry.id, entry.level, entry.time
            continue
        line.entry = line.id
        parsed = parse_line(line.text, utc)
        line.fields, line.level = parsed.fields, parsed.level or line.level
        stamp = parsed.time if line.text[:1] == "{" or "=" in line.text else leading_time(line.text, utc)
        line.time = stamp if stamp is not None else line.time
        grouper.started(line.text, line.level)
        entry = line
    ingest.entry = entry


@pytest.mark.parametrize("assume_utc", [False, True])
@pytest.mark.parametrize("mode", ["auto", "off", r"^\d{4}-"])
def test_the_one_pass_ingest_groups_and_parses_as_the_rules_say(mode: str, assume_utc: bool) -> None:
    """Traces of every kind, plain, JSON and logfmt lines and a PEM block, shuffled into batches
    of every size: the single-pass stage (which keeps the grouper's common case in locals)
    gives every line the same entry, level, time and fields as one grouper call per line."""
    import random

    from sidecar.entries.ingest import Ingest

    rng = random.Random(7)
    blocks = [PYTHON, PYTHON_BARE, JAVA, KOTLIN, GO_PANIC, GO_DUMP, NODE, DOTNET, RUBY, "2026-11-26T12:00:00Z INFO plain one",
              "WARN retry 3", "ERROR failed", '{"level":"error","msg":"x"}', "ts=1 level=warn msg=slow",
              "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQE\n-----END PRIVATE KEY-----",
              "  indented after plain", "", "Caused by: nothing before", "T starts with T", "plain",
              "I1202 01:02:03.123456 klog line", "E1202 01:02:04.000001 klog error", "2026-11-26 12:00:00 zone-less",
              "2026-11-26T12:00:00+01:00 WARN zoned", "2026-11-26T12:00:00,123Z comma"]
    texts = "\n".join(rng.choice(blocks) for _ in range(300)).split("\n")
    config = IngestConfig(multiline=mode, multiline_max_lines=7, assume_utc=assume_utc)
    fast, slow = Ingest("a", config, None), Ingest("a", config, None)
    at, joined = 0, 0
    while at < len(texts):
        size = rng.choice((1, 2, 3, 10, 50))
        chunk = texts[at : at + size]
        ours = [LogLine("a", text, 1.0) for text in chunk]
        theirs = [LogLine("a", text, 1.0) for text in chunk]
        fast.apply(ours, 1000 + at)
        _reference_apply(slow, theirs, 1000 + at)
        assert ours == theirs
        joined += sum(line.entry != line.id for line in ours)
        at += size
    assert (joined > 100) == (mode != "off")
