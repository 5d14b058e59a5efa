"""Playwright helpers for the viewer tests: Debian's chromium, headless, no downloads.

We never run `playwright install` (it downloads a browser build of its own, which an
air-gapped CI cannot fetch): the browser is the distribution's /usr/bin/chromium, installed
by scripts/bootstrap.d/30-browser.sh.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("LOG_SIDECAR_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts"
WAIT_MS = 20_000  # the longest any single wait in a viewer test may take


def ensure_chromium() -> Path | None:
    """The browser binary, installing it with the bootstrap script when it is missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    script = REPO / "scripts" / "bootstrap.d" / "30-browser.sh"
    if script.exists() and shutil.which("bash"):
        subprocess.run(["bash", str(script)], check=False, timeout=600, stdin=subprocess.DEVNULL)
    return CHROMIUM if CHROMIUM.exists() else None


_SHARED: dict[str, object] = {}


def _shared_browser(executable: Path) -> object:
    """One Playwright and one Chromium for the whole test session, however many test modules
    import the fixture (each import defines a fixture of its own; a second sync_playwright()
    inside the first one's loop is refused)."""
    if "browser" not in _SHARED:
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        _SHARED["playwright"] = playwright
        _SHARED["browser"] = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS, timeout=30_000)
        atexit.register(_close_shared)
    return _SHARED["browser"]


def _close_shared() -> None:
    try:
        _SHARED.pop("browser").close()  # type: ignore[attr-defined]
        _SHARED.pop("playwright").stop()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - the process is exiting anyway
        pass


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:  # pragma: no cover - the test extras include playwright
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    executable = ensure_chromium()
    if executable is None:
        pytest.skip(f"{CHROMIUM} is missing and scripts/bootstrap.d/30-browser.sh could not install it")
    yield _shared_browser(executable)


class ViewerPage:
    """One browser tab on the viewer, with the page's own errors collected."""

    def __init__(self, context: object) -> None:
        self.context = context
        self.page = context.new_page()  # type: ignore[attr-defined]
        self.page.set_default_timeout(WAIT_MS)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)

    def open(self, url: str, query: str = "") -> ViewerPage:
        self.page.goto(url.rstrip("/") + "/" + (("?" + query) if query else ""))
        self.page.wait_for_function("() => window.logViewer !== undefined")
        return self

    def wait_until(self, expression: str, arg: object = None, timeout: int = WAIT_MS) -> object:
        """Wait for a JS expression (a function of `arg`) to be truthy; returns its value."""
        return self.page.wait_for_function(expression, arg=arg, timeout=timeout).json_value()

    def wait_for_texts(self, texts: list[str], timeout: int = WAIT_MS) -> None:
        self.wait_until(
            "(texts) => { const held = new Set(window.logViewer.texts()); return texts.every((t) => held.has(t)); }",
            texts,
            timeout,
        )

    def texts(self) -> list[str]:
        return self.page.evaluate("window.logViewer.texts()")

    def shown_texts(self) -> list[str]:
        return self.page.evaluate("window.logViewer.shownTexts()")

    def row_texts(self) -> list[str]:
        """Message text of the rows in the DOM (only the visible ones, by design)."""
        return self.page.eval_on_selector_all("#log .row:not(.marker) .msg", "els => els.map((e) => e.textContent)")

    def state(self) -> dict:
        return self.page.evaluate("window.logViewer.state()")

    def set_filter(self, text: str) -> None:
        self.page.fill("#filter", text)

    def set_level(self, level: str) -> None:
        """Click a level in the segmented control ("" for all)."""
        self.page.click(f'.lvl-btn[data-level="{level}"]')

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def viewer(browser: object) -> Iterator[callable]:
    """Factory: viewer(color_scheme="light") opens a fresh context (own cookies) and tab."""
    contexts = []
    pages: list[ViewerPage] = []

    def make(color_scheme: str = "light", width: int = 1280, height: int = 760) -> ViewerPage:
        context = browser.new_context(  # type: ignore[attr-defined]
            viewport={"width": width, "height": height}, color_scheme=color_scheme, accept_downloads=True
        )
        contexts.append(context)
        page = ViewerPage(context)
        pages.append(page)
        return page

    yield make
    for context in contexts:
        context.close()
    for page in pages:
        # Failed resource loads (401 before login, a refused reconnect) are expected; script errors are not.
        script_errors = [e for e in page.errors if "Failed to load resource" not in e and "EventSource" not in e]
        assert not script_errors, f"errors in the page: {script_errors}"


def append_lines(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as file:
        file.write("".join(line + "\n" for line in lines))
