"""What the clearing tells this bank about transfers, applied to the books; and the payee's decisions.

A NoticeBatch is applied inside its delivery's transaction, together with the stream
cursor (node.bank.deliveries), so a crash replays a delivery, never loses or doubles it.
A COMMITTED notice also records the settlement window the transfer belongs to.
Each notice is also idempotent on its own: a transition happens only from the
states that allow it, and every journal entry id names its cause.

    as payer  RESERVED    PENDING -> SUBMITTED
              COMMITTED   PENDING|SUBMITTED -> COMMITTED   owed-to-clearing -x, clearing +x
              ABORTED     PENDING|SUBMITTED -> ABORTED     owed-to-clearing -x, customer +x
    as payee  RESERVED    (new) -> ACCEPTED | REJECTED     a decision waits to be sent
              COMMITTED   ACCEPTED -> COMMITTED            clearing -x, customer +x (less what the
                                                           settlement credit hook claims: node.bank.settlement_credits)
              ABORTED     ACCEPTED|REJECTED -> ABORTED     no money moved

Transfers this bank never quoted. A payer gets a transfer's condition only from this bank's
quote (node.bank.fulfilment: an HMAC of the terms under this bank's secret), so a RESERVED
notice whose condition is not the one this bank would quote for its terms was not quoted here
(or its terms changed since): unsolicited. Any member can send those, as many as it likes, so
they leave no row: the rejection (CONDITION_MISMATCH) waits in memory only (UnquotedRejects:
at most unquoted_rejects_per_bank_max per payer bank, the oldest dropped, all lost on a
restart), and one the node never sends is aborted by the clearing when the transfer expires.
Its ABORTED notice then finds no row here and writes none, and a delivery carrying nothing
else is not kept either (node.bank.deliveries): nothing of it stays but the stream cursor.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable

import sqlalchemy as sa

from fedmall import logs
from fedmall.database import read_connection
from fedmall import limits as protocol
from fedmall import identifiers, text, wellformed
from fedmall.money import is_valid_amount
from fedmall.results import name_of
from fedmall.v1 import result_pb2, transfer_pb2

from node import limits
from node.bank import ledger, store
from node.bank.fulfilment import FulfilmentKey, condition_of
from node.bank.settlement_credits import SettlementCreditHook, book_settlement_credits
from node.bank.transfers import (
    ABORTED, ACCEPTED, COMMITTED, OK, PENDING, REJECTED, SUBMITTED, aborting_outgoing, credit_problem,
    payee_account_problem, shared_name)

log = logging.getLogger(__name__)

RESERVED_STATE = transfer_pb2.TRANSFER_STATE_RESERVED
COMMITTED_STATE = transfer_pb2.TRANSFER_STATE_COMMITTED
ABORTED_STATE = transfer_pb2.TRANSFER_STATE_ABORTED


UNQUOTED_REJECT_REASON = result_pb2.RESULT_CODE_CONDITION_MISMATCH
# What this bank tells a payer, in words, beside the code of a rejection (Reject.reason: at most
# fedmall.limits.reject_reason_length_max characters); the code's name for any other.
_REJECT_WORDS = {
    result_pb2.RESULT_CODE_ACCOUNT_UNKNOWN: "no such account at the payee bank",
    result_pb2.RESULT_CODE_ACCOUNT_CLOSED: "the payee's account is closed",
    result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED: "the payee's account is in another currency",
    result_pb2.RESULT_CODE_INVALID_AMOUNT: "the amount is not one the payee bank takes",
    result_pb2.RESULT_CODE_CONDITION_MISMATCH: "the terms are not the ones the payee bank quoted",
    result_pb2.RESULT_CODE_INVALID_FIELD: "the prepare breaks the contract",
}


def reject_words(code: int) -> str:
    words = _REJECT_WORDS.get(code) or name_of(code)
    assert len(words) <= protocol.reject_reason_length_max, words
    return words


def was_quoted(prepare: transfer_pb2.Prepare, key: FulfilmentKey) -> bool:
    """Is the prepare's condition the one this bank quotes for its terms? Pure."""
    return condition_of(key.fulfilment(
        payer_bank_id=prepare.payer_bank_id, transfer_id=prepare.transfer_id,
        payee_account=prepare.payee_account, amount_minor=prepare.amount.amount_minor,
        currency=prepare.amount.currency)) == prepare.condition


