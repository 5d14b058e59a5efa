"""The tests' one SSE client of /api/stream: real httpx + httpx-sse, read on a thread.

The stream is read the way a browser's EventSource reads it: a block without data (the
opening `retry:` block, keep-alive comments) dispatches nothing, and only its reconnection
time is kept (`retry`). Every event that is dispatched is recorded in order, so a test can
write lines while events arrive and then either

- look at the whole record: `lines()`, `texts()`, `changes()`, `gaps()`, `events`, and
  `wait(predicate, what)` until it holds; or
- read it in order, each item once, from where it last stopped: `until(done)`,
  `until_line(text)`, `until_change(source, change)`, `collect_lines(count)`,
  `wait_for(name)` and `next_event()` (which gives `END` once the server ended the stream).

An item is one line of a `lines` event, `("line", line)`, or one other event,
`(name, data)` with its data decoded from JSON. Every wait has a deadline and fails with the
last events received; it fails at once if the stream has ended or broken.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Self

import httpx
from httpx_sse import ServerSentEvent, connect_sse

WAIT = 15.0  # default bound for anything to arrive; a wait ends as soon as it does
END = ServerSentEvent(event="end-of-stream")  # what next_event() gives once the server ended the stream

Item = tuple[str, Any]  # ("line", line) or (event name, decoded data)


def lines_of(items: Iterable[Item], source: str | None = None) -> list[dict]:
    """The lines among `items`, of one source or of all."""
    return [data for kind, data in items if kind == "line" and (source is None or data["source"] == source)]


def texts_of(items: Iterable[Item], source: str | None = None) -> list[str]:
    return [line["text"] for line in lines_of(items, source)]


def changes_of(items: Iterable[Item], source: str | None = None) -> list[dict]:
    """The data of the `source` events among `items`, of one source or of all."""
    return [data for kind, data in items if kind == "source" and (source is None or data["source"] == source)]


def _said(what: str | Callable[[], str]) -> str:
    return what() if callable(what) else what


class StreamClient:
    """One client of /api/stream, read on a thread; see the module's docstring."""

    def __init__(self, url: str, params: dict | None = None, headers: dict | None = None) -> None:
        self.url = url
        self.params = params
        self.request_headers = dict(headers or {})
        self.status: int | None = None
        self.response_headers: httpx.Headers | None = None
        self.retry: int | None = None  # the reconnection time the server set, in ms
        self.events: list[ServerSentEvent] = []  # every dispatched event, in order
        self.ended = False  # the server ended the stream
        self.error: BaseException | None = None  # or reading it failed
        self._items: list[tuple[str, Any, int]] = []  # (kind, data, index in events)
        self._read = 0  # items already read in order
        self._cond = threading.Condition()
        self._opened = threading.Event()
        self._closed = threading.Event()
        self._started = False
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=None))

    # --- connection ---

    def start(self, timeout: float = 10) -> Self:
        """Connect; returns once the response headers are in (or connecting failed)."""
        if self._started:  # a second connection would record its events into the same list
            raise AssertionError("this StreamClient is already connected (the with block starts it)")
        self._started = True
        threading.Thread(target=self._run, daemon=True, name=f"sse {self.url}").start()
        if not self._opened.wait(timeout):
            raise AssertionError(f"stream did not open within {timeout} s")
        return self

    def close(self) -> None:
        """Stop recording and drop the connection."""
        self._closed.set()
        self._client.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            with connect_sse(self._client, "GET", self.url + "/api/stream", params=self.params, headers=self.request_headers) as source:
                self.status = source.response.status_code
                self.response_headers = source.response.headers
                self._opened.set()
                source.response.raise_for_status()
                for event in source.iter_sse():
                    if self._closed.is_set():
                        return
                    self._record(event)
            self._finish(None)
        except Exception as error:  # noqa: BLE001 - reported to the waiting test
            self._finish(error)
        finally:
            self._opened.set()

    def _record(self, event: ServerSentEvent) -> None:
        if not event.data:  # retry-only or comment block: EventSource dispatches nothing either
            if event.retry is not None:
                with self._cond:
                    self.retry = event.retry
                    self._cond.notify_all()
            return
        try:
            data = json.loads(event.data)
        except ValueError:
            data = event.data  # format=text
        with self._cond:
            if event.retry is not None:
                self.retry = event.retry
            index = len(self.events)
            self.events.append(event)
            if event.event == "lines":
                self._items.extend(("line", line, index) for line in data["lines"])
            else:
                self._items.append((event.event, data, index))
            self._cond.notify_all()

    def _finish(self, error: BaseException | None) -> None:
        if self._closed.is_set():
            return  # closing the client breaks the read: that is no failure
        with self._cond:
            self.ended, self.error = error is None, error
            self._cond.notify_all()

    # --- the whole record ---

    def lines(self, source: str | None = None) -> list[dict]:
        with self._cond:
            return lines_of(((kind, data) for kind, data, _ in self._items), source)

    def texts(self, source: str | None = None) -> list[str]:
        return [line["text"] for line in self.lines(source)]

    def changes(self, source: str | None = None) -> list[dict]:
        with self._cond:
            return changes_of(((kind, data) for kind, data, _ in self._items), source)

    def gaps(self) -> list[dict]:
        with self._cond:
            return [data for kind, data, _ in self._items if kind == "gap"]

    def wait(self, predicate: Callable[[], object], what: str | Callable[[], str], timeout: float = WAIT) -> None:
        """Until `predicate()` holds, checked each time an event arrives; fails after `timeout`
        seconds, or at once if the stream is over, saying `what` it waited for and the last events."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                if self.ended or self.error is not None:
                    how = "ended" if self.ended else f"failed ({self.error!r})"
                    raise AssertionError(f"stream {how} before {_said(what)}; {self._last_events()}") from self.error
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {_said(what)}; {self._last_events()}")
                self._cond.wait(left)

    def _last_events(self, count: int = 20) -> str:
        def describe(event: ServerSentEvent) -> str:
            if event.event == "lines":
                texts = [line["text"][:60] for line in json.loads(event.data)["lines"]]
                shown = texts if len(texts) <= 4 else [*texts[:2], f"... {len(texts) - 4} more ...", *texts[-2:]]
                return f"lines {shown}"
            return f"{event.event} {event.data[:200]}"

        shown = [describe(event) for event in self.events[-count:]]
        return f"last {len(shown)} of {len(self.events)} events: {shown}"

    # --- reading in order, each item once ---

    def _read_until(self, take: Callable[[str, Any, int], bool], what: str | Callable[[], str], timeout: float) -> None:
        """Hands the unread items to `take` in order until it returns True."""

        def taken() -> bool:
            while self._read < len(self._items):
                kind, data, index = self._items[self._read]
                self._read += 1
                if take(kind, data, index):
                    return True
            return False

        self.wait(taken, what, timeout)

    def _take_rest_of(self, index: int) -> list[Any]:
        """Reads the unread items of event `index` (an event's items are recorded at once)."""
        rest = []
        while self._read < len(self._items) and self._items[self._read][2] == index:
            rest.append(self._items[self._read][1])
            self._read += 1
        return rest

    def until(self, done: Callable[[str, Any], bool], timeout: float = WAIT, what: str = "the item awaited") -> list[Item]:
        """The items up to and including the first one `done(kind, data)` accepts."""
        seen: list[Item] = []

        def take(kind: str, data: Any, index: int) -> bool:
            seen.append((kind, data))
            return done(kind, data)

        self._read_until(take, what, timeout)
        return seen

    def until_line(self, text: str, timeout: float = WAIT) -> list[Item]:
        return self.until(lambda kind, data: kind == "line" and data["text"] == text, timeout, f"the line {text!r}")

    def until_change(self, source: str, change: str, timeout: float = WAIT) -> list[Item]:
        wanted = (source, change)

        def done(kind: str, data: Any) -> bool:
            return kind == "source" and (data["source"], data["change"]) == wanted

        return self.until(done, timeout, f"a {change!r} source event of {source}")

    def collect_lines(self, count: int, timeout: float = 20) -> tuple[list[dict], list[ServerSentEvent]]:
        """Lines of whole `lines` events until `count` came; the other events are returned beside them."""
        lines: list[dict] = []
        others: list[ServerSentEvent] = []

        def take(kind: str, data: Any, index: int) -> bool:
            if kind != "line":
                others.append(self.events[index])
                return False
            lines.append(data)
            lines.extend(self._take_rest_of(index))
            return len(lines) >= count

        self._read_until(take, lambda: f"{count} lines (got {len(lines)}; other events: {[e.event for e in others]})", timeout)
        return lines, others

    def wait_for(self, name: str, timeout: float = 10) -> ServerSentEvent:
        """The next event called `name`; the events before it are read and passed over."""
        found: list[ServerSentEvent] = []

        def take(kind: str, data: Any, index: int) -> bool:
            self._take_rest_of(index)
            if self.events[index].event == name:
                found.append(self.events[index])
            return bool(found)

        self._read_until(take, f"a {name} event", timeout)
        return found[0]

    def next_event(self, timeout: float = 10) -> ServerSentEvent:
        """The next unread event; `END` once the server ended the stream and all was read."""
        with self._cond:
            self.wait(lambda: self._read < len(self._items) or self.ended, "the next event", timeout)
            if self._read == len(self._items):
                return END
            index = self._items[self._read][2]
            self._take_rest_of(index)
            return self.events[index]
