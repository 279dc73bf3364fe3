"""A member bank's life in the consortium after admission, and the operator's changes to it.

    admit ─▶ ONBOARDING ─(its node's first call)─▶ ACTIVE ◀─resume── SUSPENDED ─leave─▶ LEFT
                                                      └───suspend───▶

    ONBOARDING  admitted (clearing.registry.Registry.admit); it neither pays nor is paid
                until its node first calls the clearing, which makes it ACTIVE
                (Registry.record_connected: audit kind participant.active, by the clearing).
    ACTIVE      pays and is paid.
    SUSPENDED   no new transfers (clearing.rules.prepare_problem; its own prepares are refused
                as a whole, PARTICIPANT_SUSPENDED), no signing key added or revoked, no quote
                from any node (node.callers); what is in flight finishes: the transfers
                reserved to or from it before its suspension commit or abort as ever (it
                decides those it is payee of), and it keeps its stream, its statements and
                their answers, so no window waits on it.
    LEFT        for good: its signing keys are revoked, it cannot call the clearing
                (PERMISSION_DENIED), nodes are not offered it as a peer, it is in no later
                window. Its row, transfers, statements and audit entries stay.

Which ClearingService call each status may make is clearing.rules.MEMBER_CALLS, applied to
every call before its servicer runs (clearing.servicer.MembershipGate): a bank that is no
participant, one that LEFT and any other role get PERMISSION_DENIED and nothing else; a
suspended bank's refused call gets PARTICIPANT_SUSPENDED. Nothing refused there is written,
not even to the audit log.

Suspending or resuming an ONBOARDING or LEFT bank is refused (Registry.set_status). The
operator's changes here (node address, name, leaving) each append an audit entry naming
the operator and the reason (clearing.operator) in the transaction that makes them; a
refusal changes nothing.

Errors: FedmallError with UNKNOWN_PARTICIPANT, PARTICIPANT_LEFT or INVALID_FIELD, and

    FedmallError
     └── LeaveRefused   PARTICIPANT_STATE_INVALID; .problems lists every condition unmet
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from fedmall import identifiers, limits, money, text
from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import transfer_pb2

from clearing import audit, credentials, rules
from clearing.operator import OperatorAction
from clearing.registry import KEY_ACTIVE, KEY_REVOKED
from clearing.store import (
    Store, funds_movements, lock_participants, participants, retry_on_conflict, settlement_windows, signing_keys,
    transfers, window_nets)
from clearing.windows import CLOSED, OPEN, PENDING_SETTLEMENT, state_name

NAME_LENGTH_MAX = limits.participant_name_length_max  # participants.name
ADDRESS_LENGTH_MAX = 255  # participants.node_address

# The conditions of leaving, as LeaveProblem.condition names them.
NOT_SUSPENDED, POSITION, RESERVATION, UNSETTLED_WINDOW, LIQUIDITY, UNLISTED_MOVEMENT = (
    "not_suspended", "position", "reservation", "unsettled_window", "liquidity", "unlisted_movement")
RESERVED = transfer_pb2.TRANSFER_STATE_RESERVED
COMMITTED = transfer_pb2.TRANSFER_STATE_COMMITTED


@dataclass(frozen=True, slots=True)
class LeaveProblem:
    condition: str  # NOT_SUSPENDED, POSITION, RESERVATION, UNSETTLED_WINDOW or LIQUIDITY
    detail: str


class LeaveRefused(FedmallError):
    def __init__(self, bank_id: str, problems: list[LeaveProblem]) -> None:
        super().__init__(rc.RESULT_CODE_PARTICIPANT_STATE_INVALID,
                         f"{bank_id} cannot leave: " + "; ".join(problem.detail for problem in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class Change:
    """What an operator's change did: changed is False when the value was already so (a retry)."""
    bank_id: str
    previous: str
    current: str
    changed: bool


@dataclass(frozen=True, slots=True)
class Departure:
    bank_id: str
    revoked_key_ids: tuple[str, ...]


