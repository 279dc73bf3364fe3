"""camt.053 statements chain across windows, settlements and liquidity movements: three
windows on a running clearing (SQLite and PostgreSQL), transfers over gRPC with mTLS, funds
in and out through the operator's gRPC service, two settlements, and every balance of every
member's statements checked against a ledger the test keeps itself.

    window 1   a pays b 125.00, b pays c 30.00, c pays a 10.00; funds in c 100.00
    window 2   settles window 1; funds out a 200.00; b pays a 40.00, a pays c 7.00;
               a funds out of c reserved and aborted (no movement)
    window 3   settles window 2; funds in b 50.00, funds out c 20.00; c pays b 20.00

Each member has two accounts per currency (clearing.iso20022): POSITION (balance = minus
what it owes through the clearing) and LIQUIDITY (its prefunded money).
"""
from __future__ import annotations

from decimal import Decimal

from lxml import etree

from fedmall import money
from fedmall.v1 import clearing_pb2, money_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import exports, iso20022
from tests.clearing.test_exports import camt_schema  # noqa: F401 (a fixture)
from tests.clearing.test_windows import acknowledge_all, close, commit

NS = {"c": iso20022.CAMT053_NAMESPACE}
BANKS = ("bank-a", "bank-b", "bank-c")
ADMITTED_LIQUIDITY = {"bank-a": 200_000, "bank-b": 200_000, "bank-c": 50_000}  # tests/conftest.py: world


class Ledger:
    """What each bank's two accounts should hold, kept by the test as it moves money."""

    def __init__(self) -> None:
        self.position = {bank_id: 0 for bank_id in BANKS}   # Positive: the bank owes.
        self.liquidity = {bank_id: 0 for bank_id in BANKS}  # Admission's funds in is on window 1's statement.
        self.nets: dict[int, dict[str, int]] = {}
        self.current = {bank_id: 0 for bank_id in BANKS}    # The open window's net so far.

    def transfer(self, world, payer: str, payee: str, amount_minor: int) -> None:
        commit(world, payer, payee, amount_minor)
        self.position[payer] += amount_minor
        self.position[payee] -= amount_minor
        self.current[payer] -= amount_minor
        self.current[payee] += amount_minor

    def close(self, world) -> tuple[int, dict[str, tuple[int, int]]]:
        """Close and issue the window; what each bank's accounts hold at its close."""
        window_id = close(world)
        self.nets[window_id], self.current = self.current, {bank_id: 0 for bank_id in BANKS}
        return window_id, {b: (-self.position[b], self.liquidity[b]) for b in BANKS}

    def settle(self, world, window_id: int) -> None:
        acknowledge_all(world, window_id)
        world.clearing.windows.settle(window_id)
        for bank_id, net_minor in self.nets[window_id].items():
            self.liquidity[bank_id] += net_minor
            self.position[bank_id] += net_minor  # A net receiver's negative position comes back to zero.


def terms(movement_id: str, bank_id: str, amount_minor: int) -> clearing_pb2.FundsMovementTerms:
    return clearing_pb2.FundsMovementTerms(movement_id=movement_id, bank_id=bank_id, external_reference=movement_id,
                                           amount=money_pb2.Money(amount_minor=amount_minor, currency="EUR"))


def funds_in(world, ledger: Ledger, movement_id: str, bank_id: str, amount_minor: int) -> None:
    done = world.operator_stub().RecordFundsIn(clearing_pb2.RecordFundsInRequest(
        terms=terms(movement_id, bank_id, amount_minor), reason="top up"))
    assert done.result == rc.RESULT_CODE_OK
    ledger.liquidity[bank_id] += amount_minor


def funds_out(world, ledger: Ledger, movement_id: str, bank_id: str, amount_minor: int, *, commit: bool = True) -> None:
    admin = world.operator_stub()
    reserved = admin.ReserveFundsOut(clearing_pb2.ReserveFundsOutRequest(
        terms=terms(movement_id, bank_id, amount_minor), reason="withdraw"))
    assert reserved.result == rc.RESULT_CODE_OK
    if commit:
        done = admin.CommitFundsOut(clearing_pb2.CommitFundsOutRequest(movement_id=movement_id, reason="paid"))
        ledger.liquidity[bank_id] -= amount_minor
    else:
        done = admin.AbortFundsOut(clearing_pb2.AbortFundsOutRequest(movement_id=movement_id, reason="not paid"))
    assert done.result == rc.RESULT_CODE_OK


def decimal(amount_minor: int) -> Decimal:
    return Decimal(money.format_amount(amount_minor, "EUR"))


def signed(element: etree._Element) -> Decimal:
    """An amount with its CdtDbtInd as a signed decimal, credit positive."""
    amount = Decimal(element.findtext("c:Amt", namespaces=NS))
    return amount if element.findtext("c:CdtDbtInd", namespaces=NS) == "CRDT" else -amount


def balance(statement: etree._Element, code: str) -> Decimal:
    [found] = [b for b in statement.findall("c:Bal", NS) if b.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=NS) == code]
    return signed(found)


def accounts(root: etree._Element) -> dict[str, etree._Element]:
    return {s.findtext("c:Acct/c:Tp/c:Prtry", namespaces=NS): s for s in root.findall("c:BkToCstmrStmt/c:Stmt", NS)}


