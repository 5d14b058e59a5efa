"""The loop-only counter and histogram expose exactly what prometheus_client's own would."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from sidecar.ops.loop_metrics import LoopCounter, LoopHistogram
from sidecar.ops.metrics import DELIVERY_LAG_BUCKETS, Metrics


def test_the_histogram_exposes_what_prometheus_clients_histogram_would() -> None:
    rng = random.Random(7)
    ours_registry, theirs_registry = CollectorRegistry(), CollectorRegistry()
    ours = LoopHistogram("lag_seconds", "Lag.", DELIVERY_LAG_BUCKETS, ours_registry)
    theirs = Histogram("lag_seconds", "Lag.", buckets=DELIVERY_LAG_BUCKETS, registry=theirs_registry)
    # Values on the bounds themselves (le: a value equal to a bound is counted in it), between
    # them, below the first, above the last, and zero.
    values = [*DELIVERY_LAG_BUCKETS, 0.0, 11.0, 1e6, *(rng.expovariate(50) for _ in range(2000))]
    for value in values:
        ours.observe(value)
        theirs.observe(value)
    assert generate_latest(ours_registry) == generate_latest(theirs_registry)
    assert ours.count == len(values)


def test_the_counter_exposes_what_prometheus_clients_counter_would() -> None:
    ours_registry, theirs_registry = CollectorRegistry(), CollectorRegistry()
    ours = LoopCounter("sent", "Sent.", ["format"], ours_registry)
    theirs = Counter("sent", "Sent.", ["format"], registry=theirs_registry)
    for fmt, amount in [("json", 3), ("text", 1), ("json", 2.5), ("text", 0), ('we"ird\\', 1)]:
        ours.labels(fmt).inc(amount)
        theirs.labels(fmt).inc(amount)
    ours.labels("born")
    theirs.labels("born")
    assert generate_latest(ours_registry) == generate_latest(theirs_registry)


def test_bad_use_is_refused_as_prometheus_client_would() -> None:
    registry = CollectorRegistry()
    counter = LoopCounter("sent_total", "Sent.", ["format"], registry)
    with pytest.raises(ValueError):
        counter.labels("json").inc(-1)
    with pytest.raises(ValueError):
        counter.labels("json", "extra")
    with pytest.raises(ValueError):  # the same name twice on one registry
        LoopCounter("sent", "Sent.", ["format"], registry)
    with pytest.raises(ValueError):
        LoopHistogram("h", "H.", [], registry)


def test_the_sidecars_metrics_keep_their_names_and_types() -> None:
    metrics = Metrics()
    metrics.lines_sent.labels("json").inc(4)
    metrics.delivery_lag.observe(0.002)
    text = generate_latest(metrics.registry).decode()
    assert "# TYPE log_sidecar_lines_sent_total counter" in text
    assert 'log_sidecar_lines_sent_total{format="json"} 4.0' in text
    assert "# TYPE log_sidecar_delivery_lag_seconds histogram" in text
    assert 'log_sidecar_delivery_lag_seconds_bucket{le="0.001"} 0.0' in text
    assert 'log_sidecar_delivery_lag_seconds_bucket{le="0.0025"} 1.0' in text
    assert "log_sidecar_delivery_lag_seconds_count 1.0" in text
