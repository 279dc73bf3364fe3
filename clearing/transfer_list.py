"""The operator's list of transfers: filtered, newest first, a page at a time.

Pages are cut by a cursor (the last row's receipt time and id), not an offset, so a page
stays the same while new transfers arrive.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from fedmall import money
from fedmall.results import FedmallError, name_of
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import transfer_pb2

from clearing.store import participants, transfers
from clearing.transfers import state_name

PAGE_SIZE_MAX = 1_000
STATES = {state_name(number).lower(): number for number in transfer_pb2.TransferState.values() if number}


@dataclass(frozen=True, slots=True)
class TransferFilter:
    bank_id: str = ""              # Payer or payee.
    counterparty_id: str = ""      # With bank_id: the other side; alone: payer or payee too.
    state: str = ""                # reserved, committed or aborted.
    window_id: int | None = None
    since_ms: int | None = None    # Received at or after.
    until_ms: int | None = None    # Received before.
    min_minor: int | None = None
    max_minor: int | None = None


@dataclass(frozen=True, slots=True)
class ListedTransfer:
    transfer_id: str
    received_at_ms: int
    payer_bank_id: str
    payee_bank_id: str
    amount_minor: int
    currency: str
    state: str
    result: str
    window_id: int | None


def filter_of(connection: sa.Connection, *, bank_id: str, counterparty_id: str, state: str, window_id: int | None,
              since_ms: int | None, until_ms: int | None, min_text: str | None, max_text: str | None,
              currency: str) -> TransferFilter:
    """A filter from what the operator typed (the command line's flags, the console's search
    form): amounts are decimal text in currency, by default the members' one currency;
    ValueError (money.MoneyError) for bad text."""
    if (min_text is not None or max_text is not None) and not currency:
        currencies = connection.scalars(sa.select(participants.c.currency).distinct()).all()
        if len(currencies) != 1:
            raise ValueError("--min and --max need --currency: the members hold several currencies")
        currency = currencies[0]

    def minor(text: str | None) -> int | None:
        return None if text is None else money.parse_amount(text, currency)

    return TransferFilter(bank_id=bank_id, counterparty_id=counterparty_id, state=state.lower(), window_id=window_id,
                          since_ms=since_ms, until_ms=until_ms, min_minor=minor(min_text), max_minor=minor(max_text))


def cursor_of(row: ListedTransfer) -> str:
    return f"{row.received_at_ms}/{row.transfer_id}"


def list_transfers(connection: sa.Connection, chosen: TransferFilter, *, page_size: int,
                   after: str = "") -> tuple[list[ListedTransfer], str]:
    """One page, newest first, and the cursor of the next ('' after the last page)."""
    if not 1 <= page_size <= PAGE_SIZE_MAX:
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, f"a page holds 1 to {PAGE_SIZE_MAX} transfers")
    if chosen.state and chosen.state not in STATES:
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, f"state is one of {', '.join(STATES)}, not {chosen.state!r}")
    t = transfers.c
    query = sa.select(t.transfer_id, t.created_at_ms, t.payer_bank_id, t.payee_bank_id, t.amount_minor, t.currency,
                      t.state, t.result, t.window_id)
    for condition in _conditions(chosen):
        query = query.where(condition)
    if after:
        received_at_ms, transfer_id = _parse_cursor(after)
        query = query.where(sa.tuple_(t.created_at_ms, t.transfer_id) < sa.tuple_(received_at_ms, transfer_id))
    rows = connection.execute(query.order_by(t.created_at_ms.desc(), t.transfer_id.desc()).limit(page_size + 1)).all()
    listed = [ListedTransfer(
        transfer_id=row.transfer_id, received_at_ms=row.created_at_ms, payer_bank_id=row.payer_bank_id,
        payee_bank_id=row.payee_bank_id, amount_minor=row.amount_minor, currency=row.currency,
        state=state_name(row.state), result=name_of(row.result),
        window_id=row.window_id) for row in rows[:page_size]]
    return listed, cursor_of(listed[-1]) if len(rows) > page_size else ""


def _conditions(chosen: TransferFilter) -> list:
    t = transfers.c
    conditions = []
    if chosen.bank_id and chosen.counterparty_id:
        conditions.append(sa.or_(sa.and_(t.payer_bank_id == chosen.bank_id, t.payee_bank_id == chosen.counterparty_id),
                                 sa.and_(t.payee_bank_id == chosen.bank_id, t.payer_bank_id == chosen.counterparty_id)))
    elif chosen.bank_id or chosen.counterparty_id:
        bank_id = chosen.bank_id or chosen.counterparty_id
        conditions.append(sa.or_(t.payer_bank_id == bank_id, t.payee_bank_id == bank_id))
    if chosen.state:
        conditions.append(t.state == STATES[chosen.state])
    if chosen.window_id is not None:
        conditions.append(t.window_id == chosen.window_id)
    if chosen.since_ms is not None:
        conditions.append(t.created_at_ms >= chosen.since_ms)
    if chosen.until_ms is not None:
        conditions.append(t.created_at_ms < chosen.until_ms)
    if chosen.min_minor is not None:
        conditions.append(t.amount_minor >= chosen.min_minor)
    if chosen.max_minor is not None:
        conditions.append(t.amount_minor <= chosen.max_minor)
    return conditions


def _parse_cursor(text: str) -> tuple[int, str]:
    received_at_ms, _, transfer_id = text.partition("/")
    if not received_at_ms.isdigit() or not transfer_id:
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, f"{text!r} is not a cursor this command printed")
    return int(received_at_ms), transfer_id
