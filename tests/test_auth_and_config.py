"""Auth modes, the viewer's session cookie, and start-up validation of the configuration."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.sse import StreamClient


@pytest.fixture
def logfile(tmp_path: Path) -> Path:
    path = tmp_path / "app.log"
    path.write_text("INFO hello\n")
    return path


def test_bearer_auth_guards_the_api_but_not_the_probes(sidecar, logfile: Path) -> None:
    server = sidecar({"LOG_SIDECAR_FILES": str(logfile), "LOG_SIDECAR_AUTH": "bearer", "LOG_SIDECAR_AUTH_SECRET": "s3cret"})
    denied = httpx.get(server.url + "/api/sources")
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(server.url + "/api/stream").status_code == 401
    assert httpx.get(server.url + "/api/sources", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = httpx.get(server.url + "/api/sources", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json()["sources"][0]["id"] == "app.log"
    for open_path in ("/healthz", "/readyz", "/metrics", "/api/auth"):
        assert httpx.get(server.url + open_path).status_code == 200, open_path
    assert httpx.get(server.url + "/api/auth").json() == {"mode": "bearer"}
    # A token in the URL works (curl, EventSource) and never reaches the access log.
    reader = StreamClient(server.url, {"access_token": "s3cret", "tail": 1}).start()
    assert reader.status == 200
    lines, _ = reader.collect_lines(1)
    assert lines[0]["text"] == "INFO hello"
    server.stop()
    log = "".join(server.output)
    assert "s3cret" not in log
    assert "access_token=REDACTED" in log


def test_basic_auth_and_the_session_cookie_login(sidecar, logfile: Path, tmp_path: Path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text("pa55word\n")
    server = sidecar({
        "LOG_SIDECAR_FILES": str(logfile),
        "LOG_SIDECAR_AUTH": "basic",
        "LOG_SIDECAR_AUTH_USERNAME": "ops",
        "LOG_SIDECAR_AUTH_SECRET_FILE": str(secret_file),
        "LOG_SIDECAR_METRICS_AUTH": "true",
    })
    good = "Basic " + base64.b64encode(b"ops:pa55word").decode()
    bad = "Basic " + base64.b64encode(b"ops:nope").decode()
    assert httpx.get(server.url + "/metrics").status_code == 401
    assert httpx.get(server.url + "/metrics", headers={"Authorization": good}).status_code == 200
    viewer_request = httpx.get(server.url + "/api/sources", headers={"X-Requested-With": "log-sidecar-viewer"})
    assert viewer_request.status_code == 401 and "www-authenticate" not in viewer_request.headers
    assert httpx.post(server.url + "/api/login", headers={"Authorization": bad}).status_code == 401

    with httpx.Client(base_url=server.url) as browser:
        login = browser.post("/api/login", headers={"Authorization": good})
        assert login.status_code == 200
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "pa55word" not in cookie
        assert browser.get("/api/sources").status_code == 200  # the cookie alone is enough now
        browser.post("/api/logout")
        assert browser.get("/api/sources").status_code == 401
    forged = httpx.get(server.url + "/api/sources", cookies={"log_sidecar_session": "99999999999.deadbeef"})
    assert forged.status_code == 401


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOG_SIDECAR_PORT": "http"}, "LOG_SIDECAR_PORT"),
        ({"LOG_SIDECAR_BUFFER_LINES": "0"}, "LOG_SIDECAR_BUFFER_LINES"),
        ({"LOG_SIDECAR_AUTH": "bearer"}, "needs auth_secret"),
        ({"LOG_SIDECAR_AUTH": "magic"}, "LOG_SIDECAR_AUTH"),
        ({"LOG_SIDECAR_AUTH": "bearer", "LOG_SIDECAR_AUTH_SECRET_FILE": "/nonexistent/secret"}, "No such file"),
        ({"LOG_SIDECAR_CORS_ORIGINS": "*"}, "'*' is not allowed"),
        ({"LOG_SIDECAR_POD_SOURCE": "selector"}, "needs pod_selector"),
        ({"LOG_SIDECAR_WATCH": "sometimes"}, "LOG_SIDECAR_WATCH"),
        ({"LOG_SIDECAR_HOST": "0.0.0.0"}, "without auth"),
        ({"LOG_SIDECAR_HOST": "::"}, "without auth"),
    ],
)
def test_bad_configuration_exits_2_with_a_clear_message(env: dict[str, str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid configuration" in result.stderr
    assert message in result.stderr


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("LOG_SIDECAR_BUFER_LINES", "LOG_SIDECAR_BUFFER_LINES"),
        ("LOG_SIDECAR_AUTH_SECRETFILE", "LOG_SIDECAR_AUTH_SECRET_FILE"),
        ("LOG_SIDECAR_MAX_STREAM_PER_CLIENT", "LOG_SIDECAR_MAX_STREAMS_PER_CLIENT"),
        ("log_sidecar_portt", "LOG_SIDECAR_PORT"),
    ],
)
def test_an_unknown_setting_exits_2_with_a_did_you_mean(logfile: Path, name: str, suggestion: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve"],
        env={"PATH": "/usr/bin:/bin", "LOG_SIDECAR_FILES": str(logfile), name: "5"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{name} is not a setting; did you mean {suggestion}?" in result.stderr


def test_cli_flags_use_the_same_names_as_the_env(sidecar, logfile: Path) -> None:
    server = sidecar({}, args=["--files", str(logfile), "--buffer-lines", "5"])
    sources = httpx.get(server.url + "/api/sources").json()["sources"]
    assert [source["target"] for source in sources] == [str(logfile)]
    bad = subprocess.run([sys.executable, "-m", "sidecar", "serve", "--buffer-lines", "many"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "buffer" in bad.stderr


def test_readme_documents_every_setting_and_starts_with_the_two_commands() -> None:
    from sidecar.config import Settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"`LOG_SIDECAR_{name.upper()}`" not in readme]
    assert missing == []
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split("#")[0].strip() for line in first_block] == ["./scripts/demo", "./scripts/test"]


def _kubelet_secret(folder: Path, version: str, token: str) -> None:
    """Write a Secret volume the way the kubelet's atomic writer does: a timestamped directory,
    `..data` pointing at it (swapped by a rename), and `token -> ..data/token`."""
    data = folder / f"..{version}"
    data.mkdir()
    (data / "token").write_text(token)
    (folder / "..data_tmp").symlink_to(data.name)
    os.replace(folder / "..data_tmp", folder / "..data")
    if not (folder / "token").is_symlink():
        (folder / "token").symlink_to("..data/token")


def test_a_swapped_secret_is_picked_up_and_the_old_one_kept_for_a_grace(sidecar, logfile: Path, tmp_path: Path) -> None:
    mount = tmp_path / "secret"
    mount.mkdir()
    _kubelet_secret(mount, "2026_12_02_01", "first-token")
    server = sidecar({"LOG_SIDECAR_FILES": str(logfile), "LOG_SIDECAR_AUTH": "bearer",
                      "LOG_SIDECAR_AUTH_SECRET_FILE": str(mount / "token")})

    def status(token: str) -> int:
        return httpx.get(server.url + "/api/sources", headers={"Authorization": f"Bearer {token}"}).status_code

    assert status("first-token") == 200 and status("second-token") == 401
    with httpx.Client(base_url=server.url) as browser:
        assert browser.post("/api/login", headers={"Authorization": "Bearer first-token"}).status_code == 200
        _kubelet_secret(mount, "2026_12_02_02", "second-token")
        deadline = time.monotonic() + 15
        while status("second-token") != 200:
            assert time.monotonic() < deadline, "the new secret was never picked up"
            time.sleep(0.2)
        assert status("first-token") == 200  # the previous secret still works for a grace period
        assert browser.get("/api/sources").status_code == 200  # and so does a session it signed
    assert status("wrong") == 401
    assert "auth secret changed" in "".join(server.output)
