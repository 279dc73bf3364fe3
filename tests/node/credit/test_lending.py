"""node.credit.lending and node.credit.repayments on a real node database (SQLite and PostgreSQL) with constructed merchant
histories: the decision, the disbursement, repayment from sales, payoff, overdue and non-performing,
and every refusal leaving the books untouched. The interbank path through real nodes is in
tests/acceptance/test_credit.py."""
from __future__ import annotations

import uuid


import pytest
import sqlalchemy as sa

from fedmall import limits
from fedmall.database import make_engine, migrate
from fedmall.v1 import result_pb2 as rc, transfer_pb2
from fedmall.v1.money_pb2 import Money

from node.bank import ledger, store
from node.bank.fulfilment import FulfilmentKey
from node.bank.notices import NoticeService
from node.bank.settlement_credits import book_settlement_credits
from node.credit import store as credit_store
from node.credit.features import DAY_MS
from node.credit.lending import LendingService
from node.credit.loan_views import loan_book_problems
from node.credit.policy import load_policy
from node.credit.repayments import RepaymentFromSales
from node.errors import FedmallError
from node.market.store import merchants
from tests.node.credit.history import add_merchant, add_order
from tests.node.books import balance, books_problems
from tests.support.credit import EXAMPLE_POLICY

POLICY = load_policy(EXAMPLE_POLICY)
T0 = 20_000 * DAY_MS
LENDING = ledger.internal_account_id(ledger.LENDING, "EUR")
FEES = ledger.internal_account_id(ledger.CREDIT_FEES, "EUR")
ESCROW = ledger.internal_account_id(ledger.ESCROW, "EUR")


class Clock:
    def __init__(self) -> None:
        self.now_ms = T0

    def __call__(self) -> float:
        return self.now_ms / 1000

    def advance(self, *, days: float) -> None:
        self.now_ms += int(days * DAY_MS)


