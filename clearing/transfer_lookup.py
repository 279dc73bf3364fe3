"""One transfer as the clearing knows it, for the operator: its UETR (and, for a return, the
original it gives money back for), the prepare as the payer signed it, each state with its time, the payee's decision, the window and whether it is settled,
and every audit entry that names the transfer.

The audit entries that name a transfer are the batches of prepares and of decisions that
carried it (accepted or refused) and the expiry sweep that aborted it.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from google.protobuf import json_format

from fedmall.results import FedmallError, name_of
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import transfer_pb2

from clearing import audit_reading, rules, store, transfers, windows
from clearing.store import settlement_windows


@dataclass(frozen=True, slots=True)
class AuditMention:
    sequence: int
    recorded_at_ms: int
    kind: str
    party_id: str
    result: str          # What the entry says of this transfer: a result code's name, or EXPIRED.


@dataclass(frozen=True, slots=True)
class TransferLookup:
    transfer_id: str
    uetr: str                        # The payer's UETR ("" for a transfer signed before UETRs).
    original_transfer_id: str        # For a return: the transfer it gives money back for; else "".
    payer_bank_id: str
    payee_bank_id: str
    amount_minor: int
    currency: str
    state: str                       # RESERVED, COMMITTED or ABORTED.
    result: str                      # Why it is in that state (OK, or the abort's reason).
    received_at_ms: int              # Received and reserved in one transaction.
    decided_at_ms: int | None        # Committed or aborted.
    expires_at_ms: int
    payee_decision: str              # ACCEPTED (the fulfilment was given), or none yet / REJECTED / EXPIRED.
    payee_reason_code: str | None    # When REJECTED: the payee's reason code by name, and its words.
    payee_reason: str | None
    window_id: int | None
    window_state: str | None
    prepare: dict                    # The prepare exactly as signed, decoded.
    prepare_sha256: str
    audit: tuple[AuditMention, ...]


def look_up(connection: sa.Connection, transfer_id: str) -> TransferLookup:
    """Raises FedmallError INVALID_FIELD for a malformed id, TRANSFER_NOT_FOUND for an unknown one."""
    if not rules.is_uuid(transfer_id):
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, f"{transfer_id!r} is not a transfer id (a UUID)")
    table = store.transfers
    row = connection.execute(sa.select(table).where(table.c.transfer_id == transfer_id)).first()
    if row is None:
        raise FedmallError(rc.RESULT_CODE_TRANSFER_NOT_FOUND, f"the clearing holds no transfer {transfer_id}")
    window_state = None
    if row.window_id is not None:
        window_state = windows.state_name(connection.scalar(
            sa.select(settlement_windows.c.state).where(settlement_windows.c.window_id == row.window_id)))
    prepare = transfer_pb2.Prepare.FromString(row.prepare_bytes)
    return TransferLookup(
        transfer_id=row.transfer_id, uetr=row.uetr or "", original_transfer_id=row.original_transfer_id or "",
        payer_bank_id=row.payer_bank_id, payee_bank_id=row.payee_bank_id,
        amount_minor=row.amount_minor, currency=row.currency,
        state=transfers.state_name(row.state), result=name_of(row.result),
        received_at_ms=row.created_at_ms, decided_at_ms=row.decided_at_ms, expires_at_ms=row.expires_at_ms,
        payee_decision=_payee_decision(row),
        payee_reason_code=name_of(row.payee_reason_code) if row.payee_reason_code is not None else None,
        payee_reason=row.payee_reason, window_id=row.window_id, window_state=window_state,
        prepare=json_format.MessageToDict(prepare, preserving_proto_field_name=True),
        prepare_sha256=row.prepare_sha256.hex(), audit=_mentions(connection, transfer_id))


def _payee_decision(row: sa.Row) -> str:
    if row.fulfilment is not None:
        return "ACCEPTED"
    if row.state == transfers.RESERVED:
        return "none yet"
    return {rc.RESULT_CODE_PAYEE_REJECTED: "REJECTED", rc.RESULT_CODE_EXPIRED: "EXPIRED"}.get(row.result, "none")


def _mentions(connection: sa.Connection, transfer_id: str) -> tuple[AuditMention, ...]:
    """The entries whose body names the transfer (clearing.audit_reading: narrowed down in the
    database, then each body says what it did to the transfer)."""
    return tuple(
        AuditMention(sequence=entry.sequence, recorded_at_ms=entry.recorded_at_ms, kind=entry.kind,
                     party_id=entry.party_id, result=result)
        for entry in audit_reading.every_entry(connection, audit_reading.AuditFilter(transfer_id=transfer_id))
        for result in audit_reading.said_of_transfer(entry.kind, entry.body, transfer_id))
