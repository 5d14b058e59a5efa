"""Cost of the entries stage (redaction, grouping, parsing, pattern counters), issue 10.

    .venv/bin/python bench/entries.py micro                    # CPU per line of each stage, in-process
    .venv/bin/python bench/entries.py e2e [--quick] [--repo DIR] [--variants plain,plain-off,json,json-off]

`micro` times each stage of `sidecar.entries` on batches of 1,000 lines (the size files.py
publishes under load), for plain text lines, JSON lines and logfmt lines, and prints
microseconds of CPU per line.

`e2e` reuses bench/bench.py (same sidecar process, writer and raw-socket clients) to run its
throughput (1 client) and latency (1,000 lines/s, p99) scenarios per variant:
- plain: bench.py's 100-byte text lines, settings as default (redaction on, multiline auto);
- plain-off: the same with LOG_SIDECAR_REDACT=off and LOG_SIDECAR_MULTILINE=off;
- json / json-off: 100-byte JSON lines `{"seq":"<seq> <ns> ","level":"info",...}`, parsed into fields.
`--repo DIR` runs another checkout's sidecar (e.g. `git archive <commit> | tar -x -C DIR` for a
"before" figure). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench  # noqa: E402

BATCH = 1000
_JSON_TAIL = '","level":"info","msg":"bench","http":{"status":200},"pad":"'


def json_line(seq: int, now_ns: int) -> bytes:
    """A JSON bench line of LINE_BYTES bytes whose text bench.TEXT_RE still reads seq and time from."""
    head = '{"seq":"' + f"{seq:010d} {now_ns} " + _JSON_TAIL
    pad = max(0, bench.LINE_BYTES - 1 - len(head) - 2)
    return (head + "x" * pad + '"}\n').encode()


def logfmt_line(seq: int, now_ns: int) -> bytes:
    head = f'ts={now_ns} level=info msg="bench line" seq={seq:010d} http.status=200 user=bob pad='
    return (head + "x" * max(0, bench.LINE_BYTES - 1 - len(head)) + "\n").encode()


# --------------------------------------------------------------------------- micro


def micro(rounds: int) -> None:
    from sidecar.entries.ingest import Ingest, IngestConfig
    from sidecar.entries.multiline import Grouper
    from sidecar.entries.parse import parse_line
    from sidecar.entries.patterns import PatternCounter
    from sidecar.entries.redact import DEFAULT_RULES, Redactor
    from sidecar.filters import LineFilter
    from sidecar.lines import LogLine, detect_level
    from sidecar.ops.metrics import Metrics

    kinds = {"plain": bench.make_line, "json": json_line, "logfmt": logfmt_line}
    print(f"CPU per line (us), batches of {BATCH} lines of {bench.LINE_BYTES} B, {rounds} rounds; "
          f"python {sys.version.split()[0]}")
    stages = ["redact", "group", "parse", "count(2)", "ingest all", "ingest off", "level only (before)",
              "filter grep", "filter field"]
    print(f"  {'stage':<22}" + "".join(f"{kind:>10}" for kind in kinds))
    results: dict[str, dict[str, float]] = {stage: {} for stage in stages}
    for kind, make in kinds.items():
        texts = [make(i, time.monotonic_ns()).decode().rstrip("\n") for i in range(BATCH)]
        redactor = Redactor(list(DEFAULT_RULES))
        counter = PatternCounter([("errors", r"(?i)\berror\b"), ("timeouts", "timed out")])
        grouper = Grouper("auto", 500, 262_144)
        on = Ingest("a", IngestConfig(count=(("errors", r"(?i)\berror\b"), ("timeouts", "timed out"))), Metrics())
        off = Ingest("b", IngestConfig(multiline="off", redact=False), Metrics())
        grep = LineFilter("timed out")
        field = LineFilter(fields=["http.status>=500"])
        parsed_lines = [LogLine("a", t, 0.0, id=i + 1) for i, t in enumerate(texts)]
        on.apply(parsed_lines)

        def run_redact() -> None:
            redactor.redact(list(texts), {})

        def run_group() -> None:
            grouper.begin(time.monotonic())
            for text in texts:
                if not grouper.continues(text):
                    grouper.started(text, "info")

        def run_parse() -> None:
            for text in texts:
                parse_line(text)

        def run_count() -> None:
            joined = "\n".join(texts)
            starts, at = [], 0
            for text in texts:
                starts.append(at)
                at += len(text) + 1
            counter.count(joined, starts)

        def run_ingest(ingest: Ingest) -> None:
            lines = [LogLine("a", t, 0.0, id=i + 1) for i, t in enumerate(texts)]
            ingest.apply(lines)

        def run_lines_only() -> None:
            [LogLine("a", t, 0.0, id=i + 1) for i, t in enumerate(texts)]

        def run_level() -> None:
            for text in texts:
                detect_level(text)

        def run_filter(keep: LineFilter) -> None:
            for line in parsed_lines:
                keep.bits(line)

        base = _cpu_per_line(run_lines_only, rounds)
        timings = {
            "redact": _cpu_per_line(run_redact, rounds),
            "group": _cpu_per_line(run_group, rounds),
            "parse": _cpu_per_line(run_parse, rounds),
            "count(2)": _cpu_per_line(run_count, rounds),
            "ingest all": _cpu_per_line(lambda: run_ingest(on), rounds) - base,
            "ingest off": _cpu_per_line(lambda: run_ingest(off), rounds) - base,
            "level only (before)": _cpu_per_line(run_level, rounds),
            "filter grep": _cpu_per_line(lambda: run_filter(grep), rounds),
            "filter field": _cpu_per_line(lambda: run_filter(field), rounds),
        }
        for stage, value in timings.items():
            results[stage][kind] = value
    for stage in stages:
        print(f"  {stage:<22}" + "".join(f"{results[stage][kind]:>10.2f}" for kind in kinds))
    print("  redact/group/parse/count: each stage alone; ingest all: the whole stage as Hub.publish runs it\n"
          "  (redaction on, multiline auto, 2 COUNT patterns); ingest off: REDACT=off, MULTILINE=off;\n"
          "  level only: what publish did per line before (detect_level); filter: per line per filtered client.")


def _cpu_per_line(run, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best / BATCH * 1e6


# --------------------------------------------------------------------------- e2e

VARIANTS = {
    "plain": (bench.make_line, {}),
    "plain-off": (bench.make_line, {"LOG_SIDECAR_REDACT": "off", "LOG_SIDECAR_MULTILINE": "off"}),
    "json": (json_line, {}),
    "json-off": (json_line, {"LOG_SIDECAR_REDACT": "off", "LOG_SIDECAR_MULTILINE": "off"}),
}


def e2e(quick: bool, variants: list[str], repo: Path | None, wait_quiet: float) -> None:
    if repo is not None:
        bench.REPO = repo
    original_env = bench.sidecar_env
    report = bench.Report()
    print(f"sidecar from {bench.REPO}; machine: {bench.machine_description()['cpu_model']}, "
          f"{bench.os.cpu_count()} CPUs, load {bench.os.getloadavg()}")
    for variant in variants:
        make, env = VARIANTS[variant]
        bench.make_line = make
        bench.sidecar_env = lambda extra=None, env=env: original_env({**env, **(extra or {})})
        for name, scenario in (("throughput", bench.scenario_throughput), ("latency", bench.scenario_latency)):
            cores, waited = bench.machine_load(wait_quiet)
            print(f"\n== {variant} {name} (other cores busy: {cores:.2f}, waited {waited:.0f} s)", flush=True)
            scenario(report, quick)
    report.summary()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["micro", "e2e"])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repo", type=Path)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="before each scenario wait up to SECONDS for other processes to use < 0.3 core")
    options = parser.parse_args()
    if options.what == "micro":
        micro(options.rounds)
    else:
        bench.raise_nofile(4096)
        e2e(options.quick, [v.strip() for v in options.variants.split(",") if v.strip()], options.repo, options.wait_quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
