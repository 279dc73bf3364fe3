"""The buyer's orders worker on its own, against fake peers and transfers: a seller bank that
does not answer is asked once per pass, and holds up no other bank's orders."""
from __future__ import annotations

import grpc
import sqlalchemy as sa

from fedmall.v1 import marketplace_pb2 as mp
from fedmall.v1 import result_pb2 as rc

from node.bank import ledger, store
from node.bank.settlement_credits import NoClaims
from node.bank.transfers import SendOutcome
from node.market import store as tables
from node.market.buyer_orders import BuyerOrderService
from node.market.orders import Item, items_to_json
from tests.node.books import node_engine, open_account  # noqa: F401
from tests.node.market.proofs import SIGNING_KEYS
from tests.support.ids import uuid_of

DOWN, UP = "bank-down", "bank-up"


class _NoAnswer(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.DEADLINE_EXCEEDED


class FakePeers:
    """UP places every order; DOWN never answers. Records each PlaceOrder's (bank, order id)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def marketplace(self, bank_id: str):
        peers = self

        class Stub:
            def PlaceOrder(self, request, timeout):  # noqa: N802 - the gRPC method name
                peers.calls.append((bank_id, request.order_id))
                if bank_id == DOWN:
                    raise _NoAnswer()
                return mp.PlaceOrderResponse(result=rc.RESULT_CODE_OK, settlement_account_id="settle")
        return Stub()

    def call_failed(self) -> None:
        pass


class FakeTransfers:
    """A quote from DOWN never comes (UNAVAILABLE); UP's releases go out. Records (bank, transfer id)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def send_system(self, request, *, internal_source: bool) -> SendOutcome:
        self.calls.append((request.payee_bank_id, request.transfer_id))
        code = rc.RESULT_CODE_UNAVAILABLE if request.payee_bank_id == DOWN else rc.RESULT_CODE_OK
        return SendOutcome(result=code, status="")


def service(engine, peers: FakePeers, transfers: FakeTransfers, now_s: list[float]) -> BuyerOrderService:
    return BuyerOrderService(engine, bank_id="bank-a", peers=peers, transfers=transfers, clock=lambda: now_s[0],
                             auto_confirm_after_s=60, recovery_age_ms=1_000, release_retry_pause_ms=5_000,
                             settlement_credit_hook=NoClaims(), signing_key=SIGNING_KEYS["bank-a"])


def add_orders(engine, bank_id: str, count: int, *, state: str, now_ms: int) -> list[str]:
    """Orders escrowed at now_ms (older first); SHIPPED ones due for auto-confirm at once."""
    order_ids = []
    with engine.begin() as connection:
        for index in range(count):
            order_id = uuid_of(f"{bank_id}-{index}")
            connection.execute(tables.checkouts.insert().values(
                checkout_id=order_id, buyer_account_id="buyer", request_sha256="0" * 64, created_at_unix_ms=now_ms))
            connection.execute(tables.buyer_orders.insert().values(
                order_id=order_id, checkout_id=order_id, buyer_account_id="buyer", seller_bank_id=bank_id,
                merchant_id="beta", items=items_to_json([Item(sku="mug", quantity=1, unit_price_minor=100)]),
                total_minor=100, currency="EUR", state=state, tracking_reference="", refunded_minor=0,
                problem=rc.RESULT_CODE_OK, problem_detail="", settlement_account_id="settle", release_attempt=0,
                auto_confirm_at_unix_ms=now_ms + index if state == "SHIPPED" else None,
                placed_at_unix_ms=now_ms + index, updated_at_unix_ms=now_ms + index))
            store.write_entries(connection, [ledger.move(
                f"escrow:{order_id}", "escrow", source="buyer", destination="@escrow/EUR", amount_minor=100,
                currency="EUR")], now_ms=now_ms)
            order_ids.append(order_id)
    return order_ids


def states(engine, bank_id: str) -> list[str]:
    table = tables.buyer_orders
    with engine.connect() as connection:
        return list(connection.scalars(sa.select(table.c.state).where(table.c.seller_bank_id == bank_id)
                                       .order_by(table.c.order_id)))


def test_recover__a_down_bank_is_asked_once_per_pass_and_the_healthy_banks_orders_are_placed(node_engine):
    open_account(node_engine, "buyer", balance_minor=10_000)
    add_orders(node_engine, DOWN, 5, state="PLACING", now_ms=0)  # Older: first in the pass.
    add_orders(node_engine, UP, 2, state="PLACING", now_ms=100)
    peers, now_s = FakePeers(), [10.0]
    orders = service(node_engine, peers, FakeTransfers(), now_s)
    orders.recover_step()
    assert [call for call in peers.calls if call[0] == DOWN] == [(DOWN, uuid_of(f"{DOWN}-0"))]
    assert states(node_engine, UP) == ["PAID", "PAID"]
    # The order it did not answer failed (money back); the others wait, PLACING, for the next pass.
    assert states(node_engine, DOWN) == ["FAILED"] + ["PLACING"] * 4
    orders.close()


def test_auto_confirm__a_down_banks_other_releases_wait_the_pause_unsent(node_engine):
    open_account(node_engine, "buyer", balance_minor=10_000)
    add_orders(node_engine, DOWN, 4, state="SHIPPED", now_ms=0)
    add_orders(node_engine, UP, 2, state="SHIPPED", now_ms=100)
    transfers, now_s = FakeTransfers(), [10.0]
    orders = service(node_engine, FakePeers(), transfers, now_s)
    orders.auto_confirm_step()
    assert [bank for bank, _ in transfers.calls] == [DOWN, UP, UP]
    orders.release_step()  # The same pass: nothing of DOWN's is due again yet.
    assert [bank for bank, _ in transfers.calls].count(DOWN) == 1
    assert states(node_engine, DOWN) == ["RECEIVED"] * 4
    table = tables.buyer_orders
    with node_engine.connect() as connection:
        waiting = connection.execute(sa.select(table.c.problem, table.c.release_retry_at_unix_ms).where(
            table.c.seller_bank_id == DOWN)).all()
    assert waiting == [(rc.RESULT_CODE_UNAVAILABLE, 15_000)] * 4
    # After the pause: one call again, not one per order.
    now_s[0] = 16.0
    orders.release_step()
    assert [bank for bank, _ in transfers.calls].count(DOWN) == 2
    orders.close()


def test_release__a_down_bank_is_asked_once_and_the_healthy_banks_release_goes_out(node_engine):
    open_account(node_engine, "buyer", balance_minor=10_000)
    down = add_orders(node_engine, DOWN, 3, state="SHIPPED", now_ms=0)
    up = add_orders(node_engine, UP, 1, state="SHIPPED", now_ms=100)
    transfers, now_s = FakeTransfers(), [10.0]
    orders = service(node_engine, FakePeers(), transfers, now_s)
    for order_id in down + up:  # RECEIVED, the release not sent yet (as after a crash).
        assert orders._receive(order_id)
    orders.release_step()
    assert [bank for bank, _ in transfers.calls] == [DOWN, UP]
    orders.close()
