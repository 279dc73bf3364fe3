"""Orders at the buyer's bank: checkout, escrow, confirm, cancel, release.

    Checkout         -> PLACING            escrow:<order>    buyer -x, @escrow +x, in the transaction
                                           that writes the orders; then PlaceOrder at the seller's bank,
                                           with an EscrowStatement of the order signed by this bank
                                           (node.market.escrow_proofs). With N instalments the bank
                                           funds the escrow instead (node.market.financing): the
                                           financing's escrow:<order> takes x out of the bank's
                                           lending, not the buyer's account, and opens a plan; every
                                           unescrow:<order> below then goes back into the plan, and a
                                           counted refund pays the buyer's debt down first
                     PLACING -> PAID       the seller reserved the stock (no money moves)
                     PLACING -> FAILED     the seller refused or did not answer (or recovery gave up);
                                           unescrow:<order>  @escrow -x, buyer +x, in the same transaction
    event SHIPPED    PAID -> SHIPPED       tracking, auto_confirm_at = now + auto_confirm_after_s
    ConfirmReceipt   SHIPPED -> RECEIVED   (or the auto-confirm timer ran out), then the release:
                     same bank:  RECEIVED -> COMPLETED   release:<order>  @escrow -x, merchant +x
                     other bank: an interbank transfer from @escrow to the merchant's settlement
                                 account; COMPLETED when it commits (release_committed, in the
                                 notice's transaction). If it aborts the reversal puts the money
                                 back in @escrow, `problem` says why, and release_step tries the
                                 next attempt after a pause.
    CancelOrder      PAID -> CANCELLING    with the CANCELLED event queued for the seller, in one
                                           transaction (shown as PAID); then the seller is asked at once
                     CANCELLING -> CANCELLED   the seller agreed (it has not shipped), in the same
                                           transaction as unescrow:<order>  @escrow -x, buyer +x
                     CANCELLING -> PAID    the seller refused (it shipped). No answer: the event
                                           sender's answer finishes it (event_answered)
    event DECLINED   PAID|CANCELLING -> CANCELLED   the merchant will not ship; unescrow:<order>
                                           @escrow -x, buyer +x in the same transaction; problem
                                           ORDER_DECLINED with the merchant's reason
    event RESERVATION_EXPIRED   the same, problem RESERVATION_EXPIRED: the merchant did not ship
                                           within the seller's bank's reservation hold
    event REFUNDED   COMPLETED|REFUNDED -> REFUNDED   refunded += x, only on the money (below)

A refund counts only once its money is in this bank's books. From another bank, the event
names the return transfer: an incoming transfer COMMITTED here, from the order's seller bank,
to the order's buyer, for the amount and currency of the refund, under the order's refund
reference (node.market.orders.refund_reference), and not counted before (buyer_refunds, keyed
by transfer: each transfer counts once, for one order and one event); the refunds counted never
add up to more than the order's total. Else REFUND_NOT_PAID, TRANSFER_ALREADY_COUNTED or
REFUND_EXCEEDS_PAID, and nothing changes; a transfer accepted here but not yet committed answers
UNAVAILABLE (the seller's bank sends the event again). A refund by this bank's own merchant is a
book entry written with its event (node.market.seller_orders), so it is taken as it comes.

Every state change is a conditional update from the states that allow it, in the
transaction that posts its money, so a retry or a second worker changes nothing twice.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import grpc
import sqlalchemy as sa

from fedmall import logs
from fedmall.database import read_connection
from fedmall.envelope import SigningKey
from fedmall.results import FedmallError, name_of
from fedmall.v1 import marketplace_pb2, money_pb2, result_pb2

from node import fields, limits
from node.bank import ledger, store
from node.bank.accounts import load_customer_account
from node.bank.settlement_credits import SettlementCreditHook, book_settlement_credits
from node.bank.transfers import ABORTED, COMMITTED, SendRequest, TransferService
from node.errors import InvalidRequest, Refused, Unavailable
from node.market import escrow_proofs, order_events, store as tables
from node.market.financing import NO_FINANCING, FinancedOrder, Financing
from node.market.merchants import check_quantity
from node.market.order_events import MarketplacePeers
from node.market.orders import (
    CANCELLED, CANCELLING, COMPLETED, FAILED, ON_ITS_WAY, PAID, PLACING, RECEIVED, REFUNDED, SHIPPED, Item, OrderView,
    buyer_view, derived_id, items_from_json, items_to_json, items_total, payment_problem, refund_reference)

log = logging.getLogger(__name__)

OK = result_pb2.RESULT_CODE_OK
EXISTS = result_pb2.RESULT_CODE_EXISTS
UNAVAILABLE = result_pb2.RESULT_CODE_UNAVAILABLE
NO_PROBLEM = result_pb2.RESULT_CODE_OK  # An order without a problem says OK.


@dataclass(frozen=True, slots=True)
class CartLine:
    seller_bank_id: str
    merchant_id: str
    sku: str
    quantity: int
    unit_price_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    result: int                  # OK, or EXISTS for a retry of the same checkout.
    orders: list[OrderView]


def check_lines(lines: Sequence[CartLine]) -> None:
    if not 0 < len(lines) <= limits.items_per_cart_max:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, f"1..{limits.items_per_cart_max} items per cart")
    for line in lines:
        fields.check_id(line.seller_bank_id, "seller bank id")
        fields.check_id(line.merchant_id, "merchant id")
        fields.check_id(line.sku, "sku")
        check_quantity(line.quantity)
        fields.check_amount(line.unit_price_minor)
        fields.check_currency(line.currency)


def split_cart(lines: Sequence[CartLine]) -> dict[tuple[str, str], list[Item]]:
    """One order per (seller bank, merchant), in cart order. Pure; refuses a SKU twice in one order."""
    orders: dict[tuple[str, str], list[Item]] = {}
    for line in lines:
        items = orders.setdefault((line.seller_bank_id, line.merchant_id), [])
        if any(item.sku == line.sku for item in items):
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, f"{line.sku!r} twice for one merchant")
        items.append(Item(sku=line.sku, quantity=line.quantity, unit_price_minor=line.unit_price_minor))
        if len(items) > limits.items_per_order_max:
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                                 f"at most {limits.items_per_order_max} items per merchant")
    return orders


def request_sha256(buyer_account_id: str, lines: Sequence[CartLine], instalments: int = 0) -> str:
    """A checkout paid now hashes as it always has, so its retries still match."""
    request = [buyer_account_id, [list(vars_of(line)) for line in lines]] + ([instalments] if instalments else [])
    text = json.dumps(request, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def vars_of(line: CartLine) -> tuple:
    return (line.seller_bank_id, line.merchant_id, line.sku, line.quantity, line.unit_price_minor, line.currency)


def escrow_account(currency: str) -> str:
    return ledger.internal_account_id(ledger.ESCROW, currency)


def unescrow(connection: sa.Connection, row, *, financing: Financing, now_ms: int) -> None:
    """The order's whole escrow back to its buyer (unescrow:<order>), or into its instalment plan
    when the bank financed it, in the caller's transaction and only after the caller moved the
    order to a state that ends it: written once."""
    entry_id = f"unescrow:{row.order_id}"
    if row.instalments:
        financing.unwind(connection, order_id=row.order_id, entry_id=entry_id, now_ms=now_ms)
        return
    store.write_entries(connection, [ledger.move(
        entry_id, "unescrow", source=escrow_account(row.currency), destination=row.buyer_account_id,
        amount_minor=row.total_minor, currency=row.currency)], now_ms=now_ms)


class BuyerOrderService:
    def __init__(self, engine: sa.Engine, *, bank_id: str, peers: MarketplacePeers, transfers: TransferService,
                 clock: Callable[[], float], auto_confirm_after_s: int, settlement_credit_hook: SettlementCreditHook,
                 signing_key: SigningKey, on_event_written: Callable[[], None] = lambda: None,
                 recovery_age_ms: int = limits.order_recovery_age_ms,
                 release_retry_pause_ms: int = limits.release_retry_pause_ms,
                 financing: Financing = NO_FINANCING) -> None:
        """signing_key: this bank's, as the clearing registered it; it signs the escrow statements.
        financing: how checkouts with instalments are financed (node.credit.instalments)."""
        self._engine = engine
        self._financing = financing
        self._bank_id = bank_id
        self._signing_key = signing_key
        self._peers = peers
        self._transfers = transfers
        self._clock = clock
        self._auto_confirm_after_ms = auto_confirm_after_s * 1000
        self._on_event_written = on_event_written
        self._settlement_credit_hook = settlement_credit_hook
        self._recovery_age_ms = recovery_age_ms
        self._release_retry_pause_ms = release_retry_pause_ms
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix=f"{bank_id}-place")

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # Checkout -------------------------------------------------------------------------------

    def checkout(self, *, checkout_id: str, buyer_account_id: str, lines: Sequence[CartLine],
                 instalments: int = 0) -> CheckoutResult:
        """Split the cart, escrow every order's total (from the buyer's account, or financed by this
        bank in instalments), then place each order at its seller's bank."""
        fields.check_uuid(checkout_id, "checkout id")
        fields.check_account_id(buyer_account_id)
        check_lines(lines)
        if not 0 <= instalments <= limits.instalments_per_plan_max:
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                                 f"instalments must be 0..{limits.instalments_per_plan_max}")
        digest = request_sha256(buyer_account_id, lines, instalments)
        replay = self._replay(checkout_id, digest)
        if replay is not None:
            return replay
        orders = split_cart(lines)
        currency = lines[0].currency
        with self._engine.begin() as connection:
            connection.execute(sa.select(store.accounts.c.account_id).where(  # Lock the balance checked below.
                store.accounts.c.account_id == buyer_account_id).with_for_update())
            account = load_customer_account(connection, buyer_account_id)
            if account.closed:
                raise Refused(result_pb2.RESULT_CODE_ACCOUNT_CLOSED, f"account {buyer_account_id!r} is closed")
            if any(line.currency != account.currency for line in lines):
                raise Refused(result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED,
                              f"account {buyer_account_id!r} holds {account.currency}")
            totals = {key: items_total(items) for key, items in orders.items()}
            if not instalments and sum(totals.values()) > account.balance_minor:
                raise Refused(result_pb2.RESULT_CODE_INSUFFICIENT_FUNDS,
                              f"the cart costs {sum(totals.values())}, the balance is {account.balance_minor}")
            now_ms = self._now_ms()
            try:
                with connection.begin_nested():
                    connection.execute(tables.checkouts.insert().values(
                        checkout_id=checkout_id, buyer_account_id=buyer_account_id, request_sha256=digest,
                        created_at_unix_ms=now_ms))
            except sa.exc.IntegrityError:
                replay = None  # Another call with this id won the race: answer as a replay below.
            else:
                replay = False
                rows = [dict(
                    order_id=derived_id(self._bank_id, checkout_id, seller_bank_id, merchant_id),
                    checkout_id=checkout_id, buyer_account_id=buyer_account_id, seller_bank_id=seller_bank_id,
                    merchant_id=merchant_id, items=items_to_json(items), total_minor=totals[(seller_bank_id, merchant_id)],
                    currency=currency, state=PLACING, tracking_reference="", refunded_minor=0, problem=NO_PROBLEM,
                    problem_detail="", settlement_account_id="", release_attempt=0, release_transfer_id=None,
                    release_retry_at_unix_ms=None, auto_confirm_at_unix_ms=None, placed_at_unix_ms=now_ms,
                    updated_at_unix_ms=now_ms, instalments=instalments)
                    for (seller_bank_id, merchant_id), items in orders.items()]
                connection.execute(tables.buyer_orders.insert(), rows)
                # The money is in escrow before any seller reserves: PAID can only follow a held escrow.
                if instalments:  # A refusal raises here and rolls the whole checkout back.
                    entries = self._financing.finance(
                        connection, checkout_id=checkout_id, buyer_account_id=buyer_account_id, currency=currency,
                        instalments=instalments, now_ms=now_ms, orders=[FinancedOrder(
                            order_id=row["order_id"], escrow_entry_id=escrow_proofs.escrow_entry_id(row["order_id"]),
                            total_minor=row["total_minor"]) for row in rows])
                else:
                    entries = [ledger.move(
                        escrow_proofs.escrow_entry_id(row["order_id"]), "escrow", source=buyer_account_id,
                        destination=escrow_account(currency), amount_minor=row["total_minor"], currency=currency)
                        for row in rows]
                store.write_entries(connection, entries, now_ms=now_ms)
        if replay is None:
            return self._replay(checkout_id, digest)
        self._place_all(self._orders_of(checkout_id))
        return CheckoutResult(result=OK, orders=self._orders_of(checkout_id))

    def _replay(self, checkout_id: str, digest: str) -> CheckoutResult | None:
        with read_connection(self._engine) as connection:
            row = connection.execute(sa.select(tables.checkouts).where(
                tables.checkouts.c.checkout_id == checkout_id)).first()
        if row is None:
            return None
        if row.request_sha256 != digest:
            raise Refused(result_pb2.RESULT_CODE_MODIFIED_REQUEST, f"checkout {checkout_id!r} had other content")
        return CheckoutResult(result=EXISTS, orders=self._orders_of(checkout_id))

    def _orders_of(self, checkout_id: str) -> list[OrderView]:
        table = tables.buyer_orders
        with read_connection(self._engine) as connection:
            rows = connection.execute(sa.select(table).where(table.c.checkout_id == checkout_id)
                                      .order_by(table.c.seller_bank_id, table.c.merchant_id)).all()
        return [buyer_view(row, bank_id=self._bank_id) for row in rows]

    def _place_all(self, orders: Sequence[OrderView]) -> None:
        """PlaceOrder at every seller in parallel, then mark each order PAID (or FAILED) on its own."""
        futures = {self._pool.submit(self._place, order): order for order in orders if order.state == PLACING}
        for future in concurrent.futures.as_completed(futures):
            self._placed(futures[future], future.result())

    def _place_by_bank(self, orders: Sequence[OrderView]) -> None:
        """Each seller bank's orders in turn, the banks in parallel; a bank that does not answer
        is asked nothing more this time (its other orders stay PLACING for the next pass)."""
        by_bank: dict[str, list[OrderView]] = {}
        for order in orders:
            if order.state == PLACING:
                by_bank.setdefault(order.seller_bank_id, []).append(order)
        futures = [self._pool.submit(self._place_in_turn, bank_orders) for bank_orders in by_bank.values()]
        for future in concurrent.futures.as_completed(futures):
            for order, outcome in future.result():
                self._placed(order, outcome)

    def _place_in_turn(self, orders: Sequence[OrderView]) -> list[tuple[OrderView, tuple[int, str, str]]]:
        """One bank's orders one after another, up to and including the first it does not answer."""
        outcomes = []
        for order in orders:
            outcome = self._place(order)
            outcomes.append((order, outcome))
            if outcome[0] == UNAVAILABLE:
                break
        return outcomes

    def _placed(self, order: OrderView, outcome: tuple[int, str, str]) -> None:
        code, settlement_account_id, detail = outcome
        if code in (OK, EXISTS):
            self._paid(order.order_id, settlement_account_id)
        else:
            self._fail(order.order_id, code, detail,
                       tell_seller=code in (UNAVAILABLE, result_pb2.RESULT_CODE_INVALID_FIELD))

    def _place(self, order: OrderView) -> tuple[int, str, str]:
        # The escrow was written with the order (PLACING), at placed_at: the statement says so, signed.
        statement = self._signing_key.sign(escrow_proofs.statement_of(
            order_id=order.order_id, buyer_bank_id=self._bank_id, seller_bank_id=order.seller_bank_id,
            merchant_id=order.merchant_id, amount_minor=order.total_minor, currency=order.currency,
            escrowed_at_unix_ms=order.placed_at_unix_ms))
        request = marketplace_pb2.PlaceOrderRequest(
            order_id=order.order_id, checkout_id=order.checkout_id, buyer_account_id=order.buyer_account_id,
            merchant_id=order.merchant_id, total=money_pb2.Money(amount_minor=order.total_minor, currency=order.currency),
            items=[marketplace_pb2.OrderItem(
                sku=item.sku, quantity=item.quantity,
                unit_price=money_pb2.Money(amount_minor=item.unit_price_minor, currency=order.currency))
                for item in order.items], escrow_statement=statement)
        try:
            stub = self._peers.marketplace(order.seller_bank_id)
            response = stub.PlaceOrder(request, timeout=limits.place_order_timeout_ms / 1000)
        except FedmallError as error:
            return error.code, "", str(error)
        except grpc.RpcError as error:
            self._peers.call_failed()
            return UNAVAILABLE, "", f"{order.seller_bank_id} did not answer: {error.code().name}"
        if response.result in (OK, EXISTS) and not ledger.is_valid_account_id(response.settlement_account_id):
            # The escrow could never be released to it: fail the order now, money back, seller told.
            return (result_pb2.RESULT_CODE_INVALID_FIELD, "",
                    f"{order.seller_bank_id} named no usable settlement account")
        return response.result, response.settlement_account_id, response.detail

    def _paid(self, order_id: str, settlement_account_id: str) -> None:
        """PLACING -> PAID: the seller reserved; the money has been in escrow since checkout."""
        table = tables.buyer_orders
        with self._engine.begin() as connection:
            connection.execute(table.update().where(table.c.order_id == order_id, table.c.state == PLACING)
                               .values(state=PAID, settlement_account_id=settlement_account_id,
                                       updated_at_unix_ms=self._now_ms()))

    def _fail(self, order_id: str, code: int, detail: str, *, tell_seller: bool) -> None:
        table = tables.buyer_orders
        now_ms = self._now_ms()
        with self._engine.begin() as connection:
            row = connection.execute(sa.select(table).where(table.c.order_id == order_id, table.c.state == PLACING)).first()
            if row is None:
                return
            self._mark_failed(connection, row, code, detail, tell_seller=tell_seller, now_ms=now_ms)
        if tell_seller:
            self._on_event_written()

    def _mark_failed(self, connection: sa.Connection, row, code: int, detail: str, *, tell_seller: bool,
                     now_ms: int) -> None:
        """PLACING -> FAILED and the escrow back to the buyer, in the caller's transaction.

        tell_seller: the seller may hold stock for it (it answered late or not at all).
        """
        table = tables.buyer_orders
        moved = connection.execute(table.update().where(table.c.order_id == row.order_id, table.c.state == PLACING)
                                   .values(state=FAILED, problem=code, problem_detail=detail[:200],
                                           updated_at_unix_ms=now_ms))
        if moved.rowcount == 0:
            return
        unescrow(connection, row, financing=self._financing, now_ms=now_ms)
        if tell_seller:
            order_events.enqueue(connection, event_id=derived_id(row.order_id, "cancel"), order_id=row.order_id,
                                 recipient_bank_id=row.seller_bank_id, kind=order_events.CANCELLED, now_ms=now_ms)

    # The buyer acts ---------------------------------------------------------------------------

    def _own_order(self, connection: sa.Connection, buyer_account_id: str, order_id: str):
        fields.check_account_id(buyer_account_id)
        fields.check_uuid(order_id, "order id")
        row = connection.execute(sa.select(tables.buyer_orders).where(tables.buyer_orders.c.order_id == order_id)).first()
        if row is None or row.buyer_account_id != buyer_account_id:  # Someone else's: as if it did not exist.
            raise Refused(result_pb2.RESULT_CODE_ORDER_UNKNOWN, f"no order {order_id!r} for {buyer_account_id!r}")
        return row

    def get(self, *, buyer_account_id: str, order_id: str) -> OrderView:
        with read_connection(self._engine) as connection:
            return buyer_view(self._own_order(connection, buyer_account_id, order_id), bank_id=self._bank_id)

    def cancel(self, *, buyer_account_id: str, order_id: str) -> OrderView:
        """PAID -> CANCELLING (recorded, event queued), then ask the seller's bank and apply its answer.

        If the seller's bank does not answer, the cancellation stays recorded and the event
        sender finishes it; the caller hears UNAVAILABLE and may ask again.
        """
        table = tables.buyer_orders
        event_id = derived_id(order_id, "cancel")
        with self._engine.begin() as connection:
            row = self._own_order(connection, buyer_account_id, order_id)
            if row.state not in (PAID, CANCELLING):
                raise Refused(result_pb2.RESULT_CODE_ORDER_STATE_INVALID, f"order {order_id!r} is {row.state}")
            now_ms = self._now_ms()
            connection.execute(table.update().where(table.c.order_id == order_id, table.c.state == PAID)
                               .values(state=CANCELLING, updated_at_unix_ms=now_ms))
            order_events.enqueue(connection, event_id=event_id, order_id=order_id,
                                 recipient_bank_id=row.seller_bank_id, kind=order_events.CANCELLED, now_ms=now_ms)
        request = marketplace_pb2.NotifyOrderEventRequest(event_id=event_id, order_id=order_id,
                                                          kind=order_events.CANCELLED)
        try:
            response = self._peers.marketplace(row.seller_bank_id).NotifyOrderEvent(
                request, timeout=limits.rpc_timeout_ms / 1000)
        except grpc.RpcError as error:
            self._peers.call_failed()
            self._on_event_written()
            raise Unavailable(f"{row.seller_bank_id} did not answer ({error.code().name}); the cancellation "
                              "is recorded and completes when it does") from None
        if response.result in order_events.RETRY_CODES:
            self._on_event_written()
            raise Unavailable(f"{row.seller_bank_id} cannot answer now; the cancellation is recorded")
        with self._engine.begin() as connection:
            self._cancel_answered(connection, order_id, response.result, now_ms=self._now_ms())
            order_events.mark_sent(connection, event_id=event_id, answer=response.result)
            row = connection.execute(sa.select(table).where(table.c.order_id == order_id)).one()
        if row.state != CANCELLED:
            raise Refused(response.result if response.result not in (OK, EXISTS)
                          else result_pb2.RESULT_CODE_ORDER_STATE_INVALID,
                          f"the seller's bank refused the cancellation; order {order_id!r} is {row.state}")
        return buyer_view(row, bank_id=self._bank_id)

    def _cancel_answered(self, connection: sa.Connection, order_id: str, code: int, *, now_ms: int) -> None:
        """The seller's definitive answer to a cancellation: CANCELLED with the escrow back, or PAID again."""
        table = tables.buyer_orders
        agreed = code in (OK, EXISTS)
        moved = connection.execute(table.update().where(table.c.order_id == order_id, table.c.state == CANCELLING)
                                   .values(state=CANCELLED if agreed else PAID, updated_at_unix_ms=now_ms))
        if moved.rowcount and agreed:
            row = connection.execute(sa.select(table).where(table.c.order_id == order_id)).one()
            unescrow(connection, row, financing=self._financing, now_ms=now_ms)
        elif moved.rowcount:
            log.info("order %s: the seller refused the cancellation (%s); PAID again", order_id, name_of(code),
                     extra=logs.fields(order_id=order_id, result=name_of(code)))

    def event_answered(self, connection: sa.Connection, event, code: int, *, now_ms: int) -> None:
        """In the event sender's transaction: a definitive answer to an event this bank sent."""
        if event.kind == order_events.CANCELLED:
            self._cancel_answered(connection, event.order_id, code, now_ms=now_ms)

    def confirm(self, *, buyer_account_id: str, order_id: str) -> OrderView:
        """SHIPPED -> RECEIVED, and the escrow is released to the merchant."""
        with read_connection(self._engine) as connection:
            row = self._own_order(connection, buyer_account_id, order_id)
        if row.state != SHIPPED or not self._receive(order_id):
            raise Refused(result_pb2.RESULT_CODE_ORDER_STATE_INVALID, f"order {order_id!r} is {row.state}")
        self._release(order_id)
        return self.get(buyer_account_id=buyer_account_id, order_id=order_id)

    def _receive(self, order_id: str) -> bool:
        """SHIPPED -> RECEIVED; a book release at once when the merchant banks here. False if not SHIPPED."""
        table = tables.buyer_orders
        now_ms = self._now_ms()
        with self._engine.begin() as connection:
            row = connection.execute(sa.select(table).where(table.c.order_id == order_id)).one()
            transfer_id = derived_id(order_id, "release", "1")
            moved = connection.execute(table.update().where(table.c.order_id == order_id, table.c.state == SHIPPED)
                                       .values(state=RECEIVED, release_attempt=1, release_transfer_id=transfer_id,
                                               release_retry_at_unix_ms=None, updated_at_unix_ms=now_ms))
            if moved.rowcount == 0:
                return False
            if row.seller_bank_id == self._bank_id:  # A settlement credit: the hook claims its share.
                book_settlement_credits(connection, [ledger.move(
                    f"release:{order_id}", "release", source=escrow_account(row.currency),
                    destination=row.settlement_account_id, amount_minor=row.total_minor, currency=row.currency)],
                    self._settlement_credit_hook, now_ms=now_ms)
                connection.execute(table.update().where(table.c.order_id == order_id).values(release_transfer_id=None))
                self._complete(connection, row, now_ms=now_ms)
        return True

    def _complete(self, connection: sa.Connection, row, *, now_ms: int) -> None:
        """RECEIVED -> COMPLETED; the COMPLETED event names the release transfer that paid the merchant
        (none for a book release here), which the seller's bank checks in its own books."""
        table = tables.buyer_orders
        connection.execute(table.update().where(table.c.order_id == row.order_id, table.c.state == RECEIVED).values(
            state=COMPLETED, problem=NO_PROBLEM, problem_detail="", release_retry_at_unix_ms=None,
            updated_at_unix_ms=now_ms))
        interbank = row.seller_bank_id != self._bank_id
        order_events.enqueue(connection, event_id=derived_id(row.order_id, "completed"), order_id=row.order_id,
                             recipient_bank_id=row.seller_bank_id, kind=order_events.COMPLETED, now_ms=now_ms,
                             transfer_id=row.release_transfer_id if interbank else "",
                             amount_minor=row.total_minor if interbank else 0,
                             currency=row.currency if interbank else "")

    def _release(self, order_id: str) -> int:
        """Send the current release attempt of a RECEIVED order (other bank); a refusal is kept as the problem.
        The send's result (OK when there was nothing to send)."""
        table = tables.buyer_orders
        with read_connection(self._engine) as connection:
            row = connection.execute(sa.select(table).where(table.c.order_id == order_id)).one()
        if row.state != RECEIVED or row.seller_bank_id == self._bank_id:
            self._on_event_written()
            return OK
        outcome = self._transfers.send_system(SendRequest(
            transfer_id=row.release_transfer_id, from_account_id=escrow_account(row.currency),
            payee_bank_id=row.seller_bank_id, payee_account_id=row.settlement_account_id,
            amount_minor=row.total_minor, currency=row.currency, reference=f"order {order_id}",
            debtor_account_id=row.buyer_account_id), internal_source=True)
        if outcome.result not in (OK, EXISTS):
            log.info("release of order %s refused before it went out: %s", order_id, name_of(outcome.result),
                     extra=logs.fields(order_id=order_id, result=name_of(outcome.result)))
            self._set_problem(order_id, row.release_attempt, outcome.result, "the release transfer was refused")
        return outcome.result

    def _set_problem(self, order_id: str, attempt: int, code: int, detail: str) -> None:
        table = tables.buyer_orders
        now_ms = self._now_ms()
        with self._engine.begin() as connection:
            connection.execute(table.update().where(
                table.c.order_id == order_id, table.c.state == RECEIVED, table.c.release_attempt == attempt).values(
                problem=code, problem_detail=detail, release_retry_at_unix_ms=now_ms + self._release_retry_pause_ms,
                updated_at_unix_ms=now_ms))

    def release_committed(self, connection: sa.Connection, transfer_ids: Sequence[str], *, now_ms: int) -> bool:
        """In a COMMITTED notice's transaction: orders whose release committed -> COMPLETED."""
        if not transfer_ids:
            return False
        table = tables.buyer_orders
        rows = connection.execute(sa.select(table).where(
            table.c.release_transfer_id.in_(list(transfer_ids)), table.c.state == RECEIVED)).all()
        for row in rows:
            self._complete(connection, row, now_ms=now_ms)
        return bool(rows)

    # Events from the seller's bank ---------------------------------------------------------------

    def apply_event(self, *, sender_bank_id: str, event: marketplace_pb2.NotifyOrderEventRequest) -> int:
        """SHIPPED, DECLINED, RESERVATION_EXPIRED or REFUNDED from the order's seller bank; OK, EXISTS
        or why not."""
        order_events.check_event_fields(event)
        table = tables.buyer_orders
        now_ms = self._now_ms()
        with self._engine.begin() as connection:
            row = connection.execute(sa.select(table).where(table.c.order_id == event.order_id)).first()
            if row is None:
                raise Refused(result_pb2.RESULT_CODE_ORDER_UNKNOWN, f"no order {event.order_id!r}")
            if row.seller_bank_id != sender_bank_id:
                raise Refused(result_pb2.RESULT_CODE_FORBIDDEN, f"{sender_bank_id!r} is not the order's seller bank")
            if row.state == PLACING:
                raise Unavailable(f"order {event.order_id!r} is still being placed")
            if event.kind in order_events.RETURNS_ESCROW:
                return self._declined(connection, row, event, sender_bank_id=sender_bank_id, now_ms=now_ms)
            if event.kind == order_events.SHIPPED:
                if row.state in (SHIPPED, RECEIVED, COMPLETED, REFUNDED):
                    return EXISTS
                if row.state not in (PAID, CANCELLING):  # Shipped before the cancel arrived: it will be refused.
                    raise Refused(result_pb2.RESULT_CODE_ORDER_STATE_INVALID, f"order {event.order_id!r} is {row.state}")
                connection.execute(table.update().where(
                    table.c.order_id == row.order_id, table.c.state.in_([PAID, CANCELLING])).values(
                    state=SHIPPED, tracking_reference=event.tracking_reference,
                    auto_confirm_at_unix_ms=now_ms + self._auto_confirm_after_ms, updated_at_unix_ms=now_ms))
                return OK
            return self._refunded(connection, row, event, sender_bank_id=sender_bank_id, now_ms=now_ms)

    def _declined(self, connection: sa.Connection, row, event, *, sender_bank_id: str, now_ms: int) -> int:
        """The merchant will not ship (DECLINED), or did not in time (RESERVATION_EXPIRED): CANCELLED,
        the escrow back to the buyer, the reason shown.

        The seller declines (or expires) only an order no cancellation had reached, so an order
        already CANCELLED (the buyer's cancel crossed it) was declined too: it says so."""
        table = tables.buyer_orders
        if event.kind == order_events.DECLINED:
            problem, why = result_pb2.RESULT_CODE_ORDER_DECLINED, "declined by the merchant"
        else:
            problem, why = result_pb2.RESULT_CODE_RESERVATION_EXPIRED, "the seller's bank let the reservation expire"
        declined = dict(problem=problem, updated_at_unix_ms=now_ms,
                        problem_detail=(f"{why}: {event.reason}" if event.reason else why)[:200])
        if row.state in (CANCELLED, FAILED):  # The money is back already.
            connection.execute(table.update().where(
                table.c.order_id == row.order_id, table.c.state == CANCELLED,
                table.c.problem == NO_PROBLEM).values(**declined))
            return EXISTS
        if row.state not in (PAID, CANCELLING):
            raise Refused(result_pb2.RESULT_CODE_ORDER_STATE_INVALID, f"order {row.order_id!r} is {row.state}")
        order_events.record_received(connection, event_id=event.event_id, sender_bank_id=sender_bank_id,
                                     order_id=row.order_id, kind=event.kind, now_ms=now_ms)
        moved = connection.execute(table.update().where(
            table.c.order_id == row.order_id, table.c.state.in_([PAID, CANCELLING])).values(
            state=CANCELLED, **declined))
        if moved.rowcount:
            unescrow(connection, row, financing=self._financing, now_ms=now_ms)
        return OK

    def _refunded(self, connection: sa.Connection, row, event, *, sender_bank_id: str, now_ms: int) -> int:
        """refunded += the amount, once its money is here (see the module docstring); the caller's
        transaction rolls back every write of a refusal."""
        amount = event.amount
        fields.check_amount(amount.amount_minor)
        if amount.currency != row.currency:
            raise Refused(result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED, f"order {row.order_id!r} is in {row.currency}")
        if row.state not in (COMPLETED, REFUNDED):
            raise Refused(result_pb2.RESULT_CODE_ORDER_STATE_INVALID, f"order {row.order_id!r} is {row.state}")
        if not order_events.record_received(connection, event_id=event.event_id, sender_bank_id=sender_bank_id,
                                            order_id=row.order_id, kind=event.kind, now_ms=now_ms):
            return EXISTS  # This event was counted: a repeat changes nothing.
        if sender_bank_id != self._bank_id:
            self._count_refund_transfer(connection, row, event, sender_bank_id=sender_bank_id, now_ms=now_ms)
        table = tables.buyer_orders
        # Conditional and relative: two refunds racing (PostgreSQL) cannot pass the total together.
        updated = connection.execute(table.update().where(
            table.c.order_id == row.order_id,
            table.c.refunded_minor + amount.amount_minor <= table.c.total_minor).values(
            state=REFUNDED, refunded_minor=table.c.refunded_minor + amount.amount_minor, updated_at_unix_ms=now_ms))
        if updated.rowcount != 1:
            raise Refused(result_pb2.RESULT_CODE_REFUND_EXCEEDS_PAID, f"order {row.order_id!r} was paid {row.total_minor}")
        if row.instalments:  # The refund pays the buyer's debt down first.
            self._financing.refunded(connection, order_id=row.order_id, amount_minor=amount.amount_minor,
                                     cause_id=f"{sender_bank_id}/{event.event_id}", now_ms=now_ms)
        return OK

    @staticmethod
    def _count_refund_transfer(connection: sa.Connection, row, event, *, sender_bank_id: str, now_ms: int) -> None:
        """Count the return transfer the event names for this order, once; refused if it did not pay it."""
        incoming = store.incoming_transfers
        transfer = connection.execute(sa.select(incoming).where(
            incoming.c.transfer_id == event.transfer_id)).first() if event.transfer_id else None
        problem = payment_problem(transfer, payer_bank_id=sender_bank_id, payee_account_id=row.buyer_account_id,
                                  amount_minor=event.amount.amount_minor, currency=event.amount.currency,
                                  reference=refund_reference(row.order_id))
        if problem == ON_ITS_WAY:  # Accepted here, not committed yet: the sender asks again.
            raise Unavailable(f"refund transfer {event.transfer_id!r} is not committed here yet")
        if problem is not None:
            raise Refused(result_pb2.RESULT_CODE_REFUND_NOT_PAID,
                          f"transfer {event.transfer_id!r} {problem}: it is not a refund of order {row.order_id!r}")
        refunds = tables.buyer_refunds
        counted = connection.execute(sa.select(refunds).where(refunds.c.transfer_id == event.transfer_id)).first()
        if counted is None:
            try:
                with connection.begin_nested():
                    connection.execute(refunds.insert().values(
                        transfer_id=event.transfer_id, order_id=row.order_id, sender_bank_id=sender_bank_id,
                        event_id=event.event_id, amount_minor=event.amount.amount_minor,
                        currency=event.amount.currency, counted_at_unix_ms=now_ms))
                return
            except sa.exc.IntegrityError:  # Counted by an event racing this one (PostgreSQL).
                counted = connection.execute(sa.select(refunds).where(
                    refunds.c.transfer_id == event.transfer_id)).one()
        raise Refused(result_pb2.RESULT_CODE_TRANSFER_ALREADY_COUNTED,
                      f"transfer {event.transfer_id!r} was counted for order {counted.order_id!r} "
                      f"by event {counted.event_id!r}")

    # Workers ------------------------------------------------------------------------------------

    def auto_confirm_step(self) -> bool:
        """SHIPPED orders past their auto-confirm time: confirmed as if the buyer had. After a seller
        bank fails to answer, its other releases wait the retry pause instead of being sent."""
        table = tables.buyer_orders
        with read_connection(self._engine) as connection:
            rows = connection.execute(sa.select(table.c.order_id, table.c.seller_bank_id).where(
                table.c.state == SHIPPED, table.c.auto_confirm_at_unix_ms <= self._now_ms())
                .order_by(table.c.auto_confirm_at_unix_ms).limit(limits.orders_per_step_max)).all()
        failed_banks: set[str] = set()
        for row in rows:
            if not self._receive(row.order_id):
                continue
            log.info("order %s confirmed automatically", row.order_id,
                     extra=logs.fields(order_id=row.order_id, bank=row.seller_bank_id))
            if row.seller_bank_id in failed_banks:
                self._set_problem(row.order_id, 1, UNAVAILABLE, self._not_asked(row.seller_bank_id))
            elif self._release(row.order_id) in order_events.RETRY_CODES:
                failed_banks.add(row.seller_bank_id)
        return len(rows) == limits.orders_per_step_max

    @staticmethod
    def _not_asked(bank_id: str) -> str:
        return f"{bank_id} did not answer for another order; the release waits the retry pause"

    def release_step(self) -> bool:
        """RECEIVED orders whose release is not in flight: send it, note why it aborted, or try again.
        After a seller bank fails to answer, its other due orders wait the retry pause unsent."""
        table, outgoing = tables.buyer_orders, store.outgoing_transfers
        now_ms = self._now_ms()
        with read_connection(self._engine) as connection:
            rows = connection.execute(
                sa.select(table, outgoing.c.status.label("transfer_status"), outgoing.c.abort_reason)
                .select_from(table.outerjoin(outgoing, outgoing.c.transfer_id == table.c.release_transfer_id))
                .where(table.c.state == RECEIVED).order_by(table.c.updated_at_unix_ms)
                .limit(limits.orders_per_step_max)).all()
        failed_banks: set[str] = set()
        for row in rows:
            if row.seller_bank_id == self._bank_id or row.transfer_status in ("PENDING", "SUBMITTED"):
                continue
            due = row.release_retry_at_unix_ms is None or row.release_retry_at_unix_ms <= now_ms
            code = OK
            if row.transfer_status == COMMITTED:
                with self._engine.begin() as connection:
                    self._complete(connection, row, now_ms=now_ms)
            elif row.transfer_status == ABORTED and row.release_retry_at_unix_ms is None:
                self._set_problem(row.order_id, row.release_attempt, row.abort_reason,
                                  "the release transfer aborted; the money stays in escrow")
            elif due and row.transfer_status in (None, ABORTED) and row.seller_bank_id in failed_banks:
                self._set_problem(row.order_id, row.release_attempt, UNAVAILABLE, self._not_asked(row.seller_bank_id))
            elif row.transfer_status is None and due:
                code = self._release(row.order_id)
            elif row.transfer_status == ABORTED and due:
                code = self._next_attempt(row)
            if code in order_events.RETRY_CODES:
                failed_banks.add(row.seller_bank_id)
        return False

    def _next_attempt(self, row) -> int:
        table = tables.buyer_orders
        attempt = row.release_attempt + 1
        with self._engine.begin() as connection:
            moved = connection.execute(table.update().where(
                table.c.order_id == row.order_id, table.c.state == RECEIVED,
                table.c.release_attempt == row.release_attempt).values(
                release_attempt=attempt, release_transfer_id=derived_id(row.order_id, "release", str(attempt)),
                release_retry_at_unix_ms=None, updated_at_unix_ms=self._now_ms()))
        if not moved.rowcount:
            return OK
        log.info("order %s: release attempt %d", row.order_id, attempt,
                 extra=logs.fields(order_id=row.order_id, bank=row.seller_bank_id))
        return self._release(row.order_id)

    def recover_step(self) -> bool:
        """PLACING orders a crash left behind (money in escrow): place them again (idempotent), then PAID
        or FAILED. A seller bank that does not answer is asked nothing more this pass."""
        table = tables.buyer_orders
        with read_connection(self._engine) as connection:
            rows = connection.execute(sa.select(table).where(
                table.c.state == PLACING, table.c.placed_at_unix_ms <= self._now_ms() - self._recovery_age_ms)
                .order_by(table.c.placed_at_unix_ms).limit(limits.orders_per_step_max)).all()
        if rows:
            log.info("recovering %d orders left in PLACING", len(rows))
            self._place_by_bank([buyer_view(row, bank_id=self._bank_id) for row in rows])
        return False

    def escrow_held_minor(self, currency: str) -> int:
        with read_connection(self._engine) as connection:
            return escrow_held_by_currency(connection).get(currency, 0)


def escrow_held_by_currency(connection: sa.Connection) -> dict[str, int]:
    """What @escrow should hold, per currency: orders PLACING, PAID, CANCELLING, SHIPPED, RECEIVED
    whose release is not in flight (a release sent from @escrow has left it)."""
    table, outgoing = tables.buyer_orders, store.outgoing_transfers
    rows = connection.execute(
        sa.select(table.c.currency, table.c.total_minor, outgoing.c.status)
        .select_from(table.outerjoin(outgoing, outgoing.c.transfer_id == table.c.release_transfer_id))
        .where(table.c.state.in_([PLACING, PAID, CANCELLING, SHIPPED, RECEIVED]))).all()
    held: dict[str, int] = {}
    for row in rows:
        if row.status not in ("PENDING", "SUBMITTED", COMMITTED):
            held[row.currency] = held.get(row.currency, 0) + row.total_minor
    return held


__all__ = ["BuyerOrderService", "CartLine", "CheckoutResult", "escrow_held_by_currency", "split_cart", "items_from_json"]
