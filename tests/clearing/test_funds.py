"""Funds in and out of a bank's prefunded liquidity (clearing.funds), and the liquidity
movements on statements that make them chain from one window to the next
(clearing.movements), on a real clearing over SQLite and PostgreSQL."""
from __future__ import annotations

import json
from decimal import Decimal

import grpc
import pytest
import sqlalchemy as sa
from lxml import etree

from fedmall.envelope import Envelope, VerificationKey, open_envelope
from fedmall import pki
from fedmall.results import FedmallError
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, money_pb2, settlement_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import exports
from clearing.cli import main
from clearing.operator import OperatorAction
from clearing.store import audit_log, deliveries, participants
from tests.clearing.test_transfers import submit_prepares
from tests.clearing.test_exports import camt_schema  # noqa: F401 (a fixture)
from tests.clearing.test_windows import acknowledge_all, close, commit, statement
from tests.support.federation import make_prepare

NS = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"}
OPERATOR = OperatorAction(operator="ops-1", reason="test")
FUNDS_IN = settlement_pb2.LIQUIDITY_MOVEMENT_KIND_FUNDS_IN
SETTLEMENT = settlement_pb2.LIQUIDITY_MOVEMENT_KIND_SETTLEMENT


def funds_in(world, movement_id: str, bank_id: str = "bank-a", amount_minor: int = 5_000, reference: str = "RTGS-1"):
    return world.clearing.funds.record_funds_in(movement_id=movement_id, bank_id=bank_id, amount_minor=amount_minor,
                                                external_reference=reference, action=OPERATOR)


def funds_out(world, movement_id: str, bank_id: str = "bank-a", amount_minor: int = 5_000, reference: str = "RTGS-2"):
    return world.clearing.funds.reserve_funds_out(movement_id=movement_id, bank_id=bank_id,
                                                  amount_minor=amount_minor, external_reference=reference,
                                                  action=OPERATOR)


def refused(call) -> int:
    with pytest.raises(FedmallError) as raised:
        call()
    return raised.value.code


def participant(world, bank_id: str = "bank-a"):
    return world.participant(bank_id)


def audit_kinds(world) -> list[str]:
    with world.clearing.store.read() as connection:
        return connection.execute(sa.select(audit_log.c.kind).order_by(audit_log.c.sequence)).scalars().all()


def last_delivery(world, bank_id: str) -> settlement_pb2.LiquidityMovement:
    with world.clearing.store.read() as connection:
        data = connection.scalar(sa.select(deliveries.c.envelope).where(deliveries.c.bank_id == bank_id)
                                 .order_by(deliveries.c.sequence.desc()).limit(1))
    public_key = pki.load_public_key_pem((world.home / "clearing.pub").read_bytes())
    key = VerificationKey("clearing/k1", "clearing", public_key)
    return open_envelope(Envelope.FromString(data), settlement_pb2.LiquidityMovement, expected_signer="clearing",
                         keys=lambda _: key)


# --- funds in -----------------------------------------------------------------------------


def test_funds_in__adds_liquidity_tells_the_bank_and_is_audited(world):
    before = participant(world).liquidity_minor
    done = funds_in(world, "top-up-1")
    assert (done.result, done.movement.state, done.movement.window_id) == (rc.RESULT_CODE_OK, "committed", 1)
    assert participant(world).liquidity_minor == before + 5_000
    told = last_delivery(world, "bank-a")
    assert (told.movement_id, told.kind, told.amount.amount_minor, told.window_id, told.external_reference) == (
        "funds:top-up-1", FUNDS_IN, 5_000, 1, "RTGS-1")
    assert audit_kinds(world)[-1] == "funds.in"


def test_funds_in__the_same_id_again_is_exists_and_other_terms_modified_request(world):
    funds_in(world, "top-up-1")
    again = funds_in(world, "top-up-1")
    assert again.result == rc.RESULT_CODE_EXISTS and participant(world).liquidity_minor == 205_000
    assert refused(lambda: funds_in(world, "top-up-1", amount_minor=5_001)) == rc.RESULT_CODE_MODIFIED_REQUEST
    assert refused(lambda: funds_in(world, "top-up-1", bank_id="bank-b")) == rc.RESULT_CODE_MODIFIED_REQUEST
    assert participant(world).liquidity_minor == 205_000 and participant(world, "bank-b").liquidity_minor == 200_000


