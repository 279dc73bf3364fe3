"""Audit entries for the envelopes members send, bounded so that refused input cannot grow the log
faster than the member's byte budget allows (docs/architecture.md, "Limits").

A batch that changed state keeps its whole envelope: it is the evidence of what the member
signed. Anything else is logged by what identifies it:

    entry              body (JSON)
    prepares,          {"envelope_sha256", "envelope_bytes", "results", ["unnamed"],
    decisions            "envelope" when the batch changed state (reserved, committed, aborted)
                           and no earlier entry holds these bytes,
                         "same_envelope_as": N when entry N recorded these bytes first,
                         "results_as_in": M instead of "results" when they are the ones entry M lists}
    refused            {"result", "envelope_sha256", "envelope_bytes",
                         "envelope" when first seen and at most limits.audit_refusal_bytes_max,
                         "same_envelope_as": N when entry N recorded these bytes first}

"results" lists [transfer_id, result] for each item whose id is a transfer id (a UUID), so
`fedmall-clearing audit list --transfer` and `transfers show` still find a refused transfer;
items with any other id (never a transfer: refused before anything) are only counted per result
in "unnamed" as [result, count], so their bytes cannot be copied into the log. Each named item
costs the member at least 40 request bytes (a 36-character id with its tags) and the log at most
44, so a batch that changed nothing adds at most 1.1 times its request bytes plus a fixed part.

A byte-identical replay (the same serialised envelope; found by its SHA-256 in audit_envelopes,
read under the audit head's lock so two replays cannot both be first) is logged as a reference:
about 200 bytes however big the envelope. Entries from before audit_envelopes existed are not in
it: their first replay is logged as a first entry.
"""
from __future__ import annotations

import base64
import hashlib
import re
from typing import Sequence

import sqlalchemy as sa

from fedmall import limits

from clearing import audit
from clearing.store import audit_envelopes

# A transfer id as clearing.rules.is_uuid accepts it (the hyphenated form, either case), matched
# without building a UUID: this runs for every item of every batch.
TRANSFER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def results_document(results: Sequence[tuple[str, int]]) -> dict:
    """{"results": [[transfer_id, result]...]} for the items named by a transfer id, and
    "unnamed": [[result, count]...] (by result) for the others, when there are any."""
    named, unnamed = [], {}
    for transfer_id, result in results:
        if TRANSFER_ID.fullmatch(transfer_id):
            named.append([transfer_id, result])
        else:
            unnamed[result] = unnamed.get(result, 0) + 1
    document: dict = {"results": named}
    if unnamed:
        document["unnamed"] = [[result, count] for result, count in sorted(unnamed.items())]
    return document


def record_batch(connection: sa.Connection, *, kind: str, peer: str, envelope_bytes: bytes,
                 results: Sequence[tuple[str, int]], changed: bool, now_ms: int) -> audit.AuditHead:
    """The entry of a batch of prepares or decisions the clearing opened, inside its transaction;
    changed: some item reserved, committed or aborted a transfer."""
    head = audit.lock_head(connection)
    sha256 = hashlib.sha256(envelope_bytes).digest()
    known = _known(connection, sha256)
    document: dict = {"envelope_sha256": sha256.hex(), "envelope_bytes": len(envelope_bytes)}
    if known is not None:
        document["same_envelope_as"] = known.first_sequence
    holds_envelope = changed and (known is None or known.envelope_sequence is None)
    if holds_envelope:
        document["envelope"] = base64.b64encode(envelope_bytes).decode()
    listed = results_document(results)
    results_sha256 = hashlib.sha256(audit.json_body(listed)).digest()
    lists_results = known is None or known.results_sha256 != results_sha256
    if lists_results:
        document.update(listed)
    else:
        document["results_as_in"] = known.results_sequence
    entry = audit.append(connection, kind=kind, party_id=peer, now_ms=now_ms, body=audit.json_body(document),
                         locked_head=head)
    _remember(connection, sha256, known, sequence=entry.sequence, holds_envelope=holds_envelope,
              results_sha256=results_sha256 if lists_results else None)
    return entry


def record_refusal(connection: sa.Connection, envelope_bytes: bytes, *, peer: str, code: int,
                   now_ms: int) -> audit.AuditHead:
    """A refused envelope leaves only this trace: what was sent (a large one, or one seen before,
    by its hash and size) and why it was refused."""
    head = audit.lock_head(connection)
    sha256 = hashlib.sha256(envelope_bytes).digest()
    known = _known(connection, sha256)
    document: dict = {"result": code, "envelope_sha256": sha256.hex(), "envelope_bytes": len(envelope_bytes)}
    holds_envelope = known is None and len(envelope_bytes) <= limits.audit_refusal_bytes_max
    if known is not None:
        document["same_envelope_as"] = known.first_sequence
    elif holds_envelope:
        document["envelope"] = base64.b64encode(envelope_bytes).decode()
    entry = audit.append(connection, kind="refused", party_id=peer, now_ms=now_ms, body=audit.json_body(document),
                         locked_head=head)
    _remember(connection, sha256, known, sequence=entry.sequence, holds_envelope=holds_envelope, results_sha256=None)
    return entry


def first_entry(connection: sa.Connection, envelope_sha256: bytes) -> int | None:
    """The sequence of the first entry that recorded these envelope bytes, if any."""
    return connection.scalar(sa.select(audit_envelopes.c.first_sequence).where(
        audit_envelopes.c.envelope_sha256 == envelope_sha256))


def _known(connection: sa.Connection, sha256: bytes) -> sa.Row | None:
    return connection.execute(sa.select(audit_envelopes).where(audit_envelopes.c.envelope_sha256 == sha256)).first()


def _remember(connection: sa.Connection, sha256: bytes, known: sa.Row | None, *, sequence: int,
              holds_envelope: bool, results_sha256: bytes | None) -> None:
    results = {"results_sequence": sequence, "results_sha256": results_sha256} if results_sha256 else {}
    if known is None:
        connection.execute(sa.insert(audit_envelopes).values(
            envelope_sha256=sha256, first_sequence=sequence, envelope_sequence=sequence if holds_envelope else None,
            **results))
        return
    changes = {**results, **({"envelope_sequence": sequence} if holds_envelope else {})}
    if changes:
        connection.execute(sa.update(audit_envelopes).where(audit_envelopes.c.envelope_sha256 == sha256)
                           .values(**changes))
