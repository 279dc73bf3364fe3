"""A hostile member cannot hurt the others, class 2: arithmetic overflow stops settlement for everyone.

Found: admit took a net debit cap near 2^63, and with it a few valid transfers pushed a
window's gross or a position past int64: SubmitDecisions failed with gRPC UNKNOWN, closing the
window failed and left it CLOSED for good, and aborting it only moved the failure on.

Now every amount has a bound (fedmall.limits derives them): one amount, a bank's unsettled
gross, its liquidity ceiling, the funds moved on one statement, the number of members. Each
breach is a typed refusal before anything is written, here against a real clearing on SQLite
and PostgreSQL; and a window filled to what the bounds allow closes, issues, states, exports
as camt.053 and settles.
"""
from __future__ import annotations

import hashlib
import json
import time

import pytest
import sqlalchemy as sa
from lxml import etree

from fedmall import limits
from fedmall.results import FedmallError
from fedmall.v1 import clearing_pb2, money_pb2, settlement_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import exports, iso20022
from clearing.cli import main
from clearing.store import (
    audit_log, certificates, deliveries, funds_movements, participants, settlement_windows, signing_keys,
    statement_pages, transfers, window_nets)
from tests.clearing.test_exports import camt_schema  # noqa: F401 (a fixture)
from tests.clearing.test_funds import OPERATOR, funds_in, funds_out, refused
from tests.clearing.test_transfers import accept, submit_decisions, submit_prepares
from tests.clearing.test_windows import acknowledge_all, answer, close, statement
from tests.support.federation import fulfilment_for, make_prepare

RESERVED = transfer_pb2.TRANSFER_STATE_RESERVED
COMMITTED = transfer_pb2.TRANSFER_STATE_COMMITTED
AMOUNT_MAX = limits.amount_minor_max
GROSS_MAX = limits.unsettled_gross_minor_max
CEILING = limits.liquidity_ceiling_minor_max
NEAR_2_63 = 2**63 - 1
NEAR_2_63_EUR = "92233720368547758.07"
TABLES = (participants, signing_keys, certificates, transfers, funds_movements, settlement_windows, window_nets,
          deliveries, statement_pages)


def snapshot(world, *, audit: bool = True) -> dict:
    """Every row of the tables money and windows live in (and the audit log, unless a refusal is
    itself audited): what a refusal must leave as it was."""
    with world.clearing.store.read() as connection:
        return {table.name: sorted(tuple(row) for row in connection.execute(sa.select(table)))
                for table in TABLES + ((audit_log,) if audit else ())}


def newest_audit(world) -> sa.Row:
    with world.clearing.store.read() as connection:
        return connection.execute(sa.select(audit_log).order_by(audit_log.c.sequence.desc()).limit(1)).one()


