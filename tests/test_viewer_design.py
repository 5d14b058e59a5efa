"""Design and layout of the viewer (issue 11, points 1 and 2): screenshots at desktop and phone
sizes in light and dark, each checked for layout (no control outside the window, notices in view)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import append_lines, browser, viewer  # noqa: F401 (fixtures)

SIZES = {"desktop": (1280, 760), "phone": (390, 760)}
OUTSIDE = """() => {
    const bad = [];
    const w = window.innerWidth, h = window.innerHeight;
    for (const el of document.querySelectorAll('header *, footer *, #banner, #banner *, details[open] .popover *, #jump')) {
        if (el.closest('svg') && el.tagName !== 'svg') continue;
        const menu = el.closest('details');
        if (menu && !menu.open && !el.closest('summary')) continue;  // a closed menu's content is not shown
        const r = el.getBoundingClientRect();
        if (!r.width || !r.height || getComputedStyle(el).visibility === 'hidden') continue;
        if (el.closest('.status') && el.closest('.notice')) continue;  // the notice text is cut with an ellipsis by design
        if (r.left < -0.5 || r.top < -0.5 || r.right > w + 0.5 || r.bottom > h + 0.5) bad.push((el.id || el.className || el.tagName) + ' ' + JSON.stringify([r.left, r.top, r.right, r.bottom]));
    }
    return bad;
}"""


def file_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {"LOG_SIDECAR_FILES": str(folder / "*.log"), "LOG_SIDECAR_ACCESS_LOG": "false"}
    env.update(extra)
    return env


def sample_logs(folder: Path) -> None:
    append_lines(folder / "api.log", [
        "2026-11-26T12:00:00.120Z INFO  [http] GET /api/orders 200 12ms",
        "2026-11-26T12:00:00.340Z DEBUG [db] pool size=10 idle=7",
        "2026-11-26T12:00:00.560Z WARN  [cache] slow lookup took 772ms",
        "2026-11-26T12:00:00.780Z ERROR [orders] payment provider timeout after 3000ms " + "detail " * 60,
        "\x1b[32m2026-11-26T12:00:01.000Z INFO\x1b[0m  [http] \x1b[1mPOST /api/cart\x1b[0m 201 8ms",
    ])
    append_lines(folder / "worker.log", [
        '{"ts":"2026-11-26T12:00:00.200Z","level":"info","msg":"job started","job_id":"job-1842"}',
        'ts=2026-11-26T12:00:01.100Z level=debug msg="queue depth" depth=12',
    ])


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_layout_fits_in_every_size_and_theme(sidecar, viewer, tmp_path: Path, size: str, scheme: str) -> None:
    sample_logs(tmp_path)
    server = sidecar(env=file_env(tmp_path))
    width, height = SIZES[size]
    page = viewer(color_scheme=scheme, width=width, height=height).open(server.url)
    page.wait_until("() => window.logViewer.state().count === 7")
    page.page.wait_for_timeout(100)
    assert page.page.evaluate(OUTSIDE) == [], "every control is inside the window"
    page.screenshot(f"viewer-{size}-{scheme}.png")

    # The message starts near the left edge: on a phone the time and source take at most a quarter of the width.
    left = page.page.evaluate("document.querySelector('#log .row:not(.marker) .msg').getBoundingClientRect().left")
    assert left < width * (0.25 if size == "phone" else 0.2)

    for menu in ("#sources-menu", "#time-menu", "#view-menu"):
        page.page.click(f"{menu} > summary")
        page.page.locator(f"{menu} .popover").wait_for(state="visible")
        assert page.page.evaluate(OUTSIDE) == [], f"{menu} fits the window"
        page.screenshot(f"viewer-{size}-{scheme}-{menu[1:]}.png")
        page.page.keyboard.press("Escape")

    # A notice is in view too (a rotation banner).
    (tmp_path / "api.log").write_text("")
    append_lines(tmp_path / "api.log", ["after truncation"])
    page.page.locator("#banner").wait_for(state="visible")
    assert page.page.evaluate(OUTSIDE) == []
    page.screenshot(f"viewer-{size}-{scheme}-banner.png")


def test_empty_states_say_what_is_followed_and_what_did_not_match(sidecar, viewer, tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("")
    (tmp_path / "worker.log").write_text("")
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url)
    page.wait_until("() => document.getElementById('empty').textContent.includes('waiting for lines')")
    text = page.page.locator("#empty").inner_text()
    assert "app.log" in text and "worker.log" in text and text.startswith("Following")

    append_lines(tmp_path / "app.log", ["hello"])
    page.wait_for_texts(["hello"])
    page.set_filter("nothing-like-this")
    page.wait_until("() => document.getElementById('empty').textContent.includes('No line matches')")
    assert "nothing-like-this" in page.page.locator("#empty").inner_text()


def test_a_search_the_server_applies_that_matches_nothing_says_so(sidecar, viewer, tmp_path: Path) -> None:
    """Opened with a search in the URL, the server filters the stream and sends no line: the empty
    state must say that nothing matched, not that nothing was written."""
    append_lines(tmp_path / "app.log", ["hello"])
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url, "q=nothing-like-this")
    page.wait_until("() => document.getElementById('empty').textContent.includes('no line matches')")
    text = page.page.locator("#empty").inner_text()
    assert "nothing-like-this" in text and "app.log" in text and "waiting for lines" not in text


def test_one_time_column_and_a_source_column_that_can_be_hidden(sidecar, viewer, tmp_path: Path) -> None:
    append_lines(tmp_path / "a.log", ["2026-11-26T12:00:00.120Z INFO stamped line", "unstamped line"])
    append_lines(tmp_path / "b.log", ["from b"])
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url, "utc=1")
    page.wait_until("() => window.logViewer.state().count === 3")
    page.wait_until("() => document.querySelectorAll('#log .row:not(.marker)').length === 3")
    rows = page.page.eval_on_selector_all("#log .row:not(.marker)", "els => els.map((e) => [e.querySelector('.ts').textContent, e.querySelector('.msg').textContent])")
    stamped = next(r for r in rows if "stamped line" in r[1] and "un" not in r[1])
    assert stamped == ["12:00:00.120", "INFO stamped line"], "the line's own time is the time column, not repeated"
    assert any(r[1] == "unstamped line" for r in rows)
    src = page.page.locator("#log .row:not(.marker) .src").first
    assert src.is_visible()
    page.page.click("#view-menu > summary")
    page.page.click("#opt-src")
    assert not src.is_visible()
    assert "src=0" in page.page.url