@pytest.mark.parametrize("call,code", [
    (lambda w: funds_in(w, "x", bank_id="bank-z"), rc.RESULT_CODE_UNKNOWN_PARTICIPANT),
    (lambda w: funds_in(w, "x", amount_minor=0), rc.RESULT_CODE_INVALID_AMOUNT),
    (lambda w: funds_in(w, "x", amount_minor=2**63 - 1), rc.RESULT_CODE_INVALID_AMOUNT),
    (lambda w: funds_in(w, "has space"), rc.RESULT_CODE_INVALID_FIELD),
    (lambda w: funds_in(w, "admission:bank-a"), rc.RESULT_CODE_INVALID_FIELD),
    (lambda w: funds_in(w, "x", reference=""), rc.RESULT_CODE_INVALID_FIELD),
    (lambda w: funds_in(w, "x", reference="line\nbreak"), rc.RESULT_CODE_INVALID_FIELD),
])
def test_funds_in__refused_changes_nothing(world, call, code):
    kinds = audit_kinds(world)
    assert refused(lambda: call(world)) == code
    assert participant(world).liquidity_minor == 200_000 and audit_kinds(world) == kinds


# --- funds out ----------------------------------------------------------------------------


def test_funds_out__reserved_stops_backing_transfers_then_commits(world):
    assert funds_out(world, "out-1", amount_minor=150_000).movement.state == "reserved"
    assert (participant(world).liquidity_minor, participant(world).funds_out_reserved_minor) == (200_000, 150_000)
    # Cap 1000.00, liquidity 2000.00 of which 1500.00 is on its way out: 500.01 no longer fits.
    prepare = make_prepare("bank-a", "bank-b", 50_001, now_ms=world.clock())
    assert submit_prepares(world, "bank-a", prepare).results[0].result == rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY
    done = world.clearing.funds.commit_funds_out("out-1", action=OPERATOR)
    assert (done.result, done.movement.state, done.movement.window_id) == (rc.RESULT_CODE_OK, "committed", 1)
    assert (participant(world).liquidity_minor, participant(world).funds_out_reserved_minor) == (50_000, 0)
    assert last_delivery(world, "bank-a").movement_id == "funds:out-1"
    assert world.clearing.funds.commit_funds_out("out-1", action=OPERATOR).result == rc.RESULT_CODE_EXISTS
    assert participant(world).liquidity_minor == 50_000
    assert [k for k in audit_kinds(world) if k.startswith("funds.")] == ["funds.out.reserve", "funds.out.commit"]


def test_funds_out__aborted_releases_the_reservation_and_cannot_commit(world):
    funds_out(world, "out-1", amount_minor=150_000)
    assert world.clearing.funds.abort_funds_out("out-1", action=OPERATOR).movement.state == "aborted"
    assert (participant(world).liquidity_minor, participant(world).funds_out_reserved_minor) == (200_000, 0)
    assert world.clearing.funds.abort_funds_out("out-1", action=OPERATOR).result == rc.RESULT_CODE_EXISTS
    assert refused(lambda: world.clearing.funds.commit_funds_out("out-1", action=OPERATOR)) \
        == rc.RESULT_CODE_INVALID_STATE


def test_funds_out__may_not_leave_less_than_position_and_reservations_need(world):
    commit(world, "bank-a", "bank-b", 60_000)                      # bank-a owes 600.00.
    submit_prepares(world, "bank-a", make_prepare("bank-a", "bank-b", 10_000, now_ms=world.clock()))  # 100.00 reserved
    assert refused(lambda: funds_out(world, "out-1", amount_minor=130_001)) == rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY
    funds_out(world, "out-1", amount_minor=100_000)
    assert refused(lambda: funds_out(world, "out-2", amount_minor=30_001)) == rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY
    assert funds_out(world, "out-2", amount_minor=30_000).result == rc.RESULT_CODE_OK
    assert participant(world).funds_out_reserved_minor == 130_000


def test_funds_out__a_bank_owed_money_still_cannot_go_below_zero(world):
    commit(world, "bank-b", "bank-a", 60_000)                      # bank-a is owed 600.00.
    assert refused(lambda: funds_out(world, "out-1", amount_minor=200_001)) == rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY
    assert funds_out(world, "out-1", amount_minor=200_000).result == rc.RESULT_CODE_OK


def test_decide__unknown_or_funds_in_ids_are_refused(world):
    funds_in(world, "in-1")
    assert refused(lambda: world.clearing.funds.commit_funds_out("nope", action=OPERATOR)) \
        == rc.RESULT_CODE_FUNDS_MOVEMENT_UNKNOWN
    assert refused(lambda: world.clearing.funds.abort_funds_out("in-1", action=OPERATOR)) \
        == rc.RESULT_CODE_INVALID_STATE


# --- statements chain ---------------------------------------------------------------------


