"""manifests/: plain YAML, validated like the chart and kept in step with `helm template`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.helm import REPO_ROOT, HelmUnavailable, helm_path, settings_field_names, validate_objects

MANIFESTS = REPO_ROOT / "manifests"
FILES = sorted(path.name for path in MANIFESTS.glob("*.yaml"))


def load(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((MANIFESTS / name).read_text()) if doc]


def sidecar_of(pod: dict) -> dict:
    (found,) = [c for c in pod.get("initContainers", []) + pod["containers"] if c["name"] == "log-sidecar"]
    return found


def generator():
    sys.path.insert(0, str(MANIFESTS))
    try:
        import generate
    finally:
        sys.path.remove(str(MANIFESTS))
    return generate


@pytest.fixture(scope="module")
def helm() -> Path:
    try:
        return helm_path()
    except HelmUnavailable as error:
        pytest.skip(f"helm is not available: {error}")


def test_every_variant_has_its_file() -> None:
    assert FILES == sorted(generator().VARIANTS)


@pytest.mark.parametrize("name", FILES)
def test_manifests_validate_against_kubernetes_schemas(name: str) -> None:
    objects = load(name)
    assert objects
    assert validate_objects(objects) == []


@pytest.mark.parametrize("name", FILES)
def test_kubernetes_validate_cli_accepts_the_file(name: str) -> None:
    # The CLI as a user runs it. It only warns (exit 0) about kinds it has no schema for (the
    # ServiceMonitor CRD): that file is checked by the assertions below instead.
    result = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", str(MANIFESTS / name)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout


@pytest.mark.parametrize("name", FILES)
def test_manifests_equal_helm_template_with_matching_values(helm: Path, name: str) -> None:
    header, helm_args, kinds = generator().VARIANTS[name]
    expected = generator().render(helm_args, kinds)
    actual = load(name)
    assert [(o["kind"], o["metadata"]["name"]) for o in actual] == [(o["kind"], o["metadata"]["name"]) for o in expected]
    for got, want in zip(actual, expected):
        where = f"{name}: {got['kind']}: out of step with the chart; run .venv/bin/python manifests/generate.py"
        if got["kind"] == "Deployment":
            # The essentials first, for a readable failure.
            got_pod, want_pod = got["spec"]["template"]["spec"], want["spec"]["template"]["spec"]
            for key in ("image", "env", "ports", "startupProbe", "livenessProbe", "readinessProbe",
                        "securityContext", "volumeMounts", "resources"):
                for group in ("initContainers", "containers"):
                    assert [c.get(key) for c in got_pod.get(group, [])] == [c.get(key) for c in want_pod.get(group, [])], (
                        f"{where} ({group}: {key})"
                    )
            assert got_pod["volumes"] == want_pod["volumes"], where
        assert got == want, where


def test_plain_deployment_runs_the_sidecar_hardened_and_without_api_token() -> None:
    (deployment,) = [o for o in load("log-sidecar.yaml") if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    sidecar = sidecar_of(pod)
    # Readiness never depends on the sources: a missing file must not take the workload out of its Service.
    assert sidecar["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "logs-http"}
    assert sidecar["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "logs-http"}
    assert sidecar["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "logs-http"}
    assert sidecar["restartPolicy"] == "Always", "a native sidecar (Kubernetes 1.29+)"
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    assert env["LOG_SIDECAR_HOST"] == "::", "dual-stack: :: answers IPv4 and IPv6"
    assert env["LOG_SIDECAR_STATE_DIR"] == "/var/lib/log-sidecar"
    assert env["LOG_SIDECAR_BUFFER_TOTAL_BYTES"] == str(256 * 1024 * 1024 // 2), "half the 256Mi limit"
    context = sidecar["securityContext"]
    assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"] and not context["allowPrivilegeEscalation"]
    assert context["capabilities"]["drop"] == ["ALL"] and context["seccompProfile"]["type"] == "RuntimeDefault"
    names = {e["name"] for e in sidecar["env"]}
    assert names <= {f"LOG_SIDECAR_{field.upper()}" for field in settings_field_names()}
    assert not [o for o in load("log-sidecar.yaml") if o["kind"] in ("Role", "RoleBinding", "ServiceAccount")]


@pytest.mark.parametrize("name", ["log-sidecar.yaml", "pod-source.yaml"])
def test_plain_deployment_uses_bearer_auth_from_a_secret_the_user_creates(name: str) -> None:
    objects = load(name)
    assert not [o for o in objects if o["kind"] == "Secret"], "no token (real or placeholder) ships in the files"
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    sidecar = sidecar_of(pod)
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    assert env["LOG_SIDECAR_AUTH"] == "bearer"
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == "log-sidecar-auth"
    assert volume["secret"]["items"] == [{"key": "secret", "path": "secret"}]
    (mount,) = [m for m in sidecar["volumeMounts"] if m["name"] == volume["name"]]
    assert env["LOG_SIDECAR_AUTH_SECRET_FILE"] == mount["mountPath"] + "/secret"
    # The header tells how to make that Secret (same name and key) and read the token back.
    header = (MANIFESTS / name).read_text().split("\n---\n", 1)[0]
    assert "kubectl create secret generic log-sidecar-auth --from-literal=secret=" in header
    assert "kubectl get secret log-sidecar-auth -o jsonpath='{.data.secret}' | base64 -d" in header


def test_pod_source_manifest_grants_only_reading_pods_and_logs() -> None:
    objects = load("pod-source.yaml")
    (role,) = [o for o in objects if o["kind"] == "Role"]
    grants = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert grants == {("pods", "get"), ("pods/log", "get")}


def test_ingress_manifest_keeps_sse_unbuffered() -> None:
    (ingress,) = load("ingress.yaml")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"


def test_servicemonitor_manifest_scrapes_metrics_of_the_plain_service() -> None:
    (monitor,) = load("servicemonitor.yaml")
    (service,) = [o for o in load("log-sidecar.yaml") if o["kind"] == "Service"]
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


def test_image_binds_dual_stack_by_default() -> None:
    # Like the chart and the manifests: :: answers IPv4 and IPv6 (the sidecar falls back to 0.0.0.0
    # where the kernel has no IPv6). The image tests check the built image's config the same way.
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "LOG_SIDECAR_HOST=:: " in dockerfile and "LOG_SIDECAR_HOST=0.0.0.0" not in dockerfile
