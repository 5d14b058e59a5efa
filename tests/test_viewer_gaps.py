"""The viewer never shows a hole as if it were complete (issue 9, point 9), in Chromium against the real sidecar.

Numbered lines are written; the multiset the page holds is compared with the multiset written, and
every line that is not on the page must be counted by a gap row.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from tests.support.browser import append_lines, browser, viewer  # noqa: F401 (fixtures)

BLOCK_MS = 5000  # how long the page's main thread is kept busy, so the stream backs up


def file_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {"LOG_SIDECAR_FILES": str(folder / "*.log"), "LOG_SIDECAR_ACCESS_LOG": "false"}
    env.update(extra)
    return env


def gap_counts(page) -> int:
    """Lines the gap rows on the page say are missing."""
    total = 0
    for marker in page.page.evaluate("window.logViewer.markers()"):
        if marker["kind"] != "gap":
            continue
        match = re.search(r"gap: ([\d,]+) lines", marker["text"])
        assert match, f"a gap row must say exactly how many lines: {marker['text']!r}"
        total += int(match.group(1).replace(",", ""))
    return total


def burst_while_blocked(page, log: Path, lines: list[str]) -> None:
    """Write `lines` while the page's main thread is busy: the sidecar's queue for it overflows."""
    page.page.evaluate(f"setTimeout(() => {{ const t = Date.now(); while (Date.now() - t < {BLOCK_MS}) {{}} }}, 0)")
    with open(log, "a", encoding="utf-8") as file:
        for start in range(0, len(lines), 10_000):
            file.write("".join(line + "\n" for line in lines[start : start + 10_000]))
            file.flush()


def test_slow_client_gap_is_fetched_back_completely(sidecar, viewer, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append_lines(log, ["first line"])
    server = sidecar(env=file_env(
        tmp_path,
        LOG_SIDECAR_CLIENT_QUEUE_LINES="100",
        LOG_SIDECAR_BUFFER_LINES="300000",
        LOG_SIDECAR_BUFFER_BYTES=str(256 * 1024 * 1024),
    ))
    page = viewer().open(server.url)
    page.wait_for_texts(["first line"])
    burst = [f"burst {i:06d} " + "x" * 40 for i in range(200_000)]
    burst_while_blocked(page, log, burst)
    page.wait_for_texts([burst[-1]], timeout=60_000)
    page.wait_until("() => window.logViewer.idle() && window.logViewer.state().count === 200001", timeout=60_000)

    gaps = page.page.evaluate("window.logViewer.gapEvents()")
    assert any(g["reason"] == "slow-client" for g in gaps), f"the burst must overflow the stream: {gaps}"
    assert page.texts() == ["first line", *burst], "every missed line fetched back, once, in order"
    assert gap_counts(page) == 0, "no gap row where nothing is missing"
    # The newest line is on screen (following).
    page.wait_until("(t) => [...document.querySelectorAll('#log .row .msg')].some((e) => e.textContent === t)", burst[-1])


def test_slow_client_gap_shows_exactly_what_the_sidecar_no_longer_holds(sidecar, viewer, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append_lines(log, ["first line"])
    server = sidecar(env=file_env(tmp_path, LOG_SIDECAR_CLIENT_QUEUE_LINES="100", LOG_SIDECAR_BUFFER_LINES="20000"))
    page = viewer().open(server.url)
    page.wait_for_texts(["first line"])
    burst = [f"burst {i:06d} " + "x" * 40 for i in range(150_000)]
    burst_while_blocked(page, log, burst)
    page.wait_for_texts([burst[-1]], timeout=60_000)
    page.wait_until("() => window.logViewer.idle() && !window.logViewer.markers().some((m) => m.text.startsWith('fetching'))", timeout=60_000)

    held = page.texts()
    counts = Counter(held)
    assert all(n == 1 for n in counts.values()), "no line twice"
    assert held == sorted(held, key=lambda t: (t != "first line", t)), "in order"
    missing = len(burst) + 1 - len(held)
    assert missing > 0, "the buffer is smaller than the burst: some lines must be gone"
    assert held[-20_000:] == burst[-20_000:], "every line the sidecar still holds is fetched back"
    assert gap_counts(page) == missing, "the gap rows count exactly the lines that are not on the page"
    page.wait_until("(t) => [...document.querySelectorAll('#log .row .msg')].some((e) => e.textContent === t)", burst[-1])


def test_clearing_a_filter_refills_or_marks_the_exact_gap(sidecar, viewer, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append_lines(log, ["needle first"])
    server = sidecar(env=file_env(tmp_path, LOG_SIDECAR_BUFFER_LINES="1000"))
    page = viewer().open(server.url, "q=needle")
    page.wait_for_texts(["needle first"])
    page.wait_until("() => { const es = window.logViewer.stream.es; return es && es.readyState === 1 && es.url.includes('grep='); }")
    written = ["needle first"] + [f"line {i:04d}" + (" needle" if i % 100 == 0 else "") for i in range(3000)]
    append_lines(log, written[1:])
    page.wait_for_texts([f"line {i:04d} needle" for i in range(0, 3000, 100)])
    assert len(page.texts()) == 31, "only the matching lines came through the server filter"

    page.set_filter("")
    page.wait_until("() => !new URL(location).searchParams.has('q')")
    page.wait_for_texts(["line 2001", "line 2999"])
    page.wait_until("() => window.logViewer.idle() && window.logViewer.markers().some((m) => m.kind === 'gap')")
    held = page.texts()
    assert held == [t for t in written if t in set(held)], "in order, no duplicates"
    assert held[-1000:] == written[-1000:], "everything the sidecar still holds is refilled"
    assert gap_counts(page) == len(written) - len(held), "the lines neither refilled nor shown are counted exactly"


def test_notice_rows_stay_visible_when_scrolled_sideways(sidecar, viewer, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append_lines(log, ["short", "long " + "y" * 6000])
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url)
    page.wait_for_texts(["short"])
    log.write_text("")  # truncated: a `source` notice row
    append_lines(log, ["after truncate"])
    page.wait_for_texts(["after truncate"])
    page.wait_until("() => document.querySelector('#log .row.marker') !== null")
    for scroll in ("0", "el.scrollWidth"):
        page.page.evaluate(f"(() => {{ const el = document.getElementById('log'); el.scrollLeft = {scroll}; }})()")
        page.page.wait_for_timeout(50)
        inside = page.page.evaluate(
            """() => {
                const box = document.getElementById('log').getBoundingClientRect();
                const msg = document.querySelector('#log .row.marker .msg').getBoundingClientRect();
                return msg.left >= box.left && msg.right <= box.right && msg.width > 20;
            }"""
        )
        assert inside, f"the notice row is inside the visible area at scrollLeft={scroll}"
