"""Funds in and out of a bank's prefunded liquidity (as Mojaloop's recordFundsIn and
recordFundsOut): the operator records the real-money movements behind the liquidity.

    funds in            COMMITTED at once: liquidity + amount
    funds out reserve   RESERVED: the amount stops backing new transfers (funds_out_reserved)
              commit    COMMITTED: liquidity - amount, the reservation released
              abort     ABORTED: the reservation released, liquidity unchanged

A funds out is refused (INSUFFICIENT_LIQUIDITY) when what would remain could not cover
the bank's position and reservations. Every movement has an id the operator chooses:
the same id with the same terms again is EXISTS (a safe retry), with other terms
MODIFIED_REQUEST; committing or aborting it again is EXISTS, the other is INVALID_STATE.
A committed movement goes onto the bank's stream as a signed LiquidityMovement, and onto
its statement (clearing.movements); each change appends an audit entry with the
operator's name and reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from fedmall import identifiers, limits, text
from fedmall.money import format_money
from fedmall.envelope import SigningKey
from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc

from clearing import audit, movements, rules
from clearing.operator import OperatorAction
from clearing.store import Store, funds_movements, lock_participants, participants, retry_on_conflict

IN, OUT = "in", "out"
RESERVED, COMMITTED, ABORTED = "reserved", "committed", "aborted"
ADMISSION_PREFIX = "admission:"  # Not a usable operator id (':'), so never taken by one.


@dataclass(frozen=True, slots=True)
class FundsResult:
    result: int          # OK, or EXISTS for a retry that changed nothing.
    movement: sa.Row


def check_movement_id(movement_id: str) -> None:
    if not identifiers.is_account_id(movement_id):
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD,
                           f"a movement id is 1..{limits.account_id_length_max} letters, digits, '-', '_' or '.', "
                           f"not {movement_id!r}", field="movement_id")


def check_external_reference(reference: str) -> None:
    if text.text_problem(reference, length_max=limits.reference_length_max, required=True) is not None:
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD,
                           f"the external reference (the real-money payment it records) must be "
                           f"1..{limits.reference_length_max} printable characters", field="external_reference")


def check_amount(bank: sa.Row, amount_minor: int, *, direction: str) -> None:
    if not 0 < amount_minor <= limits.amount_minor_max:
        raise FedmallError(rc.RESULT_CODE_INVALID_AMOUNT, (
            f"funds {direction} of {amount_minor} minor units: one movement is 1.."
            f"{limits.amount_minor_max} ({format_money(limits.amount_minor_max, bank.currency)})"))


def check_funds_moved(connection: sa.Connection, bank: sa.Row, amount_minor: int) -> None:
    """Funds in and out listed on the bank's coming statements stay within
    limits.funds_moved_per_statement_minor_max, so a camt.053 total fits ISO 20022's 18 digits."""
    moved_minor = movements.unissued_funds_moved_minor(connection, bank.bank_id)
    if moved_minor + amount_minor > limits.funds_moved_per_statement_minor_max:
        raise FedmallError(rc.RESULT_CODE_INVALID_AMOUNT, (
            f"{bank.bank_id} has {format_money(moved_minor, bank.currency)} of funds in and out waiting for its "
            f"next statement; with {format_money(amount_minor, bank.currency)} more, one statement would list more "
            f"than {format_money(limits.funds_moved_per_statement_minor_max, bank.currency)}: close and issue the "
            "window first"))


def funds_out_problem(*, liquidity_minor: int, funds_out_reserved_minor: int, position_minor: int,
                      reserved_minor: int, amount_minor: int) -> int:
    """Would taking amount_minor out leave less than the bank's position and reservations need?

    What remains is the liquidity less every funds out already reserved and this one; it
    must cover the exposure (position + transfers reserved) and may never go below zero
    (a bank that is owed money is paid that at settlement, not before)."""
    remaining_minor = liquidity_minor - funds_out_reserved_minor - amount_minor
    if remaining_minor < max(0, position_minor + reserved_minor):
        return rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY
    return rc.RESULT_CODE_OK