def run(capsys, world, *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(world.home), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def prepare_result(world, payer: str, payee: str, amount_minor: int) -> tuple[int, str]:
    prepare = make_prepare(payer, payee, amount_minor, now_ms=world.clock())
    return submit_prepares(world, payer, prepare).results[0].result, prepare.transfer_id


def pay(world, payer: str, payee: str, amount_minor: int) -> str:
    result, transfer_id = prepare_result(world, payer, payee, amount_minor)
    assert result == rc.RESULT_CODE_OK
    assert [r.state for r in submit_decisions(world, payee, accepts=[accept(transfer_id)]).results] == [COMMITTED]
    return transfer_id


def unsettled_recomputed(world) -> dict[str, int]:
    """Each bank's unsettled gross from its transfers: reserved, or committed in a window not settled."""
    gross = {bank_id: 0 for bank_id in world.banks}
    with world.clearing.store.read() as connection:
        settled = set(connection.scalars(sa.select(settlement_windows.c.window_id).where(
            settlement_windows.c.state == settlement_pb2.WINDOW_STATE_SETTLED)))
        for row in connection.execute(sa.select(transfers)):
            if row.state == RESERVED or (row.state == COMMITTED and row.window_id not in settled):
                gross[row.payer_bank_id] += row.amount_minor
                gross[row.payee_bank_id] += row.amount_minor
    return gross


def unsettled(world) -> dict[str, int]:
    return {bank_id: world.participant(bank_id).unsettled_gross_minor for bank_id in world.banks}


def big_banks(world, *bank_ids: str) -> None:
    """Give the banks the largest cap and one largest funds in, as a hostile member would ask for."""
    for bank_id in bank_ids:
        world.clearing.registry.set_net_debit_cap(bank_id, cap_minor=AMOUNT_MAX, currency="EUR", action=OPERATOR)
        funds_in(world, f"big-{bank_id}", bank_id=bank_id, amount_minor=AMOUNT_MAX)


# --- the failure found, refused at every edge --------------------------------------------------


def test_admit__a_cap_near_2_63_on_the_command_line_is_invalid_amount_and_admits_nobody(world, capsys, tmp_path):
    before = snapshot(world)
    for flags in (("--net-debit-cap", NEAR_2_63_EUR, "--liquidity", "1000.00"),
                  ("--net-debit-cap", "1000.00", "--liquidity", NEAR_2_63_EUR),
                  ("--net-debit-cap", "10000000000000.01", "--liquidity", "1000.00")):
        code, _, err = run(capsys, world, "admit", "bank-h", "--name", "Hostile", "--currency", "EUR", *flags,
                           "--node-address", "127.0.0.1:7109", "--out", str(tmp_path / "bank-h"))
        assert code == 1 and "INVALID_AMOUNT" in err and "at most 10000000000000.00 EUR" in err
    assert snapshot(world) == before and not (tmp_path / "bank-h").exists()


@pytest.mark.parametrize("cap_minor, liquidity_minor", [
    (NEAR_2_63, 100_000), (100_000, NEAR_2_63), (limits.net_debit_cap_minor_max + 1, 0),
    (0, AMOUNT_MAX + 1), (-1, 0), (0, -1)])
def test_admit__a_cap_or_liquidity_out_of_bounds_is_invalid_amount_and_admits_nobody(world, tmp_path, cap_minor,
                                                                                      liquidity_minor):
    before = snapshot(world)
    with pytest.raises(FedmallError) as raised:
        world.admit("bank-h", cap_minor=cap_minor, liquidity_minor=liquidity_minor, folder=tmp_path / "banks")
    assert raised.value.code == rc.RESULT_CODE_INVALID_AMOUNT
    assert snapshot(world) == before


def test_admit__the_largest_cap_and_liquidity_are_taken(world, tmp_path):
    world.admit("bank-h", cap_minor=limits.net_debit_cap_minor_max, liquidity_minor=AMOUNT_MAX,
                folder=tmp_path / "banks")
    row = world.participant("bank-h")
    assert (row.net_debit_cap_minor, row.liquidity_minor, row.unsettled_gross_minor) == (AMOUNT_MAX, AMOUNT_MAX, 0)


def test_admit__past_the_most_members_a_window_is_sized_for_is_forbidden(world, tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "participants_max", 3)  # bank-a, bank-b and bank-c are in.
    before = snapshot(world)
    with pytest.raises(FedmallError) as raised:
        world.admit("bank-h", cap_minor=100, liquidity_minor=100, folder=tmp_path / "banks")
    assert raised.value.code == rc.RESULT_CODE_FORBIDDEN and "participants_max" in str(raised.value)
    assert snapshot(world) == before


def test_set_cap__near_2_63_is_invalid_amount_by_command_registry_and_admin_call(world, capsys):
    before = snapshot(world)
    code, _, err = run(capsys, world, "participants", "set-cap", "bank-a", NEAR_2_63_EUR, "--reason", "hostile")
    assert code == 1 and "INVALID_AMOUNT" in err
    for cap_minor in (NEAR_2_63, limits.net_debit_cap_minor_max + 1, -1):
        assert refused(lambda: world.clearing.registry.set_net_debit_cap(
            "bank-a", cap_minor=cap_minor, currency="EUR", action=OPERATOR)) == rc.RESULT_CODE_INVALID_AMOUNT
        answer = world.operator_stub().SetNetDebitCap(clearing_pb2.SetNetDebitCapRequest(
            bank_id="bank-a", cap=money_pb2.Money(amount_minor=cap_minor, currency="EUR"), reason="hostile"))
        assert answer.result == rc.RESULT_CODE_INVALID_AMOUNT
    assert snapshot(world) == before


def test_prepare__a_few_transfers_near_2_62_are_invalid_amount_and_change_nothing(world):
    """The attack as found: with caps and liquidity refused, the transfers themselves are too."""
    before = snapshot(world, audit=False)
    prepares = [make_prepare("bank-a", "bank-b", amount, now_ms=world.clock())
                for amount in (2**62, 2**62, 2**61, AMOUNT_MAX + 1)]
    response = submit_prepares(world, "bank-a", *prepares)
    assert response.result == rc.RESULT_CODE_OK
    assert [r.result for r in response.results] == [rc.RESULT_CODE_INVALID_AMOUNT] * 4
    assert snapshot(world, audit=False) == before
    assert newest_audit(world).kind == "prepares"  # The refusal is on the record, and only it.


def test_the_largest_transfers_allowed_commit_close_issue_and_settle(world):
    """What overflowed before, at the largest amounts now allowed: a few transfers each way."""
    big_banks(world, "bank-a", "bank-b")
    for _ in range(3):
        pay(world, "bank-a", "bank-b", AMOUNT_MAX)
        pay(world, "bank-b", "bank-a", AMOUNT_MAX)
    pay(world, "bank-a", "bank-b", AMOUNT_MAX)
    assert unsettled(world) == unsettled_recomputed(world) == {
        "bank-a": 7 * AMOUNT_MAX, "bank-b": 7 * AMOUNT_MAX, "bank-c": 0}
    window_id = close(world)
    _, report = world.clearing.windows.report(window_id)
    assert [m.amount_minor for m in report.gross] == [7 * AMOUNT_MAX]
    acknowledge_all(world, window_id)
    world.clearing.windows.settle(window_id)
    assert world.participant("bank-b").liquidity_minor == 200_000 + 2 * AMOUNT_MAX
    assert unsettled(world) == {"bank-a": 0, "bank-b": 0, "bank-c": 0}


# --- a bank's unsettled gross --------------------------------------------------------------------


def test_prepare__paying_back_and_forth_under_the_caps_stops_at_the_unsettled_gross(world, capsys):
    """Caps alone do not bound the gross: bank-a and bank-b pay each other the largest amount
    in turn, never above their caps, until each has the most unsettled gross a bank may have."""
    big_banks(world, "bank-a", "bank-b")
    turns = GROSS_MAX // AMOUNT_MAX
    for turn in range(turns):
        payer, payee = ("bank-a", "bank-b") if turn % 2 == 0 else ("bank-b", "bank-a")
        pay(world, payer, payee, AMOUNT_MAX)
    assert unsettled(world) == unsettled_recomputed(world) == {"bank-a": GROSS_MAX, "bank-b": GROSS_MAX, "bank-c": 0}
    code, out, _ = run(capsys, world, "participants", "--json")  # What the operator sees.
    assert code == 0 and {d["bank_id"]: d["unsettled_gross_minor"] for d in json.loads(out)}["bank-a"] == GROSS_MAX

    before = snapshot(world, audit=False)
    assert prepare_result(world, "bank-a", "bank-b", 1)[0] == rc.RESULT_CODE_UNSETTLED_GROSS_EXCEEDED  # The payer's.
    assert prepare_result(world, "bank-c", "bank-a", 1)[0] == rc.RESULT_CODE_UNSETTLED_GROSS_EXCEEDED  # The payee's.
    assert snapshot(world, audit=False) == before

    window_id = close(world)  # Settling what is unsettled makes room again.
    acknowledge_all(world, window_id)
    world.clearing.windows.settle(window_id)
    assert unsettled(world) == {"bank-a": 0, "bank-b": 0, "bank-c": 0}
    assert prepare_result(world, "bank-c", "bank-a", 1)[0] == rc.RESULT_CODE_OK


def test_unsettled_gross__grows_at_reserve_and_falls_at_abort_expiry_and_settlement_only(world):
    def check(expected: dict[str, int]) -> None:
        assert unsettled(world) == unsettled_recomputed(world) == expected

    pay(world, "bank-a", "bank-b", 300)
    check({"bank-a": 300, "bank-b": 300, "bank-c": 0})
    rejected = prepare_result(world, "bank-a", "bank-c", 50)[1]
    check({"bank-a": 350, "bank-b": 300, "bank-c": 50})
    submit_decisions(world, "bank-c", rejects=[transfer_pb2.Reject(transfer_id=rejected, reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN,
                                                                reason="no such account")])
    check({"bank-a": 300, "bank-b": 300, "bank-c": 0})
    expiring = make_prepare("bank-b", "bank-c", 70, now_ms=world.clock(), expires_in_ms=5_000)
    assert submit_prepares(world, "bank-b", expiring).results[0].result == rc.RESULT_CODE_OK
    check({"bank-a": 300, "bank-b": 370, "bank-c": 70})
    world.clock.advance(ms=6_000)
    world.clearing.transfers.expire_due()
    check({"bank-a": 300, "bank-b": 300, "bank-c": 0})
    window_id = close(world)
    world.clearing.windows.abort(window_id, reason="test: its transfers move on, still unsettled")
    check({"bank-a": 300, "bank-b": 300, "bank-c": 0})
    window_id = close(world)
    acknowledge_all(world, window_id)
    world.clearing.windows.settle(window_id)
    check({"bank-a": 0, "bank-b": 0, "bank-c": 0})


# --- a payee's liquidity ceiling -------------------------------------------------------------------


def set_liquidity(world, bank_id: str, liquidity_minor: int) -> None:
    """Put a bank's liquidity where reaching it by funds in would take a hundred of them."""
    with world.clearing.store.write() as connection:
        connection.execute(sa.update(participants).where(participants.c.bank_id == bank_id)
                           .values(liquidity_minor=liquidity_minor))


def test_prepare__a_payee_at_its_liquidity_ceiling_is_not_paid_more(world):
    pay(world, "bank-a", "bank-b", 1_000)  # bank-b's unsettled gross: 10.00.
    set_liquidity(world, "bank-b", CEILING - 1_000 - 500)
    before = snapshot(world, audit=False)
    assert prepare_result(world, "bank-a", "bank-b", 501)[0] == rc.RESULT_CODE_LIQUIDITY_CEILING_EXCEEDED
    assert prepare_result(world, "bank-c", "bank-b", 501)[0] == rc.RESULT_CODE_LIQUIDITY_CEILING_EXCEEDED
    assert snapshot(world, audit=False) == before
    assert prepare_result(world, "bank-a", "bank-b", 500)[0] == rc.RESULT_CODE_OK   # Exactly up to it.
    assert prepare_result(world, "bank-b", "bank-a", 100)[0] == rc.RESULT_CODE_OK   # It may still pay.


def test_funds_in__past_the_liquidity_ceiling_is_refused_and_changes_nothing(world):
    set_liquidity(world, "bank-b", CEILING - 100)
    before = snapshot(world)
    assert refused(lambda: funds_in(world, "top-up", bank_id="bank-b", amount_minor=101)) \
        == rc.RESULT_CODE_LIQUIDITY_CEILING_EXCEEDED
    assert snapshot(world) == before
    assert funds_in(world, "top-up", bank_id="bank-b", amount_minor=100).result == rc.RESULT_CODE_OK


# --- funds in and out ------------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda w: funds_in(w, "x", amount_minor=AMOUNT_MAX + 1),
    lambda w: funds_in(w, "x", amount_minor=NEAR_2_63),
    lambda w: funds_out(w, "x", amount_minor=AMOUNT_MAX + 1),
    lambda w: funds_out(w, "x", amount_minor=NEAR_2_63),
])
def test_funds__one_movement_past_the_largest_amount_is_invalid_amount(world, call):
    before = snapshot(world)
    assert refused(lambda: call(world)) == rc.RESULT_CODE_INVALID_AMOUNT
    assert snapshot(world) == before


