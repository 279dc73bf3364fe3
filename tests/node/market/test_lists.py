"""Order lists: the newest orders first, at most orders_listed_max, on both sides and in the
bank's combined view."""
from __future__ import annotations

import sqlalchemy as sa

from node import limits
from node.bank.settlement_credits import NoClaims
from node.market import store as tables
from node.market.buyer_orders import BuyerOrderService
from node.market.orders import Item, items_to_json
from node.market.seller_orders import SellerOrderService
from node.market.servicer import newest_first
from tests.node.books import node_engine, open_account  # noqa: F401
from tests.node.market.proofs import RULES, SIGNING_KEYS, keys
from tests.node.market.test_buyer_worker import FakePeers, FakeTransfers, add_orders
from tests.support.ids import uuid_of


def add_seller_orders(engine, count: int) -> None:
    open_account(engine, "settle")
    with engine.begin() as connection:
        connection.execute(tables.merchants.insert().values(
            merchant_id="beta", legal_name="Beta", contact="beta@example.com", settlement_account_id="settle",
            status="ACTIVE", created_at_unix_ms=0))
        for index in range(count):
            connection.execute(tables.seller_orders.insert().values(
                order_id=f"s-{index}", checkout_id=f"c-{index}", buyer_bank_id="bank-x", buyer_account_id="buyer",
                merchant_id="beta", items=items_to_json([Item(sku="mug", quantity=1, unit_price_minor=100)]),
                total_minor=100, currency="EUR", state="RESERVED", tracking_reference="", refunded_minor=0,
                placed_at_unix_ms=1_000 + index, updated_at_unix_ms=1_000 + index))


def test_lists__newest_first_and_bounded(node_engine, monkeypatch):
    monkeypatch.setattr(limits, "orders_listed_max", 3)
    open_account(node_engine, "buyer", balance_minor=10_000)
    add_orders(node_engine, "bank-up", 5, state="PAID", now_ms=0)   # bank-up-0 .. -4, placed at 0 .. 4.
    add_seller_orders(node_engine, 5)                                 # s-0 .. s-4, placed at 1000 .. 1004.
    buyer = BuyerOrderService(node_engine, bank_id="bank-a", peers=FakePeers(), transfers=FakeTransfers(),
                              clock=lambda: 10.0, auto_confirm_after_s=60,
                              settlement_credit_hook=NoClaims(), signing_key=SIGNING_KEYS["bank-a"])
    seller = SellerOrderService(node_engine, bank_id="bank-a", transfers=FakeTransfers(), clock=lambda: 10.0,
                                keys=keys, rules=RULES)
    assert [o.order_id for o in buyer.list()] == [uuid_of("bank-up-4"), uuid_of("bank-up-3"), uuid_of("bank-up-2")]
    assert [o.order_id for o in buyer.list(buyer_account_id="buyer")] == [uuid_of("bank-up-4"), uuid_of("bank-up-3"), uuid_of("bank-up-2")]
    assert [o.order_id for o in seller.list(merchant_id="beta")] == ["s-4", "s-3", "s-2"]
    assert [o.order_id for o in newest_first(buyer.list() + seller.list())] == ["s-4", "s-3", "s-2"]
    buyer.close()