class UnquotedRejects:
    """Rejections of unquoted transfers waiting to be sent, per payer bank, in memory only: at
    most per_bank_max each, the oldest dropped (that transfer expires at the clearing instead),
    so one payer's flood pushes out only its own. Safe across threads."""

    def __init__(self, *, per_bank_max: int) -> None:
        assert per_bank_max > 0
        self._per_bank_max = per_bank_max
        self._lock = threading.Lock()
        self._by_payer: dict[str, dict[str, None]] = {}   # Insertion order: oldest first.

    def add(self, payer_bank_id: str, transfer_id: str) -> None:
        with self._lock:
            waiting = self._by_payer.setdefault(payer_bank_id, {})
            waiting[transfer_id] = None
            while len(waiting) > self._per_bank_max:
                dropped = next(iter(waiting))
                del waiting[dropped]
                log.info("rejection of unquoted transfer %s from %s dropped (over %d waiting); it will expire",
                         dropped, payer_bank_id, self._per_bank_max,
                         extra=logs.fields(transfer_id=dropped, bank=payer_bank_id))

    def oldest(self, limit: int) -> list[str]:
        with self._lock:
            found = []
            for waiting in self._by_payer.values():
                found += list(waiting)[:limit - len(found)]
                if len(found) >= limit:
                    break
            return found

    def forget(self, transfer_ids) -> None:
        wanted = set(transfer_ids)
        with self._lock:
            for payer_bank_id in list(self._by_payer):
                waiting = self._by_payer[payer_bank_id]
                for transfer_id in wanted.intersection(waiting):
                    del waiting[transfer_id]
                if not waiting:
                    del self._by_payer[payer_bank_id]

    def __len__(self) -> int:
        with self._lock:
            return sum(len(waiting) for waiting in self._by_payer.values())


@dataclass(frozen=True, slots=True)
class BatchApplied:
    decisions: int           # New decisions waiting to be sent.
    kept: bool               # False when every notice was about a transfer this bank never quoted.


@dataclass(frozen=True, slots=True)
class Decision:
    result: int              # OK to accept, else the reason to reject.
    fulfilment: bytes        # Set when accepting.


def decide(prepare: transfer_pb2.Prepare, account, key: FulfilmentKey) -> Decision:
    """The payee bank's answer to an incoming prepare. Pure.

    A prepare whose fields break the contract (an id in another spelling, a reference with
    control or bidirectional characters...) is rejected with INVALID_FIELD: the clearing
    refuses those (fedmall.wellformed, the same check), so one here means the clearing let it
    through, and this bank's books do not take it on trust. So is one naming its customer by
    another name than the account's holder (Prepare.creditor_name)."""
    if wellformed.prepare_problem(prepare) is not None:
        return Decision(result=result_pb2.RESULT_CODE_INVALID_FIELD, fulfilment=b"")
    code = payee_account_problem(account, prepare.amount.currency)
    if code != OK:
        return Decision(result=code, fulfilment=b"")
    # The creditor's name goes into the clearing's exports as this bank's customer: only the
    # name this bank would quote for the account, or none, is taken.
    if prepare.creditor_name and prepare.creditor_name != shared_name(account.holder_name):
        return Decision(result=result_pb2.RESULT_CODE_INVALID_FIELD, fulfilment=b"")
    if not is_valid_amount(prepare.amount.amount_minor):
        return Decision(result=result_pb2.RESULT_CODE_INVALID_AMOUNT, fulfilment=b"")
    code = credit_problem(account, prepare.amount.amount_minor)
    if code != OK:
        return Decision(result=code, fulfilment=b"")
    fulfilment = key.fulfilment(
        payer_bank_id=prepare.payer_bank_id, transfer_id=prepare.transfer_id,
        payee_account=prepare.payee_account, amount_minor=prepare.amount.amount_minor,
        currency=prepare.amount.currency)
    if condition_of(fulfilment) != prepare.condition:
        return Decision(result=result_pb2.RESULT_CODE_CONDITION_MISMATCH, fulfilment=b"")
    return Decision(result=OK, fulfilment=fulfilment)


