"""Orders at the merchant's bank: stock reservations, shipping, refunds.

    PlaceOrder (buyer's bank)      -> RESERVED     stock_reserved += qty, all items or none, only on
                                   the buyer bank's signed escrow statement for exactly this order
                                   (node.market.escrow_proofs; else ESCROW_NOT_PROVED or the envelope's
                                   refusal), and only while that bank holds fewer than the configured
                                   open reservations and units here (else RESERVATION_LIMIT_REACHED);
                                   an order id another buyer bank already placed is refused (FORBIDDEN)
    ShipOrder (merchant)           RESERVED -> SHIPPED      on_hand -= qty, reserved -= qty; event SHIPPED
    DeclineOrder (merchant)        RESERVED -> CANCELLED    reserved -= qty; event DECLINED (the buyer's
                                   bank returns the escrow when it hears; until then the event is retried)
    expiry (worker)                RESERVED -> CANCELLED    not shipped within the reservation hold after it
                                   was placed: reserved -= qty; event RESERVATION_EXPIRED (retried like DECLINED)
    event CANCELLED (buyer's bank) RESERVED -> CANCELLED    reserved -= qty (after shipping: refused)
                                   unknown order: remembered (seller_cancelled_unplaced), OK; a
                                   PlaceOrder with that id from that bank is then refused. At most
                                   cancelled_unplaced_per_bank_max are remembered per buyer bank,
                                   the oldest forgotten first: any member can name order ids this
                                   bank never saw, and fills only its own share
    event COMPLETED (buyer's bank) SHIPPED -> COMPLETED     only once the money is here (see below)
    RefundOrder (merchant)         COMPLETED|REFUNDED -> REFUNDED   refunded += x <= total; event REFUNDED

Completion follows the money. A COMPLETED event completes the order (and so makes it a paid
sale, node.credit.features) only when this bank's own books show the release: for another
bank's buyer, the event names an incoming transfer that is COMMITTED here, from that bank, to the
merchant's settlement account, for the order's total and currency, with the order's release
reference (node.market.orders.release_reference), and that paid no other order (the order keeps
it in payment_transfer_id, unique); for a buyer of this bank, the book entry release:<order>.
A transfer accepted here but not committed yet answers UNAVAILABLE (the buyer's bank sends the
event again); anything else answers ORDER_NOT_PAID (or TRANSFER_ALREADY_COUNTED), and the order
stays SHIPPED.

A refund comes out of the merchant's settlement account: a book entry when the buyer
banks here (refund:<refund_id>), else an interbank transfer to the buyer's bank whose
commit sends the REFUNDED event (refund_committed, in the notice's transaction).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import sqlalchemy as sa

from fedmall import logs
from fedmall.database import read_connection
from fedmall.envelope import Envelope, KeyLookup
from fedmall.v1 import result_pb2

from node import fields, limits
from node.bank import ledger, store
from node.bank.transfers import ABORTED, COMMITTED, SendRequest, TransferService
from node.errors import InvalidRequest, Refused, Unavailable
from node.market import escrow_proofs, order_events, store as tables
from node.market.merchants import ACTIVE, check_quantity, load_merchant
from node.market.orders import (
    CANCELLED, COMPLETED, REFUNDED, RESERVED, SHIPPED, Item, OrderView, derived_id, items_to_json, items_total,
    ON_ITS_WAY, items_from_json, payment_problem, release_reference, same_items, seller_view)

log = logging.getLogger(__name__)

OK = result_pb2.RESULT_CODE_OK
EXISTS = result_pb2.RESULT_CODE_EXISTS
REFUND_PENDING, REFUND_DONE, REFUND_FAILED = "PENDING", "DONE", "FAILED"


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    order_id: str
    checkout_id: str
    buyer_account_id: str
    merchant_id: str
    items: tuple[Item, ...]
    total_minor: int
    currency: str
    # The buyer bank's signed EscrowStatement (node.market.escrow_proofs); None: none was sent.
    escrow_statement: Envelope | None = None


@dataclass(frozen=True, slots=True)
class ReservationRules:
    """What the seller's bank lets one buyer bank hold (node.config: [node].reservation_hold_s,
    reservations_per_buyer_bank_max, reserved_units_per_buyer_bank_max). This bank's own buyers
    are held to the hold, not to the bounds: their escrow is in these very books."""
    hold_s: int                          # A reservation not shipped this long after it was placed expires.
    per_buyer_bank_max: int              # Open (RESERVED) orders of one other buyer bank.
    units_per_buyer_bank_max: int        # Units those orders hold.

    def __post_init__(self) -> None:
        assert self.hold_s > 0 and self.per_buyer_bank_max > 0 and self.units_per_buyer_bank_max > 0, self


@dataclass(frozen=True, slots=True)
class Placed:
    result: int                  # OK or EXISTS.
    settlement_account_id: str


def check_place_order(order: PlaceOrder) -> None:
    fields.check_uuid(order.order_id, "order id")
    fields.check_uuid(order.checkout_id, "checkout id")
    fields.check_account_id(order.buyer_account_id)
    fields.check_id(order.merchant_id, "merchant id")
    fields.check_currency(order.currency)
    if not 0 < len(order.items) <= limits.items_per_order_max:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, f"1..{limits.items_per_order_max} items per order")
    skus = [item.sku for item in order.items]
    if len(set(skus)) != len(skus):
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "each SKU at most once per order")
    for item in order.items:
        fields.check_id(item.sku, "sku")
        check_quantity(item.quantity)
        fields.check_amount(item.unit_price_minor)
    if items_total(order.items) != order.total_minor:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_AMOUNT, "total is not the sum of the items")


def lock_order_id(connection: sa.Connection, order_id: str) -> None:
    """Serialise PlaceOrder and a CANCELLED event for one order id on PostgreSQL, where neither
    would see the other's uncommitted row. SQLite writers take the database lock (BEGIN IMMEDIATE)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), dict(key=f"order:{order_id}"))


