"""The hub: one ring buffer per source, ordered event ids, and fan-out to subscribers.

Sources call `publish`/`announce`; transports call `subscribe`/`lines`. Neither side knows
the other. Everything here runs on the event loop thread and never awaits while holding
state, so there are no locks.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from operator import attrgetter
from dataclasses import dataclass, field
from typing import Any

from sidecar.entries.ingest import Ingest, IngestConfig
from sidecar.lines import LogLine, held_bytes
from sidecar.ops.metrics import Metrics, ReadCounters

# A line costs its text plus the Python objects around it (the Struct, its str, float and int,
# deque and list slots: ~210 bytes measured); counted so the byte bounds are honest.
LINE_OVERHEAD_BYTES = 200
# Share of the global budget that slow clients' queues may hold on top of the ring buffers'
# lines, split evenly among the clients connected.
QUEUE_SHARE = 0.25
# Lines gathered past a page's edge while completing its entries, at most (see Hub.lines).
ENTRY_EDGE_LINES = 100_000
# How many evicted runs of ids a source remembers to tell a resuming client exactly what it missed.
EVICTED_RUNS_KEPT = 100_000
# Losses (lines gone before they were read) a source remembers for resuming clients.
LOSSES_KEPT = 1000


_TEXT = attrgetter("text")
_FIELDS = attrgetter("fields")


def lines_bytes(lines: list[LogLine]) -> int:
    """What holding `lines` costs: `held_bytes` plus the overhead of each, for a whole batch."""
    fields = sum([len(raw) + 40 for raw in map(_FIELDS, lines) if raw is not None])
    return sum(map(len, map(_TEXT, lines))) + fields + LINE_OVERHEAD_BYTES * len(lines)


class Batch:
    """Lines one source published together. Transports cache their encoding of it here, so
    a batch is encoded once however many clients receive it."""

    __slots__ = ("source", "lines", "created", "_encoded", "nbytes")

    def __init__(self, source: str, lines: list[LogLine], nbytes: int | None = None) -> None:
        self.source = source
        self.lines = lines
        self.created = time.monotonic()
        self._encoded: dict[str, Any] = {}
        # What its lines cost, as the ring buffer counts them: slow clients' queues are bounded by it.
        self.nbytes = lines_bytes(lines) if nbytes is None else nbytes

    @property
    def last_id(self) -> int:
        return self.lines[-1].id

    def encoded(self, key: str, encode: Callable[[list[LogLine]], Any]) -> Any:
        """`encode(lines)`, computed once per batch and key (frames; the joined text for filters)."""
        frame = self._encoded.get(key)
        if frame is None:
            frame = self._encoded[key] = encode(self.lines)
        return frame


@dataclass(slots=True)
class Gap:
    """Lines a subscriber will not receive. `missed` is None when the count is unknown."""

    source: str | None
    missed: int | None
    reason: str  # "slow-client", "evicted", "restart", "rotated-unread", "budget"
    id: int  # resume point: the last id covered by the gap

    def to_json(self) -> dict:
        return {"source": self.source, "missed": self.missed, "reason": self.reason}


@dataclass(slots=True)
class SourceChange:
    """Something happened to a source: added, rotated, truncated, removed, reconnected, error, ..."""

    source: str
    change: str
    detail: dict[str, Any]
    id: int
    time: float

    def to_json(self) -> dict:
        return {"source": self.source, "change": self.change, "time": self.time, **self.detail}


Event = Batch | Gap | SourceChange


@dataclass
class SourceRecord:
    """What the hub knows of one source, shown by /api/sources and used by /readyz."""

    id: str
    kind: str  # "file" or "pod"
    target: str  # path, or namespace/pod/container
    buffer: RingBuffer
    state: str = "starting"
    ended_at: float | None = None  # monotonic time it ended, for release_ended
    error: str | None = None
    lines_seen: int = 0
    bytes_seen: int = 0
    watch: str | None = None  # file sources: "inotify" or "poll"
    lines_lost: int = 0
    # Gaps of lines lost before they were read, for clients that resume from before them.
    losses: deque[Gap] = field(default_factory=lambda: deque(maxlen=LOSSES_KEPT))
    last_line_time: float | None = None  # the newest line's own time, for last_line_timestamp_seconds
    level_counts: dict[str | None, int] = field(default_factory=dict)  # lines_total{level}
    released: bool = False  # its metric series were removed (release_ended)
    counters: ReadCounters | None = None  # its read series, None until looked up (again)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "state": self.state,
            "error": self.error,
            "lines_seen": self.lines_seen,
            "bytes_seen": self.bytes_seen,
            "lines_held": len(self.buffer),
            "bytes_held": self.buffer.bytes,
            "first_id": self.buffer.first_id,
            "last_id": self.buffer.last_id,
            "lines_lost": self.lines_lost,
            **({"watch": self.watch} if self.watch else {}),
        }


class Budget:
    """Bytes held by every ring buffer together, against the global limit (None: no limit)."""

    __slots__ = ("limit", "held")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.held = 0

    def over(self) -> int:
        return self.held - self.limit if self.limit is not None and self.held > self.limit else 0


class QueueQuota:
    """Bytes one client's queue may hold: an even part of the queues' share of the budget,
    kept up to date by the hub as clients come and go (read for every batch offered)."""

    __slots__ = ("total", "bytes")

    def __init__(self, total: float) -> None:
        self.total = total
        self.bytes = total

    def spread(self, clients: int) -> None:
        self.bytes = self.total / max(1, clients)


class RingBuffer:
    """Recent lines of one source, bounded by line count and by bytes (its own bound, and its
    share of the global budget, which the hub enforces).

    Held as the published batches themselves (chunks), so appending a batch and evicting whole
    ones cost one step each instead of one per line: the oldest chunk is cut into only when a
    bound falls inside it. A chunk's ids are consecutive (the hub numbers a batch in one go)."""

    def __init__(self, max_lines: int, max_bytes: int, budget: Budget | None = None) -> None:
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.budget = budget or Budget(None)
        self.bytes = 0
        self._count = 0
        self._chunks: deque[list[LogLine]] = deque()
        self._chunk_bytes: deque[int] = deque()  # what each chunk's lines still held cost
        self._head = 0  # lines of the oldest chunk already evicted
        # Runs of consecutive evicted ids: [first_id, last_id, reason]. Ids are global, so a
        # run breaks wherever another source's lines sit in between, or where the reason changes.
        self._evicted: deque[list] = deque(maxlen=EVICTED_RUNS_KEPT)

    def __len__(self) -> int:
        return self._count

    @property
    def first_id(self) -> int | None:
        return self._chunks[0][self._head].id if self._chunks else None

    @property
    def last_id(self) -> int | None:
        return self._chunks[-1][-1].id if self._chunks else None

    def extend(self, lines: list[LogLine], nbytes: int | None = None) -> int:
        """Append lines (`nbytes`: what they cost, see `lines_bytes`), evict the oldest past
        either bound; returns how many were evicted."""
        if not lines:
            return 0
        if nbytes is None:
            nbytes = lines_bytes(lines)
        self._chunks.append(lines)
        self._chunk_bytes.append(nbytes)
        self._count += len(lines)
        self.bytes += nbytes
        self.budget.held += nbytes
        if self._count <= self.max_lines and self.bytes <= self.max_bytes:
            return 0
        evicted = 0
        while self._count > self.max_lines or self.bytes > self.max_bytes:
            over_lines = self._count - self.max_lines
            over_bytes = self.bytes - self.max_bytes
            evicted += self._evict(over_lines, over_bytes, "evicted")
        return evicted

    def clear(self) -> int:
        """Drop every line (the source ended long ago); returns how many were dropped."""
        count = self._count
        while self._chunks:
            self._evict(self._count, self.bytes, "evicted")
        return count

    def evict_bytes(self, wanted: int) -> tuple[int, int]:
        """Evict the oldest lines for the global budget until `wanted` bytes are freed (one line
        at least); returns (lines, bytes) evicted."""
        before, count = self.bytes, 0
        while self._chunks and (count == 0 or before - self.bytes < wanted):
            count += self._evict(0, max(1, wanted - (before - self.bytes)), "budget")
        return count, before - self.bytes

    def _evict(self, lines: int, nbytes: int, reason: str) -> int:
        """Evict from the oldest chunk: all of it when that is not more than `lines` lines or
        `nbytes` bytes, else its oldest lines until either is reached (one at least)."""
        chunk, head = self._chunks[0], self._head
        held = len(chunk) - head
        if held <= lines or self._chunk_bytes[0] <= nbytes:
            self._chunks.popleft()
            size = self._chunk_bytes.popleft()
            self._head = 0
            end = len(chunk)
        else:
            end, size = head, 0
            while end < len(chunk) and (end == head or (end - head < lines or size < nbytes)):
                size += held_bytes(chunk[end]) + LINE_OVERHEAD_BYTES
                end += 1
            if end == len(chunk):  # its last line was needed too
                self._chunks.popleft()
                self._chunk_bytes.popleft()
                self._head = 0
            else:
                self._head = end
                self._chunk_bytes[0] -= size
        self._count -= end - head
        self.bytes -= size
        self.budget.held -= size
        self._record_run(chunk[head].id, chunk[end - 1].id, reason)
        return end - head

    def _record_run(self, first: int, last: int, reason: str) -> None:
        run = self._evicted[-1] if self._evicted else None
        if run is not None and run[1] + 1 == first and run[2] == reason:
            run[1] = last
        else:
            self._evicted.append([first, last, reason])

    def missed_after(self, after_id: int) -> int:
        """How many evicted lines had an id above `after_id` (a lower bound past the kept runs)."""
        return sum(self.missed_by_reason(after_id).values())

    def missed_by_reason(self, after_id: int) -> dict[str, int]:
        """Evicted lines above `after_id` by why: "evicted" (the source's own bound, or an ended
        source freed) or "budget" (the global budget)."""
        missed: dict[str, int] = {}
        for first, last, reason in reversed(self._evicted):
            if last <= after_id:
                break
            missed[reason] = missed.get(reason, 0) + last - max(first, after_id + 1) + 1
        return missed

    def newest_first(self) -> Iterator[LogLine]:
        chunks = self._chunks
        if not chunks:
            return iter(())
        oldest = chunks[0][self._head :] if self._head else chunks[0]
        newer = islice(reversed(chunks), len(chunks) - 1)
        return chain(chain.from_iterable(map(reversed, newer)), reversed(oldest))

    def oldest_first(self) -> Iterator[LogLine]:
        chunks = self._chunks
        if not chunks:
            return iter(())
        first = chunks[0][self._head :] if self._head else chunks[0]
        return chain(first, chain.from_iterable(islice(chunks, 1, None)))


