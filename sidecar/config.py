"""Settings: read once at start from LOG_SIDECAR_* env vars and CLI flags, validated loudly."""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]
ENV_PREFIX = "LOG_SIDECAR_"
# LOG_SIDECAR_* variables of the project's own tooling (tests, bootstrap), not settings.
TOOLING_ENV = frozenset({"LOG_SIDECAR_IMAGE_TESTS", "LOG_SIDECAR_CACHE_DIR", "LOG_SIDECAR_TEST_CHROMIUM"})


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
    host: str = Field(
        "127.0.0.1", description="Address to bind. `::` (the chart's) answers IPv4 and IPv6; 0.0.0.0 is IPv4 only."
    )
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
        5.0, ge=0, le=300,
        description="Quiet seconds after which a rotated-away or deleted file is closed (late writes are read until then).",
    )
    state_dir: Path | None = Field(
        None,
        description="Writable directory for a small checkpoint so a restarted sidecar resumes its clients exactly "
        "(an emptyDir); unset: off.",
    )
    rotate_wait_max: float = Field(
        60.0, ge=0, le=3600, description="Longest a rotated-away or deleted file is kept open, however busy it stays."
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
    buffer_total_bytes: int | None = Field(
        None, ge=1_048_576,
        description="Bytes of lines held by all sources together (slow clients' queues get a quarter more); "
        "unset: half the cgroup memory limit above 48 MiB, or 256 MiB without a limit.",
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
    max_streams_per_client: int = Field(
        10, ge=1, description="Concurrent streams from one client address; more get HTTP 429 with Retry-After."
    )
    trusted_proxies: CommaList = Field(
        default_factory=list,
        description="IPs or CIDRs of proxies whose X-Forwarded-For names the client (e.g. 10.0.0.0/8); "
        "empty: the header is ignored and the peer address counts.",
    )
    dead_peer_timeout: float = Field(
        60.0, ge=2, le=3600,
        description="Seconds after which a client that stopped answering (no FIN) is cut: TCP keepalive and "
        "TCP_USER_TIMEOUT on every connection.",
    )

    # --- entries: grouping, parsing, redaction, pattern counters (sidecar/entries/) ---
    multiline: str = Field(
        "auto", description="Multi-line entries: auto (stack traces, indented lines), off, or an RE2 pattern of a first line."
    )
    multiline_max_lines: int = Field(500, ge=1, le=100_000, description="Lines in one entry; the next starts a new one.")
    multiline_max_bytes: int = Field(262_144, ge=256, description="Bytes in one entry; past them a new entry starts.")
    redact: Literal["default", "off"] = Field("default", description="Built-in secret redaction rules at ingest.")
    redact_patterns: CommaList = Field(
        default_factory=list, description="Own redaction rules, NAME=RE2 comma separated (group 1, if any, is replaced)."
    )
    count: CommaList = Field(
        default_factory=list, description="Pattern counters, NAME=RE2 comma separated: log_sidecar_pattern_matches_total."
    )
    assume_utc: bool = Field(False, description="Take zone-less leading timestamps (RFC 3339, klog) as UTC.")

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

    @field_validator("files", "pod_containers", "cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("redact_patterns", "count", mode="before")
    @classmethod
    def _split_named(cls, value: object) -> object:
        """Commas inside a pattern (`{2,5}`) stay: items are split only before a `NAME=`."""
        if isinstance(value, str):
            return [part.strip() for part in re.split(r",(?=\s*[A-Za-z_][\w-]*=)", value) if part.strip()]
        return value

    @field_validator("redact_patterns", "count")
    @classmethod
    def _check_named(cls, items: list[str], info: ValidationInfo) -> list[str]:
        from sidecar.entries.patterns import compile_pattern
        from sidecar.entries.redact import compile_rule

        if len(items) > 50:
            raise ValueError("at most 50 patterns (each is a label value of a metric)")
        names = []
        for item in items:
            name, equals, pattern = item.partition("=")
            name = name.strip()
            if not equals or not re.fullmatch(r"[A-Za-z_][\w-]{0,63}", name) or not pattern:
                raise ValueError(f"{item!r}: expected NAME=RE2 (NAME: letters, digits, _ or -)")
            if name in names:
                raise ValueError(f"{name!r} given twice")
            names.append(name)
            (compile_rule if info.field_name == "redact_patterns" else compile_pattern)(name, pattern)
        return items

    @field_validator("multiline")
    @classmethod
    def _check_multiline(cls, value: str) -> str:
        from sidecar.entries.multiline import compile_first_line

        if value not in ("auto", "off"):
            compile_first_line(value)
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard_origin(cls, origins: list[str]) -> list[str]:
        if "*" in origins:
            raise ValueError("'*' is not allowed: list the origins that may call the API")
        return origins

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or CIDR (e.g. 10.0.0.0/8)") from None
        return proxies

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


def unknown_env_vars(environ: Mapping[str, str] | None = None) -> list[str]:
    """One message per LOG_SIDECAR_* variable that is no setting: a typo would otherwise be
    ignored in silence and the default (perhaps less safe) would apply."""
    environ = os.environ if environ is None else environ
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    problems = []
    for name in sorted(environ):
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known | TOOLING_ENV:
            close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else "; see the README's settings table"
            problems.append(f"{name} is not a setting{hint}")
    return problems
