"""fedmall-clearing transfer ID: a transfer as the clearing knows it (its signed prepare, states
with their times, the payee's decision, window and audit entries), on SQLite and PostgreSQL;
a malformed or unknown id is a typed refusal."""
from __future__ import annotations

import json

from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import transfer_pb2

from clearing.cli import main
from tests.clearing.test_transfers import accept, submit_decisions, submit_prepares
from tests.clearing.test_windows import close, commit
from tests.support.federation import make_prepare


def look_up(capsys, world, transfer_id: str, *flags: str) -> tuple[int, str, str]:
    code = main(["--home", str(world.home), "transfer", transfer_id, *flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_transfer__committed_with_its_prepare_times_window_and_audit_entries(world, capsys):
    transfer_id = commit(world, "bank-a", "bank-b", 1_250)
    again = submit_decisions(world, "bank-b", accepts=[accept(transfer_id)])    # A repeat, audited as EXISTS.
    assert again.results[0].result == rc.RESULT_CODE_EXISTS
    window_id = close(world)

    code, out, _ = look_up(capsys, world, transfer_id, "--json")
    found = json.loads(out)
    assert code == 0
    assert {key: found[key] for key in ("payer_bank_id", "payee_bank_id", "amount_minor", "currency", "state",
                                        "result", "payee_decision", "window_id", "window_state")} == {
        "payer_bank_id": "bank-a", "payee_bank_id": "bank-b", "amount_minor": 1_250, "currency": "EUR",
        "state": "COMMITTED", "result": "OK", "payee_decision": "ACCEPTED", "window_id": window_id,
        "window_state": "PENDING_SETTLEMENT"}
    assert found["prepare"]["transfer_id"] == transfer_id and found["prepare"]["amount"]["amount_minor"] == "1250"
    assert found["received_at_ms"] <= found["decided_at_ms"] < found["expires_at_ms"]
    assert [(m["kind"], m["party_id"], m["result"]) for m in found["audit"]] == [
        ("prepares", "bank-a", "OK"), ("decisions", "bank-b", "OK"), ("decisions", "bank-b", "EXISTS")]

    code, out, _ = look_up(capsys, world, transfer_id)
    assert code == 0
    assert f"transfer {transfer_id}: bank-a pays bank-b 12.50 EUR" in out
    assert f"payee's decision ACCEPTED; window {window_id} (PENDING_SETTLEMENT)" in out
    assert "committed (OK)" in out and "decisions" in out


def test_transfer__rejected_and_expired_say_why_and_name_no_window(world, capsys):
    rejected = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    expiring = make_prepare("bank-a", "bank-b", 200, now_ms=world.clock(), expires_in_ms=2_000)
    assert [r.result for r in submit_prepares(world, "bank-a", rejected, expiring).results] == [rc.RESULT_CODE_OK] * 2
    submit_decisions(world, "bank-b", rejects=[transfer_pb2.Reject(
        transfer_id=rejected.transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN, reason="no such account")])
    world.clock.advance(ms=3_000)
    world.clearing.transfers.expire_due()

    answers = {}
    for prepare in (rejected, expiring):
        code, out, _ = look_up(capsys, world, prepare.transfer_id, "--json")
        assert code == 0
        answers[prepare.transfer_id] = json.loads(out)
    first, second = answers[rejected.transfer_id], answers[expiring.transfer_id]
    assert (first["state"], first["result"], first["payee_decision"], first["window_id"]) == (
        "ABORTED", "PAYEE_REJECTED", "REJECTED", None)
    assert (second["state"], second["result"], second["payee_decision"]) == ("ABORTED", "EXPIRED", "EXPIRED")
    assert [(m["kind"], m["result"]) for m in second["audit"]] == [("prepares", "OK"), ("expired", "EXPIRED")]


def test_transfer__a_reserved_one_awaits_the_payee(world, capsys):
    prepare = make_prepare("bank-a", "bank-b", 300, now_ms=world.clock())
    submit_prepares(world, "bank-a", prepare)
    code, out, _ = look_up(capsys, world, prepare.transfer_id, "--json")
    found = json.loads(out)
    assert (code, found["state"], found["payee_decision"], found["decided_at_ms"]) == (0, "RESERVED", "none yet", None)


def test_transfer__a_malformed_or_unknown_id_is_refused(world, capsys):
    code, out, err = look_up(capsys, world, "not-a-uuid")
    assert (code, out) == (1, "") and "INVALID_FIELD" in err and "not a transfer id" in err
    code, out, err = look_up(capsys, world, "6f1c1a52-1b0f-4c55-9a3e-0d6d3c2b1a00")
    assert (code, out) == (1, "") and "TRANSFER_NOT_FOUND" in err