def leave_problems(*, status: str, currency: str, position_minor: int, reserved_minor: int,
                   undecided_transfers: int, unsettled_windows: dict[int, int], liquidity_minor: int,
                   funds_out_reserved_minor: int = 0, unlisted_movements: int = 0) -> list[LeaveProblem]:
    """Every reason the bank cannot leave yet; [] when it can.

    A bank leaves with nothing left between it and the clearing: suspended first (so no new
    transfer names it), no position (it owes and is owed nothing not yet settled), nothing
    reserved and no transfer waiting for its decision (its node will not answer any more),
    every window holding its committed transfers settled (each such window needs its answer
    to settle, clearing.windows.needs_answer, and it will never give one; the open window
    counts too), and its prefunded liquidity paid out (funds out), so the clearing holds
    none of its money, with no funds out still reserved, and its last liquidity movements
    (that payout, a settlement) listed on a statement it was sent (clearing.movements), since
    it gets none once it has left. unsettled_windows maps each unsettled window holding its
    transfers to that window's state.
    """
    problems = []
    if status == rules.ONBOARDING:
        problems.append(LeaveProblem(NOT_SUSPENDED, "it is onboarding (its node never connected), and only a "
                                                    "suspended bank leaves"))
    elif status != rules.SUSPENDED:
        problems.append(LeaveProblem(NOT_SUSPENDED, f"it is {status}; suspend it first"))
    if position_minor != 0:
        problems.append(LeaveProblem(POSITION, f"its position is {money.format_money(position_minor, currency)}, "
                                               "not zero; settle its windows first"))
    if reserved_minor != 0 or undecided_transfers:
        problems.append(LeaveProblem(RESERVATION, f"{money.format_money(reserved_minor, currency)} reserved and "
                                                  f"{undecided_transfers} transfers naming it not decided yet; "
                                                  "wait for them to commit, abort or expire"))
    if unsettled_windows:
        problems.append(LeaveProblem(UNSETTLED_WINDOW, "its transfers are in windows not settled: " + ", ".join(
            f"{window_id} ({state_name(state)})" for window_id, state in sorted(unsettled_windows.items()))))
    if liquidity_minor != 0:
        problems.append(LeaveProblem(LIQUIDITY, f"it still has {money.format_money(liquidity_minor, currency)} "
                                                "prefunded liquidity; pay it out first (funds out)"))
    if funds_out_reserved_minor != 0:
        problems.append(LeaveProblem(LIQUIDITY, f"a funds out of {money.format_money(funds_out_reserved_minor, currency)}"
                                                " is reserved; commit or abort it first"))
    if unlisted_movements:
        problems.append(LeaveProblem(UNLISTED_MOVEMENT, f"{unlisted_movements} of its liquidity movements are on no "
                                                        "statement yet; close the open window first"))
    return problems


def certificate_renewal_needed(previous_address: str, address: str) -> bool:
    """Does the bank's TLS certificate, issued for previous_address, not name address's host?
    Only operators' tools that dial the node by host care: other nodes demand its party name
    (fedmall.pki.party_name), which does not change (clearing.credentials.bank_hosts)."""
    return not set(credentials.bank_hosts(address)) <= set(credentials.bank_hosts(previous_address))


def check_node_address(address: str) -> str:
    try:
        identifiers.check_host_port(address, "the node address")
    except ValueError as error:
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, str(error)) from None
    if len(address) > ADDRESS_LENGTH_MAX:
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, f"a node address has at most {ADDRESS_LENGTH_MAX} characters")
    return address


def check_name(name: str) -> str:
    name = name.strip()
    if text.text_problem(name, length_max=NAME_LENGTH_MAX, required=True) is not None:
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD,
                           f"a bank's name is 1..{NAME_LENGTH_MAX} printable characters, not {name!r}")
    return name


