"""node.bank.settlement_credits: the hook takes its share inside the credit's own entry,
which stays balanced; only settlement credits reach it; it records after the entries exist."""
import pytest
import sqlalchemy as sa

from node.bank import ledger, store
from node.bank.settlement_credits import (
    NO_CLAIMS, Claim, Claims, NoClaims, SettlementCredit, _split, book_settlement_credits, settlement_credit_of)
from tests.node.books import balance, books_problems, node_engine, open_account  # noqa: F401

ESCROW = ledger.internal_account_id(ledger.ESCROW, "EUR")
CLEARING = ledger.internal_account_id(ledger.CLEARING, "EUR")
LENDING = ledger.internal_account_id(ledger.LENDING, "EUR")
CASH = ledger.internal_account_id(ledger.CASH, "EUR")


class TakesATenth:
    """Claims a tenth of every credit to @lending; records which entries it saw written."""

    def __init__(self) -> None:
        self.offered: list[SettlementCredit] = []
        self.recorded_entries: list[str] = []

    def claim(self, connection, credits, *, now_ms):
        self.offered += credits
        claims = tuple(Claim(entry_id=credit.entry_id, to_account_id=LENDING, amount_minor=credit.amount_minor // 10)
                       for credit in credits)

        def record(connection) -> None:  # The entries exist by now: the hook's rows may refer to them.
            self.recorded_entries += store.existing_entry_ids(connection, [claim.entry_id for claim in claims])
        return Claims(claims=claims, record=record)


def release(entry_id: str, account_id: str, amount_minor: int) -> ledger.Entry:
    return ledger.move(entry_id, "release", source=ESCROW, destination=account_id, amount_minor=amount_minor,
                       currency="EUR")


def test_book__the_claim_is_split_off_inside_the_credits_own_balanced_entry(node_engine):
    open_account(node_engine, "shop")
    hook = TakesATenth()
    with node_engine.begin() as connection:
        book_settlement_credits(connection, [
            release("release:o-1", "shop", 10_000),
            ledger.move("receive:t-1", "receive", source=CLEARING, destination="shop", amount_minor=5_000,
                        currency="EUR")], hook, now_ms=1)
    assert (balance(node_engine, "shop"), balance(node_engine, LENDING)) == (13_500, 1_500)
    assert (balance(node_engine, ESCROW), balance(node_engine, CLEARING)) == (-10_000, -5_000)
    assert books_problems(node_engine) == []
    assert sorted(hook.recorded_entries) == ["receive:t-1", "release:o-1"]
    with node_engine.connect() as connection:  # No separate entry: the claim is a posting of the credit's entry.
        postings = connection.execute(sa.select(store.postings.c.account_id, store.postings.c.amount_minor)
                                      .where(store.postings.c.entry_id == "release:o-1")).all()
    assert sorted(postings) == sorted([(ESCROW, -10_000), ("shop", 9_000), (LENDING, 1_000)])


def test_book__only_settlement_credits_reach_the_hook(node_engine):
    open_account(node_engine, "alice")
    hook = TakesATenth()
    with node_engine.begin() as connection:
        book_settlement_credits(connection, [ledger.move(
            "deposit:d-1", "deposit", source=CASH, destination="alice", amount_minor=7_000, currency="EUR")],
            hook, now_ms=1)
    assert hook.offered == [] and balance(node_engine, "alice") == 7_000


def test_book__a_hook_that_claims_nothing_leaves_the_credit_whole(node_engine):
    open_account(node_engine, "shop")
    with node_engine.begin() as connection:
        book_settlement_credits(connection, [release("release:o-1", "shop", 10_000)], NoClaims(), now_ms=1)
    assert (balance(node_engine, "shop"), balance(node_engine, LENDING)) == (10_000, 0)
    assert NoClaims().claim(None, [], now_ms=1) is NO_CLAIMS


def test_book__a_claim_above_the_credit_is_our_bug_and_writes_nothing(node_engine):
    open_account(node_engine, "shop")

    class Greedy:
        def claim(self, connection, credits, *, now_ms):
            return Claims(claims=tuple(Claim(entry_id=credit.entry_id, to_account_id=LENDING,
                                             amount_minor=credit.amount_minor + 1) for credit in credits),
                          record=lambda connection: None)

    with pytest.raises(AssertionError, match="exceed the credit"):
        with node_engine.begin() as connection:
            book_settlement_credits(connection, [release("release:o-1", "shop", 10_000)], Greedy(), now_ms=1)
    assert (balance(node_engine, "shop"), balance(node_engine, LENDING)) == (0, 0)


def test_settlement_credit_of__names_the_one_customer_account_credited():
    assert settlement_credit_of(release("release:o-1", "shop", 10_000)) == SettlementCredit(
        entry_id="release:o-1", account_id="shop", amount_minor=10_000, currency="EUR")
    assert settlement_credit_of(ledger.move("send:t-1", "send", source="alice", destination=ESCROW,
                                            amount_minor=1, currency="EUR")) is None


# Each rule at its edges (scripts/mutants found them unguarded) -----------------------------


def posting(account_id: str, amount_minor: int) -> ledger.Posting:
    return ledger.Posting(account_id=account_id, amount_minor=amount_minor, currency="EUR")


def entry(kind: str, *postings: ledger.Posting) -> ledger.Entry:
    return ledger.Entry(entry_id=f"{kind}:x", kind=kind, postings=postings)


def claims(*amounts: int, to: str = LENDING) -> list[Claim]:
    return [Claim(entry_id="receive:x", to_account_id=to, amount_minor=amount) for amount in amounts]


@pytest.mark.parametrize("postings, credit", [
    ((posting(CLEARING, -1), posting("shop", 1)), ("shop", 1)),                         # One minor unit.
    ((posting("buyer", -5), posting("shop", 5)), ("shop", 5)),                          # A debited customer is no credit.
    ((posting(CLEARING, -5), posting("shop", 0), posting("alpha", 5)), ("alpha", 5)),   # Nor a zero posting.
    ((posting(CLEARING, -5), posting("shop", 4), posting(LENDING, 1)), ("shop", 4)),    # Nor an internal account.
    ((posting(CLEARING, -5), posting(LENDING, 5)), None),                               # No customer credited.
])
def test_settlement_credit_of__only_a_positive_posting_to_a_customer_account(postings, credit):
    found = settlement_credit_of(entry("receive", *postings))
    assert (found and (found.account_id, found.amount_minor)) == credit


def test_settlement_credit_of__two_customers_credited_is_our_bug():
    with pytest.raises(AssertionError, match="more than one customer account"):
        settlement_credit_of(entry("receive", posting(CLEARING, -5), posting("shop", 4), posting("alpha", 1)))


@pytest.mark.parametrize("account_id", ["shop", "0shop"])   # Sorting after and before the internal '@...' ids.
def test_split__removes_only_the_credit_posting_and_keeps_the_entry_balanced(account_id):
    credited = entry("receive", posting(CLEARING, -2_000), posting(CASH, 1_000), posting(account_id, 1_000))
    split = _split(credited, settlement_credit_of(credited), claims(300))
    assert sorted((p.account_id, p.amount_minor) for p in split.postings) == sorted(
        [(CLEARING, -2_000), (CASH, 1_000), (account_id, 700), (LENDING, 300)])
    assert ledger.entry_problems(split) == []


def test_split__a_debit_of_the_same_customer_stays():
    credited = entry("receive", posting(CLEARING, -1_001), posting("shop", -1), posting("shop", 1_002))
    split = _split(credited, settlement_credit_of(credited), claims(2))
    assert sorted((p.account_id, p.amount_minor) for p in split.postings) == sorted(
        [(CLEARING, -1_001), ("shop", -1), ("shop", 1_000), (LENDING, 2)])


def test_split__claiming_the_whole_credit_leaves_the_customer_nothing():
    credited = entry("receive", posting(CLEARING, -1_000), posting("shop", 1_000))
    split = _split(credited, settlement_credit_of(credited), claims(600, 400))
    assert sorted((p.account_id, p.amount_minor) for p in split.postings) == [(CLEARING, -1_000), (LENDING, 1_000)]
    assert ledger.entry_problems(split) == []


@pytest.mark.parametrize("bad_claims", [
    claims(0), claims(-1), claims(1, to="shop"), claims(1, to="@lending/USD"), claims(1, to="lending/EUR"),
    claims(600, 401),
])
def test_split__a_claim_that_is_empty_negative_to_a_customer_another_currency_or_too_much_is_our_bug(bad_claims):
    credited = entry("receive", posting(CLEARING, -1_000), posting("shop", 1_000))
    with pytest.raises(AssertionError):
        _split(credited, settlement_credit_of(credited), bad_claims)


def test_split__a_claim_of_one_minor_unit():
    credited = entry("receive", posting(CLEARING, -1_000), posting("shop", 1_000))
    split = _split(credited, settlement_credit_of(credited), claims(1))
    assert sorted((p.account_id, p.amount_minor) for p in split.postings) == sorted(
        [(CLEARING, -1_000), ("shop", 999), (LENDING, 1)])