def pages(world, bank_id: str, window_id: int) -> list[settlement_pb2.Statement]:
    return statement(world, bank_id, window_id)[1]


def test_statements__movements_listed_and_balances_chain_across_a_settlement(world):
    commit(world, "bank-a", "bank-b", 12_500)
    first = close(world)
    funds_in(world, "top-up-1", amount_minor=7_000)
    acknowledge_all(world, first)
    world.clearing.windows.settle(first)
    commit(world, "bank-b", "bank-a", 2_000)
    second = close(world)
    for bank_id in ("bank-a", "bank-b", "bank-c"):
        [before], [after] = pages(world, bank_id, first), pages(world, bank_id, second)
        settled = sum(m.amount.amount_minor * (1 if m.direction == settlement_pb2.ENTRY_DIRECTION_CREDIT else -1)
                      for m in after.movements if m.kind == SETTLEMENT)
        assert after.opening_position.amount_minor == before.closing_position.amount_minor + settled
        assert after.opening_liquidity.amount_minor == before.closing_liquidity.amount_minor
        assert after.closing_liquidity.amount_minor == participant(world, bank_id).liquidity_minor
    [a_first], [a_second] = pages(world, "bank-a", first), pages(world, "bank-a", second)
    assert [(m.movement_id, m.amount.amount_minor) for m in a_first.movements] == [("funds:admission:bank-a", 200_000)]
    assert a_first.opening_liquidity.amount_minor == 0
    assert [(m.movement_id, m.direction, m.amount.amount_minor) for m in a_second.movements] == [
        ("funds:top-up-1", settlement_pb2.ENTRY_DIRECTION_CREDIT, 7_000),
        (f"settlement:{first}", settlement_pb2.ENTRY_DIRECTION_DEBIT, 12_500)]
    assert (a_second.opening_position.amount_minor, a_second.closing_position.amount_minor) == (0, -2_000)
    assert a_second.movement_count == 2


def signed_balance(statement, code: str) -> Decimal:
    balance = next(b for b in statement.findall("c:Bal", NS) if b.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=NS)
                   == code)
    amount = Decimal(balance.findtext("c:Amt", namespaces=NS))
    return amount if balance.findtext("c:CdtDbtInd", namespaces=NS) == "CRDT" else -amount


def test_camt053__both_accounts_chain_from_one_window_to_the_next(world, tmp_path, camt_schema):
    commit(world, "bank-a", "bank-b", 12_500)
    first = close(world)
    funds_in(world, "top-up-1", amount_minor=7_000)
    acknowledge_all(world, first)
    world.clearing.windows.settle(first)
    second = close(world)
    accounts = {}
    for window_id in (first, second):
        exports.export_window(world.clearing.store, window_id, tmp_path / f"w{window_id}", created_at_ms=1)
        root = etree.parse(str(tmp_path / f"w{window_id}" / f"camt053-bank-a-w{window_id}.xml")).getroot()
        camt_schema.assertValid(root)
        accounts[window_id] = {s.findtext("c:Acct/c:Tp/c:Prtry", namespaces=NS): s
                               for s in root.findall("c:BkToCstmrStmt/c:Stmt", NS)}
    for account in ("POSITION", "LIQUIDITY"):
        assert signed_balance(accounts[second][account], "OPBD") == signed_balance(accounts[first][account], "CLBD")
    codes = [(e.findtext("c:BkTxCd/c:Prtry/c:Cd", namespaces=NS), e.findtext("c:CdtDbtInd", namespaces=NS),
              e.findtext("c:Amt", namespaces=NS)) for e in accounts[second]["LIQUIDITY"].findall("c:Ntry", NS)]
    assert codes == [("FUNDS_IN", "CRDT", "70.00"), ("SETTLEMENT", "DBIT", "125.00")]
    position = accounts[second]["POSITION"].findall("c:Ntry", NS)
    assert [(e.findtext("c:BkTxCd/c:Prtry/c:Cd", namespaces=NS), e.findtext("c:CdtDbtInd", namespaces=NS))
            for e in position] == [("SETTLEMENT", "CRDT")]
    assert signed_balance(accounts[second]["POSITION"], "CLBD") == 0


def test_abort__a_window_issued_before_a_later_one_stays_and_movements_move_on(world):
    first = close(world)
    funds_in(world, "top-up-1")                 # Stamped with window 2, the oldest not issued.
    second = close(world)
    assert refused(lambda: world.clearing.windows.abort(first, reason="late")) == rc.RESULT_CODE_WINDOW_STATE_INVALID
    world.clearing.windows.abort(second, reason="wrong data")
    world.clearing.windows.abort(first, reason="wrong data")
    third = close(world)   # bank-a's first statement not aborted: every movement so far.
    assert [m.movement_id for m in pages(world, "bank-a", third)[0].movements] == [
        "funds:admission:bank-a", "funds:top-up-1"]
    assert pages(world, "bank-a", third)[0].opening_liquidity.amount_minor == 0


