"""How fast one member can grow the audit log: the bound, from its budget and the entry sizes, and
the measure, the bytes of the audit tables' rows. docs/architecture.md ("Limits") states the bound
for the default budget; tests/adversarial/test_audit_growth.py and scripts/bench measure it.

Every entry a member's call writes costs at most

    ENTRY_FIXED_BYTES_MAX + REFUSED_BYTES_PER_REQUEST_BYTE_MAX x the request's bytes   (refused input)

where the fixed part is the row without its body (sequence, time, kind, party, the two hashes),
its audit_envelopes row, and the widest body with no items and no envelope in it (a replay's
reference is that, and nothing more). The part that grows with the request is the envelope held
as base64 (4/3 of its bytes: a refused envelope of at most limits.audit_refusal_bytes_max, first
seen) or the results of a batch that changed nothing (at most 45 bytes for an item that costs the
member at least 40: clearing.audit_envelopes). One call writes at most one entry, so over any
T seconds a member's budget (burst plus rate x T, in calls and in request bytes) bounds the growth:

    growth(T) <= ENTRY_FIXED_BYTES_MAX x (requests.burst + requests.per_s x T)
                 + REFUSED_BYTES_PER_REQUEST_BYTE_MAX x (request_bytes.burst + request_bytes.per_s x T)

A batch that changed state holds its envelope and its results, at most ANY_BYTES_PER_REQUEST_BYTE_MAX
per request byte; each such batch also reserves, commits or aborts the member's own transfers.
"""
from __future__ import annotations

import json
import math
import uuid
from fractions import Fraction

import sqlalchemy as sa

from fedmall import limits
from fedmall.budgets import Budget
from fedmall.v1 import result_pb2

from clearing.audit import json_body
from clearing.store import audit_envelopes, audit_log

SEQUENCE_MAX = 2**63 - 1
# An audit_log row without its body: sequence and time (8 + 8), kind and party at their column
# widths, previous and entry hash (32 + 32).
ROW_BYTES_MAX = 8 + 8 + audit_log.c.kind.type.length + audit_log.c.party_id.type.length + 32 + 32
# An audit_envelopes row: the SHA-256 key, three sequences and the results' SHA-256.
ENVELOPE_ROW_BYTES_MAX = 32 + 3 * 8 + 32
# The least a member's request spends on an item named by a transfer id: the repeated field's tag
# and length (2) around a message holding only the 36-character id with its tag and length (38).
REQUEST_BYTES_PER_NAMED_ITEM_MIN = 2 + 2 + 36
RESULT_CODE_MAX = max(result_pb2.ResultCode.values())


def _named_item_bytes_max() -> int:
    """[transfer_id, result] and its separating comma."""
    return len(json.dumps([str(uuid.UUID(int=0)), RESULT_CODE_MAX], separators=(",", ":"))) + 1


def _body_fixed_bytes_max() -> int:
    """The widest body with no items and no envelope in it, of either shape."""
    common = {"envelope_sha256": "f" * 64, "envelope_bytes": limits.grpc_message_bytes_max,
              "same_envelope_as": SEQUENCE_MAX}
    refused = {**common, "result": RESULT_CODE_MAX}
    # Items without a transfer id are counted per result: at most one [result, count] per code.
    batch = {**common, "results": [], "results_as_in": SEQUENCE_MAX,
             "unnamed": [[code, limits.prepares_per_batch_max] for code in result_pb2.ResultCode.values()]}
    return max(len(json_body(refused)), len(json_body(batch)))


NAMED_ITEM_BYTES_MAX = _named_item_bytes_max()
BODY_FIXED_BYTES_MAX = _body_fixed_bytes_max()
ENTRY_FIXED_BYTES_MAX = ROW_BYTES_MAX + ENVELOPE_ROW_BYTES_MAX + BODY_FIXED_BYTES_MAX
BASE64_BYTES_PER_BYTE = Fraction(4, 3)
REFUSED_BYTES_PER_REQUEST_BYTE_MAX = max(BASE64_BYTES_PER_BYTE,
                                         Fraction(NAMED_ITEM_BYTES_MAX, REQUEST_BYTES_PER_NAMED_ITEM_MIN))
ANY_BYTES_PER_REQUEST_BYTE_MAX = BASE64_BYTES_PER_BYTE + Fraction(NAMED_ITEM_BYTES_MAX, REQUEST_BYTES_PER_NAMED_ITEM_MIN)

assert REFUSED_BYTES_PER_REQUEST_BYTE_MAX == BASE64_BYTES_PER_BYTE, "a result must not cost more than base64"


def growth_bytes_max(budget: Budget, *, seconds: float, any_input: bool = False) -> int:
    """The most one member can add to the audit tables in `seconds` (module docstring): refused
    input, or with any_input batches that changed state too."""
    ratio = ANY_BYTES_PER_REQUEST_BYTE_MAX if any_input else REFUSED_BYTES_PER_REQUEST_BYTE_MAX
    calls = budget.requests.burst + budget.requests.per_s * seconds
    request_bytes = budget.request_bytes.burst + budget.request_bytes.per_s * seconds
    return math.ceil(ENTRY_FIXED_BYTES_MAX * calls + float(ratio) * request_bytes)


def growth_bytes_per_s_max(budget: Budget, *, any_input: bool = False) -> int:
    """The sustained rate of growth_bytes_max once the bursts are spent."""
    ratio = ANY_BYTES_PER_REQUEST_BYTE_MAX if any_input else REFUSED_BYTES_PER_REQUEST_BYTE_MAX
    return math.ceil(ENTRY_FIXED_BYTES_MAX * budget.requests.per_s + float(ratio) * budget.request_bytes.per_s)


def table_bytes(connection: sa.Connection) -> int:
    """The bytes of the audit tables' rows, as ROW_BYTES_MAX and ENVELOPE_ROW_BYTES_MAX count them
    (kind and party by their length; indexes and pages not counted)."""
    log = audit_log.c
    entries, body, kind, party = connection.execute(sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(sa.func.length(log.body)), 0),
        sa.func.coalesce(sa.func.sum(sa.func.length(log.kind)), 0),
        sa.func.coalesce(sa.func.sum(sa.func.length(log.party_id)), 0))).one()
    envelopes = connection.scalar(sa.select(sa.func.count()).select_from(audit_envelopes))
    return int(entries * (8 + 8 + 32 + 32) + body + kind + party + envelopes * ENVELOPE_ROW_BYTES_MAX)
