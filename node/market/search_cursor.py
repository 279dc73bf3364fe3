"""The opaque cursor of a federated search: where each bank's answer stands.

It is issued and read by the same node (the one the buyer's app searches at): base64url of a
small JSON document naming, per bank, its position in the sort's order (node.market.ranking),
the banks that have nothing more, and a digest of the query, filters and sort it belongs to,
so a cursor given with another search is refused rather than read in the wrong order. Bounded
(limits.search_cursor_bytes_max, search_cursor_banks_max); anything malformed is INVALID_FIELD.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

from fedmall.v1 import result_pb2

from node import limits
from node.errors import InvalidRequest
from node.market.ranking import Position

_VERSION = 1


@dataclass(frozen=True, slots=True)
class Cursor:
    positions: dict[str, Position]
    finished: frozenset[str]


def search_digest(*parts: object) -> str:
    """What a cursor belongs to: the query's words, the filters and the sort."""
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]


def encode(cursor: Cursor, *, digest: str) -> str:
    document = {"v": _VERSION, "d": digest, "f": sorted(cursor.finished),
                "p": {bank: [p.score, p.price_minor, p.created_at_unix_ms, p.merchant_id, p.sku]
                      for bank, p in sorted(cursor.positions.items())}}
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode("utf-8")).decode("ascii")


def _refused(why: str) -> InvalidRequest:
    return InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, f"cursor {why}")


def _position(entry: object) -> Position:
    if not (isinstance(entry, list) and len(entry) == 5 and all(type(n) is int for n in entry[:3])
            and all(isinstance(text, str) for text in entry[3:])):
        raise _refused("names a position that is not one")
    return Position(*entry)


def decode(text: str, *, digest: str) -> Cursor:
    """The cursor issued for this search; INVALID_FIELD for anything else."""
    if not text:
        return Cursor(positions={}, finished=frozenset())
    if len(text) > limits.search_cursor_bytes_max:
        raise _refused(f"is longer than {limits.search_cursor_bytes_max} characters")
    try:
        document = json.loads(base64.urlsafe_b64decode(text.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        raise _refused("is not one this node issued") from None
    if not isinstance(document, dict) or document.get("v") != _VERSION:
        raise _refused("is not one this node issued")
    if document.get("d") != digest:
        raise _refused("belongs to another search (query, filters or sort)")
    positions, finished = document.get("p"), document.get("f")
    if not isinstance(positions, dict) or not isinstance(finished, list) or not all(
            isinstance(bank, str) for bank in finished):
        raise _refused("is malformed")
    if len(positions) + len(finished) > limits.search_cursor_banks_max:
        raise _refused(f"names more than {limits.search_cursor_banks_max} banks")
    return Cursor(positions={bank: _position(entry) for bank, entry in positions.items()},
                  finished=frozenset(finished))