# --- the command line ---------------------------------------------------------------------


def run(capsys, world, *argv: str) -> tuple[int, str, str]:
    code = main(["--home", str(world.home), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli__funds_in_out_commit_abort_list(capsys, world):
    code, out, _ = run(capsys, world, "funds", "in", "bank-a", "70.00", "--id", "in-1", "--reference", "RTGS-9",
                       "--reason", "top up", "--operator", "ops-1", "--json")
    assert code == 0 and json.loads(out)["state"] == "committed" and json.loads(out)["unchanged"] is False
    code, out, _ = run(capsys, world, "funds", "in", "bank-a", "70.00", "--id", "in-1", "--reference", "RTGS-9",
                       "--reason", "top up")
    assert code == 0 and "already done, nothing changed" in out
    code, out, _ = run(capsys, world, "funds", "out", "bank-a", "100.00", "--id", "out-1", "--reference", "RTGS-10",
                       "--reason", "withdraw")
    assert code == 0 and "reserved" in out and "funds commit out-1" in out
    assert run(capsys, world, "funds", "commit", "out-1", "--reason", "paid")[0] == 0
    assert run(capsys, world, "funds", "out", "bank-a", "1.00", "--id", "out-2", "--reference", "R",
               "--reason", "x")[0] == 0
    assert run(capsys, world, "funds", "abort", "out-2", "--reason", "not paid")[0] == 0
    code, out, _ = run(capsys, world, "funds", "list", "--bank", "bank-a", "--json")
    listed = {row["movement_id"]: (row["direction"], row["state"], row["operator"]) for row in json.loads(out)}
    assert listed == {"in-1": ("in", "committed", "ops-1"), "out-1": ("out", "committed", listed["out-1"][2]),
                      "out-2": ("out", "aborted", listed["out-2"][2]), "admission:bank-a": ("in", "committed",
                                                                                           "clearing")}
    assert participant(world).liquidity_minor == 200_000 + 7_000 - 10_000


@pytest.mark.parametrize("argv,message", [
    (["funds", "in", "bank-z", "1.00", "--id", "x", "--reference", "R", "--reason", "r"], "UNKNOWN_PARTICIPANT"),
    (["funds", "in", "bank-a", "1.001", "--id", "x", "--reference", "R", "--reason", "r"], "decimal places"),
    (["funds", "in", "bank-a", "1.00", "--id", "x", "--reference", "R", "--reason", " "], "reason must be"),
    (["funds", "out", "bank-a", "5000.00", "--id", "x", "--reference", "R", "--reason", "r"],
     "INSUFFICIENT_LIQUIDITY"),
    (["funds", "commit", "nope", "--reason", "r"], "FUNDS_MOVEMENT_UNKNOWN"),
    (["funds", "list", "--limit", "0"], "--limit"),
])
def test_cli__refusals_say_why_and_change_nothing(capsys, world, argv, message):
    code, _, err = run(capsys, world, *argv)
    assert code != 0 and message in err
    assert (participant(world).liquidity_minor, participant(world).funds_out_reserved_minor) == (200_000, 0)


# --- the admin service, as the operator's certificate ---------------------------------------


def terms(movement_id: str, amount_minor: int = 5_000, currency: str = "EUR", bank_id: str = "bank-a"):
    return clearing_pb2.FundsMovementTerms(movement_id=movement_id, bank_id=bank_id, external_reference="RTGS-7",
                                           amount=money_pb2.Money(amount_minor=amount_minor, currency=currency))


def test_admin__funds_in_and_out_as_the_operator_named_by_its_certificate(world):
    admin = world.operator_stub()
    done = admin.RecordFundsIn(clearing_pb2.RecordFundsInRequest(terms=terms("in-1"), reason="top up"))
    assert (done.result, done.state, done.statement_window_id) == (
        rc.RESULT_CODE_OK, clearing_pb2.FUNDS_MOVEMENT_STATE_COMMITTED, 1)
    again = admin.RecordFundsIn(clearing_pb2.RecordFundsInRequest(terms=terms("in-1"), reason="retry"))
    assert again.result == rc.RESULT_CODE_EXISTS
    reserved = admin.ReserveFundsOut(clearing_pb2.ReserveFundsOutRequest(terms=terms("out-1"), reason="withdraw"))
    assert (reserved.result, reserved.state) == (rc.RESULT_CODE_OK, clearing_pb2.FUNDS_MOVEMENT_STATE_RESERVED)
    committed = admin.CommitFundsOut(clearing_pb2.CommitFundsOutRequest(movement_id="out-1", reason="paid"))
    assert (committed.result, committed.state) == (rc.RESULT_CODE_OK, clearing_pb2.FUNDS_MOVEMENT_STATE_COMMITTED)
    retried = admin.ReserveFundsOut(clearing_pb2.ReserveFundsOutRequest(terms=terms("out-1"), reason="retry"))
    assert (retried.result, retried.state) == (rc.RESULT_CODE_EXISTS, clearing_pb2.FUNDS_MOVEMENT_STATE_COMMITTED)
    admin.ReserveFundsOut(clearing_pb2.ReserveFundsOutRequest(terms=terms("out-2"), reason="withdraw"))
    aborted = admin.AbortFundsOut(clearing_pb2.AbortFundsOutRequest(movement_id="out-2", reason="not paid"))
    assert aborted.state == clearing_pb2.FUNDS_MOVEMENT_STATE_ABORTED
    assert participant(world).liquidity_minor == 200_000
    [row] = [r for r in world.clearing.funds.list(bank_id="bank-a") if r.movement_id == "in-1"]
    assert (row.operator, row.reason) == ("operator", "top up")


@pytest.mark.parametrize("call,code", [
    (lambda admin: admin.RecordFundsIn(clearing_pb2.RecordFundsInRequest(terms=terms("x", currency="USD"),
                                                                         reason="r")),
     rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED),
    (lambda admin: admin.RecordFundsIn(clearing_pb2.RecordFundsInRequest(terms=terms("x"), reason="")),
     rc.RESULT_CODE_INVALID_FIELD),
    (lambda admin: admin.RecordFundsIn(clearing_pb2.RecordFundsInRequest(terms=terms("x", bank_id="bank-z"),
                                                                         reason="r")),
     rc.RESULT_CODE_UNKNOWN_PARTICIPANT),
    (lambda admin: admin.ReserveFundsOut(clearing_pb2.ReserveFundsOutRequest(terms=terms("x", amount_minor=200_001),
                                                                             reason="r")),
     rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY),
    (lambda admin: admin.CommitFundsOut(clearing_pb2.CommitFundsOutRequest(movement_id="nope", reason="r")),
     rc.RESULT_CODE_FUNDS_MOVEMENT_UNKNOWN),
])
def test_admin__refusals_are_result_codes_and_change_nothing(world, call, code):
    assert call(world.operator_stub()).result == code
    assert (participant(world).liquidity_minor, participant(world).funds_out_reserved_minor) == (200_000, 0)


def test_admin__a_bank_certificate_is_permission_denied(world):
    bank_admin = clearing_pb2_grpc.ClearingAdminServiceStub(world.channel(world.banks["bank-a"].tls))
    with pytest.raises(grpc.RpcError) as raised:
        bank_admin.RecordFundsIn(clearing_pb2.RecordFundsInRequest(terms=terms("x"), reason="r"))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert participant(world).liquidity_minor == 200_000


def test_statements__a_bank_onboarding_when_a_window_issued_finds_its_movements_on_its_first_statement(world, tmp_path):
    world.admit("bank-d", cap_minor=100_000, liquidity_minor=30_000, folder=tmp_path / "late", connect=False)
    first = close(world)                       # bank-d is onboarding: no statement for it.
    assert world.clearing.windows.statement(first, "bank-d") == []
    world.stub("bank-d").GetPosition(clearing_pb2.GetPositionRequest())   # Its node connects.
    second = close(world)
    [page] = pages(world, "bank-d", second)
    assert [m.movement_id for m in page.movements] == ["funds:admission:bank-d"]
    assert (page.opening_liquidity.amount_minor, page.closing_liquidity.amount_minor) == (0, 30_000)


def test_funds__for_a_bank_that_left_are_refused(world):
    with world.clearing.store.write() as connection:   # As clearing.membership leaves it.
        connection.execute(sa.update(participants).where(participants.c.bank_id == "bank-c").values(status="left"))
    assert refused(lambda: funds_in(world, "x", bank_id="bank-c")) == rc.RESULT_CODE_PARTICIPANT_LEFT
    assert refused(lambda: funds_out(world, "y", bank_id="bank-c", amount_minor=1)) == rc.RESULT_CODE_PARTICIPANT_LEFT
