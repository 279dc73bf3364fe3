"""Reading the audit log: which entries match a filter, a page at a time, and what a body says.

Bodies come in three shapes (see each audit.append):

    JSON                     admit, status.*, window.*, expired, participant.*
    JSON with an envelope    prepares and decisions (the signed batch as base64 when it changed
                             state, always its hash and size, and one [transfer_id, result] per
                             item named by a transfer id); refused (the envelope as base64 when it
                             was small enough, always its hash and size). A replay of an envelope
                             already logged names the first entry (same_envelope_as) instead of
                             holding it, and the entry listing the same results (results_as_in)
                             instead of listing them: clearing.audit_envelopes draws every shape
    a serialised Envelope    key.add, key.revoke, reconciliation, reconciliation.replace

decode_body turns any of them into JSON for people: each envelope with its payload parsed by
payload_type, result codes by name. It never raises: a refused envelope may be garbage.

Finding entries. Kind, party, time and the cursor are exact SQL conditions. For --window and
--transfer the database first narrows the log by bytes the body must contain (so a big log is
never read into Python), then concerns_window and said_of_transfer decide on the decoded body:

    --window N    window.* entries whose window_id, closed, opened or moved_to is N (JSON
                  text '"window_id":N,' or '...N}'), and reconciliations of window N (the
                  envelope must contain the payload's window_id field, tag 0x08 and N as a
                  varint; a signature can contain those bytes too, the decoded check drops it)
    --transfer T  prepares and decisions whose results name T, and expiry sweeps that list T
                  (the id quoted in the JSON; the embedded envelope is base64, so it cannot match);
                  a replay whose results are those of an earlier entry (results_as_in) is not
                  listed, its earlier entry is

Not searched by window or transfer: refused envelopes (never opened, so nothing in them was
trusted; list them with --kind refused --party BANK), and the decisions that committed a
transfer into a window (the window is on the transfer: fedmall-clearing transfers --window N).
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

import sqlalchemy as sa
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError

from fedmall.envelope import Envelope
from fedmall.results import FedmallError, name_of
from fedmall.text import text_problem
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import settlement_pb2, transfer_pb2  # noqa: F401  (registers the payload types)

from clearing import limits, rules
from clearing.store import audit_log

ENVELOPE_KINDS = ("key.add", "key.revoke", "reconciliation", "reconciliation.replace")
RECONCILIATION_KINDS = ("reconciliation", "reconciliation.replace")
TRANSFER_KINDS = ("prepares", "decisions", "expired")
WINDOW_FIELDS = ("window_id", "closed", "opened", "moved_to")
PAYLOAD_PACKAGE = "fedmall.v1."
RECONCILIATION_WINDOW_TAG = b"\x08"  # Reconciliation.window_id: field 1, varint.
KIND_LENGTH_MAX = audit_log.c.kind.type.length
PARTY_LENGTH_MAX = audit_log.c.party_id.type.length
SUMMARY_LENGTH_MAX = 100


@dataclass(frozen=True, slots=True)
class AuditFilter:
    kind: str = ""                  # Exact, or a prefix when it ends in "." or "*" (window., reconciliation*).
    party_id: str = ""
    since_ms: int | None = None     # Recorded at or after.
    until_ms: int | None = None     # Recorded before.
    window_id: int | None = None
    transfer_id: str = ""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    sequence: int
    recorded_at_ms: int
    kind: str
    party_id: str
    body: bytes
    previous_hash: bytes
    entry_hash: bytes


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: tuple[AuditEntry, ...]
    next_after: int | None          # The cursor of the next page; None after the last.


def list_entries(connection: sa.Connection, chosen: AuditFilter, *, page_size: int,
                 after_sequence: int = 0) -> AuditPage:
    """One page of matching entries, oldest first, after the cursor.

    A page ends early, with a cursor, once its bodies pass limits.audit_page_body_bytes_max or
    it has examined limits.audit_scan_entries_max candidates (then it may even be empty): rows
    are streamed, so neither bound lets a big log into memory.
    """
    _check(chosen, page_size=page_size, after_sequence=after_sequence)
    query = (sa.select(audit_log).where(audit_log.c.sequence > after_sequence, *_conditions(connection, chosen))
             .order_by(audit_log.c.sequence).limit(limits.audit_scan_entries_max + 1))
    entries: list[AuditEntry] = []
    body_bytes, examined, last_examined = 0, 0, after_sequence
    result = connection.execution_options(stream_results=True, yield_per=64).execute(query)
    try:
        for row in result:
            if examined == limits.audit_scan_entries_max:  # More candidates than one page may examine.
                return AuditPage(entries=tuple(entries), next_after=last_examined)
            examined, last_examined = examined + 1, row.sequence
            if not _matches(row.kind, row.body, chosen):
                continue
            if len(entries) == page_size or body_bytes >= limits.audit_page_body_bytes_max:
                return AuditPage(entries=tuple(entries), next_after=entries[-1].sequence)
            entries.append(_entry(row))
            body_bytes += len(row.body)
    finally:
        result.close()
    return AuditPage(entries=tuple(entries), next_after=None)


def every_entry(connection: sa.Connection, chosen: AuditFilter) -> list[AuditEntry]:
    """All matching entries, page after page: for filters that match few (one transfer's)."""
    entries: list[AuditEntry] = []
    after_sequence: int | None = 0
    while after_sequence is not None:
        page = list_entries(connection, chosen, page_size=limits.audit_page_entries_max, after_sequence=after_sequence)
        entries += page.entries
        after_sequence = page.next_after
    return entries


def get_entry(connection: sa.Connection, sequence: int) -> AuditEntry | None:
    row = connection.execute(sa.select(audit_log).where(audit_log.c.sequence == sequence)).first()
    return None if row is None else _entry(row)


def _entry(row: sa.Row) -> AuditEntry:
    return AuditEntry(sequence=row.sequence, recorded_at_ms=row.recorded_at_ms, kind=row.kind,
                      party_id=row.party_id, body=bytes(row.body), previous_hash=bytes(row.previous_hash),
                      entry_hash=bytes(row.entry_hash))


def _check(chosen: AuditFilter, *, page_size: int, after_sequence: int) -> None:
    problems = []
    if not 1 <= page_size <= limits.audit_page_entries_max:
        problems.append(f"a page holds 1 to {limits.audit_page_entries_max} entries")
    if after_sequence < 0:
        problems.append("the cursor is an entry's sequence number, 0 or more")
    for field, text, length_max in (("kind", chosen.kind, KIND_LENGTH_MAX), ("party", chosen.party_id,
                                                                             PARTY_LENGTH_MAX)):
        if text_problem(text, length_max=length_max) is not None:
            problems.append(f"{field} is at most {length_max} printable characters, not {text!r}")
    if chosen.window_id is not None and chosen.window_id < 1:
        problems.append(f"windows are numbered from 1, not {chosen.window_id}")
    if chosen.transfer_id and not rules.is_uuid(chosen.transfer_id):
        problems.append(f"{chosen.transfer_id!r} is not a transfer id (a UUID)")
    if problems:
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, "; ".join(problems))