def test_funds__a_statement_lists_at_most_its_bound_of_funds_moved(world):
    """A loop of funds in and out would make the camt.053 totals too long for ISO 20022."""
    for index in range(4):
        funds_in(world, f"in-{index}", amount_minor=AMOUNT_MAX)
        funds_out(world, f"out-{index}", amount_minor=AMOUNT_MAX)  # Reserved: it counts already.
        world.clearing.funds.commit_funds_out(f"out-{index}", action=OPERATOR)
    # With its admission's 2000.00, up to the bound exactly.
    funds_in(world, "in-4", amount_minor=AMOUNT_MAX)
    funds_in(world, "in-5", amount_minor=limits.funds_moved_per_statement_minor_max - 9 * AMOUNT_MAX - 200_000)
    before = snapshot(world)
    assert refused(lambda: funds_in(world, "one-more", amount_minor=1)) == rc.RESULT_CODE_INVALID_AMOUNT
    assert refused(lambda: funds_out(world, "one-more", amount_minor=1)) == rc.RESULT_CODE_INVALID_AMOUNT
    assert snapshot(world) == before
    assert funds_in(world, "for-bank-b", bank_id="bank-b", amount_minor=AMOUNT_MAX).result == rc.RESULT_CODE_OK
    close(world)  # Its statement is issued: the next one starts empty.
    assert funds_in(world, "one-more", amount_minor=1).result == rc.RESULT_CODE_OK


