"""Reconciliation as a pure function: hand-made statements against hand-made books."""
import hashlib

import pytest

from fedmall.v1 import money_pb2, settlement_pb2

from node.bank import reconcile
from node.bank.reconcile import (
    AMOUNT_DIFFERS, COUNTERPARTY_DIFFERS, CREDIT, DEBIT, DIRECTION_DIFFERS, DUPLICATE, MISSING_AT_CLEARING,
    MISSING_AT_NODE, BookEntry)

S = settlement_pb2


def book(transfer_id, direction=DEBIT, counterparty="bank-b", amount_minor=1_000, currency="EUR"):
    return BookEntry(transfer_id=transfer_id, direction=direction, counterparty_bank_id=counterparty,
                     amount_minor=amount_minor, currency=currency, reference="", committed_at_unix_ms=1)


def listed(entry: BookEntry) -> S.StatementEntry:
    return entry.as_statement_entry()


BOOKS = [book("t1"), book("t2", direction=CREDIT, counterparty="bank-c", amount_minor=700), book("t3")]


def page(entries, *, index=0, count=1, window_id=7, net_minor=None, entry_count=None, opening_minor=0,
         closing_minor=None):
    if net_minor is None:
        net_minor = sum(e.amount.amount_minor if e.direction == CREDIT else -e.amount.amount_minor for e in entries)
    return S.Statement(
        window_id=window_id, bank_id="bank-a", page_index=index, page_count=count, entries=entries,
        net=money_pb2.Money(amount_minor=net_minor, currency="EUR"),
        opening_position=money_pb2.Money(amount_minor=opening_minor, currency="EUR"),
        closing_position=money_pb2.Money(
            amount_minor=opening_minor - net_minor if closing_minor is None else closing_minor, currency="EUR"),
        entry_count=len(entries) if entry_count is None else entry_count).SerializeToString(deterministic=True)


def kinds(breaks):
    return [(b.kind, b.transfer_id) for b in breaks]


def test_find_breaks__statement_that_agrees_has_none():
    assert reconcile.find_breaks([listed(e) for e in BOOKS], BOOKS) == []


def test_find_breaks__order_of_entries_does_not_matter():
    assert reconcile.find_breaks([listed(e) for e in reversed(BOOKS)], BOOKS) == []


def test_find_breaks__missing_at_node():
    [found] = reconcile.find_breaks([listed(e) for e in BOOKS], BOOKS[1:])
    assert (found.kind, found.transfer_id) == (MISSING_AT_NODE, "t1")
    assert found.clearing_entry == listed(BOOKS[0]) and not found.HasField("node_entry")


def test_find_breaks__missing_at_clearing():
    [found] = reconcile.find_breaks([listed(e) for e in BOOKS[:2]], BOOKS)
    assert (found.kind, found.transfer_id) == (MISSING_AT_CLEARING, "t3")
    assert found.node_entry == listed(BOOKS[2]) and not found.HasField("clearing_entry")


@pytest.mark.parametrize("changed,kind", [
    (dict(amount_minor=1_001), AMOUNT_DIFFERS),
    (dict(currency="JPY"), AMOUNT_DIFFERS),
    (dict(counterparty="bank-x"), COUNTERPARTY_DIFFERS),
    (dict(direction=CREDIT), DIRECTION_DIFFERS),
])
def test_find_breaks__one_difference_is_one_break(changed, kind):
    statement = [listed(book("t1", **changed))] + [listed(e) for e in BOOKS[1:]]
    [found] = reconcile.find_breaks(statement, BOOKS)
    assert (found.kind, found.transfer_id) == (kind, "t1")
    assert found.clearing_entry == statement[0] and found.node_entry == listed(BOOKS[0])


def test_find_breaks__duplicate_on_the_statement():
    statement = [listed(e) for e in BOOKS] + [listed(BOOKS[1])]
    [found] = reconcile.find_breaks(statement, BOOKS)
    assert (found.kind, found.transfer_id) == (DUPLICATE, "t2")


def test_find_breaks__several_at_once_in_statement_order_then_books():
    statement = [listed(book("t9")), listed(book("t1", amount_minor=5, counterparty="bank-x")),
                 listed(BOOKS[1]), listed(BOOKS[1])]
    assert kinds(reconcile.find_breaks(statement, BOOKS)) == [
        (MISSING_AT_NODE, "t9"), (COUNTERPARTY_DIFFERS, "t1"), (AMOUNT_DIFFERS, "t1"), (DUPLICATE, "t2"),
        (MISSING_AT_CLEARING, "t3")]


