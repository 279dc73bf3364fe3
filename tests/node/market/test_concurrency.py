"""Races on one account's money in the market wing, on SQLite and PostgreSQL.

Concurrent checkouts from one buyer account: the funds check holds under the account's row
lock, the escrow holds exactly what the accepted carts cost, and no balance goes below zero.

Concurrent refunds from one merchant's settlement account, as book entries (the buyer banks
here) and as interbank transfers: the order's row lock keeps what is refunded within what was
paid (and makes a repeated refund id a replay); the settlement account's row lock keeps the
account from being overdrawn (a book refund locks the buyer's account with it, in lock order,
so two merchants refunding each other cannot deadlock); a refund whose transfer fails gives
back exactly its amount under the refund's and the order's row locks. After every race each
order's refunded amount is the sum of the refunds that stand, and the books balance. At the
buyer's bank, refund events for one order at once never record more than was paid. SQLite
runs one writer at a time, so PostgreSQL is where a missing lock shows.
"""
import pytest
import sqlalchemy as sa

from fedmall.results import FedmallError
from fedmall.v1 import marketplace_pb2 as mp, money_pb2
from fedmall.v1 import result_pb2 as rc

from node.bank import ledger
from node.bank.fulfilment import FulfilmentKey
from node.bank.transfers import TransferService
from node.market import order_events, store as tables
from node.market.buyer_orders import CartLine
from node.market.seller_orders import REFUND_FAILED, SellerOrderService
from tests.node.bank.test_services import FakeQuoter
from tests.node.books import balance, books_problems, open_account, store_engine  # noqa: F401
from tests.node.market.proofs import RULES, keys
from tests.node.market.test_buyer_worker import UP, FakePeers, FakeTransfers, add_orders, service
from tests.support.concurrency import at_once
from tests.support.ids import uuid_of

ESCROW = ledger.internal_account_id(ledger.ESCROW, "EUR")
OWED = ledger.internal_account_id(ledger.OWED_TO_CLEARING, "EUR")
MERCHANT, SETTLEMENT = "beta", "settle-beta"
BOOK, INTERBANK = "bank-a", "bank-b"   # The buyer's bank: this bank (a book refund) or another (a transfer).
OK, INSUFFICIENT, EXCEEDS = rc.RESULT_CODE_OK, rc.RESULT_CODE_INSUFFICIENT_FUNDS, rc.RESULT_CODE_REFUND_EXCEEDS_PAID


@pytest.fixture
def engine(store_engine):
    open_account(store_engine, "buyer", balance_minor=10_000)
    return store_engine


def test_checkouts__eight_at_once_from_one_account_never_overdraw_it(engine):
    buyer_orders = service(engine, FakePeers(), FakeTransfers(), [100.0])
    def checkout(index: int):
        def run() -> int:
            try:
                return buyer_orders.checkout(checkout_id=uuid_of(f"c{index}"), buyer_account_id="buyer", lines=[
                    CartLine(seller_bank_id=UP, merchant_id="beta", sku="mug", quantity=1, unit_price_minor=3_000,
                             currency="EUR")]).result
            except FedmallError as error:
                return error.code
        return run

    results = at_once([checkout(index) for index in range(8)])
    buyer_orders.close()
    assert sorted(results) == sorted([rc.RESULT_CODE_OK] * 3 + [rc.RESULT_CODE_INSUFFICIENT_FUNDS] * 5)
    assert (balance(engine, "buyer"), balance(engine, ESCROW)) == (1_000, 9_000)
    assert books_problems(engine) == []


# Refunds ------------------------------------------------------------------------------------

class Crash(Exception):
    """The node dying between a refund's transaction and its transfer."""


class CrashingQuoter:
    def quote(self, payee_bank_id, items):
        raise Crash()


@pytest.fixture(params=[BOOK, INTERBANK])
def buyer_bank(request):
    return request.param


def merchant_with_orders(engine, *, balance_minor: int, totals: list[int], buyer_bank_id: str,
                         merchant_id: str = MERCHANT, buyer_account_id: str = "buyer") -> list[str]:
    """The merchant, its settlement account settle-<merchant> funded, and one COMPLETED order of the
    buyer per total."""
    open_account(engine, f"settle-{merchant_id}", balance_minor=balance_minor)
    with engine.begin() as connection:
        connection.execute(tables.merchants.insert().values(
            merchant_id=merchant_id, legal_name=merchant_id, contact=f"{merchant_id}@example.com",
            settlement_account_id=f"settle-{merchant_id}", status="ACTIVE", created_at_unix_ms=0))
        connection.execute(tables.seller_orders.insert(), [dict(
            order_id=uuid_of(f"{merchant_id}-o{index}"), checkout_id=uuid_of(f"{merchant_id}-c{index}"), buyer_bank_id=buyer_bank_id,
            buyer_account_id=buyer_account_id, merchant_id=merchant_id, items="[]", total_minor=total, currency="EUR",
            state="COMPLETED", tracking_reference="", refunded_minor=0, placed_at_unix_ms=0, updated_at_unix_ms=0)
            for index, total in enumerate(totals)])
    return [uuid_of(f"{merchant_id}-o{index}") for index in range(len(totals))]


