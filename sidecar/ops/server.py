"""How the sidecar listens: a dual-stack socket, TCP options that find dead peers, a clean exit.

uvicorn does the HTTP; this module owns what uvicorn leaves to the host process:

- `listening_socket`: host `::` answers IPv4 and IPv6 (IPV6_V6ONLY=0), falling back to
  0.0.0.0 with a warning where the kernel has no IPv6.
- `guest_protocol`: uvicorn's HTTP protocol with SO_KEEPALIVE, TCP_KEEPIDLE/INTVL/CNT and
  TCP_USER_TIMEOUT set on every accepted socket, so a peer that vanished without a FIN (lid
  closed, Wi-Fi lost, a load balancer that drops silently) is cut by the kernel within
  `dead_peer_timeout`, idle stream or not. It remembers why the connection was lost, so a
  stream can tell a client that left from a dead peer.
- `SidecarServer`: exits 0 on SIGTERM after closing every stream. uvicorn re-raises the
  signal once it is done, which kills the process with status 143 unless it is PID 1.
- `TransportScope`: puts the connection's transport in the ASGI scope, so a stream stuck
  past its send timeout can be aborted (closing would wait for megabytes that never leave).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import struct
from collections.abc import Generator

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from sidecar.config import Settings

logger = logging.getLogger("sidecar.server")
TRANSPORT_KEY = "log_sidecar.transport"
PROTOCOL_KEY = "log_sidecar.protocol"
SEND_KEY = "log_sidecar.send"  # the server's own send, past every middleware (stream bodies use it)
_NO_IPV6 = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT)


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket for `host` (`::` means every IPv4 and IPv6 address)."""
    try:
        return _bind(host, port)
    except OSError as error:
        if host != "::" or error.errno not in _NO_IPV6:
            raise
        logger.warning("IPv6 is not available here (%s): listening on 0.0.0.0 (IPv4 only)", error.strerror)
        return _bind("0.0.0.0", port)


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # 0 = dual stack: IPv4 clients arrive as ::ffff:a.b.c.d. Only `::` asks for it.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if host == "::" else 1)
        sock.bind(address)
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def keepalive_options(timeout: float) -> list[tuple[int, int, int]]:
    """(level, option, value) that make the kernel give up on a silent peer after ~`timeout` s.

    Idle: first probe after timeout/2, then 3 probes timeout/6 apart. Busy: TCP_USER_TIMEOUT
    caps how long sent data may stay unacknowledged."""
    idle = max(1, int(timeout / 2))
    interval = max(1, int(timeout / 6))
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", interval), ("TCP_KEEPCNT", 3),
                        ("TCP_USER_TIMEOUT", int(timeout * 1000))):
        if hasattr(socket, name):  # Linux has all four; macOS lacks some
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return options


def guest_protocol(dead_peer_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class, with dead-peer detection on each accepted socket."""
    options = keepalive_options(dead_peer_timeout)

    class GuestHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        lost_error: BaseException | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                for level, option, value in options:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(level, option, value)
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            self.lost_error = exc
            super().connection_lost(exc)

    return GuestHTTPProtocol


def abort(transport: asyncio.BaseTransport) -> None:
    """Drop the connection now, unsent bytes and all: SO_LINGER 0 makes the kernel reset it
    instead of keeping an orphan socket that retries its megabytes for minutes."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def lost_to_dead_peer(protocol: asyncio.BaseProtocol | None) -> bool:
    """True when the kernel gave up on the peer (keepalive or user timeout: ETIMEDOUT)."""
    error = getattr(protocol, "lost_error", None)
    return isinstance(error, TimeoutError) or getattr(error, "errno", None) == errno.ETIMEDOUT


class TransportScope:
    """Outermost ASGI wrapper: `scope[TRANSPORT_KEY]` is the connection's transport and
    `scope[PROTOCOL_KEY]` its protocol (uvicorn's send is a bound method of the request cycle,
    which holds the transport; uvloop forgets the protocol once closed, so it is taken now)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            scope[TRANSPORT_KEY] = transport
            scope[PROTOCOL_KEY] = transport.get_protocol() if transport is not None else None
            scope[SEND_KEY] = send
        await self.app(scope, receive, send)


class SidecarServer(uvicorn.Server):
    """uvicorn's server, but SIGTERM/SIGINT end it with status 0 instead of being re-raised,
    and its housekeeping tick comes once a second instead of ten times."""

    _exit_requested: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        """uvicorn's loop of ticks. Its tick refreshes the Date header (once a second anyway)
        and looks for an exit; an exit asked for by a signal now wakes it at once, so the
        other nine wake-ups a second, paid in every pod with or without clients, are gone.
        A `should_exit` set any other way is seen within the second."""
        self._loop = asyncio.get_running_loop()
        self._exit_requested = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # on_tick counts tenths: every tick is a whole second
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_requested.wait(), 1.0)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._exit_requested is not None:
            self._loop.call_soon_threadsafe(self._exit_requested.set)  # safe from a signal handler

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # handle_exit stays uvicorn's bound method: sse-starlette finds the server through it.
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


def run(app, settings: Settings, sock: socket.socket) -> None:
    """Serve `app` on `sock` (from `listening_socket`) until SIGTERM; returns once every stream is closed."""
    trusted = ",".join(settings.trusted_proxies)
    config = uvicorn.Config(
        TransportScope(app),
        log_config=None,
        access_log=False,  # our own access log keeps probes and tokens out
        timeout_graceful_shutdown=5,
        lifespan="on",
        http=guest_protocol(settings.dead_peer_timeout),
        proxy_headers=bool(trusted),  # X-Forwarded-For only from the proxies we were told of
        forwarded_allow_ips=trusted or None,
    )
    server = SidecarServer(config)
    # uvicorn logs its "running on" line only for sockets it bound itself.
    logger.info("Uvicorn running on %s (Press CTRL+C to quit)", url_of(sock))
    server.run(sockets=[sock])
