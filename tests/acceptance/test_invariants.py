"""The invariant checker (scripts/invariants.py) that judges every federation test, the demo,
the benchmark and the fault suite: on a federation at rest with payments, an order and a
settled window every invariant holds, and each one fails, alone, when its own rule is
broken: in the real databases for money made inside balanced books and a stopped node's
books, on the read books for the rest."""
from __future__ import annotations

import dataclasses
import types

import pytest
import sqlalchemy as sa

from fedmall.v1 import settlement_pb2

from clearing.windows import ACKNOWLEDGED
from node.bank import ledger, store as node_store
from scripts import invariants
from tests.acceptance.test_settlement import DEPOSIT_MINOR, answers, close, provision
from tests.support.federation import CURRENCY, wait_until

EVERY_KEY = ["ledgers_balanced", "nothing_in_flight", "transfers_agree", "escrow_matches_orders", "money_conserved",
             "positions_match", "statements_consistent", "windows_reconciled", "audit_chain_intact"]


def broken(clearing, nodes) -> list[str]:
    return [check.key for check in invariants.check(clearing, nodes, currency=CURRENCY) if not check.ok]


@pytest.fixture
def at_rest(federation):
    """Two payments settled in window 1, one more open in window 2; the books as read at rest."""
    provision(federation)
    for payer, payee, amount_minor in (("bank-a", "bank-b", 1_250), ("bank-b", "bank-c", 700)):
        assert federation.wait_final(payer, federation.send(payer, "customer", payee, "customer", amount_minor)[0]) \
            .status == "COMMITTED"
    window_id = close(federation)
    wait_until(lambda: set(answers(federation, window_id).values()) == {ACKNOWLEDGED}, timeout_s=30)
    federation.world.clearing.windows.settle(window_id)
    transfer_id, _ = federation.send("bank-c", "customer", "bank-a", "customer", 300)
    assert federation.wait_final("bank-c", transfer_id).status == "COMMITTED"
    federation.assert_invariants()
    return federation, federation.read_books()


def test_at_rest__every_invariant_holds_and_says_why(at_rest):
    _, (clearing, nodes) = at_rest
    checks = invariants.check(clearing, nodes, currency=CURRENCY)
    assert [check.key for check in checks] == EVERY_KEY and all(check.ok for check in checks)
    details = {check.key: check.detail for check in checks}
    assert details["money_conserved"] == ("deposits 30000.00 EUR + lent 0.00 EUR - repaid 0.00 EUR = 30000.00 EUR, "
                                          "customers and escrow hold 30000.00 EUR")
    assert details["transfers_agree"] == "3 committed, 0 not, each booked as its outcome"


@pytest.mark.books_left_broken("money made on purpose")
def test_money_made_inside_balanced_books__only_money_conservation_sees_it(at_rest):
    federation, _ = at_rest
    with federation.nodes["bank-b"].engine.begin() as connection:   # Balanced, but no deposit behind it.
        node_store.write_entries(connection, [ledger.move(
            "gift:1", "gift", source=ledger.internal_account_id(ledger.CASH, CURRENCY), destination="customer",
            amount_minor=1, currency=CURRENCY)], now_ms=1)
    assert broken(*federation.read_books()) == ["money_conserved"]


@pytest.mark.books_left_broken("a credit removed on purpose")
def test_a_stopped_nodes_books_are_read_too(at_rest):
    federation, _ = at_rest
    engine = federation.nodes["bank-c"].engine
    federation.stop_node("bank-c")
    with engine.begin() as connection:   # Its credit of the last payment disappears while it is down.
        connection.execute(node_store.accounts.update().where(node_store.accounts.c.account_id == "customer")
                           .values(balance_minor=DEPOSIT_MINOR))
    assert broken(*federation.read_books()) == ["ledgers_balanced", "money_conserved"]


def replaced_node(nodes, bank_id: str, **changes):
    return {**nodes, bank_id: dataclasses.replace(nodes[bank_id], **changes)}


def replaced_participant(clearing, bank_id: str, **changes):
    row = types.SimpleNamespace(**{**clearing.participants[bank_id]._asdict(), **changes})
    return dataclasses.replace(clearing, participants={**clearing.participants, bank_id: row})


def first_committed(nodes, bank_id: str) -> str:
    return next(tid for tid, (status, _) in nodes[bank_id].outgoing.items() if status == "COMMITTED")


def flipped_opening(clearing, window_id: int, bank_id: str):
    pages = [settlement_pb2.Statement() for _ in clearing.statements[window_id, bank_id]]
    for page, original in zip(pages, clearing.statements[window_id, bank_id]):
        page.CopyFrom(original)
        page.opening_position.amount_minor = -original.opening_position.amount_minor - 1
    return dataclasses.replace(clearing, statements={**clearing.statements, (window_id, bank_id): pages})


