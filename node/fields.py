"""Checks of fields that come from outside. They raise InvalidRequest, never assert; field is
the request field's name the response carries with INVALID_FIELD (docs/protocol.md)."""
from __future__ import annotations

import re

from fedmall import identifiers, limits, text
from fedmall.money import CURRENCY_EXPONENTS, is_valid_amount
from fedmall.v1 import result_pb2

from node.errors import InvalidRequest, Refused

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,%d}$" % (limits.id_length_max - 1))


def check_id(value: str, what: str, *, field: str = "") -> str:
    if not _ID.fullmatch(value):  # fullmatch: "$" alone would let one trailing newline through.
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                             f"{what} must be 1-{limits.id_length_max} letters, digits, '-', '_' or '.'", field=field)
    return value


def check_uuid(value: str, what: str, *, field: str = "") -> str:
    """Every UUID id of the contract, in its one spelling (fedmall.identifiers.is_uuid)."""
    if not identifiers.is_uuid(value):
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                             f"{what} must be a lowercase hyphenated UUID, not the nil or max UUID", field=field)
    return value


def check_account_id(value: str, *, field: str = "") -> str:
    if not identifiers.is_account_id(value):
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                             f"account id must be 1-{limits.account_id_length_max} letters, digits, '-', '_' or '.'",
                             field=field)
    return value


def check_text(value: str, what: str, *, length_max: int, field: str = "") -> str:
    """The contract's one rule for text (fedmall.text), the same the clearing applies."""
    problem = text.text_problem(value, length_max=length_max, what=what)
    if problem is not None:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, problem, field=field)
    return value


def check_currency(currency: str) -> str:
    if currency not in CURRENCY_EXPONENTS:
        raise Refused(result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED, f"unknown currency {currency!r}")
    return currency


def check_amount(amount_minor: int) -> int:
    if not is_valid_amount(amount_minor):
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_AMOUNT, "amount must be positive")
    return amount_minor
