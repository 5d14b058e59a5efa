"""Entries and fields in the viewer (issue 10, point 6), against the wire format of COMMON.md:
each line carries `entry` (the id of its entry's first line) and `fields` (parsed JSON/logfmt or null).

These need the server side of issue 10 (multi-line grouping, field parsing, `field=` filters),
built on another branch: they pass once both are merged.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.browser import append_lines, browser, viewer  # noqa: F401 (fixtures)

TRACE = [
    "2026-11-26T12:00:00.100Z ERROR payment failed",
    "Traceback (most recent call last):",
    '  File "/app/pay.py", line 12, in charge',
    "    raise TimeoutError('provider')",
    "TimeoutError: provider",
]
JSON_LINES = [
    '{"ts":"2026-11-26T12:00:01.000Z","level":"info","msg":"served","status":200,"http":{"method":"GET"}}',
    '{"ts":"2026-11-26T12:00:02.000Z","level":"error","msg":"served","status":500,"http":{"method":"POST"}}',
    '{"ts":"2026-11-26T12:00:03.000Z","level":"info","msg":"served","status":200,"http":{"method":"GET"}}',
]


def file_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {"LOG_SIDECAR_FILES": str(folder / "*.log"), "LOG_SIDECAR_ACCESS_LOG": "false", "LOG_SIDECAR_MULTILINE": "auto"}
    env.update(extra)
    return env


def test_a_multiline_entry_is_one_record_expandable_and_copied_whole(sidecar, viewer, tmp_path: Path) -> None:
    append_lines(tmp_path / "app.log", [*TRACE, "2026-11-26T12:00:00.200Z INFO next entry"])
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url, "utc=1")
    page.wait_for_texts([TRACE[-1], "2026-11-26T12:00:00.200Z INFO next entry"])
    page.wait_until("() => document.querySelectorAll('#log .row:not(.marker)').length === 2")
    first = page.page.locator("#log .row", has_text="payment failed")
    assert first.locator(".et").inner_text() == "\u25b8 +4"
    assert first.locator(".ts").inner_text() == "12:00:00.100"

    first.locator(".et").click()
    page.wait_until("() => document.querySelectorAll('#log .row:not(.marker)').length === 6")
    times = page.page.eval_on_selector_all("#log .row.cont .ts", "els => els.map((e) => e.textContent)")
    assert times == ["12:00:00.100"] * 4, "continuation lines carry their entry's time"

    first.hover()
    first.locator(".act-copy").click()
    assert page.page.evaluate("window.logViewer.lastCopied()") == "\n".join(TRACE)

    # level=error keeps the whole entry (the server filters entries).
    page.set_level("error")
    page.wait_until("() => window.logViewer.state().shown === 5")


def test_field_columns_from_the_key_picker_and_click_to_filter(sidecar, viewer, tmp_path: Path) -> None:
    append_lines(tmp_path / "app.log", JSON_LINES)
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url, "utc=1")
    page.wait_for_texts(JSON_LINES)
    # The line's own time (from its `ts` field) is the time column.
    assert page.page.locator("#log .row:not(.marker) .ts").first.inner_text() == "12:00:01.000"

    page.page.click("#view-menu > summary")
    page.page.locator("#field-picker .chip", has_text="status").click()
    page.page.locator("#field-picker .chip", has_text="http.method").click()
    page.page.keyboard.press("Escape")
    page.wait_until("() => document.querySelectorAll('#log .fcol').length === 6")
    cells = page.page.eval_on_selector_all("#log .row:not(.marker)", "els => els.map((e) => [...e.querySelectorAll('.fcol')].map((c) => c.textContent))")
    assert cells == [["200", "GET"], ["500", "POST"], ["200", "GET"]]
    assert "cols=status%2Chttp.method" in page.page.url

    page.page.locator("#log .fval", has_text="500").click()
    page.wait_until("() => window.logViewer.state().shown === 1")
    assert "field=status%3D500" in page.page.url
    page.wait_until("() => { const es = window.logViewer.stream.es; return es && es.url.includes('field=status%3D500'); }")
    append_lines(tmp_path / "app.log", [JSON_LINES[0], JSON_LINES[1]])
    page.wait_until("() => window.logViewer.state().count === 4")  # the server sent only the status=500 line
    page.page.locator(".filter-chip").click()  # remove the field filter
    page.wait_until("() => window.logViewer.state().shown >= 4")


def test_entry_rows_render_as_text_only(sidecar, viewer, tmp_path: Path) -> None:
    append_lines(tmp_path / "app.log", ['{"level":"error","msg":"<img src=x onerror=window.__xss=1>","user":"<b>bob</b>"}'])
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url, "cols=user&json=1")
    page.wait_until("() => window.logViewer.state().count === 1")
    page.wait_until("() => document.querySelector('#log .fcol') !== null")
    assert page.page.locator("#log .fcol").inner_text() == "<b>bob</b>"
    assert page.page.eval_on_selector_all("#log img, #log b", "els => els.length") == 0
    assert page.page.evaluate("window.__xss") is None
