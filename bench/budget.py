"""Peak RSS against the global buffer budget: many sources, long lines, many slow clients.

    .venv/bin/python bench/budget.py [--sources 40] [--lines 600] [--line-bytes 8000] [--clients 50]
                                     [--budget-mib 32]

Runs the real sidecar twice on the same load: once with LOG_SIDECAR_BUFFER_TOTAL_BYTES set to the
budget, once with a budget far above the load (the per-source bounds alone, as before the global
budget existed). Each run: `--sources` files get `--lines` lines of `--line-bytes` bytes each, while
`--clients` SSE clients are connected that read nothing (small receive buffers) or trickle 4 KB
every half second, so their queues fill. Prints peak RSS (sampled 10/s and VmHWM), the bytes the
hub holds (sum of log_sidecar_buffer_bytes) and how streams ended. Figures only, nothing asserted.
Reuses bench.py's Sidecar, RssSampler and machine description.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import RssSampler, Sidecar, machine_description, metric_value, raise_nofile  # noqa: E402

MIB = 1 << 20


def slow_client(port: int, trickle: bool, stop: threading.Event) -> None:
    """A stream that reads nothing, or 4 KB every half second."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /api/stream?tail=0 HTTP/1.1\r\nHost: bench\r\n\r\n")
        while not stop.is_set():
            if trickle:
                sock.settimeout(0.5)
                try:
                    if not sock.recv(4096):
                        return
                except (TimeoutError, OSError):
                    pass
            stop.wait(0.5)
    finally:
        sock.close()


def held_bytes(metrics: str) -> float:
    return sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("log_sidecar_buffer_bytes{"))


def run(options: argparse.Namespace, budget: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="log-sidecar-budget-"))
    paths = [folder / f"app-{n:03d}.log" for n in range(options.sources)]
    for path in paths:
        path.touch()
    env = {"LOG_SIDECAR_BUFFER_TOTAL_BYTES": str(budget), "LOG_SIDECAR_MAX_STREAMS": "2000",
           "LOG_SIDECAR_MAX_STREAMS_PER_CLIENT": "2000", "LOG_SIDECAR_ACCESS_LOG": "false"}
    sidecar = Sidecar(folder, env).start()
    sidecar.wait_ready()
    rss_ready = sidecar.rss_mb()
    stop = threading.Event()
    clients = [threading.Thread(target=slow_client, args=(sidecar.port, n % 2 == 1, stop), daemon=True)
               for n in range(options.clients)]
    for client in clients:
        client.start()
    time.sleep(1.0)
    line = ("z" * (options.line_bytes - 1) + "\n").encode()
    block = line * 50
    started = time.monotonic()
    with RssSampler(sidecar.pid) as rss:
        for _ in range(options.lines // 50):
            for path in paths:
                with open(path, "ab") as file:
                    file.write(block)
        total = options.sources * (options.lines // 50) * 50
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and metric_value(sidecar.metrics(), "log_sidecar_lines_read_total") < total:
            time.sleep(0.2)
        seconds = time.monotonic() - started
        time.sleep(1.0)
        metrics = sidecar.metrics()
    result = {
        "budget_mib": budget / MIB, "rss_ready_mb": rss_ready, "rss_peak_mb": rss.peak_mb, "vmhwm_mb": sidecar.hwm_mb(),
        "held_mib": held_bytes(metrics) / MIB, "lines_read": metric_value(metrics, "log_sidecar_lines_read_total"),
        "lines_written": total, "seconds": seconds,
        "streams_closed": {reason: metric_value(metrics, f'log_sidecar_streams_closed_total{{reason="{reason}"}}')
                           for reason in ("client", "send-timeout", "dead-peer")},
        "active_streams": metric_value(metrics, "log_sidecar_active_streams"),
    }
    stop.set()
    sidecar.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=40)
    parser.add_argument("--lines", type=int, default=600, help="lines per source")
    parser.add_argument("--line-bytes", type=int, default=8000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--budget-mib", type=int, default=32)
    options = parser.parse_args(argv)
    raise_nofile(4096)
    machine = machine_description()
    written = options.sources * options.lines * options.line_bytes / MIB
    print(f"machine: {machine['nproc']} CPUs, {machine['cpu_model']}, load average {machine['loadavg_at_start']}")
    print(f"load: {options.sources} files x {options.lines} lines of {options.line_bytes} B ({written:.0f} MiB), "
          f"{options.clients} slow SSE clients (half read nothing, half 4 KB / 0.5 s)")
    for label, budget in (("with budget", options.budget_mib * MIB), ("budget far above load", 4096 * MIB)):
        result = run(options, budget)
        print(f"\n== {label}: LOG_SIDECAR_BUFFER_TOTAL_BYTES = {result['budget_mib']:.0f} MiB")
        print(f"  RSS after ready / peak (10/s) / VmHWM   {result['rss_ready_mb']:.1f} / {result['rss_peak_mb']:.1f} / "
              f"{result['vmhwm_mb']:.1f} MB")
        print(f"  lines held by the hub at the end        {result['held_mib']:.1f} MiB")
        print(f"  lines read / written                    {result['lines_read']:.0f} / {result['lines_written']} "
              f"in {result['seconds']:.1f} s")
        print(f"  streams ended by reason / still open    {result['streams_closed']} / {result['active_streams']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
