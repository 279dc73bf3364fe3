"""fedmall-clearing transfer ID: a transfer as the clearing knows it (its signed prepare, states
with their times, the payee's decision, window and audit entries); fedmall-clearing transfers:
the list, filtered and a page at a time. On SQLite and PostgreSQL; bad input is a typed refusal."""
from __future__ import annotations

import datetime as dt
import json

import pytest

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
    assert found["uetr"] == found["prepare"]["uetr"] != transfer_id and found["original_transfer_id"] == ""
    assert found["received_at_ms"] <= found["decided_at_ms"] < found["expires_at_ms"]
    assert [(m["kind"], m["party_id"], m["result"]) for m in found["audit"]] == [
        ("prepares", "bank-a", "OK"), ("decisions", "bank-b", "OK"), ("decisions", "bank-b", "EXISTS")]

    code, out, _ = look_up(capsys, world, transfer_id)
    assert code == 0
    assert f"transfer {transfer_id}: bank-a pays bank-b 12.50 EUR" in out
    assert f"uetr {found['uetr']}\n" in out
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
    assert (first["payee_reason_code"], first["payee_reason"]) == ("ACCOUNT_UNKNOWN", "no such account")
    assert (second["payee_reason_code"], second["payee_reason"]) == (None, None)
    code, out, _ = look_up(capsys, world, rejected.transfer_id)
    assert code == 0 and "payee's decision REJECTED (ACCOUNT_UNKNOWN: 'no such account')" in out


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


# fedmall-clearing transfers: the filtered list, a page at a time ----------------------------


def listing(capsys, world, *flags: str) -> tuple[int, str, str]:
    code = main(["--home", str(world.home), "transfers", *flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_transfers__filters_and_pages_newest_first(world, capsys):
    ids = {}
    for name, payer, payee, amount in (("ab", "bank-a", "bank-b", 100), ("ba", "bank-b", "bank-a", 250),
                                       ("ac", "bank-a", "bank-c", 300), ("ab2", "bank-a", "bank-b", 400)):
        ids[name] = commit(world, payer, payee, amount)
        world.clock.advance(ms=1_000)
    rejected = make_prepare("bank-c", "bank-a", 50, now_ms=world.clock())
    submit_prepares(world, "bank-c", rejected)
    submit_decisions(world, "bank-a", rejects=[transfer_pb2.Reject(
        transfer_id=rejected.transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN, reason="no")])

    def listed(*flags: str) -> list[str]:
        code, out, _ = listing(capsys, world, *flags, "--json")
        assert code == 0
        return [row["transfer_id"] for row in json.loads(out)["transfers"]]

    assert listed() == [rejected.transfer_id, ids["ab2"], ids["ac"], ids["ba"], ids["ab"]]
    assert listed("--bank", "bank-b") == [ids["ab2"], ids["ba"], ids["ab"]]
    assert listed("--bank", "bank-a", "--counterparty", "bank-b") == [ids["ab2"], ids["ba"], ids["ab"]]
    assert listed("--bank", "bank-c", "--state", "committed") == [ids["ac"]]
    assert listed("--state", "aborted") == [rejected.transfer_id]
    assert listed("--min", "2.50", "--max", "3.00") == [ids["ac"], ids["ba"]]
    assert listed("--window", "1", "--bank", "bank-c") == [ids["ac"]]

    code, out, _ = listing(capsys, world, "--limit", "2", "--json")
    first = json.loads(out)
    assert [row["transfer_id"] for row in first["transfers"]] == [rejected.transfer_id, ids["ab2"]]
    commit(world, "bank-b", "bank-c", 1)   # Arrives between the pages: the next page does not shift.
    code, out, _ = listing(capsys, world, "--limit", "2", "--after", first["next_cursor"], "--json")
    second = json.loads(out)
    assert [row["transfer_id"] for row in second["transfers"]] == [ids["ac"], ids["ba"]]
    code, out, _ = listing(capsys, world, "--limit", "2", "--after", second["next_cursor"], "--json")
    assert ([row["transfer_id"] for row in json.loads(out)["transfers"]], json.loads(out)["next_cursor"]) == (
        [ids["ab"]], "")

    code, out, err = listing(capsys, world, "--bank", "bank-c", "--limit", "1", "--csv")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("transfer_id,received_at_ms,payer_bank_id")
    assert len(lines) == 2 and "more: --after" in err
    code, out, _ = listing(capsys, world, "--bank", "bank-c")
    assert code == 0 and "0.50 EUR" in out and "PAYEE_REJECTED" in out and "3.00 EUR" in out


def test_transfers__since_and_until_bound_the_time_received(world, capsys):
    first = commit(world, "bank-a", "bank-b", 100)
    world.clock.advance(ms=60_000)
    second = commit(world, "bank-a", "bank-b", 200)
    middle = dt.datetime.fromtimestamp((world.clock() - 30_000) / 1000, dt.timezone.utc).isoformat()
    for flags, expected in ((("--since", middle), [second]), (("--until", middle), [first])):
        code, out, _ = listing(capsys, world, *flags, "--json")
        assert [row["transfer_id"] for row in json.loads(out)["transfers"]] == expected


@pytest.mark.parametrize("flags, message", [
    (("--state", "lost"), "state is one of"), (("--limit", "0"), "a page holds"), (("--after", "nonsense"), "cursor"),
    (("--since", "yesterday"), "a time like"), (("--since", "2026-11-29T10:00:00"), "time zone"),
    (("--min", "1.234"), "decimal places"),
])
def test_transfers__bad_filters_are_refused(world, capsys, flags, message):
    code, out, err = listing(capsys, world, *flags)
    assert code in (1, 2) and out == "" and message in err