BREAKS = {
    "ledgers_balanced": lambda c, n: (c, replaced_node(n, "bank-a", problems=["entry x does not balance"])),
    "nothing_in_flight": lambda c, n: (c, replaced_node(n, "bank-a", unsent={"order events": 1})),
    "transfers_agree": lambda c, n: (c, replaced_node(n, "bank-a", entry_ids=n["bank-a"].entry_ids - {
        f"settle:{first_committed(n, 'bank-a')}"})),
    "escrow_matches_orders": lambda c, n: (c, replaced_node(n, "bank-a", escrowed_orders_minor={}, internal_minor={
        **n["bank-a"].internal_minor, f"@escrow/{CURRENCY}": 500})),
    "money_conserved": lambda c, n: (c, replaced_node(n, "bank-a", deposits_minor=n["bank-a"].deposits_minor - 1)),
    "positions_match": lambda c, n: (replaced_participant(c, "bank-a", position_minor=0), n),
    "statements_consistent": lambda c, n: (flipped_opening(c, 1, "bank-b"), n),
    "windows_reconciled": lambda c, n: (dataclasses.replace(c, answers={1: {**c.answers[1], "bank-b": 1}}), n),
    "audit_chain_intact": lambda c, n: (dataclasses.replace(c, audit_problems=["entry 3: hash differs"]), n),
}


@pytest.mark.parametrize("key", EVERY_KEY)
def test_each_invariant__fails_alone_when_its_rule_is_broken(at_rest, key):
    _, (clearing, nodes) = at_rest
    assert broken(*BREAKS[key](clearing, nodes)) == [key]


def test_positions__a_node_that_missed_a_settlement_is_seen(at_rest):
    _, (clearing, nodes) = at_rest
    liquidity = f"@liquidity/{CURRENCY}"
    missed = replaced_node(nodes, "bank-b", internal_minor={**nodes["bank-b"].internal_minor, liquidity: 0})
    check = next(c for c in invariants.check(clearing, missed, currency=CURRENCY) if c.key == "positions_match")
    assert not check.ok and "bank-b: @liquidity 0, its liquidity at the clearing 200550" in check.detail


def test_positions__liquidity_its_funds_and_settlements_do_not_explain_is_seen(at_rest):
    _, (clearing, nodes) = at_rest
    row = clearing.participants["bank-c"]
    check = next(c for c in invariants.check(replaced_participant(clearing, "bank-c",
                                                                  liquidity_minor=row.liquidity_minor + 1), nodes,
                                             currency=CURRENCY) if c.key == "positions_match")
    assert not check.ok and (f"bank-c: liquidity {row.liquidity_minor + 1}, its funds in and out and settled nets "
                             f"add up to {row.liquidity_minor}") in check.detail


def test_statements__a_statement_that_does_not_open_where_the_last_closed_is_seen(at_rest):
    _, (clearing, nodes) = at_rest
    pages = [settlement_pb2.Statement() for _ in clearing.statements[1, "bank-a"]]
    for page, original in zip(pages, clearing.statements[1, "bank-a"]):
        page.CopyFrom(original)   # Consistent in itself, but its first statement should open at zero.
        page.opening_liquidity.amount_minor += 1
        page.closing_liquidity.amount_minor += 1
    chained = dataclasses.replace(clearing, statements={**clearing.statements, (1, "bank-a"): pages})
    check = next(c for c in invariants.check(chained, nodes, currency=CURRENCY) if c.key == "statements_consistent")
    assert not check.ok and check.detail == "window 1 bank-a: opening liquidity 1, the previous statement closed at 0"


def test_statements__a_net_that_is_not_the_windows_transfers_is_seen(at_rest):
    _, (clearing, nodes) = at_rest
    rows = {bank_id: types.SimpleNamespace(**{**row._asdict(), "net_minor": -row.net_minor})
            for bank_id, row in clearing.nets[1].items()}
    check = next(c for c in invariants.check(dataclasses.replace(clearing, nets={**clearing.nets, 1: rows}), nodes,
                                             currency=CURRENCY) if c.key == "statements_consistent")
    assert not check.ok and "its committed transfers net" in check.detail


def test_read__a_database_without_the_tables_is_an_error_not_a_pass(tmp_path):
    with pytest.raises(sa.exc.OperationalError):
        invariants.read_node(f"sqlite:///{tmp_path / 'empty.db'}")


def test_windows__an_idle_members_silence_is_no_break_a_silent_payees_is(at_rest):
    _, (clearing, nodes) = at_rest

    def reconciled(books) -> invariants.Check:
        return next(c for c in invariants.check(books, nodes, currency=CURRENCY) if c.key == "windows_reconciled")

    idle_row = types.SimpleNamespace(**{**clearing.nets[1]["bank-c"]._asdict(), "debits_minor": 0,
                                        "credits_minor": 0, "net_minor": 0})
    without = {1: {bank_id: breaks for bank_id, breaks in clearing.answers[1].items() if bank_id != "bank-c"}}
    idle = dataclasses.replace(clearing, nets={**clearing.nets, 1: {**clearing.nets[1], "bank-c": idle_row}},
                               answers=without)
    assert reconciled(idle).ok
    silent = dataclasses.replace(clearing, answers=without)   # bank-c was paid in window 1: it must answer.
    assert not reconciled(silent).ok and "silent ['bank-c']" in reconciled(silent).detail