def test_reconcile__hashes_pages_in_order_and_reports_the_books_net():
    pages = [page([listed(BOOKS[0])], index=0, count=2, net_minor=-1_300, entry_count=3),
             page([listed(BOOKS[1]), listed(BOOKS[2])], index=1, count=2, net_minor=-1_300, entry_count=3)]
    answer = reconcile.reconcile(window_id=7, bank_id="bank-a", pages=pages, book_entries=BOOKS, opening_minor=0)
    assert answer.statement_sha256 == hashlib.sha256(pages[0] + pages[1]).digest()
    assert (answer.window_id, answer.bank_id, list(answer.breaks)) == (7, "bank-a", [])
    assert (answer.node_net.amount_minor, answer.node_net.currency) == (700 - 2_000, "EUR")
    assert reconcile.statement_problems(reconcile.parse_pages(pages)) == []


def test_statement_problems__summary_that_contradicts_the_entries():
    pages = [page([listed(BOOKS[0])], index=0, count=2, net_minor=5, entry_count=4),
             page([listed(BOOKS[1])], index=1, count=2, net_minor=6, entry_count=4)]
    problems = reconcile.statement_problems(reconcile.parse_pages(pages))
    assert len(problems) == 3  # Page 1's summary, the entry count and the net.


def test_reconcile__an_opening_position_other_than_the_books_is_a_break():
    pages = [page([listed(e) for e in BOOKS], opening_minor=-400)]    # The sign flipped: the books say 400.
    answer = reconcile.reconcile(window_id=7, bank_id="bank-a", pages=pages, book_entries=BOOKS, opening_minor=400)
    [found] = answer.breaks
    assert (found.kind, found.clearing_position.amount_minor, found.node_position.amount_minor) == (
        reconcile.OPENING_POSITION_DIFFERS, -400, 400)


def test_reconcile__a_closing_position_other_than_opening_less_net_is_a_break():
    pages = [page([listed(e) for e in BOOKS], opening_minor=400, closing_minor=400)]   # Net -1 300 left out.
    answer = reconcile.reconcile(window_id=7, bank_id="bank-a", pages=pages, book_entries=BOOKS, opening_minor=400)
    [found] = answer.breaks
    assert found.kind == reconcile.STATEMENT_INCONSISTENT and "closing position 400" in found.detail


# Each rule at its edges (scripts/mutants found them unguarded) -----------------------------


def statement(entries, **summary) -> list[S.Statement]:
    return reconcile.parse_pages([page(entries, **summary)])


@pytest.mark.parametrize("listed_direction, book_direction", [(DEBIT, CREDIT), (CREDIT, DEBIT)])
def test_find_breaks__a_direction_that_differs_either_way_is_a_break(listed_direction, book_direction):
    entry = book("t1", direction=listed_direction)
    assert kinds(reconcile.find_breaks([listed(entry)], [book("t1", direction=book_direction)])) == [
        (DIRECTION_DIFFERS, "t1")]


@pytest.mark.parametrize("listed_bank, book_bank", [("bank-a", "bank-b"), ("bank-c", "bank-b")])
def test_find_breaks__a_counterparty_that_differs_either_way_is_a_break(listed_bank, book_bank):
    assert kinds(reconcile.find_breaks([listed(book("t1", counterparty=listed_bank))],
                                       [book("t1", counterparty=book_bank)])) == [(COUNTERPARTY_DIFFERS, "t1")]


def test_find_breaks__a_duplicate_does_not_stop_the_entries_after_it():
    statement_entries = [listed(BOOKS[0]), listed(BOOKS[0]), listed(book("t9"))]
    assert kinds(reconcile.find_breaks(statement_entries, BOOKS[:1])) == [(DUPLICATE, "t1"), (MISSING_AT_NODE, "t9")]


def test_find_breaks__hundreds_of_entries_that_agree_have_none():
    many = [book(f"t{index:03}", amount_minor=index + 1) for index in range(300)]
    assert reconcile.find_breaks([listed(entry) for entry in many], many) == []


def test_find_breaks__books_that_list_a_transfer_twice_are_our_bug():
    with pytest.raises(AssertionError, match="twice"):
        reconcile.find_breaks([], [book("t1"), book("t1")])


