"""The stack floor: the sidecar's libraries serving next to nothing, for the idle RSS figure.

    python bench/floor.py [--port 0]

What any app on the chosen stack costs before it does any work of its own: FastAPI with one
route and pydantic-settings config, sse-starlette and prometheus-client imported and mounted,
served by uvicorn with uvloop and httptools (as the sidecar is), and `pydantic.v1` kept out as
`log-sidecar serve` keeps it out. bench.py's idletax prints its idle RSS beside the sidecar's,
so "RSS idle" reads as the stack's share plus ours. It prints
`stack floor listening on 127.0.0.1:PORT` once it listens; `GET /readyz` answers 200.
"""

from __future__ import annotations

import argparse
import socket
import sys

sys.modules.setdefault("pydantic.v1", None)  # type: ignore[arg-type]  # as sidecar/cli.py serve()

import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from prometheus_client import CollectorRegistry, Counter, make_asgi_app  # noqa: E402
from pydantic_settings import BaseSettings  # noqa: E402
from sse_starlette import EventSourceResponse  # noqa: E402, F401  # imported, as the sidecar does


class FloorSettings(BaseSettings):
    port: int = 0


def build() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None)
    registry = CollectorRegistry()
    Counter("floor_requests", "Requests.", registry=registry)

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    app.mount("/metrics", make_asgi_app(registry))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=FloorSettings().port)
    args = parser.parse_args()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    print(f"stack floor listening on 127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(build(), loop="auto", http="auto", log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
