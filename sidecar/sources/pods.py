"""The pod log API source: containers followed through the Kubernetes API, one stream each.

Two modes (settings.pod_source):
- `own`: the sidecar's own pod (pod_name/pod_namespace from the Downward API); every container
  of its spec but the sidecar's own (or only those in pod_containers). Needs `get pods` and
  `get pods/log`. The pod is polled with GET when a stream ends, to tell a cut from a restart.
- `selector`: pods matching pod_selector in pod_namespace, listed then watched; new pods are
  followed, deleted pods end. Needs `get`, `list`, `watch` on pods and `get pods/log`.

Each container is one hub source, id `<pod>.<container>` (anything outside [A-Za-z0-9._-]
replaced by `_`), kind `pod`, target `namespace/pod/container`. Its follower (ContainerFollower)
reads `follow=true&timestamps=true` in a thread of its own (kube.ThreadedStream), strips the
timestamp and uses it as the line's time. A broken or stalled stream is resumed with `sinceTime`
(one-second precision) a second before the newest line seen: the follower remembers the lines of
those last seconds by (timestamp, text) and drops exactly those, so there is no duplicate and no
gap even though stdout and stderr are stamped independently (stamps are not monotonic).

No hot loop against the API server: a container's attempts (one log request, one pod GET) wait
their turn, and the wait grows on every API error, every stream that ends within a second and
every stream with no new line (`ContainerFollower._pace_stream`, `_failed`); Retry-After wins
when longer. Selector mode paces its list and watch the same way.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import Counter
from typing import Any

from sidecar.config import Settings
from sidecar.hub import Hub
from sidecar.lines import LogLine, detect_level, utf8_prefix
from sidecar.sources.kube import (
    KubeApi,
    KubeError,
    LogResponse,
    StreamEnded,
    ThreadedStream,
    Watcher,
    load_api_client,
    parse_timestamp,
    since_time,
)

log = logging.getLogger(__name__)

# First retry delay; doubles per failure up to settings.pod_backoff_max, with jitter.
BACKOFF_FIRST = 0.5
# How often a container that is not running (not started yet, crash-looping) is looked at again
# (own mode polls with GET): from the first interval, doubling while it stays so, up to the last.
POD_POLL_SECONDS = 2.0
POD_POLL_MAX_SECONDS = 10.0
# Chunks already read that are parsed and published as one batch.
BATCH_CHUNKS = 64
# A stream that ends this fast, or with no new line, counts as a failure (backs off, no hot loop).
SHORT_STREAM_SECONDS = 1.0
# Longest Retry-After honoured (a bad header must not stop a source for hours).
RETRY_AFTER_MAX = 600.0
# A resume (sinceTime, whole seconds) starts this much before the newest line seen, so a line stamped
# a little earlier than lines before it (stdout and stderr are stamped independently) is not missed.
RESUME_OVERLAP_SECONDS = 1
NS = 1_000_000_000
# After a pod is deleted, its streams get this long to deliver their last lines.
DELETE_GRACE_SECONDS = 5.0
# Room for the "2026-11-26T12:00:00.123456789Z " prefix beside a line of max_line_bytes.
TIMESTAMP_ROOM = 64

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def source_id_for(*parts: str) -> str:
    """`pod.container` with anything outside [A-Za-z0-9._-] replaced by `_`."""
    return _UNSAFE.sub("_", ".".join(parts))


class LineSplitter:
    """Bytes of a `timestamps=true` log stream -> (timestamp ns or None, text bytes, truncated).

    Only complete lines come out; the rest waits for the next chunk. A line longer than
    `max_line_bytes` is cut and marked, and the rest of it is skipped up to its newline, so a
    huge line neither stops the stream nor grows memory.
    """

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self._partial = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[tuple[int | None, bytes, bool]]:
        out = []
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            piece = data[start:newline]
            start = newline + 1
            if self._skipping:
                self._skipping = False
                continue
            if self._partial:
                self._partial += piece
                piece = bytes(self._partial)
                self._partial.clear()
            out.append(self._line(piece))
        if start < len(data) and not self._skipping:
            self._partial += data[start:]
            if len(self._partial) > self.max_line_bytes + TIMESTAMP_ROOM:
                out.append(self._line(bytes(self._partial)))
                self._partial.clear()
                self._skipping = True
        return out

    def _line(self, raw: bytes) -> tuple[int | None, bytes, bool]:
        space = raw.find(b" ", 0, TIMESTAMP_ROOM)
        stamp = parse_timestamp(raw[:space]) if space > 0 else None
        body = raw[space + 1 :] if stamp is not None else raw
        if len(body) > self.max_line_bytes:
            return stamp, utf8_prefix(body, self.max_line_bytes), True
        return stamp, body, False


class SeenLines:
    """The lines published lately, by (timestamp, hash of text), to drop them from a resumed stream.

    Kept: every line stamped at or after `boundary()` (the second RESUME_OVERLAP_SECONDS before the
    newest stamp), which is exactly what a resume with sinceTime=boundary() sends again. The check is
    a multiset, so it needs neither monotonic stamps nor the API's order; k identical lines (same
    nanosecond, same text) are skipped k times.
    """

    def __init__(self) -> None:
        self.newest: int | None = None
        self._by_second: dict[int, Counter[tuple[int, int]]] = {}
        self._replay: Counter[tuple[int, int]] = Counter()  # what the current resumed stream sends again

    def boundary(self) -> int | None:
        if self.newest is None:
            return None
        return (self.newest // NS - RESUME_OVERLAP_SECONDS) * NS

    def resume(self) -> int | None:
        """Start a resumed stream: returns its sinceTime (ns), None when nothing was seen yet."""
        self._replay = Counter()
        for seen in self._by_second.values():
            self._replay.update(seen)
        return self.boundary()

    def accept(self, stamp: int, body: bytes) -> bool:
        """False for a line already published (the overlap of a resumed stream); else note it."""
        key = (stamp, hash(body))
        if self._replay.get(key, 0) > 0:
            self._replay[key] -= 1
            return False
        self._by_second.setdefault(stamp // NS, Counter())[key] += 1
        if self.newest is None or stamp > self.newest:
            newest_second = None if self.newest is None else self.newest // NS
            self.newest = stamp
            if newest_second != stamp // NS:
                self._prune()
        return True

    def _prune(self) -> None:
        first = (self.boundary() or 0) // NS
        for second in [s for s in self._by_second if s < first]:
            del self._by_second[second]


class PodView:
    """The latest object of one pod, and a way for its followers to wait for news of it.

    Fed by the watch (selector mode) or by GET (own mode, `polled`); `refresh` always GETs,
    sharing one request among the followers that ask at the same time.
    """

    def __init__(self, api: KubeApi, namespace: str, name: str, polled: bool) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.polled = polled
        self.obj: dict | None = None
        self.deleted = False
        self._changed = asyncio.Event()
        self._refresh: asyncio.Future | None = None

    @property
    def uid(self) -> str | None:
        return ((self.obj or {}).get("metadata") or {}).get("uid")

    def update(self, obj: dict) -> None:
        self.obj = obj
        self._notify()

    def mark_deleted(self) -> None:
        self.deleted = True
        self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def refresh(self) -> None:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.ensure_future(self._get())
            self._refresh.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved
        await asyncio.shield(self._refresh)

    async def _get(self) -> None:
        try:
            obj = await asyncio.to_thread(self.api.get_pod, self.namespace, self.name)
        except KubeError as error:
            if error.status == 404:
                self.mark_deleted()
                return
            raise
        if self.uid is not None and obj.get("metadata", {}).get("uid") != self.uid:
            self.mark_deleted()  # the name now belongs to a new pod: this one is gone
            return
        self.update(obj)

    async def wait_change(self, timeout: float) -> None:
        """Until the pod changes (watch) or `timeout` passes; polled views GET after the wait."""
        if self.polled:
            await asyncio.sleep(timeout)
            await self.refresh()
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    def container_names(self) -> list[str]:
        return [c["name"] for c in ((self.obj or {}).get("spec") or {}).get("containers") or []]

    def container_status(self, container: str) -> dict | None:
        for status in ((self.obj or {}).get("status") or {}).get("containerStatuses") or []:
            if status.get("name") == container:
                return status
        return None


def _complete(data: bytes) -> bytes:
    """A whole (non-follow) log body ends its last line even without a final newline."""
    return data + b"\n" if data and not data.endswith(b"\n") else data


def _is_running(status: dict | None) -> bool:
    return bool(status) and "running" in (status.get("state") or {})


def _waiting_reason(status: dict | None) -> str:
    state = (status or {}).get("state") or {}
    for key in ("waiting", "terminated"):
        if key in state:
            reason = (state[key] or {}).get("reason") or key
            return f"container {key}: {reason}"
    return "container not started yet"


class ContainerFollower:
    """One container of one pod: one API log stream at a time, resumed without loss or repeat."""

    def __init__(self, owner: PodLogSource, pod: PodView, container: str) -> None:
        self.owner = owner
        self.settings = owner.settings
        self.hub = owner.hub
        self.api = owner.api
        self.pod = pod
        self.container = container
        self.id = source_id_for(pod.name, container)
        self.target = f"{pod.namespace}/{pod.name}/{container}"
        # The container instance followed, and where we are in its log.
        self.container_id: str | None = None
        self.restart_count: int | None = None
        self.first_instance = True  # the instance running when first seen: begin with its tail
        self.seen = SeenLines()  # where we are in its log
        self.finished = False  # this instance was read to its end after it stopped
        self.opens = 0  # streams opened on this instance
        # Health, for states, events and back-off.
        self.failures = 0  # consecutive failed attempts: errors, streams that ended at once or empty
        self.trouble: str | None = None
        self.reconnect_reason: str | None = None
        self._stream: ThreadedStream | None = None
        self._proven: asyncio.TimerHandle | None = None
        self._polls = 0  # looks in a row at a container that does not run

    # --- lifecycle ---

    async def run(self) -> None:
        existed = self.id in self.hub.sources
        self.hub.add_source(self.id, "pod", self.target)
        if existed:  # the same pod and container name again (a re-created pod)
            self.hub.announce(self.id, "added", kind="pod", target=self.target)
        self.hub.set_state(self.id, "starting")
        try:
            await self._follow()
        finally:
            self.abort_stream()
        self.hub.set_state(self.id, "ended")
        self.hub.announce(self.id, "ended", reason="pod deleted")

    def abort_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()

    async def _follow(self) -> None:
        stale = False
        while not self.pod.deleted:
            try:
                if stale:  # after an error, look again: the container may have restarted meanwhile
                    await self.pod.refresh()
                    stale = False
                    continue
                await self._step()
            except KubeError as error:
                stale = True
                if error.status == 404:  # the pod may be gone: look before retrying
                    try:
                        await self.pod.refresh()
                        stale = False
                    except KubeError:
                        pass
                if self.pod.deleted:
                    break
                await self._failed(error)
            except Exception as error:  # a bug must not stop this container for good: report, retry
                log.exception("%s: unexpected error", self.id)
                stale = True
                await self._failed(KubeError(0, "follow the log", self.pod.namespace, repr(error)))

    async def _step(self) -> None:
        """Look at the container once and act: wait, note a restart, or follow one stream."""
        if self.container not in self.pod.container_names():
            names = ", ".join(self.pod.container_names()) or "none"
            message = f"pod {self.pod.namespace}/{self.pod.name} has no container {self.container} (it has: {names})"
            self._set_state("error", message)
            await self.pod.wait_change(max(POD_POLL_SECONDS, self.settings.pod_backoff_max))
            return
        status = self.pod.container_status(self.container)
        container_id = (status or {}).get("containerID")
        if not container_id:
            if self.container_id is None:
                self.first_instance = False  # it starts after we first saw it: read it from its first line
            self._set_state("starting", _waiting_reason(status))
            await self.pod.wait_change(self._poll_seconds())
            return
        if self.container_id is None:
            self.container_id, self.restart_count = container_id, status.get("restartCount")
        elif container_id != self.container_id:
            await self._restarted(status)
        if self.finished:
            self._set_state("idle", _waiting_reason(status))
            await self.pod.wait_change(self._poll_seconds())
            return
        self._polls = 0
        running_at_open = _is_running(status)
        opened_at = time.monotonic()
        outcome, lines = await self._read_stream()
        if outcome == "stall":
            log.info("%s: no data for %ss, reconnecting", self.id, self.settings.pod_stall_seconds)
            self.hub.metrics.source_errors.labels(self.id, "stall").inc()
        elif outcome == "broken":
            self.hub.metrics.source_errors.labels(self.id, "broken").inc()
        await self._pace_stream(opened_at, lines, outcome)
        # The stream ended: a cut (rotation, timeout, proxy, network), a stall, or the container
        # stopped or restarted meanwhile. Look at the pod again right before any reopen.
        await self.pod.refresh()
        status = self.pod.container_status(self.container)
        if self.pod.deleted or (status or {}).get("containerID") != self.container_id:
            return  # handled on the next step (ended, or restarted)
        if not _is_running(status):
            if not running_at_open:
                self.finished = True  # opened after it stopped: we have read all of it
            return
        self.reconnect_reason = {"stall": "stalled", "broken": "connection broken"}.get(outcome, "stream ended")

    async def _pace_stream(self, opened_at: float, lines: int, outcome: str) -> None:
        """After a stream that ended at once or brought no new line, wait: no hot loop.

        The wait counts from the stream's opening, so a stream that stayed open longer than the
        back-off (a quiet container behind a proxy that cuts idle connections) reopens at once.
        A stream the API ended or broke at once with nothing new is shown as trouble; a stall (our
        own timeout on a quiet container) and a stream that brought news are paced, not shown.
        """
        lasted = time.monotonic() - opened_at
        if lasted >= SHORT_STREAM_SECONDS and (lines or lasted >= self.settings.pod_backoff_max):
            self.failures = 0
            return
        self.failures += 1
        delay = max(0.0, opened_at + self._backoff() - time.monotonic())
        if lasted < SHORT_STREAM_SECONDS and not lines and outcome != "stall":
            self.hub.metrics.source_errors.labels(self.id, "short-stream").inc()
            what = "broke" if outcome == "broken" else "ended"
            message = f"log stream {what} at once with no new line (within {SHORT_STREAM_SECONDS:g}s of opening)"
            self._trouble("backoff", message, delay, status=None, permission=None)
        await asyncio.sleep(delay)

    def _poll_seconds(self) -> float:
        """The wait before looking again at a container that does not run: grows while it stays so."""
        self._polls += 1
        interval = min(POD_POLL_MAX_SECONDS, POD_POLL_SECONDS * 2 ** min(self._polls - 1, 8))
        return min(interval, self.settings.pod_backoff_max)

    # --- one stream ---

    def _open_arguments(self) -> dict[str, Any]:
        since = self.seen.resume()
        if since is not None:
            return {"since_time": since_time(since)}
        if self.first_instance:
            return {"tail_lines": self.settings.pod_tail_lines}
        return {}  # a new instance: all of its log is new

    async def _read_stream(self) -> tuple[str, int]:
        """Follow one log stream until it ends ("end") or stalls ("stall"); returns lines published."""
        arguments = self._open_arguments()
        pod = self.pod

        def open_response() -> Any:
            return self.api.open_log(pod.namespace, pod.name, self.container, follow=True, **arguments)

        response = LogResponse(open_response)
        stream = ThreadedStream(response.chunks, response.abort, name=f"pod-log {self.id}").start()
        self._stream = stream
        splitter = LineSplitter(self.settings.max_line_bytes)
        published = 0
        try:
            while True:
                try:
                    chunk = await stream.get(timeout=self.settings.pod_stall_seconds)
                except TimeoutError:
                    return "stall", published
                except StreamEnded:
                    return "end", published
                except KubeError:
                    raise
                except Exception as error:  # the connection broke mid-stream (reset, incomplete chunk)
                    log.info("%s: log stream broken: %s", self.id, error)
                    return "broken", published
                if chunk == b"":
                    self._opened()
                    continue
                chunks = [chunk, *stream.get_ready(BATCH_CHUNKS)]
                count = self._publish(splitter, chunks)
                if count and not published:
                    self._healthy()
                published += count
        finally:
            stream.close()
            self._stream = None
            if self._proven is not None:
                self._proven.cancel()
                self._proven = None

    def _opened(self) -> None:
        """The API accepted the request. Without trouble before, we follow at once; after
        trouble, only once the stream proves healthy (a new line, or a second open)."""
        if self.opens:
            self.hub.metrics.source_reconnects.labels(self.id).inc()
        self.opens += 1
        if self.trouble is None:
            self._healthy()
        else:
            self._proven = asyncio.get_running_loop().call_later(SHORT_STREAM_SECONDS, self._healthy)

    def _healthy(self) -> None:
        if self._proven is not None:
            self._proven.cancel()
            self._proven = None
        if self.trouble or self.reconnect_reason:
            self.hub.announce(self.id, "reconnected", reason=self.reconnect_reason or "recovered", after_error=self.trouble)
        self.trouble = self.reconnect_reason = None
        self._set_state("following")

    def _publish(self, splitter: LineSplitter, chunks: list[bytes]) -> int:
        lines = self._to_lines(splitter, chunks, keep=self._accept)
        self.hub.record_bytes(self.id, sum(len(chunk) for chunk in chunks))
        self.hub.publish(self.id, lines)
        return len(lines)

    def _to_lines(self, splitter: LineSplitter, chunks: list[bytes], keep: Any) -> list[LogLine]:
        lines = []
        for chunk in chunks:
            for stamp, body, truncated in splitter.feed(chunk):
                if stamp is not None and not keep(stamp, body):
                    continue
                when = stamp / 1e9 if stamp is not None else time.time()
                lines.append(LogLine(self.id, body.decode("utf-8", "replace"), when, truncated=truncated))
                if truncated:
                    self.hub.metrics.lines_truncated.labels(self.id).inc()
        return lines

    def _accept(self, stamp: int, body: bytes) -> bool:
        return self.seen.accept(stamp, body)

    # --- restarts ---

    async def _restarted(self, status: dict) -> None:
        previous_id, previous_count = self.container_id, self.restart_count
        restart_count = status.get("restartCount")
        missed = None
        if isinstance(restart_count, int) and isinstance(previous_count, int):
            missed = max(0, restart_count - previous_count - 1)
        caught_up = 0
        if missed == 0:
            # Lines the old instance wrote after our stream of it broke, if any.
            try:
                caught_up = await self._catch_up_previous()
            except KubeError as error:
                log.info("%s: previous instance's last lines not read: %s", self.id, error)
        terminated = (status.get("lastState") or {}).get("terminated") or {}
        self.hub.announce(
            self.id,
            "restarted",
            restart_count=restart_count,
            container_id=status.get("containerID"),
            previous_container_id=previous_id,
            exit_code=terminated.get("exitCode"),
            reason=terminated.get("reason"),
            missed_instances=missed,
            caught_up_lines=caught_up,
        )
        self.container_id, self.restart_count = status.get("containerID"), restart_count
        self.first_instance = False
        self.seen = SeenLines()
        self.finished = False
        self.opens = 0
        self.reconnect_reason = None

    async def _catch_up_previous(self) -> int:
        arguments = self._open_arguments()
        pod = self.pod

        def read() -> bytes:
            return self.api.open_log(pod.namespace, pod.name, self.container, follow=False, previous=True, **arguments).data

        data = await asyncio.to_thread(read)
        return self._publish(LineSplitter(self.settings.max_line_bytes), [_complete(data)])

    async def previous_lines(self, tail: int) -> list[LogLine]:
        """The last `tail` lines of the previous (terminated) instance; [] when there is none."""
        pod = self.pod

        def read() -> bytes:
            return self.api.open_log(
                pod.namespace, pod.name, self.container, follow=False, previous=True, tail_lines=tail
            ).data

        try:
            data = await asyncio.to_thread(read)
        except KubeError as error:
            if error.status in (400, 404):  # no previous instance
                return []
            raise
        splitter = LineSplitter(self.settings.max_line_bytes)
        lines = self._to_lines(splitter, [_complete(data)], keep=lambda stamp, body: True)
        for line in lines:
            line.level = detect_level(line.text)
        return lines

    # --- errors ---

    def _set_state(self, state: str, error: str | None = None) -> None:
        self.hub.set_state(self.id, state, error)

    def _backoff(self) -> float:
        """The wait after the latest of `failures` failures in a row."""
        return _backoff_delay(self.failures - 1, self.settings.pod_backoff_max)

    def _trouble(self, state: str, message: str, delay: float, **detail: Any) -> None:
        """Show a failure: state with the next try, an `error` event when the failure is new."""
        self._set_state(state, f"{message}; try {self.failures + 1} in {delay:.1f}s")
        if message != self.trouble:
            log.warning("%s: %s", self.id, message)
            self.hub.announce(self.id, "error", message=message, retry_in=round(delay, 3), attempt=self.failures, **detail)
        self.trouble = message

    async def _failed(self, error: KubeError) -> None:
        self.failures += 1
        self.owner.count_error(self.id, error)
        delay = _retry_delay(error, self._backoff())
        message = error.describe()
        if error.status == 400:  # "container ... is waiting to start": not a fault of ours
            self._set_state("starting", message)
            self.trouble = message
        else:
            state = "error" if error.forbidden else "backoff"
            self._trouble(state, message, delay, status=error.status, permission=error.action)
        self.reconnect_reason = f"after error: HTTP {error.status}" if error.status else "after error: API unreachable"
        await asyncio.sleep(delay)


def _retry_delay(error: KubeError, backoff: float) -> float:
    """The back-off, or longer when the API said so (Retry-After, on 429 and 503)."""
    if error.retry_after is None:
        return backoff
    return max(backoff, min(error.retry_after, RETRY_AFTER_MAX))


def _backoff_delay(failures: int, cap: float) -> float:
    """Exponential from BACKOFF_FIRST, capped, with jitter (between half and all of it)."""
    delay = min(cap, min(BACKOFF_FIRST, cap) * 2 ** min(failures, 30))
    return random.uniform(delay / 2, delay)


class PodLogSource:
    """The `pod` source: finds the containers to follow and runs one ContainerFollower each.

    The constructor loads credentials and raises `KubeCredentialsError` (a RuntimeError with a
    message for the user) when there are none, so the sidecar fails at start, not later.
    """

    def __init__(self, settings: Settings, hub: Hub) -> None:
        if settings.pod_source == "off" or not settings.pod_namespace:
            raise ValueError("PodLogSource needs pod_source=own|selector and pod_namespace")
        self.settings = settings
        self.hub = hub
        self.namespace = settings.pod_namespace
        self.api_client, self.credentials = load_api_client()
        requests = hub.metrics.kube_api_requests
        for kind in ("get", "list", "watch", "log"):
            requests.labels(kind)  # every series from 0, so the first burst shows in increase()
        self.api = KubeApi(self.api_client, on_request=lambda kind: requests.labels(kind).inc())
        self.pods: dict[str, PodView] = {}
        self.followers: dict[str, ContainerFollower] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._failures = 0
        self._discovery_trouble: str | None = None
        if settings.pod_source == "own":
            assert settings.pod_name
            self._discovery_id = source_id_for(settings.pod_name)
            self._discovery_target = f"{self.namespace}/{settings.pod_name}"
        else:
            assert settings.pod_selector
            self._discovery_id = source_id_for("selector", settings.pod_selector)
            self._discovery_target = f"{self.namespace}/pods?labelSelector={settings.pod_selector}"

    async def run(self) -> None:
        log.info(
            "pod source: mode %s in namespace %s, credentials from %s",
            self.settings.pod_source,
            self.namespace,
            self.credentials,
        )
        try:
            if self.settings.pod_source == "own":
                await self._run_own()
            else:
                await self._run_selector()
        finally:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.api_client.close()

    # --- what to follow ---

    def wants(self, container: str) -> bool:
        if self.settings.pod_containers:
            return container in self.settings.pod_containers
        return container != self.settings.pod_self_container

    def _ensure_followers(self, view: PodView) -> None:
        if view.deleted:
            return
        names = view.container_names()
        if self.settings.pod_containers:  # asked for by name: shown even if missing (as an error)
            names = list(dict.fromkeys([*names, *self.settings.pod_containers]))
        for container in names:
            if not self.wants(container):
                continue
            source_id = source_id_for(view.name, container)
            follower = self.followers.get(source_id)
            if follower is not None and not self._tasks[source_id].done():
                continue
            follower = ContainerFollower(self, view, container)
            self.followers[source_id] = follower
            task = asyncio.create_task(follower.run(), name=f"pod-follower {source_id}")
            task.add_done_callback(lambda t, f=follower: self._follower_done(f, t))
            self._tasks[source_id] = task

    def _follower_done(self, follower: ContainerFollower, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: follower failed", follower.id, exc_info=task.exception())
        current = self.pods.get(follower.pod.name)
        if current is not None and current is not follower.pod and not current.deleted:
            self._ensure_followers(current)  # the pod was re-created under the same name

    async def previous_lines(self, source_id: str, tail: int = 100) -> list[LogLine]:
        """The previous (terminated) instance's last `tail` lines of a container; [] if none.

        Raises LookupError for an id that is not a container of this source, and KubeError
        when the API fails. Lines carry no hub id (0): they are history, not part of the stream.
        """
        follower = self.followers.get(source_id)
        if follower is None:
            raise LookupError(source_id)
        return await follower.previous_lines(tail)

    # --- own pod ---

    async def _run_own(self) -> None:
        assert self.settings.pod_name
        view = PodView(self.api, self.namespace, self.settings.pod_name, polled=True)
        self.pods[view.name] = view
        while True:
            try:
                await view.refresh()
                if view.deleted:
                    raise KubeError(404, "get pods", self.namespace, f"pod {view.name} not found (check pod_name)")
                break
            except KubeError as error:
                view.deleted = False
                await self._discovery_failed(error)
        self._failures = 0
        self._discovery_recovered()
        self._ensure_followers(view)
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            if all(task.done() for task in self._tasks.values()):
                break

    # --- pods by label selector ---

    async def _run_selector(self) -> None:
        assert self.settings.pod_selector
        resource_version: str | None = None
        while True:
            started = time.monotonic()
            error: KubeError | None = None
            try:
                if resource_version is None:
                    pods, resource_version = await asyncio.to_thread(
                        self.api.list_pods, self.namespace, self.settings.pod_selector
                    )
                    self._discovery_recovered()
                    self._sync(pods)
                resource_version = await self._watch(resource_version)
            except KubeError as failure:
                resource_version = None  # list again: events may have been missed
                error = failure
            lasted = time.monotonic() - started
            if lasted >= SHORT_STREAM_SECONDS:
                self._failures = 0  # the watch held: the next trouble starts from the first back-off
            # A watch that ended, expired (410) or broke after it held is simply opened again; one
            # that did so at once backs off like a failure, so the loop can never run hot.
            quiet = error is None or error.status == 410 or (error.action == "watch pods" and error.status == 0)
            if quiet and lasted >= SHORT_STREAM_SECONDS:
                continue
            if quiet:
                self._failures += 1
                self.hub.metrics.source_errors.labels(self._discovery_id, "short-stream").inc()
                await asyncio.sleep(_backoff_delay(self._failures - 1, self.settings.pod_backoff_max))
                continue
            assert error is not None
            await self._discovery_failed(error)

    def _sync(self, pods: list[dict]) -> None:
        listed = {pod["metadata"]["name"] for pod in pods}
        for name in list(self.pods):
            if name not in listed:
                self._pod_deleted(name)
        for pod in pods:
            self._pod_seen(pod)

    async def _watch(self, resource_version: str) -> str:
        """Apply pod events until the server ends the watch; returns the resourceVersion reached."""
        watcher = Watcher()
        selector = self.settings.pod_selector or ""

        def events() -> Any:
            return self.api.watch_pods(self.namespace, selector, resource_version, watcher)

        stream = ThreadedStream(events, watcher.stop, name="pod-watch").start()
        try:
            while True:
                try:
                    event = await stream.get()
                except StreamEnded:
                    return watcher.watch.resource_version or resource_version
                kind, obj = event.get("type"), event.get("object") or {}
                version = (obj.get("metadata") or {}).get("resourceVersion")
                if version:
                    resource_version = version
                if kind in ("ADDED", "MODIFIED"):
                    self._pod_seen(obj)
                elif kind == "DELETED":
                    self._pod_deleted(obj["metadata"]["name"], obj["metadata"].get("uid"))
        finally:
            stream.close()

    def _pod_seen(self, obj: dict) -> None:
        name = obj["metadata"]["name"]
        view = self.pods.get(name)
        if view is not None and view.uid not in (None, obj["metadata"].get("uid")):
            self._pod_deleted(name)  # same name, new pod
            view = None
        if view is None or view.deleted:
            view = PodView(self.api, self.namespace, name, polled=False)
            self.pods[name] = view
        view.update(obj)
        self._ensure_followers(view)

    def _pod_deleted(self, name: str, uid: str | None = None) -> None:
        view = self.pods.get(name)
        if view is None or view.deleted or (uid is not None and view.uid not in (None, uid)):
            return
        view.mark_deleted()
        del self.pods[name]
        loop = asyncio.get_running_loop()
        for follower in self.followers.values():
            if follower.pod is view:
                loop.call_later(DELETE_GRACE_SECONDS, follower.abort_stream)

    # --- errors ---

    def count_error(self, source_id: str, error: KubeError) -> None:
        self.hub.metrics.api_errors.labels(str(error.status)).inc()
        reason = {0: "unreachable", 401: "unauthorized", 403: "forbidden"}.get(error.status, "api")
        self.hub.metrics.source_errors.labels(source_id, reason).inc()

    async def _discovery_failed(self, error: KubeError) -> None:
        """Finding the pods failed: shown on a source of its own (the containers are not known)."""
        self._failures += 1
        source_id = self._discovery_id
        self.count_error(source_id, error)
        self.hub.add_source(source_id, "pod", self._discovery_target)
        message = error.describe()
        self.hub.set_state(source_id, "error" if error.forbidden else "backoff", message)
        if message != self._discovery_trouble:
            log.warning("pod source: %s", message)
            self.hub.announce(source_id, "error", status=error.status, message=message, permission=error.action)
        self._discovery_trouble = message
        await asyncio.sleep(_retry_delay(error, _backoff_delay(self._failures - 1, self.settings.pod_backoff_max)))

    def _discovery_recovered(self) -> None:
        # _failures is left alone: only a watch that held resets it (a list that works while the
        # watch fails at once must not restart the back-off, or list + watch would run hot).
        if self._discovery_trouble is not None:
            # The record only existed to show the failure; it holds no lines. "ended" keeps it
            # out of readiness, which the containers' own states decide.
            self.hub.set_state(self._discovery_id, "ended")
            self.hub.announce(self._discovery_id, "reconnected", reason="recovered", after_error=self._discovery_trouble)
            self._discovery_trouble = None
