"""Plain data both sides of an order share: items, the order as callers see it, ids. Pure.

Order states (the proto's OrderState names). The buyer's bank goes through all of them,
and CANCELLING (shown as PAID); the seller's bank keeps RESERVED (stock held; shown as
PAID), SHIPPED, COMPLETED, CANCELLED and REFUNDED.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Sequence

from fedmall import limits as protocol
from fedmall.v1 import result_pb2

from node.bank.transfers import ACCEPTED, COMMITTED
from node.errors import InvalidRequest

PLACING, PAID, SHIPPED, RECEIVED = "PLACING", "PAID", "SHIPPED", "RECEIVED"
COMPLETED, CANCELLED, REFUNDED, FAILED = "COMPLETED", "CANCELLED", "REFUNDED", "FAILED"
RESERVED = "RESERVED"   # Seller side only: stock reserved, not shipped.
CANCELLING = "CANCELLING"   # Buyer side only: cancel asked of the seller, no answer yet (shown as PAID).

# Ids derived from other ids (uuid5), so a retry derives the same one.
ORDER_NAMESPACE = uuid.UUID("5b0c6a4e-3f1d-5c8e-9a57-6d2f1e0b7c31")


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(ORDER_NAMESPACE, "/".join(parts)))


# The references of the interbank transfers an order moves: the payer names the order in the
# prepare, and the payee's bank keeps it with the incoming transfer (incoming_transfers.reference),
# so each bank can tell, from its own books, which order a payment it received was for.
def release_reference(order_id: str) -> str:
    """The escrow released to the merchant (buyer's bank -> seller's bank)."""
    return f"order {order_id}"


def refund_reference(order_id: str) -> str:
    """A refund returned to the buyer (seller's bank -> buyer's bank)."""
    return f"refund {order_id}"


ON_ITS_WAY = "is accepted here and not committed yet"


def payment_problem(transfer, *, payer_bank_id: str, payee_account_id: str, amount_minor: int, currency: str,
                    reference: str) -> str | None:
    """Why an incoming transfer (an incoming_transfers row, or None) is not the payment described,
    or None when it is: from that bank, to that account, for that amount and currency, under that
    reference, and COMMITTED here. ON_ITS_WAY when only the commit is missing and the transfer is
    accepted (it may commit yet). Pure; both sides of an order judge payments with it."""
    if transfer is None:
        return "was not received here"
    expected = dict(payer_bank_id=payer_bank_id, payee_account_id=payee_account_id, amount_minor=amount_minor,
                    currency=currency, reference=reference)
    wrong = [f"{name} {getattr(transfer, name)!r} (not {value!r})" for name, value in expected.items()
             if getattr(transfer, name) != value]
    if wrong:
        return f"has {', '.join(wrong)}"
    if transfer.status == ACCEPTED:
        return ON_ITS_WAY
    if transfer.status != COMMITTED:
        return f"is {transfer.status}, not COMMITTED"
    return None


@dataclass(frozen=True, slots=True)
class Item:
    sku: str
    quantity: int
    unit_price_minor: int
    title: str = ""


def items_total(items: Sequence[Item]) -> int:
    """The sum of quantity x unit price; refuses a total no amount can carry."""
    total = sum(item.quantity * item.unit_price_minor for item in items)
    if not 0 < total <= protocol.amount_minor_max:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_AMOUNT, "order total out of range")
    return total


def items_to_json(items: Sequence[Item]) -> str:
    return json.dumps([dict(sku=item.sku, quantity=item.quantity, unit_price_minor=item.unit_price_minor,
                            title=item.title) for item in items], separators=(",", ":"))


def items_from_json(text: str) -> tuple[Item, ...]:
    return tuple(Item(**item) for item in json.loads(text))


def same_items(left: Sequence[Item], right: Sequence[Item]) -> bool:
    """Equal lines, ignoring titles (the seller fills them in)."""
    return [(i.sku, i.quantity, i.unit_price_minor) for i in left] == [
        (i.sku, i.quantity, i.unit_price_minor) for i in right]


@dataclass(frozen=True, slots=True)
class OrderView:
    order_id: str
    checkout_id: str
    buyer_bank_id: str
    buyer_account_id: str
    seller_bank_id: str
    merchant_id: str
    items: tuple[Item, ...]
    total_minor: int
    currency: str
    state: str          # An OrderState name (PAID for a seller's RESERVED).
    tracking_reference: str
    refunded_minor: int
    problem: int
    problem_detail: str
    release_transfer_id: str
    placed_at_unix_ms: int
    updated_at_unix_ms: int
    auto_confirm_at_unix_ms: int
    instalments: int = 0    # At the buyer's bank: financed in this many monthly instalments (0: paid now).


def buyer_view(row, *, bank_id: str) -> OrderView:
    return OrderView(
        order_id=row.order_id, checkout_id=row.checkout_id, buyer_bank_id=bank_id,
        buyer_account_id=row.buyer_account_id, seller_bank_id=row.seller_bank_id, merchant_id=row.merchant_id,
        items=items_from_json(row.items), total_minor=row.total_minor, currency=row.currency,
        state=PAID if row.state == CANCELLING else row.state, tracking_reference=row.tracking_reference, refunded_minor=row.refunded_minor, problem=row.problem,
        problem_detail=row.problem_detail, release_transfer_id=row.release_transfer_id or "",
        placed_at_unix_ms=row.placed_at_unix_ms, updated_at_unix_ms=row.updated_at_unix_ms,
        auto_confirm_at_unix_ms=row.auto_confirm_at_unix_ms or 0, instalments=row.instalments)


def seller_view(row, *, bank_id: str) -> OrderView:
    return OrderView(
        order_id=row.order_id, checkout_id=row.checkout_id, buyer_bank_id=row.buyer_bank_id,
        buyer_account_id=row.buyer_account_id, seller_bank_id=bank_id, merchant_id=row.merchant_id,
        items=items_from_json(row.items), total_minor=row.total_minor, currency=row.currency,
        state=PAID if row.state == RESERVED else row.state, tracking_reference=row.tracking_reference,
        refunded_minor=row.refunded_minor, problem=result_pb2.RESULT_CODE_OK, problem_detail="",
        release_transfer_id="", placed_at_unix_ms=row.placed_at_unix_ms, updated_at_unix_ms=row.updated_at_unix_ms,
        auto_confirm_at_unix_ms=0)
