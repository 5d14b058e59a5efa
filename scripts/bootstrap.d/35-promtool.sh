#!/usr/bin/env bash
# promtool for tests/test_prometheus_rules.py (`promtool check rules` and `promtool test rules` on the
# chart's PrometheusRule): Debian's `prometheus` package carries it. Only the binary is used; without
# systemd as PID 1 the package's service is not started (and the tests never start one).
# Idempotent: returns at once when promtool is already there.
source "$(dirname "$0")/../lib.sh"

command -v promtool >/dev/null 2>&1 && exit 0
apt_install 35-promtool prometheus || exit 0  # the promtool tests then skip, saying why
promtool --version >&2 || true
