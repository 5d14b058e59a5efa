"""Settings: read once at start from LOG_SIDECAR_* env vars and CLI flags, validated loudly."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Every knob of the sidecar. The README's configuration table mirrors this class."""

    model_config = SettingsConfigDict(
        env_prefix="LOG_SIDECAR_",
        extra="forbid",
        cli_kebab_case=True,
        cli_prog_name="log-sidecar serve",
        cli_implicit_flags=True,
    )

    # --- listening ---
    host: str = Field("127.0.0.1", description="Address to bind. Use 0.0.0.0 in a pod.")
    port: int = Field(8080, ge=0, le=65535, description="Port to bind (0 picks a free one and logs it).")

    # --- file source ---
    files: CommaList = Field(
        default_factory=list, description="Glob patterns of log files to follow, comma separated (e.g. /logs/*.log)."
    )
    watch: Literal["auto", "inotify", "poll"] = Field(
        "auto", description="File change detection: inotify where it works, else polling."
    )
    poll_interval: float = Field(
        0.25, gt=0, le=60, description="Seconds between polls: the backstop beside inotify, the only check without it."
    )
    start_bytes: int = Field(
        1_048_576, ge=0, description="Bytes read from the end of a file that exists at start (new files are read whole)."
    )
    max_line_bytes: int = Field(
        65_536, ge=256, le=16 * 1_048_576, description="Longer lines are cut to this size and marked truncated."
    )
    partial_flush: float = Field(
        1.0, gt=0, le=60, description="Seconds a last line without newline is held before it is sent as is."
    )
    rotate_wait: float = Field(
        2.0, ge=0, le=300, description="Seconds a rotated-away or deleted file is still read for late writes."
    )

    # --- pod log API source ---
    pod_source: Literal["off", "own", "selector"] = Field(
        "off", description="Follow containers through the Kubernetes API: own pod, or pods by label selector."
    )
    pod_name: str | None = Field(None, description="This pod's name (Downward API metadata.name).")
    pod_namespace: str | None = Field(None, description="Namespace (Downward API metadata.namespace).")
    pod_selector: str | None = Field(None, description="Label selector for pod_source=selector, e.g. app=web.")
    pod_containers: CommaList = Field(
        default_factory=list, description="Only these containers (comma separated); default all but the sidecar."
    )
    pod_self_container: str = Field("log-sidecar", description="The sidecar's own container name, never followed.")
    pod_tail_lines: int = Field(
        500, ge=0, description="Lines fetched from each container already running when first seen (one started later: all)."
    )
    pod_stall_seconds: float = Field(
        300.0, gt=0, description="Reconnect a follow stream that sent nothing for this long while the container runs."
    )
    pod_backoff_max: float = Field(
        30.0, gt=0, description="Longest wait between a container's API retries (errors, streams ending at once or empty)."
    )

    # --- hub and streams ---
    buffer_lines: int = Field(10_000, ge=1, le=10_000_000, description="Lines kept per source for backfill and resume.")
    buffer_bytes: int = Field(
        16 * 1_048_576, ge=1024, description="Bytes kept per source; the older lines go first past either bound."
    )
    ended_retention: float = Field(
        3600.0, ge=0, description="Seconds the lines of an ended source (file deleted, pod gone) are kept, then freed."
    )
    client_queue_lines: int = Field(
        20_000, ge=100, description="Lines queued for one slow client before it is sent a gap instead."
    )
    keepalive: float = Field(15.0, gt=0, le=300, description="Seconds between keep-alive comments on idle streams.")
    send_timeout: float = Field(30.0, gt=0, description="A client that takes longer to accept a send is cut off.")
    max_streams: int = Field(200, ge=1, description="Concurrent streams; more get HTTP 429.")

    # --- security ---
    auth: Literal["none", "bearer", "basic"] | None = Field(
        None,
        description="Authentication for the viewer and API. Unset means none on a loopback host; "
        "any other host must choose (none allows anyone who reaches the port).",
    )
    auth_secret: SecretStr | None = Field(None, description="The bearer token, or the basic-auth password.")
    auth_secret_file: Path | None = Field(None, description="File holding the secret (a mounted Kubernetes Secret).")
    auth_username: str = Field("log-sidecar", description="User name for basic auth.")
    metrics_auth: bool = Field(False, description="Require auth on /metrics too.")
    cors_origins: CommaList = Field(
        default_factory=list, description="Origins allowed to call the API from another site; empty means none."
    )

    # --- logging ---
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="The sidecar's own log level.")
    access_log: bool = Field(True, description="Log each request (probes, metrics and tokens are kept out).")

    @field_validator("files", "pod_containers", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard_origin(cls, origins: list[str]) -> list[str]:
        if "*" in origins:
            raise ValueError("'*' is not allowed: list the origins that may call the API")
        return origins

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if self.auth is None:
            if not is_loopback(self.host):
                raise ValueError(
                    f"listening on {self.host} without auth: set LOG_SIDECAR_AUTH to bearer or basic "
                    "(or to none to let anyone who can reach the port read the logs)"
                )
            self.auth = "none"
        if self.auth != "none" and self.secret() is None:
            raise ValueError(f"auth={self.auth} needs auth_secret or auth_secret_file")
        if self.pod_source == "selector" and not self.pod_selector:
            raise ValueError("pod_source=selector needs pod_selector")
        if self.pod_source != "off" and not self.pod_namespace:
            raise ValueError(f"pod_source={self.pod_source} needs pod_namespace (Downward API)")
        if self.pod_source == "own" and not self.pod_name:
            raise ValueError("pod_source=own needs pod_name (Downward API metadata.name)")
        return self

    def secret(self) -> str | None:
        """The auth secret, from the file when one is given (read at start: a missing file fails early)."""
        if self.auth_secret_file is not None:
            try:
                value = self.auth_secret_file.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise ValueError(f"auth_secret_file {self.auth_secret_file}: {error.strerror}") from None
            if not value:
                raise ValueError(f"auth_secret_file {self.auth_secret_file} is empty")
            return value
        if self.auth_secret is not None and self.auth_secret.get_secret_value():
            return self.auth_secret.get_secret_value()
        return None
