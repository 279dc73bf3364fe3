"""The node's exceptions: every refusal carries a stable result code.

    FedmallError (fedmall.results)   code: a ResultCode; the servicer answers with it
     ├── InvalidRequest              the caller's input is malformed (ids, amounts, fields)
     ├── Refused                     a rule says no (funds, account state, idempotency)
     └── Unavailable                 another party (the clearing, a peer node) did not answer

Only the servicers turn these into responses (node.answers.answers_errors); services
raise them and never catch what they did not raise. Assertions, not these, guard against our own bugs.
"""
from __future__ import annotations

from fedmall.results import FedmallError
from fedmall.v1 import result_pb2


class InvalidRequest(FedmallError):
    pass


class Refused(FedmallError):
    pass


class Unavailable(FedmallError):
    def __init__(self, message: str = "") -> None:
        super().__init__(result_pb2.RESULT_CODE_UNAVAILABLE, message)


__all__ = ["FedmallError", "InvalidRequest", "Refused", "Unavailable"]