class Subscription:
    """One client's queue. Bounded: past `max_pending` lines it drops and records a Gap."""

    def __init__(
        self, sources: frozenset[str] | None, max_pending: int, metrics: Metrics,
        quota: QueueQuota | None = None,
    ) -> None:
        self.sources = sources
        self.max_pending = max_pending
        self.metrics = metrics
        self.quota = quota  # bytes this client may have queued (its part of the budget)
        self.pending_lines = 0
        self.pending_bytes = 0
        self._queue: deque[Event] = deque()
        # The reader's wake-up: a bare future, set once by the first event after it waits
        # (an asyncio.Event did the same at twice the cost, paid per client per batch).
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def wants(self, source: str) -> bool:
        return self.sources is None or source in self.sources

    def offer(self, event: Event) -> None:
        if isinstance(event, Batch):
            count = len(event.lines)
            # An empty queue always takes the batch, so a batch larger than the bound still flows.
            if self.pending_lines and (
                self.pending_lines + count > self.max_pending
                or (self.quota is not None and self.pending_bytes + event.nbytes > self.quota.bytes)
            ):
                self._record_drop(event)
                return
            self.pending_lines += count
            self.pending_bytes += event.nbytes
        self._queue.append(event)
        self._wake()

    def _record_drop(self, batch: Batch) -> None:
        self.metrics.lines_dropped.labels(batch.source).inc(len(batch.lines))
        tail = self._queue[-1] if self._queue else None
        if isinstance(tail, Gap) and tail.reason == "slow-client" and tail.source == batch.source:
            tail.missed = (tail.missed or 0) + len(batch.lines)
            tail.id = batch.last_id
        else:
            self.metrics.gaps.labels("slow-client").inc()
            self._queue.append(Gap(batch.source, len(batch.lines), "slow-client", batch.last_id))
        self._wake()

    def close(self) -> None:
        """Ends the subscription: `next_events` returns what is left, then nothing."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # cancelled with its reader
                waiter.set_result(None)

    async def next_events(self) -> list[Event]:
        """Everything queued, waiting until there is something (or the subscription closes)."""
        while not self._queue and not self.closed:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        events = list(self._queue)
        self._queue.clear()
        self.pending_lines = self.pending_bytes = 0
        return events


def _count_levels(tally: dict[str | None, int], lines: list[LogLine]) -> None:
    """lines_total{level}: Counter is quickest for a batch, a dict update for one line."""
    if len(lines) == 1:
        level = lines[0].level
        tally[level] = tally.get(level, 0) + 1
        return
    for level, count in Tally([line.level for line in lines]).items():
        tally[level] = tally.get(level, 0) + count


class Hub:
    def __init__(
        self, metrics: Metrics, max_lines: int, max_bytes: int, max_pending: int,
        *, budget_bytes: int | None = None, ingest: IngestConfig | None = None,
    ) -> None:
        self.metrics = metrics
        self.ingest_config = ingest or IngestConfig()
        self._ingest: dict[str, Ingest] = {}
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.max_pending = max_pending
        # One budget for the lines of every source; slow clients' queues get QUEUE_SHARE on top.
        self.budget = Budget(budget_bytes)
        self.quota = QueueQuota(budget_bytes * QUEUE_SHARE) if budget_bytes is not None else None
        self.sources: dict[str, SourceRecord] = {}
        self._subscribers: set[Subscription] = set()
        # Told of every new subscription (before its backfill is read): a source that reads
        # lazily while nobody watches it goes back to immediate reading (see FileSource).
        self._subscribe_listeners: list[Callable[[Subscription], None]] = []
        # Ids are microseconds since the epoch, strictly increasing: ordered, and ids of an
        # earlier run of the process stay below this run's, so a resume across a restart is seen.
        self.first_id = self._now_id()
        self.last_id = self.first_id
        # Restart resume (state_dir): lines of the run before keep their ids, all below this
        # run's. first_id then goes down to the oldest restored id; `restored` says, per source,
        # after which id of the old run its lines are all held again.
        self.run_first_id = self.first_id
        self.restored: dict[str, int] = {}
        self._restored_last = 0

    @staticmethod
    def _now_id() -> int:
        return time.time_ns() // 1000

    # --- the sources' side ---

    def add_source(self, source_id: str, kind: str, target: str) -> SourceRecord:
        record = self.sources.get(source_id)
        if record is None:
            record = SourceRecord(source_id, kind, target, RingBuffer(self.max_lines, self.max_bytes, self.budget))
            self.sources[source_id] = record
            self._ingest[source_id] = Ingest(source_id, self.ingest_config, self.metrics)
            self.metrics.birth_source(source_id, kind)
            self.announce(source_id, "added", kind=kind, target=target)
        return record

    def set_state(self, source_id: str, state: str, error: str | None = None) -> None:
        record = self.sources[source_id]
        if state == "ended" and record.state != "ended":
            record.ended_at = time.monotonic()
        elif state != "ended":
            record.ended_at = None
        if record.released and state != "ended":
            record.released = False  # it came back: its series start again at 0
            self.metrics.birth_source(source_id, record.kind)
        record.state, record.error = state, error

    def release_ended(self, retention: float) -> None:
        """Free the lines of sources that ended more than `retention` seconds ago.

        Deleted dated files and replaced pods would otherwise each keep a full buffer for the
        life of the process. The small record stays, so a source that comes back carries on."""
        now = time.monotonic()
        for record in self.sources.values():
            if record.ended_at is not None and now - record.ended_at >= retention and not record.released:
                record.buffer.clear()
                record.released = True
                record.counters = None
                self.metrics.forget_source(record.id)

    def next_id(self) -> int:
        """The id the next publish will give its first line (a checkpoint records it first)."""
        return max(self.last_id + 1, self._now_id())

    def publish(self, source_id: str, lines: list[LogLine], first_id: int | None = None) -> None:
        """Number the lines, keep them, and hand them to every interested subscriber.

        `first_id`: the lines' ids start there: `next_id()` just taken, or the old ids of lines
        restored from a checkpoint at start (below this run's, in increasing order)."""
        if not lines:
            return
        record = self.sources[source_id]
        next_id = self.next_id() if first_id is None else self._accept_first_id(first_id, len(lines))
        self.last_id = max(self.last_id, next_id + len(lines) - 1)
        # Number, redact, group and parse in one pass: once, before anyone sees the lines.
        self._ingest[source_id].apply(lines, next_id)
        nbytes = lines_bytes(lines)
        evicted = record.buffer.extend(lines, nbytes)
        if self.budget.over():
            self._enforce_budget()
        record.lines_seen += len(lines)
        record.last_line_time = lines[-1].time
        _count_levels(record.level_counts, lines)
        counters = record.counters or self._read_counters(record)
        counters.lines_read.inc(len(lines))
        if evicted:
            counters.lines_evicted.inc(evicted)
        batch = Batch(source_id, lines, nbytes)
        for subscriber in self._subscribers:
            if subscriber.wants(source_id):
                subscriber.offer(batch)

    def _accept_first_id(self, first_id: int, count: int) -> int:
        if first_id > self.last_id:
            return first_id
        if self._restored_last < first_id and first_id + count <= self.run_first_id:
            self._restored_last = first_id + count - 1
            self.first_id = min(self.first_id, first_id)
            return first_id
        raise ValueError(f"ids from {first_id} are out of order")

    def mark_restored(self, source_id: str, exact_after: int) -> None:
        """`source_id`'s lines of the run before, after `exact_after`, are all held again."""
        self.restored[source_id] = exact_after

    def restore_loss(self, source_id: str, gap: Gap) -> None:
        """A loss of the run before, told again to clients that resume from before it."""
        self.sources[source_id].losses.append(gap)

    def report_loss(self, source_id: str, reason: str, lines: int | None, size: int | None = None) -> Gap:
        """Lines that will never be read (a rotated file gone, late writes to a closed one):
        every client of the source gets a gap now, a client resuming from before it later."""
        record = self.sources[source_id]
        self.last_id = self.next_id()  # the gap's own id, after every line so far
        gap = Gap(source_id, lines, reason, self.last_id)
        record.losses.append(gap)
        if lines:
            record.lines_lost += lines
            self.metrics.lines_lost.labels(source_id, reason).inc(lines)
        if size:
            self.metrics.bytes_lost.labels(source_id, reason).inc(size)
        self.metrics.gaps.labels(reason).inc()
        for subscriber in self._subscribers:
            if subscriber.wants(source_id):
                subscriber.offer(Gap(source_id, lines, reason, gap.id))
        return gap

    def set_watch_mode(self, source_id: str, mode: str) -> None:
        """How a file source sees changes, for /api/sources and log_sidecar_watch_mode."""
        record = self.sources[source_id]
        if record.watch == mode:
            return
        if record.watch is not None:
            self.metrics.watch_mode.remove(source_id, record.watch)
        record.watch = mode
        self.metrics.watch_mode.labels(source_id, mode).set(1)

    def _enforce_budget(self) -> None:
        """Evict across sources until every held line fits the global budget, from the source
        that holds the most (above its fair share, since the total is over) down to the next
        biggest, so a chatty source cannot push a quiet one's history out. Runs only when over
        budget, and frees 1/64 of the budget more so it does not run again for every batch; each
        step frees at least an even part of what is needed, so a pass takes about as many steps
        as there are sources."""
        limit = self.budget.limit
        assert limit is not None
        need = self.budget.over() + limit // 64
        chunk = max(1, need // max(1, sum(1 for r in self.sources.values() if len(r.buffer))))
        freed = 0
        while freed < need:
            ranked = heapq.nlargest(2, self.sources.values(), key=lambda r: r.buffer.bytes)
            biggest = ranked[0]
            if not len(biggest.buffer):
                return
            runner_up = ranked[1].buffer.bytes if len(ranked) > 1 else 0
            count, got = biggest.buffer.evict_bytes(min(need - freed, max(biggest.buffer.bytes - runner_up, chunk)))
            freed += got
            self.metrics.lines_evicted.labels(biggest.id).inc(count)

    def ingest_outside(self, source_id: str, lines: list[LogLine]) -> list[LogLine]:
        """Redact and parse lines that bypass the buffer (a previous container's log, read on
        request), so they leave the pod as redacted as every other line. Not counted."""
        if lines:
            Ingest(source_id, self.ingest_config, None).apply(lines)
        return lines

    def record_bytes(self, source_id: str, count: int) -> None:
        record = self.sources[source_id]
        record.bytes_seen += count
        (record.counters or self._read_counters(record)).bytes_read.inc(count)

    def _read_counters(self, record: SourceRecord) -> ReadCounters:
        record.counters = self.metrics.read_counters(record.id)
        return record.counters

    def announce(self, source_id: str, change: str, **detail: Any) -> None:
        event = SourceChange(source_id, change, detail, self.last_id, time.time())
        if change in ("rotated", "truncated"):
            self.metrics.rotations.labels(source_id, change).inc()
        for subscriber in self._subscribers:
            if subscriber.wants(source_id):
                subscriber.offer(event)

    # --- the transports' side ---

    def subscribe(self, sources: frozenset[str] | None) -> Subscription:
        subscription = Subscription(sources, self.max_pending, self.metrics, self.quota)
        self._subscribers.add(subscription)
        if self.quota is not None:
            self.quota.spread(len(self._subscribers))
        for listener in self._subscribe_listeners:
            listener(subscription)
        return subscription

    def on_subscribe(self, listener: Callable[[Subscription], None]) -> None:
        self._subscribe_listeners.append(listener)

    def watched(self, source_ids: Iterable[str]) -> bool:
        """Whether any subscriber receives lines of one of `source_ids`."""
        ids = set(source_ids)
        return any(s.sources is None or not ids.isdisjoint(s.sources) for s in self._subscribers)

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription.close()
        self._subscribers.discard(subscription)
        if self.quota is not None:
            self.quota.spread(len(self._subscribers))

    def resume_gaps(self, sources: Iterable[str], after_id: int) -> list[Gap]:
        """What a client resuming after `after_id` can no longer get."""
        if after_id > self.last_id or (after_id < self.first_id and not self.restored):
            return [Gap(None, None, "restart", self.last_id)]
        gaps = []
        for source_id in sources:
            record = self.sources[source_id]
            if after_id < self.run_first_id:  # an id of the run before a restart
                exact_after = self.restored.get(source_id)
                if exact_after is None or after_id < exact_after:
                    reason = "restart" if exact_after is None else "evicted"
                    gaps.append(Gap(source_id, None, reason, after_id))
                    continue
            for reason, missed in sorted(record.buffer.missed_by_reason(after_id).items()):
                gaps.append(Gap(source_id, missed, reason, after_id))
            gaps.extend(Gap(source_id, g.missed, g.reason, g.id) for g in record.losses if g.id > after_id)
        return gaps

    def lines(
        self,
        sources: Iterable[str],
        *,
        after_id: int | None = None,
        before_id: int | None = None,
        keep: Callable[[LogLine], bool] | None = None,
        limit: int | None = None,
        newest: bool = True,
        whole_entries: bool = False,
    ) -> list[LogLine]:
        """Held lines of `sources` in id order, between the bounds, at most `limit` of them.

        `newest=True` keeps the newest `limit` lines (a tail); False keeps the oldest (paging
        forward). Buffers are merged lazily, so a small limit reads only what it returns.
        `whole_entries`: a page cut by `limit` inside a multi-line entry is extended to the
        entry's edge (its first line for a tail, its last held line forward).
        """
        buffers = [self.sources[s].buffer for s in sources if s in self.sources]
        if newest:
            merged = heapq.merge(*(b.newest_first() for b in buffers), key=lambda line: -line.id)
        else:
            merged = heapq.merge(*(b.oldest_first() for b in buffers), key=lambda line: line.id)
        candidates = (line for line in _bounded(merged, after_id, before_id, newest) if keep is None or keep(line))
        picked: list[LogLine] = []
        for line in candidates:
            picked.append(line)
            if limit is not None and len(picked) >= limit:
                if whole_entries:
                    picked += _entry_rest(candidates, picked, newest)
                break
        if newest:
            picked.reverse()
        return picked

    def entry_lines(self, source_id: str, entry_id: int, before_id: int) -> list[LogLine]:
        """The held lines of entry `entry_id` older than `before_id`, oldest first: what a client
        whose filter matched a later line of the entry has not been sent yet."""
        found: list[LogLine] = []
        for line in self.sources[source_id].buffer.newest_first():
            if line.id < entry_id:
                break
            if line.id < before_id and line.entry == entry_id:
                found.append(line)
        found.reverse()
        return found

    def readiness(self) -> str | None:
        """None when at least one source is healthy, else why not."""
        if not self.sources:
            return "no source found yet"
        if any(record.state in ("following", "idle") for record in self.sources.values()):
            return None
        problems = "; ".join(f"{r.id}: {r.state}{' (' + r.error + ')' if r.error else ''}" for r in self.sources.values())
        return f"no readable source: {problems}"



def _bounded(lines: Iterator[LogLine], after_id: int | None, before_id: int | None, newest: bool) -> Iterator[LogLine]:
    """The lines of a merged walk between the bounds (newest first, or oldest first)."""
    for line in lines:
        if before_id is not None and line.id >= before_id:
            if newest:
                continue
            return
        if after_id is not None and line.id <= after_id:
            if newest:
                return
            continue
        yield line


def _entry_rest(candidates: Iterator[LogLine], picked: list[LogLine], newest: bool) -> list[LogLine]:
    """The lines past a page's edge that complete the entries cut there.

    Walking on in the same direction: an entry is open at the edge while (newest first) its
    first line is not reached, or (oldest first) its source's next line still continues it.
    Lines of other sources met in between are kept too, so the page stays one contiguous range
    of ids and the next page (before/after its edge) misses nothing."""
    edge: dict[str, LogLine] = {}
    for line in picked:
        edge[line.source] = line
    open_entries = {s: l.entry for s, l in edge.items() if not newest or l.id != l.entry}
    rest: list[LogLine] = []
    pending: list[LogLine] = []
    for line in candidates:
        if not open_entries or len(pending) > ENTRY_EDGE_LINES:
            break
        entry = open_entries.get(line.source)
        if entry is not None and line.entry == entry:
            rest += pending
            rest.append(line)
            pending.clear()
            if newest and line.id == entry:
                del open_entries[line.source]
            continue
        if entry is not None:
            del open_entries[line.source]  # its entry ended at the edge
        pending.append(line)
    return rest