def _conditions(connection: sa.Connection, chosen: AuditFilter) -> list:
    c = audit_log.c
    conditions = []
    if chosen.kind.endswith((".", "*")):
        conditions.append(c.kind.startswith(chosen.kind.removesuffix("*"), autoescape=True))
    elif chosen.kind:
        conditions.append(c.kind == chosen.kind)
    if chosen.party_id:
        conditions.append(c.party_id == chosen.party_id)
    if chosen.since_ms is not None:
        conditions.append(c.recorded_at_ms >= chosen.since_ms)
    if chosen.until_ms is not None:
        conditions.append(c.recorded_at_ms < chosen.until_ms)
    if chosen.window_id is not None:
        window = chosen.window_id
        in_json = [_contains(connection, f'"{field}":{window}{end}'.encode()) for field in WINDOW_FIELDS
                   for end in (",", "}")]
        conditions.append(sa.or_(
            sa.and_(c.kind.startswith("window."), sa.or_(*in_json)),
            sa.and_(c.kind.in_(RECONCILIATION_KINDS), _contains(connection, RECONCILIATION_WINDOW_TAG + _varint(window)))))
    if chosen.transfer_id:
        conditions.append(sa.and_(c.kind.in_(TRANSFER_KINDS), _contains(connection, f'"{chosen.transfer_id}"'.encode())))
    return conditions


