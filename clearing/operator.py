"""Who did an operator action and why.

Commands that work on the clearing's database directly (rather than through the admin
gRPC service and the operator's certificate) record the operator's name and a reason
in the audit entry of every change they make. Every operator action, done or refused,
from a command or the admin gRPC, is also one log line (log_action), with the operator,
the bank, the window or movement it touched and its result as fields.
"""
from __future__ import annotations

import argparse
import getpass
import logging
import os
from dataclasses import dataclass

from fedmall import logs
from fedmall.results import FedmallError
from fedmall.text import text_problem
from fedmall.v1 import result_pb2 as rc

NAME_LENGTH_MAX = 64
REASON_LENGTH_MAX = 500
OPERATOR_ENVIRONMENT = "FEDMALL_OPERATOR"

log = logging.getLogger("fedmall.clearing.operator")


@dataclass(frozen=True, slots=True)
class OperatorAction:
    operator: str
    reason: str

    def audit_fields(self) -> dict[str, str]:
        return {"operator": self.operator, "reason": self.reason}


def checked(operator: str, reason: str) -> OperatorAction:
    """INVALID_FIELD unless both are present, bounded and free of control characters."""
    for field, text, length_max in (("operator", operator, NAME_LENGTH_MAX), ("reason", reason, REASON_LENGTH_MAX)):
        if text_problem(text, length_max=length_max, required=True) is not None:
            raise FedmallError(rc.RESULT_CODE_INVALID_FIELD,
                               f"{field} must be 1..{length_max} printable characters, not {text!r}", field=field)
    return OperatorAction(operator=operator.strip(), reason=reason.strip())


def named_operator(operator: str) -> dict[str, str]:
    """The operator field of an audit body when a caller names who acted (the web console
    does; the command-line suspend, resume, close and settle name nobody)."""
    return {"operator": operator} if operator else {}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why: recorded in the audit log with the operator's name")
    parser.add_argument("--operator", default=os.environ.get(OPERATOR_ENVIRONMENT) or login_name(),
                        help=f"who is acting (default: ${OPERATOR_ENVIRONMENT}, else the login name)")


def from_args(args: argparse.Namespace) -> OperatorAction:
    return checked(args.operator, args.reason)


def log_action(action: str, *, operator: str, result: str, reason: str = "", detail: str = "", **ids) -> None:
    """One line for an operator action: `operator alice: participants set-cap: OK`; ids are its
    fields (bank, window_id, movement_id...), empty ones left out."""
    fields = {key: value for key, value in ids.items() if value not in (None, "")}
    log.info("operator %s: %s: %s%s", operator or "?", action, result, f" ({detail})" if detail else "",
             extra=logs.fields(operator=operator, action=action, result=result,
                               **({"reason": reason} if reason else {}), **fields))


def operator_name() -> str:
    """Who runs a command that takes no --operator: $FEDMALL_OPERATOR, else the login name."""
    return os.environ.get(OPERATOR_ENVIRONMENT) or login_name()


def login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
