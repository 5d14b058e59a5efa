"""Liveness and readiness that mean something.

Live: the event loop turns (a ticker proves it) and no source task has died.
Ready: at least one source is readable (files found and open / API answering).
"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

TICK_SECONDS = 1.0
STALL_SECONDS = 10.0

router = APIRouter()


class LoopWatch:
    """Notes the time of each tick of the event loop; a stale tick means the loop is blocked."""

    def __init__(self) -> None:
        self.last_tick = time.monotonic()

    async def run(self) -> None:
        while True:
            self.last_tick = time.monotonic()
            await asyncio.sleep(TICK_SECONDS)

    def stalled_for(self) -> float:
        return max(0.0, time.monotonic() - self.last_tick - TICK_SECONDS)


@router.get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> JSONResponse:
    state = request.app.state
    stalled = state.loop_watch.stalled_for()
    dead = [task.get_name() for task in state.source_tasks if task.done()]
    if stalled > STALL_SECONDS or dead:
        reason = f"event loop stalled {stalled:.1f}s" if stalled > STALL_SECONDS else f"source task ended: {dead}"
        return JSONResponse({"alive": False, "reason": reason}, status_code=503)
    return JSONResponse({"alive": True})


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    reason = request.app.state.readiness()
    if reason is not None:
        return JSONResponse({"ready": False, "reason": reason}, status_code=503)
    return JSONResponse({"ready": True})
