"""Demo log writer: realistic, varied logs so `log-sidecar demo` shows what the viewer can do.

It writes like a real workload would (append, rotate by rename) into four files: a text
application log with stack traces of several languages (Python, Java, Go, Node.js), ANSI
colours, the odd hostile line and a few fake secrets (so redaction shows), a JSON worker log
with nested fields, a logfmt gateway log, and an nginx-style access log.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from datetime import datetime, timezone
from pathlib import Path

ROTATE_EVERY_LINES = 3000
PATHS = ["/api/orders", "/api/orders/{id}", "/api/users/{id}", "/healthz", "/api/cart", "/static/app.js"]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank"]
STACK_TRACE = """Traceback (most recent call last):
  File "/app/orders/service.py", line 88, in place_order
    reservation = inventory.reserve(item_id, quantity)
  File "/app/inventory/client.py", line 41, in reserve
    raise InventoryUnavailable(f"item {item_id} out of stock")
orders.errors.InventoryUnavailable: item {item} out of stock"""
JAVA_TRACE = """java.lang.IllegalStateException: payment {item} declined by provider
\tat com.acme.payments.Client.charge(Client.java:118)
\tat com.acme.orders.Checkout.pay(Checkout.java:64)
\tat com.acme.orders.Checkout.run(Checkout.java:41)
Caused by: java.net.SocketTimeoutException: Read timed out
\tat java.base/java.net.SocketInputStream.read(SocketInputStream.java:168)
\t... 3 more"""
GO_PANIC = """panic: runtime error: index out of range [{item}] with length 3