def _contains(connection: sa.Connection, needle: bytes) -> sa.ColumnElement[bool]:
    """The body holds these bytes. Compared as bytes on both stores: no text cast (SQLite's
    stops at a NUL) and no LIKE, whose % and _ a byte of a varint could be."""
    pattern = sa.literal(needle, sa.LargeBinary)
    if connection.dialect.name == "postgresql":
        return sa.func.position(pattern.op("IN")(audit_log.c.body)) > 0
    return sa.func.instr(audit_log.c.body, pattern) > 0


def _varint(number: int) -> bytes:
    assert number >= 0, number
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _matches(kind: str, body: bytes, chosen: AuditFilter) -> bool:
    if chosen.window_id is not None and not concerns_window(kind, body, chosen.window_id):
        return False
    if chosen.transfer_id and not said_of_transfer(kind, body, chosen.transfer_id):
        return False
    return True


# What an entry says ---------------------------------------------------------------------


def concerns_window(kind: str, body: bytes, window_id: int) -> bool:
    """A window's own event (closed, opened, issued, settled, aborted, or the one an abort moved
    transfers to), or a member's answer to its statement for it."""
    if kind.startswith("window."):
        document = _json(body)
        return isinstance(document, dict) and any(
            type(document.get(field)) is int and document[field] == window_id for field in WINDOW_FIELDS)
    if kind in RECONCILIATION_KINDS:
        answer = _payload(body, settlement_pb2.Reconciliation)
        return answer is not None and answer.window_id == window_id
    return False


def said_of_transfer(kind: str, body: bytes, transfer_id: str) -> list[str]:
    """What the entry says of the transfer, once per time it names it: the result code's name
    in a batch of prepares or decisions, EXPIRED in an expiry sweep; [] when it does not name it."""
    if kind not in TRANSFER_KINDS:
        return []
    document = _json(body)
    if not isinstance(document, dict):
        return []
    if kind == "expired":
        return ["EXPIRED"] if transfer_id in document.get("transfer_ids", []) else []
    return [_result_name(result) for named, result in document.get("results", []) if named == transfer_id]


def decode_body(kind: str, body: bytes) -> dict:
    """The body as JSON for people (see the module docstring); never raises."""
    if kind in ENVELOPE_KINDS:
        return {"envelope": decode_envelope(body)}
    document = _json(body)
    if not isinstance(document, dict):
        return {"undecoded_base64": base64.b64encode(body).decode()}
    decoded = dict(document)
    if isinstance(decoded.get("envelope"), str):
        try:
            decoded["envelope"] = decode_envelope(base64.b64decode(decoded["envelope"], validate=True))
        except ValueError:
            pass  # Not base64: left as it was stored.
    if isinstance(decoded.get("result"), int):
        decoded["result"] = _result_name(decoded["result"])
    if kind in ("prepares", "decisions") and isinstance(decoded.get("results"), list):
        decoded["results"] = [{"transfer_id": named, "result": _result_name(result)}
                              for named, result in decoded["results"]]
    if kind in ("prepares", "decisions") and isinstance(decoded.get("unnamed"), list):
        decoded["unnamed"] = [{"result": _result_name(result), "items": count} for result, count in decoded["unnamed"]]
    return decoded


