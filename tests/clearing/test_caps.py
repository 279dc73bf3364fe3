"""Changing a member's net debit cap and its cap alert: fedmall-clearing participants set-cap and
set-threshold on a running clearing's database, and ClearingAdminService.SetNetDebitCap with the
operator's certificate. On SQLite and PostgreSQL; every refusal changes nothing."""
from __future__ import annotations

import json

import grpc
import pytest

from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, money_pb2
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import transfer_pb2

from clearing import audit
from clearing.cli import main
from tests.clearing.test_transfers import accept, positions, submit_decisions, submit_prepares
from tests.support.federation import make_prepare

COMMITTED = transfer_pb2.TRANSFER_STATE_COMMITTED


def run(capsys, world, *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(world.home), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def set_cap(capsys, world, bank_id: str, amount: str, *flags: str) -> tuple[int, str, str]:
    return run(capsys, world, "participants", "set-cap", bank_id, amount, *flags)


def audit_head(world) -> int:
    with world.clearing.store.read() as connection:
        return audit.head(connection).sequence


def newest_audit_body(world) -> tuple[str, dict]:
    with world.clearing.store.read() as connection:
        row = connection.execute(audit.audit_log.select().order_by(audit.audit_log.c.sequence.desc()).limit(1)).one()
    return row.kind, json.loads(row.body)


def reserve(world, payer: str, payee: str, amount_minor: int) -> tuple[int, str]:
    prepare = make_prepare(payer, payee, amount_minor, now_ms=world.clock())
    return submit_prepares(world, payer, prepare).results[0].result, prepare.transfer_id


def participant(capsys, world, bank_id: str) -> dict:
    code, out, _ = run(capsys, world, "participants", "--json")
    assert code == 0
    return next(row for row in json.loads(out) if row["bank_id"] == bank_id)


# participants set-cap ------------------------------------------------------------------------


def test_set_cap__binds_the_next_reservation_at_once_and_a_raised_cap_lets_it_through(world, capsys):
    code, out, _ = set_cap(capsys, world, "bank-a", "5.00", "--reason", "risk review", "--operator", "alice")
    assert code == 0 and "bank-a: net debit cap 1000.00 EUR -> 5.00 EUR (audit entry" in out
    assert world.participant("bank-a").net_debit_cap_minor == 500
    assert newest_audit_body(world) == ("participant.cap", {
        "bank_id": "bank-a", "currency": "EUR", "old_net_debit_cap_minor": 100_000, "new_net_debit_cap_minor": 500,
        "operator": "alice", "reason": "risk review"})

    assert reserve(world, "bank-a", "bank-b", 600)[0] == rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED
    assert reserve(world, "bank-a", "bank-b", 500)[0] == rc.RESULT_CODE_OK       # Exactly up to the cap.
    assert positions(world)["bank-a"] == (0, 500)

    code, out, _ = set_cap(capsys, world, "bank-a", "11.00", "--reason", "cleared by risk", "--json")
    assert code == 0 and json.loads(out)["net_debit_cap_minor"] == 1_100
    assert reserve(world, "bank-a", "bank-b", 600)[0] == rc.RESULT_CODE_OK
    assert positions(world)["bank-a"] == (0, 1_100)


def test_set_cap__below_the_exposure_keeps_reservations_which_still_commit(world, capsys):
    first_result, first = reserve(world, "bank-a", "bank-b", 60_000)
    second_result, second = reserve(world, "bank-a", "bank-c", 20_000)
    assert (first_result, second_result) == (rc.RESULT_CODE_OK, rc.RESULT_CODE_OK)

    code, out, _ = set_cap(capsys, world, "bank-a", "300.00", "--reason", "exposure review")
    assert code == 0
    assert "its exposure (position + reserved) of 800.00 EUR is above the cap" in out
    assert "reserves nothing more until its exposure comes under 300.00 EUR" in out
    shown = participant(capsys, world, "bank-a")
    assert (shown["reserved_minor"], shown["net_debit_cap_minor"], shown["headroom_minor"]) == (80_000, 30_000, -50_000)
    assert (shown["cap_used_percent"], shown["over_threshold"]) == (266, True)

    assert reserve(world, "bank-a", "bank-b", 1)[0] == rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED
    assert [r.state for r in submit_decisions(world, "bank-b", accepts=[accept(first)]).results] == [COMMITTED]
    assert [r.state for r in submit_decisions(world, "bank-c", accepts=[accept(second)]).results] == [COMMITTED]
    assert positions(world) == {"bank-a": (80_000, 0), "bank-b": (-60_000, 0), "bank-c": (-20_000, 0)}
    assert reserve(world, "bank-a", "bank-b", 1)[0] == rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED   # Still above it.


def test_set_cap__the_same_cap_again_is_unchanged_and_records_nothing(world, capsys):
    assert set_cap(capsys, world, "bank-a", "700.00", "--reason", "first")[0] == 0
    head = audit_head(world)
    code, out, _ = set_cap(capsys, world, "bank-a", "700", "--reason", "again", "--json")
    answer = json.loads(out)
    assert code == 0 and (answer["changed"], answer["audit_sequence"], answer["net_debit_cap_minor"]) == (
        False, None, 70_000)
    code, out, _ = set_cap(capsys, world, "bank-a", "700.00", "--reason", "again")
    assert code == 0 and "already 700.00 EUR; unchanged, nothing recorded" in out
    assert audit_head(world) == head


def test_set_cap__zero_stops_new_reservations(world, capsys):
    assert set_cap(capsys, world, "bank-a", "0", "--reason", "freeze outgoing")[0] == 0
    assert reserve(world, "bank-a", "bank-b", 1)[0] == rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED
    assert reserve(world, "bank-b", "bank-a", 1)[0] == rc.RESULT_CODE_OK        # It may still be paid.
    shown = participant(capsys, world, "bank-a")
    assert (shown["cap_used_percent"], shown["over_threshold"]) == (None, True)


@pytest.mark.parametrize("bank_id, amount, flags, code_name", [
    ("bank-zz", "5.00", ("--reason", "r"), "UNKNOWN_PARTICIPANT"),
    ("bank-a", "-5.00", ("--reason", "r"), "INVALID_AMOUNT"),
    ("bank-a", "1.234", ("--reason", "r"), "INVALID_AMOUNT"),
    ("bank-a", "lots", ("--reason", "r"), "INVALID_AMOUNT"),
    ("bank-a", "92233720368547758.08", ("--reason", "r"), "INVALID_AMOUNT"),   # One past int64.
    ("bank-a", "5.00", ("--reason", "  "), "INVALID_FIELD"),
    ("bank-a", "5.00", ("--reason", "r", "--operator", ""), "INVALID_FIELD"),
    ("bank-a", "5.00", ("--reason", "line\nbreak"), "INVALID_FIELD"),
])
def test_set_cap__refusals_change_nothing(world, capsys, bank_id, amount, flags, code_name):
    head = audit_head(world)
    code, out, err = set_cap(capsys, world, bank_id, amount, *flags)
    assert (code, out) == (1, "") and f"{code_name}:" in err
    assert world.participant("bank-a").net_debit_cap_minor == 100_000 and audit_head(world) == head


def test_set_cap__without_a_reason_is_a_usage_error(world, capsys):
    with pytest.raises(SystemExit) as exit_:
        set_cap(capsys, world, "bank-a", "5.00")
    assert exit_.value.code == 2 and "--reason" in capsys.readouterr().err
    assert world.participant("bank-a").net_debit_cap_minor == 100_000


# participants set-threshold and the view -------------------------------------------------------


def test_set_threshold__flags_a_bank_at_or_above_its_alert_in_the_table_and_json(world, capsys):
    assert reserve(world, "bank-a", "bank-b", 85_000)[0] == rc.RESULT_CODE_OK      # 85 % of its cap.
    shown = participant(capsys, world, "bank-a")
    assert (shown["cap_used_percent"], shown["cap_alert_percent"], shown["over_threshold"]) == (85, 80, True)
    assert participant(capsys, world, "bank-b")["over_threshold"] is False
    code, out, _ = run(capsys, world, "participants")
    row = next(line for line in out.splitlines() if line.startswith("bank-a"))
    assert code == 0 and "85% 80% OVER" in " ".join(row.split())
    assert "at or above their cap alert: bank-a (85% of its cap, alert at 80%)" in out

    code, out, _ = run(capsys, world, "participants", "set-threshold", "bank-a", "90", "--reason", "seasonal peak",
                       "--operator", "bob")
    assert code == 0 and "cap alert at 90% of its cap (was 80%" in out and "it uses 85% of its cap" in out
    assert newest_audit_body(world) == ("participant.threshold", {
        "bank_id": "bank-a", "currency": "EUR", "old_cap_alert_percent": 80, "new_cap_alert_percent": 90,
        "operator": "bob", "reason": "seasonal peak"})
    assert participant(capsys, world, "bank-a")["over_threshold"] is False
    assert "at or above their cap alert" not in run(capsys, world, "participants", "list")[1]

    head = audit_head(world)
    code, out, _ = run(capsys, world, "participants", "set-threshold", "bank-a", "90%", "--reason", "again")
    assert code == 0 and "already at 90%; unchanged" in out and audit_head(world) == head


@pytest.mark.parametrize("bank_id, percent, code_name", [
    ("bank-a", "0", "INVALID_FIELD"), ("bank-a", "101", "INVALID_FIELD"), ("bank-a", "-5", "INVALID_FIELD"),
    ("bank-a", "eighty", "INVALID_FIELD"), ("bank-a", "80.5", "INVALID_FIELD"), ("bank-zz", "80", "UNKNOWN_PARTICIPANT"),
])
def test_set_threshold__refusals_change_nothing(world, capsys, bank_id, percent, code_name):
    head = audit_head(world)
    code, out, err = run(capsys, world, "participants", "set-threshold", bank_id, percent, "--reason", "r")
    assert (code, out) == (1, "") and f"{code_name}:" in err
    assert world.participant("bank-a").cap_alert_percent == 80 and audit_head(world) == head


def test_participants__every_action_has_help(world, capsys):
    for action in ("list", "set-cap", "set-threshold"):
        with pytest.raises(SystemExit):
            run(capsys, world, "participants", action, "--help")
        assert capsys.readouterr().out.startswith("usage:")


# ClearingAdminService.SetNetDebitCap --------------------------------------------------------


def set_cap_request(bank_id: str = "bank-a", amount_minor: int = 500, currency: str = "EUR",
                    reason: str = "risk review") -> clearing_pb2.SetNetDebitCapRequest:
    return clearing_pb2.SetNetDebitCapRequest(
        bank_id=bank_id, cap=money_pb2.Money(amount_minor=amount_minor, currency=currency), reason=reason)


def test_admin_set_net_debit_cap__the_operator_certificate_names_who_changed_it(world):
    admin = world.operator_stub()
    assert admin.SetNetDebitCap(set_cap_request()).result == rc.RESULT_CODE_OK
    assert world.participant("bank-a").net_debit_cap_minor == 500
    assert newest_audit_body(world) == ("participant.cap", {
        "bank_id": "bank-a", "currency": "EUR", "old_net_debit_cap_minor": 100_000, "new_net_debit_cap_minor": 500,
        "operator": "operator", "reason": "risk review"})
    assert reserve(world, "bank-a", "bank-b", 501)[0] == rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED

    head = audit_head(world)
    assert admin.SetNetDebitCap(set_cap_request(reason="again")).result == rc.RESULT_CODE_EXISTS
    assert audit_head(world) == head


@pytest.mark.parametrize("request_, code", [
    (set_cap_request(bank_id="bank-zz"), rc.RESULT_CODE_UNKNOWN_PARTICIPANT),
    (set_cap_request(amount_minor=-1), rc.RESULT_CODE_INVALID_AMOUNT),
    (set_cap_request(currency="USD"), rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED),
    (set_cap_request(reason=""), rc.RESULT_CODE_INVALID_FIELD),
])
def test_admin_set_net_debit_cap__refusals_change_nothing(world, request_, code):
    head = audit_head(world)
    assert world.operator_stub().SetNetDebitCap(request_).result == code
    assert world.participant("bank-a").net_debit_cap_minor == 100_000 and audit_head(world) == head


def test_admin_set_net_debit_cap__a_bank_certificate_is_permission_denied(world):
    bank_admin = clearing_pb2_grpc.ClearingAdminServiceStub(world.channel(world.banks["bank-a"].tls))
    with pytest.raises(grpc.RpcError) as refused:
        bank_admin.SetNetDebitCap(set_cap_request(amount_minor=10_000_000))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert world.participant("bank-a").net_debit_cap_minor == 100_000
