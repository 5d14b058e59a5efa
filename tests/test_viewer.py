"""The viewer in a real browser (headless Debian chromium through Playwright) against the real sidecar."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.browser import WAIT_MS, ViewerPage, append_lines, browser, viewer  # noqa: F401 (fixtures)
from tests.support.server import SidecarProcess

WEB = Path(__file__).resolve().parents[1] / "sidecar" / "web"


def file_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {"LOG_SIDECAR_FILES": str(folder / "*.log"), "LOG_SIDECAR_ACCESS_LOG": "false"}
    env.update(extra)
    return env


def test_viewer_code_never_renders_html_from_strings() -> None:
    """Every line goes through text nodes; no API that parses a string as HTML is used at all."""
    forbidden = re.compile(r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(")
    for path in sorted(WEB.glob("*.js")):
        hits = [line for line in path.read_text().splitlines() if forbidden.search(line)]
        assert not hits, f"{path.name}: {hits}"
    index = (WEB / "index.html").read_text()
    assert "http://" not in index and "https://" not in index, "no CDN or external asset"


def test_lines_appear_live_and_follow(sidecar, viewer, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append_lines(log, [f"backfill {i}" for i in range(20)])
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url)
    page.wait_for_texts(["backfill 0", "backfill 19"])

    append_lines(log, ["live line one", "live line two"])
    page.wait_for_texts(["live line one", "live line two"])
    # Following: the newest line is rendered (in view) without any scrolling.
    page.wait_until("() => [...document.querySelectorAll('#log .row .msg')].some((e) => e.textContent === 'live line two')")
    assert page.page.locator("#conn").get_attribute("data-state") == "live"

    # Scrolling up stops following; "jump to latest" brings it back.
    page.page.evaluate("document.getElementById('log').scrollTop = 0")
    page.page.mouse.move(600, 300)
    page.page.mouse.wheel(0, -300)
    page.wait_until("() => !window.logViewer.state().follow")
    append_lines(log, [f"while scrolled {i}" for i in range(60)])
    page.wait_for_texts(["while scrolled 59"])
    jump = page.page.locator("#jump")
    jump.wait_for(state="visible")
    jump.click()
    page.wait_until("() => window.logViewer.state().follow")
    page.wait_until("() => [...document.querySelectorAll('#log .row .msg')].some((e) => e.textContent === 'while scrolled 59')")

    # Pause holds new lines back; resume shows them.
    page.page.click("#pause")
    append_lines(log, ["during pause"])
    page.wait_until("() => document.getElementById('conn').textContent.includes('1 new')")
    assert "during pause" not in page.texts()
    page.page.click("#pause")
    page.wait_for_texts(["during pause"])

    page.page.click("#clear")
    page.wait_until("() => window.logViewer.state().count === 0")
    append_lines(log, ["after clear"])
    page.wait_for_texts(["after clear"])
    assert page.texts() == ["after clear"]


def test_text_regex_and_level_filters(sidecar, viewer, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    lines = [
        "INFO request served path=/api/orders",
        "DEBUG cache warm",
        "WARN disk almost full on /var",
        "ERROR disk failed: /dev/sda1",
        "ERROR payment declined",
        "INFO Disk check ok",
    ]
    append_lines(log, lines)
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url)
    page.wait_for_texts(lines)

    # Plain text: case-insensitive by default, highlighted with <mark>.
    page.set_filter("disk")
    page.wait_until("() => window.logViewer.state().shown === 3")
    assert page.shown_texts() == [lines[2], lines[3], lines[5]]
    marks = page.page.eval_on_selector_all("#log mark.hit", "els => els.map((e) => e.textContent)")
    assert marks and all(m.lower() == "disk" for m in marks)
    assert "q=disk" in page.page.url

    # Regex (the same pattern goes to the server as RE2 `grep` for the live stream).
    page.page.click("#regex")
    page.set_filter(r"^ERROR .*(sda|payment)")
    page.wait_until("() => window.logViewer.state().shown === 2")
    assert page.shown_texts() == [lines[3], lines[4]]
    page.wait_until("() => window.logViewer.stream.state === 'live' && new URL(location).searchParams.get('re') === '1'")
    page.wait_until(
        "() => { const es = window.logViewer.stream.es; return es && es.readyState === 1 && es.url.includes('grep='); }"
    )
    append_lines(log, ["INFO not for this stream", "ERROR payment retried"])
    page.wait_for_texts(["ERROR payment retried"])
    assert "INFO not for this stream" not in page.texts(), "the server-side grep filters the live stream"

    # A regex JavaScript accepts but RE2 does not: the server's 400 is shown, the browser still filters.
    page.set_filter(r"ERROR (?=disk)")
    page.page.locator("#filter-error").wait_for(state="visible")
    assert "RE2" in page.page.locator("#filter-error").inner_text()
    page.wait_until("() => window.logViewer.state().shown === 1")

    # Level: minimum level, combined with an empty text filter.
    page.page.click("#regex")
    page.set_filter("")
    page.set_level("warn")
    page.wait_until("() => window.logViewer.state().shown === 4")
    assert set(page.shown_texts()) == {lines[2], lines[3], lines[4], "ERROR payment retried"}
    levels = page.page.eval_on_selector_all("#log .row:not(.marker)", "els => els.map((e) => e.className)")
    assert any("lvl-error" in c for c in levels) and any("lvl-warn" in c for c in levels)

    # The URL carries the state: a fresh tab opened on it shows the same filtered view.
    shared = page.page.url
    assert "level=warn" in shared
    other = viewer()
    other.page.goto(shared)
    other.page.wait_for_function("() => window.logViewer && window.logViewer.state().shown === 4")
    assert other.page.locator('.lvl-btn[data-level="warn"]').get_attribute("aria-checked") == "true"


def test_hostile_lines_render_as_text(sidecar, viewer, tmp_path: Path) -> None:
    hostile = [
        "<script>window.__xss=1</script>",
        '<img src=x onerror="window.__xss=1">',
        '{"msg": "<img src=x onerror=window.__xss=1>", "level": "error"}',
        "\x1b[31mred <b>bold</b>\x1b[0m plain",
    ]
    append_lines(tmp_path / "app.log", hostile)
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url, "json=1")
    page.wait_for_texts(hostile)
    page.wait_until("(n) => document.querySelectorAll('#log .row:not(.marker)').length === n", len(hostile))
    shown = page.row_texts()
    assert hostile[0] in shown[0] and hostile[1] in shown[1]
    assert "red <b>bold</b> plain" in shown[3], "ANSI codes become colour spans, the rest stays literal"
    assert page.page.eval_on_selector_all("#log .a-fg1", "els => els.length") >= 1
    assert page.page.eval_on_selector_all("#log img, #log script, #log b", "els => els.length") == 0
    # The JSON line is shown formatted (expanded by json=1), the markup inside still as text.
    assert page.page.locator("#log .row .json").first.inner_text().count("<img src=x") == 1
    page.page.wait_for_timeout(300)
    assert page.page.evaluate("window.__xss") is None


def test_200k_lines_stay_virtualized(sidecar, viewer, tmp_path: Path) -> None:
    total = 200_000
    log = tmp_path / "big.log"
    with open(log, "w", encoding="utf-8") as file:
        for i in range(total):
            level = "ERROR" if i % 1000 == 0 else "INFO"
            file.write(f"2026-01-01T00:00:00Z {level} big line {i:06d} lorem ipsum dolor sit amet\n")
    server = sidecar(
        env=file_env(
            tmp_path,
            LOG_SIDECAR_BUFFER_LINES="250000",
            LOG_SIDECAR_BUFFER_BYTES=str(256 * 1024 * 1024),
            LOG_SIDECAR_START_BYTES=str(64 * 1024 * 1024),
        )
    )
    page = viewer().open(server.url, f"tail={total}")
    page.wait_until(f"() => window.logViewer.state().count === {total}", timeout=60_000)
    assert page.page.evaluate("window.logViewer.renderedRows()") < 300

    # The newest line is in view (following), and reachable by scrolling to the end.
    last = f"big line {total - 1:06d}"
    page.wait_until("(t) => [...document.querySelectorAll('#log .row .msg')].some((e) => e.textContent.includes(t))", last)
    page.page.evaluate("document.getElementById('log').scrollTop = 0")
    page.wait_until("() => [...document.querySelectorAll('#log .row .msg')].some((e) => e.textContent.includes('big line 000000'))")
    assert page.page.evaluate("window.logViewer.renderedRows()") < 300
    page.page.locator("#log").focus()
    page.page.keyboard.press("End")
    page.wait_until("(t) => [...document.querySelectorAll('#log .row .msg')].some((e) => e.textContent.includes(t))", last)
    assert page.page.evaluate("window.logViewer.renderedRows()") < 300

    # Filtering all 200,000 loaded lines in the browser, then back.
    page.set_filter("big line 1230")
    page.wait_until("() => window.logViewer.state().shown === 100")  # 123000..123099
    page.set_level("error")
    page.wait_until("() => window.logViewer.state().shown === 1")  # 123000 is the only ERROR
    page.set_level("")
    page.set_filter("")
    page.wait_until(f"() => window.logViewer.state().shown === {total}")
    assert page.page.evaluate("window.logViewer.renderedRows()") < 300
    page.screenshot("viewer-200k.png")


def test_reconnects_after_restart_without_duplicates(sidecar, viewer, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    first = [f"before restart {i}" for i in range(30)]
    append_lines(log, first)
    env = file_env(tmp_path)
    server = sidecar(env=env)
    page = viewer().open(server.url)
    page.wait_for_texts(first)

    server.stop()
    page.wait_until("() => window.logViewer.state().conn !== 'live'")
    down = [f"while down {i}" for i in range(5)]
    append_lines(log, down)
    restarted = SidecarProcess({**env, "LOG_SIDECAR_PORT": str(server.port)})
    try:
        restarted.start()
        page.wait_until("() => window.logViewer.state().conn === 'live'", timeout=30_000)
        after = [f"after restart {i}" for i in range(5)]
        append_lines(log, after)
        page.wait_for_texts(down + after, timeout=30_000)
        page.page.wait_for_timeout(500)
        texts = page.texts()
        assert texts == first + down + after, "every line exactly once, in order"
        assert page.page.locator("#log .marker-restart").count() + page.page.evaluate(
            "window.logViewer.store.lines.filter((l) => l.kind === 'restart').length"
        ) >= 1
    finally:
        restarted.stop()


def test_auth_login_with_bearer_token(sidecar, viewer, tmp_path: Path) -> None:
    secret = "s3cret-token-for-tests"
    append_lines(tmp_path / "app.log", ["secret business line"])
    server = sidecar(env=file_env(tmp_path, LOG_SIDECAR_AUTH="bearer", LOG_SIDECAR_AUTH_SECRET=secret))

    page = viewer().open(server.url)
    dialog = page.page.locator("#login")
    dialog.wait_for(state="visible")
    assert page.state()["count"] == 0
    assert page.page.locator("#conn").get_attribute("data-state") == "login"

    page.page.fill("#login-secret", "wrong")
    page.page.click("#login-submit")
    page.page.locator("#login-error").wait_for(state="visible")
    assert page.state()["count"] == 0

    page.page.fill("#login-secret", secret)
    page.page.click("#login-submit")
    page.wait_for_texts(["secret business line"])
    dialog.wait_for(state="hidden")
    append_lines(tmp_path / "app.log", ["live after login"])
    page.wait_for_texts(["live after login"])

    # The secret is nowhere in the page's reach: not in the URL, not in storage; the cookie is HttpOnly.
    assert secret not in page.page.url
    assert page.page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie") == "{}{}"
    cookies = page.context.cookies()
    assert cookies and all(c["httpOnly"] and c["sameSite"] == "Strict" for c in cookies)
    assert all(secret not in c["value"] for c in cookies)

    # Another browser (no cookie) sees the login form again, and no lines.
    stranger = viewer().open(server.url)
    stranger.page.locator("#login").wait_for(state="visible")
    assert stranger.state()["count"] == 0


def test_screenshot_of_a_busy_view(sidecar, viewer, tmp_path: Path) -> None:
    """A realistic mixed view saved as test-artifacts/viewer.png (and viewer-dark.png)."""
    append_lines(
        tmp_path / "api.log",
        [
            "2026-11-26T12:00:00.120Z INFO  [http] GET /api/orders 200 12ms",
            "2026-11-26T12:00:00.340Z DEBUG [db] pool size=10 idle=7",
            "2026-11-26T12:00:00.560Z WARN  [cache] slow lookup took 772ms",
            "2026-11-26T12:00:00.780Z ERROR [orders] payment provider timeout after 3000ms",
            "\x1b[32m2026-11-26T12:00:01.000Z INFO\x1b[0m  [http] \x1b[1mPOST /api/cart\x1b[0m 201 8ms",
            "<script>window.__xss=1</script> shown as text",
        ],
    )
    append_lines(
        tmp_path / "worker.log",
        [
            '{"ts":"2026-11-26T12:00:00.200Z","level":"info","msg":"job started","job_id":"job-1842","queue":"emails"}',
            '{"ts":"2026-11-26T12:00:00.900Z","level":"error","msg":"job failed","job_id":"job-1843","attempt":3}',
            '{"ts":"2026-11-26T12:00:01.100Z","level":"debug","msg":"queue depth","depth":12}',
        ],
    )
    server = sidecar(env=file_env(tmp_path))
    for scheme, name in (("light", "viewer.png"), ("dark", "viewer-dark.png")):
        page = viewer(color_scheme=scheme).open(server.url)
        page.wait_until("() => window.logViewer.state().count === 9")
        page.set_filter("job")
        page.wait_until("() => document.querySelectorAll('#log mark.hit').length > 0")
        page.set_filter("")
        page.wait_until("() => window.logViewer.state().shown === 9")
        page.page.locator("#log .jt").nth(1).click()  # expand one JSON line
        page.page.locator("#log .row .json").wait_for()
        page.set_filter("failed")
        page.wait_until("() => window.logViewer.state().shown === 1")
        page.set_filter("")
        page.wait_until("() => window.logViewer.state().shown === 9")
        page.page.evaluate("document.activeElement.blur()")
        path = page.screenshot(name)
        assert path.stat().st_size > 10_000


def test_scroll_back_loads_older_lines_and_download_takes_the_filtered_view(sidecar, viewer, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append_lines(log, [f"history {i:04d}" + (" needle" if i % 100 == 0 else "") for i in range(3000)])
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url, "tail=200&wrap=1")
    page.wait_until("() => window.logViewer.state().count === 200")

    # Scrolling to the top pages older lines in from api/lines?before=<first id>, keeping the view in place.
    for _ in range(40):
        if page.state()["count"] >= 3000:
            break
        page.page.evaluate("document.getElementById('log').scrollTop = 0; document.getElementById('log').dispatchEvent(new Event('scroll'))")
        page.page.wait_for_timeout(150)
    page.wait_until("() => window.logViewer.state().count === 3000")
    assert page.texts() == [f"history {i:04d}" + (" needle" if i % 100 == 0 else "") for i in range(3000)]
    assert page.page.evaluate("window.logViewer.renderedRows()") < 300

    page.set_filter("needle")
    page.wait_until("() => window.logViewer.state().shown === 30")
    with page.page.expect_download() as download_info:
        page.page.click("#download")
    text = Path(download_info.value.path()).read_text()
    assert [line.split(" ", 1)[1] for line in text.splitlines()] == [f"history {i:04d} needle" for i in range(0, 3000, 100)]


def test_auth_login_with_basic_credentials(sidecar, viewer, tmp_path: Path) -> None:
    append_lines(tmp_path / "app.log", ["basic protected line"])
    server = sidecar(
        env=file_env(tmp_path, LOG_SIDECAR_AUTH="basic", LOG_SIDECAR_AUTH_USERNAME="ops", LOG_SIDECAR_AUTH_SECRET="pässword")
    )
    page = viewer().open(server.url)
    page.page.locator("#login-user").wait_for(state="visible")  # basic mode asks for a user too
    page.page.fill("#login-user", "ops")
    page.page.fill("#login-secret", "pässword")
    page.page.click("#login-submit")
    page.wait_for_texts(["basic protected line"])
    page.page.click("#logout")
    page.page.locator("#login").wait_for(state="visible")


def test_cap_evicts_the_oldest_lines(sidecar, viewer, tmp_path: Path) -> None:
    append_lines(tmp_path / "app.log", [f"capped {i:04d}" for i in range(3000)])
    server = sidecar(env=file_env(tmp_path))
    page = viewer().open(server.url, "tail=3000&cap=1000")
    page.wait_for_texts(["capped 2999"])
    page.wait_until("() => window.logViewer.state().count <= 1010")  # the cap, plus 1% slack before a chunked eviction
    texts = page.texts()
    assert texts[-1] == "capped 2999" and "capped 0000" not in texts
    assert texts == sorted(texts), "the newest lines are kept, in order"
