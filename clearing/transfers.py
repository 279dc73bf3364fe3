"""The two-phase interbank transfer: prepare (reserve), decide (commit or abort), expire.

States: RESERVED -> COMMITTED | ABORTED. A refused prepare is not stored (its refusal is
in the audit log), so the payer may retry it under a new id once the cause is gone.
Every transition happens inside one write transaction that also moves the positions,
queues the signed notices and appends to the audit log (clearing.store: the lock order).
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from fedmall import identifiers, limits, wellformed
from fedmall.envelope import Envelope, SigningKey, open_envelope
from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import transfer_pb2

from clearing import audit, audit_envelopes, rules
from clearing.deliveries import DeliveryBell, write_deliveries
from clearing.registry import Registry
from clearing.store import Store, lock_participants, participants, retry_on_conflict, transfers
from clearing.windows import open_window_id

RESERVED = transfer_pb2.TRANSFER_STATE_RESERVED
COMMITTED = transfer_pb2.TRANSFER_STATE_COMMITTED
ABORTED = transfer_pb2.TRANSFER_STATE_ABORTED


def state_name(state: int) -> str:
    return transfer_pb2.TransferState.Name(state).removeprefix("TRANSFER_STATE_")


@dataclass(frozen=True, slots=True)
class TransferResult:
    transfer_id: str
    result: int
    state: int = transfer_pb2.TRANSFER_STATE_UNSPECIFIED
    field: str = ""      # For INVALID_FIELD: the path in the signed batch ("prepares[3].reference").


class _Batch:
    """What one write transaction changes, applied to locked participant rows in memory.

    Positions and reservations are tracked per bank and written once at the end; the
    notices of every transition are grouped per recipient into one signed delivery.
    """

    def __init__(self, locked: dict[str, sa.Row]) -> None:
        self.participants = locked
        self.position = {bank_id: row.position_minor for bank_id, row in locked.items()}
        self.reserved = {bank_id: row.reserved_minor for bank_id, row in locked.items()}
        self.unsettled = {bank_id: row.unsettled_gross_minor for bank_id, row in locked.items()}
        self.notices: dict[str, list[transfer_pb2.TransferNotice]] = {}
        self.inserts: list[dict] = []
        self.updates: dict[str, dict] = {}
        # (state, milliseconds from reserve to decision) of each transfer decided: a metric.
        self.decided: list[tuple[int, int]] = []

    @property
    def changed(self) -> bool:
        """Some transfer was reserved, committed or aborted: the batch's envelope is evidence."""
        return bool(self.inserts or self.updates)

    def _notify(self, bank_id: str, notice: transfer_pb2.TransferNotice) -> None:
        self.notices.setdefault(bank_id, []).append(notice)

    def reserve(self, prepare: transfer_pb2.Prepare, prepare_bytes: bytes, *, now_ms: int) -> None:
        amount_minor = prepare.amount.amount_minor
        self.reserved[prepare.payer_bank_id] += amount_minor
        self.unsettled[prepare.payer_bank_id] += amount_minor
        self.unsettled[prepare.payee_bank_id] += amount_minor
        self.inserts.append({
            "transfer_id": prepare.transfer_id, "payer_bank_id": prepare.payer_bank_id,
            "payee_bank_id": prepare.payee_bank_id, "amount_minor": amount_minor,
            "currency": prepare.amount.currency, "condition": prepare.condition,
            "expires_at_ms": prepare.expires_at_unix_ms, "prepare_bytes": prepare_bytes,
            "prepare_sha256": hashlib.sha256(prepare_bytes).digest(), "state": RESERVED,
            "result": rc.RESULT_CODE_OK, "fulfilment": None, "created_at_ms": now_ms, "decided_at_ms": None,
            "uetr": prepare.uetr, "original_transfer_id": prepare.original_transfer_id or None,
        })
        self._notify(prepare.payee_bank_id, transfer_pb2.TransferNotice(
            prepare=prepare, state=RESERVED, result=rc.RESULT_CODE_OK, decided_at_unix_ms=now_ms))

    def commit(self, row: dict, fulfilment: bytes, *, window_id: int, now_ms: int) -> None:
        assert row["state"] == RESERVED, row
        amount_minor = row["amount_minor"]
        self.reserved[row["payer_bank_id"]] -= amount_minor
        self.position[row["payer_bank_id"]] += amount_minor
        self.position[row["payee_bank_id"]] -= amount_minor
        self._decide(row, state=COMMITTED, result=rc.RESULT_CODE_OK, fulfilment=fulfilment, window_id=window_id,
                     now_ms=now_ms)

    def abort(self, row: dict, *, result: int, now_ms: int, rejected: transfer_pb2.Reject | None = None) -> None:
        """rejected: the payee's Reject (result PAYEE_REJECTED), whose reason travels to the payer."""
        assert row["state"] == RESERVED, row
        assert (rejected is not None) == (result == rc.RESULT_CODE_PAYEE_REJECTED), (row, result)
        self.reserved[row["payer_bank_id"]] -= row["amount_minor"]
        self.unsettled[row["payer_bank_id"]] -= row["amount_minor"]
        self.unsettled[row["payee_bank_id"]] -= row["amount_minor"]
        self._decide(row, state=ABORTED, result=result, fulfilment=None, window_id=None, now_ms=now_ms,
                     rejected=rejected)

    def _decide(self, row: dict, *, state: int, result: int, fulfilment: bytes | None, window_id: int | None,
                now_ms: int, rejected: transfer_pb2.Reject | None = None) -> None:
        reason_code = rejected.reason_code if rejected is not None else None
        reason = rejected.reason if rejected is not None else None
        row.update(state=state, result=result, fulfilment=fulfilment, decided_at_ms=now_ms, window_id=window_id,
                   payee_reason_code=reason_code, payee_reason=reason)
        self.decided.append((state, now_ms - row["created_at_ms"]))
        self.updates[row["transfer_id"]] = {"id": row["transfer_id"], "state": state, "result": result,
                                            "fulfilment": fulfilment, "decided_at_ms": now_ms, "window": window_id,
                                            "reason_code": reason_code, "reason": reason}
        prepare = transfer_pb2.Prepare.FromString(row["prepare_bytes"])
        notice = transfer_pb2.TransferNotice(prepare=prepare, state=state, result=result,
                                             fulfilment=fulfilment or b"", decided_at_unix_ms=now_ms,
                                             settlement_window_id=window_id or 0,
                                             payee_reason_code=reason_code or rc.RESULT_CODE_UNSPECIFIED,
                                             payee_reason=reason or "")
        self._notify(row["payer_bank_id"], notice)
        self._notify(row["payee_bank_id"], notice)

    def write(self, connection: sa.Connection, *, clearing_key: SigningKey, now_ms: int) -> set[str]:
        """Write everything; return the banks that got a delivery."""
        for bank_id, reserved_minor in self.reserved.items():
            assert reserved_minor >= 0 and self.unsettled[bank_id] >= 0, (bank_id, reserved_minor, self.unsettled)
        if self.inserts:
            connection.execute(sa.insert(transfers), self.inserts)
        if self.updates:
            connection.execute(
                sa.update(transfers).where(transfers.c.transfer_id == sa.bindparam("id"))
                .values(state=sa.bindparam("state"), result=sa.bindparam("result"),
                        fulfilment=sa.bindparam("fulfilment"), decided_at_ms=sa.bindparam("decided_at_ms"),
                        window_id=sa.bindparam("window"), payee_reason_code=sa.bindparam("reason_code"),
                        payee_reason=sa.bindparam("reason")),
                list(self.updates.values()))
        sequences = write_deliveries(
            connection, self.notices, clearing_key=clearing_key, now_ms=now_ms,
            last_sequence_by_bank={b: row.delivery_sequence for b, row in self.participants.items()})
        changed = [
            {"bank": bank_id, "position": self.position[bank_id], "reserved": self.reserved[bank_id],
             "unsettled": self.unsettled[bank_id], "sequence": sequences.get(bank_id, row.delivery_sequence)}
            for bank_id, row in self.participants.items()
            if (self.position[bank_id], self.reserved[bank_id], self.unsettled[bank_id],
                sequences.get(bank_id, row.delivery_sequence))
            != (row.position_minor, row.reserved_minor, row.unsettled_gross_minor, row.delivery_sequence)
        ]
        if changed:
            connection.execute(
                sa.update(participants).where(participants.c.bank_id == sa.bindparam("bank"))
                .values(position_minor=sa.bindparam("position"), reserved_minor=sa.bindparam("reserved"),
                        unsettled_gross_minor=sa.bindparam("unsettled"), delivery_sequence=sa.bindparam("sequence")),
                changed)
        return set(self.notices)