def good_history(connection, merchant_id: str, *, status: str = "ACTIVE", tenure_days: int = 400,
                 refunded_minor: int = 0) -> None:
    """12 completed sales of 1 000.00 EUR in the last 60 days, to buyers at another bank.

    Points (example policy): tenure 400 d 20, trend flat 10, 90-day sales 12 000.00 20,
    refunds 0 % 15, no cancellations 5, ship times unknown -5, all buyers cross-bank 10,
    last sale 5 days ago 5: 80, grade B (x1.5, fee 2.5 %). Monthly sales 4 000.00: limit 6 000.00.
    """
    add_merchant(connection, merchant_id, status=status, created_at_ms=T0 - tenure_days * DAY_MS)
    for index in range(12):
        add_order(connection, f"{merchant_id}-o{index}", merchant_id=merchant_id, state="COMPLETED",
                  placed_ms=T0 - (5 + 5 * index) * DAY_MS, total_minor=100_000,
                  refunded_minor=refunded_minor if index == 0 else 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def node_engine(request, tmp_path):
    """A migrated node database on each store, with its internal accounts, and no server."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'node.db'}"
    else:
        url = request.getfixturevalue("postgres_cluster").new_database()
    engine = make_engine(url)
    migrate(engine, "node:migrations")
    with engine.begin() as connection:
        store.ensure_internal_accounts(connection, now_ms=0)
    yield engine
    engine.dispose()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def lending(node_engine, clock):
    with node_engine.begin() as connection:
        good_history(connection, "m-good")
        good_history(connection, "m-other")
        good_history(connection, "m-suspended", status="SUSPENDED")
        good_history(connection, "m-new", tenure_days=20)
        good_history(connection, "m-refunds", refunded_minor=200_000)   # 2 000.00 of 12 000.00: 16.7 %.
    return LendingService(node_engine, bank_id="bank-a", policy=POLICY, clock=clock)


def journal(engine) -> tuple[int, int]:
    with engine.connect() as connection:
        return (connection.scalar(sa.select(sa.func.count()).select_from(store.journal_entries)),
                connection.scalar(sa.select(sa.func.count()).select_from(credit_store.loans)))


def assert_loan_books(engine) -> None:
    """Double entry holds and @lending mirrors what the open loans are owed."""
    assert books_problems(engine) == []
    with engine.connect() as connection:
        loans = connection.execute(sa.select(credit_store.loans)).all()
        assert loan_book_problems(connection) == []
    assert all(loan.repaid_minor + loan.outstanding_minor == loan.principal_minor + loan.fee_minor for loan in loans)
    assert -balance(engine, LENDING) == sum(loan.outstanding_minor for loan in loans)


def sale_credit(engine, entry_id: str, account_id: str, amount_minor: int, *, now_ms: int) -> None:
    """A book release of an order's escrow to the merchant, as node.market.buyer_orders writes it."""
    with engine.begin() as connection:
        book_settlement_credits(connection, [ledger.move(
            entry_id, "release", source=ESCROW, destination=account_id, amount_minor=amount_minor,
            currency="EUR")], RepaymentFromSales(), now_ms=now_ms)


def refused(call, code: int) -> str:
    with pytest.raises(FedmallError) as caught:
        call()
    assert caught.value.code == code, caught.value
    return str(caught.value)


def test_offer_and_apply__instant_decision_disburses_with_balanced_postings(lending, node_engine):
    offer = lending.offer("m-good")
    assert (offer.decision.total_points, offer.decision.grade, offer.decision.knockouts) == (80, "B", ())
    assert (offer.decision.limit_minor, offer.decision.available_minor, offer.decision.fee_bp) == (
        600_000, 600_000, 250)

    application = lending.apply(application_id="app-1", merchant_id="m-good", amount_minor=500_000, currency="EUR")
    loan = application.loan
    assert application.result == rc.RESULT_CODE_OK
    assert (loan.principal_minor, loan.fee_minor, loan.outstanding_minor, loan.repaid_minor) == (
        500_000, 12_500, 512_500, 0)
    assert (loan.status, loan.grade, loan.repayment_share_bp, loan.account_id) == ("CURRENT", "B", 2_000, "acct-m-good")
    assert loan.maturity_at_unix_ms == T0 + 180 * DAY_MS
    assert [item.cumulative_due_minor for item in loan.schedule] == [
        85_417, 170_834, 256_250, 341_667, 427_084, 512_500]
    assert (balance(node_engine, "acct-m-good"), balance(node_engine, LENDING), balance(node_engine, FEES)) == (
        500_000, -512_500, 12_500)
    assert_loan_books(node_engine)

    # The offer now counts the loan: the limit less what is owed.
    assert lending.offer("m-good").decision.available_minor == 600_000 - 512_500
    book = lending.book()
    assert [(t.loans, t.loans_open, t.disbursed_minor, t.fees_minor, t.outstanding_minor, t.lending_account_minor)
            for t in book.totals] == [(1, 1, 500_000, 12_500, 512_500, 512_500)]


def test_apply__every_refusal_names_its_reason_and_posts_nothing(lending, node_engine, clock):
    def apply(application_id: str, merchant_id: str = "m-good", amount_minor: int = 100_000, currency: str = "EUR"):
        return lambda: lending.apply(application_id=application_id, merchant_id=merchant_id,
                                     amount_minor=amount_minor, currency=currency)

    before = journal(node_engine)
    assert "available" in refused(apply("a-above", amount_minor=600_001), rc.RESULT_CODE_CREDIT_LIMIT_EXCEEDED)
    # The same application again is the same refusal; other content under its id is refused as such.
    assert "declined" in refused(apply("a-above", amount_minor=600_001), rc.RESULT_CODE_CREDIT_LIMIT_EXCEEDED)
    refused(apply("a-above", amount_minor=600_000), rc.RESULT_CODE_MODIFIED_REQUEST)
    refused(apply("a-suspended", "m-suspended"), rc.RESULT_CODE_MERCHANT_SUSPENDED)
    assert "too_new" in refused(apply("a-new", "m-new"), rc.RESULT_CODE_CREDIT_DECLINED)
    assert "refund_rate_too_high" in refused(apply("a-refunds", "m-refunds"), rc.RESULT_CODE_CREDIT_DECLINED)
    refused(apply("a-nobody", "m-nobody"), rc.RESULT_CODE_MERCHANT_UNKNOWN)
    refused(apply("a-usd", currency="USD"), rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED)
    refused(apply("bad id!"), rc.RESULT_CODE_INVALID_FIELD)
    refused(apply("a-zero", amount_minor=0), rc.RESULT_CODE_INVALID_AMOUNT)
    refused(apply("a-huge", amount_minor=limits.amount_minor_max + 1), rc.RESULT_CODE_INVALID_AMOUNT)
    disabled = LendingService(node_engine, bank_id="bank-a", policy=None, clock=clock)
    refused(lambda: disabled.apply(application_id="a-off", merchant_id="m-good", amount_minor=1, currency="EUR"),
            rc.RESULT_CODE_CREDIT_DISABLED)
    assert journal(node_engine) == before

    # Twice for the same application: one loan, one disbursement.
    first = lending.apply(application_id="a-1", merchant_id="m-good", amount_minor=100_000, currency="EUR")
    after_first = journal(node_engine)
    again = lending.apply(application_id="a-1", merchant_id="m-good", amount_minor=100_000, currency="EUR")
    assert (first.result, again.result, again.loan.loan_id) == (rc.RESULT_CODE_OK, rc.RESULT_CODE_EXISTS, "a-1")
    refused(apply("a-1", currency="USD"), rc.RESULT_CODE_MODIFIED_REQUEST)
    assert journal(node_engine) == after_first == (before[0] + 1, 1)
    assert "one loan at a time" in refused(apply("a-2"), rc.RESULT_CODE_LOAN_OPEN)

    # Non-performing: 90 days without a repayment. Declined for that, whatever else is true.
    clock.advance(days=91)
    while lending.review_step():
        pass
    assert lending.loan(merchant_id="m-good", loan_id="a-1").status == "NON_PERFORMING"
    assert "non_performing_loan" in refused(apply("a-3"), rc.RESULT_CODE_CREDIT_DECLINED)
    assert journal(node_engine) == after_first
    with node_engine.connect() as connection:
        outcomes = dict(connection.execute(sa.select(credit_store.loan_applications.c.application_id,
                                                     credit_store.loan_applications.c.outcome)).all())
    assert outcomes == {"a-above": "DECLINED", "a-suspended": "DECLINED", "a-new": "DECLINED",
                        "a-refunds": "DECLINED", "a-1": "APPROVED", "a-2": "DECLINED", "a-3": "DECLINED"}
    assert_loan_books(node_engine)


def test_loan_life__repaid_from_many_sales_never_more_than_owed(lending, node_engine, clock):
    lending.apply(application_id="loan-1", merchant_id="m-good", amount_minor=100_000, currency="EUR")
    owed = 102_500
    credits = [40_000] * 12 + [150_000]      # 12 x 8 000.00 repaid = 96 000.00; the last takes only 6 500.
    for index, amount in enumerate(credits):
        clock.advance(days=10)
        sale_credit(node_engine, f"release:sale-{index}", "acct-m-good", amount, now_ms=clock.now_ms)
        assert_loan_books(node_engine)
    loan = lending.loan(merchant_id="m-good", loan_id="loan-1")
    assert (loan.status, loan.outstanding_minor, loan.repaid_minor, loan.ever_overdue) == ("REPAID", 0, owed, False)
    assert loan.closed_at_unix_ms == clock.now_ms
    # The merchant received every credit less what repaid the loan.
    assert balance(node_engine, "acct-m-good") == 100_000 + sum(credits) - owed
    _, lines, truncated = lending.statement(merchant_id="m-good", loan_id="loan-1")
    assert not truncated
    assert [(line.kind, line.amount_minor) for line in lines] == [("DISBURSED", owed)] + [
        ("SALES", 8_000)] * 12 + [("SALES", 6_500)]
    assert lines[-1].credit_minor == 150_000 and lines[-1].outstanding_after_minor == 0

    # Repaid: further sales reach the merchant whole; a later loan is possible, and the history counts it.
    sale_credit(node_engine, "release:after", "acct-m-good", 10_000, now_ms=clock.now_ms)
    assert balance(node_engine, "acct-m-good") == 100_000 + sum(credits) - owed + 10_000
    assert lending.offer("m-good").features.loans_repaid_on_time == 1
    assert_loan_books(node_engine)


def test_payoff__early_from_the_account_once_and_refused_without_the_money(lending, node_engine, clock):
    lending.apply(application_id="loan-p", merchant_id="m-good", amount_minor=200_000, currency="EUR")
    sale_credit(node_engine, "release:one-sale", "acct-m-good", 50_000, now_ms=clock.now_ms)   # Repays 10 000.
    with node_engine.begin() as connection:   # The merchant spends most of the loan.
        store.write_entries(connection, [ledger.move("spend", "test", source="acct-m-good", destination=ESCROW,
                                                     amount_minor=150_000, currency="EUR")], now_ms=0)
    before = journal(node_engine)
    refused(lambda: lending.pay_off(merchant_id="m-good", loan_id="loan-p"), rc.RESULT_CODE_INSUFFICIENT_FUNDS)
    refused(lambda: lending.pay_off(merchant_id="m-other", loan_id="loan-p"), rc.RESULT_CODE_LOAN_UNKNOWN)
    assert journal(node_engine) == before

    clock.advance(days=1)
    sale_credit(node_engine, "release:big-sale", "acct-m-good", 200_000, now_ms=clock.now_ms)   # Repays 40 000.
    clock.advance(days=3)
    result, loan = lending.pay_off(merchant_id="m-good", loan_id="loan-p")
    assert (result, loan.status, loan.outstanding_minor, loan.repaid_minor) == (
        rc.RESULT_CODE_OK, "REPAID", 0, 205_000)
    assert balance(node_engine, "acct-m-good") == 200_000 + 40_000 - 150_000 + 160_000 - 155_000
    again, _ = lending.pay_off(merchant_id="m-good", loan_id="loan-p")
    assert again == rc.RESULT_CODE_EXISTS
    _, lines, _ = lending.statement(merchant_id="m-good", loan_id="loan-p")
    assert [(line.kind, line.amount_minor) for line in lines] == [
        ("DISBURSED", 205_000), ("SALES", 10_000), ("SALES", 40_000), ("PAYOFF", 155_000)]
    assert_loan_books(node_engine)


def test_overdue__limit_drops_to_zero_a_repayment_cures_it_non_performing_stays(lending, node_engine, clock):
    lending.apply(application_id="loan-o", merchant_id="m-good", amount_minor=300_000, currency="EUR")
    clock.advance(days=29)
    assert not lending.review_step()
    assert lending.loan(merchant_id="m-good", loan_id="loan-o").status == "CURRENT"
    clock.advance(days=1)
    lending.review_step()
    assert lending.loan(merchant_id="m-good", loan_id="loan-o").status == "OVERDUE"
    decision = lending.offer("m-good").decision
    assert [knockout.rule for knockout in decision.knockouts] == ["overdue_loan"]
    assert (decision.limit_minor, decision.available_minor) == (0, 0)
    assert lending.book().totals[0].overdue_minor == 307_500

    sale_credit(node_engine, "release:cure", "acct-m-good", 10_000, now_ms=clock.now_ms)
    loan = lending.loan(merchant_id="m-good", loan_id="loan-o")
    assert (loan.status, loan.ever_overdue, loan.outstanding_minor) == ("CURRENT", True, 305_500)

    clock.advance(days=90)
    lending.review_step()
    assert lending.loan(merchant_id="m-good", loan_id="loan-o").status == "NON_PERFORMING"
    book = lending.book().totals[0]
    assert (book.non_performing_minor, book.non_performing_ratio_bp) == (305_500, 10_000)
    sale_credit(node_engine, "release:late", "acct-m-good", 10_000, now_ms=clock.now_ms)   # Still repays...
    loan = lending.loan(merchant_id="m-good", loan_id="loan-o")
    assert (loan.status, loan.outstanding_minor) == ("NON_PERFORMING", 303_500)        # ...but stays so.
    assert lending.offer("m-good").decision.available_minor == 0
    assert_loan_books(node_engine)


def incoming_commit(transfer_id: str, account_id: str, amount_minor: int) -> transfer_pb2.NoticeBatch:
    """The clearing's COMMITTED notice of an interbank payment to account_id at bank-a."""
    prepare = transfer_pb2.Prepare(transfer_id=transfer_id, payer_bank_id="bank-b", payee_bank_id="bank-a",
                                   payee_account=account_id, amount=Money(amount_minor=amount_minor, currency="EUR"),
                                   uetr=str(uuid.uuid4()))
    batch = transfer_pb2.NoticeBatch(recipient_bank_id="bank-a")
    batch.notices.add(prepare=prepare, state=transfer_pb2.TRANSFER_STATE_COMMITTED, fulfilment=b"\x01" * 32,
                      settlement_window_id=7)
    return batch


def test_interbank_credit__a_crash_before_commit_splits_nothing_the_replay_splits_once(lending, node_engine,
                                                                                      clock):
    lending.apply(application_id="loan-c", merchant_id="m-good", amount_minor=100_000, currency="EUR")
    notices = NoticeService(node_engine, bank_id="bank-a", fulfilment_key=FulfilmentKey(b"k" * 32), clock=clock,
                            settlement_credit_hook=RepaymentFromSales())
    batch = incoming_commit("t-1", "acct-m-good", 30_000)

    class Crash(Exception):
        pass

    with pytest.raises(Crash):   # The node dies after applying the delivery, before its commit.
        with node_engine.begin() as connection:
            notices.apply_batch(connection, batch, now_ms=clock.now_ms)
            raise Crash
    assert (balance(node_engine, "acct-m-good"), lending.loan(merchant_id="m-good", loan_id="loan-c").repaid_minor) \
        == (100_000, 0)

    for _ in range(2):   # The delivery comes again after the restart, and once more (a duplicate).
        with node_engine.begin() as connection:
            notices.apply_batch(connection, batch, now_ms=clock.now_ms)
    loan = lending.loan(merchant_id="m-good", loan_id="loan-c")
    assert (loan.repaid_minor, balance(node_engine, "acct-m-good")) == (6_000, 100_000 + 24_000)
    _, lines, _ = lending.statement(merchant_id="m-good", loan_id="loan-c")
    assert [(line.entry_id, line.amount_minor) for line in lines[1:]] == [("receive:t-1", 6_000)]
    with node_engine.connect() as connection:
        postings = connection.execute(sa.select(store.postings.c.account_id, store.postings.c.amount_minor).where(
            store.postings.c.entry_id == "receive:t-1").order_by(store.postings.c.account_id)).all()
    assert [tuple(row) for row in postings] == [
        (ledger.internal_account_id(ledger.CLEARING, "EUR"), -30_000), (LENDING, 6_000), ("acct-m-good", 24_000)]
    assert_loan_books(node_engine)


def test_privacy__a_merchant_sees_only_its_own_loans(lending):
    lending.apply(application_id="loan-mine", merchant_id="m-good", amount_minor=100_000, currency="EUR")
    refused(lambda: lending.loan(merchant_id="m-other", loan_id="loan-mine"), rc.RESULT_CODE_LOAN_UNKNOWN)
    refused(lambda: lending.statement(merchant_id="m-other", loan_id="loan-mine"), rc.RESULT_CODE_LOAN_UNKNOWN)
    assert lending.loans_of("m-other") == []
    assert [loan.loan_id for loan in lending.loans_of("m-good")] == ["loan-mine"]


def test_loan_book_problems__a_posting_to_lending_or_a_lost_repayment_is_named(lending, node_engine, clock):
    lending.apply(application_id="loan-x", merchant_id="m-good", amount_minor=100_000, currency="EUR")
    sale_credit(node_engine, "release:x", "acct-m-good", 10_000, now_ms=clock.now_ms)
    with node_engine.begin() as connection:
        store.write_entries(connection, [ledger.move("stray", "test", source=LENDING, destination="acct-m-good",
                                                     amount_minor=5, currency="EUR")], now_ms=0)
        connection.execute(credit_store.loan_repayments.delete())
        assert loan_book_problems(connection) == [
            "loans in EUR are owed 100500, but @lending/EUR shows 100505",
            "loan loan-x: CURRENT with 100500 outstanding, repaid 2000 but its repayments sum to 0"]


def test_concurrent_applications__one_loan_per_merchant_whatever_the_race(lending, node_engine):
    """Eight applications for one merchant at once (threads, separate transactions): exactly one
    loan is disbursed; the merchant's row lock orders them, the others see it open."""
    from concurrent.futures import ThreadPoolExecutor

    def apply(index: int) -> int:
        try:
            return lending.apply(application_id=f"race-{index}", merchant_id="m-good", amount_minor=100_000,
                                 currency="EUR").result
        except FedmallError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(apply, range(8)))
    assert sorted(results) == [rc.RESULT_CODE_OK] + [rc.RESULT_CODE_LOAN_OPEN] * 7
    assert balance(node_engine, "acct-m-good") == 100_000
    assert_loan_books(node_engine)


