"""Prometheus and Grafana files: valid config, and a dashboard that asks only for real metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from app.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docker/grafana/dashboards/distilscreen.json"
DATASOURCES = ROOT / "docker/grafana/provisioning/datasources/prometheus.yml"
PROMETHEUS = "docker/prometheus/prometheus.yml"

# Sample names per family type, as the exposition writes them: a labelled family has no
# samples until its first use, so its names cannot all be read off `.samples`.
SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "info": ("_info",),
}


def exported_names() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names |= {sample.name for sample in family.samples}
        names |= {family.name + suffix for suffix in SAMPLE_SUFFIXES.get(family.type, ())}
    return names


def walk(node, key: str) -> Iterator:
    """Every value stored under `key`, at any depth of a JSON document."""
    if isinstance(node, dict):
        for k, value in node.items():
            if k == key:
                yield value
            yield from walk(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, key)


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def exprs(dashboard) -> list[str]:
    found = list(walk(dashboard, "expr"))
    assert found, f"{DASHBOARD} has no PromQL expression"
    return found


def test_dashboard_metrics_are_exported(exprs) -> None:
    used = {name for expr in exprs for name in re.findall(r"distilscreen_[a-z_]+", expr)}
    assert used, "the dashboard queries no distilscreen_* metric"
    unknown = used - exported_names()
    assert not unknown, f"the dashboard queries metrics app.metrics.Metrics does not export: {unknown}"


def test_dashboard_exprs_parse_as_promql(exprs, run_tool, tmp_path) -> None:
    # Grafana's $__interval-style variables become a fixed range so promtool can parse them.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:expr_{i}", "expr": re.sub(r"\$__\w+", "1m", expr)}
                    for i, expr in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(json.dumps(rules))
    run_tool("promtool", "check", "rules", str(path))


def test_dashboard_uses_the_provisioned_datasource(dashboard) -> None:
    provisioned = {ds["uid"] for ds in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    used = {ds["uid"] for ds in walk(dashboard, "datasource") if isinstance(ds, dict)}
    assert used and used <= provisioned, f"dashboard datasources {used}, provisioned {provisioned}"


def test_prometheus_config_scrapes_api(run_tool) -> None:
    run_tool("promtool", "check", "config", PROMETHEUS)
    config = yaml.safe_load((ROOT / PROMETHEUS).read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = [t for static in jobs["distilscreen"]["static_configs"] for t in static["targets"]]
    assert targets == ["api:8000"]