def lock_buyer_bank_reservations(connection: sa.Connection, buyer_bank_id: str) -> None:
    """Serialise one buyer bank's PlaceOrders on PostgreSQL, so two cannot pass its bounds together.
    Taken after lock_order_id, never before (no other path takes both)."""
    key = f"reservations:{buyer_bank_id}"
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), dict(key=key))


def reservation_problem(*, open_count: int, open_units: int, units: int, rules: ReservationRules) -> str | None:
    """Why one more reservation of units would take a buyer bank past its bounds, or None. Pure."""
    if open_count + 1 > rules.per_buyer_bank_max:
        return f"{open_count} open reservations, at most {rules.per_buyer_bank_max}"
    if open_units + units > rules.units_per_buyer_bank_max:
        return f"{open_units} units reserved, {units} more would pass {rules.units_per_buyer_bank_max}"
    return None


def order_units(items: Sequence[Item]) -> int:
    return sum(item.quantity for item in items)


def stock_changes(items: Sequence[Item], *, on_hand_sign: int, reserved_sign: int) -> list[dict]:
    return [dict(target_sku=item.sku, on_hand_delta=on_hand_sign * item.quantity,
                 reserved_delta=reserved_sign * item.quantity) for item in items]


def cancelled_unplaced(connection: sa.Connection, *, buyer_bank_id: str, order_id: str) -> bool:
    table = tables.seller_cancelled_unplaced
    return connection.scalar(sa.select(table.c.order_id).where(
        table.c.buyer_bank_id == buyer_bank_id, table.c.order_id == order_id)) is not None


def remember_cancelled_unplaced(connection: sa.Connection, *, buyer_bank_id: str, order_id: str, event_id: str,
                                now_ms: int, per_bank_max: int) -> None:
    """Remember the bank's cancellation of an order not placed here, forgetting its oldest beyond
    per_bank_max. A PlaceOrder that comes after its cancellation was forgotten is placed. The
    buyer's bank cancels an order it could not place (node.market.buyer_orders._mark_failed) and
    never places it again, so the PlaceOrder a cancellation stands against was sent before it: it
    comes within moments or never, and only a bank with more than per_bank_max such placements in
    flight at once could see one slip through."""
    table = tables.seller_cancelled_unplaced
    connection.execute(table.insert().values(buyer_bank_id=buyer_bank_id, order_id=order_id, event_id=event_id,
                                             created_at_unix_ms=now_ms))
    remembered = connection.scalar(sa.select(sa.func.count()).where(table.c.buyer_bank_id == buyer_bank_id))
    if remembered > per_bank_max:
        forgotten = connection.execute(sa.select(table.c.order_id).where(table.c.buyer_bank_id == buyer_bank_id)
                                       .order_by(table.c.created_at_unix_ms, table.c.order_id)
                                       .limit(remembered - per_bank_max)).scalars().all()
        connection.execute(table.delete().where(table.c.buyer_bank_id == buyer_bank_id,
                                                table.c.order_id.in_(forgotten)))
        log.info("forgot %d cancellations of unplaced orders from %s (over %d)", len(forgotten), buyer_bank_id,
                 per_bank_max, extra=logs.fields(bank=buyer_bank_id))


