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
