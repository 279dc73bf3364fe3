"""Liquidity movements: every change of a bank's prefunded liquidity, and the statement
that lists it.

Three things move a bank's liquidity: funds in, funds out (clearing.funds) and the
settlement of a window (clearing.windows). Each is stamped, when it is recorded, with
its *statement window*: the oldest window not yet issued (OPEN, or CLOSED awaiting its
report). Issuing a window locks its row, and stamping share-locks the same row, so a
movement is either on the statement being issued or on a later one, never on none.
That is what makes statements chain: the liquidity a statement closes with is the
liquidity the next one opens with, and the position a statement opens with is the
previous closing position plus the settlements it lists.

A movement of a window aborted before it settled moves to the next window (its
statement is void), which is why a window is aborted only while no later one has
been issued (clearing.windows.abort).
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from fedmall.envelope import SigningKey
from fedmall.v1 import money_pb2, settlement_pb2

from clearing.deliveries import deliver
from clearing.store import funds_movements, settlement_windows, statement_pages, window_nets

FUNDS_IN = settlement_pb2.LIQUIDITY_MOVEMENT_KIND_FUNDS_IN
FUNDS_OUT = settlement_pb2.LIQUIDITY_MOVEMENT_KIND_FUNDS_OUT
SETTLEMENT = settlement_pb2.LIQUIDITY_MOVEMENT_KIND_SETTLEMENT
CREDIT = settlement_pb2.ENTRY_DIRECTION_CREDIT
DEBIT = settlement_pb2.ENTRY_DIRECTION_DEBIT
UNISSUED = (settlement_pb2.WINDOW_STATE_OPEN, settlement_pb2.WINDOW_STATE_CLOSED)
RESERVED, COMMITTED = "reserved", "committed"  # clearing.funds


def statement_window_id(connection: sa.Connection) -> int:
    """The oldest window not yet issued, share-locked until this transaction ends.

    On PostgreSQL a waiter on a window that was issued meanwhile gets no row back (the
    row no longer matches); the loop then finds the next one. There is always one: the
    open window."""
    for _ in range(3):
        window_id = connection.scalar(
            sa.select(settlement_windows.c.window_id).where(settlement_windows.c.state.in_(UNISSUED))
            .order_by(settlement_windows.c.window_id).limit(1).with_for_update(read=True))
        if window_id is not None:
            return window_id
    raise AssertionError("no unissued settlement window")  # The open window is always one.


def unissued_funds_moved_minor(connection: sa.Connection, bank_id: str) -> int:
    """The gross of the bank's funds in and out its coming statements will list: committed into a
    window not issued yet, or funds out reserved (each commits into one). Bounded by
    fedmall.limits.funds_moved_per_statement_minor_max (clearing.funds); summed here in Python,
    as aborting an issued window can move more onto them unchecked."""
    f, w = funds_movements.c, settlement_windows.c
    unissued = sa.select(w.window_id).where(w.state.in_(UNISSUED))
    return sum(connection.scalars(sa.select(f.amount_minor).where(
        f.bank_id == bank_id, sa.or_(f.state == RESERVED, sa.and_(f.state == COMMITTED, f.window_id.in_(unissued))))))


def funds_movement_id(movement_id: str) -> str:
    return f"funds:{movement_id}"


def settlement_movement_id(window_id: int) -> str:
    return f"settlement:{window_id}"


def funds_movement(row: sa.Row) -> settlement_pb2.LiquidityMovement:
    """A committed funds_movements row as the movement the bank is told of."""
    return settlement_pb2.LiquidityMovement(
        movement_id=funds_movement_id(row.movement_id), bank_id=row.bank_id,
        kind=FUNDS_IN if row.direction == "in" else FUNDS_OUT, direction=CREDIT if row.direction == "in" else DEBIT,
        amount=money_pb2.Money(amount_minor=row.amount_minor, currency=row.currency), window_id=row.window_id,
        external_reference=row.external_reference, recorded_at_unix_ms=row.decided_at_ms)


def settlement_movement(*, bank_id: str, settled_window_id: int, net_minor: int, currency: str,
                        statement_window: int, settled_at_ms: int) -> settlement_pb2.LiquidityMovement:
    """A window's settlement as a movement of the bank's liquidity (net_minor is not zero)."""
    assert net_minor != 0
    return settlement_pb2.LiquidityMovement(
        movement_id=settlement_movement_id(settled_window_id), bank_id=bank_id, kind=SETTLEMENT,
        direction=CREDIT if net_minor > 0 else DEBIT,
        amount=money_pb2.Money(amount_minor=abs(net_minor), currency=currency), window_id=statement_window,
        settled_window_id=settled_window_id, recorded_at_unix_ms=settled_at_ms)


def signed_change_minor(movement: settlement_pb2.LiquidityMovement) -> int:
    """What the movement did to the bank's liquidity."""
    return movement.amount.amount_minor if movement.direction == CREDIT else -movement.amount.amount_minor


