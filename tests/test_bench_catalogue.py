"""The catalogue benchmark runs end to end, small: its JSON has every figure, and the figures are
sane (rates positive, p50 <= p99, the frozen bank missed). Timings are never asserted here."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[1] / "scripts" / "bench_catalogue.py"


def test_bench_catalogue__small_run_prints_every_figure(tmp_path):
    finished = subprocess.run(
        [sys.executable, str(BENCH), "--banks", "2", "--products", "600", "--searches", "10", "--orders", "2",
         "--buyers", "1", "--home", str(tmp_path / "bench")], capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr[-3000:]
    document = json.loads(finished.stdout)
    assert (document["banks"], document["products"], document["cores"] >= 1) == (2, 600, True)
    assert document["import_rows_per_s"] > 0 and document["orders_per_s"] > 0 and document["orders"] == 2
    for name in ("local_search_ms", "federated_search_ms", "federated_slow_bank_ms"):
        figures = document[name]
        assert 0 < figures["p50"] <= figures["p99"] and figures["count"] == 10, name
    assert 0 <= document["federated_search_ms"]["searches_partial"] <= 10
    slow = document["federated_slow_bank_ms"]
    assert slow["slow_bank"] == "bank-b" and slow["searches_missing_it"] == 10
    assert slow["p50"] >= document["search_deadline_ms"] * 0.9  # It waited for the frozen bank's deadline.
    assert set(document["by_page_size_p50_ms"]) == {"10", "50", "100"}
    assert document["by_match_set_p50_ms"]["common"]["matches"] > document["by_match_set_p50_ms"]["rare"]["matches"]
    pages = document["paging"]["products_per_page"]  # No product twice (the bench fails on that).
    assert 1 <= len(pages) <= 5 and all(0 <= size <= 20 for size in pages) and pages[0] > 0
    assert document["order_errors"] == []
