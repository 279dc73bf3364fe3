"""Settlement windows: close, net, issue signed reports and statements, take the members'
reconciliations, settle against prefunded liquidity, or abort.

    OPEN -> CLOSED -> PENDING_SETTLEMENT -> SETTLED
                 \\________________________-> ABORTED (its transfers move to the open window)

Exactly one window is OPEN. A commit share-locks the open window's row
(``open_window_id``) and closing locks it for update, so a close waits for the commits
in flight and no transfer can commit into a closed window.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from fedmall import limits, wellformed
from fedmall.database import sum_of
from fedmall.envelope import Envelope, SigningKey, open_envelope
from fedmall.results import FedmallError
from fedmall.statement_hash import statement_sha256
from fedmall.v1 import money_pb2, settlement_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import audit, audit_envelopes, movements, netting, rules
from clearing.deliveries import DeliveryBell, deliver
from clearing.operator import named_operator
from clearing.registry import Registry
from clearing.store import (
    Store, lock_participants, participants, reconciliations, retry_on_conflict, settlement_windows, statement_pages,
    transfers, window_nets)

OPEN = settlement_pb2.WINDOW_STATE_OPEN
CLOSED = settlement_pb2.WINDOW_STATE_CLOSED
PENDING_SETTLEMENT = settlement_pb2.WINDOW_STATE_PENDING_SETTLEMENT
SETTLED = settlement_pb2.WINDOW_STATE_SETTLED
ABORTED = settlement_pb2.WINDOW_STATE_ABORTED
COMMITTED = transfer_pb2.TRANSFER_STATE_COMMITTED

ACKNOWLEDGED, DISPUTED, SILENT, IDLE = "acknowledged", "disputed", "silent", "idle"
# Banks that are members of a window when it is issued: each gets a statement (a bank with
# transfers in the window always does). An ONBOARDING bank has none yet, a LEFT one never again.
WINDOW_MEMBER_STATUSES = (rules.ACTIVE, rules.SUSPENDED)


def state_name(state: int) -> str:
    return settlement_pb2.WindowState.Name(state).removeprefix("WINDOW_STATE_")


def open_window_id(connection: sa.Connection) -> int:
    """The open window, share-locked until this transaction ends.

    On PostgreSQL a waiter on a window that closed meanwhile gets no row back (the row
    no longer matches); the loop then finds the window that replaced it.
    """
    for _ in range(3):
        window_id = connection.scalar(sa.select(settlement_windows.c.window_id)
                                      .where(settlement_windows.c.state == OPEN).with_for_update(read=True))
        if window_id is not None:
            return window_id
    raise AssertionError("no open settlement window")  # Closing always opens the next one.


@dataclass(frozen=True, slots=True)
class MemberAnswer:
    bank_id: str
    status: str  # acknowledged, disputed, silent, or idle (silent, but no answer needed)
    breaks: tuple[settlement_pb2.ReconciliationBreak, ...]


def needs_answer(net) -> bool:
    """Does settling the window wait for this bank's answer to its statement? net is its
    window_nets row (or a netting.NetRow): only when the window moved its money, that is
    when it paid or was paid (debits or credits, even if they net to zero).

    A bank idle in the window still gets its statement (its opening position and the audit
    head, so it can check the clearing saw nothing of it, and a camt.053 for its records),
    and its node answers it as any other; but its silence never holds up settlement: a bank
    with nothing to settle (a small one on a quiet day, one whose node is down for
    maintenance) must not stop every other member's. An idle bank's dispute still does: it
    says the clearing missed something.
    """
    return net.debits_minor != 0 or net.credits_minor != 0


def window_members(connection: sa.Connection) -> list[sa.Row]:
    """The banks that get a statement of a window issued now: (bank_id, currency, liquidity_minor),
    by bank id."""
    return connection.execute(sa.select(participants.c.bank_id, participants.c.currency, participants.c.liquidity_minor)
                              .where(participants.c.status.in_(WINDOW_MEMBER_STATUSES))
                              .order_by(participants.c.bank_id)).all()


def _settled_gross(participant: sa.Row, net: sa.Row) -> int:
    """The bank's unsettled gross once the window of its window_nets row net settled."""
    unsettled_minor = participant.unsettled_gross_minor - net.debits_minor - net.credits_minor
    assert unsettled_minor >= 0, (participant.bank_id, participant.unsettled_gross_minor, net)
    return unsettled_minor


