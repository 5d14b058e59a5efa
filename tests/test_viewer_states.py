"""States a user must not miss, honest text, auth states and live-only counting (issue 11, points 5, 8, 9, 10)."""

from __future__ import annotations

from pathlib import Path

from tests.support.browser import append_lines, browser, viewer  # noqa: F401 (fixtures)
from tests.support.server import SidecarProcess


def file_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {"LOG_SIDECAR_FILES": str(folder / "*.log"), "LOG_SIDECAR_ACCESS_LOG": "false"}
    env.update(extra)
    return env


def banner_in_view(page) -> str:
    """The banner's text, after checking it is shown inside the window."""
    banner = page.page.locator("#banner")
    banner.wait_for(state="visible")
    box = banner.bounding_box()
    size = page.page.viewport_size
    assert box and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= size["width"] + 1
    assert box["y"] + box["height"] <= size["height"]
    return banner.inner_text()


def test_disconnect_and_restart_are_shown_in_a_banner(sidecar, viewer, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append_lines(log, ["2026-11-26T12:03:04Z before the break"])
    env = file_env(tmp_path)
    server = sidecar(env=env)
    page = viewer().open(server.url)
    page.wait_for_texts(["2026-11-26T12:03:04Z before the break"])
    assert page.page.locator("#banner").is_hidden(), "nothing to announce while all is well"

    server.stop()
    page.wait_until("() => document.getElementById('banner').dataset.kind === 'error'")
    text = banner_in_view(page)
    assert "Disconnected" in text and "reconnecting" in text and "Last line" in text
    restarted = SidecarProcess({**env, "LOG_SIDECAR_PORT": str(server.port)})
    try:
        restarted.start()
        page.wait_until("() => window.logViewer.state().conn === 'live'", timeout=30_000)
        page.wait_until("() => document.getElementById('banner').dataset.kind !== 'error'")
        text = banner_in_view(page)
        assert "restarted" in text or "Reconnected" in text
    finally:
        restarted.stop()


def test_rotation_is_announced(sidecar, viewer, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append_lines(log, ["old file line"])
    server = sidecar(env=file_env(tmp_path, LOG_SIDECAR_FILES=str(log)))
    page = viewer().open(server.url)
    page.wait_for_texts(["old file line"])
    log.rename(tmp_path / "app.log.1")
    append_lines(log, ["new file line"])
    page.wait_for_texts(["new file line"])
    page.wait_until("() => /rotated|truncated/.test(document.getElementById('banner-text').textContent)")
    text = banner_in_view(page)
    assert "app.log" in text and " at " in text, "what happened, to which source, and when"
    page.page.click("#banner-close")
    page.page.locator("#banner").wait_for(state="hidden")


def test_bidi_c1_and_unterminated_osc_are_shown_honestly(sidecar, viewer, tmp_path: Path) -> None:
    lines = [
        "user=\u202egnp.exe",
        "next\u0085line and \u2066isolate\u2069",
        "before \x1b]0;unterminated title and the rest of the line",
        "bell\x07 and nul\x00 end",
    ]
    log = tmp_path / "app.log"
    with open(log, "w", encoding="utf-8") as file:
        file.write("".join(line + "\n" for line in lines))
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url)
    page.wait_until("() => window.logViewer.state().count === 4")
    page.wait_until("() => document.querySelectorAll('#log .row:not(.marker)').length === 4")
    rows = page.row_texts()
    assert rows[0] == "user=RLOgnp.exe", "the override is a visible name; the text keeps its order"
    assert "\u202e" not in "".join(rows) and "\u2066" not in "".join(rows) and "\u0085" not in "".join(rows)
    assert rows[1] == "nextNELline and LRIisolatePDI"
    assert "unterminated title and the rest of the line" in rows[2], "an unterminated OSC hides nothing"
    assert rows[3] == "bellBEL and nulNUL end"
    names = page.page.eval_on_selector_all("#log .cc", "els => els.map((e) => e.textContent)")
    assert {"RLO", "NEL", "LRI", "PDI", "BEL", "NUL"} <= set(names)
    # The user=... row displays left to right as written: "gnp" comes before "exe" on screen.
    order = page.page.evaluate(
        """() => {
            const msg = [...document.querySelectorAll('#log .row .msg')].find((e) => e.textContent.startsWith('user='));
            const text = msg.lastChild; const range = document.createRange();
            const at = (s) => { const i = text.textContent.indexOf(s); range.setStart(text, i); range.setEnd(text, i + 1); return range.getBoundingClientRect().left; };
            return at('g') < at('e');
        }"""
    )
    assert order


def test_log_out_is_there_after_a_reload_and_forgets_the_lines(sidecar, viewer, tmp_path: Path) -> None:
    secret = "reload-token-1234"
    append_lines(tmp_path / "app.log", ["private line"])
    server = sidecar(env=file_env(tmp_path, LOG_SIDECAR_AUTH="bearer", LOG_SIDECAR_AUTH_SECRET=secret))
    page = viewer().open(server.url)
    page.page.locator("#login").wait_for(state="visible")
    page.page.fill("#login-secret", secret)
    page.page.click("#login-submit")
    page.wait_for_texts(["private line"])

    page.page.reload()
    page.page.wait_for_function("() => window.logViewer && window.logViewer.texts().includes('private line')")
    page.page.locator("#logout").wait_for(state="visible")

    page.page.click("#logout")
    page.page.locator("#login").wait_for(state="visible")
    assert page.state()["count"] == 0, "the lines are gone from memory"
    assert page.page.evaluate("document.querySelectorAll('#log .row').length") == 0, "and from the screen"
    assert page.page.evaluate("window.logViewer.texts()") == []


def test_rate_meter_counts_live_lines_only(sidecar, viewer, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append_lines(log, [f"backfill {i}" for i in range(3000)])
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url, "tail=3000")
    page.wait_until("() => window.logViewer.state().count === 3000")
    append_lines(log, ["live 1", "live 2", "live 3"])
    page.wait_for_texts(["live 3"])
    assert page.page.evaluate("window.logViewer.liveLines()") == 3


def test_sources_read_at_start_are_merged_by_time(sidecar, viewer, tmp_path: Path) -> None:
    append_lines(tmp_path / "a.log", [f"2026-11-26T12:00:0{i}.000Z a{i}" for i in range(0, 10, 2)])
    append_lines(tmp_path / "b.log", [f"2026-11-26T12:00:0{i}.000Z b{i}" for i in range(1, 10, 2)])
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url)
    page.wait_until("() => window.logViewer.state().count === 10")
    expected = [f"{'a' if i % 2 == 0 else 'b'}{i}" for i in range(10)]
    page.wait_until(
        "(want) => JSON.stringify(window.logViewer.shownTexts().map((t) => t.split(' ')[1])) === JSON.stringify(want)", expected
    )
    rows = page.page.eval_on_selector_all("#log .row:not(.marker) .msg", "els => els.map((e) => e.textContent)")
    assert rows == expected, "interleaved by time on screen, not one block per file"
    # Live lines still come in arrival order, after the merged start; no line is lost or doubled.
    append_lines(tmp_path / "a.log", ["2026-11-26T12:00:10.000Z a10"])
    page.wait_for_texts(["2026-11-26T12:00:10.000Z a10"])
    assert sorted(page.texts()) == sorted([*(f"2026-11-26T12:00:0{i}.000Z {n}" for i, n in enumerate(expected)), "2026-11-26T12:00:10.000Z a10"])
