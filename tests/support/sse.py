"""A small real SSE client on top of httpx + httpx-sse, collecting events with deadlines."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field

import httpx
from httpx_sse import ServerSentEvent, connect_sse


END = ServerSentEvent(event="end-of-stream")  # put in the queue when the server ends the stream


@dataclass
class StreamReader:
    """Reads /api/stream in a thread so a test can write lines while events arrive."""

    url: str
    params: dict | None = None
    headers: dict | None = None
    events: queue.Queue = field(default_factory=queue.Queue)
    status: int | None = None
    response_headers: httpx.Headers | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _connected: threading.Event = field(default_factory=threading.Event)

    def start(self) -> StreamReader:
        threading.Thread(target=self._run, daemon=True).start()
        if not self._connected.wait(10):
            raise TimeoutError("stream did not connect")
        return self

    def _run(self) -> None:
        try:
            with httpx.Client(timeout=httpx.Timeout(10, read=60)) as client:
                with connect_sse(client, "GET", self.url + "/api/stream", params=self.params, headers=dict(self.headers or {})) as source:
                    self.status = source.response.status_code
                    self.response_headers = source.response.headers
                    self._connected.set()
                    for event in source.iter_sse():
                        self.events.put(event)
                        if self._stop.is_set():
                            return
                    self.events.put(END)
        except Exception as error:  # surfaced to the test through the queue
            self.events.put(error)
        finally:
            self._connected.set()

    def stop(self) -> None:
        self._stop.set()

    def next_event(self, timeout: float = 10) -> ServerSentEvent:
        item = self.events.get(timeout=timeout)
        if isinstance(item, Exception):
            raise item
        return item

    def collect_lines(self, count: int, timeout: float = 20) -> tuple[list[dict], list[ServerSentEvent]]:
        """Lines from `lines` events until `count` arrived; other events are returned beside them."""
        lines: list[dict] = []
        others: list[ServerSentEvent] = []
        deadline = time.monotonic() + timeout
        while len(lines) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"got {len(lines)} of {count} lines; other events: {[e.event for e in others]}")
            try:
                event = self.next_event(remaining)
            except queue.Empty:
                continue
            if event.event == "lines":
                lines.extend(json.loads(event.data)["lines"])
            else:
                others.append(event)
        return lines, others

    def wait_for(self, event_name: str, timeout: float = 10) -> ServerSentEvent:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {event_name} event")
            try:
                event = self.next_event(remaining)
            except queue.Empty:
                continue
            if event.event == event_name:
                return event
