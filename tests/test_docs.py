"""The README's settings table and metrics list are the user's reference: they must name every
setting and every metric the code has, exactly once, with the real default and labels."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.config import Settings
from sidecar.ops.metrics import Metrics

README = Path(__file__).resolve().parents[1] / "README.md"
ROW = re.compile(r"^\| `(LOG_SIDECAR_[A-Z0-9_]+)` \| `(--[a-z0-9-]+)` \| (.*) \| (.*) \| (.*) \|$", re.M)


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def _settings_rows() -> list[tuple[str, str, str, str]]:
    return [(env, flag, meaning, default) for env, flag, meaning, default, _ in ROW.findall(_section("Configuration"))]


def _shown_default(value: object) -> str | None:
    """How the README writes a default; None where it is said in words (derived, unset, empty)."""
    if value is None or value == [] or isinstance(value, Path):
        return None
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def test_every_setting_has_exactly_one_row_with_its_flag_and_default() -> None:
    rows = _settings_rows()
    envs = [env for env, *_ in rows]
    fields = {"LOG_SIDECAR_" + name.upper(): (name, info) for name, info in Settings.model_fields.items()}
    assert sorted(set(envs) - fields.keys()) == [], "README rows for settings that do not exist"
    assert sorted(fields.keys() - set(envs)) == [], "settings with no README row"
    assert sorted({env for env in envs if envs.count(env) > 1}) == [], "settings with two README rows"
    for env, flag, meaning, default in rows:
        name, info = fields[env]
        assert flag == "--" + name.replace("_", "-"), env
        assert meaning.strip(), env
        expected = _shown_default(info.get_default(call_default_factory=True))
        if expected is None:
            assert default.startswith("("), f"{env}: default {default!r} should say (unset), (empty) or how it is derived"
        else:
            shown = default.strip("`")
            same = shown == expected.strip("`") or (
                isinstance(info.default, float) and re.fullmatch(r"[\d.]+", shown) and float(shown) == info.default
            )
            assert same, f"{env}: README says {default}, the code {expected}"


def _metrics_in_readme() -> dict[str, set[str]]:
    """`name{a,b}` cells of the Metrics table -> their labels."""
    table = [line for line in _section("Metrics").splitlines() if line.startswith("| `")]
    names: dict[str, set[str]] = {}
    for line in table:
        for name, labels in re.findall(r"`([a-z_]+)(?:\{([a-z_,]*)\})?`", line.split("|")[1]):
            assert "log_sidecar_" + name not in names, f"{name} listed twice"
            names["log_sidecar_" + name] = set(filter(None, labels.split(",")))
    return names


def _exposed_name(family) -> str:
    return family.name + "_total" if family.type == "counter" else family.name


@pytest.fixture(scope="module")
def scraped(tmp_path_factory) -> str:
    """/metrics of a real sidecar with a file source and a pattern counter, so that every
    per-source family (the app's scrape-time collectors included) has a series."""
    from tests.support.server import SidecarProcess

    folder = tmp_path_factory.mktemp("docs")
    (folder / "app.log").write_text("ERROR boom\n")
    env = {"LOG_SIDECAR_FILES": str(folder / "*.log"), "LOG_SIDECAR_COUNT": "errors=ERROR"}
    with SidecarProcess(env) as server:
        return httpx.get(server.url + "/metrics", timeout=10).text


def test_every_metric_the_sidecar_exposes_is_listed_with_its_labels(scraped: str) -> None:
    listed = _metrics_in_readme()
    exposed: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(scraped):
        if family.name.startswith("log_sidecar_"):
            labels = {label for sample in family.samples for label in sample.labels if label != "le"}
            exposed[_exposed_name(family)] = labels
    missing = {name: labels for name, labels in exposed.items() if name not in listed}
    assert missing == {}, "metrics missing from the README's Metrics table"
    wrong = {name: (listed[name], labels) for name, labels in exposed.items() if labels and listed[name] != labels}
    assert wrong == {}, "README labels (left) differ from the exposed ones (right)"
    stale = sorted(set(listed) - set(exposed))
    assert stale == [], "README lists metrics the sidecar does not expose"


def test_declared_metrics_without_series_yet_are_listed_with_their_labels() -> None:
    """Families with no series in a plain run (kube API errors) are checked from their declaration."""
    listed = _metrics_in_readme()
    for collector in Metrics().registry._names_to_collectors.values():
        name = getattr(collector, "_name", "")
        if name.startswith("log_sidecar_"):
            exposed = name + "_total" if collector._type == "counter" else name
            assert exposed in listed, f"{exposed} missing from the README's Metrics table"
            assert listed[exposed] == set(collector._labelnames), exposed


def test_no_readme_section_is_there_twice_and_contents_names_every_section() -> None:
    """Several branches add sections: a merge must not leave two of one, or one out of Contents."""
    text = README.read_text(encoding="utf-8")
    titles = re.findall(r"^(#{2,3} .+)$", text, re.M)
    assert sorted({t for t in titles if titles.count(t) > 1}) == []
    contents = _section("Contents")
    for title in (t[3:] for t in titles if t.startswith("## ") and t != "## Contents"):
        assert f"[{title}](#" in contents, f"{title!r} missing from Contents"


def test_every_metric_name_the_docs_and_chart_use_exists(scraped: str) -> None:
    """An alert rule or a doc naming a renamed metric would silently match nothing."""
    root = README.parent
    families = list(text_string_to_metric_families(scraped))
    names = {sample.name for family in families for sample in family.samples} | {f.name for f in families}
    names |= {collector._name + "_total" for collector in Metrics().registry._names_to_collectors.values()
              if getattr(collector, "_type", "") == "counter"}
    files = [README, *root.glob("docs/*.md"), *root.glob("helm/**/*.yaml"), *root.glob("helm/**/*.md"),
             *root.glob("manifests/*.yaml")]
    unknown = {
        (str(path.relative_to(root)), name)
        for path in files
        for name in re.findall(r"\blog_sidecar_[a-z_]*[a-z]", path.read_text(encoding="utf-8"))
        if name not in names
    }
    assert sorted(unknown) == []
