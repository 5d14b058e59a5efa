"""Authentication: none, bearer token or basic auth, plus a short-lived session cookie.

The cookie exists because `EventSource` cannot send an Authorization header: the viewer
posts the credentials once to /api/login and the browser then carries an HttpOnly,
SameSite=Strict cookie, so the long-lived secret never sits in a URL or in page storage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from sidecar.config import Settings

COOKIE_NAME = "log_sidecar_session"
SESSION_SECONDS = 3600
# Paths that never need credentials: probes, and the viewer's static shell (it holds no log data).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/", "/api/auth", "/api/login", "/favicon.ico"})
OPEN_PREFIXES = ("/static/",)
# A mounted Secret is swapped by the kubelet (a new `..data` directory, so a new inode): looked
# at no more often than this, and the secret it replaces still works for the grace period, so
# clients and sessions that hold it are not cut the moment the new one lands.
SECRET_CHECK_SECONDS = 2.0
SECRET_GRACE_SECONDS = 300.0
logger = logging.getLogger("sidecar.auth")


@dataclass
class Key:
    """One accepted secret and the session-cookie key derived from it."""

    secret: bytes
    cookie_key: bytes
    valid_until: float = float("inf")  # monotonic; finite once a newer secret replaced it

    @classmethod
    def of(cls, secret: str) -> Key:
        raw = secret.encode()
        # Derived from the secret: sessions survive a restart and die when the secret changes.
        return cls(raw, hmac.new(raw, b"log-sidecar session v1", hashlib.sha256).digest())


class SecretFile:
    """The auth secret file, re-read when the kubelet swaps it (inode, mtime or size change)."""

    def __init__(self, path: Path, first: str) -> None:
        self.path = path
        self.keys = [Key.of(first)]
        self._signature = self._stat()
        self._checked = time.monotonic()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.path)  # follows `token -> ..data/token` to the file of the moment
        except OSError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size

    def current_keys(self) -> list[Key]:
        now = time.monotonic()
        if now - self._checked >= SECRET_CHECK_SECONDS:
            self._checked = now
            signature = self._stat()
            if signature is not None and signature != self._signature:
                self._reload(signature, now)
            self.keys = [key for key in self.keys if key.valid_until > now]
        return self.keys

    def _reload(self, signature: tuple[int, int, int], now: float) -> None:
        try:
            value = self.path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            logger.warning("auth secret file %s unreadable (%s): keeping the current secret", self.path, error)
            return
        self._signature = signature
        if not value or value.encode() == self.keys[0].secret:
            return
        for key in self.keys:
            key.valid_until = min(key.valid_until, now + SECRET_GRACE_SECONDS)
        self.keys.insert(0, Key.of(value))
        logger.info("auth secret changed: the new one is used, the previous one accepted for %.0f s more",
                    SECRET_GRACE_SECONDS)


class Authenticator:
    """Checks credentials for one auth mode; built once at start from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.mode = settings.auth
        self.username = settings.auth_username
        secret = settings.secret() or ""
        self._file = SecretFile(settings.auth_secret_file, secret) if settings.auth_secret_file else None
        self._keys = [Key.of(secret)]

    def keys(self) -> list[Key]:
        """The secrets accepted now, newest first."""
        return self._file.current_keys() if self._file is not None else self._keys

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    def check_header(self, authorization: str | None) -> bool:
        if not authorization or " " not in authorization:
            return False
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if self.mode == "bearer" and scheme == "bearer":
            return self.check_token(value.strip())
        if self.mode == "basic" and scheme == "basic":
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            user_ok = hmac.compare_digest(user.encode(), self.username.encode())
            return user_ok & self._matches(password.encode())
        return False

    def check_token(self, token: str) -> bool:
        return self.mode == "bearer" and self._matches(token.encode())

    def _matches(self, given: bytes) -> bool:
        return any(hmac.compare_digest(given, key.secret) for key in self.keys())

    def make_session(self, now: float | None = None) -> str:
        expires = int((now or time.time()) + SESSION_SECONDS)
        return f"{expires}.{self._sign(expires, self.keys()[0])}"

    def session_expiry(self, cookie: str | None) -> int | None:
        """The expiry of a valid, unexpired session cookie, else None."""
        if not cookie or "." not in cookie:
            return None
        expires_text, _, signature = cookie.partition(".")
        # ASCII only: isdigit() takes "²", and compare_digest raises on non-ASCII str (both a 500).
        if not (expires_text.isascii() and expires_text.isdigit() and len(expires_text) <= 12):
            return None
        given = signature.encode("utf-8", "replace")
        expires = int(expires_text)
        if not any(hmac.compare_digest(given, self._sign(expires, key).encode()) for key in self.keys()):
            return None
        return expires if expires > time.time() else None

    @staticmethod
    def _sign(expires: int, key: Key) -> str:
        return hmac.new(key.cookie_key, str(expires).encode(), hashlib.sha256).hexdigest()

    def challenge(self) -> str:
        return 'Basic realm="log-sidecar"' if self.mode == "basic" else 'Bearer realm="log-sidecar"'


def session_cookie_header(value: str, secure: bool, max_age: int = SESSION_SECONDS) -> str:
    cookie = SimpleCookie()
    cookie[COOKIE_NAME] = value
    morsel = cookie[COOKIE_NAME]
    morsel["httponly"] = True
    morsel["samesite"] = "Strict"
    morsel["path"] = "/"
    morsel["max-age"] = max_age
    if secure:
        morsel["secure"] = True
    return morsel.OutputString()


def is_https(conn: HTTPConnection) -> bool:
    return conn.url.scheme == "https" or conn.headers.get("x-forwarded-proto", "").split(",")[0].strip() == "https"


class AuthMiddleware:
    """Rejects unauthenticated requests to protected paths with 401; refreshes sliding sessions."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, protect_metrics: bool) -> None:
        self.app = app
        self.auth = authenticator
        self.protect_metrics = protect_metrics

    def _is_open(self, path: str) -> bool:
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return True
        return path.rstrip("/") == "/metrics" and not self.protect_metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.auth.enabled or self._is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        if self.auth.check_header(conn.headers.get("authorization")):
            await self.app(scope, receive, send)
            return
        token = conn.query_params.get("access_token")
        if token is not None and self.auth.check_token(token):
            await self.app(scope, receive, send)
            return
        expires = self.auth.session_expiry(conn.cookies.get(COOKIE_NAME))
        if expires is None:
            await self._deny(conn, scope, receive, send)
            return
        if expires - time.time() < SESSION_SECONDS / 2:
            send = self._refreshing(send, is_https(conn))
        await self.app(scope, receive, send)

    def _refreshing(self, send: Send, secure: bool) -> Send:
        cookie = session_cookie_header(self.auth.make_session(), secure)

        async def wrapped(message: dict) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"set-cookie", cookie.encode("latin-1"))]
            await send(message)

        return wrapped

    async def _deny(self, conn: HTTPConnection, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {}
        # The viewer marks its own requests, so a browser does not pop up its basic-auth dialog
        # over the viewer's login form.
        if conn.headers.get("x-requested-with") != "log-sidecar-viewer":
            headers["WWW-Authenticate"] = self.auth.challenge()
        response: Response = JSONResponse({"detail": "authentication required"}, status_code=401, headers=headers)
        await response(scope, receive, send)
