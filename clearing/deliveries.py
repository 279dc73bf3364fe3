"""Each participant's ordered, resumable delivery stream.

A delivery is one NoticeBatch signed by the clearing, numbered per recipient by the
``delivery_sequence`` on the recipient's participant row. That row is locked by the
writing transaction, so sequence numbers commit in order and a reader resuming
"after N" never skips a delivery that commits late.
"""
from __future__ import annotations

import threading
from collections import defaultdict

import sqlalchemy as sa

from fedmall import limits
from fedmall.envelope import Envelope, SigningKey
from fedmall.v1 import transfer_pb2

from clearing.store import deliveries, lock_participants, participants


def write_deliveries(
    connection: sa.Connection,
    notices_by_bank: dict[str, list[transfer_pb2.TransferNotice]],
    *,
    last_sequence_by_bank: dict[str, int],
    clearing_key: SigningKey,
    now_ms: int,
) -> dict[str, int]:
    """Sign and store one NoticeBatch delivery per recipient (split at the per-delivery bound).

    Returns each recipient's new last sequence; the caller writes it to the locked row.
    """
    envelopes_by_bank = {
        bank_id: [clearing_key.sign(transfer_pb2.NoticeBatch(recipient_bank_id=bank_id, notices=chunk))
                  for chunk in _chunks(notices)]
        for bank_id, notices in notices_by_bank.items()}
    return append_deliveries(connection, envelopes_by_bank, last_sequence_by_bank=last_sequence_by_bank, now_ms=now_ms)


def _chunks(notices: list[transfer_pb2.TransferNotice]) -> list[list[transfer_pb2.TransferNotice]]:
    """Split at the per-delivery count and keep each delivery's payload under the envelope bound."""
    budget = limits.envelope_bytes_max - 4096  # Room for the signature, key id and framing.
    chunks: list[list[transfer_pb2.TransferNotice]] = [[]]
    size = 0
    for notice in notices:
        notice_size = notice.ByteSize() + 8
        if chunks[-1] and (len(chunks[-1]) == limits.notices_per_delivery_max or size + notice_size > budget):
            chunks.append([])
            size = 0
        chunks[-1].append(notice)
        size += notice_size
    return chunks


def append_deliveries(
    connection: sa.Connection,
    envelopes_by_bank: dict[str, list[Envelope]],
    *,
    last_sequence_by_bank: dict[str, int],
    now_ms: int,
) -> dict[str, int]:
    """Number and store signed envelopes on each recipient's stream, in list order."""
    rows, new_last = [], dict(last_sequence_by_bank)
    for bank_id, envelopes in sorted(envelopes_by_bank.items()):
        for envelope in envelopes:
            new_last[bank_id] += 1
            rows.append({"bank_id": bank_id, "sequence": new_last[bank_id],
                         "envelope": envelope.SerializeToString(), "created_at_ms": now_ms})
    if rows:
        connection.execute(sa.insert(deliveries), rows)
    return {bank_id: new_last[bank_id] for bank_id in envelopes_by_bank}


def deliver(connection: sa.Connection, envelopes_by_bank: dict[str, list[Envelope]], *, now_ms: int) -> None:
    """Lock the recipients' rows, append the envelopes to their streams, store the new sequences."""
    locked = lock_participants(connection, envelopes_by_bank)
    sequences = append_deliveries(connection, envelopes_by_bank, now_ms=now_ms,
                                  last_sequence_by_bank={b: row.delivery_sequence for b, row in locked.items()})
    if sequences:
        connection.execute(
            sa.update(participants).where(participants.c.bank_id == sa.bindparam("bank"))
            .values(delivery_sequence=sa.bindparam("sequence")),
            [{"bank": bank_id, "sequence": sequence} for bank_id, sequence in sequences.items()])


def read_deliveries(connection: sa.Connection, bank_id: str, *, after_sequence: int) -> list[sa.Row]:
    """The next deliveries for bank_id, bounded by count and bytes."""
    rows = connection.execute(
        sa.select(deliveries.c.sequence, deliveries.c.envelope)
        .where(deliveries.c.bank_id == bank_id, deliveries.c.sequence > after_sequence)
        .order_by(deliveries.c.sequence).limit(limits.deliveries_per_stream_message_max)).all()
    taken, size = [], 0
    for row in rows:
        if taken and size + len(row.envelope) > limits.stream_message_bytes_max:
            break
        taken.append(row)
        size += len(row.envelope)
    return taken


class DeliveryBell:
    """Wakes this process's stream handlers when a delivery for their bank commits.

    Streams also poll (limits.stream_idle_poll_ms), which covers deliveries written by
    another clearing process sharing the database.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._rings: dict[str, int] = defaultdict(int)

    def ring(self, bank_ids: set[str] | list[str]) -> None:
        with self._condition:
            for bank_id in bank_ids:
                self._rings[bank_id] += 1
            self._condition.notify_all()

    def rings(self, bank_id: str) -> int:
        with self._condition:
            return self._rings[bank_id]

    def wait(self, bank_id: str, *, seen_rings: int, timeout_s: float) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._rings[bank_id] != seen_rings, timeout=timeout_s)
