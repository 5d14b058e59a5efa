"""Wiring: settings -> hub + sources -> HTTP transports, with ops beside them."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import make_asgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sidecar import __version__
from sidecar.api import headers, history, session, stream, viewer
from sidecar.config import Settings
from sidecar.entries.ingest import IngestConfig
from sidecar.hub import Hub
from sidecar.lines import LEVELS
from sidecar.ops import budget, health
from sidecar.ops.access_log import AccessLogMiddleware
from sidecar.ops.auth import Authenticator, AuthMiddleware
from sidecar.ops.metrics import Metrics
from sidecar.sources import Source, build_sources

logger = logging.getLogger(__name__)


def build_app(settings: Settings, extra_jobs: list[Callable[[], object]] | None = None) -> FastAPI:
    """The whole sidecar as an ASGI app. `extra_jobs` are coroutine factories run beside the
    sources (the demo's log writer uses it)."""
    metrics = Metrics()
    limit = budget.cgroup_memory_limit()
    total = settings.buffer_total_bytes or budget.default_budget(limit)
    logger.info(budget.describe(total, settings.buffer_total_bytes is not None, limit))
    hub = Hub(
        metrics, settings.buffer_lines, settings.buffer_bytes, settings.client_queue_lines,
        budget_bytes=total, ingest=IngestConfig.from_settings(settings),
    )
    sources = build_sources(settings, hub)
    metrics.registry.register(SourceStateCollector(hub))
    metrics.registry.register(HubCollector(hub))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.loop_watch = health.LoopWatch()
        state.source_tasks = [_start(source) for source in sources]
        helpers = [
            asyncio.create_task(state.loop_watch.run(), name="loop-watch"),
            asyncio.create_task(_release_ended(hub, settings.ended_retention), name="release-ended"),
        ]
        helpers += [asyncio.create_task(job(), name="job") for job in extra_jobs or []]
        gc.freeze()  # what was built at start lives as long as the process: never scanned again
        try:
            yield
        finally:
            for task in [*state.source_tasks, *helpers]:
                task.cancel()
            await asyncio.gather(*state.source_tasks, *helpers, return_exceptions=True)

    app = FastAPI(
        title="log-sidecar",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # Swagger UI loads from a CDN; clusters are often air-gapped.
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.hub = hub
    app.state.streams = stream.StreamCount()
    app.state.authenticator = Authenticator(settings)
    app.state.readiness = lambda: _readiness(settings, hub, sources)
    app.state.source_tasks = []
    # Optional capability of a source (the pod log API): history that lives outside the hub.
    app.state.previous_lines = next((s.previous_lines for s in sources if hasattr(s, "previous_lines")), None)

    for module in (health, history, stream, session, viewer):
        app.include_router(module.router)
    app.mount("/static", viewer.static_files(), name="static")
    app.router.routes.append(Route("/metrics", endpoint=MetricsEndpoint(make_asgi_app(metrics.registry))))
    app.add_exception_handler(RequestValidationError, _bad_request)

    # Outermost last: access log sees every request; auth runs before any route.
    app.add_middleware(AuthMiddleware, authenticator=app.state.authenticator, protect_metrics=settings.metrics_auth)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Last-Event-ID", "X-Requested-With"],
        )
    app.add_middleware(headers.SecurityHeadersMiddleware)
    if settings.access_log:
        app.add_middleware(AccessLogMiddleware)
    return app


async def _release_ended(hub: Hub, retention: float) -> None:
    while True:
        await asyncio.sleep(min(60.0, max(retention / 2, 0.1)))
        hub.release_ended(retention)


def _start(source: Source) -> asyncio.Task:
    name = type(source).__name__
    task = asyncio.create_task(source.run(), name=name)
    task.add_done_callback(lambda t: _report_end(name, t))
    return task


def _report_end(name: str, task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("source %s stopped", name, exc_info=task.exception())


def _readiness(settings: Settings, hub: Hub, sources: list[Source]) -> str | None:
    if not sources:
        return "no source configured: set LOG_SIDECAR_FILES or LOG_SIDECAR_POD_SOURCE"
    if not hub.sources and settings.files:
        return f"no file matches {', '.join(settings.files)} yet"
    return hub.readiness()


async def _bad_request(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 becomes a 400 with one readable sentence per bad parameter."""
    assert isinstance(error, RequestValidationError)
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("query", "header"))
        problems.append(f"{where}: {item.get('msg')}")
    return JSONResponse({"detail": "; ".join(problems)}, status_code=400)


class MetricsEndpoint:
    """prometheus-client's ASGI app at exactly /metrics (a Mount would redirect to /metrics/)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class SourceStateCollector:
    """log_sidecar_sources{state}: counted at scrape time from the hub, never stale."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self):
        family = GaugeMetricFamily("log_sidecar_sources", "Sources known, by state.", labels=["state"])
        counts: dict[str, int] = {}
        for record in self.hub.sources.values():
            counts[record.state] = counts.get(record.state, 0) + 1
        for state, count in sorted(counts.items()):
            family.add_metric([state], count)
        yield family



class HubCollector:
    """What the hub holds, read at scrape time so the hot path pays nothing: buffer bytes and
    lines per source, the budget, the newest line's time, and lines per level (every level born
    at 0). Released sources have no series."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self):
        held_bytes = GaugeMetricFamily("log_sidecar_buffer_bytes", "Bytes of lines held, per source.", labels=["source"])
        held_lines = GaugeMetricFamily("log_sidecar_buffer_lines", "Lines held, per source.", labels=["source"])
        last = GaugeMetricFamily(
            "log_sidecar_last_line_timestamp_seconds", "Time of the newest line read, per source.", labels=["source"]
        )
        per_level = CounterMetricFamily(
            "log_sidecar_lines", "Lines read, per source and level (none: no level found).", labels=["source", "level"]
        )
        for record in self.hub.sources.values():
            if record.released:
                continue
            held_bytes.add_metric([record.id], record.buffer.bytes)
            held_lines.add_metric([record.id], len(record.buffer))
            if record.last_line_time is not None:
                last.add_metric([record.id], record.last_line_time)
            for level in (*LEVELS, None):
                per_level.add_metric([record.id, level or "none"], record.level_counts.get(level, 0))
        yield held_bytes
        yield held_lines
        yield last
        yield per_level
        yield GaugeMetricFamily(
            "log_sidecar_buffer_budget_bytes", "The global budget for held lines.", value=self.hub.budget.limit or 0
        )
