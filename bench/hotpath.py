"""In-process cost of the read path, per line: split -> Hub.publish (ingest, buffer) -> encoding.

    .venv/bin/python bench/hotpath.py [--batch 2000] [--rounds 15]

No server, no socket: the pieces bench.py's ladder measures end to end, each timed on its own
(best of `--rounds`, CPU time per line), so a change to one of them shows without the noise of
a whole run. The lines are bench.py's (`<seq> <ns> INFO bench line payload ...`); the hub has
the default settings (redaction on, multiline auto) and a full 10,000-line buffer, so every
publish evicts. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sidecar.api.stream import encode_lines  # noqa: E402
from sidecar.entries.ingest import IngestConfig  # noqa: E402
from sidecar.hub import Hub  # noqa: E402
from sidecar.ops.metrics import Metrics  # noqa: E402
from sidecar.sources.files import LineSplitter  # noqa: E402


def per_line(fn, lines: int, rounds: int, repeat: int = 20) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(repeat):
            fn()
        best = min(best, (time.process_time() - start) / repeat / lines * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2000, help="lines per read (2,000: the ladder at 200k lines/s)")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    data = "".join(f"{i:010d} {time.monotonic_ns()} INFO bench line payload {'x' * 50}\n" for i in range(args.batch)).encode()
    hub = Hub(Metrics(), 10_000, 64 << 20, 10_000, budget_bytes=256 << 20, ingest=IngestConfig())
    hub.add_source("a", "file", "/bench.log")
    splitter = LineSplitter("a", 65_536)

    def publish() -> list:
        lines = splitter.feed(data, 0.0)
        hub.publish("a", lines)
        return lines

    for _ in range(10):
        publish()  # fill the buffer: from here on every publish evicts
    lines = publish()
    figures = {
        "split (bytes -> LogLines)": per_line(lambda: splitter.feed(data, 0.0), args.batch, args.rounds),
        "split + publish": per_line(publish, args.batch, args.rounds),
        "split + publish + json frame": per_line(lambda: encode_lines(publish(), "json"), args.batch, args.rounds),
        "json frame only": per_line(lambda: encode_lines(lines, "json"), args.batch, args.rounds),
        "text frames only": per_line(lambda: encode_lines(lines, "text"), args.batch, args.rounds),
    }
    print(f"CPU per line (us), batches of {args.batch} lines, best of {args.rounds}; python {sys.version.split()[0]}")
    for name, value in figures.items():
        print(f"  {name:<30} {value:6.3f}")


if __name__ == "__main__":
    main()
