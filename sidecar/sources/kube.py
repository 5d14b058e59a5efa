"""The Kubernetes API as the pod source needs it: credentials, blocking calls, threaded streams.

Everything that talks to the official `kubernetes` client lives here. Its calls block, so the
pod source runs one-shot calls with `asyncio.to_thread` and reads each long-lived stream (a
log follow or a pod watch) in a dedicated thread that hands chunks to the event loop
(`ThreadedStream`). Objects are kept as the API's own JSON dicts (camelCase), not models.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import urllib3

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from sidecar.sources import SourceError

# Connect quickly or fail (then back off); a one-shot call never hangs longer than this.
CONNECT_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0
# A watch is re-opened by the server after about this long (with the last resourceVersion).
WATCH_SECONDS = 300
# urllib3 keeps this many connections per host: one per followed container plus the watch.
CONNECTION_POOL = 100
# A request that got no answer at all is sent again once at once (a pooled connection the server
# had just closed); anything more is the pod source's back-off, so no failure multiplies requests.
TRANSPORT_RETRIES = 1


class KubeCredentialsError(ValueError):
    """No usable in-cluster service account and no kubeconfig: the pod source cannot start.

    A ValueError, like a bad setting: `log-sidecar serve` prints it and exits with status 2.
    """


class KubeError(SourceError):
    """A failed API call, with what we were doing, so a user can act on it."""

    def __init__(
        self, status: int, action: str, namespace: str, message: str, retry_after: float | None = None
    ) -> None:
        self.status = status  # HTTP status, 0 when the API did not answer
        self.action = action  # RBAC verb and resource, e.g. "get pods/log"
        self.namespace = namespace
        self.message = message
        self.retry_after = retry_after  # seconds the API asked us to wait (Retry-After), if it did
        super().__init__(self.describe())

    @property
    def forbidden(self) -> bool:
        return self.status in (401, 403)

    def describe(self) -> str:
        if self.status == 403:
            return (
                f"forbidden: the service account needs RBAC permission '{self.action}' in namespace "
                f"{self.namespace} (API: {self.message})"
            )
        if self.status == 401:
            return f"unauthorized: the API rejected the credentials while trying to {self.action} ({self.message})"
        if self.status == 0:
            return f"Kubernetes API unreachable ({self.action}): {self.message}"
        return f"{self.action} failed: HTTP {self.status}: {self.message}"


def load_api_client() -> tuple[client.ApiClient, str]:
    """An ApiClient from the in-cluster service account, else the kubeconfig (KUBECONFIG or ~/.kube/config).

    Returns the client and a description of where the credentials came from.
    """
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
        origin = "in-cluster service account"
    except config.ConfigException as incluster_error:
        # Read KUBECONFIG now (the client reads it once, at import); it may list several files.
        kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        try:
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        except (config.ConfigException, OSError, ValueError, TypeError) as kube_error:
            raise KubeCredentialsError(
                "pod source: no Kubernetes credentials. Run in a pod with a service account "
                f"(in-cluster: {incluster_error}) or set KUBECONFIG to a kubeconfig file "
                f"(tried {kubeconfig}: {kube_error})"
            ) from None
        origin = f"kubeconfig {kubeconfig}"
    configuration.connection_pool_maxsize = CONNECTION_POOL
    configuration.retries = urllib3.Retry(total=TRANSPORT_RETRIES, status=0, redirect=0, raise_on_status=False)
    configuration.keep_alive = True  # idle proxies and load balancers drop silent connections
    return client.ApiClient(configuration), origin


def _api_error(error: BaseException, action: str, namespace: str) -> KubeError:
    if isinstance(error, KubeError):
        return error
    if isinstance(error, ApiException) and error.status:
        message = error.reason or ""
        try:
            status_object = json.loads(error.body or "")
            message = status_object.get("message") or message
        except (ValueError, AttributeError):
            pass
        return KubeError(int(error.status), action, namespace, message, _retry_after(error.headers))
    return KubeError(0, action, namespace, f"{type(error).__name__}: {error}")


def _retry_after(headers: Any) -> float | None:
    """The Retry-After header (seconds, or an HTTP date) in seconds from now; None if absent or bad."""
    value = (headers or {}).get("Retry-After") if hasattr(headers, "get") else None
    if not value:
        return None
    value = str(value).strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class KubeApi:
    """Blocking calls on one ApiClient; call them from a worker thread, never from the loop."""

    def __init__(self, api_client: client.ApiClient, on_request: Callable[[str], None] | None = None) -> None:
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self._on_request = on_request or (lambda kind: None)  # counts requests by kind: get, list, watch, log

    def get_pod(self, namespace: str, name: str) -> dict:
        self._on_request("get")
        try:
            response = self.core.read_namespaced_pod(
                name, namespace, _preload_content=False, _request_timeout=(CONNECT_TIMEOUT, REQUEST_TIMEOUT)
            )
            return json.loads(response.data)
        except Exception as error:
            raise _api_error(error, "get pods", namespace) from None

    def list_pods(self, namespace: str, selector: str) -> tuple[list[dict], str]:
        """The pods matching `selector` and the list's resourceVersion to watch from."""
        self._on_request("list")
        try:
            response = self.core.list_namespaced_pod(
                namespace,
                label_selector=selector,
                _preload_content=False,
                _request_timeout=(CONNECT_TIMEOUT, REQUEST_TIMEOUT),
            )
            body = json.loads(response.data)
        except Exception as error:
            raise _api_error(error, "list pods", namespace) from None
        return body.get("items") or [], (body.get("metadata") or {}).get("resourceVersion", "")

    def open_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        follow: bool,
        since_time: str | None = None,
        tail_lines: int | None = None,
        previous: bool = False,
        read_timeout: float | None = None,
    ) -> Any:
        """Open GET .../pods/{pod}/log with timestamps; returns the urllib3 response, unread.

        The generated `read_namespaced_pod_log` has no `sinceTime` parameter (only the relative
        `sinceSeconds`), so the request is built with the same ApiClient (auth, TLS, host).
        """
        query: list[tuple[str, Any]] = [("container", container), ("timestamps", True)]
        if follow:
            query.append(("follow", True))
        if previous:
            query.append(("previous", True))
        if since_time is not None:
            query.append(("sinceTime", since_time))
        if tail_lines is not None:
            query.append(("tailLines", tail_lines))
        self._on_request("log")
        try:
            request = self.api_client.param_serialize(
                method="GET",
                resource_path="/api/v1/namespaces/{namespace}/pods/{name}/log",
                path_params={"namespace": namespace, "name": pod},
                query_params=query,
                header_params={"Accept": "text/plain"},
                auth_settings=["BearerToken"],
            )
            response = self.api_client.call_api(*request, _request_timeout=(CONNECT_TIMEOUT, read_timeout))
            if not 200 <= response.status <= 299:
                response.read()
                raise ApiException(http_resp=response)
            return response.response
        except Exception as error:
            raise _api_error(error, "get pods/log", namespace) from None

    def watch_pods(self, namespace: str, selector: str, resource_version: str, stopper: Watcher) -> Iterator[dict]:
        """Pod events after `resource_version` as dicts {"type", "object"}; ends after WATCH_SECONDS."""
        self._on_request("watch")
        try:
            yield from stopper.watch.stream(
                self.core.list_namespaced_pod,
                namespace,
                label_selector=selector,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_SECONDS,
                _request_timeout=(CONNECT_TIMEOUT, WATCH_SECONDS + 30),
            )
        except Exception as error:
            raise _api_error(error, "watch pods", namespace) from None


