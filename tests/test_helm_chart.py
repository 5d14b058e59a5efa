"""The Helm chart, rendered by the real helm binary over the values matrix in helm/log-sidecar/ci/.

Every rendered object is validated offline against the Kubernetes OpenAPI schemas, and the assertions
tie the chart to the code: env names are Settings fields, probes hit routes the app serves.
"""

from __future__ import annotations

import functools
import re
import shutil
import warnings
from pathlib import Path

import pytest
import yaml

from tests.support.helm import (
    CHART_DIR,
    CONTRACT_SETTINGS,
    REPO_ROOT,
    HelmUnavailable,
    helm_path,
    run_helm,
    settings_field_names,
    template,
    validate_objects,
)

CI_VALUES = sorted(path.name for path in (CHART_DIR / "ci").glob("*.yaml"))
CONTRACT_PATHS = {"/healthz", "/readyz", "/metrics", "/api/stream", "/"}


@pytest.fixture(scope="module", autouse=True)
def helm() -> Path:
    try:
        return helm_path()
    except HelmUnavailable as error:
        pytest.skip(f"helm is not available: {error}")


@functools.lru_cache(maxsize=None)
def _render_cached(values_file: str | None, extra: tuple[str, ...], kube_version: str) -> str:
    args = [*(("-f", str(CHART_DIR / "ci" / values_file)) if values_file else ()), *extra]
    return yaml.safe_dump_all(template(CHART_DIR, *args, kube_version=kube_version))


def render(values_file: str | None = None, *extra: str, kube_version: str = "1.29.0") -> list[dict]:
    """Objects of `helm template` (cached: the matrix is rendered once per module)."""
    return [doc for doc in yaml.safe_load_all(_render_cached(values_file, extra, kube_version)) if doc]


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [obj for obj in objects if obj["kind"] == kind]


def deployment(objects: list[dict]) -> dict:
    (found,) = by_kind(objects, "Deployment")
    return found


def sidecar_container(pod_spec: dict) -> dict:
    containers = pod_spec.get("containers", []) + pod_spec.get("initContainers", [])
    (found,) = [c for c in containers if any(e["name"].startswith("LOG_SIDECAR_") for e in c.get("env", []))]
    return found


def env_of(container: dict) -> dict[str, object]:
    return {entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in container.get("env", [])}


def settings_fields() -> set[str]:
    return {f"LOG_SIDECAR_{name.upper()}" for name in settings_field_names()}


def test_settings_define_the_contract_fields() -> None:
    # The chart renders LOG_SIDECAR_STATE_DIR, _BUFFER_TOTAL_BYTES, _COUNT, ... and the sidecar refuses
    # unknown settings: this fails until the branches that add these fields to sidecar/config.py are in.
    from sidecar.config import Settings

    missing = sorted(CONTRACT_SETTINGS - set(Settings.model_fields))
    assert not missing, f"contract settings missing from sidecar/config.py: {missing}"


@functools.lru_cache(maxsize=1)
def served_paths() -> set[str]:
    """Which of the contract paths the app answers (anything but 404), asked in-process without
    starting the sources; the contract itself while sidecar.app does not exist yet."""
    try:
        from sidecar.app import build_app
        from sidecar.config import Settings
    except ImportError:
        return CONTRACT_PATHS
    served = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice about its httpx-based TestClient
        from starlette.testclient import TestClient

        client = TestClient(build_app(Settings()), raise_server_exceptions=False)
        for path in CONTRACT_PATHS:
            with client.stream("GET", path) as response:  # stream: /api/stream never ends by itself
                if response.status_code != 404:
                    served.add(path)
    return served


def test_the_app_serves_the_contract_paths() -> None:
    assert served_paths() == CONTRACT_PATHS


