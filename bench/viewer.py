"""Viewer figures at 200,000 lines in headless Chromium: time to the last line, JS heap, scroll
frame p95 and filter time, for this checkout and (with --before REV) an earlier revision.

    .venv/bin/python bench/viewer.py                 # this checkout
    .venv/bin/python bench/viewer.py --before c842da6  # and the viewer as it was at that commit

The earlier revision's `sidecar/` package is exported with `git archive` into a temporary
directory and run from there, so the same sidecar code path serves each viewer. Figures are
one run on one machine; the output says which. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("LOG_SIDECAR_TEST_CHROMIUM", "/usr/bin/chromium")
LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
TOTAL = 200_000


def write_log(folder: Path) -> None:
    with open(folder / "big.log", "w", encoding="utf-8") as file:
        for i in range(TOTAL):
            level = "ERROR" if i % 1000 == 0 else "INFO"
            file.write(f"2026-01-01T00:00:00Z {level} big line {i:06d} lorem ipsum dolor sit amet\n")


def start_sidecar(code: Path, folder: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_SIDECAR_")}
    env.update({
        "LOG_SIDECAR_HOST": "127.0.0.1", "LOG_SIDECAR_PORT": "0", "LOG_SIDECAR_FILES": str(folder / "*.log"),
        "LOG_SIDECAR_BUFFER_LINES": "250000", "LOG_SIDECAR_BUFFER_BYTES": str(256 * 1024 * 1024),
        "LOG_SIDECAR_START_BYTES": str(64 * 1024 * 1024), "LOG_SIDECAR_ACCESS_LOG": "false",
        "PYTHONPATH": str(code),
    })
    proc = subprocess.Popen([sys.executable, "-m", "sidecar", "serve"], cwd=code, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        match = LISTENING.search(line)
        if match:
            return proc, f"http://127.0.0.1:{match.group(1)}"
    raise RuntimeError("sidecar did not start")


def wait_ready(url: str) -> None:
    import httpx

    for _ in range(300):
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("sidecar not ready")


SCROLL = """async () => {
    const el = document.getElementById('log');
    el.scrollTop = 0;
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const frames = [];
    let last = performance.now();
    const step = Math.max(1, (el.scrollHeight - el.clientHeight) / 300);
    for (let i = 0; i < 300; i++) {
        el.scrollTop = i * step;
        await new Promise((r) => requestAnimationFrame(r));
        const now = performance.now();
        frames.push(now - last);
        last = now;
    }
    frames.sort((a, b) => a - b);
    return frames[Math.floor(frames.length * 0.95)];
}"""


def measure(browser, url: str) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    page = context.new_page()
    started = time.monotonic()
    page.goto(f"{url}/?tail={TOTAL}")
    page.wait_for_function(
        f"() => window.logViewer && window.logViewer.state().count === {TOTAL} && "
        "[...document.querySelectorAll('#log .row .msg')].some((e) => e.textContent.includes('big line 199999'))",
        polling="raf", timeout=120_000,
    )
    to_last = time.monotonic() - started
    cdp = context.new_cdp_session(page)
    cdp.send("HeapProfiler.collectGarbage")
    heap = cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6
    scroll_p95 = page.evaluate(SCROLL)
    page.evaluate("document.getElementById('log').scrollTop = 0")
    started = time.monotonic()
    page.fill("#filter", "big line 1230")
    page.wait_for_function("() => window.logViewer.state().shown === 100", polling="raf", timeout=60_000)
    filter_s = time.monotonic() - started
    started = time.monotonic()
    page.fill("#filter", "")
    page.wait_for_function(f"() => window.logViewer.state().shown === {TOTAL}", polling="raf", timeout=60_000)
    unfilter_s = time.monotonic() - started
    context.close()
    return {"to_last_s": to_last, "heap_mb": heap, "scroll_p95_ms": scroll_p95, "filter_s": filter_s, "unfilter_s": unfilter_s}


def export(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "sidecar"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="a git revision whose viewer to measure too")
    parser.add_argument("--runs", type=int, default=1, help="runs per viewer (the median is printed)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"Chromium {CHROMIUM}; load: {TOTAL:,} lines of ~70 bytes backfilled at once (tail={TOTAL})")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        folder = Path(tmp) / "logs"
        folder.mkdir()
        write_log(folder)
        codes = [("this checkout", REPO)]
        if args.before:
            codes.insert(0, (f"before ({args.before})", export(args.before, Path(tmp))))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        for name, code in codes:
            proc, url = start_sidecar(code, folder)
            try:
                wait_ready(url)
                runs = [measure(browser, url) for _ in range(args.runs)]
            finally:
                proc.terminate()
                proc.wait(10)
            fig = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(f"{name:>24}: time to last line {fig['to_last_s']:.2f} s, heap {fig['heap_mb']:.1f} MB, "
                  f"scroll frame p95 {fig['scroll_p95_ms']:.1f} ms, filter {fig['filter_s'] * 1000:.0f} ms, "
                  f"clear filter {fig['unfilter_s'] * 1000:.0f} ms (both include the 120 ms typing debounce)")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
