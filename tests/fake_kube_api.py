"""A fake Kubernetes API server for the pod source's tests: a real HTTP server on 127.0.0.1.

It implements what the pod source calls, the way the real API answers:
- GET  /api/v1/namespaces/{ns}/pods/{name}                      -> Pod, or a 404 Status
- GET  /api/v1/namespaces/{ns}/pods?labelSelector=...            -> PodList with resourceVersion
- GET  /api/v1/namespaces/{ns}/pods?watch=true&resourceVersion=N -> chunked JSON lines
       {"type": "ADDED|MODIFIED|DELETED|BOOKMARK", "object": {...}}, ends after timeoutSeconds
- GET  /api/v1/namespaces/{ns}/pods/{name}/log?container=&follow=&timestamps=&sinceTime=&tailLines=&previous=
       -> text/plain, chunked, lines `2026-11-26T12:00:00.123456789Z text` (RFC3339Nano, trailing
       zeros trimmed as Go does); a follow stream stays open while the container instance runs.
Errors are Status objects (kind Status, reason, message, code) as the real API sends them.

The test drives it: add/delete pods, emit lines, restart containers, cut streams (cleanly or
abruptly, or every N lines), stall them (open, silent), make requests fail with a status (with
Retry-After) or misbehave (a 200 that ends at once, resets, or stays silent), stop and start it on
the same port. Every request is recorded with its time, so a test can count them (`requests_of`).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

TOKEN = "fake-token"


def rfc3339nano(nanoseconds: int) -> str:
    """Go's time.RFC3339Nano in UTC: fractional seconds with trailing zeros removed."""
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def parse_rfc3339(text: str) -> int:
    """An RFC 3339 time (as sinceTime) to nanoseconds since the epoch."""
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * 1_000_000_000 + (
        int(text.split(".")[1].rstrip("Z").ljust(9, "0")[:9]) if "." in text else 0
    )


@dataclass
class Instance:
    """One run of a container: its id, its log, whether it still runs."""

    container_id: str
    started: float
    lines: list[tuple[int, bytes]] = field(default_factory=list)
    running: bool = True
    exit_code: int | None = None
    finished: float | None = None


@dataclass
class Container:
    name: str
    instances: list[Instance] = field(default_factory=list)
    restart_count: int = 0
    waiting_reason: str | None = None  # set while it is not running (ContainerCreating, CrashLoopBackOff)


@dataclass
class Pod:
    namespace: str
    name: str
    labels: dict[str, str]
    containers: dict[str, Container]
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    resource_version: int = 0
    created: float = field(default_factory=time.time)

    def to_json(self) -> dict:
        statuses = []
        for container in self.containers.values():
            current = container.instances[-1] if container.instances else None
            status: dict = {
                "name": container.name,
                "image": f"example/{container.name}:1",
                "imageID": "",
                "restartCount": container.restart_count,
                "ready": bool(current and current.running),
                "started": bool(current and current.running),
                "state": {},
                "lastState": {},
            }
            if current is not None:
                status["containerID"] = current.container_id
            if current is not None and current.running:
                status["state"] = {"running": {"startedAt": _iso(current.started)}}
            elif current is not None and container.waiting_reason is None:
                status["state"] = {"terminated": _terminated(current)}
            else:
                status["state"] = {"waiting": {"reason": container.waiting_reason or "ContainerCreating"}}
            if len(container.instances) > 1 or (current is not None and not current.running and container.waiting_reason):
                last = container.instances[-2] if current and current.running else current
                if last is not None and not last.running:
                    status["lastState"] = {"terminated": _terminated(last)}
            statuses.append(status)
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                "resourceVersion": str(self.resource_version),
                "labels": dict(self.labels),
                "creationTimestamp": _iso(self.created),
            },
            "spec": {"containers": [{"name": name, "image": f"example/{name}:1"} for name in self.containers]},
            "status": {"phase": "Running", "podIP": "10.0.0.7", "containerStatuses": statuses},
        }


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _terminated(instance: Instance) -> dict:
    return {
        "exitCode": instance.exit_code if instance.exit_code is not None else 0,
        "reason": "Completed" if instance.exit_code == 0 else "Error",
        "startedAt": _iso(instance.started),
        "finishedAt": _iso(instance.finished or time.time()),
        "containerID": instance.container_id,
    }