def replay_of(body: bytes) -> int | None:
    """The entry that first recorded the same envelope, when this entry is a replay of it."""
    return _replay_in(_json(body))


def _replay_in(document) -> int | None:
    first = document.get("same_envelope_as") if isinstance(document, dict) else None
    return first if type(first) is int else None


def decode_envelope(envelope_bytes: bytes) -> dict:
    """An Envelope with its payload parsed by payload_type (fedmall.v1 types only); what cannot
    be parsed is kept as base64 with the reason."""
    try:
        envelope = Envelope.FromString(envelope_bytes)
    except DecodeError as error:
        return {"problem": f"not an envelope: {error}", "bytes_base64": base64.b64encode(envelope_bytes).decode()}
    decoded = {"payload_type": envelope.payload_type, "key_id": envelope.key_id,
               "signature": envelope.signature.hex(), "payload_sha256": hashlib.sha256(envelope.payload).hexdigest()}
    message_class = _payload_class(envelope.payload_type)
    try:
        if message_class is None:
            raise DecodeError(f"unknown payload type {envelope.payload_type!r}")
        decoded["payload"] = json_format.MessageToDict(message_class.FromString(envelope.payload),
                                                       preserving_proto_field_name=True)
    except DecodeError as error:
        decoded["problem"] = str(error)
        decoded["payload_base64"] = base64.b64encode(envelope.payload).decode()
    return decoded


def summary(kind: str, body: bytes) -> str:
    """One short line for the list: a batch's results counted (its envelope, up to 4 MiB, is not
    parsed for that), an envelope's payload type and plain fields, else the body's plain fields."""
    document = _json(body) if kind in TRANSFER_KINDS or kind == "refused" else None
    replay = _replay_in(document)
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        counts: dict[str, int] = {}
        for _, result in document["results"]:
            counts[_result_name(result)] = counts.get(_result_name(result), 0) + 1
        for result, count in document.get("unnamed", []):
            counts[_result_name(result)] = counts.get(_result_name(result), 0) + count
        text = f"{sum(counts.values())} items: " + ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
        text = text if replay is None else f"replay of entry {replay}, {text}"
    elif isinstance(document, dict) and type(document.get("results_as_in")) is int:
        text = f"replay of entry {replay}, results as in entry {document['results_as_in']}"
    elif kind == "refused" and replay is not None:
        text = f"result={_result_name(document.get('result'))} replay of entry {replay}"
    elif isinstance(document, dict) and isinstance(document.get("transfer_ids"), list):
        text = f"{len(document['transfer_ids'])} transfers expired"
    else:
        decoded = decode_body(kind, body)
        envelope = decoded.get("envelope")
        text = _plain(decoded)
        if isinstance(envelope, dict):
            payload = envelope.get("payload", {})
            text = " ".join([envelope.get("payload_type", "?").removeprefix(PAYLOAD_PACKAGE), text, _plain(payload)])
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_LENGTH_MAX else text[:SUMMARY_LENGTH_MAX - 1] + "…"


def _plain(document: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in document.items() if not isinstance(value, (dict, list)))


def _json(body: bytes):
    try:
        return json.loads(body)
    except ValueError:  # Also UnicodeDecodeError.
        return None


def _payload(body: bytes, message_class):
    """The envelope's payload when it is of message_class, else None."""
    try:
        envelope = Envelope.FromString(body)
        if envelope.payload_type != message_class.DESCRIPTOR.full_name:
            return None
        return message_class.FromString(envelope.payload)
    except DecodeError:
        return None


def _payload_class(payload_type: str):
    if not payload_type.startswith(PAYLOAD_PACKAGE):
        return None
    try:
        return message_factory.GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(payload_type))
    except KeyError:
        return None


def _result_name(code) -> str:
    try:
        return name_of(code)
    except (ValueError, TypeError):
        return str(code)

