#!/usr/bin/env bash
# Container engine and debootstrap for tests/test_container_image.py, only when the image tests are
# asked for (LOG_SIDECAR_IMAGE_TESTS=1): Debian's docker.io (dockerd + the docker CLI) and debootstrap,
# which the test uses to start an engine and to build its base image (no image registry is reachable).
# The test starts dockerd itself and makes the base image; this only installs the packages.
# Idempotent: returns at once when docker, dockerd and debootstrap are already there.
source "$(dirname "$0")/../lib.sh"

[ "${LOG_SIDECAR_IMAGE_TESTS:-}" = "1" ] || exit 0
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }  # /usr/sbin: not on every user's PATH
have docker && have dockerd && have debootstrap && exit 0
# Without recommends: dockerd needs only containerd and runc (it runs with --iptables=false here).
# The keyring is only a Recommends of debootstrap, which verifies Debian's Release file with it.
apt_install 40-docker docker.io debootstrap debian-archive-keyring || exit 0  # the image tests then skip
docker --version >&2 || true
