"""Races on a borrowing merchant's account, on SQLite and PostgreSQL: repayments from sales,
payoffs, sends and the loan review at once.

The loan's row lock orders everything that repays it: a payoff and each sale's repayment see
what the one before left owed, so the loan is repaid exactly once and never beyond what it
was owed, and @lending mirrors what the open loans are owed (loan_book_problems). A payoff and
a send are judged on the balance under the account's row lock, so the account never goes below
zero. The review locks the loans it judges, so it never reopens a loan just paid off. Every
cent is accounted for. SQLite runs one writer at a time, so PostgreSQL is where a missing lock
shows.
"""
import pytest
import sqlalchemy as sa

from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc

from node.bank import ledger, store
from node.bank.fulfilment import FulfilmentKey
from node.bank.transfers import SendRequest, TransferService
from node.credit import store as credit_store
from node.credit.lending import LendingService
from tests.node.bank.test_services import FakeQuoter
from tests.node.books import balance
from tests.node.credit.test_lending import (  # noqa: F401 - fixtures
    POLICY, assert_loan_books, clock, good_history, lending, node_engine, sale_credit)
from tests.support.concurrency import at_once
from tests.support.ids import uuid_of

ACCOUNT = "acct-m-good"
OWED = 102_500    # 1 000.00 lent at a 2.5 % fee; each sale repays 20 % of itself while the loan is open.
OK, EXISTS, INSUFFICIENT = rc.RESULT_CODE_OK, rc.RESULT_CODE_EXISTS, rc.RESULT_CODE_INSUFFICIENT_FUNDS


def lend(lending: LendingService, node_engine, clock, merchant_id: str, loan_id: str) -> None:
    """A loan of 1 000.00 to the merchant, and 500.00 more in its account: 1 500.00 in all."""
    lending.apply(application_id=loan_id, merchant_id=merchant_id, amount_minor=100_000, currency="EUR")
    with node_engine.begin() as connection:
        store.write_entries(connection, [ledger.move(
            f"deposit:{merchant_id}", "deposit", source=ledger.internal_account_id(ledger.CASH, "EUR"),
            destination=f"acct-{merchant_id}", amount_minor=50_000, currency="EUR")], now_ms=clock.now_ms)


@pytest.fixture
def loan(lending, node_engine, clock):
    """loan-1 of m-good (ACCOUNT)."""
    lend(lending, node_engine, clock, "m-good", "loan-1")


def pay_off(lending: LendingService, merchant_id: str = "m-good", loan_id: str = "loan-1"):
    def run() -> int:
        try:
            return lending.pay_off(merchant_id=merchant_id, loan_id=loan_id)[0]
        except FedmallError as error:
            return error.code
    return run


def sale(node_engine, clock, index: int, amount_minor: int = 10_000):
    return lambda: sale_credit(node_engine, f"release:sale-{index}", ACCOUNT, amount_minor, now_ms=clock.now_ms)


def sender(node_engine, clock, *, amount_minor: int, account_id: str = ACCOUNT):
    """Sends of amount_minor from the merchant's account to bob at bank-b."""
    transfers = TransferService(node_engine, bank_id="bank-a", fulfilment_key=FulfilmentKey(b"a" * 32),
                                quoter=FakeQuoter(), clock=clock, transfer_expiry_ms=30_000)
    def send(index: int):
        return lambda: transfers.send_many([SendRequest(
            transfer_id=uuid_of(f"{account_id}-t{index}"), from_account_id=account_id, payee_bank_id="bank-b",
            payee_account_id="bob", amount_minor=amount_minor, currency="EUR")])[0].result
    return send


def repayments(node_engine) -> list[tuple[str, int]]:
    """(source, amount) of every repayment of loan-1, in the order they were made."""
    table = credit_store.loan_repayments
    with node_engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            sa.select(table.c.source, table.c.amount_minor).where(table.c.loan_id == "loan-1")
            .order_by(table.c.outstanding_after_minor.desc()))]


def loan_state(node_engine) -> tuple[str, int, int]:
    table = credit_store.loans
    with node_engine.connect() as connection:
        return tuple(connection.execute(sa.select(table.c.status, table.c.outstanding_minor, table.c.repaid_minor)
                                        .where(table.c.loan_id == "loan-1")).one())


