"""The kit's own rules: it speaks only the contract, its bundle and its report."""
from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from conformance import cases
from conformance.credentials import BundleError, make_member_bundle, read_member_bundle

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"node", "clearing", "tests", "scripts"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_kit__imports_the_contract_package_never_node_or_clearing():
    offending = {str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN)
                 for path in sorted((ROOT / "conformance").glob("*.py")) if imported_packages(path) & FORBIDDEN}
    assert offending == {}


def test_bundle__member_bundle_reads_back_and_refuses_a_used_folder(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    make_member_bundle(tmp_path / "b", member_id="bank-m", currency="EUR", clearing_address="127.0.0.1:7000",
                       node_address="127.0.0.1:7101", now=now)
    bundle = read_member_bundle(tmp_path / "b")
    assert (bundle.member_id, bundle.currency, bundle.clearing.party_id, bundle.payer.party_id) == (
        "bank-m", "EUR", "clearing", "conformance-payer")
    assert bundle.member_key.key_id == "bank-m/k1" and bundle.clearing_address == "127.0.0.1:7000"
    with pytest.raises(BundleError, match="not empty"):
        make_member_bundle(tmp_path / "b", member_id="bank-m", currency="EUR", clearing_address="127.0.0.1:7000",
                           node_address="127.0.0.1:7101", now=now)
    with pytest.raises(BundleError, match="cannot be called"):
        make_member_bundle(tmp_path / "c", member_id="clearing", currency="EUR", clearing_address="127.0.0.1:7000",
                           node_address="127.0.0.1:7101", now=now)
    with pytest.raises(BundleError, match="not a bank id"):
        make_member_bundle(tmp_path / "c", member_id="bank m", currency="EUR", clearing_address="127.0.0.1:7000",
                           node_address="127.0.0.1:7101", now=now)
    with pytest.raises(BundleError, match="--node-address must be host:port"):
        make_member_bundle(tmp_path / "c", member_id="bank-m", currency="EUR", clearing_address="127.0.0.1:7000",
                           node_address="127.0.0.1", now=now)
    assert not (tmp_path / "c").exists()


def test_cases__a_case_that_raises_fails_with_its_reason_and_no_cases_is_no_pass():
    def broken():
        raise RuntimeError("the server went away")
    verdicts = cases.run_cases([cases.Case("ok", "passes", lambda: None), cases.Case("broken", "raises", broken),
                                cases.Case("refused", "expects", lambda: cases.expect_equal(1, 2, "one"))])
    assert [(v.name, v.passed, v.reason) for v in verdicts] == [
        ("ok", True, "ok"), ("broken", False, "RuntimeError: the server went away"),
        ("refused", False, "one: 1, expected 2")]
    assert not cases.all_passed(verdicts) and not cases.all_passed([])
    assert "1 of 3 cases passed, 2 FAILED" in cases.report_table("clearing", "host:1", verdicts)