def transfer_service(engine, *, quoter=None, now_s: float = 100.0) -> TransferService:
    """The merchant's bank's transfers; bank-b quotes for "buyer"."""
    return TransferService(engine, bank_id="bank-a", fulfilment_key=FulfilmentKey(b"a" * 32),
                           quoter=quoter or FakeQuoter(known=("buyer",)), clock=lambda: now_s,
                           transfer_expiry_ms=30_000)


def seller_orders(engine, *, quoter=None, now_s: float = 100.0) -> SellerOrderService:
    transfers = transfer_service(engine, quoter=quoter, now_s=now_s)
    return SellerOrderService(engine, bank_id="bank-a", transfers=transfers, clock=lambda: now_s, keys=keys,
                              rules=RULES)


def refund(seller: SellerOrderService, refund_id: str, order_id: str, amount_minor: int, *,
           merchant_id: str = MERCHANT):
    def run() -> int:
        try:
            return seller.refund(refund_id=uuid_of(refund_id), merchant_id=merchant_id, order_id=order_id,
                                 amount_minor=amount_minor, currency="EUR", reason="damaged")[0]
        except FedmallError as error:
            return error.code
    return run


def refunded(engine) -> dict[str, int]:
    """What each order says is refunded, after checking it is the sum of its refunds that stand
    (done, or on their way), within what was paid, and that the order is REFUNDED exactly then."""
    orders, refunds = tables.seller_orders, tables.seller_refunds
    with engine.connect() as connection:
        standing = dict(connection.execute(
            sa.select(refunds.c.order_id, sa.func.sum(refunds.c.amount_minor))
            .where(refunds.c.status != REFUND_FAILED).group_by(refunds.c.order_id)).all())
        rows = connection.execute(sa.select(orders).order_by(orders.c.order_id)).all()
    for row in rows:
        assert (row.refunded_minor, row.state) == (
            standing.get(row.order_id, 0), "REFUNDED" if row.refunded_minor else "COMPLETED"), row
        assert 0 <= row.refunded_minor <= row.total_minor, row
    return {row.order_id: row.refunded_minor for row in rows}


def paid_to_buyer(engine, buyer_bank_id: str) -> int:
    """What the refunds moved towards the buyer: into its account here, or owed to the clearing."""
    return balance(engine, "buyer") - 10_000 if buyer_bank_id == BOOK else balance(engine, OWED)


def refund_count(engine, *, status: str) -> int:
    refunds = tables.seller_refunds
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).where(refunds.c.status == status))


def test_refunds__eight_at_once_of_one_order_never_exceed_what_was_paid(engine, buyer_bank):
    [order_id] = merchant_with_orders(engine, balance_minor=100_000, totals=[10_000], buyer_bank_id=buyer_bank)
    seller = seller_orders(engine)

    outcomes = at_once([refund(seller, f"r{index}", order_id, 3_000) for index in range(8)])
    # Each is judged on what is left to refund under the order's row lock: 3 x 30.00 fit in 100.00.
    assert sorted(outcomes) == sorted([OK] * 3 + [EXCEEDS] * 5)
    assert refunded(engine) == {order_id: 9_000}
    assert (balance(engine, SETTLEMENT), paid_to_buyer(engine, buyer_bank)) == (91_000, 9_000)
    assert books_problems(engine) == []


def test_refunds__the_same_refund_eight_times_at_once_is_made_once(engine, buyer_bank):
    [order_id] = merchant_with_orders(engine, balance_minor=100_000, totals=[10_000], buyer_bank_id=buyer_bank)
    seller = seller_orders(engine)

    outcomes = at_once([refund(seller, "r1", order_id, 4_000) for _ in range(8)])
    # The order's row lock makes each later call see the first one's refund: a replay.
    assert sorted(outcomes) == sorted([OK] + [rc.RESULT_CODE_EXISTS] * 7)
    assert refunded(engine) == {order_id: 4_000}
    assert (balance(engine, SETTLEMENT), paid_to_buyer(engine, buyer_bank)) == (96_000, 4_000)
    assert books_problems(engine) == []


def test_refunds__of_eight_orders_at_once_never_overdraw_the_merchant_account(engine, buyer_bank):
    order_ids = merchant_with_orders(engine, balance_minor=25_000, totals=[10_000] * 8, buyer_bank_id=buyer_bank)
    seller = seller_orders(engine)

    outcomes = at_once([refund(seller, f"r{index}", order_id, 10_000) for index, order_id in enumerate(order_ids)])
    # Judged on the settlement account under its row lock (a book refund in refund, a transfer
    # in its send): 2 x 100.00 fit in 250.00; a refused transfer gives its order back its amount.
    assert sorted(outcomes) == sorted([OK] * 2 + [INSUFFICIENT] * 6)
    assert sorted(refunded(engine).values()) == [0] * 6 + [10_000] * 2
    assert (balance(engine, SETTLEMENT), paid_to_buyer(engine, buyer_bank)) == (5_000, 20_000)
    assert books_problems(engine) == []


