"""`log-sidecar serve` (the container's entrypoint) and `log-sidecar demo` (no cluster needed)."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from sidecar.config import Settings, unknown_env_vars

USAGE = """usage: log-sidecar {serve,demo} [options]

  serve   follow the configured sources and serve the viewer, stream and metrics
          (every option is also an env var: --buffer-lines = LOG_SIDECAR_BUFFER_LINES)
  demo    write realistic demo logs into a temp folder and serve them on 127.0.0.1

  log-sidecar serve --help   lists every option
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "serve":
        return serve(rest)
    if command == "demo":
        return demo(rest)
    print(f"log-sidecar: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


def load_settings(cli_args: list[str], **overrides: object) -> Settings | None:
    """Settings from env and flags; a bad value or an unknown variable prints one clear line per problem."""
    unknown = unknown_env_vars()
    if unknown:
        print("log-sidecar: invalid configuration:", file=sys.stderr)
        for problem in unknown:
            print(f"  {problem}", file=sys.stderr)
        return None
    try:
        return Settings(_cli_parse_args=cli_args, **overrides)
    except ValidationError as error:
        print("log-sidecar: invalid configuration:", file=sys.stderr)
        for item in error.errors():
            name = "_".join(str(part) for part in item.get("loc", ()))
            where = f"LOG_SIDECAR_{name.upper()} / --{name.replace('_', '-')}: " if name else ""
            print(f"  {where}{item.get('msg')} (got {item.get('input')!r})" if name else f"  {item.get('msg')}",
                  file=sys.stderr)
        return None


def without_pydantic_v1() -> None:
    """FastAPI imports `pydantic.v1` (the whole Pydantic 1 copy) on the first route, only to
    ask whether an annotation is a v1 model: 1.5 MB of RSS and 60 ms of start in every pod,
    for models this process never has. Marked missing, FastAPI takes its path for a Pydantic
    without v1 (ImportError: not a v1 model). Only for the serving process, never on import."""
    sys.modules.setdefault("pydantic.v1", None)  # type: ignore[arg-type]


def serve(cli_args: list[str], jobs: list[Callable[[], object]] | None = None, **overrides: object) -> int:
    settings = load_settings(cli_args, **overrides)
    if settings is None:
        return 2
    configure_logging(settings.log_level)
    without_pydantic_v1()
    from sidecar.app import build_app
    from sidecar.ops import server

    try:
        app = build_app(settings, jobs)
    except (ValueError, OSError) as error:  # e.g. no Kubernetes credentials for the pod source
        print(f"log-sidecar: cannot start: {error}", file=sys.stderr)
        return 2
    try:
        sock = server.listening_socket(settings.host, settings.port)
    except OSError as error:  # e.g. the port is taken
        print(f"log-sidecar: cannot listen on {settings.host}:{settings.port}: {error.strerror}", file=sys.stderr)
        return 2
    server.run(app, settings, sock)
    return 0


# Pattern counters the demo turns on, so a new user sees log_sidecar_pattern_matches_total move.
DEMO_COUNT = ["errors=(?i)\\berror\\b", "timeouts=timed out"]


def demo(cli_args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="log-sidecar demo", description="Serve generated demo logs on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080; 0 picks a free one)")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the demo logs (default: a temp folder)")
    parser.add_argument("--rate", type=float, default=20.0, help="demo lines per second (default 20)")
    options = parser.parse_args(cli_args)
    from sidecar.demo import DemoWriter

    port = options.port or free_port()
    folder = options.dir or Path(tempfile.mkdtemp(prefix="log-sidecar-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    writer = DemoWriter(folder, options.rate)
    writer.prime()
    print(f"log-sidecar demo: writing logs to {folder}", flush=True)
    print(f"log-sidecar demo: open http://127.0.0.1:{port}/  (Ctrl+C to stop)", flush=True)
    print(f"log-sidecar demo: or try  curl -N 'http://127.0.0.1:{port}/api/stream?format=text'", flush=True)
    extra = {} if "LOG_SIDECAR_COUNT" in os.environ else {"count": DEMO_COUNT}  # an env value wins
    return serve([], jobs=[writer.run], host="127.0.0.1", port=port, files=[str(folder / "*.log")], auth="none",
                 **extra)


def free_port() -> int:
    """A free port to print in the demo's URL before the server binds it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("uvicorn.error").setLevel(level.upper())