@dataclass(slots=True)
class _Changes:
    """What one delivery changes; written with executemany at the end."""
    entries: list
    outgoing_submitted: list
    outgoing_committed: list     # (transfer id, window id)
    outgoing_aborted: list
    payee_reasons: list          # (transfer id, reason code, words) of outgoing transfers the payee rejected.
    incoming_new: dict
    incoming_updates: dict
    unquoted: list               # (payer, transfer id) never quoted here: rejected from memory, no row.
    unquoted_aborted: list       # Their ABORTED notices: nothing to write.
    booked: list = field(default_factory=list)  # (status, created at) of outgoing ones decided: a metric.


class NoticeService:
    def __init__(self, engine: sa.Engine, *, bank_id: str, fulfilment_key: FulfilmentKey,
                 clock: Callable[[], float], settlement_credit_hook: SettlementCreditHook,
                 on_outgoing_committed: Callable[[sa.Connection, list[str], int], None] = lambda *_: None,
                 on_booked: Callable[[list[tuple[str, int]]], None] = lambda booked: None,
                 unquoted_rejects_per_bank_max: int = limits.unquoted_rejects_per_bank_max) -> None:
        """on_outgoing_committed(connection, transfer ids, now_ms) runs in the delivery's transaction
        after outgoing transfers committed (the marketplace completes orders and refunds there);
        settlement_credit_hook claims its share of every payment to a customer, in the same
        transaction (node.bank.settlement_credits). on_booked(each outgoing transfer decided: its
        status and ms since it entered the outbox) counts them for the metrics (node.metrics)."""
        self.unquoted = UnquotedRejects(per_bank_max=unquoted_rejects_per_bank_max)
        self._settlement_credit_hook = settlement_credit_hook
        self._on_outgoing_committed = on_outgoing_committed
        self._on_booked = on_booked
        self._engine = engine
        self._bank_id = bank_id
        self._key = fulfilment_key
        self._clock = clock

    def cursor(self) -> int:
        with read_connection(self._engine) as connection:
            return store.read_cursor(connection)

    def apply_batch(self, connection: sa.Connection, batch: transfer_pb2.NoticeBatch, *, now_ms: int) -> BatchApplied:
        """Apply a verified NoticeBatch in the delivery's transaction. Rejections of unquoted
        transfers wait in memory at once: should the transaction roll back, the delivery comes
        again and adds the same ones (a rejection is right either way)."""
        assert batch.recipient_bank_id == self._bank_id, "node.bank.deliveries checks the recipient"
        assert len(batch.notices) <= protocol.notices_per_delivery_max, "node.bank.deliveries checks the size"
        changes = self._plan(connection, batch, now_ms=now_ms)
        self._write(connection, changes, now_ms=now_ms)
        self._on_booked([(status, now_ms - created_ms) for status, created_ms in changes.booked])
        for payer_bank_id, transfer_id in changes.unquoted:
            self.unquoted.add(payer_bank_id, transfer_id)
        self.unquoted.forget(changes.unquoted_aborted)
        unsolicited = len(changes.unquoted) + len(changes.unquoted_aborted)
        if changes.unquoted:
            log.warning("%d transfers this bank never quoted: rejected, no row kept", len(changes.unquoted),
                        extra=logs.fields(transfers=len(changes.unquoted), **logs.bounded_ids(
                            [transfer_id for _, transfer_id in changes.unquoted])))
        return BatchApplied(decisions=len(changes.incoming_new) + len(changes.unquoted),
                            kept=unsolicited < len(batch.notices))

    def _plan(self, connection: sa.Connection, batch: transfer_pb2.NoticeBatch, *, now_ms: int) -> _Changes:
        as_payer = {n.prepare.transfer_id for n in batch.notices if n.prepare.payer_bank_id == self._bank_id}
        as_payee = {n.prepare.transfer_id for n in batch.notices if n.prepare.payee_bank_id == self._bank_id}
        outgoing = _rows(connection, store.outgoing_transfers, as_payer)
        incoming = {tid: row._asdict() for tid, row in _rows(connection, store.incoming_transfers, as_payee).items()}
        accounts = _rows(connection, store.accounts, {
            n.prepare.payee_account for n in batch.notices if n.prepare.payee_bank_id == self._bank_id},
            key="account_id")
        outgoing_status = {tid: row.status for tid, row in outgoing.items()}
        changes = _Changes([], [], [], [], [], {}, {}, [], [])
        for notice in batch.notices:
            prepare = notice.prepare
            if prepare.payer_bank_id == self._bank_id:
                self._as_payer(notice, outgoing.get(prepare.transfer_id), outgoing_status, changes)
            elif prepare.payee_bank_id == self._bank_id:
                self._as_payee(notice, incoming, accounts, changes, now_ms=now_ms)
            else:
                log.error("notice for transfer %s names neither payer nor payee %s; ignored",
                          prepare.transfer_id, self._bank_id, extra=logs.fields(transfer_id=prepare.transfer_id))
        return changes

    def _as_payer(self, notice, row, status: dict, changes: _Changes) -> None:
        transfer_id = notice.prepare.transfer_id
        if row is None:
            log.error("notice %s for unknown outgoing transfer %s; ignored",
                      transfer_pb2.TransferState.Name(notice.state), transfer_id,
                      extra=logs.fields(transfer_id=transfer_id))
            return
        current = status[transfer_id]
        if notice.state == RESERVED_STATE and current == PENDING:
            status[transfer_id] = SUBMITTED
            changes.outgoing_submitted.append(transfer_id)
        elif notice.state == COMMITTED_STATE and current in (PENDING, SUBMITTED):
            status[transfer_id] = COMMITTED
            changes.outgoing_committed.append((transfer_id, notice.settlement_window_id or None))
            changes.booked.append((COMMITTED, row.created_at_unix_ms))
            changes.entries.append(ledger.move(
                f"settle:{transfer_id}", "settle",
                source=ledger.internal_account_id(ledger.OWED_TO_CLEARING, row.currency),
                destination=ledger.internal_account_id(ledger.CLEARING, row.currency),
                amount_minor=row.amount_minor, currency=row.currency))
        elif notice.state == ABORTED_STATE and current in (PENDING, SUBMITTED):
            status[transfer_id] = ABORTED
            changes.outgoing_aborted.append((row, notice.result))
            if notice.result == result_pb2.RESULT_CODE_PAYEE_REJECTED:
                changes.payee_reasons.append((transfer_id, notice.payee_reason_code, notice.payee_reason))
            changes.booked.append((ABORTED, row.created_at_unix_ms))
        elif notice.state == COMMITTED_STATE and current == ABORTED:
            log.error("clearing committed outgoing transfer %s that this node aborted; needs an operator",
                      transfer_id, extra=logs.fields(transfer_id=transfer_id))

    def _as_payee(self, notice, incoming: dict, accounts: dict, changes: _Changes, *, now_ms: int) -> None:
        prepare = notice.prepare
        transfer_id = prepare.transfer_id
        row = incoming.get(transfer_id)
        if notice.state == RESERVED_STATE:
            if row is not None:
                return
            if not was_quoted(prepare, self._key):
                changes.unquoted.append((prepare.payer_bank_id, transfer_id))
                return
            decision = decide(prepare, accounts.get(prepare.payee_account), self._key)
            if decision.result == result_pb2.RESULT_CODE_INVALID_FIELD:
                log.error("incoming transfer %r breaks the contract (%s); rejected",
                          transfer_id[:protocol.uuid_length + 4], wellformed.prepare_problem(prepare),
                          extra=logs.fields(transfer_id=transfer_id[:protocol.uuid_length + 4],
                                            bank=prepare.payer_bank_id))
            row = _incoming_row(prepare, now_ms=now_ms,
                                status=ACCEPTED if decision.result == OK else REJECTED,
                                reject_reason=result_pb2.RESULT_CODE_UNSPECIFIED if decision.result == OK else decision.result,
                                fulfilment=decision.fulfilment or None, decision_sent=False)
            incoming[transfer_id] = row
            changes.incoming_new[transfer_id] = row
            return
        if notice.state == COMMITTED_STATE:
            if row is None:  # Never saw the prepare: the clearing's commit still moved the money.
                row = _incoming_row(prepare, now_ms=now_ms, status=ACCEPTED, reject_reason=0,
                                    fulfilment=notice.fulfilment or None, decision_sent=True)
                incoming[transfer_id] = row
                changes.incoming_new[transfer_id] = row
            if row["status"] not in (ACCEPTED, REJECTED):
                return
            if row["status"] == REJECTED:
                log.error("clearing committed incoming transfer %s that this node rejected", transfer_id,
                          extra=logs.fields(transfer_id=transfer_id, bank=prepare.payer_bank_id))
            account = accounts.get(row["payee_account_id"])
            if account is None or account.internal:
                log.error("cannot credit incoming transfer %s: no account %s", transfer_id, row["payee_account_id"],
                          extra=logs.fields(transfer_id=transfer_id, bank=prepare.payer_bank_id))
                return
            row["status"] = COMMITTED
            row["window_id"] = notice.settlement_window_id or None
            changes.incoming_updates[transfer_id] = row
            changes.entries.append(ledger.move(
                f"receive:{transfer_id}", "receive",
                source=ledger.internal_account_id(ledger.CLEARING, row["currency"]),
                destination=row["payee_account_id"], amount_minor=row["amount_minor"], currency=row["currency"]))
            return
        if notice.state == ABORTED_STATE:
            if row is None:  # Its RESERVED notice came first and wrote no row: never quoted here.
                changes.unquoted_aborted.append(transfer_id)
                return
            if row["status"] in (ACCEPTED, REJECTED):
                row["status"] = ABORTED
                row["abort_reason"] = notice.result
                changes.incoming_updates[transfer_id] = row

    def _write(self, connection: sa.Connection, changes: _Changes, *, now_ms: int) -> None:
        table = store.outgoing_transfers
        if changes.outgoing_submitted:
            connection.execute(
                table.update().where(table.c.transfer_id == sa.bindparam("target"))
                .values(status=SUBMITTED, updated_at_unix_ms=now_ms),
                [dict(target=transfer_id) for transfer_id in changes.outgoing_submitted])
        if changes.outgoing_committed:
            connection.execute(
                table.update().where(table.c.transfer_id == sa.bindparam("target"))
                .values(status=COMMITTED, window_id=sa.bindparam("window"), updated_at_unix_ms=now_ms),
                [dict(target=transfer_id, window=window_id) for transfer_id, window_id in changes.outgoing_committed])
        incoming = store.incoming_transfers
        if changes.incoming_new:
            connection.execute(incoming.insert(), list(changes.incoming_new.values()))
        updates = [row for transfer_id, row in changes.incoming_updates.items() if transfer_id not in changes.incoming_new]
        if updates:
            connection.execute(
                incoming.update().where(incoming.c.transfer_id == sa.bindparam("target"))
                .values(status=sa.bindparam("new_status"), abort_reason=sa.bindparam("new_abort_reason"),
                        window_id=sa.bindparam("new_window_id"), updated_at_unix_ms=now_ms),
                [dict(target=row["transfer_id"], new_status=row["status"], new_abort_reason=row["abort_reason"],
                      new_window_id=row["window_id"]) for row in updates])
        done = store.existing_entry_ids(connection, [entry.entry_id for entry in changes.entries])
        reversals = aborting_outgoing(connection, changes.outgoing_aborted, now_ms=now_ms)
        if changes.payee_reasons:
            connection.execute(
                table.update().where(table.c.transfer_id == sa.bindparam("target"))
                .values(payee_reason_code=sa.bindparam("code"), payee_reason=sa.bindparam("words")),
                [dict(target=transfer_id, code=code, words=words) for transfer_id, code, words in changes.payee_reasons])
        # One write for all the delivery's entries: accounts change in store.lock_order.
        book_settlement_credits(connection, [entry for entry in changes.entries if entry.entry_id not in done]
                                + reversals, self._settlement_credit_hook, now_ms=now_ms)
        if changes.outgoing_committed:
            self._on_outgoing_committed(
                connection, [transfer_id for transfer_id, _ in changes.outgoing_committed], now_ms)

    # Decisions waiting to be sent -----------------------------------------------------

    def pending_decisions(self, *, limit: int) -> transfer_pb2.DecisionBatch:
        """The oldest decisions not sent yet, then rejections of unquoted transfers, up to limit."""
        assert 0 < limit <= protocol.decisions_per_batch_max
        table = store.incoming_transfers
        with read_connection(self._engine) as connection:
            rows = connection.execute(
                sa.select(table.c.transfer_id, table.c.status, table.c.reject_reason, table.c.fulfilment)
                .where(table.c.decision_sent.is_(False)).order_by(table.c.created_at_unix_ms, table.c.transfer_id)
                .limit(limit)).all()
        batch = transfer_pb2.DecisionBatch()
        for row in rows:
            if row.fulfilment is not None and row.reject_reason == result_pb2.RESULT_CODE_UNSPECIFIED:
                batch.accepts.add(transfer_id=row.transfer_id, fulfilment=row.fulfilment)
            else:
                batch.rejects.add(transfer_id=row.transfer_id, reason_code=row.reject_reason,
                                  reason=reject_words(row.reject_reason))
        if len(rows) < limit:
            for transfer_id in self.unquoted.oldest(limit - len(rows)):
                batch.rejects.add(transfer_id=transfer_id, reason_code=UNQUOTED_REJECT_REASON,
                                  reason="not quoted by this bank")
        return batch

    def mark_decisions_sent(self, transfer_ids: list[str]) -> None:
        if not transfer_ids:
            return
        self.unquoted.forget(transfer_ids)
        table = store.incoming_transfers
        with self._engine.begin() as connection:
            connection.execute(
                table.update().where(table.c.transfer_id == sa.bindparam("target")).values(decision_sent=True),
                [dict(target=transfer_id) for transfer_id in transfer_ids])


