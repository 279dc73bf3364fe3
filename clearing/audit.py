"""The append-only, hash-chained audit log of every envelope and decision.

entry_hash = SHA-256(previous_hash || sequence || recorded_at_ms || kind || party_id || SHA-256(body)),
so changing, removing or reordering any entry breaks every hash after it. The head
(sequence and hash of the newest entry) goes into signed statements, so a member
can prove what the operator saw.

What members send is logged through clearing.audit_envelopes, which keeps those entries bounded
(a batch that changed nothing by its hash, a replay as a reference to its first entry).
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass

import sqlalchemy as sa

from clearing.store import audit_head, audit_log

GENESIS_HASH = bytes(32)


@dataclass(frozen=True, slots=True)
class AuditHead:
    sequence: int
    entry_hash: bytes


def entry_hash(*, previous_hash: bytes, sequence: int, recorded_at_ms: int, kind: str, party_id: str, body: bytes) -> bytes:
    digest = hashlib.sha256()
    digest.update(previous_hash)
    digest.update(struct.pack(">qq", sequence, recorded_at_ms))
    digest.update(kind.encode() + b"\0" + party_id.encode() + b"\0")
    digest.update(hashlib.sha256(body).digest())
    return digest.digest()


def json_body(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def lock_head(connection: sa.Connection) -> AuditHead:
    """Lock the head row (the last lock of a transaction: clearing.store) and read it."""
    row = connection.execute(sa.select(audit_head).where(audit_head.c.id == 1).with_for_update()).one()
    return AuditHead(sequence=row.sequence, entry_hash=row.entry_hash)


def append(connection: sa.Connection, *, kind: str, party_id: str, body: bytes, now_ms: int,
           locked_head: AuditHead | None = None) -> AuditHead:
    """Append one entry inside the caller's transaction (locks the head row, unless the caller
    did with lock_head to read something under that lock first and passes what it read)."""
    head = locked_head or lock_head(connection)
    sequence = head.sequence + 1
    new_hash = entry_hash(previous_hash=head.entry_hash, sequence=sequence, recorded_at_ms=now_ms,
                          kind=kind, party_id=party_id, body=body)
    connection.execute(sa.insert(audit_log).values(
        sequence=sequence, recorded_at_ms=now_ms, kind=kind, party_id=party_id, body=body,
        previous_hash=head.entry_hash, entry_hash=new_hash))
    connection.execute(sa.update(audit_head).where(audit_head.c.id == 1).values(sequence=sequence, entry_hash=new_hash))
    return AuditHead(sequence=sequence, entry_hash=new_hash)


def head(connection: sa.Connection) -> AuditHead:
    row = connection.execute(sa.select(audit_head).where(audit_head.c.id == 1)).one()
    return AuditHead(sequence=row.sequence, entry_hash=row.entry_hash)


@dataclass(frozen=True, slots=True)
class ChainReport:
    entries: int
    head: AuditHead
    problems: tuple[str, ...]


def verify_chain(connection: sa.Connection, *, page_size: int = 5_000) -> ChainReport:
    """Recompute every hash from genesis; report each break and check the stored head."""
    problems: list[str] = []
    previous_hash, expected_sequence, entries = GENESIS_HASH, 1, 0
    last_sequence = 0
    while True:
        rows = connection.execute(
            sa.select(audit_log).where(audit_log.c.sequence > last_sequence)
            .order_by(audit_log.c.sequence).limit(page_size)).all()
        if not rows:
            break
        for row in rows:
            if row.sequence != expected_sequence:
                problems.append(f"entry {expected_sequence} is missing (next is {row.sequence})")
            if row.previous_hash != previous_hash:
                problems.append(f"entry {row.sequence}: previous_hash does not link to entry {row.sequence - 1}")
            recomputed = entry_hash(previous_hash=row.previous_hash, sequence=row.sequence,
                                    recorded_at_ms=row.recorded_at_ms, kind=row.kind,
                                    party_id=row.party_id, body=row.body)
            if recomputed != row.entry_hash:
                problems.append(f"entry {row.sequence}: content does not match its hash")
            previous_hash, expected_sequence = row.entry_hash, row.sequence + 1
            entries += 1
        last_sequence = rows[-1].sequence
    stored = head(connection)
    if stored.sequence != last_sequence or stored.entry_hash != previous_hash:
        problems.append(f"stored head (entry {stored.sequence}) is not the last entry ({last_sequence})")
    return ChainReport(entries=entries, head=stored, problems=tuple(problems))
