"""The hub on its own: ids, ring-buffer bounds, fan-out, gaps for slow subscribers, resume."""

from __future__ import annotations

import time

from sidecar.hub import Batch, Gap, Hub, SourceChange
from sidecar.lines import LogLine
from sidecar.ops.metrics import Metrics
from tests.support.server import run_coroutine


def make_hub(max_lines: int = 100, max_bytes: int = 1_000_000, max_pending: int = 1000) -> Hub:
    hub = Hub(Metrics(), max_lines, max_bytes, max_pending)
    for name in ("a", "b"):
        hub.add_source(name, "file", f"/logs/{name}.log")
    return hub


def publish(hub: Hub, source: str, *texts: str) -> list[LogLine]:
    lines = [LogLine(source, text, time.time()) for text in texts]
    hub.publish(source, lines)
    return lines


def test_ids_increase_across_sources_and_levels_are_detected() -> None:
    hub = make_hub()
    first = publish(hub, "a", "INFO one", "ERROR two")
    second = publish(hub, "b", '{"level":"warn","msg":"three"}')
    ids = [line.id for line in first + second]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [line.level for line in first + second] == ["info", "error", "warn"]


def test_ring_buffer_is_bounded_by_lines_and_by_bytes() -> None:
    hub = make_hub(max_lines=10, max_bytes=10_000)
    publish(hub, "a", *[f"line {i}" for i in range(25)])
    assert [line.text for line in hub.lines(["a"])] == [f"line {i}" for i in range(15, 25)]
    publish(hub, "b", *["x" * 3000 for _ in range(5)])
    held = hub.sources["b"].buffer
    assert held.bytes <= 10_000 and len(held) == 3


def test_lines_merge_sources_in_id_order_with_tail_and_paging() -> None:
    hub = make_hub()
    for i in range(5):
        publish(hub, "a", f"a{i}")
        publish(hub, "b", f"b{i}")
    assert [line.text for line in hub.lines(["a", "b"], limit=3)] == ["b3", "a4", "b4"]
    middle = hub.lines(["a", "b"])[4]
    older = hub.lines(["a", "b"], before_id=middle.id, limit=2)
    newer = hub.lines(["a", "b"], after_id=middle.id, limit=2, newest=False)
    assert middle.text == "a2"
    assert [line.text for line in older] == ["a1", "b1"]
    assert [line.text for line in newer] == ["b2", "a3"]


def test_slow_subscriber_gets_a_gap_and_never_holds_more_than_its_bound() -> None:
    async def scenario() -> None:
        hub = make_hub(max_lines=100_000, max_pending=50)
        slow = hub.subscribe(None)
        fast = hub.subscribe(frozenset({"a"}))
        received = 0
        for i in range(100):
            publish(hub, "a", *[f"{i}-{j}" for j in range(10)])
            assert slow.pending_lines <= 50
            for event in await fast.next_events():
                assert isinstance(event, (Batch, SourceChange))
                received += len(event.lines) if isinstance(event, Batch) else 0
        assert received == 1000
        events = await slow.next_events()
        delivered = sum(len(e.lines) for e in events if isinstance(e, Batch))
        gaps = [e for e in events if isinstance(e, Gap)]
        assert delivered == 50
        assert len(gaps) == 1 and gaps[0].missed == 950 and gaps[0].reason == "slow-client"

    run_coroutine(scenario())


def test_resume_reports_exactly_the_evicted_lines_of_each_source() -> None:
    hub = make_hub(max_lines=10)
    seen = publish(hub, "a", *[f"a{i}" for i in range(5)])
    publish(hub, "b", *[f"b{i}" for i in range(30)])  # b evicts 20; a keeps all
    publish(hub, "a", *[f"a{i}" for i in range(5, 12)])  # a evicts 2 (a0, a1)
    gaps = {gap.source: gap.missed for gap in hub.resume_gaps(["a", "b"], seen[-1].id)}
    assert gaps == {"b": 20}
    early = {gap.source: gap.missed for gap in hub.resume_gaps(["a", "b"], seen[0].id)}
    assert early == {"a": 1, "b": 20}  # a1 is gone; a0 was already seen


def test_resume_from_an_id_of_another_process_is_a_restart_gap() -> None:
    hub = make_hub()
    publish(hub, "a", "x")
    [gap] = hub.resume_gaps(["a"], 12345)
    assert gap.reason == "restart" and gap.missed is None


