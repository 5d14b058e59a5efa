"""GET /api/stream: the live stream over Server-Sent Events.

The handler is one loop: backfill from the hub, then whatever the subscription yields.
sse-starlette owns the wire (keep-alive pings, disconnects, shutdown); the send timeout for
stuck clients is one deadline per stream (send_deadline.py) that aborts the connection, and
GuestEventSourceResponse counts why each stream ended. Lines are encoded once per batch and
shared among clients that see the batch unfiltered.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Literal

import msgspec
from fastapi import APIRouter, Header, HTTPException, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.background import BackgroundTask
from starlette.types import Message, Receive, Scope, Send

from sidecar.api.send_deadline import SendDeadline
from sidecar.api.params import FieldParam, SourceParam, get_hub, line_filter, parse_event_id, select_sources, since_timestamp
from sidecar.filters import EntrySelection, LineFilter, LiveEntries
from sidecar.hub import Batch, Gap, Hub, SourceChange, Subscription
from sidecar.lines import LogLine
from sidecar.ops.metrics import Metrics
from sidecar.ops.server import PROTOCOL_KEY, SEND_KEY, TRANSPORT_KEY, abort, lost_to_dead_peer

logger = logging.getLogger("sidecar.stream")
router = APIRouter()
BACKFILL_CHUNK = 2000
DEFAULT_TAIL = 100
RECONNECT_MILLISECONDS = 1000
_JSON = msgspec.json.Encoder()
Format = Literal["json", "text"]


@router.get("/api/stream", summary="Live lines as Server-Sent Events")
async def stream(
    request: Request,
    source: list[str] | None = SourceParam,
    tail: int | None = Query(
        None, ge=0, le=10_000_000, description="Lines of backfill before live lines (default 100, or all with since)."
    ),
    since: datetime | None = Query(None, description="Backfill only lines at or after this RFC 3339 time."),
    grep: str | None = Query(None, description="RE2 regular expression; only matching lines are sent."),
    level: str | None = Query(None, description="Minimum level: trace, debug, info, warn, error, fatal."),
    field: list[str] | None = FieldParam,
    format: Format = Query("json", description="json: `lines` events with batches; text: one data line per line."),
    last_event_id: str | None = Query(None, description="Resume after this id (same as the Last-Event-ID header)."),
    last_event_id_header: str | None = Header(None, alias="Last-Event-ID"),
) -> EventSourceResponse:
    hub = get_hub(request)
    settings = request.app.state.settings
    metrics: Metrics = request.app.state.metrics
    sources = select_sources(hub, source)
    keep = line_filter(grep, level, field)
    since_ts = since_timestamp(since)
    resume_id = parse_event_id(last_event_id_header or last_event_id)
    streams: StreamCount = request.app.state.streams
    client = client_address(request)
    if streams.active >= settings.max_streams:
        metrics.rejected_streams.inc()
        raise HTTPException(429, f"too many streams (limit {settings.max_streams})", headers={"Retry-After": "5"})
    if streams.of(client) >= settings.max_streams_per_client:
        metrics.rejected_streams.inc()
        raise HTTPException(
            429,
            f"too many streams from {client} (limit {settings.max_streams_per_client} per client address)",
            headers={"Retry-After": "5"},
        )

    # Subscribing and reading the backfill happen with no await in between, so the live
    # queue starts exactly where the backfill ends.
    subscription = hub.subscribe(frozenset(sources) if source else None)
    selection = EntrySelection(keep, hub, sources)
    if resume_id is not None:
        opening, backfill = _resume(hub, sources, resume_id, selection)
    else:
        limit = tail if tail is not None else (None if since_ts is not None else DEFAULT_TAIL)
        backfill = (
            hub.lines(sources, keep=_keep(keep, selection, since_ts), limit=limit, whole_entries=True) if limit != 0 else []
        )
        opening = []
    live = None
    if keep.by_entry:
        live = LiveEntries(keep, hub)
        live.prime(selection, backfill)
    lease = StreamLease(hub, subscription, streams, metrics, client)
    return GuestEventSourceResponse(
        lease,
        _events(subscription, metrics, opening, backfill, keep, live, format, lease),
        ping=settings.keepalive,
        send_timeout=settings.send_timeout,
        headers={"Cache-Control": "no-cache, no-transform"},
        background=BackgroundTask(lease.release),
        shutdown_event=lease,  # type: ignore[arg-type]  # sse-starlette only calls .set()
        shutdown_grace_period=1.0,
    )


def client_address(request: Request) -> str:
    """The client's address for the per-client cap: the peer, or the X-Forwarded-For client
    when the peer is a trusted proxy (uvicorn rewrote it then). IPv4 seen on a dual-stack
    socket (::ffff:a.b.c.d) counts as the IPv4 address it is."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


