"""The shipped alert rules, Grafana dashboard and Kubernetes manifests: they parse, reference only
metrics (and labels) the flow exposes, validate against the Kubernetes schemas, and run only
commands the CLI has."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from connectors.prometheus.metrics import METRIC_NAMES, FlowMetrics
from flows.cli import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_VERSION = "1.31"
_SERIES = re.compile(r"\b(quorum_[a-z_]+)\s*(\{[^}]*\})?")
_MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def exposed() -> dict[str, set[str]]:
    """Series name → label names, as a Prometheus server sees them (suffixes included)."""
    metrics = FlowMetrics(CollectorRegistry())
    series: dict[str, set[str]] = {}
    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = set(metric._labelnames)  # prometheus_client keeps them only privately
        kind, name = metric._type, metric._name
        if kind == "counter":
            series[f"{name}_total"] = labels
        elif kind == "histogram":
            for suffix in ("_bucket", "_count", "_sum"):
                series[name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
        else:
            series[name] = labels
    return series


def check_expr(expr: str, where: str) -> None:
    series = exposed()
    used = _SERIES.findall(expr)
    assert used, f"{where}: no quorum metric in {expr!r}"
    labels_seen: set[str] = set()
    for name, matchers in used:
        assert name in series, f"{where}: {name} is not exposed by the flow"
        for label in _MATCHER.findall(matchers):
            assert label in series[name], f"{where}: {name} has no label {label!r}"
        labels_seen |= series[name]
    for group in _GROUPING.findall(expr):
        for label in filter(None, (g.strip() for g in group.split(","))):
            assert label in labels_seen, f"{where}: grouping by unknown label {label!r}"


def test_metric_names_list_matches_the_registry() -> None:
    histograms = {"quorum_event_age_seconds", "quorum_stage_latency_seconds"}
    assert {n for n in exposed() if not n.endswith(("_bucket", "_count", "_sum"))} | histograms == (
        set(METRIC_NAMES)
    )


def test_alert_rules_reference_only_exposed_metrics() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in alerts}
    for wanted in (
        "FeedStale",
        "UptimeSLA",
        "LatencySLA",
        "DeadLetter",
        "Halted",
        "Drawdown",
        "WatermarkLag",
    ):
        assert any(wanted in name for name in names), wanted
    for rule in alerts:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        check_expr(rule["expr"], rule["alert"])


def test_grafana_dashboard_panels_reference_only_exposed_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "quorum-flow.json").read_text())
    targets = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]
    assert len(targets) >= 15
    for title, expr in targets:
        check_expr(expr, title)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_the_checker_catches_an_unknown_metric_or_label() -> None:
    with pytest.raises(AssertionError, match="not exposed"):
        check_expr("quorum_feed_down == 1", "bad")
    with pytest.raises(AssertionError, match="no label 'venue'"):
        check_expr('quorum_feed_up{venue="x"} == 0', "bad")


def manifests() -> list[dict]:
    return list(yaml.safe_load_all((DEPLOY / "k8s" / "quorum.yaml").read_text()))


def test_kubernetes_manifests_validate_against_the_schemas() -> None:
    docs = manifests()
    assert {d["kind"] for d in docs} >= {"StatefulSet", "Deployment", "Service", "ConfigMap"}
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    broken = copy.deepcopy(next(d for d in docs if d["kind"] == "StatefulSet"))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_every_container_runs_an_existing_command_with_probes_and_requests() -> None:
    parser = build_parser()
    for doc in manifests():
        if doc["kind"] not in {"StatefulSet", "Deployment"}:
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            args = [
                a.replace("$(QUORUM_STORE)", "postgresql+psycopg://db/q") for a in container["args"]
            ]
            parser.parse_args(args)  # exits on an unknown command or flag
            assert container["readinessProbe"] and container["livenessProbe"], doc["metadata"]
            assert container["resources"]["requests"], doc["metadata"]
    api = next(d for d in manifests() if d["metadata"]["name"] == "quorum-api")
    probe = api["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"]["path"] == "/v1/health"
    config = next(d for d in manifests() if d["kind"] == "ConfigMap")
    from flows.config import QuorumConfig

    QuorumConfig.model_validate(yaml.safe_load(config["data"]["quorum.yaml"]))
