"""Access log without probe noise and without secrets that travel in URLs."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("sidecar.access")
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
SECRET_PARAMS = frozenset({"access_token", "token"})


def redact_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "REDACTED" if k in SECRET_PARAMS else v) for k, v in pairs])


class AccessLogMiddleware:
    """One line per request when it ends (for a stream: when the client leaves)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in QUIET_PATHS:
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            path = scope["path"] + ("?" + redact_query(query) if query else "")
            client = scope.get("client") or ("-", 0)
            logger.info(
                '%s "%s %s" %s %.3fs', client[0], scope["method"], path, status or "-", time.monotonic() - started
            )