class StreamCount:
    """Streams open now, in total and per client address; checked against the caps."""

    def __init__(self) -> None:
        self.active = 0
        self.per_client: dict[str, int] = {}

    def of(self, client: str) -> int:
        return self.per_client.get(client, 0)

    def add(self, client: str) -> None:
        self.active += 1
        self.per_client[client] = self.of(client) + 1

    def remove(self, client: str) -> None:
        self.active -= 1
        left = self.of(client) - 1
        if left > 0:
            self.per_client[client] = left
        else:
            self.per_client.pop(client, None)


class StreamLease:
    """One open stream's hold on the hub and the stream counts, released exactly once.

    Released from the generator's `finally` and from the response's background task, since
    either can be skipped (a generator never started; a send that timed out)."""

    def __init__(
        self, hub: Hub, subscription: Subscription, streams: StreamCount, metrics: Metrics, client: str
    ) -> None:
        self.hub, self.subscription, self.streams, self.metrics = hub, subscription, streams, metrics
        self.client = client
        streams.add(client)
        metrics.active_streams.inc()
        self.released = False
        self.shutting_down = False
        self.ended_by_server = False  # the stream's loop ended, not the connection

    def set(self) -> None:
        """Server shutdown (called by sse-starlette): end the stream cleanly."""
        self.shutting_down = True
        self.subscription.close()

    async def release(self) -> None:
        if not self.released:
            self.released = True
            self.hub.unsubscribe(self.subscription)
            self.streams.remove(self.client)
            self.metrics.active_streams.dec()


