"""Every Prometheus metric of the sidecar, declared once on an injectable registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

PREFIX = "log_sidecar"
disable_created_metrics()  # the *_created series only add noise for counters that live as long as the process


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
        self.lines_sent = Counter(f"{PREFIX}_lines_sent", "Lines sent to clients, over all streams.", ["format"], registry=r)
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
        self.rejected_streams = Counter(
            f"{PREFIX}_rejected_streams", "Streams refused with 429 over the stream cap.", registry=r
        )
        self.delivery_lag = Histogram(
            f"{PREFIX}_delivery_lag_seconds",
            "Time from a line being read to its batch being handed to a client connection.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
