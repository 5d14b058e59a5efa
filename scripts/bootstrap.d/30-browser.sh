#!/usr/bin/env bash
# Browser for the viewer tests (tests/test_viewer.py): Debian's chromium, driven by the
# playwright Python package from the test extras. We never run `playwright install`: it
# downloads a browser build of its own, which offline / air-gapped CI cannot fetch.
# Idempotent: returns at once when /usr/bin/chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "30-browser: apt-get not found; install chromium yourself (browser tests will be skipped)" >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "30-browser: not root and no password-less sudo; cannot install chromium (browser tests will be skipped)" >&2
        exit 0
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "30-browser: installing Debian chromium" >&2
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version >&2 || true
