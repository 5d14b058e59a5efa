"""Time, search, links, copy and keyboard in the viewer (issue 11, points 3, 4, 6 and 7), in Chromium."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from tests.support.browser import ViewerPage, append_lines, browser, viewer  # noqa: F401 (fixtures)


def file_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {"LOG_SIDECAR_FILES": str(folder / "*.log"), "LOG_SIDECAR_ACCESS_LOG": "false"}
    env.update(extra)
    return env


def rendered(page, text: str) -> None:
    page.wait_until("(t) => [...document.querySelectorAll('#log .row .msg')].some((e) => e.textContent.includes(t))", text)


def test_time_zone_switch_full_date_on_hover_and_range_picker(sidecar, browser, tmp_path: Path) -> None:
    append_lines(tmp_path / "app.log", ["2026-11-26T12:03:04.500Z INFO stamped"])
    server = sidecar(env=file_env(tmp_path))
    ctx = browser.new_context(timezone_id="Asia/Kolkata", viewport={"width": 1280, "height": 760})
    try:
        tab = ViewerPage(ctx).open(server.url)
        tab.wait_for_texts(["2026-11-26T12:03:04.500Z INFO stamped"])
        ts = tab.page.locator("#log .row:not(.marker) .ts").first
        assert ts.inner_text() == "17:33:04.500", "local time (UTC+05:30)"
        assert ts.get_attribute("title") == "2026-11-26 17:33:04.500000 UTC+05:30", "full date, time and zone on hover"
        tab.page.click("#time-menu > summary")
        tab.page.click("#zone-utc")
        tab.page.wait_for_function("() => document.querySelector('#log .row:not(.marker) .ts').textContent === '12:03:04.500'")
        assert tab.page.locator("#log .row:not(.marker) .ts").first.get_attribute("title").endswith(" UTC")
        assert "utc=1" in tab.page.url

        # The range picker: "last 5 min" reloads with since=...; the old stamped line is outside it.
        append_lines(tmp_path / "app.log", ["unstamped, read just now"])
        tab.wait_for_texts(["unstamped, read just now"])
        tab.page.evaluate("document.getElementById('time-menu').open = true")
        tab.page.click('.range[data-since="5m"]')
        tab.page.wait_for_function("() => window.logViewer.stream.es && window.logViewer.stream.es.url.includes('since=')")
        tab.wait_for_texts(["unstamped, read just now"])
        assert "2026-11-26T12:03:04.500Z INFO stamped" not in tab.texts()
        assert tab.page.locator("#time-label").inner_text() == "last 5 min"
        assert "since=5m" in tab.page.url
    finally:
        ctx.close()


def test_search_counts_steps_highlights_and_shows_context(sidecar, viewer, tmp_path: Path) -> None:
    lines = [f"line {i:03d}" + (" Needle" if i % 25 == 0 else "") for i in range(200)]
    append_lines(tmp_path / "app.log", lines)
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url)
    page.wait_for_texts(lines[-1:])

    page.set_filter("needle")
    page.wait_until("() => document.getElementById('match-count').textContent === '8 matches'")
    page.page.locator("#filter").press("Enter")
    page.wait_until("() => document.getElementById('match-count').textContent.startsWith('1 / 8')")
    page.page.locator("#log").focus()
    page.page.keyboard.press("n")
    page.wait_until("() => document.getElementById('match-count').textContent.startsWith('2 / 8')")
    page.page.keyboard.press("Shift+N")
    page.wait_until("() => document.getElementById('match-count').textContent.startsWith('1 / 8')")

    # Highlight only: every line stays, the hits are marked.
    page.page.keyboard.press("h")
    page.wait_until("() => window.logViewer.state().shown === 200")
    assert page.page.locator("#highlight").get_attribute("aria-pressed") == "true"
    assert "hl=1" in page.page.url
    page.page.click("#highlight")
    page.wait_until("() => window.logViewer.state().shown === 8")

    # Context: the lines around a hit, from the sidecar, shown with the filter still on.
    row = page.page.locator("#log .row", has_text="line 100 Needle")
    row.hover()
    row.locator(".act-context").click()
    page.wait_until("() => window.logViewer.state().shown >= 28")
    shown = page.shown_texts()
    assert all(f"line {i:03d}" in shown for i in range(90, 100)) and "line 110" in shown

    # (?i) in the browser works as in RE2.
    page.page.click("#regex")
    page.set_filter("(?i)^line 1[0-9]0 needle$")
    page.wait_until("() => window.logViewer.state().shown === 2")  # 100 and 150
    assert page.page.locator("#filter-error").is_hidden()


def test_permalink_opens_the_viewer_at_that_line(sidecar, viewer, tmp_path: Path) -> None:
    append_lines(tmp_path / "app.log", [f"history {i:04d}" for i in range(5000)])
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url, "tail=100")
    page.wait_for_texts(["history 4999"])
    target_id = page.page.evaluate("window.logViewer.store.lines.find((l) => l.text === 'history 4950').id")
    page.page.evaluate("window.logViewer.viewport.scrollToIndex(window.logViewer.view.rows.findIndex((l) => l.text === 'history 4950'))")
    row = page.page.locator("#log .row", has_text="history 4950")
    row.hover()
    row.locator(".act-link").click()
    link = page.page.evaluate("window.logViewer.lastCopied()")
    assert urlsplit(link).fragment == f"line={target_id}"

    # A line long out of the backfill: fetched from history around it, shown, following stops.
    old_id = page.page.evaluate(
        "async () => (await (await fetch('api/lines?limit=1&after=0')).json()).lines[0].id"
    )  # history 0000
    other = viewer().open(server.url, f"tail=100#line={old_id}")
    other.wait_for_texts(["history 0000"])
    rendered(other, "history 0000")
    assert other.page.evaluate("window.logViewer.currentId()") == old_id
    assert other.state()["follow"] is False
    assert other.page.locator("#log .row.current .msg").inner_text() == "history 0000"


def test_copy_a_line_an_entry_and_a_selection_as_plain_text(sidecar, viewer, tmp_path: Path) -> None:
    append_lines(tmp_path / "app.log", ["2026-11-26T12:00:00Z first \x1b[31mred\x1b[0m", "second line", "third line"])
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url)
    page.wait_for_texts(["second line", "third line"])
    row = page.page.locator("#log .row", has_text="first")
    row.hover()
    row.locator(".act-copy").click()
    assert page.page.evaluate("window.logViewer.lastCopied()") == "2026-11-26T12:00:00Z first red"

    # Select across three rows: the copy is the three lines, without the time or source columns.
    copied = page.page.evaluate(
        """() => {
            const rows = [...document.querySelectorAll('#log .row:not(.marker)')];
            const range = document.createRange();
            range.setStart(rows[0].querySelector('.ts').firstChild, 0);
            range.setEnd(rows[2].querySelector('.msg').lastChild, 3);
            const sel = getSelection(); sel.removeAllRanges(); sel.addRange(range);
            let out = null;
            const grab = (e) => { out = e.clipboardData.getData('text/plain'); };
            document.addEventListener('copy', grab);
            const data = new DataTransfer();
            document.getElementById('log').dispatchEvent(new ClipboardEvent('copy', { clipboardData: data, bubbles: true, cancelable: true }));
            document.removeEventListener('copy', grab);
            return data.getData('text/plain');
        }"""
    )
    assert copied == "2026-11-26T12:00:00Z first red\nsecond line\nthird line"


def test_copying_part_of_a_line_keeps_control_characters_as_they_are(sidecar, viewer, tmp_path: Path) -> None:
    append_lines(tmp_path / "app.log", ["user=\u202egnp.exe done"])
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url)
    page.wait_for_texts(["user=\u202egnp.exe done"])
    rendered(page, "gnp.exe")
    copied = page.page.evaluate(
        """() => {
            const msg = document.querySelector('#log .row:not(.marker) .msg');
            const range = document.createRange();
            range.setStart(msg.firstChild, 0);
            range.setEnd(msg.lastChild, 7);
            const sel = getSelection(); sel.removeAllRanges(); sel.addRange(range);
            const data = new DataTransfer();
            msg.dispatchEvent(new ClipboardEvent('copy', { clipboardData: data, bubbles: true, cancelable: true }));
            return data.getData('text/plain');
        }"""
    )
    assert copied == "user=\u202egnp.exe", "the override character itself, not its visible name"


def test_keyboard_help_pause_wrap_errors_and_latest(sidecar, viewer, tmp_path: Path) -> None:
    lines = [f"row {i:03d}" + (" ERROR boom" if i in (20, 60) else "") for i in range(300)]
    append_lines(tmp_path / "app.log", lines)
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url)
    page.wait_for_texts(lines[-1:])
    page.page.locator("#log").focus()

    page.page.keyboard.press("?")
    page.page.locator("#help-sheet").wait_for(state="visible")
    assert "Next / previous error" in page.page.locator("#help-sheet").inner_text()
    page.page.keyboard.press("Escape")
    page.page.locator("#help-sheet").wait_for(state="hidden")

    page.page.keyboard.press("E")  # previous error, from the bottom
    page.wait_until("() => document.querySelector('#log .row.current')?.textContent.includes('row 060')")
    page.page.keyboard.press("E")
    page.wait_until("() => document.querySelector('#log .row.current')?.textContent.includes('row 020')")
    page.page.keyboard.press("e")
    page.wait_until("() => document.querySelector('#log .row.current')?.textContent.includes('row 060')")

    page.page.keyboard.press("w")
    page.wait_until("() => document.getElementById('log').classList.contains('wrap')")
    page.page.keyboard.press("Space")
    page.wait_until("() => window.logViewer.state().paused")
    page.page.keyboard.press("Space")
    page.wait_until("() => !window.logViewer.state().paused")
    page.page.keyboard.press("G")
    page.wait_until("() => window.logViewer.state().follow")
    rendered(page, "row 299")
    page.page.keyboard.press("/")
    assert page.page.evaluate("document.activeElement.id") == "filter"


def test_histogram_shows_volume_by_level_and_dragging_zooms(sidecar, viewer, tmp_path: Path) -> None:
    lines = [f"2026-11-26T12:{m:02d}:00.000Z {'ERROR' if m % 3 == 0 else 'INFO'} minute {m}" for m in range(10)]
    append_lines(tmp_path / "app.log", lines)
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url, "utc=1")
    page.wait_for_texts(lines)
    page.wait_until("() => document.getElementById('histogram-range').textContent === '12:00:00 – 12:09:00'")
    painted = page.page.evaluate(
        """() => { const c = document.getElementById('histogram'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""
    )
    assert painted > 0, "bars are drawn"

    box = page.page.locator("#histogram").bounding_box()
    page.page.mouse.move(box["x"] + 1, box["y"] + box["height"] / 2)
    page.page.mouse.down()
    page.page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] / 2, steps=5)
    page.page.mouse.up()
    page.wait_until("() => !document.getElementById('zoom').hidden")
    shown = page.shown_texts()
    assert shown and shown == lines[: len(shown)] and len(shown) < len(lines), "only the dragged time range"
    assert "tw=" in page.page.url
    page.page.click("#zoom-reset")
    page.wait_until("(n) => window.logViewer.state().shown === n", len(lines))