def status_object(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 410: "Expired",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
}
# Ways a request can misbehave with a 200 (`fail(kind, mode)`): the body ends at once, the
# connection is reset right after the headers, or the response stays open and silent.
MISBEHAVIOURS = ("end", "reset", "stall")
_VERBS = {"get": ("get", "pods"), "list": ("list", "pods"), "watch": ("watch", "pods"), "log": ("get", "pods/log")}


def matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality-based label selectors: k=v, k==v, k!=v, k, !k (comma = and)."""
    for term in filter(None, (part.strip() for part in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


class FakeKubeApi:
    """The fake API server and its state; every method is safe to call from the test thread."""

    def __init__(self, service_account: str = "system:serviceaccount:default:log-sidecar") -> None:
        self.service_account = service_account
        self.cond = threading.Condition()
        self.pods: dict[tuple[str, str], Pod] = {}
        self.resource_version = 100
        self.events: list[tuple[int, str, dict, dict[str, str]]] = []  # (rv, type, object, labels)
        self.failures: dict[str, list] = {}  # kind -> [status or misbehaviour, remaining or None, retry_after]
        self.requests: list[tuple[str, dict[str, list[str]], float]] = []  # (kind, query, time.monotonic())
        self.open_log_streams: dict[tuple[str, str], int] = {}  # (pod, container) -> open follow streams
        self.cut_every: int | None = None  # a follow stream is cut after sending this many lines
        self.cut_abruptly = False  # cuts close the connection mid-line instead of ending the response
        self.cut_generation = 0
        self.stall_generation = 0  # bumped by stall_streams(): open follow streams go silent
        self.stopping = 0  # bumped by stop(): every open stream ends
        self.server: ThreadingHTTPServer | None = None
        self.port: int | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # --- server lifecycle ---

    def start(self, port: int | None = None) -> FakeKubeApi:
        fake = self

        class Handler(_Handler):
            api = fake

        server = ThreadingHTTPServer(("127.0.0.1", port if port is not None else (self.port or 0)), Handler)
        server.daemon_threads = True
        self.server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def reserve_port(self) -> int:
        """A free port for a server that is not started yet (API down at start)."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        return self.port

    def stop(self) -> None:
        """Down: stop listening and drop every open connection."""
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.server = None
        with self.cond:
            self.stopping += 1
            for connection in list(self._connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.cond.notify_all()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: Path, token: str = TOKEN, port: int | None = None) -> Path:
        port = port or self.port
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                    "users": [{"name": "tester", "user": {"token": token}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester", "namespace": "default"}}],
                    "current-context": "fake",
                }
            )
        )
        return path

    # --- what the test does to the cluster ---

    def _bump(self, pod: Pod, kind: str) -> None:
        """Record a change of `pod` (lock held) and wake watchers and streams."""
        self.resource_version += 1
        pod.resource_version = self.resource_version
        self.events.append((self.resource_version, kind, pod.to_json(), dict(pod.labels)))
        self.cond.notify_all()

    def add_pod(
        self, name: str, containers: Iterable[str], labels: dict[str, str] | None = None, namespace: str = "default", running: bool = True
    ) -> None:
        with self.cond:
            pod = Pod(namespace, name, labels or {}, {c: Container(c) for c in containers})
            if running:
                for container in pod.containers.values():
                    container.instances.append(Instance(_container_id(), time.time()))
            self.pods[(namespace, name)] = pod
            self._bump(pod, "ADDED")

    def start_container(
        self, name: str, container: str, namespace: str = "default", texts: Iterable[str] = ()
    ) -> None:
        """A container that was waiting starts (a new instance), having written `texts` already."""
        with self.cond:
            pod = self.pods[(namespace, name)]
            state = pod.containers[container]
            if state.instances:
                state.restart_count += 1
            instance = Instance(_container_id(), time.time())
            instance.lines.extend((time.time_ns(), text.encode()) for text in texts)
            state.instances.append(instance)
            state.waiting_reason = None
            self._bump(pod, "MODIFIED")

    def crash(self, name: str, container: str, exit_code: int = 1, namespace: str = "default") -> None:
        """The running instance exits; the container waits in CrashLoopBackOff."""
        with self.cond:
            pod = self.pods[(namespace, name)]
            state = pod.containers[container]
            current = state.instances[-1]
            current.running, current.exit_code, current.finished = False, exit_code, time.time()
            state.waiting_reason = "CrashLoopBackOff"
            self._bump(pod, "MODIFIED")

    def restart(self, name: str, container: str, exit_code: int = 1, namespace: str = "default") -> None:
        """The running instance exits and a new one starts: new containerID, restartCount + 1."""
        self.crash(name, container, exit_code, namespace)
        self.start_container(name, container, namespace)

    def delete_pod(self, name: str, namespace: str = "default") -> None:
        with self.cond:
            pod = self.pods.pop((namespace, name))
            for container in pod.containers.values():
                for instance in container.instances:
                    if instance.running:
                        instance.running, instance.exit_code, instance.finished = False, 0, time.time()
            self._bump(pod, "DELETED")

    def emit(self, name: str, container: str, texts: Iterable[str | bytes], stamps: Iterable[int] | None = None, namespace: str = "default") -> None:
        """Append lines to the running instance's log; `stamps` (ns) default to now."""
        texts = [t.encode() if isinstance(t, str) else t for t in texts]
        stamps = list(stamps) if stamps is not None else [time.time_ns() for _ in texts]
        with self.cond:
            instance = self.pods[(namespace, name)].containers[container].instances[-1]
            assert instance.running, "emit into a container that does not run"
            instance.lines.extend(zip(stamps, texts))
            self.cond.notify_all()

    def cut_streams(self) -> None:
        """End every open log and watch stream now (the API server went away for a moment)."""
        with self.cond:
            self.cut_generation += 1
            self.cond.notify_all()

    def stall_streams(self) -> None:
        """Open follow streams go silent (a black-holed connection) until cut; new ones are fine."""
        with self.cond:
            self.stall_generation += 1
            self.cond.notify_all()

    def fail(self, kind: str, status: int | str, times: int | None = None, retry_after: int | None = None) -> None:
        """Make requests of `kind` (get, list, watch, log) answer `status`, or misbehave (one of
        MISBEHAVIOURS), `times` times or until ok(); `retry_after` adds a Retry-After header."""
        assert isinstance(status, int) or status in MISBEHAVIOURS
        with self.cond:
            self.failures[kind] = [status, times, retry_after]

    def ok(self, kind: str | None = None) -> None:
        with self.cond:
            if kind is None:
                self.failures.clear()
            else:
                self.failures.pop(kind, None)

    def log_requests(self, pod: str, container: str, follow: bool = True) -> int:
        """How many log requests (follow ones by default) were made for a container."""
        return len(self.requests_of("log", pod, container, follow))

    def requests_of(
        self, kind: str, pod: str | None = None, container: str | None = None, follow: bool | None = None
    ) -> list[float]:
        """When (time.monotonic()) requests of `kind` were made, for one pod/container if given."""
        with self.cond:
            return [
                at
                for made, query, at in self.requests
                if made == kind
                and (pod is None or query.get("_pod", [""])[0] == pod)
                and (container is None or query.get("container", [""])[0] == container)
                and (follow is None or (query.get("follow", ["false"])[0] == "true") == follow)
            ]

    def _take_failure(self, kind: str) -> tuple[int | str, int | None] | None:
        with self.cond:
            failure = self.failures.get(kind)
            if failure is None:
                return None
            status, remaining, retry_after = failure
            if remaining is not None:
                if remaining <= 1:
                    del self.failures[kind]
                else:
                    failure[1] = remaining - 1
            return status, retry_after