@pytest.mark.parametrize("currency, net", [("EUR", 700 - 1_000), ("AAA", -3), ("USD", 5)])
def test_net_minor__counts_only_its_currency(currency, net):
    entries = [book("t1"), book("t2", direction=CREDIT, amount_minor=700), book("t3", currency="AAA", amount_minor=3),
               book("t4", direction=CREDIT, currency="USD", amount_minor=5)]
    assert reconcile.net_minor(entries, currency) == net


@pytest.mark.parametrize("indexes", [[1, 0], [0, 0], [0, 2]])
def test_parse_pages__pages_out_of_order_are_our_bug(indexes):
    with pytest.raises(AssertionError, match="out of order"):
        reconcile.parse_pages([page([], index=index, count=2) for index in indexes])


def test_parse_pages__pages_of_different_windows_are_our_bug():
    with pytest.raises(AssertionError, match="different statements"):
        reconcile.parse_pages([page([], index=0, count=2, window_id=7), page([], index=1, count=2, window_id=8)])


def test_statement_problems__a_sound_statement_of_hundreds_of_entries_has_none():
    many = [listed(book(f"t{index:03}", amount_minor=index + 1)) for index in range(300)]
    assert reconcile.statement_problems(statement(many)) == []


@pytest.mark.parametrize("entry_count, problem", [
    (2, "1 entries on the pages, entry_count says 2"), (0, "1 entries on the pages, entry_count says 0")])
def test_statement_problems__an_entry_count_either_side_of_the_entries(entry_count, problem):
    assert reconcile.statement_problems(statement([listed(BOOKS[0])], entry_count=entry_count)) == [problem]


@pytest.mark.parametrize("net_minor, problem", [
    (-999, "entries net to -1000, the statement says -999"), (-1_001, "entries net to -1000, the statement says -1001")])
def test_statement_problems__a_net_either_side_of_the_entries(net_minor, problem):
    found = reconcile.statement_problems(statement([listed(BOOKS[0])], net_minor=net_minor, closing_minor=-net_minor))
    assert found == [problem]


@pytest.mark.parametrize("other", ["AAA", "USD"])
def test_statement_problems__entries_in_another_currency_are_not_in_the_net(other):
    entries = [listed(BOOKS[0]), listed(book("t9", direction=CREDIT, currency=other, amount_minor=5))]
    assert reconcile.statement_problems(statement(entries, net_minor=-1_000)) == []


@pytest.mark.parametrize("closing_minor", [399, 401])
def test_statement_problems__a_closing_position_either_side_of_opening_less_net(closing_minor):
    found = reconcile.statement_problems(statement([], opening_minor=400, closing_minor=closing_minor))
    assert found == [f"opening 400 - net 0 is not the closing position {closing_minor}"]


@pytest.mark.parametrize("currencies", [("EUR", "USD", "EUR"), ("EUR", "USD", "JPY")])
def test_statement_problems__summary_amounts_in_two_or_three_currencies(currencies):
    pages = statement([])
    for field, currency in zip(("opening_position", "net", "closing_position"), currencies):
        getattr(pages[0], field).currency = currency
    assert reconcile.statement_problems(pages) == [
        f"opening, net and closing positions in different currencies: {sorted(set(currencies))}"]


@pytest.mark.parametrize("books_opening", [399, 401])
def test_position_breaks__an_opening_position_either_side_of_the_books(books_opening):
    [found] = reconcile.position_breaks(statement([], opening_minor=400), opening_minor=books_opening)
    assert (found.kind, found.clearing_position.amount_minor, found.node_position.amount_minor) == (
        reconcile.OPENING_POSITION_DIFFERS, 400, books_opening)


def test_position_breaks__the_opening_position_is_read_from_the_first_page():
    pages = reconcile.parse_pages([page([], index=0, count=2, opening_minor=400),
                                   page([], index=1, count=2, opening_minor=500)])
    breaks = reconcile.position_breaks(pages, opening_minor=400)
    assert [found.kind for found in breaks] == [reconcile.STATEMENT_INCONSISTENT]


