"""The chart's PrometheusRule, rendered by the real helm and run by the real promtool.

`promtool check rules` checks the rendered groups; `promtool test rules` feeds series shaped like the
sidecar's /metrics (with the target labels a PodMonitor adds) and checks which alerts fire, when, and
with which labels and annotations. promtool is Debian's `prometheus` package
(scripts/bootstrap.d/35-promtool.sh); without it these tests are skipped, saying why.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.helm import CHART_DIR, HelmUnavailable, helm_path, template

VALUES = CHART_DIR / "ci" / "prometheus-rule-values.yaml"  # noLinesMinutes: 10, alertLabels team=platform


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.skip("promtool is not installed (apt-get install prometheus; scripts/bootstrap.d/35-promtool.sh)")
    return found


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The PrometheusRule's groups, as a Prometheus rule file."""
    try:
        helm_path()
    except HelmUnavailable as error:
        pytest.skip(f"helm is not available: {error}")
    (rule,) = [o for o in template(CHART_DIR, "-f", str(VALUES)) if o["kind"] == "PrometheusRule"]
    path = tmp_path_factory.mktemp("rules") / "log-sidecar-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def run(promtool: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_rendered_rules_pass_promtool_check(promtool: str, rules_file: Path) -> None:
    result = run(promtool, "check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found" in result.stdout


def test_the_no_lines_alert_can_be_left_out(promtool: str) -> None:
    (rule,) = [o for o in template(CHART_DIR, "-f", str(VALUES), "--set", "metrics.prometheusRule.noLinesMinutes=0")
               if o["kind"] == "PrometheusRule"]
    alerts = [r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]]
    assert alerts == ["LogSidecarSourceErrors", "LogSidecarLinesDropped", "LogSidecarBufferNearBudget"]


def test_the_rules_are_scoped_to_the_release_namespace_or_the_given_matchers() -> None:
    def exprs(*args: str) -> list[str]:
        (rule,) = [o for o in template(CHART_DIR, "-f", str(VALUES), *args) if o["kind"] == "PrometheusRule"]
        return [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]

    assert all('namespace="logs"' in expr for expr in exprs())
    custom = exprs("--set-string", 'metrics.prometheusRule.matchers=job="web"')
    assert all('job="web"' in expr and "namespace=" not in expr for expr in custom)
    unscoped = exprs("--set-string", "metrics.prometheusRule.matchers=")
    assert unscoped[0] == 'log_sidecar_sources{state="error"} > 0' and "{}" not in " ".join(unscoped)


# Target labels as the Prometheus Operator's PodMonitor sets them.
WEB1 = 'namespace="logs",pod="web-1",job="logs/demo-log-sidecar",instance="10.0.0.1:8080"'
WEB2 = 'namespace="logs",pod="web-2",job="logs/demo-log-sidecar",instance="10.0.0.2:8080"'
ELSEWHERE = 'namespace="other",pod="x-1",job="other/x",instance="10.0.9.9:8080"'

