"""How a checkout is financed by the buyer's own bank: the hook the marketplace calls, and the
credit wing implements (node.credit.instalments), so the market never imports credit.

The market calls it inside its own transactions, with the buyer's account row locked:

    finance    at checkout with N instalments: open one plan per order and return the entries
               that fund each order's escrow from the bank's lending (escrow:<order>, the id the
               escrow statement names); a refusal raises Refused and the checkout writes nothing
    unwind     an order financed this way ends without completing (failed, cancelled, declined,
               expired): write the entry that empties its escrow (unescrow:<order>) back into the plan
    refunded   a refund of a financed order was counted: the buyer's debt is paid down first
               from the refund (node.credit.instalments says how)

Without a consumer credit policy the node offers no instalments (NO_FINANCING).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import sqlalchemy as sa

from fedmall.v1 import result_pb2

from node.bank import ledger
from node.errors import Refused


@dataclass(frozen=True, slots=True)
class FinancedOrder:
    order_id: str
    escrow_entry_id: str
    total_minor: int


class Financing(Protocol):
    def finance(self, connection: sa.Connection, *, checkout_id: str, buyer_account_id: str, currency: str,
                instalments: int, orders: Sequence[FinancedOrder], now_ms: int) -> list[ledger.Entry]: ...

    def unwind(self, connection: sa.Connection, *, order_id: str, entry_id: str, now_ms: int) -> None: ...

    def refunded(self, connection: sa.Connection, *, order_id: str, amount_minor: int, cause_id: str,
                 now_ms: int) -> None: ...


class _NoFinancing:
    """A node without a consumer credit policy: every instalment checkout is refused."""

    def finance(self, connection, *, checkout_id, buyer_account_id, currency, instalments, orders, now_ms):
        raise Refused(result_pb2.RESULT_CODE_INSTALMENTS_TERM_NOT_OFFERED,
                      "this bank offers no instalments ([node].consumer_credit_policy in fedmall.toml)")

    def unwind(self, connection, *, order_id, entry_id, now_ms):
        raise AssertionError(f"order {order_id} is financed, but this node has no financing")

    def refunded(self, connection, *, order_id, amount_minor, cause_id, now_ms):
        raise AssertionError(f"order {order_id} is financed, but this node has no financing")


NO_FINANCING: Financing = _NoFinancing()