class GuestEventSourceResponse(EventSourceResponse):
    """sse-starlette's response, plus what it leaves undone when a client is stuck or gone.

    A send that times out aborts the connection (a plain close would wait for the megabytes
    the client never reads, keeping the socket and its buffers for as long as TCP tries), and
    every ended stream is counted by why it ended; a cut client is one log line, no traceback."""

    def __init__(self, lease: StreamLease, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lease = lease
        self.deadline: SendDeadline | None = None
        self.raw_send: Send | None = None

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        """The send timeout without a cancel scope per send (see send_deadline.py). Body parts
        go to the server's own send: the middlewares only look at the response start (status,
        cookie), and their chain of wrappers was a third of the cost of a send."""
        if self.deadline is None:
            await super()._send_with_timeout(send, message)
            return
        try:
            if self.raw_send is not None and message.get("more_body"):
                await self.deadline.send(self.raw_send, message)
            else:
                await self.deadline.send(send, message)
        except BaseException:
            self._send_interrupted = True  # as sse-starlette's own: no closing send after this one
            raise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = scope.get(TRANSPORT_KEY)
        reason = "client"
        if transport is not None and self.send_timeout is not None:
            self.deadline = SendDeadline(self.send_timeout, lambda: abort(transport))
            self.raw_send = scope.get(SEND_KEY)
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            reason = "send-timeout"
            if transport is not None and not transport.is_closing():  # not aborted by the deadline yet
                abort(transport)
                await asyncio.sleep(0)  # uvicorn sees the connection lost, not an unfinished response
        finally:
            if self.deadline is not None:
                self.deadline.close()
                if self.deadline.expired:  # the abort may end the stream through a disconnect first
                    reason = "send-timeout"
            await self.lease.release()
        if self.lease.shutting_down:
            reason = "shutdown"
        elif reason == "client" and self.lease.ended_by_server:
            reason = "server"
        elif reason == "client" and lost_to_dead_peer(scope.get(PROTOCOL_KEY)):
            reason = "dead-peer"
        self.lease.metrics.streams_closed.labels(reason).inc()
        if reason in ("send-timeout", "dead-peer"):
            why = "took longer than the send timeout" if reason == "send-timeout" else "stopped answering (TCP timeout)"
            logger.warning("stream of %s cut: the client %s", self.lease.client, why)


def _resume(hub: Hub, sources: list[str], resume_id: int, selection: EntrySelection) -> tuple[list[Gap], list[LogLine]]:
    gaps = hub.resume_gaps(sources, resume_id)
    if any(gap.reason == "restart" and gap.source is None for gap in gaps):
        return gaps, []  # ids of an earlier run: what this client already has is unknown
    lines = hub.lines(sources, after_id=resume_id, keep=_keep(selection.filter, selection, None), newest=False)
    # An entry begun before the resume point that meets the filter only through its later
    # lines was never sent: its earlier lines come first, so the entry is not cut in two.
    earlier: list[LogLine] = []
    firsts = {line.source: line for line in reversed(lines)}
    for line in firsts.values():
        earlier += selection.earlier_part(hub, line, resume_id)
    return gaps, sorted(earlier, key=lambda line: line.id) + lines if earlier else lines


async def _events(
    subscription: Subscription,
    metrics: Metrics,
    opening: list[Gap],
    backfill: list[LogLine],
    keep: LineFilter,
    live: LiveEntries | None,
    fmt: Format,
    lease: StreamLease,
) -> AsyncIterator[bytes]:
    sent = metrics.lines_sent.labels(fmt)
    try:
        # Browsers wait about 3 s before reconnecting by default; a lost stream comes back sooner.
        yield ServerSentEvent(comment="log-sidecar stream", retry=RECONNECT_MILLISECONDS).encode()
        for gap in opening:
            metrics.gaps.labels(gap.reason).inc()
            yield encode_event(gap, fmt)
        for start in range(0, len(backfill), BACKFILL_CHUNK):
            chunk = backfill[start : start + BACKFILL_CHUNK]
            sent.inc(len(chunk))
            yield encode_lines(chunk, fmt)
        frame_of = _frame_maker(keep, live, fmt)
        lag = metrics.delivery_lag
        while not subscription.closed:
            # Everything queued since the last wake-up goes out in one send: under load that is
            # one write per client per wake-up instead of one per batch.
            frames: list[bytes] = []
            count = 0
            oldest = None
            for event in await subscription.next_events():
                if isinstance(event, Batch):
                    frame = frame_of(event)
                    if frame is None:
                        continue
                    oldest = oldest or event.created
                    count += len(event.lines)
                    frames.append(frame)
                else:
                    frames.append(encode_event(event, fmt))
            if oldest is not None:
                lag.observe(time.monotonic() - oldest)
                sent.inc(count)
            if frames:
                yield b"".join(frames) if len(frames) > 1 else frames[0]
        lease.ended_by_server = True
    finally:
        await lease.release()


def _keep(keep: LineFilter, selection: EntrySelection, since_ts: float | None):
    """The backfill's predicate. Continuation lines carry their entry's time, so `since`
    keeps or drops whole entries too."""
    if since_ts is None:
        return None if keep.keeps_all else selection
    if keep.keeps_all:
        return lambda line: line.time >= since_ts
    return lambda line: line.time >= since_ts and selection(line)


def _frame_maker(keep: LineFilter, live: LiveEntries | None, fmt: Format) -> Callable[[Batch], bytes | None]:
    """The stream's batch -> frame (None: nothing of it passes), chosen once per stream. An
    unfiltered stream shares the batch's frame with every other unfiltered one."""
    encode = _json_lines_frame if fmt == "json" else _text_frames
    if keep.keeps_all:
        return lambda batch: batch.encoded(fmt, encode)

    def filtered(batch: Batch) -> bytes | None:
        lines = live.select(batch) if live is not None else [line for line in batch.lines if keep.gate(line)]
        return encode(lines) if lines else None

    return filtered


def encode_lines(lines: list[LogLine], fmt: Format) -> bytes:
    if fmt == "json":
        return _json_lines_frame(lines)
    return _text_frames(lines)


def _text_frames(lines: list[LogLine]) -> bytes:
    """Plain mode: one unnamed event per line so `EventSource.onmessage` and `curl -N` work,
    built for the whole batch in one string (an sse-starlette event object per line cost half
    the loop). A CR or LF inside a line would be read as a line break by SSE parsers: it is
    shown escaped, so one line in is one `data:` out and no text can forge an `id:` or event."""
    texts = [line.text for line in lines]
    joined = "".join(texts)
    if "\r" in joined or "\n" in joined:
        texts = [_one_line(text) for text in texts]
    return "".join([f"id: {line.id}\r\ndata: {text}\r\n\r\n" for line, text in zip(lines, texts)]).encode(
        "utf-8", "replace"
    )


def _json_lines_frame(lines: list[LogLine]) -> bytes:
    """A `lines` event. JSON escapes every control character, CR and LF included, so the data
    field is always one line: no log line can end the field or forge an `id:` or `event:`."""
    data = _JSON.encode(lines)
    return b'id: %d\r\nevent: lines\r\ndata: {"lines":%s}\r\n\r\n' % (lines[-1].id, data)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n") if "\r" in text or "\n" in text else text


def encode_event(event: Gap | SourceChange, fmt: Format) -> bytes:
    name = "gap" if isinstance(event, Gap) else "source"
    data = json.dumps(event.to_json(), ensure_ascii=False, separators=(",", ":"))
    if fmt == "text":
        return ServerSentEvent(comment=f"{name} {data}").encode()
    return ServerSentEvent(data, event=name, id=str(event.id)).encode()