def _money(amount_minor: int, currency: str) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency=currency)


class WindowService:
    def __init__(self, store: Store, registry: Registry, *, clearing_key: SigningKey, bell: DeliveryBell,
                 clock_ms: Callable[[], int]) -> None:
        self.store = store
        self.clock_ms = clock_ms
        self._registry = registry
        self._key = clearing_key
        self._bell = bell

    # Reading ---------------------------------------------------------------------------

    def windows(self) -> list[sa.Row]:
        with self.store.read() as connection:
            return connection.execute(sa.select(settlement_windows).order_by(settlement_windows.c.window_id)).all()

    def window(self, window_id: int) -> sa.Row:
        with self.store.read() as connection:
            return self._window(connection, window_id)

    @staticmethod
    def _window(connection: sa.Connection, window_id: int, *, for_update: bool = False) -> sa.Row:
        query = sa.select(settlement_windows).where(settlement_windows.c.window_id == window_id)
        row = connection.execute(query.with_for_update() if for_update else query).first()
        if row is None:
            raise FedmallError(rc.RESULT_CODE_WINDOW_NOT_FOUND, f"no settlement window {window_id}")
        return row

    def report(self, window_id: int) -> tuple[Envelope, settlement_pb2.SettlementReport]:
        row = self.window(window_id)
        if row.report_envelope is None:
            raise FedmallError(rc.RESULT_CODE_WINDOW_STATE_INVALID, f"window {window_id} has no report yet")
        envelope = Envelope.FromString(row.report_envelope)
        return envelope, settlement_pb2.SettlementReport.FromString(envelope.payload)

    def statement(self, window_id: int, bank_id: str) -> list[Envelope]:
        with self.store.read() as connection:
            return [Envelope.FromString(data) for data in connection.execute(
                sa.select(statement_pages.c.envelope)
                .where(statement_pages.c.window_id == window_id, statement_pages.c.bank_id == bank_id)
                .order_by(statement_pages.c.page_index)).scalars()]

    def nets(self, window_id: int) -> list[sa.Row]:
        with self.store.read() as connection:
            return connection.execute(sa.select(window_nets).where(window_nets.c.window_id == window_id)
                                      .order_by(window_nets.c.bank_id)).all()

    def answers(self, window_id: int) -> list[MemberAnswer]:
        """Each member's answer to its statement for the window."""
        with self.store.read() as connection:
            return self._answers(connection, window_id)

    @staticmethod
    def _answers(connection: sa.Connection, window_id: int) -> list[MemberAnswer]:
        needed: dict[str, bool] = {}
        for net in connection.execute(sa.select(window_nets).where(window_nets.c.window_id == window_id)
                                      .order_by(window_nets.c.bank_id)):
            needed[net.bank_id] = needed.get(net.bank_id, False) or needs_answer(net)
        received = {row.bank_id: row for row in connection.execute(
            sa.select(reconciliations).where(reconciliations.c.window_id == window_id))}
        answers = []
        for bank_id, answer_needed in needed.items():
            row = received.get(bank_id)
            if row is None:
                answers.append(MemberAnswer(bank_id, SILENT if answer_needed else IDLE, ()))
                continue
            answer = settlement_pb2.Reconciliation.FromString(Envelope.FromString(row.envelope).payload)
            answers.append(MemberAnswer(bank_id, DISPUTED if answer.breaks else ACKNOWLEDGED, tuple(answer.breaks)))
        return answers

    # Closing and issuing --------------------------------------------------------------

    @retry_on_conflict
    def close(self, *, window_id: int | None = None, open_for_ms_min: int = 0,
              operator: str = "") -> tuple[int, int] | None:
        """Close the open window (or check that window_id is it) and open the next, atomically.
        operator, when named, is recorded in the audit entry (the web console names its operator).

        With open_for_ms_min, close only a window open at least that long (the schedule:
        judged on the locked row, so several clearing processes close it once) and return
        None otherwise.
        """
        with self.store.write() as connection:
            current = connection.execute(sa.select(settlement_windows).where(settlement_windows.c.state == OPEN)
                                         .with_for_update()).first()
            now_ms = self.clock_ms()
            if current is None:  # Another process closed it while we waited for the lock.
                if open_for_ms_min:
                    return None  # A schedule: that process closed it on time.
                raise FedmallError(rc.RESULT_CODE_WINDOW_STATE_INVALID, "the open window just closed; try again")
            if now_ms - current.opened_at_ms < open_for_ms_min:
                return None
            if window_id is not None and window_id != current.window_id:
                self._window(connection, window_id)  # WINDOW_NOT_FOUND when there is no such window.
                raise FedmallError(rc.RESULT_CODE_WINDOW_STATE_INVALID,
                                   f"window {window_id} is not open (window {current.window_id} is)")
            next_id = current.window_id + 1
            connection.execute(sa.update(settlement_windows).where(settlement_windows.c.window_id == current.window_id)
                               .values(state=CLOSED, closed_at_ms=now_ms))
            connection.execute(sa.insert(settlement_windows).values(window_id=next_id, state=OPEN, opened_at_ms=now_ms))
            audit.append(connection, kind="window.close", party_id="operator", now_ms=now_ms,
                         body=audit.json_body({"closed": current.window_id, "opened": next_id,
                                               **named_operator(operator)}))
        return current.window_id, next_id

    def issue_closed(self) -> list[int]:
        """Issue the report and statements of every CLOSED window (after a close or a crash)."""
        with self.store.read() as connection:
            closed = connection.execute(sa.select(settlement_windows.c.window_id)
                                        .where(settlement_windows.c.state == CLOSED)
                                        .order_by(settlement_windows.c.window_id)).scalars().all()
        return [window_id for window_id in closed if self.issue(window_id)]

    @retry_on_conflict
    def issue(self, window_id: int) -> bool:
        """Net a CLOSED window; sign and deliver its report and every member's statement.

        Returns False when the window was not CLOSED (already issued, say): safe to retry.
        Windows are issued in order, so that statements chain (clearing.movements).
        """
        now_ms = self.clock_ms()
        with self.store.write() as connection:
            window = self._window(connection, window_id, for_update=True)
            if window.state != CLOSED:
                return False
            earlier = connection.scalar(sa.select(sa.func.min(settlement_windows.c.window_id)).where(
                settlement_windows.c.window_id < window_id, settlement_windows.c.state == CLOSED))
            if earlier is not None:
                raise FedmallError(rc.RESULT_CODE_WINDOW_STATE_INVALID, f"issue window {earlier} first")
            members = window_members(connection)
            result = netting.net(self._bilateral(connection, window_id), bank_ids=[m.bank_id for m in members],
                                 currencies={m.bank_id: m.currency for m in members})
            opening = self._opening_positions(connection, window_id)
            head = audit.head(connection)
            report = self._report(window, result, head)
            report_envelope = self._key.sign(report)
            closing_liquidity = {member.bank_id: member.liquidity_minor for member in members}
            pages = self._statements(connection, window_id, result, opening, closing_liquidity, head)
            if result.rows:  # None when no bank is a member yet (every one still onboarding).
                connection.execute(sa.insert(window_nets), [{
                    "window_id": window_id, "bank_id": row.bank_id, "currency": row.currency,
                    "debits_minor": row.debits_minor, "credits_minor": row.credits_minor, "net_minor": row.net_minor,
                    "opening_position_minor": opening.get(row.bank_id, 0)} for row in result.rows])
                connection.execute(sa.insert(statement_pages), [
                    {"window_id": window_id, "bank_id": bank_id, "page_index": index,
                     "envelope": page.SerializeToString()}
                    for bank_id, bank_pages in pages.items() for index, page in enumerate(bank_pages)])
            deliver(connection, {bank_id: bank_pages + [report_envelope] for bank_id, bank_pages in pages.items()},
                    now_ms=now_ms)
            connection.execute(sa.update(settlement_windows).where(settlement_windows.c.window_id == window_id)
                               .values(state=PENDING_SETTLEMENT, report_envelope=report_envelope.SerializeToString()))
            audit.append(connection, kind="window.issue", party_id="clearing", now_ms=now_ms, body=audit.json_body({
                "window_id": window_id,
                "report_sha256": hashlib.sha256(report_envelope.SerializeToString()).hexdigest()}))
        self._bell.ring(list(pages))
        return True

    def netting(self, window_id: int) -> netting.Netting:
        """The window's netting straight from the transfers (also for an open window)."""
        with self.store.read() as connection:
            members = window_members(connection)
            return netting.net(self._bilateral(connection, window_id), bank_ids=[m.bank_id for m in members],
                               currencies={m.bank_id: m.currency for m in members})

    @staticmethod
    def _bilateral(connection: sa.Connection, window_id: int) -> list[netting.Bilateral]:
        t = transfers.c
        rows = connection.execute(
            sa.select(t.payer_bank_id, t.payee_bank_id, t.currency, sum_of(t.amount_minor), sa.func.count())
            .where(t.window_id == window_id, t.state == COMMITTED)
            .group_by(t.payer_bank_id, t.payee_bank_id, t.currency))
        return [netting.Bilateral(payer, payee, currency, amount, count)
                for payer, payee, currency, amount, count in rows]

    @staticmethod
    def _opening_positions(connection: sa.Connection, window_id: int) -> dict[str, int]:
        """Each bank's position from the earlier windows not yet settled: what it owed at this window's start."""
        t, w = transfers.c, settlement_windows.c
        unsettled = sa.select(w.window_id).where(w.window_id < window_id, w.state.in_([CLOSED, PENDING_SETTLEMENT]))
        positions: dict[str, int] = {}
        for column, sign in ((t.payer_bank_id, 1), (t.payee_bank_id, -1)):
            for bank_id, amount in connection.execute(
                    sa.select(column, sum_of(t.amount_minor))
                    .where(t.state == COMMITTED, t.window_id.in_(unsettled)).group_by(column)):
                positions[bank_id] = positions.get(bank_id, 0) + sign * amount
        return positions

    @staticmethod
    def _report(window: sa.Row, result: netting.Netting, head: audit.AuditHead) -> settlement_pb2.SettlementReport:
        return settlement_pb2.SettlementReport(
            window_id=window.window_id, opened_at_unix_ms=window.opened_at_ms,
            closed_at_unix_ms=window.closed_at_ms or 0, transfer_count=result.transfer_count,
            gross=[_money(amount, currency) for currency, amount in sorted(result.gross_minor.items())],
            net_total=[_money(amount, currency) for currency, amount in sorted(result.net_total_minor.items())],
            net_positions=[settlement_pb2.NetPosition(
                bank_id=row.bank_id, debits=_money(row.debits_minor, row.currency),
                credits=_money(row.credits_minor, row.currency), net=_money(row.net_minor, row.currency))
                for row in result.rows],
            bilateral=[settlement_pb2.BilateralPosition(
                bank_id=pair.bank_id, counterparty_bank_id=pair.counterparty_bank_id,
                paid=_money(pair.paid_minor, pair.currency), received=_money(pair.received_minor, pair.currency),
                net=_money(pair.net_minor, pair.currency), transfer_count=pair.transfer_count)
                for pair in result.pairs],
            audit_head=settlement_pb2.AuditHead(sequence=head.sequence, entry_hash=head.entry_hash))

    def _statements(self, connection: sa.Connection, window_id: int, result: netting.Netting,
                    opening: dict[str, int], closing_liquidity: dict[str, int],
                    head: audit.AuditHead) -> dict[str, list[Envelope]]:
        """Every member's statement pages, signed: all its transfers of the window in commit
        order, and its liquidity movements (clearing.movements). closing_liquidity is each
        member's liquidity now: every movement recorded so far is stamped with this window or
        an earlier one, since this window is the oldest not issued and is locked."""
        entries: dict[str, list[settlement_pb2.StatementEntry]] = {row.bank_id: [] for row in result.rows}
        t = transfers.c
        for row in connection.execute(
                sa.select(t.transfer_id, t.payer_bank_id, t.payee_bank_id, t.amount_minor, t.currency,
                          t.prepare_bytes, t.decided_at_ms)
                .where(t.window_id == window_id, t.state == COMMITTED).order_by(t.decided_at_ms, t.transfer_id)):
            reference = transfer_pb2.Prepare.FromString(row.prepare_bytes).reference
            for bank_id, direction, counterparty in (
                    (row.payer_bank_id, settlement_pb2.ENTRY_DIRECTION_DEBIT, row.payee_bank_id),
                    (row.payee_bank_id, settlement_pb2.ENTRY_DIRECTION_CREDIT, row.payer_bank_id)):
                entries[bank_id].append(settlement_pb2.StatementEntry(
                    transfer_id=row.transfer_id, direction=direction, counterparty_bank_id=counterparty,
                    amount=_money(row.amount_minor, row.currency), reference=reference,
                    committed_at_unix_ms=row.decided_at_ms))
        listed = movements.read_statement_movements(connection, window_id)
        pages: dict[str, list[Envelope]] = {}
        page_size = limits.notices_per_delivery_max
        for row in result.rows:
            bank_entries = entries[row.bank_id]
            bank_movements = listed.get(row.bank_id, movements.StatementMovements(()))
            page_count = max(1, -(-max(len(bank_entries), len(bank_movements.movements)) // page_size))
            opening_minor = opening.get(row.bank_id, 0)
            closing_liquidity_minor = closing_liquidity[row.bank_id]
            pages[row.bank_id] = [self._key.sign(settlement_pb2.Statement(
                window_id=window_id, bank_id=row.bank_id, page_index=index, page_count=page_count,
                entries=bank_entries[index * page_size:(index + 1) * page_size],
                opening_position=_money(opening_minor, row.currency),
                closing_position=_money(opening_minor - row.net_minor, row.currency),
                net=_money(row.net_minor, row.currency), entry_count=len(bank_entries),
                audit_head=settlement_pb2.AuditHead(sequence=head.sequence, entry_hash=head.entry_hash),
                movements=bank_movements.movements[index * page_size:(index + 1) * page_size],
                movement_count=len(bank_movements.movements),
                opening_liquidity=_money(closing_liquidity_minor - bank_movements.change_minor, row.currency),
                closing_liquidity=_money(closing_liquidity_minor, row.currency)))
                for index in range(page_count)]
        return pages

    # Members' answers -------------------------------------------------------------------

    @retry_on_conflict
    def record_reconciliation(self, envelope: Envelope, *, peer: str) -> int:
        """Store a member's signed acknowledgement or dispute of its statement: EXISTS for the
        same answer again; another answer only when it withdraws the first."""
        now_ms = self.clock_ms()
        try:
            answer = open_envelope(envelope, settlement_pb2.Reconciliation, expected_signer=peer,
                                   keys=self._registry.key_lookup)
            if answer.bank_id != peer:
                raise FedmallError(rc.RESULT_CODE_FORBIDDEN, "a member answers only for itself")
            problem = wellformed.reconciliation_problem(answer)
            if problem is not None:
                raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, problem.text, field=problem.field)
        except FedmallError as error:
            with self.store.write() as connection:
                audit_envelopes.record_refusal(connection, envelope.SerializeToString(), peer=peer, code=error.code,
                                               now_ms=now_ms)
            raise
        with self.store.write() as connection:
            window = self._window(connection, answer.window_id, for_update=True)
            if window.state != PENDING_SETTLEMENT:
                raise FedmallError(rc.RESULT_CODE_WINDOW_STATE_INVALID,
                                   f"window {answer.window_id} is {state_name(window.state)}")
            pages = connection.execute(
                sa.select(statement_pages.c.envelope).where(
                    statement_pages.c.window_id == answer.window_id, statement_pages.c.bank_id == peer)
                .order_by(statement_pages.c.page_index)).scalars().all()
            if not pages:  # A bank admitted after the window was issued: no statement, nothing to answer.
                raise FedmallError(rc.RESULT_CODE_STATEMENT_MISMATCH,
                                   f"no statement was issued to {peer} for window {answer.window_id}")
            issued_sha256 = statement_sha256(Envelope.FromString(page).payload for page in pages)
            if answer.statement_sha256 != issued_sha256:
                raise FedmallError(rc.RESULT_CODE_STATEMENT_MISMATCH, "not the statement the clearing issued")
            key = {"window_id": answer.window_id, "bank_id": peer}
            previous = connection.execute(sa.select(reconciliations.c.envelope).filter_by(**key)).scalar()
            if previous is not None and Envelope.FromString(previous).payload == envelope.payload:
                return rc.RESULT_CODE_EXISTS
            if previous is not None and not answer.withdraws_previous:
                # A node that lost its books must not overwrite the answer it gave with them.
                raise FedmallError(rc.RESULT_CODE_MODIFIED_REQUEST,
                                   f"window {answer.window_id} already has {peer}'s answer; a different one must "
                                   "withdraw it (withdraws_previous)")
            connection.execute(sa.delete(reconciliations).filter_by(**key))
            connection.execute(sa.insert(reconciliations).values(
                **key, break_count=len(answer.breaks), envelope=envelope.SerializeToString(), received_at_ms=now_ms))
            audit.append(connection, kind="reconciliation.replace" if previous is not None else "reconciliation",
                         party_id=peer, now_ms=now_ms, body=envelope.SerializeToString())
        return rc.RESULT_CODE_OK

    # Settling and aborting ----------------------------------------------------------------

    @retry_on_conflict
    def settle(self, window_id: int, *, override_reason: str | None = None, operator: str = "") -> list[sa.Row]:
        """Record final settlement: each member's liquidity and position move by its net.

        Refused unless the window is PENDING_SETTLEMENT and every member acknowledged its
        statement (a member idle in it need not answer: needs_answer), or the operator
        overrides with a reason (which is recorded, with the operator when named).
        """
        now_ms = self.clock_ms()
        with self.store.write() as connection:
            window = self._window(connection, window_id, for_update=True)
            if window.state != PENDING_SETTLEMENT:
                raise FedmallError(rc.RESULT_CODE_WINDOW_STATE_INVALID,
                                   f"window {window_id} is {state_name(window.state)}, not PENDING_SETTLEMENT")
            earlier = connection.scalar(sa.select(sa.func.min(settlement_windows.c.window_id)).where(
                settlement_windows.c.window_id < window_id,
                settlement_windows.c.state.in_([CLOSED, PENDING_SETTLEMENT])))
            if earlier is not None:  # Out of order, a bank could be settled past its prefunded liquidity.
                raise FedmallError(rc.RESULT_CODE_WINDOW_STATE_INVALID, f"settle window {earlier} first")
            unresolved = [a for a in self._answers(connection, window_id) if a.status not in (ACKNOWLEDGED, IDLE)]
            if unresolved and not override_reason:
                raise FedmallError(rc.RESULT_CODE_SETTLEMENT_DISPUTED, "not settled: " + ", ".join(
                    f"{a.bank_id} {a.status}" for a in unresolved))
            nets = connection.execute(sa.select(window_nets).where(window_nets.c.window_id == window_id)).all()
            for currency in {row.currency for row in nets}:
                assert sum(row.net_minor for row in nets if row.currency == currency) == 0, (window_id, currency)
            # Windows are issued in order, so the statement window is a later one: the lock order holds.
            statement_window = movements.statement_window_id(connection)
            assert statement_window > window_id, (statement_window, window_id)
            connection.execute(sa.update(window_nets).where(window_nets.c.window_id == window_id)
                               .values(settled_in_window_id=statement_window))
            locked = lock_participants(connection, [row.bank_id for row in nets])
            if nets:  # None when the window had no member (every bank still onboarding).
                # Its transfers are settled now: they leave each bank's unsettled gross.
                connection.execute(
                    sa.update(participants).where(participants.c.bank_id == sa.bindparam("bank"))
                    .values(liquidity_minor=sa.bindparam("liquidity"), position_minor=sa.bindparam("position"),
                            unsettled_gross_minor=sa.bindparam("unsettled")),
                    [{"bank": row.bank_id, "liquidity": locked[row.bank_id].liquidity_minor + row.net_minor,
                      "position": locked[row.bank_id].position_minor + row.net_minor,
                      "unsettled": _settled_gross(locked[row.bank_id], row)} for row in nets])
            connection.execute(sa.update(settlement_windows).where(settlement_windows.c.window_id == window_id)
                               .values(state=SETTLED, settled_at_ms=now_ms, operator_reason=override_reason))
            deliver(connection, {row.bank_id: [self._key.sign(settlement_pb2.WindowSettled(
                window_id=window_id, bank_id=row.bank_id, net=_money(row.net_minor, row.currency),
                settled_at_unix_ms=now_ms, statement_window_id=statement_window))] for row in nets}, now_ms=now_ms)
            audit.append(connection, kind="window.settle", party_id="operator", now_ms=now_ms, body=audit.json_body({
                "window_id": window_id, "override_reason": override_reason,
                "nets": {f"{row.bank_id}/{row.currency}": row.net_minor for row in nets}, **named_operator(operator)}))
        self._bell.ring([row.bank_id for row in nets])
        return nets

    @retry_on_conflict
    def abort(self, window_id: int, *, reason: str) -> int:
        """Abandon a closed, unsettled window; its transfers join the open window. Returns that id."""
        if not reason:
            raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, "aborting a window needs a reason")
        now_ms = self.clock_ms()
        with self.store.write() as connection:
            window = self._window(connection, window_id, for_update=True)
            if window.state not in (CLOSED, PENDING_SETTLEMENT):
                raise FedmallError(rc.RESULT_CODE_WINDOW_STATE_INVALID,
                                   f"window {window_id} is {state_name(window.state)}")
            later = connection.scalar(sa.select(sa.func.max(settlement_windows.c.window_id)).where(
                settlement_windows.c.window_id > window_id, settlement_windows.c.state == PENDING_SETTLEMENT))
            if later is not None:  # Its statement counted this window's transfers: they cannot move now.
                raise FedmallError(rc.RESULT_CODE_WINDOW_STATE_INVALID,
                                   f"window {later} was issued after window {window_id}: abort it first")
            open_id = open_window_id(connection)
            connection.execute(sa.update(transfers).where(transfers.c.window_id == window_id).values(window_id=open_id))
            movements.move_to_next_window(connection, window_id)
            connection.execute(sa.update(settlement_windows).where(settlement_windows.c.window_id == window_id)
                               .values(state=ABORTED, operator_reason=reason))
            members = [member.bank_id for member in window_members(connection)]
            notice = self._key.sign(settlement_pb2.WindowAborted(window_id=window_id, moved_to_window_id=open_id))
            deliver(connection, {bank_id: [notice] for bank_id in members}, now_ms=now_ms)
            audit.append(connection, kind="window.abort", party_id="operator", now_ms=now_ms,
                         body=audit.json_body({"window_id": window_id, "moved_to": open_id, "reason": reason}))
        self._bell.ring(members)
        return open_id