def test_lines_of_a_long_ended_source_are_freed_and_resume_reports_them() -> None:
    hub = make_hub()
    seen = publish(hub, "a", "before")
    publish(hub, "a", *[f"a{i}" for i in range(5)])
    publish(hub, "b", "b0")
    hub.set_state("a", "ended")
    hub.release_ended(retention=3600)
    assert len(hub.lines(["a"])) == 6  # not yet
    hub.release_ended(retention=0)
    assert hub.lines(["a"]) == [] and [line.text for line in hub.lines(["b"])] == ["b0"]
    assert hub.sources["a"].to_json()["lines_held"] == 0 and hub.sources["a"].state == "ended"
    [gap] = hub.resume_gaps(["a", "b"], seen[0].id)
    assert (gap.source, gap.missed, gap.reason) == ("a", 5, "evicted")
    hub.set_state("a", "following")  # the file came back: the source carries on
    publish(hub, "a", "again")
    assert [line.text for line in hub.lines(["a"])] == ["again"]


def test_the_global_budget_evicts_from_the_biggest_source_and_keeps_a_fair_share() -> None:
    hub = Hub(Metrics(), 100_000, 10_000_000, 1000, budget_bytes=100_000)
    for name in ("quiet", "chatty"):
        hub.add_source(name, "file", f"/logs/{name}.log")
    publish(hub, "quiet", *["q" * 800 for _ in range(20)])  # ~20 KB: below its fair share (50 KB)
    for _ in range(50):
        publish(hub, "chatty", *["c" * 800 for _ in range(20)])  # ~1 MB in all
        assert hub.budget.held <= 100_000
        assert hub.budget.held == sum(record.buffer.bytes for record in hub.sources.values())
    assert len(hub.sources["quiet"].buffer) == 20  # the quiet source's history survives
    assert 0 < hub.sources["chatty"].buffer.bytes <= 100_000 - hub.sources["quiet"].buffer.bytes


def test_sources_over_budget_share_it_evenly() -> None:
    hub = Hub(Metrics(), 100_000, 10_000_000, 1000, budget_bytes=200_000)
    names = [f"s{i}" for i in range(4)]
    for name in names:
        hub.add_source(name, "file", f"/logs/{name}.log")
    for round_ in range(30):
        for name in names:
            publish(hub, name, *["x" * 1000 for _ in range(10 + round_ % 3)])
    held = [hub.sources[name].buffer.bytes for name in names]
    assert sum(held) <= 200_000
    assert min(held) >= 200_000 / 4 * 0.5  # nobody is squeezed out