# --- a window filled to what the bounds allow ------------------------------------------------------


PAIRS = limits.participants_max // 2
TRANSFERS_PER_PAIR = GROSS_MAX // AMOUNT_MAX


def fill_window(world) -> dict[str, str]:
    """The open window at its bounds, written straight into the database (through the API it
    would take thousands of round trips): participants_max banks in pairs, each payer paying its
    payee the most unsettled gross a bank may have, in the largest transfers; so every bank's
    debits or credits, net and position are at their bound and the window's gross is
    window_gross_minor_max. bank-a pays bank-b; bank-c, which pays bank-x0001, also has the most
    funds moved a statement may list. Every liquidity is as high as its ceiling allows.
    Returns payee -> payer."""
    now_ms = world.clock()
    extra = [f"bank-x{index:04d}" for index in range(1, limits.participants_max - len(world.banks) + 1)]
    banks = sorted(world.banks) + extra
    pairs = {"bank-b": "bank-a", "bank-x0001": "bank-c"}
    pairs.update({extra[i + 1]: extra[i] for i in range(1, len(extra) - 1, 2)})
    assert len(pairs) == PAIRS and len(banks) == limits.participants_max
    with world.clearing.store.write() as connection:
        window_id = connection.scalar(sa.select(settlement_windows.c.window_id)
                                      .where(settlement_windows.c.state == settlement_pb2.WINDOW_STATE_OPEN))
        connection.execute(sa.insert(participants), [dict(
            bank_id=bank_id, name=f"Bank {bank_id}", currency="EUR", status="active", node_address="127.0.0.1:1",
            net_debit_cap_minor=AMOUNT_MAX, liquidity_minor=0, position_minor=0, reserved_minor=0,
            delivery_sequence=0, admitted_at_ms=now_ms) for bank_id in extra])
        rows, updates = [], []
        for payee, payer in pairs.items():
            updates += [dict(bank=payer, position=GROSS_MAX), dict(bank=payee, position=-GROSS_MAX)]
            for index in range(TRANSFERS_PER_PAIR):
                prepare = make_prepare(payer, payee, AMOUNT_MAX, now_ms=now_ms)
                prepare_bytes = prepare.SerializeToString(deterministic=True)
                rows.append(dict(
                    transfer_id=prepare.transfer_id, payer_bank_id=payer, payee_bank_id=payee,
                    amount_minor=AMOUNT_MAX, currency="EUR", condition=prepare.condition,
                    expires_at_ms=prepare.expires_at_unix_ms, prepare_bytes=prepare_bytes,
                    prepare_sha256=hashlib.sha256(prepare_bytes).digest(), state=COMMITTED,
                    result=rc.RESULT_CODE_OK, fulfilment=fulfilment_for(prepare.transfer_id), created_at_ms=now_ms,
                    decided_at_ms=now_ms + index, window_id=window_id))
        connection.execute(sa.insert(transfers), rows)
        p = participants.c
        connection.execute(sa.update(participants).where(p.bank_id == sa.bindparam("bank")).values(
            position_minor=sa.bindparam("position"), unsettled_gross_minor=GROSS_MAX,
            liquidity_minor=CEILING - GROSS_MAX), updates)
        # bank-c's funds in, as many as one statement may list (its liquidity still at the ceiling).
        moved = limits.funds_moved_per_statement_minor_max // AMOUNT_MAX
        connection.execute(sa.insert(funds_movements), [dict(
            movement_id=f"fill-{index}", bank_id="bank-c", direction="in", amount_minor=AMOUNT_MAX, currency="EUR",
            state="committed", external_reference="RTGS fill", reason="test", operator="ops-1",
            created_at_ms=now_ms, decided_at_ms=now_ms, window_id=window_id) for index in range(moved)])
    return pairs


