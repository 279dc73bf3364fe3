"""Races at the seller's bank, on SQLite and PostgreSQL: orders placed at once never reserve
more than the stock on hand, nor take one buyer bank past its bound of open reservations, a merchant's stock change never goes below what orders
reserved, and a ship, a decline or a buyer's cancel racing for one order leave exactly one
winner, with the stock moved once. Each is judged under the product's or the order's row
lock (SQLite serialises writers; on PostgreSQL, removing a lock fails a test here)."""
import pytest
import sqlalchemy as sa

from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc

from node.market import order_events, store as tables
from node.market.merchants import MerchantService
from node.market.orders import Item, derived_id
from node.market.seller_orders import PlaceOrder, ReservationRules, SellerOrderService
from tests.node.books import open_account, store_engine  # noqa: F401 - the engine fixture below uses it.
from tests.node.market.proofs import RULES, keys, proved
from tests.node.market.test_buyer_worker import FakeTransfers
from tests.node.market.test_concurrency import engine  # noqa: F401
from tests.support.concurrency import at_once
from tests.support.ids import uuid_of

BUYER_BANK, SELLER_BANK, MERCHANT, SKU, PRICE = "bank-a", "bank-b", "beta", "mug", 500


@pytest.fixture
def seller(engine):  # noqa: F811
    open_account(engine, "settle-beta")
    merchants = MerchantService(engine, bank_id=SELLER_BANK, clock=lambda: 10.0)
    merchants.onboard(merchant_id=MERCHANT, legal_name="Beta Ltd", contact="beta@example.com",
                      settlement_account_id="settle-beta")
    merchants.upsert_product(merchant_id=MERCHANT, sku=SKU, title="Mug", description="", price_minor=PRICE,
                             currency="EUR", stock=3)
    return merchants, SellerOrderService(engine, bank_id=SELLER_BANK, transfers=FakeTransfers(), clock=lambda: 10.0,
                                         keys=keys, rules=RULES)


def order(checkout: str, quantity: int = 1, *, sku: str = SKU) -> PlaceOrder:
    checkout = uuid_of(checkout)
    return proved(PlaceOrder(order_id=derived_id(BUYER_BANK, checkout, SELLER_BANK, MERCHANT), checkout_id=checkout,
                             buyer_account_id="buyer", merchant_id=MERCHANT,
                             items=(Item(sku=sku, quantity=quantity, unit_price_minor=PRICE),),
                             total_minor=PRICE * quantity, currency="EUR"),
                  buyer_bank_id=BUYER_BANK, seller_bank_id=SELLER_BANK)


def code_of(call) -> int:
    try:
        result = call()
        return result if isinstance(result, int) else result[0] if isinstance(result, tuple) else result.result
    except FedmallError as error:
        return error.code


def stock(engine, sku: str = SKU) -> tuple[int, int]:  # noqa: F811
    products = tables.products
    with engine.connect() as connection:
        row = connection.execute(sa.select(products.c.stock_on_hand, products.c.stock_reserved)
                                 .where(products.c.sku == sku)).one()
    return row.stock_on_hand, row.stock_reserved


def states(engine) -> list[str]:  # noqa: F811
    with engine.connect() as connection:
        return sorted(connection.scalars(sa.select(tables.seller_orders.c.state)))


def test_place__eight_orders_at_once_for_three_in_stock_reserve_exactly_three(engine, seller):  # noqa: F811
    _, orders = seller
    results = at_once([lambda c=f"c{index}": code_of(lambda: orders.place(buyer_bank_id=BUYER_BANK, order=order(c)))
                       for index in range(8)])
    assert sorted(results) == sorted([rc.RESULT_CODE_OK] * 3 + [rc.RESULT_CODE_INSUFFICIENT_STOCK] * 5)
    assert stock(engine) == (3, 3) and states(engine) == ["RESERVED"] * 3


def test_place__eight_orders_at_once_from_one_bank_never_pass_its_bound(engine, seller):  # noqa: F811
    merchants, _ = seller
    merchants.upsert_product(merchant_id=MERCHANT, sku=SKU, title="Mug", description="", price_minor=PRICE,
                             currency="EUR", stock=100)
    bounded = SellerOrderService(engine, bank_id=SELLER_BANK, transfers=FakeTransfers(), clock=lambda: 10.0, keys=keys,
                                 rules=ReservationRules(hold_s=60, per_buyer_bank_max=3, units_per_buyer_bank_max=100))
    results = at_once([lambda c=f"b{index}": code_of(lambda: bounded.place(buyer_bank_id=BUYER_BANK, order=order(c)))
                       for index in range(8)])
    assert sorted(results) == sorted([rc.RESULT_CODE_OK] * 3 + [rc.RESULT_CODE_RESERVATION_LIMIT_REACHED] * 5)
    assert stock(engine) == (100, 3) and states(engine) == ["RESERVED"] * 3