class SellerOrderService:
    def __init__(self, engine: sa.Engine, *, bank_id: str, transfers: TransferService, clock: Callable[[], float],
                 keys: KeyLookup, rules: ReservationRules, on_event_written: Callable[[], None] = lambda: None,
                 cancelled_unplaced_per_bank_max: int = limits.cancelled_unplaced_per_bank_max_default) -> None:
        """keys: the members' signing keys as the clearing registered them (node.peers.PeerDirectory.signing_key)."""
        assert cancelled_unplaced_per_bank_max > 0
        self._cancelled_unplaced_per_bank_max = cancelled_unplaced_per_bank_max
        self._engine = engine
        self._bank_id = bank_id
        self._transfers = transfers
        self._clock = clock
        self._keys = keys
        self._rules = rules
        self._on_event_written = on_event_written

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # Placing (the buyer's bank calls) -----------------------------------------------------

    def place(self, *, buyer_bank_id: str, order: PlaceOrder) -> Placed:
        """Reserve stock for every item, or for none. Idempotent by order id.

        The order id must be the one the buyer's bank derives (node.market.buyer_orders.checkout): it
        binds the id to the calling bank, so no bank can take another bank's order id first. The
        buyer bank's escrow statement must prove this very order (node.market.escrow_proofs).
        """
        check_place_order(order)
        if order.order_id != derived_id(buyer_bank_id, order.checkout_id, self._bank_id, order.merchant_id):
            raise Refused(result_pb2.RESULT_CODE_FORBIDDEN,
                          f"order id {order.order_id!r} is not derived from the calling bank, checkout and merchant")
        escrow_proofs.check_statement(
            order.escrow_statement, keys=self._keys, order_id=order.order_id, buyer_bank_id=buyer_bank_id,
            seller_bank_id=self._bank_id, merchant_id=order.merchant_id, total_minor=order.total_minor,
            currency=order.currency)
        table = tables.seller_orders
        with self._engine.begin() as connection:
            lock_order_id(connection, order.order_id)
            previous = connection.execute(sa.select(table).where(table.c.order_id == order.order_id)).first()
            merchant = load_merchant(connection, order.merchant_id)
            if previous is not None and previous.buyer_bank_id != buyer_bank_id:
                # Order ids are one namespace here: another bank's order is not this bank's to touch.
                raise Refused(result_pb2.RESULT_CODE_FORBIDDEN,
                              f"order {order.order_id!r} belongs to another buyer bank")
            if previous is not None:
                if (previous.buyer_bank_id, previous.checkout_id, previous.buyer_account_id, previous.merchant_id,
                        previous.total_minor, previous.currency) != (
                        buyer_bank_id, order.checkout_id, order.buyer_account_id, order.merchant_id,
                        order.total_minor, order.currency) or not same_items(
                            items_from_json(previous.items), order.items):
                    raise Refused(result_pb2.RESULT_CODE_MODIFIED_REQUEST,
                                  f"order {order.order_id!r} was placed with other content")
                return Placed(result=EXISTS, settlement_account_id=merchant.settlement_account_id)
            if cancelled_unplaced(connection, buyer_bank_id=buyer_bank_id, order_id=order.order_id):
                raise Refused(result_pb2.RESULT_CODE_ORDER_STATE_INVALID,
                              f"order {order.order_id!r} was cancelled before it arrived")
            if merchant.status != ACTIVE:
                raise Refused(result_pb2.RESULT_CODE_MERCHANT_SUSPENDED, f"merchant {order.merchant_id!r} is suspended")
            if buyer_bank_id != self._bank_id:
                self._check_bounds(connection, buyer_bank_id, order)
            titled = self._check_and_reserve(connection, order)
            now_ms = self._now_ms()
            connection.execute(table.insert().values(
                order_id=order.order_id, checkout_id=order.checkout_id, buyer_bank_id=buyer_bank_id,
                buyer_account_id=order.buyer_account_id, merchant_id=order.merchant_id, items=items_to_json(titled),
                total_minor=order.total_minor, currency=order.currency, state=RESERVED, tracking_reference="",
                refunded_minor=0, placed_at_unix_ms=now_ms, updated_at_unix_ms=now_ms,
                escrow_statement=order.escrow_statement.SerializeToString(deterministic=True),
                units=order_units(order.items), payment_transfer_id=None))
        return Placed(result=OK, settlement_account_id=merchant.settlement_account_id)

    def _check_bounds(self, connection: sa.Connection, buyer_bank_id: str, order: PlaceOrder) -> None:
        """RESERVATION_LIMIT_REACHED when one more reservation takes the buyer bank past its bounds."""
        table = tables.seller_orders
        lock_buyer_bank_reservations(connection, buyer_bank_id)
        held = connection.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(table.c.units), 0)).where(
            table.c.buyer_bank_id == buyer_bank_id, table.c.state == RESERVED)).one()
        problem = reservation_problem(open_count=held[0], open_units=int(held[1]), units=order_units(order.items),
                                      rules=self._rules)
        if problem is not None:
            raise Refused(result_pb2.RESULT_CODE_RESERVATION_LIMIT_REACHED, f"{buyer_bank_id} holds {problem} here")

    def _check_and_reserve(self, connection: sa.Connection, order: PlaceOrder) -> list[Item]:
        products = tables.products
        rows = {row.sku: row for row in connection.execute(sa.select(products).where(
            products.c.merchant_id == order.merchant_id,
            products.c.sku.in_([item.sku for item in order.items])).with_for_update())}
        titled = []
        for item in order.items:
            row = rows.get(item.sku)
            if row is None:
                raise Refused(result_pb2.RESULT_CODE_PRODUCT_UNKNOWN, f"no product {item.sku!r}")
            if row.status != tables.LISTED:  # Drafts and delisted products are not sold.
                raise Refused(result_pb2.RESULT_CODE_PRODUCT_NOT_LISTED, f"{item.sku!r} is not listed")
            if row.currency != order.currency:
                raise Refused(result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED, f"{item.sku!r} is sold in {row.currency}")
            if row.price_minor != item.unit_price_minor:
                raise Refused(result_pb2.RESULT_CODE_PRICE_CHANGED,
                              f"{item.sku!r} costs {row.price_minor} now, not {item.unit_price_minor}")
            if row.stock_on_hand - row.stock_reserved < item.quantity:
                raise Refused(result_pb2.RESULT_CODE_INSUFFICIENT_STOCK,
                              f"{row.stock_on_hand - row.stock_reserved} of {item.sku!r} available")
            titled.append(Item(sku=item.sku, quantity=item.quantity, unit_price_minor=item.unit_price_minor,
                               title=row.title))
        self._move_stock(connection, order.merchant_id, stock_changes(order.items, on_hand_sign=0, reserved_sign=1))
        return titled

    def _move_stock(self, connection: sa.Connection, merchant_id: str, changes: list[dict]) -> None:
        products = tables.products
        connection.execute(
            products.update().where(products.c.merchant_id == merchant_id, products.c.sku == sa.bindparam("target_sku"))
            .values(stock_on_hand=products.c.stock_on_hand + sa.bindparam("on_hand_delta"),
                    stock_reserved=products.c.stock_reserved + sa.bindparam("reserved_delta"),
                    updated_at_unix_ms=self._now_ms()), changes)

    # The merchant acts ---------------------------------------------------------------------

    def _own_order(self, connection: sa.Connection, merchant_id: str, order_id: str, *, for_update: bool = False):
        fields.check_id(merchant_id, "merchant id")
        fields.check_uuid(order_id, "order id")
        query = sa.select(tables.seller_orders).where(tables.seller_orders.c.order_id == order_id)
        row = connection.execute(query.with_for_update() if for_update else query).first()
        if row is None or row.merchant_id != merchant_id:  # Another merchant's order: as if it did not exist.
            raise Refused(result_pb2.RESULT_CODE_ORDER_UNKNOWN, f"no order {order_id!r} for {merchant_id!r}")
        return row

    def ship(self, *, merchant_id: str, order_id: str, tracking_reference: str) -> tuple[int, OrderView]:
        fields.check_text(tracking_reference, "tracking reference", length_max=limits.tracking_reference_length_max)
        table = tables.seller_orders
        with self._engine.begin() as connection:
            row = self._own_order(connection, merchant_id, order_id, for_update=True)
            if row.state == SHIPPED and row.tracking_reference == tracking_reference:
                return EXISTS, seller_view(row, bank_id=self._bank_id)
            if row.state != RESERVED:
                raise Refused(result_pb2.RESULT_CODE_ORDER_STATE_INVALID, f"order {order_id!r} is {row.state}")
            now_ms = self._now_ms()
            self._move_stock(connection, merchant_id, stock_changes(
                items_from_json(row.items), on_hand_sign=-1, reserved_sign=-1))
            connection.execute(table.update().where(table.c.order_id == order_id).values(
                state=SHIPPED, tracking_reference=tracking_reference, updated_at_unix_ms=now_ms))
            order_events.enqueue(connection, event_id=derived_id(order_id, "shipped"), order_id=order_id,
                                 recipient_bank_id=row.buyer_bank_id, kind=order_events.SHIPPED,
                                 tracking_reference=tracking_reference, now_ms=now_ms)
            row = connection.execute(sa.select(table).where(table.c.order_id == order_id)).one()
        self._on_event_written()
        return OK, seller_view(row, bank_id=self._bank_id)

    def decline(self, *, merchant_id: str, order_id: str, reason: str) -> tuple[int, OrderView]:
        """The merchant will not ship: the stock is free at once, the buyer's bank is told."""
        fields.check_text(reason, "reason", length_max=limits.decline_reason_length_max)
        table = tables.seller_orders
        event_id = derived_id(order_id, "declined")
        with self._engine.begin() as connection:
            row = self._own_order(connection, merchant_id, order_id, for_update=True)
            if row.state == CANCELLED:
                earlier = connection.execute(sa.select(tables.order_events.c.reason).where(
                    tables.order_events.c.event_id == event_id)).first()
                if earlier is None:
                    raise Refused(result_pb2.RESULT_CODE_ORDER_STATE_INVALID,
                                  f"order {order_id!r} was cancelled by the buyer"
                                  if not self._expired(connection, order_id) else
                                  f"the reservation of order {order_id!r} expired")
                if earlier.reason != reason:
                    raise Refused(result_pb2.RESULT_CODE_MODIFIED_REQUEST,
                                  f"order {order_id!r} was declined for another reason")
                return EXISTS, seller_view(row, bank_id=self._bank_id)
            if row.state != RESERVED:
                raise Refused(result_pb2.RESULT_CODE_ORDER_STATE_INVALID, f"order {order_id!r} is {row.state}")
            now_ms = self._now_ms()
            self._move_stock(connection, merchant_id, stock_changes(
                items_from_json(row.items), on_hand_sign=0, reserved_sign=-1))
            connection.execute(table.update().where(table.c.order_id == order_id).values(
                state=CANCELLED, updated_at_unix_ms=now_ms))
            order_events.enqueue(connection, event_id=event_id, order_id=order_id,
                                 recipient_bank_id=row.buyer_bank_id, kind=order_events.DECLINED, reason=reason,
                                 now_ms=now_ms)
            row = connection.execute(sa.select(table).where(table.c.order_id == order_id)).one()
        self._on_event_written()
        return OK, seller_view(row, bank_id=self._bank_id)

    @staticmethod
    def _expired(connection: sa.Connection, order_id: str) -> bool:
        return connection.scalar(sa.select(tables.order_events.c.event_id).where(
            tables.order_events.c.event_id == derived_id(order_id, "expired"))) is not None

    # Reservations that were not shipped in time ------------------------------------------------

    def expire_step(self) -> bool:
        """RESERVED orders placed longer than the hold ago: the stock is free again and the buyer's
        bank is told (RESERVATION_EXPIRED, retried until it accepts), each order in its own
        transaction with its event, conditional on RESERVED: a retry, a crash or a ship, decline
        or cancel racing it changes nothing twice. True when a full batch expired."""
        table = tables.seller_orders
        due_ms = self._now_ms() - self._rules.hold_s * 1000
        with read_connection(self._engine) as connection:
            order_ids = connection.scalars(sa.select(table.c.order_id).where(
                table.c.state == RESERVED, table.c.placed_at_unix_ms <= due_ms)
                .order_by(table.c.placed_at_unix_ms).limit(limits.orders_per_step_max)).all()
        expired = [order_id for order_id in order_ids if self._expire(order_id, due_ms=due_ms)]
        if expired:
            log.info("%d reservations expired unshipped: %s", len(expired), ", ".join(expired),
                     extra=logs.fields(order_ids=expired))
            self._on_event_written()
        return len(order_ids) == limits.orders_per_step_max

    def _expire(self, order_id: str, *, due_ms: int) -> bool:
        """One reservation, if it is still RESERVED: the conditional update decides the race with a
        ship, decline or cancel (each of which locks the row), and the stock moves only after it won."""
        table = tables.seller_orders
        with self._engine.begin() as connection:
            now_ms = self._now_ms()
            moved = connection.execute(table.update().where(
                table.c.order_id == order_id, table.c.state == RESERVED, table.c.placed_at_unix_ms <= due_ms)
                .values(state=CANCELLED, updated_at_unix_ms=now_ms))
            if moved.rowcount != 1:
                return False
            row = connection.execute(sa.select(table).where(table.c.order_id == order_id)).one()
            self._move_stock(connection, row.merchant_id, stock_changes(
                items_from_json(row.items), on_hand_sign=0, reserved_sign=-1))
            order_events.enqueue(
                connection, event_id=derived_id(order_id, "expired"), order_id=order_id,
                recipient_bank_id=row.buyer_bank_id, kind=order_events.RESERVATION_EXPIRED, now_ms=now_ms,
                reason=f"not shipped within {self._rules.hold_s} s of being placed")
        return True

    # Events from the buyer's bank -----------------------------------------------------------

    def apply_event(self, *, sender_bank_id: str, event_id: str, order_id: str, kind: int,
                    transfer_id: str = "") -> int:
        """CANCELLED or COMPLETED from the order's buyer bank; OK, EXISTS or why not. A COMPLETED
        event names the release transfer that paid the merchant (none for this bank's own buyers)."""
        fields.check_uuid(event_id, "event id")
        fields.check_uuid(order_id, "order id")
        if transfer_id:
            fields.check_uuid(transfer_id, "transfer id")
        table = tables.seller_orders
        with self._engine.begin() as connection:
            lock_order_id(connection, order_id)
            row = connection.execute(sa.select(table).where(table.c.order_id == order_id).with_for_update()).first()
            if row is None and kind == order_events.CANCELLED:
                return self._cancel_unplaced(connection, sender_bank_id=sender_bank_id, event_id=event_id,
                                             order_id=order_id)
            if row is None:
                raise Refused(result_pb2.RESULT_CODE_ORDER_UNKNOWN, f"no order {order_id!r}")
            if row.buyer_bank_id != sender_bank_id:
                raise Refused(result_pb2.RESULT_CODE_FORBIDDEN, f"{sender_bank_id!r} is not the order's buyer bank")
            target = CANCELLED if kind == order_events.CANCELLED else COMPLETED
            source = RESERVED if kind == order_events.CANCELLED else SHIPPED
            if row.state == target or (target == COMPLETED and row.state == REFUNDED):
                return EXISTS
            if row.state != source:
                raise Refused(result_pb2.RESULT_CODE_ORDER_STATE_INVALID, f"order {order_id!r} is {row.state}")
            payment_transfer_id = None
            if target == COMPLETED:
                payment_transfer_id = self._paid_by(connection, row, sender_bank_id=sender_bank_id,
                                                    transfer_id=transfer_id)
            now_ms = self._now_ms()
            order_events.record_received(connection, event_id=event_id, sender_bank_id=sender_bank_id,
                                         order_id=order_id, kind=kind, now_ms=now_ms)
            if target == CANCELLED:
                self._move_stock(connection, row.merchant_id, stock_changes(
                    items_from_json(row.items), on_hand_sign=0, reserved_sign=-1))
            connection.execute(table.update().where(table.c.order_id == order_id).values(
                state=target, payment_transfer_id=payment_transfer_id, updated_at_unix_ms=now_ms))
        return OK

    def _paid_by(self, connection: sa.Connection, row, *, sender_bank_id: str, transfer_id: str) -> str | None:
        """The transfer that paid the merchant for this order, as this bank's books show it (None for
        a book release at this bank); ORDER_NOT_PAID, TRANSFER_ALREADY_COUNTED or UNAVAILABLE if none."""
        if sender_bank_id == self._bank_id:
            if not store.existing_entry_ids(connection, [f"release:{row.order_id}"]):
                raise Refused(result_pb2.RESULT_CODE_ORDER_NOT_PAID, f"no release:{row.order_id} in the books")
            return None
        incoming = store.incoming_transfers
        transfer = connection.execute(sa.select(incoming).where(
            incoming.c.transfer_id == transfer_id)).first() if transfer_id else None
        merchant = load_merchant(connection, row.merchant_id)
        problem = payment_problem(transfer, payer_bank_id=sender_bank_id,
                                  payee_account_id=merchant.settlement_account_id, amount_minor=row.total_minor,
                                  currency=row.currency, reference=release_reference(row.order_id))
        if problem == ON_ITS_WAY:  # Accepted here, not committed yet: the sender asks again.
            raise Unavailable(f"release transfer {transfer_id!r} is not committed here yet")
        if problem is not None:
            raise Refused(result_pb2.RESULT_CODE_ORDER_NOT_PAID,
                          f"order {row.order_id!r} stays SHIPPED: release transfer {transfer_id!r} {problem}")
        other = connection.scalar(sa.select(tables.seller_orders.c.order_id).where(
            tables.seller_orders.c.payment_transfer_id == transfer_id))
        if other is not None:
            raise Refused(result_pb2.RESULT_CODE_TRANSFER_ALREADY_COUNTED,
                          f"transfer {transfer_id!r} paid order {other!r}")
        return transfer_id

    def _cancel_unplaced(self, connection: sa.Connection, *, sender_bank_id: str, event_id: str,
                         order_id: str) -> int:
        """A cancellation that overtook its PlaceOrder (or whose PlaceOrder was lost): remember it."""
        if cancelled_unplaced(connection, buyer_bank_id=sender_bank_id, order_id=order_id):
            return EXISTS
        remember_cancelled_unplaced(connection, buyer_bank_id=sender_bank_id, order_id=order_id, event_id=event_id,
                                    now_ms=self._now_ms(), per_bank_max=self._cancelled_unplaced_per_bank_max)
        log.info("order %s from %s cancelled before it arrived", order_id, sender_bank_id,
                 extra=logs.fields(order_id=order_id, bank=sender_bank_id))
        return OK

    # Refunds -------------------------------------------------------------------------------

    def refund(self, *, refund_id: str, merchant_id: str, order_id: str, amount_minor: int, currency: str,
               reason: str) -> tuple[int, OrderView]:
        """Approve a refund of amount_minor (<= total - refunded) out of the merchant's settlement account."""
        fields.check_uuid(refund_id, "refund id")
        fields.check_amount(amount_minor)
        fields.check_currency(currency)
        fields.check_text(reason, "reason", length_max=limits.refund_reason_length_max)
        table, refunds = tables.seller_orders, tables.seller_refunds
        with self._engine.begin() as connection:
            row = self._own_order(connection, merchant_id, order_id, for_update=True)
            previous = connection.execute(sa.select(refunds).where(refunds.c.refund_id == refund_id)).first()
            if previous is not None:
                if (previous.order_id, previous.amount_minor, previous.currency, previous.reason) != (
                        order_id, amount_minor, currency, reason):
                    raise Refused(result_pb2.RESULT_CODE_MODIFIED_REQUEST, f"refund {refund_id!r} had other content")
                if previous.status == REFUND_FAILED:
                    raise Refused(result_pb2.RESULT_CODE_INVALID_STATE, f"refund {refund_id!r} failed")
                return EXISTS, seller_view(row, bank_id=self._bank_id)
            if row.state not in (COMPLETED, REFUNDED):
                raise Refused(result_pb2.RESULT_CODE_ORDER_STATE_INVALID, f"order {order_id!r} is {row.state}")
            if currency != row.currency:
                raise Refused(result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED, f"order {order_id!r} is in {row.currency}")
            if amount_minor > row.total_minor - row.refunded_minor:
                raise Refused(result_pb2.RESULT_CODE_REFUND_EXCEEDS_PAID,
                              f"at most {row.total_minor - row.refunded_minor} is left to refund")
            merchant = load_merchant(connection, merchant_id)
            book = row.buyer_bank_id == self._bank_id
            # A book refund locks the buyer's account too, with the merchant's, in store.lock_order: its
            # entry's postings would otherwise wait for the buyer's account while holding the merchant's,
            # and two merchants refunding each other's orders at once would deadlock (PostgreSQL).
            locked = {merchant.settlement_account_id} | ({row.buyer_account_id} if book else set())
            balances = dict(connection.execute(store.locking_accounts_in_order(connection, sa.select(
                store.accounts.c.account_id, store.accounts.c.balance_minor).where(
                store.accounts.c.account_id.in_(sorted(locked))))).all())
            balance = balances[merchant.settlement_account_id]
            if balance < amount_minor:
                raise Refused(result_pb2.RESULT_CODE_INSUFFICIENT_FUNDS,
                              f"the settlement account holds {balance}, not {amount_minor}")
            now_ms = self._now_ms()
            transfer_id = None if book else derived_id(refund_id, "refund")
            connection.execute(refunds.insert().values(
                refund_id=refund_id, order_id=order_id, amount_minor=amount_minor, currency=currency, reason=reason,
                transfer_id=transfer_id, status=REFUND_DONE if book else REFUND_PENDING, created_at_unix_ms=now_ms))
            connection.execute(table.update().where(table.c.order_id == order_id).values(
                state=REFUNDED, refunded_minor=table.c.refunded_minor + amount_minor, updated_at_unix_ms=now_ms))
            if book:
                store.write_entries(connection, [ledger.move(
                    f"refund:{refund_id}", "refund", source=merchant.settlement_account_id,
                    destination=row.buyer_account_id, amount_minor=amount_minor, currency=currency)], now_ms=now_ms)
                self._refund_event(connection, row, refund_id=refund_id, amount_minor=amount_minor,
                                   transfer_id="", now_ms=now_ms)
        if not book:
            outcome = self._transfers.send_system(SendRequest(
                transfer_id=transfer_id, from_account_id=merchant.settlement_account_id,
                payee_bank_id=row.buyer_bank_id, payee_account_id=row.buyer_account_id, amount_minor=amount_minor,
                currency=currency, reference=f"refund {order_id}",
                original_transfer_id=row.payment_transfer_id or ""), internal_source=False)
            if outcome.result not in (OK, EXISTS):
                self._fail_refund(refund_id)
                raise Refused(outcome.result, "the refund transfer was refused")
        self._on_event_written()
        with read_connection(self._engine) as connection:
            return OK, seller_view(self._own_order(connection, merchant_id, order_id), bank_id=self._bank_id)

    def _refund_event(self, connection: sa.Connection, row, *, refund_id: str, amount_minor: int, transfer_id: str,
                      now_ms: int) -> None:
        order_events.enqueue(connection, event_id=derived_id(refund_id, "refunded"), order_id=row.order_id,
                             recipient_bank_id=row.buyer_bank_id, kind=order_events.REFUNDED,
                             amount_minor=amount_minor, currency=row.currency, transfer_id=transfer_id,
                             now_ms=now_ms)

    def _fail_refund(self, refund_id: str) -> None:
        """Give back the refundable amount of a refund whose transfer never went (or aborted)."""
        table, refunds = tables.seller_orders, tables.seller_refunds
        with self._engine.begin() as connection:
            refund = connection.execute(sa.select(refunds).where(
                refunds.c.refund_id == refund_id, refunds.c.status == REFUND_PENDING).with_for_update()).first()
            if refund is None:
                return
            connection.execute(refunds.update().where(refunds.c.refund_id == refund_id).values(status=REFUND_FAILED))
            # Locked, so a refund being added at the same moment (PostgreSQL) is not overwritten.
            order = connection.execute(sa.select(table).where(table.c.order_id == refund.order_id)
                                       .with_for_update()).one()
            refunded = order.refunded_minor - refund.amount_minor
            connection.execute(table.update().where(table.c.order_id == refund.order_id).values(
                refunded_minor=refunded, state=REFUNDED if refunded else COMPLETED, updated_at_unix_ms=self._now_ms()))

    def refund_committed(self, connection: sa.Connection, transfer_ids: Sequence[str], *, now_ms: int) -> bool:
        """In a COMMITTED notice's transaction: refunds whose transfer committed -> DONE, event REFUNDED."""
        refunds = tables.seller_refunds
        rows = connection.execute(sa.select(refunds).where(
            refunds.c.transfer_id.in_(list(transfer_ids)), refunds.c.status == REFUND_PENDING)).all() if transfer_ids else []
        for refund in rows:
            connection.execute(refunds.update().where(refunds.c.refund_id == refund.refund_id).values(status=REFUND_DONE))
            order = connection.execute(sa.select(tables.seller_orders).where(
                tables.seller_orders.c.order_id == refund.order_id)).one()
            self._refund_event(connection, order, refund_id=refund.refund_id, amount_minor=refund.amount_minor,
                               transfer_id=refund.transfer_id, now_ms=now_ms)
        return bool(rows)

    def watch_refunds(self) -> bool:
        """Refunds whose transfer aborted, or never went out (a crash): FAILED, amount refundable again."""
        refunds, outgoing = tables.seller_refunds, store.outgoing_transfers
        now_ms = self._now_ms()
        with read_connection(self._engine) as connection:
            rows = connection.execute(
                sa.select(refunds.c.refund_id, refunds.c.created_at_unix_ms, outgoing.c.status)
                .select_from(refunds.outerjoin(outgoing, outgoing.c.transfer_id == refunds.c.transfer_id))
                .where(refunds.c.status == REFUND_PENDING).limit(limits.orders_per_step_max)).all()
        failed = [row.refund_id for row in rows if row.status == ABORTED or (
            row.status is None and now_ms - row.created_at_unix_ms > limits.refund_abandon_age_ms)]
        for refund_id in failed:
            log.warning("refund %s failed: its transfer aborted or never went out", refund_id,
                        extra=logs.fields(refund_id=refund_id))
            self._fail_refund(refund_id)
        committed = [row for row in rows if row.status == COMMITTED]
        if committed:  # The notice hook does this; here only if it was missed.
            with self._engine.begin() as connection:
                ids = connection.scalars(sa.select(refunds.c.transfer_id).where(
                    refunds.c.refund_id.in_([row.refund_id for row in committed]))).all()
                self.refund_committed(connection, ids, now_ms=now_ms)
        return False

    # Reading --------------------------------------------------------------------------------

    def get(self, *, merchant_id: str, order_id: str) -> OrderView:
        with read_connection(self._engine) as connection:
            return seller_view(self._own_order(connection, merchant_id, order_id), bank_id=self._bank_id)
