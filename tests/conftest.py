from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.server import SidecarProcess


@pytest.fixture
def sidecar() -> Iterator[Callable[..., SidecarProcess]]:
    """Factory: sidecar(env={...}) starts a real sidecar process; all are stopped after the test."""
    started: list[SidecarProcess] = []

    def start(
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        wait_ready: bool = True,
        wrapper: list[str] | None = None,
    ) -> SidecarProcess:
        process = SidecarProcess(env, args, wrapper)
        started.append(process)
        return process.start(wait_ready=wait_ready)

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """A log folder with an empty app.log (a sidecar is ready once it follows one file)."""
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "app.log").write_bytes(b"")
    return folder