def test_a_repayment_or_payoff_after_an_unreviewed_quiet_spell_still_counts_the_spell(lending, node_engine, clock):
    """The review worker has not run: 100 quiet days, then a sale. The loan is non-performing
    (and was overdue), not made current by the sale; a payoff after 35 quiet days is a late one."""
    lending.apply(application_id="loan-np", merchant_id="m-good", amount_minor=100_000, currency="EUR")
    lending.apply(application_id="loan-late", merchant_id="m-other", amount_minor=100_000, currency="EUR")
    sale_credit(node_engine, "release:other-sale", "acct-m-other", 20_000, now_ms=clock.now_ms)  # Repays 4 000.
    clock.advance(days=35)
    result, paid = lending.pay_off(merchant_id="m-other", loan_id="loan-late")
    assert (result, paid.status, paid.ever_overdue) == (rc.RESULT_CODE_OK, "REPAID", True)
    features = lending.offer("m-other").features
    assert (features.loans_repaid_on_time, features.loans_repaid_late) == (0, 1)

    clock.advance(days=65)
    sale_credit(node_engine, "release:after-silence", "acct-m-good", 10_000, now_ms=clock.now_ms)
    loan = lending.loan(merchant_id="m-good", loan_id="loan-np")
    assert (loan.status, loan.ever_overdue, loan.outstanding_minor) == ("NON_PERFORMING", True, 100_500)
    assert_loan_books(node_engine)