def test_a_full_window__closes_issues_states_exports_as_camt053_and_settles(world, camt_schema):
    pairs = fill_window(world)
    started = time.monotonic()

    window_id = close(world)
    _, report = world.clearing.windows.report(window_id)
    assert [m.amount_minor for m in report.gross] == [limits.window_gross_minor_max]
    assert [m.amount_minor for m in report.net_total] == [limits.window_gross_minor_max]
    assert report.transfer_count == PAIRS * TRANSFERS_PER_PAIR
    nets = {row.bank_id: row for row in world.clearing.windows.nets(window_id)}
    assert len(nets) == limits.participants_max and sum(row.net_minor for row in nets.values()) == 0
    assert (nets["bank-a"].debits_minor, nets["bank-b"].credits_minor) == (GROSS_MAX, GROSS_MAX)

    _, [page] = statement(world, "bank-c", window_id)
    assert (page.net.amount_minor, page.closing_position.amount_minor, page.closing_liquidity.amount_minor) == (
        -GROSS_MAX, GROSS_MAX, CEILING - GROSS_MAX)
    assert sum(m.amount.amount_minor for m in page.movements if m.movement_id.startswith("funds:fill-")) \
        == limits.funds_moved_per_statement_minor_max

    export = exports.load_window(world.clearing.store, window_id)
    chosen = ("bank-a", "bank-b", "bank-c")
    for bank_id in chosen:
        document = etree.fromstring(_camt(export, bank_id))
        camt_schema.assertValid(document)
    total = exports.settlement_csv(export.window, export.nets).decode().splitlines()[-1]
    assert f",{limits.window_gross_minor_max}," in total  # The CSV's total row: the gross, in minor units.
    transfer = export.transfers[0]
    iso20022.pacs008_transfer(transfer, payer=export.members[transfer.payer_bank_id],
                              payee=export.members[transfer.payee_bank_id], created_at_ms=world.clock())

    for bank_id in world.banks:
        assert answer(world, bank_id, window_id) == rc.RESULT_CODE_OK
    world.clearing.windows.settle(window_id, override_reason="test: the constructed banks have no node to answer")
    payers = set(pairs.values())
    for bank_id in ("bank-a", "bank-b", "bank-c", "bank-x0001", "bank-x0997"):
        row = world.participant(bank_id)
        assert (row.position_minor, row.unsettled_gross_minor) == (0, 0)
        assert row.liquidity_minor == (CEILING - 2 * GROSS_MAX if bank_id in payers else CEILING)

    # The next window's statements list the settlement of the full one: every amount still fits.
    next_window = close(world)
    export = exports.load_window(world.clearing.store, next_window)
    for bank_id in chosen:
        camt_schema.assertValid(etree.fromstring(_camt(export, bank_id)))
    _, [page] = statement(world, "bank-b", next_window)
    assert [(m.kind, m.amount.amount_minor) for m in page.movements] == [
        (settlement_pb2.LIQUIDITY_MOVEMENT_KIND_SETTLEMENT, GROSS_MAX)]
    assert time.monotonic() - started < 120


def _camt(export: exports.WindowExport, bank_id: str) -> bytes:
    return iso20022.camt053_statement(
        window=export.window, member=export.members[bank_id],
        nets=[net for net in export.nets if net.bank_id == bank_id],
        transfers=[t for t in export.transfers if bank_id in (t.payer_bank_id, t.payee_bank_id)],
        created_at_ms=export.window.closed_at_ms,
        liquidity=[export.liquidity[bank_id]] if bank_id in export.liquidity else [])