UNIT_TESTS = f"""
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # web-1: a source in error from minute 2; web-2 healthy; another namespace is not ours.
      - series: 'log_sidecar_sources{{state="error",{WEB1}}}'
        values: '0 0 1x20'
      - series: 'log_sidecar_sources{{state="error",{WEB2}}}'
        values: '0x22'
      - series: 'log_sidecar_sources{{state="error",{ELSEWHERE}}}'
        values: '1x22'
      # web-1 drops 4 lines at minute 3; web-2 never.
      - series: 'log_sidecar_lines_dropped_total{{source="app.log",{WEB1}}}'
        values: '0 0 0 4x19'
      - series: 'log_sidecar_lines_dropped_total{{source="app.log",{WEB2}}}'
        values: '0x22'
      # web-1's app.log stops at minute 5 (last line at t=300 s); web-2's busy.log keeps going;
      # web-2's quiet.log never had a line (0): no alert for it.
      - series: 'log_sidecar_last_line_timestamp_seconds{{source="app.log",{WEB1}}}'
        values: '0+60x5 300x17'
      - series: 'log_sidecar_last_line_timestamp_seconds{{source="busy.log",{WEB2}}}'
        values: '0+60x22'
      - series: 'log_sidecar_last_line_timestamp_seconds{{source="quiet.log",{WEB2}}}'
        values: '0x22'
      # web-1 holds 95 of its 100 budget bytes over two sources; web-2 holds 40 of 100.
      - series: 'log_sidecar_buffer_bytes{{source="a.log",{WEB1}}}'
        values: '50x22'
      - series: 'log_sidecar_buffer_bytes{{source="b.log",{WEB1}}}'
        values: '45x22'
      - series: 'log_sidecar_buffer_budget_bytes{{{WEB1}}}'
        values: '100x22'
      - series: 'log_sidecar_buffer_bytes{{source="a.log",{WEB2}}}'
        values: '40x22'
      - series: 'log_sidecar_buffer_budget_bytes{{{WEB2}}}'
        values: '100x22'
    alert_rule_test:
      # Pending for 5 minutes first (for: 5m): nothing at minute 6, firing at minute 7.
      - eval_time: 6m
        alertname: LogSidecarSourceErrors
        exp_alerts: []
      - eval_time: 7m
        alertname: LogSidecarSourceErrors
        exp_alerts:
          - exp_labels: {{severity: warning, team: platform, state: error, {WEB1.replace('=', ': ')}}}
            exp_annotations:
              summary: "log-sidecar logs/web-1: 1 source(s) in error"
              description: "Sources that cannot be read (file permissions, pod log API forbidden or failing): see /readyz and /api/sources of the sidecar, and log_sidecar_source_errors_total."
      - eval_time: 2m
        alertname: LogSidecarLinesDropped
        exp_alerts: []
      - eval_time: 4m
        alertname: LogSidecarLinesDropped
        exp_alerts:
          - exp_labels: {{severity: warning, team: platform, source: app.log, {WEB1.replace('=', ': ')}}}
            exp_annotations:
              summary: "log-sidecar logs/web-1: lines of app.log dropped"
              description: "4 lines of app.log were dropped in the last 5 minutes (slow clients, buffer budget)."
      # Five minutes after the last drop, the window no longer holds it.
      - eval_time: 9m
        alertname: LogSidecarLinesDropped
        exp_alerts: []
      # 10 minutes: minute 15 is exactly 600 s after the last line, not more; minute 16 is.
      - eval_time: 15m
        alertname: LogSidecarNoLines
        exp_alerts: []
      - eval_time: 16m
        alertname: LogSidecarNoLines
        exp_alerts:
          - exp_labels: {{severity: warning, team: platform, source: app.log, {WEB1.replace('=', ': ')}}}
            exp_annotations:
              summary: "log-sidecar logs/web-1: no line from app.log for 10 minutes"
              description: "The workload stopped logging to app.log, or the sidecar stopped reading it (check the source's state in /api/sources)."
      - eval_time: 4m
        alertname: LogSidecarBufferNearBudget
        exp_alerts: []
      - eval_time: 5m
        alertname: LogSidecarBufferNearBudget
        exp_alerts:
          - exp_labels: {{severity: warning, team: platform, {WEB1.replace('=', ': ')}}}
            exp_annotations:
              summary: "log-sidecar logs/web-1: buffers at 95% of their budget"
              description: "The sidecar evicts the oldest held lines across sources to stay in budget: viewers that resume or scroll back get gaps sooner. Raise sidecar.resources.limits.memory (the budget is half of it) or sidecar.bufferTotalBytes."
"""


def test_alerts_fire_for_the_failing_sidecar_only(promtool: str, rules_file: Path) -> None:
    tests = rules_file.parent / "log-sidecar-rules.test.yaml"
    tests.write_text(f"rule_files:\n  - {rules_file.name}\n" + UNIT_TESTS)
    result = run(promtool, "test", "rules", tests.name, cwd=rules_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
