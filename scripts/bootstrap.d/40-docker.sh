#!/usr/bin/env bash
# Container engine and debootstrap for tests/test_container_image.py, only when the image tests are
# asked for (LOG_SIDECAR_IMAGE_TESTS=1): Debian's docker.io (dockerd + the docker CLI) and debootstrap,
# which the test uses to start an engine and to build its base image (no image registry is reachable).
# The test starts dockerd itself and makes the base image; this only installs the packages.
# Idempotent: returns at once when docker, dockerd and debootstrap are already there.
set -euo pipefail

if [ "${LOG_SIDECAR_IMAGE_TESTS:-}" != "1" ]; then
    exit 0
fi

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }  # /usr/sbin: not on every user's PATH
if have docker && have dockerd && have debootstrap; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "40-docker: apt-get not found; install docker.io and debootstrap yourself (image tests will be skipped)" >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "40-docker: not root and no password-less sudo; cannot install docker.io (image tests will be skipped)" >&2
        exit 0
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "40-docker: installing Debian docker.io and debootstrap" >&2
$SUDO apt-get update -q
# --no-install-recommends: no apparmor, git, cgroupfs-mount ...; dockerd needs only containerd and runc
# (Depends) and iptables, which it does not use here (the test runs it with --iptables=false). The keyring
# is only a Recommends of debootstrap, and debootstrap verifies the Release file with it.
$SUDO apt-get install -y -q --no-install-recommends docker.io debootstrap debian-archive-keyring
docker --version >&2 || true