def _prepare_field(prepare: transfer_pb2.Prepare, index: int) -> str:
    """Where an INVALID_FIELD prepare is at fault: the field fedmall.wellformed names, or the
    whole prepare when only its size is (limits.prepare_bytes_max)."""
    problem = wellformed.prepare_problem(prepare)
    path = f"prepares[{index}]"
    return path if problem is None else problem.within(path).field


def _originals(connection: sa.Connection, prepares: list[transfer_pb2.Prepare]) -> dict[str, rules.OriginalTransfer]:
    """The transfers the returns among prepares name, as far as the clearing holds them."""
    ids = sorted({p.original_transfer_id for p in prepares if identifiers.is_uuid(p.original_transfer_id)})
    if not ids:
        return {}
    t = transfers.c
    return {row.transfer_id: rules.OriginalTransfer(
                payer_bank_id=row.payer_bank_id, payee_bank_id=row.payee_bank_id, amount_minor=row.amount_minor,
                currency=row.currency, committed=row.state == COMMITTED)
            for row in connection.execute(sa.select(t.transfer_id, t.payer_bank_id, t.payee_bank_id, t.amount_minor,
                                                    t.currency, t.state).where(t.transfer_id.in_(ids)))}


def _terms(locked: dict[str, sa.Row]) -> dict[str, rules.ParticipantTerms]:
    return {b: rules.ParticipantTerms(bank_id=b, currency=r.currency, status=r.status) for b, r in locked.items()}