def all_containers(objects: list[dict]) -> list[tuple[str, dict]]:
    found = []
    for obj in objects:
        spec = obj["spec"]["template"]["spec"] if obj["kind"] == "Deployment" else obj.get("spec", {})
        if obj["kind"] in ("Deployment", "Pod"):
            for container in spec.get("initContainers", []) + spec.get("containers", []):
                found.append((f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}", container))
    return found


# --- the matrix --------------------------------------------------------------------------------------


@pytest.mark.parametrize("values_file", CI_VALUES)
def test_lint_strict_is_clean(values_file: str) -> None:
    result = run_helm("lint", "--strict", str(CHART_DIR), "-f", str(CHART_DIR / "ci" / values_file),
                      "--kube-version", "1.29.0", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("values_file", CI_VALUES)
def test_rendered_objects_validate_against_kubernetes_schemas(values_file: str) -> None:
    objects = render(values_file)
    assert objects
    assert validate_objects(objects) == []


@pytest.mark.parametrize("values_file", CI_VALUES)
def test_sidecar_env_names_are_settings_fields(values_file: str) -> None:
    container = sidecar_container(deployment(render(values_file))["spec"]["template"]["spec"])
    names = [entry["name"] for entry in container["env"]]
    assert len(names) == len(set(names)), f"duplicate env: {names}"
    unknown = {name for name in names if name.startswith("LOG_SIDECAR_")} - settings_fields()
    assert not unknown, f"env the settings do not read: {sorted(unknown)}"
    env = env_of(container)
    assert env["LOG_SIDECAR_HOST"] == "::", "dual-stack: :: answers IPv4 and IPv6"
    assert env["LOG_SIDECAR_AUTH"] in ("none", "bearer", "basic"), "listening beyond loopback needs an explicit auth choice"
    assert all(isinstance(value, (str, dict)) for value in env.values()), env


@pytest.mark.parametrize("values_file", CI_VALUES)
def test_probes_and_ports_point_at_the_endpoints_the_app_serves(values_file: str) -> None:
    objects = render(values_file)
    container = sidecar_container(deployment(objects)["spec"]["template"]["spec"])
    port = int(env_of(container)["LOG_SIDECAR_PORT"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"logs-http": port}
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    # No probe depends on the sources: a failing sidecar probe takes the workload's pod out of its Service.
    assert {probe["path"] for probe in probes.values()} == {"/healthz"}
    for probe in probes.values():
        assert probe["path"] in served_paths()
        assert ports.get(probe["port"], probe["port"]) == port
    (service,) = by_kind(objects, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "logs-http"
    assert service["spec"]["selector"].items() <= deployment(objects)["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("values_file", CI_VALUES)
def test_every_container_runs_hardened(values_file: str) -> None:
    objects = render(values_file)
    for where, container in all_containers(objects):
        context = container.get("securityContext", {})
        assert context.get("runAsNonRoot") is True, where
        assert context.get("readOnlyRootFilesystem") is True, where
        assert context.get("allowPrivilegeEscalation") is False, where
        assert context.get("capabilities", {}).get("drop") == ["ALL"], where
        assert context.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    mounts = {m["mountPath"]: m for m in sidecar_container(pod)["volumeMounts"]}
    assert "/tmp" in mounts, "a read-only root needs /tmp on an emptyDir"
    writable = {"/tmp", "/var/lib/log-sidecar"}  # the state dir holds the restart checkpoints
    assert all(m.get("readOnly") for path, m in mounts.items() if path not in writable), mounts
    emptydirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert all(mounts[path]["name"] in emptydirs for path in writable & set(mounts)), mounts


@pytest.mark.parametrize("values_file", CI_VALUES)
def test_no_rbac_and_no_api_token_unless_the_pod_source_is_on(values_file: str) -> None:
    objects = render(values_file)
    pod = deployment(objects)["spec"]["template"]["spec"]
    mode = env_of(sidecar_container(pod)).get("LOG_SIDECAR_POD_SOURCE", "off")
    rbac = [o for o in objects if o["kind"] in ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")]
    assert pod["automountServiceAccountToken"] is False
    if mode == "off":
        assert rbac == []
        assert "serviceAccountName" not in pod
        assert not any("projected" in volume for volume in pod["volumes"])
        return
    values = yaml.safe_load((CHART_DIR / "ci" / values_file).read_text())
    created = values.get("serviceAccount", {}).get("create", True)
    assert sorted(o["kind"] for o in rbac) == ["Role", "RoleBinding"] + (["ServiceAccount"] if created else [])
    (role,) = by_kind(objects, "Role")
    grants = {(resource, verb) for rule in role["rules"] for resource in rule["resources"] for verb in rule["verbs"]}
    needed = {("pods", "get"), ("pods/log", "get")}
    if mode == "selector":
        needed |= {("pods", "list"), ("pods", "watch")}
    assert grants == needed
    (binding,) = by_kind(objects, "RoleBinding")
    account = by_kind(objects, "ServiceAccount")[0]["metadata"]["name"] if created else values["serviceAccount"]["name"]
    assert account != "default", "log access is never bound to the namespace's default ServiceAccount"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "logs"}]
    assert pod["serviceAccountName"] == account
    # The token goes to the sidecar alone, through a projected volume like the one Kubernetes would add.
    sidecar = sidecar_container(pod)
    token_mounts = [m for m in sidecar["volumeMounts"] if m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"]
    assert len(token_mounts) == 1
    for where, container in all_containers([deployment(objects)]):
        if container is not sidecar:
            assert all(m["name"] != token_mounts[0]["name"] for m in container.get("volumeMounts", [])), where
    env = env_of(sidecar)
    assert env["LOG_SIDECAR_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["LOG_SIDECAR_POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["LOG_SIDECAR_POD_SELF_CONTAINER"] == sidecar["name"]


# --- single features ----------------------------------------------------------------------------------


def test_defaults_deploy_a_demo_writer_beside_the_sidecar_sharing_an_empty_dir() -> None:
    objects = render()
    assert sorted(o["kind"] for o in objects) == ["Deployment", "Pod", "Secret", "Service"]
    pod = deployment(objects)["spec"]["template"]["spec"]
    (writer,) = pod["containers"]
    (sidecar,) = pod["initContainers"]  # sidecar.native=auto on Kubernetes 1.29
    assert writer["image"] == "busybox:1.37"
    assert sidecar["image"] == "log-sidecar:0.1.0"
    shared = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    writer_mounts = {m["name"]: m["mountPath"] for m in writer["volumeMounts"]}
    sidecar_mounts = {m["name"]: m["mountPath"] for m in sidecar["volumeMounts"]}
    (log_volume,) = set(writer_mounts) & set(sidecar_mounts) & shared
    assert writer_mounts[log_volume] == sidecar_mounts[log_volume] == "/var/log/app"
    assert env_of(sidecar)["LOG_SIDECAR_FILES"] == "/var/log/app/*.log"
    assert "$LOG_DIR/app.log" in writer["args"][0]
    annotations = deployment(objects)["spec"]["template"]["metadata"]["annotations"]
    assert annotations.pop("checksum/secret")
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics"}


def test_ingress_keeps_sse_unbuffered_and_terminates_tls() -> None:
    (ingress,) = by_kind(render("ingress-tls-values.yaml"), "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["logs.example.com"], "secretName": "logs-example-com-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "logs.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "demo-log-sidecar", "port": {"name": "logs-http"}}


def test_own_annotations_win_over_the_sse_defaults() -> None:
    objects = render(None, "--set", "ingress.enabled=true", "--set-string",
                     "ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/proxy-read-timeout=7200")
    (ingress,) = by_kind(objects, "Ingress")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "7200"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"


def test_native_sidecar_is_an_init_container_that_restarts_always() -> None:
    pod = deployment(render("native-sidecar-values.yaml"))["spec"]["template"]["spec"]
    (sidecar,) = pod["initContainers"]
    assert sidecar["restartPolicy"] == "Always"
    assert [c["name"] for c in pod["containers"]] == ["app"]
    env = env_of(sidecar)
    # Whole numbers stay whole (Helm reads values as floats), lists are comma separated.
    assert env["LOG_SIDECAR_BUFFER_BYTES"] == "33554432"
    assert env["LOG_SIDECAR_BUFFER_LINES"] == "50000"
    assert env["LOG_SIDECAR_POLL_INTERVAL"] == "0.5"
    assert env["LOG_SIDECAR_MAX_LINE_BYTES"] == "131072"
    assert env["LOG_SIDECAR_ACCESS_LOG"] == "false"
    assert env["LOG_SIDECAR_CORS_ORIGINS"] == "https://grafana.example.com"


def test_rendered_settings_are_accepted_by_the_settings_class(tmp_path: Path) -> None:
    from sidecar.config import Settings

    container = sidecar_container(deployment(render("native-sidecar-values.yaml"))["spec"]["template"]["spec"])
    env = {name: value for name, value in env_of(container).items() if isinstance(value, str)}
    values = {name.removeprefix("LOG_SIDECAR_").lower(): value for name, value in env.items()}
    # Contract fields a branch has not added to config.py yet: test_settings_define_the_contract_fields.
    for name in CONTRACT_SETTINGS - set(Settings.model_fields):
        values.pop(name, None)
    # The mounted Secret, as the pod would have it.
    assert values["auth"] == "bearer" and values["auth_secret_file"] == "/etc/log-sidecar/auth/secret"
    (tmp_path / "secret").write_text("a-token\n")
    values["auth_secret_file"] = str(tmp_path / "secret")
    settings = Settings(**values)
    assert settings.buffer_bytes == 33554432 and settings.poll_interval == 0.5 and settings.access_log is False
    assert settings.secret() == "a-token"


def test_native_sidecar_refuses_kubernetes_older_than_1_29() -> None:
    result = run_helm("template", "demo", str(CHART_DIR), "--set", "sidecar.native=true", "--kube-version", "1.28.9",
                      check=False)
    assert result.returncode != 0
    assert "sidecar.native needs Kubernetes 1.29" in result.stderr


def test_service_monitor_scrapes_metrics_with_the_bearer_token() -> None:
    objects = render("servicemonitor-values.yaml")
    (monitor,) = by_kind(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "logs-http" and endpoint["path"] == "/metrics" and "/metrics" in served_paths()
    (secret,) = by_kind(objects, "Secret")
    assert endpoint["authorization"]["credentials"] == {"name": secret["metadata"]["name"], "key": "secret"}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= by_kind(objects, "Service")[0]["metadata"]["labels"].items()
    env = env_of(sidecar_container(deployment(objects)["spec"]["template"]["spec"]))
    assert env["LOG_SIDECAR_METRICS_AUTH"] == "true" and env["LOG_SIDECAR_AUTH"] == "bearer"
    assert list(deployment(objects)["spec"]["template"]["metadata"]["annotations"]) == ["checksum/secret"]


def test_existing_secret_is_mounted_and_not_created() -> None:
    objects = render("existing-secret-basic-auth-values.yaml")
    assert by_kind(objects, "Secret") == []
    pod = deployment(objects)["spec"]["template"]["spec"]
    (auth_volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert auth_volume["secret"]["secretName"] == "log-viewer-credentials"
    assert auth_volume["secret"]["items"] == [{"key": "password", "path": "secret"}]
    sidecar = sidecar_container(pod)
    (mount,) = [m for m in sidecar["volumeMounts"] if m["name"] == auth_volume["name"]]
    env = env_of(sidecar)
    assert env["LOG_SIDECAR_AUTH"] == "basic" and env["LOG_SIDECAR_AUTH_USERNAME"] == "ops"
    assert env["LOG_SIDECAR_AUTH_SECRET_FILE"] == mount["mountPath"] + "/secret"
    (monitor,) = by_kind(objects, "ServiceMonitor")
    basic = monitor["spec"]["endpoints"][0]["basicAuth"]
    assert basic == {"username": {"name": "log-viewer-credentials", "key": "user"},
                     "password": {"name": "log-viewer-credentials", "key": "password"}}
    (test_pod,) = by_kind(objects, "Pod")
    assert test_pod["spec"]["volumes"][0]["secret"]["secretName"] == "log-viewer-credentials"


def test_created_secret_holds_the_given_value() -> None:
    import base64

    objects = render("servicemonitor-values.yaml")
    (secret,) = by_kind(objects, "Secret")
    assert base64.b64decode(secret["data"]["secret"]).decode() == "change-me-in-real-life"


def test_default_auth_is_bearer_with_a_generated_token_in_a_secret_file() -> None:
    import base64

    objects = render()
    (secret,) = by_kind(objects, "Secret")
    assert secret["metadata"]["name"] == "demo-log-sidecar-auth"
    token = base64.b64decode(secret["data"]["secret"]).decode()
    assert re.fullmatch(r"[A-Za-z0-9]{40}", token), "a random 40-character token"
    # Generated once, then kept: the template reads the release's own Secret back on upgrade.
    source = (CHART_DIR / "templates" / "_helpers.tpl").read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace (include "log-sidecar.authSecretName" .)' in source
    assert "randAlphaNum 40" in source
    pod = deployment(objects)["spec"]["template"]["spec"]
    sidecar = sidecar_container(pod)
    env = env_of(sidecar)
    assert env["LOG_SIDECAR_AUTH"] == "bearer"
    assert "LOG_SIDECAR_AUTH_SECRET" not in env, "the token is read from the mounted file, never from env"
    (auth_volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert auth_volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert auth_volume["secret"]["items"] == [{"key": "secret", "path": "secret"}]
    (mount,) = [m for m in sidecar["volumeMounts"] if m["name"] == auth_volume["name"]]
    assert mount["readOnly"] is True
    assert env["LOG_SIDECAR_AUTH_SECRET_FILE"] == mount["mountPath"] + "/secret"
    # The workload container does not see the token.
    (writer,) = [c for c in pod["containers"] if c is not sidecar]
    assert all(m["name"] != auth_volume["name"] for m in writer.get("volumeMounts", []))


def test_helm_test_pod_authenticates_with_the_same_secret() -> None:
    objects = render()
    (secret,) = by_kind(objects, "Secret")
    (pod,) = by_kind(objects, "Pod")
    (container,) = pod["spec"]["containers"]
    assert env_of(container)["AUTH"] == "bearer"
    (volume,) = pod["spec"]["volumes"]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert volume["secret"]["items"] == [{"key": "secret", "path": "secret"}]
    (mount,) = container["volumeMounts"]
    assert mount["name"] == volume["name"]
    script = container["args"][0]
    assert f'open("{mount["mountPath"]}/secret"' in script and '"Bearer " + secret' in script


def test_auth_none_only_when_set_explicitly() -> None:
    assert yaml.safe_load((CHART_DIR / "values.yaml").read_text())["auth"]["mode"] == "bearer"
    objects = render("auth-none-values.yaml")
    assert by_kind(objects, "Secret") == []
    pod = deployment(objects)["spec"]["template"]["spec"]
    sidecar = sidecar_container(pod)
    env = env_of(sidecar)
    assert env["LOG_SIDECAR_AUTH"] == "none"
    assert "LOG_SIDECAR_AUTH_SECRET_FILE" not in env
    assert not any("secret" in v for v in pod["volumes"])
    (test_pod,) = by_kind(objects, "Pod")
    assert env_of(test_pod["spec"]["containers"][0])["AUTH"] == "none" and "volumes" not in test_pod["spec"]
    # Every other values file in the matrix leaves auth on.
    for values_file in CI_VALUES:
        if values_file != "auth-none-values.yaml":
            container = sidecar_container(deployment(render(values_file))["spec"]["template"]["spec"])
            assert env_of(container)["LOG_SIDECAR_AUTH"] in ("bearer", "basic"), values_file


def test_network_policy_admits_only_the_sidecar_port_from_the_listed_peers() -> None:
    objects = render("network-policy-values.yaml")
    (policy,) = by_kind(objects, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == deployment(objects)["spec"]["selector"]["matchLabels"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert len(rule["from"]) == 2


def test_helm_test_hook_checks_readyz_then_reads_the_first_sse_event() -> None:
    (pod,) = by_kind(render(), "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "log-sidecar:0.1.0", "the test reuses the sidecar image: no extra image, no :latest"
    script = container["args"][0]
    assert "/readyz" in script and "/api/stream" in script and "text/event-stream" in script
    compile(script, "helm-test", "exec")
    assert {"/readyz", "/api/stream"} <= served_paths()
    assert env_of(container)["TARGET"] == "http://demo-log-sidecar:8080"


def test_selector_mode_without_a_selector_fails_with_a_clear_message() -> None:
    result = run_helm("template", "demo", str(CHART_DIR), "--set", "podSource.mode=selector", check=False)
    assert result.returncode != 0 and "podSource.mode=selector needs podSource.selector" in result.stderr


def test_schema_rejects_an_unquoted_off_and_unknown_values(tmp_path: Path) -> None:
    for text, message in (("podSource:\n  mode: off\n", "/podSource/mode"), ("sidecar:\n  bufferLine: 5\n", "bufferLine")):
        path = tmp_path / "values.yaml"
        path.write_text(text)
        result = run_helm("template", "demo", str(CHART_DIR), "-f", str(path), check=False)
        assert result.returncode != 0 and message in result.stderr, result.stderr


def notes(*args: str) -> str:
    result = run_helm("install", "demo", str(CHART_DIR), "--namespace", "logs", "--dry-run=client", *args, check=False)
    if result.returncode != 0 and "dry-run" in result.stderr:
        pytest.skip(f"this helm cannot install --dry-run=client offline: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    return result.stdout.split("NOTES:", 1)[1]


def test_notes_print_the_port_forward_command_and_url() -> None:
    text = notes()
    assert "kubectl --namespace logs port-forward service/demo-log-sidecar 8080:8080" in text
    assert "http://127.0.0.1:8080/" in text


def test_notes_print_how_to_read_the_token_next_to_the_port_forward() -> None:
    text = notes()
    token_command = ("kubectl --namespace logs get secret demo-log-sidecar-auth -o jsonpath='{.data.secret}' "
                     "| base64 -d")
    assert token_command + "; echo" in text
    assert "asks once for the bearer token" in text and "session cookie" in text
    forward = text.index("port-forward service/demo-log-sidecar")
    # Right after the port-forward command, before anything else.
    assert forward < text.index(token_command) < text.index("http://127.0.0.1:8080/")
    assert 'curl -N -H "Authorization: Bearer $TOKEN"' in text
    assert "WARNING" not in text


def test_notes_warn_when_auth_is_none() -> None:
    text = notes("--set", "auth.mode=none")
    assert "WARNING: auth.mode is none" in text
    assert "get secret" not in text
    assert "curl -N 'http://127.0.0.1:8080/api/stream" in text


def test_notes_for_basic_auth_name_the_user_and_the_secret_key() -> None:
    text = notes("-f", str(CHART_DIR / "ci" / "existing-secret-basic-auth-values.yaml"))
    assert "User name: ops" in text
    assert "get secret log-viewer-credentials -o jsonpath='{.data.password}' | base64 -d; echo" in text


# --- a safe guest in the workload's pod (issue 8) -----------------------------------------------------


def helm_fails(*args: str) -> str:
    """stderr of a `helm template` that must fail."""
    result = run_helm("template", "demo", str(CHART_DIR), "--namespace", "logs", "--kube-version", "1.29.0", *args,
                      check=False)
    assert result.returncode != 0, f"helm template {' '.join(args)} rendered:\n{result.stdout[:2000]}"
    return result.stderr


def pod_spec(objects: list[dict]) -> dict:
    return deployment(objects)["spec"]["template"]["spec"]


def pod_annotations(objects: list[dict]) -> dict:
    return deployment(objects)["spec"]["template"]["metadata"].get("annotations", {})


@pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe", "startupProbe"])
def test_a_probe_on_readyz_is_refused(probe: str) -> None:
    stderr = helm_fails("--set", f"sidecar.{probe}.httpGet.path=/readyz")
    assert f"sidecar.{probe} must not use /readyz" in stderr and "use /healthz" in stderr


def test_helm_test_still_checks_readyz() -> None:
    # /readyz stays for dashboards, alerts and the release check; only the pod's probes leave it.
    (test_pod,) = by_kind(render(), "Pod")
    assert "/readyz" in test_pod["spec"]["containers"][0]["args"][0]


def _schema() -> dict:
    import json

    return json.loads((CHART_DIR / "values.schema.json").read_text())


def _managed_settings() -> dict[str, str]:
    """The chart's managed settings, from the `log-sidecar.managedSettings` template."""
    source = (CHART_DIR / "templates" / "_helpers.tpl").read_text()
    body = source.split('{{- define "log-sidecar.managedSettings" -}}', 1)[1].split("{{- end }}", 1)[0]
    return yaml.safe_load(body)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def test_extra_settings_enum_is_the_settings_fields_the_chart_does_not_manage() -> None:
    enum = set(_schema()["properties"]["sidecar"]["properties"]["extraSettings"]["propertyNames"]["enum"])
    managed = set(_managed_settings())
    assert managed <= settings_field_names(), f"managed names that are no setting: {managed - settings_field_names()}"
    snake = {name for name in enum if name == name.lower()}
    assert snake == settings_field_names() - managed
    assert enum == snake | {_camel(name) for name in snake}, "each field in snake_case and camelCase"


def test_every_name_of_the_enum_renders_its_settings_field(tmp_path: Path) -> None:
    enum = _schema()["properties"]["sidecar"]["properties"]["extraSettings"]["propertyNames"]["enum"]
    camel = sorted({_camel(name) for name in enum})
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump({"sidecar": {"extraSettings": {name: 1 for name in camel}}}))
    env = env_of(sidecar_container(pod_spec(template(CHART_DIR, "-f", str(path)))))
    rendered = {name for name in env if name.startswith("LOG_SIDECAR_")}
    expected = {f"LOG_SIDECAR_{name.upper()}" for name in enum if name == name.lower()}
    assert expected <= rendered <= settings_fields()


@pytest.mark.parametrize("key", ["auth", "host", "bufferLines", "state_dir", "count", "podSource"])
def test_extra_settings_refuse_a_setting_the_chart_manages(key: str) -> None:
    # The schema refuses it (the enum leaves the managed names out) ...
    stderr = helm_fails("--set", f"sidecar.extraSettings.{key}=none")
    assert f"invalid propertyName '{key}'" in stderr
    # ... and so does the template, saying what to set instead, when the schema is skipped.
    stderr = helm_fails("--skip-schema-validation", "--set", f"sidecar.extraSettings.{key}=none")
    field = re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()
    assert f"the chart manages LOG_SIDECAR_{field.upper()}, from {_managed_settings()[field]}" in stderr


def test_extra_settings_refuse_a_typo() -> None:
    stderr = helm_fails("--set", "sidecar.extraSettings.pollIntervall=1")
    assert "invalid propertyName 'pollIntervall'" in stderr and "'pollInterval'" in stderr


def _checksum(secret: dict) -> str:
    import base64
    import hashlib

    data = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    return hashlib.sha256(f"secret={data['secret']}\nusername={data['username']}".encode()).hexdigest()


def test_pod_template_carries_the_checksum_of_the_created_secret() -> None:
    objects = render()
    (secret,) = by_kind(objects, "Secret")
    assert pod_annotations(objects)["checksum/secret"] == _checksum(secret)
    # Another token: another checksum, so the pods roll instead of keeping the old token.
    other = render(None, "--set", "auth.secret=another-token")
    (other_secret,) = by_kind(other, "Secret")
    assert pod_annotations(other)["checksum/secret"] == _checksum(other_secret) != _checksum(secret)


@pytest.mark.parametrize("values_file", ["existing-secret-basic-auth-values.yaml", "auth-none-values.yaml"])
def test_no_checksum_when_the_chart_does_not_own_the_secret(values_file: str) -> None:
    assert "checksum/secret" not in pod_annotations(render(values_file))


def test_native_auto_follows_the_cluster_version() -> None:
    assert yaml.safe_load((CHART_DIR / "values.yaml").read_text())["sidecar"]["native"] == "auto"
    old = pod_spec(render(kube_version="1.28.9"))
    assert "initContainers" not in old and [c["name"] for c in old["containers"]] == ["app", "log-sidecar"]
    assert "restartPolicy" not in old["containers"][1]
    new = pod_spec(render(kube_version="1.29.0"))
    assert [c["name"] for c in new["initContainers"]] == ["log-sidecar"]
    assert new["initContainers"][0]["restartPolicy"] == "Always"
    classic = pod_spec(render("classic-sidecar-values.yaml"))
    assert "initContainers" not in classic and sidecar_container(classic) in classic["containers"]


EMBEDDED = ("--set", "workload.enabled=false", "--set", "service.enabled=false", "--set", "tests.enabled=false")


@pytest.mark.parametrize("enabled, message", [
    ("networkPolicy.enabled", "networkPolicy.enabled=true needs networkPolicy.podSelector"),
    ("metrics.serviceMonitor.enabled", "metrics.serviceMonitor.enabled=true needs metrics.serviceMonitor.selector"),
    ("metrics.podMonitor.enabled", "metrics.podMonitor.enabled=true needs metrics.podMonitor.selector"),
])
def test_embedding_mode_refuses_an_object_that_would_select_nothing(enabled: str, message: str) -> None:
    stderr = helm_fails(*EMBEDDED, "--set", f"{enabled}=true")
    assert message in stderr and "would select nothing" in stderr


def test_a_service_without_the_workload_needs_a_selector() -> None:
    stderr = helm_fails("--set", "workload.enabled=false")
    assert "service.enabled=true needs service.selector" in stderr


def test_embedding_mode_selects_the_given_labels() -> None:
    objects = template(CHART_DIR, *EMBEDDED, "--set", "networkPolicy.enabled=true",
                       "--set", "networkPolicy.podSelector.app=web",
                       "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.selector.app=web",
                       "--set", "metrics.serviceMonitor.port=metrics",
                       "--set", "metrics.podMonitor.enabled=true", "--set", "metrics.podMonitor.selector.app=web")
    assert validate_objects(objects) == []
    assert sorted(o["kind"] for o in objects) == ["NetworkPolicy", "PodMonitor", "Secret", "ServiceMonitor"]
    (policy,) = by_kind(objects, "NetworkPolicy")
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app": "web"}}
    (service_monitor,) = by_kind(objects, "ServiceMonitor")
    assert service_monitor["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert service_monitor["spec"]["endpoints"][0]["port"] == "metrics"
    (pod_monitor,) = by_kind(objects, "PodMonitor")
    assert pod_monitor["spec"]["selector"] == {"matchLabels": {"app": "web"}}


def test_pod_monitor_scrapes_the_sidecar_container_port() -> None:
    objects = render("prometheus-rule-values.yaml")
    (monitor,) = by_kind(objects, "PodMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    pod = deployment(objects)["spec"]["template"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics" and "/metrics" in served_paths()
    assert endpoint["port"] in {p["name"] for p in sidecar_container(pod["spec"])["ports"]}
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["logs"]}


def test_pod_monitor_sends_the_credentials_when_metrics_need_auth() -> None:
    objects = render(None, "--set", "metrics.podMonitor.enabled=true", "--set", "metrics.requireAuth=true")
    (secret,) = by_kind(objects, "Secret")
    (endpoint,) = by_kind(objects, "PodMonitor")[0]["spec"]["podMetricsEndpoints"]
    assert endpoint["authorization"] == {"type": "Bearer",
                                         "credentials": {"name": secret["metadata"]["name"], "key": "secret"}}


def test_http_route_sends_the_stream_to_the_service_without_a_timeout() -> None:
    objects = render("gateway-httproute-values.yaml")
    (route,) = by_kind(objects, "HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "gateways", "sectionName": "https"}]
    assert route["spec"]["hostnames"] == ["logs.example.com"]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    (service,) = by_kind(objects, "Service")
    assert rule["backendRefs"] == [{"name": service["metadata"]["name"], "port": service["spec"]["ports"][0]["port"]}]
    assert rule["timeouts"] == {"request": "0s", "backendRequest": "0s"}, "a live stream is one long response"


def test_http_route_without_a_gateway_fails() -> None:
    assert "httpRoute.enabled=true needs httpRoute.parentRefs" in helm_fails("--set", "httpRoute.enabled=true")


def test_common_labels_reach_every_object_and_the_pods() -> None:
    objects = render("classic-sidecar-values.yaml")
    for obj in objects:
        assert obj["metadata"]["labels"]["team"] == "platform", obj["kind"]
    pod_labels = deployment(objects)["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["team"] == "platform"
    assert deployment(objects)["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_extra_volumes_back_the_extra_mounts() -> None:
    pod = pod_spec(render("classic-sidecar-values.yaml"))
    (volume,) = [v for v in pod["volumes"] if v["name"] == "sidecar-extra"]
    assert volume["configMap"]["name"] == "log-sidecar-extra"
    assert {"name": "sidecar-extra", "mountPath": "/etc/log-sidecar/extra", "readOnly": True} in (
        sidecar_container(pod)["volumeMounts"])


def test_an_existing_service_account_is_used_and_never_the_default_one() -> None:
    objects = render("classic-sidecar-values.yaml")
    assert by_kind(objects, "ServiceAccount") == []
    assert pod_spec(objects)["serviceAccountName"] == "log-reader"
    assert by_kind(objects, "RoleBinding")[0]["subjects"][0]["name"] == "log-reader"
    stderr = helm_fails("--set", "podSource.mode=own", "--set", "serviceAccount.create=false")
    assert "serviceAccount.create=false needs serviceAccount.name" in stderr
    for create in ("true", "false"):
        stderr = helm_fails("--set", "podSource.mode=own", "--set", f"serviceAccount.create={create}",
                            "--set", "serviceAccount.name=default")
        assert "serviceAccount.name must not be default" in stderr


@pytest.mark.parametrize("limit, budget", [
    ("256Mi", 128 * 1024 * 1024), ("1Gi", 512 * 1024 * 1024), ("1.5Gi", 768 * 1024 * 1024),
    ("512M", 256_000_000), ("1G", 500_000_000), ("268435456", 134_217_728),
])
def test_buffer_budget_is_half_the_memory_limit(limit: str, budget: int) -> None:
    env = env_of(sidecar_container(pod_spec(render(None, "--set-string", f"sidecar.resources.limits.memory={limit}"))))
    assert env["LOG_SIDECAR_BUFFER_TOTAL_BYTES"] == str(budget)


def test_buffer_budget_from_a_numeric_limit_and_the_default() -> None:
    env = env_of(sidecar_container(pod_spec(render(None, "--set", "sidecar.resources.limits.memory=300000000"))))
    assert env["LOG_SIDECAR_BUFFER_TOTAL_BYTES"] == "150000000"
    assert env_of(sidecar_container(pod_spec(render())))["LOG_SIDECAR_BUFFER_TOTAL_BYTES"] == str(128 * 1024 * 1024)


def test_buffer_budget_is_left_to_the_cgroup_without_a_limit() -> None:
    env = env_of(sidecar_container(pod_spec(render(None, "--set", "sidecar.resources.limits=null"))))
    assert "LOG_SIDECAR_BUFFER_TOTAL_BYTES" not in env


def test_an_explicit_buffer_budget_wins_and_must_stay_below_the_limit() -> None:
    env = env_of(sidecar_container(pod_spec(render("classic-sidecar-values.yaml"))))
    assert env["LOG_SIDECAR_BUFFER_TOTAL_BYTES"] == "100000000"
    stderr = helm_fails("--set", "sidecar.bufferTotalBytes=268435456")
    assert "sidecar.bufferTotalBytes (\"268435456\") must be below sidecar.resources.limits.memory (256Mi)" in stderr


def test_a_memory_limit_the_chart_cannot_read_fails_clearly() -> None:
    stderr = helm_fails("--set-string", "sidecar.resources.limits.memory=256MB")
    assert 'sidecar.resources.limits.memory "256MB": not a memory quantity' in stderr


def test_state_dir_is_a_writable_empty_dir_for_restart_resume() -> None:
    pod = pod_spec(render())
    sidecar = sidecar_container(pod)
    (mount,) = [m for m in sidecar["volumeMounts"] if m["mountPath"] == "/var/lib/log-sidecar"]
    assert not mount.get("readOnly")
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["emptyDir"] == {"sizeLimit": "64Mi"}
    assert env_of(sidecar)["LOG_SIDECAR_STATE_DIR"] == "/var/lib/log-sidecar"
    (writer,) = pod["containers"]
    assert all(m["name"] != mount["name"] for m in writer["volumeMounts"]), "the workload does not see it"
    off = pod_spec(render("classic-sidecar-values.yaml"))
    assert "LOG_SIDECAR_STATE_DIR" not in env_of(sidecar_container(off))
    assert all(v["name"] != mount["name"] for v in off["volumes"])


def test_patterns_render_as_named_counters_and_a_comma_is_refused() -> None:
    env = env_of(sidecar_container(pod_spec(render("prometheus-rule-values.yaml"))))
    assert env["LOG_SIDECAR_COUNT"] == "oom=OutOfMemoryError,timeout=(?i)timed? ?out"
    assert "LOG_SIDECAR_COUNT" not in env_of(sidecar_container(pod_spec(render())))
    assert "/metrics/patterns/slow" in helm_fails("--set", "metrics.patterns.slow=took [0-9]{4\\,}ms")
    assert "invalid propertyName 'bad=name'" in helm_fails("--set", "metrics.patterns.bad\\=name=x")


def test_per_client_cap_and_trusted_proxies() -> None:
    env = env_of(sidecar_container(pod_spec(render("classic-sidecar-values.yaml"))))
    assert env["LOG_SIDECAR_MAX_STREAMS_PER_CLIENT"] == "4"
    assert env["LOG_SIDECAR_TRUSTED_PROXIES"] == "10.42.0.0/16,fd00:42::/64"
    assert "/sidecar/trustedProxies/0" in helm_fails("--set", "sidecar.trustedProxies={ingress-nginx}")


# --- the embeddable templates -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of helm/ with the example's dependency built (helm dependency build writes into the chart)."""
    copy = tmp_path_factory.mktemp("helm") / "helm"
    shutil.copytree(REPO_ROOT / "helm", copy, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    (example,) = [p for p in (copy / "examples").iterdir() if (p / "Chart.yaml").is_file()]
    run_helm("dependency", "build", str(example))
    return example


def test_example_chart_lints_and_renders_the_included_sidecar(example_chart: Path) -> None:
    result = run_helm("lint", "--strict", str(example_chart), check=False)
    assert result.returncode == 0 and "[WARNING]" not in result.stdout, result.stdout + result.stderr
    source = (REPO_ROOT / "helm" / "examples" / example_chart.name / "templates" / "deployment.yaml").read_text()
    assert 'include "log-sidecar.container"' in source and 'include "log-sidecar.volumes"' in source
    objects = template(example_chart)
    assert validate_objects(objects) == []
    (workload,) = by_kind(objects, "Deployment")
    assert workload["metadata"]["name"] == "demo-web"
    pod = workload["spec"]["template"]["spec"]
    sidecar = sidecar_container(pod)
    assert sidecar["name"] == "log-sidecar" and sidecar["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert set(env_of(sidecar)) <= settings_fields()
    volumes = {v["name"] for v in pod["volumes"]}
    assert {m["name"] for m in sidecar["volumeMounts"]} <= volumes
    (web,) = [c for c in pod["containers"] if c["name"] == "web"]
    assert {m["name"] for m in web["volumeMounts"]} & {m["name"] for m in sidecar["volumeMounts"]} == {"logs"}
    # The subchart renders what the sidecar needs besides the pod (the auth Secret), not its own workload.
    (secret,) = by_kind(objects, "Secret")
    assert [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v] == [secret["metadata"]["name"]]
    # The parent's pod template carries the checksum of the Secret the subchart renders (same render).
    assert workload["spec"]["template"]["metadata"]["annotations"]["checksum/secret"] == _checksum(secret)
    # sidecar.native=auto works through `index .Subcharts "log-sidecar"` (it carries .Capabilities).
    assert [c["name"] for c in pod["initContainers"]] == ["log-sidecar"]
    classic = by_kind(template(example_chart, kube_version="1.28.9"), "Deployment")[0]["spec"]["template"]["spec"]
    assert "initContainers" not in classic and sidecar_container(classic) in classic["containers"]
    assert [s["metadata"]["name"] for s in by_kind(objects, "Service")] == ["demo-web"]


def test_example_chart_with_native_sidecar_and_pod_source(example_chart: Path) -> None:
    objects = template(example_chart, "--set", "log-sidecar.sidecar.native=true",
                       "--set", "log-sidecar.podSource.mode=own")
    assert validate_objects(objects) == []
    pod = by_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["log-sidecar"]
    assert pod["serviceAccountName"] == by_kind(objects, "ServiceAccount")[0]["metadata"]["name"]
    assert {o["kind"] for o in objects} >= {"Role", "RoleBinding"}


# --- docs in step -------------------------------------------------------------------------------------


def _leaf_keys(values: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in ("securityContext", "resources", "emptyDir",
                                                             "startupProbe", "livenessProbe", "readinessProbe",
                                                             "podSecurityContext", "image"):
            keys.extend(_leaf_keys(value, dotted + "."))
        else:
            keys.append(dotted)
    return keys


def test_readme_values_table_lists_every_value() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    readme = (CHART_DIR / "README.md").read_text()
    table_keys = set(re.findall(r"^\| `([^`]+)` \|", readme, flags=re.MULTILINE))
    missing = [key for key in _leaf_keys(values) if key not in table_keys
               and not any(k.startswith(key + ".") for k in table_keys)]
    assert not missing, f"values missing from the README table: {missing}"


def test_example_chart_points_pod_monitor_and_network_policy_at_its_pods(example_chart: Path) -> None:
    objects = template(example_chart, "--set", "log-sidecar.metrics.podMonitor.enabled=true",
                       "--set", "log-sidecar.networkPolicy.enabled=true")
    assert validate_objects(objects) == []
    pod_labels = by_kind(objects, "Deployment")[0]["spec"]["template"]["metadata"]["labels"]
    (monitor,) = by_kind(objects, "PodMonitor")
    (policy,) = by_kind(objects, "NetworkPolicy")
    for selector in (monitor["spec"]["selector"], policy["spec"]["podSelector"]):
        assert selector["matchLabels"] and selector["matchLabels"].items() <= pod_labels.items()


def test_notes_name_the_route_the_pod_monitor_and_the_rules() -> None:
    text = notes("-f", str(CHART_DIR / "ci" / "gateway-httproute-values.yaml"),
                 "--set", "metrics.podMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true")
    assert "https://logs.example.com/" in text
    assert "scraped through PodMonitor demo-log-sidecar" in text and "Alerts: PrometheusRule demo-log-sidecar" in text
    assert "Probes use /healthz only" in text


def test_extra_env_cannot_repeat_a_variable_the_chart_renders() -> None:
    stderr = helm_fails("--set", "sidecar.extraEnv[0].name=LOG_SIDECAR_AUTH", "--set", "sidecar.extraEnv[0].value=none")
    assert "sidecar.extraEnv sets LOG_SIDECAR_AUTH, which the chart renders from its values" in stderr
    # Others stay possible, e.g. a setting taken from a ConfigMap.
    objects = render(None, "--set", "sidecar.extraEnv[0].name=LOG_SIDECAR_REDACT_PATTERNS",
                     "--set", "sidecar.extraEnv[0].valueFrom.configMapKeyRef.name=redaction",
                     "--set", "sidecar.extraEnv[0].valueFrom.configMapKeyRef.key=patterns")
    env = env_of(sidecar_container(pod_spec(objects)))
    assert env["LOG_SIDECAR_REDACT_PATTERNS"] == {"configMapKeyRef": {"name": "redaction", "key": "patterns"}}
