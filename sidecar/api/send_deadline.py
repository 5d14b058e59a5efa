"""The send timeout of one stream, kept by a watchdog instead of a cancel scope per send.

sse-starlette opens an anyio cancel scope around every send, which was about half of the
cost of a send when one line is one batch (fan-out at 1,000 writes/s). Here a send only
notes when it started; one timer per stream, armed when a send starts and none is armed,
looks once per timeout period. A send still unfinished after `timeout` seconds has its
connection aborted (uvicorn's send then returns) and raises SendTimeoutError, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sse_starlette.sse import SendTimeoutError
from starlette.types import Message, Send


class SendDeadline:
    def __init__(self, timeout: float, on_expiry: Callable[[], None]) -> None:
        self.timeout = timeout
        self.on_expiry = on_expiry  # cut the connection, so that the stuck send returns
        self.expired = False
        self._loop = asyncio.get_running_loop()
        self._inflight: dict[int, float] = {}  # send number -> loop time it started (pings run beside data)
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None

    async def send(self, send: Send, message: Message) -> None:
        if self.expired:
            raise SendTimeoutError()
        self._count += 1
        number = self._count
        started = self._loop.time()
        self._inflight[number] = started
        if self._timer is None:
            self._timer = self._loop.call_at(started + self.timeout, self._check)
        try:
            await send(message)
        finally:
            del self._inflight[number]
        if self.expired:
            raise SendTimeoutError()

    def _check(self) -> None:
        self._timer = None
        if not self._inflight or self.expired:
            return
        oldest = min(self._inflight.values())
        if self._loop.time() - oldest >= self.timeout:
            self.expired = True
            self.on_expiry()
        else:
            self._timer = self._loop.call_at(oldest + self.timeout, self._check)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
