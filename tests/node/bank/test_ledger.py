import pytest

from node.bank import ledger


def test_move__balances():
    entry = ledger.move("e1", "test", source="a", destination="b", amount_minor=5, currency="EUR")
    assert ledger.entry_problems(entry) == []
    ledger.check_entries([entry])
    assert ledger.balance_deltas([entry]) == {"a": -5, "b": 5}


def test_check_entries__unbalanced_entry_raises_assertion():
    entry = ledger.Entry("e1", "test", (ledger.Posting("a", -5, "EUR"), ledger.Posting("b", 4, "EUR")))
    with pytest.raises(AssertionError, match="sum to -1"):
        ledger.check_entries([entry])


def test_entry_problems__currencies_never_net_against_each_other():
    entry = ledger.Entry("e1", "test", (ledger.Posting("a", -5, "EUR"), ledger.Posting("b", 5, "USD")))
    assert len(ledger.entry_problems(entry)) == 2


def test_entry_problems__single_and_zero_postings_are_refused():
    assert ledger.entry_problems(ledger.Entry("e1", "t", (ledger.Posting("a", 0, "EUR"),)))


def test_internal_account_ids__cannot_be_customer_ids():
    assert not ledger.is_valid_account_id(ledger.internal_account_id(ledger.CASH, "EUR"))
    assert ledger.is_valid_account_id("alice-01.x_y")
    assert not ledger.is_valid_account_id("a" * 65)


def test_books_problems__reports_every_break():
    summary = ledger.BooksSummary(entry_totals={("e1", "EUR"): 1}, currency_totals={"EUR": 1},
                                  stored_balances={"a": 3}, posted_balances={"a": 2})
    assert len(ledger.books_problems(summary)) == 3
    sound = ledger.BooksSummary(entry_totals={("e1", "EUR"): 0}, currency_totals={"EUR": 0},
                                stored_balances={"a": 2, "b": -2}, posted_balances={"a": 2, "b": -2})
    assert ledger.books_problems(sound) == []
