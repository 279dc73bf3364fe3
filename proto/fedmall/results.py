"""Result-code helpers: short names for the stable numbered ``ResultCode`` enum."""
from __future__ import annotations

from fedmall.v1 import result_pb2

ResultCode = result_pb2.ResultCode
_PREFIX = "RESULT_CODE_"


def name_of(code: int) -> str:
    """RESULT_CODE_NET_DEBIT_CAP_EXCEEDED -> 'NET_DEBIT_CAP_EXCEEDED'."""
    return ResultCode.Name(code).removeprefix(_PREFIX)


def code_of(name: str) -> int:
    return ResultCode.Value(_PREFIX + name)


class FedmallError(Exception):
    """An error with a stable result code; the servicer turns it into a response.

    field: for INVALID_FIELD, the path of the field at fault in the request or its signed
    payload ("prepares[2].reference"), which the response carries (docs/protocol.md)."""

    def __init__(self, code: int, message: str = "", *, field: str = "") -> None:
        super().__init__(message or name_of(code))
        self.code = code
        self.field = field