class Membership:
    def __init__(self, store: Store, *, clock_ms: Callable[[], int]) -> None:
        self._store = store
        self._clock_ms = clock_ms

    def set_address(self, bank_id: str, node_address: str, *, action: OperatorAction) -> Change:
        """Where the bank's node listens for peers now. Nodes read it from ListParticipants
        (node.peers): they use it from their next registry read, without a restart."""
        return self._set(bank_id, "node_address", check_node_address(node_address), kind="participant.address",
                         action=action)

    def set_name(self, bank_id: str, name: str, *, action: OperatorAction) -> Change:
        return self._set(bank_id, "name", check_name(name), kind="participant.name", action=action)

    @retry_on_conflict
    def _set(self, bank_id: str, column: str, value: str, *, kind: str, action: OperatorAction) -> Change:
        now_ms = self._clock_ms()
        with self._store.write() as connection:
            row = _locked_member(connection, bank_id)
            previous = getattr(row, column)
            if previous == value:
                return Change(bank_id, previous, value, changed=False)
            connection.execute(sa.update(participants).where(participants.c.bank_id == bank_id)
                               .values({column: value}))
            audit.append(connection, kind=kind, party_id="operator", now_ms=now_ms, body=audit.json_body({
                "bank_id": bank_id, column: value, "previous": previous, **action.audit_fields()}))
        return Change(bank_id, previous, value, changed=True)

    @retry_on_conflict
    def leave(self, bank_id: str, *, action: OperatorAction) -> Departure:
        """Mark the bank LEFT and revoke its signing keys, or LeaveRefused (nothing changed)."""
        now_ms = self._clock_ms()
        with self._store.write() as connection:
            row = _locked_member(connection, bank_id)
            problems = leave_problems(
                status=row.status, currency=row.currency, position_minor=row.position_minor,
                reserved_minor=row.reserved_minor, undecided_transfers=_undecided_transfers(connection, bank_id),
                unsettled_windows=_unsettled_windows(connection, bank_id), liquidity_minor=row.liquidity_minor,
                funds_out_reserved_minor=row.funds_out_reserved_minor,
                unlisted_movements=_unlisted_movements(connection, bank_id))
            if problems:
                raise LeaveRefused(bank_id, problems)
            key_ids = tuple(connection.execute(
                sa.select(signing_keys.c.key_id).where(signing_keys.c.owner == bank_id,
                                                       signing_keys.c.status == KEY_ACTIVE)
                .order_by(signing_keys.c.key_id)).scalars())
            connection.execute(sa.update(signing_keys).where(signing_keys.c.key_id.in_(key_ids))
                               .values(status=KEY_REVOKED))
            connection.execute(sa.update(participants).where(participants.c.bank_id == bank_id)
                               .values(status=rules.LEFT))
            audit.append(connection, kind="participant.leave", party_id="operator", now_ms=now_ms,
                         body=audit.json_body({"bank_id": bank_id, "revoked_key_ids": list(key_ids),
                                               **action.audit_fields()}))
        return Departure(bank_id, key_ids)


def _locked_member(connection: sa.Connection, bank_id: str) -> sa.Row:
    """The bank's row, locked; refused when there is none or it left (a LEFT bank stays as it was)."""
    row = lock_participants(connection, [bank_id]).get(bank_id)
    if row is None:
        raise FedmallError(rc.RESULT_CODE_UNKNOWN_PARTICIPANT, f"no participant {bank_id!r}")
    if row.status == rules.LEFT:
        raise FedmallError(rc.RESULT_CODE_PARTICIPANT_LEFT, f"{bank_id} left the consortium; it stays as it was")
    return row


def _names(bank_id: str):
    return sa.or_(transfers.c.payer_bank_id == bank_id, transfers.c.payee_bank_id == bank_id)


def _undecided_transfers(connection: sa.Connection, bank_id: str) -> int:
    return connection.scalar(sa.select(sa.func.count()).select_from(transfers)
                             .where(_names(bank_id), transfers.c.state == RESERVED))


def _unlisted_movements(connection: sa.Connection, bank_id: str) -> int:
    """The bank's liquidity movements stamped with a window not issued yet (clearing.movements)."""
    unissued = sa.select(settlement_windows.c.window_id).where(settlement_windows.c.state.in_([OPEN, CLOSED]))
    f, n = funds_movements.c, window_nets.c
    funds = connection.scalar(sa.select(sa.func.count()).where(
        f.bank_id == bank_id, f.state == "committed", f.window_id.in_(unissued)))
    settlements = connection.scalar(sa.select(sa.func.count()).where(
        n.bank_id == bank_id, n.net_minor != 0, n.settled_in_window_id.in_(unissued)))
    return funds + settlements


def _unsettled_windows(connection: sa.Connection, bank_id: str) -> dict[int, int]:
    """Each window not settled (open, closed or pending) holding a committed transfer of the
    bank, with its state. One statement, so a window aborted meanwhile (its transfers moving
    to the open window) is seen before or after, never neither."""
    t, w = transfers.c, settlement_windows.c
    return dict(connection.execute(
        sa.select(w.window_id, w.state).distinct()
        .select_from(transfers.join(settlement_windows, t.window_id == w.window_id))
        .where(_names(bank_id), t.state == COMMITTED, w.state.in_([OPEN, CLOSED, PENDING_SETTLEMENT]))).all())
