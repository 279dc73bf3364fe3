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
    assert ledger.entry_problems(ledger.Entry("e1", "t", (ledger.Posting("a", 0, "EUR"),))) == [
        "e1: an entry needs at least two postings", "e1: zero posting to a"]
    assert ledger.entry_problems(ledger.Entry("e1", "t", (ledger.Posting("a", -1, "EUR"),))) == [
        "e1: an entry needs at least two postings", "e1: postings in EUR sum to -1, not 0"]
    assert ledger.entry_problems(ledger.Entry("e1", "t", (ledger.Posting("a", -1, "EUR"), ledger.Posting("b", 0, "EUR"),
                                                          ledger.Posting("c", 1, "EUR")))) == ["e1: zero posting to b"]


def test_entry_problems__three_postings_that_balance_are_sound():
    entry = ledger.Entry("e1", "t", (ledger.Posting("a", -3, "EUR"), ledger.Posting("b", 1, "EUR"),
                                     ledger.Posting("c", 2, "EUR")))
    assert ledger.entry_problems(entry) == []
    assert ledger.balance_deltas([entry, entry]) == {"a": -6, "b": 2, "c": 4}


def test_internal_account_ids__cannot_be_customer_ids():
    assert not ledger.is_valid_account_id(ledger.internal_account_id(ledger.CASH, "EUR"))
    assert ledger.is_valid_account_id("alice-01.x_y")
    assert not ledger.is_valid_account_id("a" * 65)


def test_books_problems__reports_every_break():
    summary = ledger.BooksSummary(entry_totals={("e1", "EUR"): 1}, currency_totals={"EUR": 1},
                                  stored_balances={"a": 3}, posted_balances={"a": 2})
    assert ledger.books_problems(summary) == ["entry e1 sums to 1 EUR", "all postings in EUR sum to 1, not 0",
                                              "account a: balance 3 but postings sum to 2"]
    short = ledger.BooksSummary(entry_totals={("e2", "EUR"): -1}, currency_totals={"EUR": 0}, stored_balances={},
                                posted_balances={})
    assert ledger.books_problems(short) == ["entry e2 sums to -1 EUR"]


@pytest.mark.parametrize("stored, posted, problem", [
    ({"a": 1}, {}, "account a: balance 1 but postings sum to 0"),        # A balance with no posting behind it.
    ({}, {"a": -1}, "account a: balance 0 but postings sum to -1"),      # A posting the balance never took.
    ({"a": 1_000}, {"a": 1_000 - 1}, "account a: balance 1000 but postings sum to 999"),
    ({"a": 999}, {"a": 1_000}, "account a: balance 999 but postings sum to 1000"),
])
def test_books_problems__a_balance_and_its_postings_that_differ(stored, posted, problem):
    summary = ledger.BooksSummary(entry_totals={}, currency_totals={"EUR": -5}, stored_balances=stored,
                                  posted_balances=posted)
    assert ledger.books_problems(summary) == ["all postings in EUR sum to -5, not 0", problem]


def test_books_problems__large_equal_balances_are_sound():
    # Equal values that are not the same object: the comparison is by value.
    big = 10 ** 12
    summary = ledger.BooksSummary(entry_totals={}, currency_totals={}, stored_balances={"a": big + 1},
                                  posted_balances={"a": int(str(big + 1))})
    assert ledger.books_problems(summary) == []
    sound = ledger.BooksSummary(entry_totals={("e1", "EUR"): 0}, currency_totals={"EUR": 0},
                                stored_balances={"a": 2, "b": -2}, posted_balances={"a": 2, "b": -2})
    assert ledger.books_problems(sound) == []
