"""Every Prometheus metric of the sidecar, declared once on an injectable registry."""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from sidecar import __version__
from sidecar.ops.loop_metrics import LoopCounter, LoopHistogram

PREFIX = "log_sidecar"
STREAM_CLOSE_REASONS = ("client", "send-timeout", "dead-peer", "shutdown", "server")
# Label values known in advance per source kind: their series exist (at 0) from the source's
# creation, so the first burst shows in increase() and alerts see a series before it moves.
ROTATION_KINDS = ("rotated", "truncated")
ERROR_REASONS = {
    "file": ("EACCES", "ENOENT", "unexpected"),
    "pod": ("stall", "broken", "unreachable", "unauthorized", "forbidden", "api"),
}
DELIVERY_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
disable_created_metrics()  # the *_created series only add noise for counters that live as long as the process


class ReadCounters(NamedTuple):
    """One source's children of the counters every read moves."""

    lines_read: Counter
    bytes_read: Counter
    lines_evicted: Counter


class Metrics:
    """One instance per app, so tests can run several apps in one process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        r = self.registry
        self.lines_read = Counter(f"{PREFIX}_lines_read", "Lines read from a source.", ["source"], registry=r)
        self.bytes_read = Counter(f"{PREFIX}_bytes_read", "Bytes read from a source.", ["source"], registry=r)
        self.lines_truncated = Counter(
            f"{PREFIX}_lines_truncated", "Lines cut at the maximum line length.", ["source"], registry=r
        )
        # Bumped once per client wake-up: lock-free, loop-only series (loop_metrics.py).
        self.lines_sent = LoopCounter(f"{PREFIX}_lines_sent", "Lines sent to clients, over all streams.", ["format"], r)
        self.lines_dropped = Counter(
            f"{PREFIX}_lines_dropped", "Lines a slow client missed (it was sent a gap event).", ["source"], registry=r
        )
        self.lines_evicted = Counter(
            f"{PREFIX}_lines_evicted", "Lines pushed out of a source's ring buffer.", ["source"], registry=r
        )
        self.gaps = Counter(f"{PREFIX}_gaps", "Gap events sent to clients.", ["reason"], registry=r)
        self.rotations = Counter(
            f"{PREFIX}_rotations", "File rotations and truncations seen.", ["source", "kind"], registry=r
        )
        self.source_errors = Counter(
            f"{PREFIX}_source_errors", "Errors while reading a source.", ["source", "reason"], registry=r
        )
        self.lines_lost = Counter(
            f"{PREFIX}_lines_lost", "Lines known lost before they were read (e.g. a rotated file gone).",
            ["source", "reason"], registry=r,
        )
        self.bytes_lost = Counter(
            f"{PREFIX}_bytes_lost", "Bytes known lost before they were read, where lines cannot be counted.",
            ["source", "reason"], registry=r,
        )
        self.watch_mode = Gauge(
            f"{PREFIX}_watch_mode", "How a file source sees changes: 1 for its mode (inotify or poll).",
            ["source", "mode"], registry=r,
        )
        self.source_reconnects = Counter(
            f"{PREFIX}_source_reconnects", "Times a source's stream was opened again.", ["source"], registry=r
        )
        self.api_errors = Counter(
            f"{PREFIX}_kube_api_errors", "Kubernetes API errors by HTTP status (0: no answer).", ["status"], registry=r
        )
        self.kube_api_requests = Counter(
            f"{PREFIX}_kube_api_requests", "Requests sent to the Kubernetes API, by kind (get, list, watch, log).",
            ["kind"], registry=r,
        )
        self.active_streams = Gauge(f"{PREFIX}_active_streams", "Clients connected to /api/stream.", registry=r)
        self.streams_closed = Counter(
            f"{PREFIX}_streams_closed", "Streams ended, by why: client, send-timeout, dead-peer, shutdown, server.",
            ["reason"], registry=r,
        )
        for reason in STREAM_CLOSE_REASONS:
            self.streams_closed.labels(reason)
        self.rejected_streams = Counter(
            f"{PREFIX}_rejected_streams", "Streams refused with 429 over the stream cap.", registry=r
        )
        self.build_info = Gauge(f"{PREFIX}_build_info", "Always 1; the version in a label.", ["version"], registry=r)
        self.build_info.labels(__version__).set(1)
        self.delivery_lag = LoopHistogram(
            f"{PREFIX}_delivery_lag_seconds",
            "Time from a line being read to its batch being handed to a client connection.",
            DELIVERY_LAG_BUCKETS, r,
        )
        # --- entries (sidecar/entries/ingest.py) ---
        self.redactions = Counter(
            f"{PREFIX}_redactions", "Secrets replaced at ingest, by rule.", ["source", "rule"], registry=r
        )
        self.pattern_matches = Counter(
            f"{PREFIX}_pattern_matches", "Lines matching a LOG_SIDECAR_COUNT pattern.", ["source", "pattern"], registry=r
        )

    def per_source(self) -> list[Counter | Gauge]:
        """Series labelled by source."""
        return [self.lines_read, self.bytes_read, self.lines_truncated, self.lines_dropped, self.lines_evicted,
                self.rotations, self.source_errors, self.source_reconnects, self.lines_lost, self.bytes_lost,
                self.watch_mode, self.redactions, self.pattern_matches]

    def birth_source(self, source: str, kind: str) -> None:
        """Every known series of a new source, at 0."""
        for counter in (self.lines_read, self.bytes_read, self.lines_truncated, self.lines_dropped,
                        self.lines_evicted, self.source_reconnects):
            counter.labels(source)
        for rotation in ROTATION_KINDS:
            self.rotations.labels(source, rotation)
        for reason in ERROR_REASONS.get(kind, ()):
            self.source_errors.labels(source, reason)
        if kind == "file":
            self.lines_lost.labels(source, "rotated-unread")
            self.bytes_lost.labels(source, "rotated-unread")

    def read_counters(self, source: str) -> ReadCounters:
        """The series a source moves on every read, looked up once (a `labels()` lookup per
        series per read was a few per cent of a single-line read). Stale once `forget_source`
        removed them: ask again then."""
        return ReadCounters(self.lines_read.labels(source), self.bytes_read.labels(source),
                            self.lines_evicted.labels(source))

    def forget_source(self, source: str) -> None:
        """Remove every series of a released source (a deleted dated file, a replaced pod): a
        sidecar that outlives thousands of them must not export thousands of dead series."""
        for counter in self.per_source():
            counter.remove_by_labels({"source": source})
