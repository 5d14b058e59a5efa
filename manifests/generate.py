"""Write manifests/*.yaml from the Helm chart, so the plain YAML stays in step with it.

    .venv/bin/python manifests/generate.py          # rewrite the files
    .venv/bin/python manifests/generate.py --check  # exit 1 if a file differs (tests/test_manifests.py does this)

Each file is `helm template` of helm/log-sidecar with the values in VARIANTS, minus Helm's own labels,
release-specific names and the `helm test` pod.

Auth is the chart's default, bearer, but the token Secret is not in the files: a generated one would
change at every run, and a placeholder token is a password that someone forgets to change. The
Deployment mounts the Secret `log-sidecar-auth` (key `secret`), which the user creates first
(AUTH_SECRET_COMMAND); until then the pod waits in ContainerCreating, naming the missing Secret.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.helm import CHART_DIR, template  # noqa: E402

HERE = Path(__file__).resolve().parent
AUTH_SECRET = "log-sidecar-auth"
AUTH_SECRET_COMMAND = (
    f"kubectl create secret generic {AUTH_SECRET} --from-literal=secret=\"$(head -c 30 /dev/urandom | base64)\""
)
COMMON = ["--set", "fullnameOverride=log-sidecar", "--set", "tests.enabled=false",
          "--set", "auth.mode=bearer", "--set", f"auth.existingSecret={AUTH_SECRET}", "--set", "auth.existingSecretKey=secret"]
AUTH_HEADER = (
    "Bearer auth: create the token Secret first (the pod waits for it), in the same namespace:\n"
    f"  {AUTH_SECRET_COMMAND}\n"
    f"  kubectl get secret {AUTH_SECRET} -o jsonpath='{{.data.secret}}' | base64 -d; echo   # the token\n"
    "The viewer asks for the token once (then a session cookie keeps you signed in)."
)
NATIVE_NOTE = (
    "The sidecar is a native sidecar (an initContainer with restartPolicy Always): Kubernetes 1.29 or newer.\n"
    "Older clusters: move it from initContainers to containers and drop its restartPolicy."
)
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")

# file -> (header comment, helm arguments, kinds kept)
VARIANTS: dict[str, tuple[str, list[str], tuple[str, ...]]] = {
    "log-sidecar.yaml": (
        "The demo writer and the sidecar sharing an emptyDir, and a Service.\n"
        f"{AUTH_HEADER}\n"
        "kubectl apply -f manifests/log-sidecar.yaml\n"
        "kubectl port-forward service/log-sidecar 8080:8080, then open http://127.0.0.1:8080/\n"
        "Your workload: replace the 'app' container (image, command, args) and keep the 'logs' mount.\n"
        f"{NATIVE_NOTE}",
        [],
        ("Deployment", "Service"),
    ),
    "pod-source.yaml": (
        "Instead of log-sidecar.yaml: the sidecar also follows this pod's containers through the pod log\n"
        "API (LOG_SIDECAR_POD_SOURCE=own), with the ServiceAccount, Role and RoleBinding that needs.\n"
        "The API token is mounted into the sidecar alone. Change the RoleBinding's subject namespace\n"
        "if you apply it elsewhere than 'default'.\n"
        f"{AUTH_HEADER}\n"
        f"{NATIVE_NOTE}",
        ["--set", "podSource.mode=own"],
        ("ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"),
    ),
    "ingress.yaml": (
        "Optional: an ingress-nginx Ingress that keeps the SSE stream unbuffered. Set your host and TLS\n"
        "secret. The sidecar behind it asks for the bearer token (Secret log-sidecar-auth, see log-sidecar.yaml).",
        ["--set", "ingress.enabled=true", "--set", "ingress.className=nginx",
         "--set", "ingress.hosts[0].host=logs.example.com", "--set", "ingress.hosts[0].paths[0].path=/",
         "--set", "ingress.tls[0].secretName=logs-example-com-tls", "--set", "ingress.tls[0].hosts[0]=logs.example.com"],
        ("Ingress",),
    ),
    "servicemonitor.yaml": (
        "Optional: a Prometheus Operator ServiceMonitor (the pod also carries prometheus.io annotations).",
        ["--set", "metrics.serviceMonitor.enabled=true"],
        ("ServiceMonitor",),
    ),
}


def render(helm_args: list[str], kinds: tuple[str, ...]) -> list[dict]:
    objects = template(CHART_DIR, *COMMON, *helm_args, release="log-sidecar", namespace="default")
    kept = [obj for obj in objects if obj["kind"] in kinds]
    kept.sort(key=lambda obj: kinds.index(obj["kind"]))
    for obj in kept:
        for labels in _label_maps(obj):
            for key in HELM_ONLY_LABELS:
                labels.pop(key, None)
    return kept


def _label_maps(obj: dict) -> list[dict]:
    maps = [obj["metadata"].get("labels", {})]
    if obj["kind"] == "Deployment":
        maps.append(obj["spec"]["template"]["metadata"].get("labels", {}))
    return maps


def text_of(name: str) -> str:
    header, helm_args, kinds = VARIANTS[name]
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    comment += "# Generated from helm/log-sidecar by manifests/generate.py: edit the chart, then regenerate.\n"
    body = "---\n".join(yaml.safe_dump(obj, sort_keys=False, width=120) for obj in render(helm_args, kinds))
    return comment + "---\n" + body


def main(argv: list[str]) -> int:
    stale = []
    for name in VARIANTS:
        path = HERE / name
        text = text_of(name)
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)}: run .venv/bin/python manifests/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