def test_stock__a_merchant_lowering_it_while_orders_reserve_never_goes_below_reserved(engine, seller):  # noqa: F811
    merchants, orders = seller
    for round_number in range(8):   # A fresh product each round: the race is at its start every time.
        sku = f"cup-{round_number}"
        merchants.upsert_product(merchant_id=MERCHANT, sku=sku, title="Cup", description="", price_minor=PRICE,
                                 currency="EUR", stock=3)
        lower = lambda: code_of(lambda: merchants.upsert_product(  # noqa: E731
            merchant_id=MERCHANT, sku=sku, title="Cup", description="", price_minor=PRICE, currency="EUR", stock=1))
        place = [lambda c=f"s{round_number}-{index}": code_of(lambda: orders.place(
            buyer_bank_id=BUYER_BANK, order=order(c, sku=sku))) for index in range(3)]
        lowered, *placed = at_once([lower] + place)
        on_hand, reserved = stock(engine, sku)
        assert reserved == placed.count(rc.RESULT_CODE_OK) <= on_hand, (round_number, lowered, placed)
        assert on_hand == (1 if lowered == rc.RESULT_CODE_OK else 3)


def test_order__ship_decline_and_cancel_racing_leave_one_winner(engine, seller):  # noqa: F811
    merchants, orders = seller
    rounds = 6
    merchants.upsert_product(merchant_id=MERCHANT, sku=SKU, title="Mug", description="", price_minor=PRICE,
                             currency="EUR", stock=rounds)   # Enough for every round, whoever wins.
    for round_number in range(rounds):
        placed = order(f"r{round_number}")
        assert orders.place(buyer_bank_id=BUYER_BANK, order=placed).result == rc.RESULT_CODE_OK
        results = at_once([
            lambda: code_of(lambda: orders.ship(merchant_id=MERCHANT, order_id=placed.order_id,
                                                tracking_reference="T")),
            lambda: code_of(lambda: orders.decline(merchant_id=MERCHANT, order_id=placed.order_id, reason="no")),
            lambda: code_of(lambda: orders.apply_event(sender_bank_id=BUYER_BANK, event_id=uuid_of(f"e{round_number}"),
                                                       order_id=placed.order_id, kind=order_events.CANCELLED))])
        assert results.count(rc.RESULT_CODE_OK) == 1, results
        # A cancel after the merchant's decline is EXISTS: the order is cancelled either way.
        assert set(results) <= {rc.RESULT_CODE_OK, rc.RESULT_CODE_EXISTS, rc.RESULT_CODE_ORDER_STATE_INVALID}, results
    shipped = states(engine).count("SHIPPED")
    assert states(engine).count("CANCELLED") == rounds - shipped
    assert stock(engine) == (rounds - shipped, 0)   # A shipped mug leaves the shelf once; a cancelled one comes back.


def test_order__expiry_racing_ship_decline_and_cancel_leaves_one_winner(engine, seller):  # noqa: F811
    merchants, orders = seller
    rounds = 6
    merchants.upsert_product(merchant_id=MERCHANT, sku=SKU, title="Mug", description="", price_minor=PRICE,
                             currency="EUR", stock=rounds)
    expiring = SellerOrderService(engine, bank_id=SELLER_BANK, transfers=FakeTransfers(), clock=lambda: 20.0,
                                  keys=keys, rules=ReservationRules(hold_s=1, per_buyer_bank_max=100,
                                                                    units_per_buyer_bank_max=100))
    for round_number in range(rounds):
        placed = order(f"e{round_number}")   # Placed at 10 s: due to expire at 11 s.
        assert orders.place(buyer_bank_id=BUYER_BANK, order=placed).result == rc.RESULT_CODE_OK
        other = [
            lambda: code_of(lambda: orders.ship(merchant_id=MERCHANT, order_id=placed.order_id,
                                                tracking_reference="T")),
            lambda: code_of(lambda: orders.decline(merchant_id=MERCHANT, order_id=placed.order_id, reason="no")),
            lambda: code_of(lambda: orders.apply_event(sender_bank_id=BUYER_BANK, event_id=f"c{round_number}",
                                                       order_id=placed.order_id, kind=order_events.CANCELLED)),
        ][round_number % 3]
        expired, answered = at_once([lambda: expiring.expire_step(), other])
        assert expired is False
        # One winner: the merchant's or buyer's action, or the expiry (which then tells the buyer's bank).
        assert (answered == rc.RESULT_CODE_OK) != (placed.order_id in expired_ids(engine)), (round_number, answered)
    shipped = states(engine).count("SHIPPED")
    assert states(engine).count("CANCELLED") == rounds - shipped
    assert stock(engine) == (rounds - shipped, 0)   # Freed once, whoever won.


def expired_ids(engine) -> list[str]:  # noqa: F811
    events = tables.order_events
    with engine.connect() as connection:
        return connection.scalars(sa.select(events.c.order_id).where(
            events.c.kind == order_events.RESERVATION_EXPIRED)).all()


def test_place__a_cancel_overtaking_its_order_never_leaves_stock_reserved(engine, seller):  # noqa: F811
    _, orders = seller
    for round_number in range(12):
        placed = order(f"x{round_number}")
        at_once([lambda: code_of(lambda: orders.place(buyer_bank_id=BUYER_BANK, order=placed)),
                 lambda: code_of(lambda: orders.apply_event(sender_bank_id=BUYER_BANK, event_id=uuid_of(f"x{round_number}"),
                                                            order_id=placed.order_id, kind=order_events.CANCELLED))])
        # Either the order was placed and then cancelled, or the cancel came first and the order was refused.
        assert stock(engine) == (3, 0), round_number
        assert "RESERVED" not in states(engine)