def test_refunds__whose_transfers_are_refused_at_once_give_back_exactly_their_amounts(engine):
    [order_id] = merchant_with_orders(engine, balance_minor=10_000, totals=[20_000], buyer_bank_id=INTERBANK)
    seller = seller_orders(engine)

    outcomes = at_once([refund(seller, f"r{index}", order_id, 2_500) for index in range(8)])
    # All eight fit in what was paid; only four transfers fit in the account. The four refused
    # give their amounts back to the same order at the same moment.
    assert sorted(outcomes) == sorted([OK] * 4 + [INSUFFICIENT] * 4)
    assert refunded(engine) == {order_id: 10_000}
    assert (balance(engine, SETTLEMENT), balance(engine, OWED)) == (0, 10_000)
    assert books_problems(engine) == []


def test_refunds__abandoned_ones_failed_by_watchers_at_once_racing_new_refunds_add_up(engine):
    [order_id] = merchant_with_orders(engine, balance_minor=100_000, totals=[20_000], buyer_bank_id=INTERBANK)
    crashing = seller_orders(engine, quoter=CrashingQuoter(), now_s=100.0)
    for index in range(4):   # Written, then the node died before their transfers went out.
        with pytest.raises(Crash):
            refund(crashing, f"lost{index}", order_id, 2_500)()
    assert refunded(engine) == {order_id: 10_000}
    later = [seller_orders(engine, now_s=200.0) for _ in range(4)]   # Past refund_abandon_age_ms.

    outcomes = at_once([seller.watch_refunds for seller in later]
                       + [refund(later[0], f"new{index}", order_id, 2_500) for index in range(4)])
    # Each abandoned refund is failed once, however many watchers find it, and its amount
    # given back without losing the new refunds added to the same order meanwhile.
    assert outcomes == [False] * 4 + [OK] * 4
    assert refund_count(engine, status=REFUND_FAILED) == 4
    assert refunded(engine) == {order_id: 10_000}
    assert (balance(engine, SETTLEMENT), balance(engine, OWED)) == (90_000, 10_000)
    assert books_problems(engine) == []




def test_refunds__two_merchants_refunding_each_other_at_once_never_deadlock(engine):
    # Each merchant bought from the other at this bank: alpha's refunds go to settle-beta and
    # beta's to settle-alpha. Each refund locks both accounts, in store.lock_order, before it
    # writes (the entry's postings would otherwise wait for the other's account in a cycle).
    alpha = merchant_with_orders(engine, merchant_id="alpha", balance_minor=100_000, totals=[1_000] * 8,
                                 buyer_bank_id=BOOK, buyer_account_id="settle-beta")
    beta = merchant_with_orders(engine, merchant_id="beta", balance_minor=100_000, totals=[3_000] * 8,
                                buyer_bank_id=BOOK, buyer_account_id="settle-alpha")
    seller = seller_orders(engine)

    outcomes = at_once([refund(seller, f"r-{order_id}", order_id, amount_minor, merchant_id=merchant_id)
                        for pair in zip(alpha, beta)
                        for merchant_id, order_id, amount_minor in zip(("alpha", "beta"), pair, (1_000, 3_000))])
    assert outcomes == [OK] * 16
    assert set(refunded(engine).values()) == {1_000, 3_000}
    assert (balance(engine, "settle-alpha"), balance(engine, "settle-beta")) == (
        100_000 - 8_000 + 24_000, 100_000 - 24_000 + 8_000)
    assert books_problems(engine) == []


def test_refund_events__eight_at_once_at_the_buyers_bank_never_record_more_than_was_paid(engine):
    # Book refunds of an order whose merchant banks here too: the seller side tells the buyer side.
    [order_id] = add_orders(engine, BOOK, 1, state="COMPLETED", now_ms=0)   # 1.00 paid.
    buyer_orders = service(engine, FakePeers(), FakeTransfers(), [100.0])

    def refunded_event(index: int):
        def run() -> int:
            try:
                return buyer_orders.apply_event(sender_bank_id=BOOK, event=mp.NotifyOrderEventRequest(
                    event_id=uuid_of(f"e{index}"), order_id=order_id, kind=order_events.REFUNDED,
                    amount=money_pb2.Money(amount_minor=30, currency="EUR")))
            except FedmallError as error:
                return error.code
        return run

    outcomes = at_once([refunded_event(index) for index in range(8)])
    buyer_orders.close()
    # Added only if it still fits, in the update itself (the row is not locked): 3 x 0.30 fit in 1.00.
    assert sorted(outcomes) == sorted([OK] * 3 + [EXCEEDS] * 5)
    table = tables.buyer_orders
    with engine.connect() as connection:
        assert connection.execute(sa.select(table.c.state, table.c.refunded_minor)
                                  .where(table.c.order_id == order_id)).one() == ("REFUNDED", 90)
