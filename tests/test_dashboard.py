"""The Grafana dashboard (docs/grafana/fedmall.json) and the families the services export agree:
every expression names only families a clearing or a node exports, and every family is on it."""
from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import exposition
from prometheus_client.parser import text_string_to_metric_families

from fedmall.database import sqlite_url

from clearing import metrics as clearing_metrics
from clearing.store import Store
from node import metrics as node_metrics
from node.store import open_database

DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "fedmall.json"
# What PromQL may append to a family's name in a sample: a histogram's series, a counter's total.
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("_total",), "gauge": ("",)}


def exported_families(tmp_path: Path) -> dict[str, str]:
    """Every fedmall_ family of a clearing and of a node, with its type, from their own registries."""
    store = Store.open(sqlite_url(tmp_path / "clearing.db"))
    engine = open_database(sqlite_url(tmp_path / "node.db"))
    try:
        registries = [
            clearing_metrics.new_registry(store, clearing_metrics.OpenStreams(), clock_ms=lambda: 0)[0],
            node_metrics.new_registry(engine, stream_connected=lambda: True,
                                      certificate_path=tmp_path / "tls.crt")[0]]
        return {family.name: family.type for registry in registries
                for family in text_string_to_metric_families(exposition.generate_latest(registry).decode())
                if family.name.startswith("fedmall_")}
    finally:
        store.close()
        engine.dispose()


def dashboard_expressions() -> list[str]:
    document = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in document["panels"] for target in panel.get("targets", [])]


def test_dashboard__every_expression_names_families_the_services_export(tmp_path):
    families = exported_families(tmp_path)
    samples = {name + suffix: name for name, kind in families.items() for suffix in SUFFIXES[kind]}
    expressions = dashboard_expressions()
    assert expressions
    named = {name for expression in expressions for name in re.findall(r"\bfedmall_[a-z0-9_]+", expression)}
    assert sorted(named - set(samples)) == []
    assert sorted(set(families) - {samples[name] for name in named}) == []