def test_resume_after_budget_eviction_reports_exactly_how_many_and_why() -> None:
    hub = Hub(Metrics(), 1000, 10_000_000, 1000, budget_bytes=1_048_576 // 8)
    hub.add_source("a", "file", "/logs/a.log")
    seen = publish(hub, "a", "first")
    publish(hub, "a", *[f"{i} " + "x" * 2000 for i in range(200)])
    held = hub.lines(["a"])
    kept = len(held)
    assert hub.budget.held <= hub.budget.limit and kept < 200
    [gap] = hub.resume_gaps(["a"], seen[0].id)
    assert (gap.source, gap.missed, gap.reason) == ("a", 200 - kept, "budget")
    publish(hub, "a", *[f"more {i}" for i in range(1000)])  # now the per-source line bound evicts too
    gaps = {gap.reason: gap.missed for gap in hub.resume_gaps(["a"], seen[0].id)}
    assert sum(gaps.values()) == 1200 - len(hub.lines(["a"]))  # exact: every line is held or in a gap
    assert set(gaps) == {"budget", "evicted"}


def test_slow_clients_queues_are_bounded_by_their_share_of_the_budget() -> None:
    async def scenario() -> None:
        hub = Hub(Metrics(), 100_000, 10_000_000, 1_000_000, budget_bytes=400_000)
        hub.add_source("a", "file", "/logs/a.log")
        slow = [hub.subscribe(None) for _ in range(4)]
        for _ in range(100):
            publish(hub, "a", *["x" * 1000 for _ in range(10)])
            for subscription in slow:
                assert subscription.pending_bytes <= 400_000 * 0.25 / 4
        events = await slow[0].next_events()
        assert any(isinstance(event, Gap) and event.reason == "slow-client" for event in events)

    run_coroutine(scenario())


def test_source_series_are_born_at_zero_and_removed_when_released() -> None:
    hub = make_hub()
    registry = hub.metrics.registry
    for name in ("lines_read_total", "lines_dropped_total", "lines_evicted_total", "bytes_read_total"):
        assert registry.get_sample_value(f"log_sidecar_{name}", {"source": "a"}) == 0, name
    assert registry.get_sample_value("log_sidecar_rotations_total", {"source": "a", "kind": "truncated"}) == 0
    assert registry.get_sample_value("log_sidecar_source_errors_total", {"source": "a", "reason": "EACCES"}) == 0
    publish(hub, "a", "x")
    hub.set_state("a", "ended")
    hub.release_ended(retention=0)
    assert registry.get_sample_value("log_sidecar_lines_read_total", {"source": "a"}) is None
    assert registry.get_sample_value("log_sidecar_lines_read_total", {"source": "b"}) == 0
    hub.set_state("a", "following")  # back again: born again
    assert registry.get_sample_value("log_sidecar_lines_read_total", {"source": "a"}) == 0
    publish(hub, "a", "y", "z")  # and counted in the new series, not in the removed ones
    hub.record_bytes("a", 4)
    assert registry.get_sample_value("log_sidecar_lines_read_total", {"source": "a"}) == 2
    assert registry.get_sample_value("log_sidecar_bytes_read_total", {"source": "a"}) == 4


def test_parsed_fields_count_against_the_byte_bound() -> None:
    hub = make_hub(max_lines=1000, max_bytes=60_000)
    publish(hub, "a", *['{"level":"info","msg":"x","n":%d,"pad":"%s"}' % (i, "y" * 50) for i in range(200)])
    publish(hub, "b", *['plain line %d pad %s' % (i, "y" * 68) for i in range(200)])  # same length, no fields
    assert len(hub.sources["b"].buffer) == 200
    assert len(hub.sources["a"].buffer) < 160  # their fields' JSON bytes count too
    assert hub.sources["a"].buffer.bytes <= 60_000


def test_chunked_ring_buffer_keeps_exactly_what_a_line_by_line_buffer_would() -> None:
    """Batches of every size, lines of every length, both bounds and the global budget: the
    buffer (which holds whole batches and cuts only the oldest) keeps the same lines, bytes and
    eviction runs as evicting the oldest line one at a time."""
    import random

    from sidecar.hub import LINE_OVERHEAD_BYTES, Budget, RingBuffer, lines_bytes
    from sidecar.lines import held_bytes

    rng = random.Random(12)
    for max_lines, max_bytes in ((50, 1_000_000), (10_000, 6_000), (37, 5_000), (1, 1_000)):
        budget = Budget(None)
        buffer = RingBuffer(max_lines, max_bytes, budget)
        model: list[LogLine] = []
        evicted: list[int] = []
        next_id = 1
        for step in range(400):
            if step % 17 == 16 and len(buffer):  # the global budget takes some bytes back
                wanted = rng.randint(1, 3_000)
                count, freed = buffer.evict_bytes(wanted)
                gone, size = 0, 0
                while model and (gone == 0 or size < wanted):
                    size += held_bytes(model[0]) + LINE_OVERHEAD_BYTES
                    evicted.append(model.pop(0).id)
                    gone += 1
                assert (count, freed) == (gone, size)
            batch = [
                LogLine("a", "x" * rng.choice((0, 1, 30, 200, 900)), 0.0, id=next_id + i)
                for i in range(rng.choice((1, 1, 2, 5, 40, 120)))
            ]
            next_id += len(batch) + rng.choice((0, 0, 3))  # other sources' ids sit in between
            model += batch
            evicted_now = 0
            while model and (len(model) > max_lines or sum(held_bytes(l) + LINE_OVERHEAD_BYTES for l in model) > max_bytes):
                evicted.append(model.pop(0).id)
                evicted_now += 1
            assert buffer.extend(batch, lines_bytes(batch)) == evicted_now
            assert [l.id for l in buffer.oldest_first()] == [l.id for l in model]
            assert [l.id for l in buffer.newest_first()] == [l.id for l in reversed(model)]
            assert len(buffer) == len(model) and buffer.bytes == budget.held == lines_bytes(model)
            assert buffer.first_id == (model[0].id if model else None)
            assert buffer.last_id == (model[-1].id if model else None)
        for after in rng.sample(range(next_id), 40):
            assert buffer.missed_after(after) == sum(1 for i in evicted if i > after)
        assert buffer.clear() == len(model)
        assert len(buffer) == 0 and buffer.bytes == budget.held == 0 and list(buffer.newest_first()) == []