def assert_adds_up(statement: etree._Element) -> None:
    """closing = opening + the entries; the summary counts and sums them."""
    entries = statement.findall("c:Ntry", NS)
    assert balance(statement, "CLBD") == balance(statement, "OPBD") + sum(signed(e) for e in entries)
    summary = "c:TxsSummry/c:TtlNtries/"
    assert int(statement.findtext(summary + "c:NbOfNtries", namespaces=NS)) == len(entries)
    assert Decimal(statement.findtext(summary + "c:Sum", namespaces=NS)) == sum(
        Decimal(e.findtext("c:Amt", namespaces=NS)) for e in entries)


def settlement_entries(statement: etree._Element) -> dict[str, Decimal]:
    return {e.findtext("c:NtryRef", namespaces=NS): signed(e) for e in statement.findall("c:Ntry", NS)
            if e.findtext("c:BkTxCd/c:Prtry/c:Cd", namespaces=NS) == iso20022.SETTLEMENT}


def test_camt053__three_windows_with_settlements_and_funds_chain_every_balance(world, tmp_path, camt_schema):
    ledger = Ledger()
    for bank_id, amount_minor in ADMITTED_LIQUIDITY.items():
        ledger.liquidity[bank_id] = amount_minor
    ledger.transfer(world, "bank-a", "bank-b", 12_500)
    ledger.transfer(world, "bank-b", "bank-c", 3_000)
    ledger.transfer(world, "bank-c", "bank-a", 1_000)
    funds_in(world, ledger, "w1-in-c", "bank-c", 10_000)
    first, closed_first = ledger.close(world)

    ledger.settle(world, first)
    funds_out(world, ledger, "w2-out-a", "bank-a", 20_000)
    ledger.transfer(world, "bank-b", "bank-a", 4_000)
    ledger.transfer(world, "bank-a", "bank-c", 700)
    funds_out(world, ledger, "w2-out-c-aborted", "bank-c", 1_000, commit=False)
    second, closed_second = ledger.close(world)

    ledger.settle(world, second)
    funds_in(world, ledger, "w3-in-b", "bank-b", 5_000)
    funds_out(world, ledger, "w3-out-c", "bank-c", 2_000)
    ledger.transfer(world, "bank-c", "bank-b", 2_000)
    third, closed_third = ledger.close(world)

    expected = {first: closed_first, second: closed_second, third: closed_third}
    statement_ids = []
    for bank_id in BANKS:
        previous: dict[str, Decimal] = {"POSITION": Decimal(0), "LIQUIDITY": Decimal(0)}  # Before its admission.
        for window_id in (first, second, third):
            out_dir = tmp_path / f"w{window_id}"
            exports.export_window(world.clearing.store, window_id, out_dir, created_at_ms=world.clock())
            root = etree.parse(str(out_dir / f"camt053-{bank_id}-w{window_id}.xml")).getroot()
            camt_schema.assertValid(root)
            by_type = accounts(root)
            assert set(by_type) == {"POSITION", "LIQUIDITY"}
            for account_type, statement in by_type.items():
                assert_adds_up(statement)
                assert balance(statement, "OPBD") == previous[account_type], (bank_id, window_id, account_type)
                previous[account_type] = balance(statement, "CLBD")
                statement_ids.append(statement.findtext("c:Id", namespaces=NS))
            position_balance_minor, liquidity_minor = expected[window_id][bank_id]
            assert balance(by_type["POSITION"], "CLBD") == decimal(position_balance_minor), (bank_id, window_id)
            assert balance(by_type["LIQUIDITY"], "CLBD") == decimal(liquidity_minor), (bank_id, window_id)
            # Position vs liquidity: a settlement moves the net from one account to the other, so
            # each settlement entry is on both, with opposite signs.
            settled = settlement_entries(by_type["LIQUIDITY"])
            assert {ref: -amount for ref, amount in settlement_entries(by_type["POSITION"]).items()} == settled
            settled_window = {second: first, third: second}.get(window_id)
            assert list(settled.values()) == ([] if settled_window is None or ledger.nets[settled_window][bank_id] == 0
                                              else [decimal(ledger.nets[settled_window][bank_id])])
        assert previous["LIQUIDITY"] == decimal(world.participant(bank_id).liquidity_minor)
        assert previous["POSITION"] == decimal(-world.participant(bank_id).position_minor)
    assert len(statement_ids) == len(set(statement_ids)) == 3 * 3 * 2


def test_camt053__funds_in_and_out_are_entries_on_the_liquidity_account_only(world, tmp_path):
    ledger = Ledger()
    funds_in(world, ledger, "in-1", "bank-b", 5_000)
    funds_out(world, ledger, "out-1", "bank-b", 2_000)
    funds_out(world, ledger, "out-2", "bank-b", 1_000, commit=False)   # Aborted: moved nothing.
    window_id, _ = ledger.close(world)
    exports.export_window(world.clearing.store, window_id, tmp_path, created_at_ms=world.clock())
    by_type = accounts(etree.parse(str(tmp_path / f"camt053-bank-b-w{window_id}.xml")).getroot())
    codes = [(e.findtext("c:BkTxCd/c:Prtry/c:Cd", namespaces=NS), signed(e), e.findtext("c:AddtlNtryInf",
                                                                                       namespaces=NS))
             for e in by_type["LIQUIDITY"].findall("c:Ntry", NS)]
    assert codes == [("FUNDS_IN", Decimal("2000.00"), "liquidity at admission"), ("FUNDS_IN", Decimal("50.00"), "in-1"),
                     ("FUNDS_OUT", Decimal("-20.00"), "out-1")]
    assert by_type["POSITION"].findall("c:Ntry", NS) == []