def test_payoff_and_sends__racing_on_each_of_four_accounts_never_overdraw_it(lending, node_engine, clock):
    merchants = ["m-good", "m-other", "m-third", "m-fourth"]   # Four races at once: more chances to interleave.
    with node_engine.begin() as connection:
        for merchant_id in merchants[2:]:
            good_history(connection, merchant_id)
    calls = []
    for merchant_id in merchants:
        lend(lending, node_engine, clock, merchant_id, f"loan-{merchant_id}")
        send = sender(node_engine, clock, amount_minor=50_000, account_id=f"acct-{merchant_id}")
        calls += [pay_off(lending, merchant_id, f"loan-{merchant_id}")] + [send(index) for index in range(4)]

    outcomes = at_once(calls)
    for index, merchant_id in enumerate(merchants):
        payoff, *sends = outcomes[5 * index:5 * index + 5]
        paid_off, sent = payoff == OK, sends.count(OK)
        assert set(sends) | {payoff} <= {OK, INSUFFICIENT}
        # 1 500.00 holds the payoff (1 025.00) or three sends of 500.00, never the payoff and a send.
        assert sent == (0 if paid_off else 3), merchant_id
        assert balance(node_engine, f"acct-{merchant_id}") == 150_000 - (OWED if paid_off else 0) - 50_000 * sent
    assert_loan_books(node_engine)


def test_payoffs__four_at_once_pay_the_loan_exactly_once(loan, lending, node_engine):
    outcomes = at_once([pay_off(lending) for _ in range(4)])
    # The loan's row lock: each later payoff finds the loan REPAID.
    assert sorted(outcomes) == sorted([OK] + [EXISTS] * 3)
    assert repayments(node_engine) == [("PAYOFF", OWED)]
    assert loan_state(node_engine) == ("REPAID", 0, OWED)
    assert balance(node_engine, ACCOUNT) == 150_000 - OWED
    assert_loan_books(node_engine)


def test_repayments_from_sales__eight_at_once_each_repay_their_share_once(loan, node_engine, clock):
    at_once([sale(node_engine, clock, index) for index in range(8)])
    # Each sale repays 20 % of 100.00 of what the sale before it left owed.
    assert repayments(node_engine) == [("SALES", 2_000)] * 8
    assert loan_state(node_engine) == ("CURRENT", OWED - 16_000, 16_000)
    assert balance(node_engine, ACCOUNT) == 150_000 + 8 * 8_000
    assert_loan_books(node_engine)


def test_repayments_from_sales_and_a_payoff__at_once_repay_the_loan_exactly_once(loan, lending, node_engine, clock):
    payoff, *_ = at_once([pay_off(lending)] + [sale(node_engine, clock, index) for index in range(6)])
    # Sales before the payoff repay their share and the payoff the rest; sales after it repay
    # nothing. In any order the loan takes exactly what it was owed from the account.
    made = repayments(node_engine)
    before = len(made) - 1
    assert payoff == OK
    assert made == [("SALES", 2_000)] * before + [("PAYOFF", OWED - 2_000 * before)]
    assert loan_state(node_engine) == ("REPAID", 0, OWED)
    assert balance(node_engine, ACCOUNT) == 150_000 + 6 * 10_000 - OWED
    assert_loan_books(node_engine)


def test_repayments_payoff_sends_and_review__racing_on_one_account_account_for_every_cent(
        loan, lending, node_engine, clock):
    clock.advance(days=31)   # Past the first instalment: a review makes the loan OVERDUE.
    send = sender(node_engine, clock, amount_minor=50_000)
    reviews = [LendingService(node_engine, bank_id="bank-a", policy=POLICY, clock=clock).review_step
               for _ in range(4)]
    sales = [sale(node_engine, clock, index) for index in range(4)]
    payoff, *outcomes = at_once([pay_off(lending)] + reviews + sales + [send(index) for index in range(4)])
    sends = outcomes[8:]
    paid_off, sent = payoff == OK, sends.count(OK)
    assert set(sends) | {payoff} <= {OK, INSUFFICIENT}
    assert paid_off or sent >= 1   # Before any send the account (1 500.00) pays the loan off.
    taken = OWED if paid_off else 4 * 2_000   # By the loan: all it was owed, or each sale's share.
    status, outstanding, repaid = loan_state(node_engine)
    assert (status == "REPAID", outstanding, repaid) == (paid_off, OWED - taken, taken)
    assert [source for source, _ in repayments(node_engine)].count("PAYOFF") == int(paid_off)
    assert balance(node_engine, ACCOUNT) == 150_000 + 4 * 10_000 - taken - 50_000 * sent >= 0
    assert_loan_books(node_engine)