def deliver_movement(connection: sa.Connection, movement: settlement_pb2.LiquidityMovement, *, key: SigningKey,
                     now_ms: int) -> None:
    """Tell the bank, on its ordered stream, inside the transaction that records the movement."""
    deliver(connection, {movement.bank_id: [key.sign(movement)]}, now_ms=now_ms)


@dataclass(frozen=True, slots=True)
class StatementMovements:
    """One bank's movements listed on one window's statement, oldest first."""
    movements: tuple[settlement_pb2.LiquidityMovement, ...]

    @property
    def change_minor(self) -> int:
        return sum(signed_change_minor(movement) for movement in self.movements)

    @property
    def settled_minor(self) -> int:
        """The settled nets listed: what moved the bank's position since its previous statement."""
        return sum(signed_change_minor(m) for m in self.movements if m.kind == SETTLEMENT)


def read_statement_movements(connection: sa.Connection, window_id: int) -> dict[str, StatementMovements]:
    """Every bank's movements for its statement of window_id: those stamped after the window of
    its previous statement (aborted ones left out), up to this one. Usually that is only this
    window's; but a bank sent no statement of an earlier window (it was still onboarding when
    that was issued) finds that window's movements, its admission's funds in say, on this one."""
    previous = previous_statement_windows(connection, window_id)
    f = funds_movements.c
    found: dict[str, list[settlement_pb2.LiquidityMovement]] = {}
    for row in connection.execute(sa.select(funds_movements).select_from(funds_movements.outerjoin(
            previous, previous.c.bank_id == f.bank_id)).where(
            f.state == COMMITTED, f.window_id <= window_id, f.window_id > sa.func.coalesce(previous.c.window_id, 0))):
        found.setdefault(row.bank_id, []).append(funds_movement(row))
    n, w = window_nets.c, settlement_windows.c
    for row in connection.execute(
            sa.select(n.bank_id, n.window_id, n.net_minor, n.currency, w.settled_at_ms)
            .select_from(window_nets.join(settlement_windows, w.window_id == n.window_id)
                         .outerjoin(previous, previous.c.bank_id == n.bank_id))
            .where(n.net_minor != 0, n.settled_in_window_id <= window_id,
                   n.settled_in_window_id > sa.func.coalesce(previous.c.window_id, 0))):
        found.setdefault(row.bank_id, []).append(settlement_movement(
            bank_id=row.bank_id, settled_window_id=row.window_id, net_minor=row.net_minor, currency=row.currency,
            statement_window=window_id, settled_at_ms=row.settled_at_ms))
    return {bank_id: StatementMovements(tuple(sorted(items, key=lambda m: (m.recorded_at_unix_ms, m.movement_id))))
            for bank_id, items in found.items()}


def previous_statement_windows(connection: sa.Connection, window_id: int) -> sa.Subquery:
    """(bank_id, window_id): each bank's latest statement before window_id, aborted windows left out."""
    pages, w = statement_pages.c, settlement_windows.c
    return (sa.select(pages.bank_id, sa.func.max(pages.window_id).label("window_id"))
            .join(settlement_windows, w.window_id == pages.window_id)
            .where(pages.window_id < window_id, w.state != settlement_pb2.WINDOW_STATE_ABORTED)
            .group_by(pages.bank_id).subquery())


def move_to_next_window(connection: sa.Connection, window_id: int) -> None:
    """The movements of an aborted window go onto the next window's statement."""
    connection.execute(sa.update(funds_movements).where(funds_movements.c.window_id == window_id)
                       .values(window_id=window_id + 1))
    connection.execute(sa.update(window_nets).where(window_nets.c.settled_in_window_id == window_id)
                       .values(settled_in_window_id=window_id + 1))