@pytest.mark.parametrize("window_id, bank_id", [(6, "bank-a"), (8, "bank-a"), (7, "bank-0"), (7, "bank-z")])
def test_reconcile__another_banks_or_windows_statement_is_our_bug(window_id, bank_id):
    with pytest.raises(AssertionError, match="another statement"):
        reconcile.reconcile(window_id=window_id, bank_id=bank_id, pages=[page([])], book_entries=[], opening_minor=0)


def test_reconcile__the_books_net_is_in_the_statements_currency_even_with_no_books():
    answer = reconcile.reconcile(window_id=7, bank_id="bank-a", pages=[page([])], book_entries=[], opening_minor=0)
    assert (answer.node_net.amount_minor, answer.node_net.currency, list(answer.breaks)) == (0, "EUR", [])


def test_reconcile__the_books_net_is_in_the_first_pages_currency():
    second = S.Statement.FromString(page([], index=1, count=2))
    second.net.currency = "USD"
    pages = [page([], index=0, count=2), second.SerializeToString(deterministic=True)]
    answer = reconcile.reconcile(window_id=7, bank_id="bank-a", pages=pages, book_entries=[], opening_minor=0)
    assert answer.node_net.currency == "EUR"


# Liquidity movements ---------------------------------------------------------------------

def movement(movement_id, direction=CREDIT, amount_minor=5_000, kind=S.LIQUIDITY_MOVEMENT_KIND_FUNDS_IN):
    return S.LiquidityMovement(movement_id=movement_id, kind=kind, direction=direction, window_id=7,
                               amount=money_pb2.Money(amount_minor=amount_minor, currency="EUR"))


MOVEMENTS = [movement("funds:in-1"), movement("settlement:6", direction=DEBIT, amount_minor=1_200,
                                              kind=S.LIQUIDITY_MOVEMENT_KIND_SETTLEMENT)]


def test_find_movement_breaks__agreeing_movements_have_none():
    assert reconcile.find_movement_breaks(list(reversed(MOVEMENTS)), MOVEMENTS) == []


def test_find_movement_breaks__each_difference_is_a_break_named_by_the_movement():
    listed_movements = [movement("funds:in-1", amount_minor=5_001), movement("funds:in-1"),
                        movement("funds:out-9", direction=DEBIT)]
    breaks = reconcile.find_movement_breaks(listed_movements, MOVEMENTS)
    assert kinds(breaks) == [(AMOUNT_DIFFERS, "funds:in-1"), (DUPLICATE, "funds:in-1"),
                             (MISSING_AT_NODE, "funds:out-9"), (MISSING_AT_CLEARING, "settlement:6")]
    assert breaks[0].clearing_movement.amount.amount_minor == 5_001 and breaks[0].node_movement == MOVEMENTS[0]
    [flipped] = reconcile.find_movement_breaks([movement("funds:in-1", direction=DEBIT)], MOVEMENTS[:1])
    assert flipped.kind == DIRECTION_DIFFERS


def liquidity_statement(movements, *, opening_minor=10_000, closing_minor=None, movement_count=None):
    pages = statement([])
    change = reconcile.liquidity_change_minor(movements, "EUR")
    pages[0].movements.extend(movements)
    pages[0].movement_count = len(movements) if movement_count is None else movement_count
    pages[0].opening_liquidity.CopyFrom(money_pb2.Money(amount_minor=opening_minor, currency="EUR"))
    pages[0].closing_liquidity.CopyFrom(money_pb2.Money(
        amount_minor=opening_minor + change if closing_minor is None else closing_minor, currency="EUR"))
    return pages


def test_statement_problems__liquidity_that_its_movements_do_not_explain():
    assert reconcile.statement_problems(liquidity_statement(MOVEMENTS)) == []
    assert reconcile.statement_problems(liquidity_statement(MOVEMENTS, closing_minor=13_801)) == [
        "opening liquidity 10000 EUR + movements 3800 is not the closing liquidity 13801 EUR"]
    assert reconcile.statement_problems(liquidity_statement(MOVEMENTS, movement_count=3)) == [
        "2 movements on the pages, movement_count says 3"]


def test_position_breaks__an_opening_liquidity_other_than_the_books():
    [found] = reconcile.position_breaks(liquidity_statement(MOVEMENTS), opening_minor=0, opening_liquidity_minor=9_999)
    assert (found.kind, found.clearing_position.amount_minor, found.node_position.amount_minor) == (
        reconcile.OPENING_LIQUIDITY_DIFFERS, 10_000, 9_999)