goroutine 41 [running]:
main.(*Resizer).thumbnail(0xc000126000, 0x{item})
\t/src/resizer/resize.go:57 +0x1d4
created by main.(*Pool).start in goroutine 1
\t/src/resizer/pool.go:22 +0x85"""
NODE_TRACE = """TypeError: Cannot read properties of undefined (reading 'sku')
    at priceOf (/app/src/cart.js:{item}:21)
    at Array.map (<anonymous>)
    at total (/app/src/cart.js:12:18)"""
# Fake secrets, shaped like real ones, so a new user sees them redacted in the viewer.
FAKE_SECRETS = [
    "DEBUG [http] calling payments with Authorization: Bearer demoT0kenNotReal1234567890",
    "INFO  [db] connecting to postgres://orders:demo-Pa55word@db:5432/orders",
    "WARN  [config] aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYDEMOKEY00 found in env dump",
    "DEBUG [auth] session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJlLWRlbW8tb25seQ issued",
]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DemoWriter:
    def __init__(self, folder: Path, rate: float, seed: int | None = None) -> None:
        self.folder = folder
        self.rate = max(rate, 0.1)
        self.random = random.Random(seed)
        self.counts = {"app.log": 0, "worker.log": 0, "access.log": 0, "gateway.log": 0}

    def prime(self, lines: int = 200) -> None:
        """Some history, so the viewer has backfill the moment it opens: one trace of each
        language and each fake secret first, so every feature shows at once."""
        for trace in (STACK_TRACE, JAVA_TRACE, GO_PANIC, NODE_TRACE):
            head = f"{_now()} ERROR [orders] order failed for user={self.random.choice(USERS)}\n"
            self._append("app.log", (head + trace.replace("{item}", "42") + "\n").encode())
        for secret in FAKE_SECRETS:
            self._append("app.log", f"{_now()} {secret}\n".encode())
        for _ in range(lines):
            self.write_one()

    async def run(self) -> None:
        while True:
            self.write_one()
            await asyncio.sleep(self.random.expovariate(self.rate))

    def write_one(self) -> None:
        roll = self.random.random()
        if roll < 0.35:
            self._append("access.log", self._access_line())
        elif roll < 0.55:
            self._append("worker.log", self._worker_line())
        elif roll < 0.75:
            self._append("gateway.log", self._gateway_line())
        else:
            self._append("app.log", self._app_line())

    def _append(self, name: str, data: bytes) -> None:
        path = self.folder / name
        with open(path, "ab") as file:
            file.write(data)
        self.counts[name] += data.count(b"\n")
        if self.counts[name] >= ROTATE_EVERY_LINES:
            os.replace(path, path.with_name(name + ".1"))  # rename rotation, like logrotate's default
            self.counts[name] = 0

    def _access_line(self) -> bytes:
        r = self.random
        path = r.choice(PATHS).replace("{id}", str(r.randint(1, 9999)))
        status = r.choices([200, 201, 204, 301, 404, 500, 503], [70, 5, 5, 3, 10, 4, 3])[0]
        stamp = datetime.now(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
        ip = f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
        method = r.choice(["GET", "GET", "GET", "POST", "PUT", "DELETE"])
        return (
            f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {r.randint(80, 40000)} "-" '
            f'"Mozilla/5.0 (X11; Linux x86_64)" {r.random() * 0.3:.3f}\n'
        ).encode()

    def _worker_line(self) -> bytes:
        r = self.random
        level = r.choices(["debug", "info", "warn", "error"], [20, 60, 15, 5])[0]
        record = {
            "ts": _now(),
            "level": level,
            "logger": "worker.jobs",
            "msg": r.choice(["job started", "job finished", "retrying job", "queue depth high", "job failed"]),
            "job": {
                "id": f"job-{r.randint(10000, 99999)}",
                "queue": r.choice(["emails", "invoices", "thumbnails"]),
                "attempt": r.randint(1, 3),
            },
            "duration_ms": round(r.expovariate(1 / 120), 1),
        }
        if r.random() < 0.02:
            record["smtp"] = {"host": "mail.internal", "password": "demo-smtp-pass"}  # redacted in the viewer
        return (json.dumps(record) + "\n").encode()

    def _gateway_line(self) -> bytes:
        """logfmt, with dotted keys (`field=http.status>=500` finds the failures)."""
        r = self.random
        status = r.choices([200, 201, 404, 429, 500, 502, 504], [70, 8, 8, 4, 4, 3, 3])[0]
        level = "error" if status >= 500 else "warn" if status >= 400 else "info"
        path = r.choice(PATHS).replace("{id}", str(r.randint(1, 9999)))
        line = (
            f'time={_now()} level={level} msg="{"upstream failed" if status >= 500 else "request served"}" '
            f"http.method={r.choice(['GET', 'GET', 'POST'])} http.path={path} http.status={status} "
            f"duration_ms={r.randint(1, 900)} user={r.choice(USERS)}"
        )
        if r.random() < 0.02:
            line += " token=demo-gateway-token-123"
        return (line + "\n").encode()

    def _app_line(self) -> bytes:
        r = self.random
        roll = r.random()
        if roll < 0.04:
            item = r.randint(100, 999)
            head = f"{_now()} ERROR [orders] order failed for user={r.choice(USERS)}\n"
            trace = r.choice([STACK_TRACE, JAVA_TRACE, GO_PANIC, NODE_TRACE])
            return (head + trace.replace("{item}", str(item)) + "\n").encode()
        if roll < 0.05:
            return f"{_now()} {r.choice(FAKE_SECRETS)}\n".encode()
        if roll < 0.08:
            return f"{_now()} \x1b[33mWARN\x1b[0m  [cache] \x1b[1mslow lookup\x1b[0m took {r.randint(200, 900)}ms\n".encode()
        if roll < 0.085:
            return f"{_now()} INFO  [debug] request body: {'x' * 100_000}\n".encode()  # a very long line
        if roll < 0.095:
            return f"{_now()} WARN  [upload] bad bytes in filename: ".encode() + b"\xff\xfe\xc3(" + b"\n"
        if roll < 0.105:
            return f"{_now()} INFO  [comments] new comment: <script>alert('xss')</script>\n".encode()
        level = r.choices(["DEBUG", "INFO", "WARN"], [25, 65, 10])[0]
        message = r.choice([
            f"user={r.choice(USERS)} logged in",
            f"order {r.randint(1000, 9999)} placed total={r.randint(5, 500)}.{r.randint(0, 99):02d} EUR",
            f"cache hit ratio {r.random():.2f}",
            f"payment provider answered in {r.randint(40, 700)}ms",
            f"reloaded feature flags ({r.randint(10, 40)} flags)",
        ])
        return f"{_now()} {level:<5} [orders] {message}\n".encode()
