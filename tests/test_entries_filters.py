"""Entry-aware filters on live batches (LiveEntries) and on held lines (EntrySelection)."""

from __future__ import annotations

import time

import pytest

from sidecar.filters import BadFilter, EntrySelection, FieldFilter, LineFilter, LiveEntries
from sidecar.hub import Batch, Hub
from sidecar.lines import LogLine
from sidecar.ops.metrics import Metrics


def make_hub() -> Hub:
    hub = Hub(Metrics(), 10_000, 10_000_000, 1000)
    hub.add_source("a", "file", "/logs/a.log")
    return hub


def publish(hub: Hub, *texts: str) -> Batch:
    lines = [LogLine("a", text, time.time()) for text in texts]
    hub.publish("a", lines)
    return Batch("a", lines)


@pytest.mark.parametrize(
    "grep",
    [r"^orders\.errors", "out of stock$", "(?i)OUT OF STOCK", r"\bUnavailable\b", "stock[^!]*$", "^o.*k$"],
)
def test_a_live_match_delivers_the_whole_entry_whatever_the_batches(grep: str) -> None:
    hub = make_hub()
    live = LiveEntries(LineFilter(grep), hub)
    batches = [
        publish(hub, "INFO before", "ERROR order failed"),
        publish(hub, "Traceback (most recent call last):", '  File "x.py", line 1, in f'),
        publish(hub, "orders.errors.Unavailable: out of stock", "  more context"),
        publish(hub, "INFO after", "INFO nothing to see"),
    ]
    sent = [line.text for batch in batches for line in live.select(batch)]
    assert sent == [
        "ERROR order failed",
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in f',
        "orders.errors.Unavailable: out of stock",
        "  more context",
    ]


def test_grep_and_field_conditions_may_be_met_by_different_lines() -> None:
    hub = make_hub()
    keep = LineFilter("timed out", fields=["code>=500"])
    live = LiveEntries(keep, hub)
    first = publish(hub, '{"level":"error","msg":"call failed","code":503}')
    rest = publish(hub, "  cause: upstream timed out", '{"level":"error","msg":"other","code":500}')
    assert [line.text for line in live.select(first)] == []
    assert [line.text for line in live.select(rest)] == [first.lines[0].text, "  cause: upstream timed out"]
    held = EntrySelection(keep, hub, ["a"])
    assert [line.text for line in hub.lines(["a"], keep=held)] == [first.lines[0].text, "  cause: upstream timed out"]


@pytest.mark.parametrize(
    ("expression", "fields", "matches"),
    [
        ("status>=500", {"status": 503}, True),
        ("status>=500", {"status": "503"}, True),  # logfmt values are text
        ("status>=500", {"status": "n/a"}, False),
        ("status<500", {}, False),
        ("status!=200", {}, False),  # missing key: no match, whatever the operator
        ("ok=true", {"ok": True}, True),
        ("http.status=404", {"http": {"status": 404}}, True),
        ("http.status=404", {"http.status": "404"}, True),  # a dotted logfmt key as it stands
        ("user~^b.b$", {"user": "bob"}, True),
        ("msg = hello world", {"msg": "hello world"}, True),
    ],
)
def test_field_expressions(expression: str, fields: dict, matches: bool) -> None:
    assert FieldFilter(expression)(fields) is matches


def test_a_line_without_fields_never_meets_a_field_filter() -> None:
    assert FieldFilter("a=1")(None) is False
    with pytest.raises(BadFilter, match="needs a number"):
        FieldFilter("a>=nan")


@pytest.mark.parametrize("grep", ["a", "^line [0-9]*[05]$", "[^!]+", "x*", r"\Aline 1"])
def test_held_lines_selected_by_grep_are_those_that_match_alone(grep: str) -> None:
    """Chunks are searched joined; whatever the pattern (anchors, classes that match a newline,
    empty matches), the lines kept are exactly the lines that match on their own."""
    hub = make_hub()
    texts = [f"line {i}" + (" a" if i % 7 == 0 else "") for i in range(1500)]
    publish(hub, *texts)
    keep = LineFilter(grep)
    kept = [line.text for line in hub.lines(["a"], keep=EntrySelection(keep, hub, ["a"]))]
    assert kept == [line.text for line in hub.lines(["a"]) if keep(line)]
    assert kept  # every pattern above matches some line
