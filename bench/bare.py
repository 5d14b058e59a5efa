"""The bare reference streamer: the floor the sidecar's figures are compared with.

    python bench/bare.py --file /path/app.log [--host 127.0.0.1] [--port 0]

A plain asyncio loop (uvloop when installed, as uvicorn uses it) that polls one file every
millisecond, splits what was appended into lines and writes raw SSE frames to every connected
socket: `format=json` (default) one `lines` event per read with `{"id","text"}` objects,
`format=text` one `data:` event per line. No framework, no ring buffer, no filters, no metrics.
A client whose socket buffer passes 8 MB is dropped. `GET /readyz` answers 200.
It prints `bare streamer listening on HOST:PORT` once it listens. Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

WRITE_LIMIT = 8 << 20
READ_BYTES = 1 << 20
HEADERS = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
           b"Connection: close\r\n\r\n")
_PLAIN = bytes(range(0x20, 0x7F)).replace(b'"', b"").replace(b"\\", b"")


class Streamer:
    def __init__(self, path: str) -> None:
        self.path = path
        self.clients: dict[asyncio.StreamWriter, str] = {}
        self.next_id = 1

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        target = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"/"
        if target.startswith(b"/readyz"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            writer.close()
            return
        if not target.startswith(b"/api/stream"):
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            writer.close()
            return
        writer.write(HEADERS + b": bare stream\r\n\r\n")
        self.clients[writer] = "text" if b"format=text" in target else "json"
        try:
            while await reader.read(4096):
                pass
        except ConnectionError:
            pass
        finally:
            self.clients.pop(writer, None)
            writer.close()

    def frames(self, lines: list[bytes]) -> dict[str, bytes]:
        first = self.next_id
        self.next_id += len(lines)
        ids = range(first, first + len(lines))
        out: dict[str, bytes] = {}
        kinds = set(self.clients.values())
        if "json" in kinds:
            if all(not line.translate(None, _PLAIN) for line in lines):  # nothing to escape
                body = b",".join(b'{"id":%d,"text":"%s"}' % pair for pair in zip(ids, lines))
            else:
                body = ",".join(json.dumps({"id": i, "text": line.decode("utf-8", "replace")})
                                for i, line in zip(ids, lines)).encode()
            out["json"] = b'id: %d\r\nevent: lines\r\ndata: {"lines":[%s]}\r\n\r\n' % (ids[-1], body)
        if "text" in kinds:
            out["text"] = b"".join(b"id: %d\r\ndata: %s\r\n\r\n" % (i, line.replace(b"\r", b"\\r"))
                                   for i, line in zip(ids, lines))
        return out

    async def follow(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        offset = os.fstat(fd).st_size
        partial = b""
        while True:
            await asyncio.sleep(0.001)
            data = os.pread(fd, READ_BYTES, offset)
            if not data:
                continue
            offset += len(data)
            data = partial + data
            cut = data.rfind(b"\n")
            if cut < 0:
                partial = data
                continue
            partial = data[cut + 1 :]
            lines = data[:cut].split(b"\n")
            if not self.clients:
                self.next_id += len(lines)
                continue
            frames = self.frames(lines)
            for writer, fmt in list(self.clients.items()):
                if writer.transport.get_write_buffer_size() > WRITE_LIMIT:
                    self.clients.pop(writer, None)
                    writer.transport.abort()
                    continue
                writer.write(frames[fmt])


async def main(path: str, host: str, port: int) -> None:
    streamer = Streamer(path)
    server = await asyncio.start_server(streamer.handle, host, port)
    bound = server.sockets[0].getsockname()[1]
    print(f"bare streamer listening on {host}:{bound}", flush=True)
    await streamer.follow()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    options = parser.parse_args()
    try:
        import uvloop  # noqa: PLC0415 - optional, as for uvicorn

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(main(options.file, options.host, options.port))
    except KeyboardInterrupt:
        pass