class TransferService:
    def __init__(
        self, store: Store, registry: Registry, *, clearing_key: SigningKey, bell: DeliveryBell,
        clock_ms: Callable[[], int], on_decided: Callable[[list[tuple[int, int]]], None] = lambda decided: None,
    ) -> None:
        """on_decided(each decided transfer's (state, ms from reserve to decision)), after its commit."""
        self._store = store
        self._registry = registry
        self._clearing_key = clearing_key
        self._bell = bell
        self._clock_ms = clock_ms
        self._on_decided = on_decided

    def _open(self, envelope: Envelope, message_class, *, peer: str, items_max: int, items_of):
        """Verify and parse an envelope; audit and re-raise any refusal."""
        try:
            message = open_envelope(envelope, message_class, expected_signer=peer, keys=self._registry.key_lookup)
            count = items_of(message)
            if count == 0:
                raise FedmallError(rc.RESULT_CODE_MALFORMED_PAYLOAD, "empty batch")
            if count > items_max:
                raise FedmallError(rc.RESULT_CODE_BATCH_TOO_LARGE, f"{count} items, at most {items_max}")
            return message
        except FedmallError as error:
            self._audit_refusal(envelope, peer=peer, code=error.code)
            raise

    def _audit_refusal(self, envelope: Envelope, *, peer: str, code: int) -> None:
        with self._store.write() as connection:
            audit_envelopes.record_refusal(connection, envelope.SerializeToString(), peer=peer, code=code,
                                           now_ms=self._clock_ms())

    @staticmethod
    def _audit_batch(connection: sa.Connection, batch: _Batch, envelope: Envelope, results: list[TransferResult], *,
                     kind: str, peer: str, now_ms: int) -> None:
        """The batch's entry: its whole envelope only when it changed state (clearing.audit_envelopes)."""
        audit_envelopes.record_batch(connection, kind=kind, peer=peer, envelope_bytes=envelope.SerializeToString(),
                                     results=[(r.transfer_id, r.result) for r in results], changed=batch.changed,
                                     now_ms=now_ms)

    @retry_on_conflict
    def submit_prepares(self, envelope: Envelope, *, peer: str) -> list[TransferResult]:
        batch_message = self._open(envelope, transfer_pb2.PrepareBatch, peer=peer,
                                   items_max=limits.prepares_per_batch_max, items_of=lambda m: len(m.prepares))
        prepares = list(batch_message.prepares)
        with self._store.write() as connection:
            locked = lock_participants(connection, [peer] + [p.payee_bank_id for p in prepares])
            now_ms = self._clock_ms()  # After the locks: waiting for them must not stretch an expiry.
            terms = _terms(locked)
            ids = [p.transfer_id for p in prepares if identifiers.is_uuid(p.transfer_id)]
            known = {row.transfer_id: (row.payer_bank_id, row.prepare_sha256, row.state) for row in connection.execute(
                sa.select(transfers.c.transfer_id, transfers.c.payer_bank_id, transfers.c.prepare_sha256,
                          transfers.c.state).where(transfers.c.transfer_id.in_(ids)))}
            originals = _originals(connection, prepares)
            batch = _Batch(locked)
            results = []
            for index, prepare in enumerate(prepares):
                # Exactly the bytes the payer signed for this prepare: open_envelope refused a
                # payload that is not in canonical form, so re-serialising any part of it gives
                # back the very bytes it was signed with. Stored, hashed and forwarded as they are.
                prepare_bytes = prepare.SerializeToString(deterministic=True)
                result = self._prepare_one(batch, prepare, prepare_bytes, known, terms, originals, peer=peer,
                                           now_ms=now_ms)
                if result.result == rc.RESULT_CODE_INVALID_FIELD:
                    result = dataclasses.replace(result, field=_prepare_field(prepare, index))
                results.append(result)
            recipients = batch.write(connection, clearing_key=self._clearing_key, now_ms=now_ms)
            self._audit_batch(connection, batch, envelope, results, kind="prepares", peer=peer, now_ms=now_ms)
        self._bell.ring(recipients)
        return results

    @staticmethod
    def _prepare_one(batch: _Batch, prepare, prepare_bytes: bytes, known: dict, terms,
                     originals: dict[str, rules.OriginalTransfer], *, peer: str, now_ms: int) -> TransferResult:
        """The prepare's result, reserving it when OK.

        Transfer ids are one namespace across the consortium (the id is the transfer's
        end-to-end reference: the UETR of its pacs.008, the key of the payee's books), so an
        id another payer holds cannot be taken. Its answer must not tell the caller that the
        id is held, though: it gets exactly the answer an unused id would get, the first
        problem of the prepare itself, wherever the prepare has one. Only a prepare that would
        be reserved is refused for the id (MODIFIED_REQUEST, nothing written), and finding
        that out costs the caller a real reservation, to a real payee, for every id that is
        free.
        """
        transfer_id = prepare.transfer_id
        if not identifiers.is_uuid(transfer_id):  # One spelling per id, before it is looked up.
            return TransferResult(transfer_id, rc.RESULT_CODE_INVALID_FIELD)
        held_by_another = False
        if transfer_id in known:
            payer_bank_id, sha256, state = known[transfer_id]
            if payer_bank_id == peer:
                if sha256 == hashlib.sha256(prepare_bytes).digest():
                    return TransferResult(transfer_id, rc.RESULT_CODE_EXISTS, state)
                return TransferResult(transfer_id, rc.RESULT_CODE_MODIFIED_REQUEST, state)
            held_by_another = True
        problem = rules.prepare_problem(prepare, signer=peer, participants=terms, now_ms=now_ms)
        if problem == rc.RESULT_CODE_OK and prepare.original_transfer_id:
            problem = rules.return_problem(prepare, originals.get(prepare.original_transfer_id))
        if problem != rc.RESULT_CODE_OK:
            return TransferResult(transfer_id, problem)
        payer = batch.participants[prepare.payer_bank_id]
        problem = rules.headroom_problem(
            position_minor=batch.position[payer.bank_id], reserved_minor=batch.reserved[payer.bank_id],
            amount_minor=prepare.amount.amount_minor,
            net_debit_cap_minor=payer.net_debit_cap_minor, liquidity_minor=rules.available_liquidity_minor(payer))
        if problem != rc.RESULT_CODE_OK:
            return TransferResult(transfer_id, problem)
        payee = batch.participants[prepare.payee_bank_id]
        problem = rules.bounds_problem(
            amount_minor=prepare.amount.amount_minor, payer_unsettled_gross_minor=batch.unsettled[payer.bank_id],
            payee_unsettled_gross_minor=batch.unsettled[payee.bank_id], payee_liquidity_minor=payee.liquidity_minor)
        if problem != rc.RESULT_CODE_OK:
            return TransferResult(transfer_id, problem)
        if held_by_another:
            return TransferResult(transfer_id, rc.RESULT_CODE_MODIFIED_REQUEST)
        batch.reserve(prepare, prepare_bytes, now_ms=now_ms)
        known[transfer_id] = (peer, hashlib.sha256(prepare_bytes).digest(), RESERVED)
        return TransferResult(transfer_id, rc.RESULT_CODE_OK, RESERVED)

    @retry_on_conflict
    def submit_decisions(self, envelope: Envelope, *, peer: str) -> list[TransferResult]:
        decisions = self._open(envelope, transfer_pb2.DecisionBatch, peer=peer,
                               items_max=limits.decisions_per_batch_max,
                               items_of=lambda m: len(m.accepts) + len(m.rejects))
        items = [(a.transfer_id, a) for a in decisions.accepts] + [(r.transfer_id, r) for r in decisions.rejects]
        paths = ([f"accepts[{index}]" for index in range(len(decisions.accepts))]
                 + [f"rejects[{index}]" for index in range(len(decisions.rejects))])
        # An id not in its one spelling, or a reject whose reason is not printable text within its
        # bound, is refused alone (INVALID_FIELD, naming the field) and decides nothing.
        problems = [wellformed.decision_problem(decision) for _, decision in items]
        well_formed = [problem is None for problem in problems]
        with self._store.write() as connection:
            # The open window first, share-locked (it cannot close under these commits), then
            # the participants: the lock order of clearing.store.
            window_id = open_window_id(connection)
            ids = [transfer_id for (transfer_id, _), sound in zip(items, well_formed) if sound]
            # Only the transfers the caller is payee or payer of: another bank's transfer is not
            # even locked for, and is answered as if there were none (_decide_one).
            visible = sa.or_(transfers.c.payee_bank_id == peer, transfers.c.payer_bank_id == peer)
            payers = connection.execute(sa.select(transfers.c.payer_bank_id).where(
                transfers.c.transfer_id.in_(ids), transfers.c.payee_bank_id == peer).distinct()).scalars().all()
            locked = lock_participants(connection, [peer, *payers])
            now_ms = self._clock_ms()  # After the locks: a late accept must not beat its expiry.
            # Re-read under the locks: the state cannot change under us now.
            rows = {row.transfer_id: row._asdict() for row in connection.execute(
                sa.select(transfers).where(transfers.c.transfer_id.in_(ids), visible))}
            batch = _Batch(locked)
            results = [self._decide_one(batch, rows.get(transfer_id), decision, peer=peer, window_id=window_id,
                                        now_ms=now_ms)
                       if problem is None else TransferResult(transfer_id, rc.RESULT_CODE_INVALID_FIELD,
                                                              field=problem.within(path).field)
                       for (transfer_id, decision), problem, path in zip(items, problems, paths)]
            recipients = batch.write(connection, clearing_key=self._clearing_key, now_ms=now_ms)
            self._audit_batch(connection, batch, envelope, results, kind="decisions", peer=peer, now_ms=now_ms)
        self._bell.ring(recipients)
        self._on_decided(batch.decided)
        return results

    @staticmethod
    def _decide_one(batch: _Batch, row: dict | None, decision, *, peer: str, window_id: int,
                    now_ms: int) -> TransferResult:
        is_accept = isinstance(decision, transfer_pb2.Accept)
        transfer_id = decision.transfer_id
        if row is None:  # None, or another bank's: the same answer, so an id tells nothing.
            return TransferResult(transfer_id, rc.RESULT_CODE_TRANSFER_NOT_FOUND)
        if row["payee_bank_id"] != peer:  # The caller's own transfer, as its payer.
            return TransferResult(transfer_id, rc.RESULT_CODE_NOT_PAYEE)
        state = row["state"]
        if state == COMMITTED:
            identical = is_accept and row["fulfilment"] == decision.fulfilment
            return TransferResult(transfer_id, rc.RESULT_CODE_EXISTS if identical else rc.RESULT_CODE_INVALID_STATE, state)
        if state == ABORTED:
            if row["result"] == rc.RESULT_CODE_EXPIRED:
                return TransferResult(transfer_id, rc.RESULT_CODE_EXPIRED, state)
            identical = not is_accept and row["result"] == rc.RESULT_CODE_PAYEE_REJECTED and (
                row["payee_reason_code"] is None  # Rejected before reasons were kept.
                or (row["payee_reason_code"], row["payee_reason"]) == (decision.reason_code, decision.reason))
            return TransferResult(transfer_id, rc.RESULT_CODE_EXISTS if identical else rc.RESULT_CODE_INVALID_STATE, state)
        if now_ms >= row["expires_at_ms"]:
            batch.abort(row, result=rc.RESULT_CODE_EXPIRED, now_ms=now_ms)
            return TransferResult(transfer_id, rc.RESULT_CODE_EXPIRED, ABORTED)
        if not is_accept:
            batch.abort(row, result=rc.RESULT_CODE_PAYEE_REJECTED, now_ms=now_ms, rejected=decision)
            return TransferResult(transfer_id, rc.RESULT_CODE_OK, ABORTED)
        if hashlib.sha256(decision.fulfilment).digest() != row["condition"]:
            return TransferResult(transfer_id, rc.RESULT_CODE_INVALID_FULFILMENT, state)
        batch.commit(row, decision.fulfilment, window_id=window_id, now_ms=now_ms)
        return TransferResult(transfer_id, rc.RESULT_CODE_OK, COMMITTED)

    @retry_on_conflict
    def expire_due(self, *, limit: int = limits.prepares_per_batch_max) -> int:
        """Abort reserved transfers whose expiry has passed. Returns how many."""
        now_ms = self._clock_ms()
        with self._store.write() as connection:
            due = connection.execute(
                sa.select(transfers.c.transfer_id, transfers.c.payer_bank_id, transfers.c.payee_bank_id)
                .where(transfers.c.state == RESERVED, transfers.c.expires_at_ms <= now_ms).limit(limit)).all()
            if not due:
                return 0
            locked = lock_participants(connection, [b for row in due for b in (row.payer_bank_id, row.payee_bank_id)])
            rows = connection.execute(sa.select(transfers).where(
                transfers.c.transfer_id.in_([row.transfer_id for row in due]), transfers.c.state == RESERVED)).all()
            batch = _Batch(locked)
            for row in rows:
                batch.abort(row._asdict(), result=rc.RESULT_CODE_EXPIRED, now_ms=now_ms)
            recipients = batch.write(connection, clearing_key=self._clearing_key, now_ms=now_ms)
            audit.append(connection, kind="expired", party_id="clearing", now_ms=now_ms,
                         body=audit.json_body({"transfer_ids": [row.transfer_id for row in rows]}))
        self._bell.ring(recipients)
        self._on_decided(batch.decided)
        return len(rows)

    def get(self, transfer_id: str, *, peer: str) -> sa.Row:
        if not identifiers.is_uuid(transfer_id):
            raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, "a transfer id is a lowercase hyphenated UUID",
                               field="transfer_id")
        with self._store.read() as connection:
            row = connection.execute(sa.select(transfers).where(transfers.c.transfer_id == transfer_id)).first()
        if row is None or peer not in (row.payer_bank_id, row.payee_bank_id):
            raise FedmallError(rc.RESULT_CODE_TRANSFER_NOT_FOUND)
        return row