class FundsService:
    def __init__(self, store: Store, *, clearing_key: SigningKey, clock_ms: Callable[[], int]) -> None:
        self._store = store
        self._key = clearing_key
        self._clock_ms = clock_ms

    @retry_on_conflict
    def record_funds_in(self, *, movement_id: str, bank_id: str, amount_minor: int, external_reference: str,
                        action: OperatorAction) -> FundsResult:
        check_movement_id(movement_id)
        return self._record(movement_id=movement_id, bank_id=bank_id, direction=IN, amount_minor=amount_minor,
                            external_reference=external_reference, action=action)

    @retry_on_conflict
    def reserve_funds_out(self, *, movement_id: str, bank_id: str, amount_minor: int, external_reference: str,
                          action: OperatorAction) -> FundsResult:
        check_movement_id(movement_id)
        return self._record(movement_id=movement_id, bank_id=bank_id, direction=OUT, amount_minor=amount_minor,
                            external_reference=external_reference, action=action)

    def record_admission(self, connection: sa.Connection, *, bank_id: str, currency: str, amount_minor: int,
                         window_id: int, now_ms: int) -> None:
        """The liquidity a bank is admitted with, as its first funds in, inside admit's transaction
        (which locked its statement window, window_id, and whose audit entry records it)."""
        self._insert_in(connection, movement_id=ADMISSION_PREFIX + bank_id, bank_id=bank_id, currency=currency,
                        amount_minor=amount_minor, external_reference="liquidity at admission",
                        action=OperatorAction(operator="clearing", reason="admission"), window_id=window_id,
                        now_ms=now_ms, audit_kind=None)

    def _record(self, *, movement_id: str, bank_id: str, direction: str, amount_minor: int, external_reference: str,
                action: OperatorAction) -> FundsResult:
        check_external_reference(external_reference)
        now_ms = self._clock_ms()
        with self._store.write() as connection:
            # A funds in commits at once: its statement window is locked first (the lock order).
            window_id = movements.statement_window_id(connection) if direction == IN else None
            bank = lock_participants(connection, [bank_id]).get(bank_id)
            if bank is None:
                raise FedmallError(rc.RESULT_CODE_UNKNOWN_PARTICIPANT, f"no participant {bank_id!r}")
            if bank.status == rules.LEFT:  # It took its liquidity with it; its history stays as it was.
                raise FedmallError(rc.RESULT_CODE_PARTICIPANT_LEFT, f"{bank_id} has left the consortium")
            existing = self._movement(connection, movement_id)
            if existing is not None:
                same = (existing.bank_id, existing.direction, existing.amount_minor, existing.external_reference) == (
                    bank_id, direction, amount_minor, external_reference)
                if not same:
                    raise FedmallError(rc.RESULT_CODE_MODIFIED_REQUEST,
                                       f"movement {movement_id} exists with other terms")
                return FundsResult(rc.RESULT_CODE_EXISTS, existing)
            check_amount(bank, amount_minor, direction=direction)
            check_funds_moved(connection, bank, amount_minor)
            if direction == IN:
                if rules.liquidity_ceiling_problem(liquidity_minor=bank.liquidity_minor,
                                                   unsettled_gross_minor=bank.unsettled_gross_minor,
                                                   amount_minor=amount_minor):
                    raise FedmallError(rc.RESULT_CODE_LIQUIDITY_CEILING_EXCEEDED, (
                        f"{bank_id} holds liquidity of {format_money(bank.liquidity_minor, bank.currency)} and has "
                        f"{format_money(bank.unsettled_gross_minor, bank.currency)} of transfers not settled; with "
                        f"{format_money(amount_minor, bank.currency)} more it could hold more than "
                        f"{format_money(limits.liquidity_ceiling_minor_max, bank.currency)}: take funds out first"))
                self._insert_in(connection, movement_id=movement_id, bank_id=bank_id, currency=bank.currency,
                                amount_minor=amount_minor, external_reference=external_reference, action=action,
                                window_id=window_id, now_ms=now_ms)
            else:
                self._reserve_out(connection, bank, movement_id=movement_id, amount_minor=amount_minor,
                                  external_reference=external_reference, action=action, now_ms=now_ms)
            return FundsResult(rc.RESULT_CODE_OK, self._movement(connection, movement_id))

    def _insert_in(self, connection: sa.Connection, *, movement_id: str, bank_id: str, currency: str,
                   amount_minor: int, external_reference: str, action: OperatorAction, window_id: int, now_ms: int,
                   audit_kind: str | None = "funds.in") -> None:
        """The bank's statement window is locked already, then its row (deliver locks it)."""
        connection.execute(sa.insert(funds_movements).values(
            movement_id=movement_id, bank_id=bank_id, direction=IN, amount_minor=amount_minor, currency=currency,
            state=COMMITTED, external_reference=external_reference, reason=action.reason, operator=action.operator,
            created_at_ms=now_ms, decided_at_ms=now_ms, window_id=window_id))
        connection.execute(sa.update(participants).where(participants.c.bank_id == bank_id)
                           .values(liquidity_minor=participants.c.liquidity_minor + amount_minor))
        self._committed(connection, movement_id, now_ms=now_ms, kind=audit_kind)

    def _reserve_out(self, connection: sa.Connection, bank: sa.Row, *, movement_id: str, amount_minor: int,
                     external_reference: str, action: OperatorAction, now_ms: int) -> None:
        problem = funds_out_problem(
            liquidity_minor=bank.liquidity_minor, funds_out_reserved_minor=bank.funds_out_reserved_minor,
            position_minor=bank.position_minor, reserved_minor=bank.reserved_minor, amount_minor=amount_minor)
        if problem != rc.RESULT_CODE_OK:
            def amount(minor: int) -> str:
                return format_money(minor, bank.currency)
            raise FedmallError(problem, f"{bank.bank_id} cannot take {amount(amount_minor)} out: liquidity "
                                        f"{amount(bank.liquidity_minor)}, funds out reserved "
                                        f"{amount(bank.funds_out_reserved_minor)}, position "
                                        f"{amount(bank.position_minor)}, transfers reserved "
                                        f"{amount(bank.reserved_minor)}")
        connection.execute(sa.insert(funds_movements).values(
            movement_id=movement_id, bank_id=bank.bank_id, direction=OUT, amount_minor=amount_minor,
            currency=bank.currency, state=RESERVED, external_reference=external_reference, reason=action.reason,
            operator=action.operator, created_at_ms=now_ms))
        connection.execute(sa.update(participants).where(participants.c.bank_id == bank.bank_id).values(
            funds_out_reserved_minor=participants.c.funds_out_reserved_minor + amount_minor))
        audit.append(connection, kind="funds.out.reserve", party_id="operator", now_ms=now_ms, body=audit.json_body({
            "movement_id": movement_id, "bank_id": bank.bank_id, "amount_minor": amount_minor,
            "currency": bank.currency, "external_reference": external_reference, **action.audit_fields()}))

    @retry_on_conflict
    def commit_funds_out(self, movement_id: str, *, action: OperatorAction) -> FundsResult:
        return self._decide(movement_id, COMMITTED, action=action)

    @retry_on_conflict
    def abort_funds_out(self, movement_id: str, *, action: OperatorAction) -> FundsResult:
        return self._decide(movement_id, ABORTED, action=action)

    def _decide(self, movement_id: str, outcome: str, *, action: OperatorAction) -> FundsResult:
        now_ms = self._clock_ms()
        with self._store.write() as connection:
            # A commit is stamped with its statement window, locked first (the lock order).
            window_id = movements.statement_window_id(connection) if outcome == COMMITTED else None
            found = self._movement(connection, movement_id)
            if found is None:
                raise FedmallError(rc.RESULT_CODE_FUNDS_MOVEMENT_UNKNOWN, f"no funds movement {movement_id!r}")
            lock_participants(connection, [found.bank_id])
            movement = self._movement(connection, movement_id)  # Read again under the bank's lock.
            if movement.direction != OUT:
                raise FedmallError(rc.RESULT_CODE_INVALID_STATE, f"{movement_id} is a funds in: it committed at once")
            if movement.state == outcome:
                return FundsResult(rc.RESULT_CODE_EXISTS, movement)
            if movement.state != RESERVED:
                raise FedmallError(rc.RESULT_CODE_INVALID_STATE, f"{movement_id} is already {movement.state}")
            p = participants.c
            released = {"funds_out_reserved_minor": p.funds_out_reserved_minor - movement.amount_minor}
            if outcome == COMMITTED:
                released["liquidity_minor"] = p.liquidity_minor - movement.amount_minor
            connection.execute(sa.update(participants).where(p.bank_id == movement.bank_id).values(**released))
            connection.execute(sa.update(funds_movements).where(funds_movements.c.movement_id == movement_id).values(
                state=outcome, decided_at_ms=now_ms, window_id=window_id))
            if outcome == COMMITTED:
                self._committed(connection, movement_id, now_ms=now_ms, kind="funds.out.commit", action=action)
            else:
                audit.append(connection, kind="funds.out.abort", party_id="operator", now_ms=now_ms,
                             body=audit.json_body({"movement_id": movement_id, **action.audit_fields()}))
            return FundsResult(rc.RESULT_CODE_OK, self._movement(connection, movement_id))

    def _committed(self, connection: sa.Connection, movement_id: str, *, now_ms: int, kind: str | None,
                   action: OperatorAction | None = None) -> None:
        """Tell the bank and write the audit entry (kind; None when the caller's entry covers it)
        of a movement that just committed."""
        row = self._movement(connection, movement_id)
        movements.deliver_movement(connection, movements.funds_movement(row), key=self._key, now_ms=now_ms)
        if kind is None:
            return
        document = {"movement_id": movement_id, "bank_id": row.bank_id, "amount_minor": row.amount_minor,
                    "currency": row.currency, "external_reference": row.external_reference,
                    "window_id": row.window_id}
        document.update((action or OperatorAction(operator=row.operator, reason=row.reason)).audit_fields())
        audit.append(connection, kind=kind, party_id="operator", now_ms=now_ms, body=audit.json_body(document))

    @staticmethod
    def _movement(connection: sa.Connection, movement_id: str) -> sa.Row | None:
        return connection.execute(sa.select(funds_movements).where(funds_movements.c.movement_id == movement_id)).first()

    def list(self, *, bank_id: str = "", limit: int = 100) -> list[sa.Row]:
        """The newest movements first, of one bank or all."""
        query = sa.select(funds_movements).order_by(funds_movements.c.created_at_ms.desc(),
                                                    funds_movements.c.movement_id).limit(limit)
        if bank_id:
            query = query.where(funds_movements.c.bank_id == bank_id)
        with self._store.read() as connection:
            return connection.execute(query).all()
