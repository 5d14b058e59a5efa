"""What the restart checkpoint (LOG_SIDECAR_STATE_DIR) costs: bench.py's throughput and latency
scenarios, run with the checkpoint off and on, alternately, and printed side by side.

    .venv/bin/python bench/checkpoint.py [--quick] [--rounds 2] [--only throughput,latency]

Nothing is asserted. The journal's size at the end of each run is printed too (it is compacted
to what the ring buffers hold, so it stays bounded).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402 - the helpers and scenarios of bench.py

FIGURES = {
    "throughput": [("lines_per_s", "lines/s, first write -> last line received"), ("loss", "lines lost"),
                   ("rss_peak_mb", "sidecar RSS peak MB")],
    "latency": [("latency_ms.50", "latency p50 ms"), ("latency_ms.99", "latency p99 ms"),
                ("rss_peak_mb", "sidecar RSS peak MB")],
}
RUNNERS = {"throughput": bench.scenario_throughput, "latency": bench.scenario_latency}


def _get(data: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def run_once(name: str, quick: bool, state_dir: Path | None) -> dict:
    """One scenario of bench.py, with LOG_SIDECAR_STATE_DIR set when `state_dir` is given."""
    base_env = bench.sidecar_env

    def env_with_state(extra: dict[str, str] | None = None) -> dict[str, str]:
        env = base_env(extra)
        if state_dir is not None:
            env["LOG_SIDECAR_STATE_DIR"] = str(state_dir)
        return env

    bench.sidecar_env = env_with_state
    report = bench.Report()
    try:
        RUNNERS[name](report, quick)
    finally:
        bench.sidecar_env = base_env
        while bench._GROUPS:
            bench._GROUPS.pop().close()
    data = report.data.get(name, {})
    if state_dir is not None:
        journal = state_dir / "checkpoint.journal"
        data["journal_bytes"] = journal.stat().st_size if journal.exists() else 0
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs per scenario")
    parser.add_argument("--only", default="throughput,latency")
    options = parser.parse_args(argv)
    bench.raise_nofile(4096)
    machine = bench.machine_description()
    print(f"machine: {machine['nproc']} CPUs, {machine['cpu_model']}, kernel {machine['kernel']}; "
          f"load average {', '.join(f'{x:.2f}' for x in machine['loadavg_at_start'])}")
    results: dict[str, dict[str, list[dict]]] = {}
    for name in [n.strip() for n in options.only.split(",") if n.strip()]:
        for round_ in range(options.rounds):
            for mode in ("off", "on"):
                state = Path(tempfile.mkdtemp(prefix="log-sidecar-state-")) if mode == "on" else None
                print(f"\n== {name}, checkpoint {mode}, round {round_ + 1}", flush=True)
                try:
                    results.setdefault(name, {}).setdefault(mode, []).append(run_once(name, options.quick, state))
                finally:
                    if state is not None:
                        shutil.rmtree(state, ignore_errors=True)
                time.sleep(1)
    print("\n== checkpoint off vs on (each round's figure, then the median)")
    for name, modes in results.items():
        for key, label in FIGURES[name] + [("sidecar_cpu_s", "sidecar CPU seconds in the window"), ("journal_bytes", "journal bytes at end")]:
            row = []
            for mode in ("off", "on"):
                values = [_get(run, key) for run in modes.get(mode, [])]
                shown = ", ".join(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in values)
                numeric = sorted(v for v in values if isinstance(v, (int, float)))
                median = f" (median {numeric[len(numeric) // 2]:,.2f})" if numeric else ""
                row.append(f"{mode}: {shown}{median}")
            print(f"  {name:<10} {label:<44} {' | '.join(row)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
