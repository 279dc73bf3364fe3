"""The README's main command stays true: a small demo runs end to end on this machine and
its JSON says every invariant held, with credit lent and repaid from sales, and an instalment
purchase collected and reviewed."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).parents[1] / "scripts" / "demo.py"


def test_demo__two_banks_run_end_to_end_with_every_invariant_holding(tmp_path):
    finished = subprocess.run(
        [sys.executable, str(DEMO), "--json", "--banks", "2", "--orders", "40", "--transfers", "4", "--seed", "3",
         "--home", str(tmp_path / "demo")], capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr[-3000:]
    document = json.loads(finished.stdout)
    assert document["invariants_ok"] is True, {name: check for name, check in document["checks"].items() if not check["ok"]}
    credit = document["credit"]
    assert credit["loans"] >= 1 and credit["disbursed_minor"] > 0
    assert credit["repaid_from_sales_minor"] > 0
    assert credit["repaid_minor"] + credit["outstanding_minor"] == credit["disbursed_minor"] + credit["fees_minor"]
    assert document["settlement"]["breaks"] == 0
    assert document["console"].startswith("http://127.0.0.1:")  # The demo checked it answers.
    logs = tmp_path / "demo" / "logs"  # The demo names its log folder; it is there after the run.
    assert f"logs kept in {logs}" in finished.stderr
    assert {"clearing.log", "bank-a.log", "bank-b.log"} <= {path.name for path in logs.iterdir()}
    assert "clearing listening" in (logs / "clearing.log").read_text()
    instalments = document["instalments"]
    assert (instalments["refused"], instalments["review"], instalments["second_review"]) == (
        "INSTALMENTS_TERM_NOT_OFFERED", "OK", "REVIEW_ALREADY_GIVEN")
    assert [item["status"] for item in instalments["schedule"]][:3] == ["COLLECTED", "COLLECTED", "SCHEDULED"]
    assert instalments["collected_minor"] + instalments["outstanding_minor"] == (
        instalments["financed_minor"] + instalments["fee_minor"])
    assert instalments["product_rating"] == dict(count=1, average_centi=500)
