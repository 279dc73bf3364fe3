"""The kit against a real Python node (the kit is its clearing and a payer bank) passes, and the
node's books hold exactly what the kit committed; against nodes broken on purpose it fails,
naming the case."""
from __future__ import annotations

import contextlib
import io
import json
import threading
from pathlib import Path

from fedmall import pki
from fedmall.database import read_connection

from node.bank import deliveries, ledger, notices
from node.bank import store as bank_store
from node.config import load_config
from node.server import build_node

from conformance import cli
from scripts.postgres_cluster import free_port

from tests.conformance import broken

MEMBER = "bank-m"
ACCOUNT = "alice"
BOOKED_MINOR = 205 + 206 + 212  # What the kit commits to the member in a run: be paid, decision retry, modified duplicate.


def make_bundle(tmp_path: Path) -> tuple[Path, str, str]:
    clearing_address, node_address = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    bundle = tmp_path / "bundle"
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["bundle", "--member", MEMBER, "--currency", "EUR", "--clearing-address", clearing_address,
                         "--node-address", node_address, "--out", str(bundle)]) == 0
    return bundle, clearing_address, node_address


def run_member_kit(bundle: Path, node_address: str, start_node) -> tuple[int, dict]:
    """The kit in a thread, serving as the clearing; the node started once the kit listens; the kit's report."""
    out, outcome = io.StringIO(), {}

    def kit():
        with contextlib.redirect_stdout(out):
            outcome["code"] = cli.main(["member", "--address", node_address, "--bundle", str(bundle), "--account",
                                        ACCOUNT, "--timeout-s", "5", "--connect-timeout-s", "20", "--json"])
    thread = threading.Thread(target=kit)
    thread.start()
    node = start_node()
    try:
        thread.join(timeout=120)
    finally:
        node.stop(grace_s=0)
    assert not thread.is_alive()
    return outcome["code"], json.loads(out.getvalue())


def python_node(bundle: Path, *, build=build_node):
    node = build(load_config(bundle / MEMBER))
    node.accounts.open_account(account_id=ACCOUNT, holder_name="Alice", currency="EUR")
    node.start()
    return node


def test_member_kit__passes_against_the_python_node(tmp_path):
    bundle, _, node_address = make_bundle(tmp_path)
    nodes = []
    code, report = run_member_kit(bundle, node_address, lambda: nodes.append(python_node(bundle)) or nodes[0])
    failed = {case["name"]: case["reason"] for case in report["cases"] if not case["passed"]}
    assert failed == {} and code == 0 and report["passed"]
    assert len(report["cases"]) == 13
    # The books hold exactly what the kit committed, once each, and balance.
    node = nodes[0]
    assert node.accounts.get_account(ACCOUNT).balance_minor == BOOKED_MINOR
    with read_connection(node.engine) as connection:
        assert ledger.books_problems(bank_store.read_books(connection)) == []


def failures(report: dict) -> dict[str, str]:
    return {case["name"]: case["reason"] for case in report["cases"] if not case["passed"]}


def test_member_kit__a_node_signing_with_another_key_fails_its_decisions(tmp_path):
    bundle, _, node_address = make_bundle(tmp_path)
    # The node signs with a key the consortium never registered (its public key is signing.pub).
    pki.write_private(bundle / MEMBER / "signing.key", pki.signing_key_pem(pki.new_signing_key(f"{MEMBER}/k1")))
    code, report = run_member_kit(bundle, node_address, lambda: python_node(bundle))
    failed = failures(report)
    assert code == 1
    assert {"be paid", "decision retry", "reject", "reconciled window"} <= set(failed)
    assert "INVALID_SIGNATURE" in failed["be paid"]


def test_member_kit__a_payee_accepting_terms_it_did_not_quote_fails_those_cases(tmp_path, monkeypatch):
    def fulfilment_of(prepare, key):
        return key.fulfilment(payer_bank_id=prepare.payer_bank_id, transfer_id=prepare.transfer_id,
                              payee_account=prepare.payee_account, amount_minor=prepare.amount.amount_minor,
                              currency=prepare.amount.currency)
    monkeypatch.setattr(notices, "was_quoted", lambda prepare, key: True)
    monkeypatch.setattr(notices, "decide", broken.lenient_payee(notices.decide, fulfilment_of))
    bundle, _, node_address = make_bundle(tmp_path)
    code, report = run_member_kit(bundle, node_address, lambda: python_node(bundle))
    failed = failures(report)
    assert code == 1
    assert set(failed) == {"reject", "modified prepare"}
    assert "the member accepted" in failed["modified prepare"]


def test_member_kit__a_node_that_applies_unverified_deliveries_fails_the_signature_cases(tmp_path, monkeypatch):
    monkeypatch.setattr(deliveries, "open_envelope", broken.parse_without_verifying)
    bundle, _, node_address = make_bundle(tmp_path)
    code, report = run_member_kit(bundle, node_address, lambda: python_node(bundle))
    failed = failures(report)
    assert code == 1
    assert {"bad signature", "wrong signer"} <= set(failed)
    assert "decided" in failed["bad signature"] or "did not resume" in failed["bad signature"]


def test_member_kit__a_node_booking_an_expired_transfer_fails_expiry_at_the_window(tmp_path, monkeypatch):
    monkeypatch.setattr(notices.NoticeService, "_as_payee", broken.booking_expired_as_paid(
        notices.NoticeService._as_payee))
    bundle, _, node_address = make_bundle(tmp_path)
    code, report = run_member_kit(bundle, node_address, lambda: python_node(bundle))
    failed = failures(report)
    assert code == 1
    assert {"expiry", "reconciled window"} <= set(failed)
    assert "its books at the window: MISSING_AT_CLEARING" in failed["expiry"]
    assert "(case expiry)" in failed["reconciled window"]
    assert not {"be paid", "decision retry", "modified duplicate", "reject"} & set(failed)


def test_member_kit__no_node_connecting_fails_connect_alone(tmp_path):
    bundle, _, node_address = make_bundle(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["member", "--address", node_address, "--bundle", str(bundle), "--account", ACCOUNT,
                         "--connect-timeout-s", "0.3", "--json"])
    report = json.loads(out.getvalue())
    assert code == 1
    assert [(case["name"], case["passed"]) for case in report["cases"]] == [("connect", False)]
    assert "no delivery stream from the member" in report["cases"][0]["reason"]