class Watcher:
    """Holds the client's Watch so another thread can stop it (it shuts the socket down)."""

    def __init__(self) -> None:
        # return_type "object" keeps each event's object as the API's dict (no model).
        self.watch = watch.Watch(return_type="object")

    def stop(self) -> None:
        self.watch.stop()


class LogResponse:
    """A log response read chunk by chunk; `abort` unblocks a read from another thread."""

    def __init__(self, open_response: Callable[[], Any], chunk_bytes: int = 65_536) -> None:
        self._open = open_response
        self._chunk_bytes = chunk_bytes
        self._response: Any = None
        self._aborted = False
        self._lock = threading.Lock()

    def chunks(self) -> Iterator[bytes]:
        response = self._open()
        with self._lock:
            self._response = response
            aborted = self._aborted
        try:
            if aborted:
                return
            yield b""  # opened: the API accepted the request (an empty chunk is never data)
            # Chunked responses yield each chunk as it arrives, not after `amt` bytes.
            for chunk in response.stream(self._chunk_bytes, decode_content=True):
                if chunk:
                    yield chunk
        finally:
            response.release_conn()
            response.close()

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            response = self._response
        if response is None:
            return
        try:
            response.shutdown()  # urllib3 >= 2.3: unblocks a read in another thread
            return
        except Exception:
            pass
        sock = getattr(getattr(response, "connection", None), "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # already closed: nothing is blocked on it
                pass


class StreamEnded(Exception):
    """The server ended the stream cleanly."""


class ThreadedStream:
    """Runs a blocking iterator in its own thread and hands its items to the event loop.

    At most `max_pending` items wait in the loop's queue (the thread blocks after that), so a
    busy loop slows the reader instead of growing memory. `close()` aborts the blocking read.
    """

    def __init__(self, items: Callable[[], Iterator[Any]], abort: Callable[[], None], name: str, max_pending: int = 16):
        self._items = items
        self._abort = abort
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._held: tuple[str, Any] | None = None  # an end or error seen by get_ready
        self._credits = threading.Semaphore(max_pending)
        self._closed = False
        self._thread = threading.Thread(target=self._pump, name=name, daemon=True)

    def start(self) -> ThreadedStream:
        self._thread.start()
        return self

    def _pump(self) -> None:
        try:
            for item in self._items():
                self._credits.acquire()
                if self._closed:
                    break
                self._put("item", item)
            self._put("end", None)
        except BaseException as error:  # handed to the loop, raised there
            self._put("error", error)

    def _put(self, kind: str, value: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: the process is exiting
            pass

    def _unpack(self, entry: tuple[str, Any]) -> Any:
        kind, value = entry
        if kind == "item":
            self._credits.release()
            return value
        if kind == "end":
            raise StreamEnded()
        raise value

    async def get(self, timeout: float | None = None) -> Any:
        """The next item; StreamEnded at the end; the reader's exception; TimeoutError if none came."""
        if self._held is not None:
            entry, self._held = self._held, None
            return self._unpack(entry)
        return self._unpack(await asyncio.wait_for(self._queue.get(), timeout))

    def get_ready(self, limit: int) -> list[Any]:
        """Items already waiting, without blocking; an end or error is kept for the next `get`."""
        items = []
        while len(items) < limit and self._held is None:
            try:
                entry = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if entry[0] == "item":
                items.append(self._unpack(entry))
            else:
                self._held = entry
        return items

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._credits.release()
        self._abort()


# --- timestamps ---

_RFC3339 = re.compile(rb"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")
_EPOCH_CACHE: dict[bytes, int] = {}


def parse_timestamp(raw: bytes) -> int | None:
    """RFC 3339 (nano) timestamp -> integer nanoseconds since the epoch, or None if not one."""
    match = _RFC3339.match(raw)
    if match is None:
        return None
    seconds_text, fraction, zone = match.groups()
    key = seconds_text + zone
    seconds = _EPOCH_CACHE.get(key)
    if seconds is None:
        text = (seconds_text + (b"+00:00" if zone == b"Z" else zone)).decode()
        try:
            seconds = int(datetime.fromisoformat(text).timestamp())
        except ValueError:
            return None
        if len(_EPOCH_CACHE) > 4096:
            _EPOCH_CACHE.clear()
        _EPOCH_CACHE[key] = seconds
    nanos = int(fraction.ljust(9, b"0")) if fraction else 0
    return seconds * 1_000_000_000 + nanos


def since_time(nanoseconds: int) -> str:
    """`sinceTime` for a timestamp: RFC 3339 truncated to the second (the API's precision)."""
    moment = datetime.fromtimestamp(nanoseconds // 1_000_000_000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