def test_one_open_loan_per_settlement_account_too(lending, node_engine):
    """Two merchants sharing a settlement account: its credits would repay both loans."""
    with node_engine.begin() as connection:
        good_history(connection, "m-twin")
        connection.execute(merchants.update().where(merchants.c.merchant_id == "m-twin")
                           .values(settlement_account_id="acct-m-good"))
    lending.apply(application_id="loan-a", merchant_id="m-good", amount_minor=100_000, currency="EUR")
    assert "loan-a" in refused(lambda: lending.apply(application_id="loan-b", merchant_id="m-twin",
                                                      amount_minor=100_000, currency="EUR"),
                               rc.RESULT_CODE_LOAN_OPEN)


def test_review_passes_over_a_loan_a_delivery_is_repaying_and_judges_it_next_time(lending, node_engine, clock):
    """PostgreSQL row locks: the review worker never waits behind a delivery's transaction
    (nor the other way round in another order: both lock loans in loan id order)."""
    import threading

    if node_engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: no row locks to pass over")
    lending.apply(application_id="loan-r", merchant_id="m-good", amount_minor=100_000, currency="EUR")
    clock.advance(days=31)
    with node_engine.connect() as delivery:
        with delivery.begin():
            delivery.execute(sa.select(credit_store.loans).where(credit_store.loans.c.loan_id == "loan-r")
                             .with_for_update())
            review = threading.Thread(target=lending.review_step)
            review.start()
            review.join(5)
            assert not review.is_alive(), "the review worker waited for the delivery's lock"
    assert lending.loan(merchant_id="m-good", loan_id="loan-r").status == "CURRENT"
    lending.review_step()
    assert lending.loan(merchant_id="m-good", loan_id="loan-r").status == "OVERDUE"


def test_repayment__the_status_time_moves_only_when_the_status_changes(lending, node_engine, clock):
    lending.apply(application_id="loan-1", merchant_id="m-good", amount_minor=100_000, currency="EUR")

    def status_and_time() -> tuple[str, int]:
        with node_engine.connect() as connection:
            row = connection.execute(sa.select(credit_store.loans.c.status, credit_store.loans.c.status_changed_at_unix_ms)
                                     .where(credit_store.loans.c.loan_id == "loan-1")).one()
        return row.status, row.status_changed_at_unix_ms

    disbursed = status_and_time()
    clock.advance(days=10)
    sale_credit(node_engine, "release:sale-1", "acct-m-good", 10_000, now_ms=clock.now_ms)
    assert status_and_time() == disbursed                       # Still CURRENT: its time stays.
    clock.advance(days=100)
    sale_credit(node_engine, "release:sale-2", "acct-m-good", 10_000, now_ms=clock.now_ms)
    assert status_and_time() == ("NON_PERFORMING", clock.now_ms)
    assert_loan_books(node_engine)
