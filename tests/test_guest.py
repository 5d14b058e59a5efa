"""The guest principle end to end: the sidecar never harms the pod it sits in (issue 8)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import SidecarProcess

UNICODE_DIGITS = ["²", "①", "١٢", "１２", "٣"]


@pytest.fixture(scope="module")
def guest_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guest")
    (folder / "app.log").write_text("hello\n")
    with SidecarProcess({"LOG_SIDECAR_FILES": str(folder / "*.log")}) as server:
        yield server


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/stream", "last_event_id"),
        ("/api/stream", "tail"),
        ("/api/stream", "since"),
        ("/api/lines", "before"),
        ("/api/lines", "after"),
        ("/api/lines", "limit"),
        ("/api/download", "level"),
        ("/api/stream", "source"),
    ],
)
def test_unicode_digits_in_a_parameter_are_a_4xx(guest_server, path: str, name: str, digits: str) -> None:
    response = httpx.get(guest_server.url + path, params={name: digits}, timeout=10)
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize("raw", ["²".encode("latin-1"), "①".encode(), "١٢".encode(), b"1\xb2"])
def test_unicode_digits_in_last_event_id_header_are_a_400(guest_server, raw: bytes) -> None:
    response = httpx.get(guest_server.url + "/api/stream", headers={"Last-Event-ID": raw}, timeout=10)
    assert response.status_code == 400
    assert "Last-Event-ID" in response.json()["detail"]


def test_odd_session_cookies_and_credentials_are_a_401(sidecar, tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("hello\n")
    server = sidecar({"LOG_SIDECAR_FILES": str(tmp_path / "*.log"), "LOG_SIDECAR_AUTH": "bearer",
                      "LOG_SIDECAR_AUTH_SECRET": "s3cret"})
    for cookie in ("²." + "a" * 64, "99999999999.é", "①②.x", "1" * 400 + ".x"):
        response = httpx.get(server.url + "/api/sources", headers={"Cookie": f"log_sidecar_session={cookie}".encode()})
        assert response.status_code == 401, cookie
    for authorization in ("Bearer é".encode(), "Basic ²".encode("latin-1"), b"Bearer \xff\xfe"):
        response = httpx.get(server.url + "/api/sources", headers={"Authorization": authorization})
        assert response.status_code == 401, authorization
    response = httpx.get(server.url + "/api/sources", params={"access_token": "①"})
    assert response.status_code == 401