def _container_id() -> str:
    return "containerd://" + uuid.uuid4().hex


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: FakeKubeApi

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        with self.api.cond:
            self.api._connections.add(self.connection)

    def finish(self) -> None:
        with self.api.cond:
            self.api._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    # --- plumbing ---

    def _json(self, code: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, message: str, details: dict | None = None, headers: dict | None = None) -> None:
        self._json(code, status_object(code, _REASONS.get(code, "Unknown"), message, details), headers)

    def _start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop_connection(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- routing ---

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        parts = url.path.strip("/").split("/")
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._status(401, "Unauthorized")
            return
        # /api/v1/namespaces/{ns}/pods[/{name}[/log]]
        if parts[:3] != ["api", "v1", "namespaces"] or len(parts) < 5 or parts[4] != "pods":
            self._status(404, "the server could not find the requested resource")
            return
        namespace = parts[3]
        if len(parts) == 5:
            kind = "watch" if query.get("watch", ["false"])[0] in ("true", "1") else "list"
        elif len(parts) == 6:
            kind = "get"
        elif len(parts) == 7 and parts[6] == "log":
            kind = "log"
            query["_pod"] = [parts[5]]
        else:
            self._status(404, "the server could not find the requested resource")
            return
        with self.api.cond:
            self.api.requests.append((kind, query, time.monotonic()))
        failure = self.api._take_failure(kind)
        if failure is not None:
            self._fail(*failure, kind, namespace, parts[5] if len(parts) > 5 else None)
            return
        getattr(self, f"_do_{kind}")(namespace, parts[5] if len(parts) > 5 else None, query)

    def _fail(self, status: int | str, retry_after: int | None, kind: str, namespace: str, name: str | None) -> None:
        if isinstance(status, str):
            self._misbehave(status, kind)
            return
        verb, resource = _VERBS[kind]
        if status == 403:
            subject = f'pods "{name}"' if name else "pods"
            message = (
                f'{subject} is forbidden: User "{self.api.service_account}" cannot {verb} resource "{resource}" '
                f'in API group "" in the namespace "{namespace}"'
            )
            self._status(403, message, {"name": name or "", "kind": resource})
        else:
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
            self._status(status, f"fake failure {status} on {kind}", headers=headers)

    def _misbehave(self, mode: str, kind: str) -> None:
        """A 200 whose body ends at once, is reset after the headers, or stays silent until cut."""
        api = self.api
        self._start_chunked("application/json" if kind == "watch" else "text/plain")
        if mode == "end":
            self._end_chunked()
        elif mode == "reset":
            self._drop_connection()
        else:
            with api.cond:
                stopping, cuts = api.stopping, api.cut_generation
                while api.stopping == stopping and api.cut_generation == cuts:
                    api.cond.wait(0.5)
            self._drop_connection()

    def _do_get(self, namespace: str, name: str, query: dict) -> None:
        with self.api.cond:
            pod = self.api.pods.get((namespace, name))
            body = pod.to_json() if pod else None
        if body is None:
            self._status(404, f'pods "{name}" not found', {"name": name, "kind": "pods"})
        else:
            self._json(200, body)

    def _do_list(self, namespace: str, name: None, query: dict) -> None:
        selector = query.get("labelSelector", [""])[0]
        with self.api.cond:
            items = [p.to_json() for (ns, _), p in self.api.pods.items() if ns == namespace and matches(selector, p.labels)]
            version = str(self.api.resource_version)
        self._json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": version}, "items": items})

    def _do_watch(self, namespace: str, name: None, query: dict) -> None:
        selector = query.get("labelSelector", [""])[0]
        since = query.get("resourceVersion", [""])[0]
        timeout = float(query.get("timeoutSeconds", ["1800"])[0])
        deadline = time.monotonic() + timeout
        api = self.api
        with api.cond:
            stopping, cuts = api.stopping, api.cut_generation
            if since in ("", "0"):
                pending = [("ADDED", p.to_json()) for (ns, _), p in api.pods.items() if ns == namespace and matches(selector, p.labels)]
                after = api.resource_version
            else:
                after = int(since)
                if api.events and after < api.events[0][0] - 1:
                    pending = [("ERROR", status_object(410, "Expired", f"too old resource version: {after}"))]
                else:
                    pending = []
        self._start_chunked("application/json")
        try:
            while True:
                for kind, obj in pending:
                    self._chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
                with api.cond:
                    while True:
                        fresh = [
                            (version, kind, obj)
                            for version, kind, obj, labels in api.events
                            if version > after and obj["metadata"]["namespace"] == namespace and matches(selector, labels)
                        ]
                        if fresh or api.stopping != stopping or api.cut_generation != cuts or time.monotonic() >= deadline:
                            break
                        api.cond.wait(min(0.2, max(0.01, deadline - time.monotonic())))
                    if api.stopping != stopping or api.cut_generation != cuts:
                        self._drop_connection()
                        return
                if not fresh and time.monotonic() >= deadline:
                    self._end_chunked()
                    return
                after = max(version for version, _, _ in fresh) if fresh else after
                pending = [(kind, obj) for _, kind, obj in fresh]
        except OSError:
            self.close_connection = True

    def _do_log(self, namespace: str, name: str, query: dict) -> None:
        api = self.api

        def flag(key: str) -> bool:
            return query.get(key, ["false"])[0] in ("true", "1")

        container_name = query.get("container", [""])[0]
        with api.cond:
            pod = api.pods.get((namespace, name))
            if pod is None:
                error = (404, f'pods "{name}" not found')
            elif not container_name and len(pod.containers) > 1:
                error = (400, f"a container name must be specified for pod {name}, choose one of: {list(pod.containers)}")
            else:
                container = pod.containers.get(container_name or next(iter(pod.containers)))
                error = None if container else (400, f"container {container_name} is not valid for pod {name}")
            if error is None:
                if flag("previous"):
                    instance = container.instances[-2] if len(container.instances) > 1 else None
                    if instance is None:
                        error = (400, f'previous terminated container "{container.name}" in pod "{name}" not found')
                else:
                    instance = container.instances[-1] if container.instances else None
                    if instance is None:
                        error = (400, f'container "{container.name}" in pod "{name}" is waiting to start: ContainerCreating')
        if error is not None:
            self._status(*error)
            return
        since = parse_rfc3339(query["sinceTime"][0]) if query.get("sinceTime") else None
        tail = int(query["tailLines"][0]) if query.get("tailLines") else None
        follow = flag("follow") and not flag("previous")
        timestamps = flag("timestamps")
        key = (name, container.name)

        def render(lines: list[tuple[int, bytes]]) -> bytes:
            if timestamps:
                return b"".join(rfc3339nano(stamp).encode() + b" " + text + b"\n" for stamp, text in lines)
            return b"".join(text + b"\n" for _, text in lines)

        with api.cond:
            lines = [entry for entry in instance.lines if since is None or entry[0] >= since]
            if tail is not None:
                lines = lines[-tail:] if tail > 0 else []
            position = len(instance.lines)
            stopping, cuts, stalls = api.stopping, api.cut_generation, api.stall_generation
            api.open_log_streams[key] = api.open_log_streams.get(key, 0) + (1 if follow else 0)
        self._start_chunked("text/plain")
        sent = 0
        try:
            while True:
                if api.cut_every is not None and follow and sent + len(lines) >= api.cut_every:
                    keep = api.cut_every - sent
                    self._chunk(render(lines[:keep]))
                    if api.cut_abruptly and keep < len(lines):
                        partial = render(lines[keep : keep + 1])
                        self._chunk(partial[: len(partial) // 2])
                        self._drop_connection()
                    else:
                        self._end_chunked()
                    return
                self._chunk(render(lines))
                sent += len(lines)
                if not follow:
                    self._end_chunked()
                    return
                with api.cond:
                    while (
                        (len(instance.lines) == position and instance.running) or api.stall_generation != stalls
                    ) and api.stopping == stopping and api.cut_generation == cuts:
                        api.cond.wait(0.5)
                    if api.stopping != stopping or api.stall_generation != stalls:
                        self._drop_connection()
                        return
                    lines = instance.lines[position:]
                    position = len(instance.lines)
                    ended = api.cut_generation != cuts or (not instance.running and not lines)
                if ended:
                    if lines:
                        self._chunk(render(lines))
                    self._end_chunked()
                    return
        except OSError:
            self.close_connection = True
        finally:
            with api.cond:
                api.open_log_streams[key] -= 1 if follow else 0
