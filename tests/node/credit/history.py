"""Constructed merchant histories for the credit tests: rows written straight into a node database."""
from __future__ import annotations

from node.bank import store
from node.market import order_events, store as tables
from node.market.orders import derived_id


def add_merchant(connection, merchant_id: str, *, status: str = "ACTIVE", created_at_ms: int) -> None:
    connection.execute(store.accounts.insert().values(
        account_id=f"acct-{merchant_id}", holder_name=merchant_id, currency="EUR", internal=False, closed=False,
        balance_minor=0, created_at_unix_ms=created_at_ms))
    connection.execute(tables.merchants.insert().values(
        merchant_id=merchant_id, legal_name=merchant_id, contact="x", settlement_account_id=f"acct-{merchant_id}",
        status=status, created_at_unix_ms=created_at_ms))


def add_order(connection, order_id: str, *, merchant_id: str = "m-1", state: str, placed_ms: int,
              updated_ms: int | None = None, buyer_bank_id: str = "bank-b", total_minor: int = 10_000,
              refunded_minor: int = 0, shipped_event_ms: int | None = None) -> None:
    connection.execute(tables.seller_orders.insert().values(
        order_id=order_id, checkout_id=f"c-{order_id}", buyer_bank_id=buyer_bank_id, buyer_account_id="buyer-1",
        merchant_id=merchant_id, items="[]", total_minor=total_minor, currency="EUR", state=state,
        tracking_reference="", refunded_minor=refunded_minor, placed_at_unix_ms=placed_ms,
        updated_at_unix_ms=placed_ms if updated_ms is None else updated_ms))
    if shipped_event_ms is not None:
        order_events.enqueue(connection, event_id=derived_id(order_id, "shipped"), order_id=order_id,
                             recipient_bank_id=buyer_bank_id, kind=order_events.SHIPPED, now_ms=shipped_event_ms)
