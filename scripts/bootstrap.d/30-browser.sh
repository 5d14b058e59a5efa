#!/usr/bin/env bash
# Browser for the viewer tests (tests/test_viewer.py): Debian's chromium, driven by the
# playwright Python package from the test extras. We never run `playwright install`: it
# downloads a browser build of its own, which offline / air-gapped CI cannot fetch.
# Idempotent: returns at once when /usr/bin/chromium is already there.
source "$(dirname "$0")/../lib.sh"

[ -x /usr/bin/chromium ] && exit 0
apt_install 30-browser chromium fonts-dejavu-core || exit 0  # the browser tests then skip, saying why
/usr/bin/chromium --version >&2 || true