def _rows(connection: sa.Connection, table: sa.Table, ids: set[str], *, key: str = "transfer_id") -> dict:
    if not ids:
        return {}
    column = table.c[key]
    return {getattr(row, key): row for row in connection.execute(sa.select(table).where(column.in_(sorted(ids))))}


def _incoming_row(prepare: transfer_pb2.Prepare, *, now_ms: int, status: str, reject_reason: int,
                  fulfilment: bytes | None, decision_sent: bool) -> dict:
    # The books keep only text the contract allows; the delivery itself, as signed, is kept in
    # received_deliveries for whoever has to look into it.
    reference = prepare.reference if text.is_text(prepare.reference, length_max=protocol.reference_length_max) else ""
    return dict(
        transfer_id=prepare.transfer_id, payer_bank_id=prepare.payer_bank_id,
        payee_account_id=prepare.payee_account, amount_minor=prepare.amount.amount_minor,
        currency=prepare.amount.currency, reference=reference, status=status,
        reject_reason=reject_reason, abort_reason=result_pb2.RESULT_CODE_UNSPECIFIED, fulfilment=fulfilment,
        decision_sent=decision_sent, created_at_unix_ms=now_ms, updated_at_unix_ms=now_ms, window_id=None,
        uetr=prepare.uetr if identifiers.is_uetr(prepare.uetr) else None,
        original_transfer_id=prepare.original_transfer_id if identifiers.is_uuid(prepare.original_transfer_id) else "")
