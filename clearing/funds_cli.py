"""The operator's funds commands on fedmall-clearing (clearing.funds):

    funds in BANK AMOUNT --id ID --reference REF --reason TEXT    record money paid in
    funds out BANK AMOUNT --id ID --reference REF --reason TEXT   reserve money to pay out
    funds commit ID --reason TEXT                                 the payout happened
    funds abort ID --reason TEXT                                  the payout did not happen
    funds list [--bank BANK]                                      the movements, newest first

The id makes a command safe to run again: the same id with the same terms changes
nothing and says so.
"""
from __future__ import annotations

import argparse

import sqlalchemy as sa

from fedmall import money
from fedmall.console import EXIT_OK, emit, table, utc_time
from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc

from clearing import operator
from clearing.funds import COMMITTED, FundsResult, FundsService

LIST_LIMIT_MAX = 1_000


def add_commands(commands: argparse._SubParsersAction) -> None:
    funds = commands.add_parser("funds", help="record funds in and out of a bank's prefunded liquidity")
    actions = funds.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("in", "record money the bank paid into its settlement account (committed at once)"),
                       ("out", "reserve money to pay out of the bank's settlement account (then commit or abort)")):
        command = actions.add_parser(name, help=text)
        command.add_argument("bank_id")
        command.add_argument("amount", help="decimal amount in the bank's currency, e.g. 250000.00")
        command.add_argument("--id", dest="movement_id", required=True,
                             help="your id for this movement: running the command again with it is safe")
        command.add_argument("--reference", required=True,
                             help="the real-money payment this records (e.g. the RTGS reference)")
        operator.add_arguments(command)
        command.add_argument("--json", action="store_true")
    for name, text in (("commit", "the reserved payout was made: the liquidity goes down"),
                       ("abort", "the reserved payout was not made: the reservation is released")):
        command = actions.add_parser(name, help=text)
        command.add_argument("movement_id")
        operator.add_arguments(command)
        command.add_argument("--json", action="store_true")
    listing = actions.add_parser("list", help="funds movements, newest first")
    listing.add_argument("--bank", default="", help="one bank's only")
    listing.add_argument("--limit", type=int, default=100, help=f"at most this many, 1..{LIST_LIMIT_MAX}")
    listing.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, funds: FundsService, bank_currency) -> int:
    """bank_currency(bank_id) -> its currency, or None for an unknown bank."""
    if args.action == "list":
        return _list(args, funds)
    action = operator.from_args(args)
    if args.action in ("in", "out"):
        amount_minor = parse_amount(bank_currency(args.bank_id), args.bank_id, args.amount)
        record = funds.record_funds_in if args.action == "in" else funds.reserve_funds_out
        done = record(movement_id=args.movement_id, bank_id=args.bank_id, amount_minor=amount_minor,
                      external_reference=args.reference, action=action)
    elif args.action == "commit":
        done = funds.commit_funds_out(args.movement_id, action=action)
    else:
        done = funds.abort_funds_out(args.movement_id, action=action)
    _report(args, done)
    return EXIT_OK


def parse_amount(currency: str | None, bank_id: str, amount_text: str) -> int:
    """A movement's amount typed in the bank's currency (None: no such bank), in minor units.
    UNKNOWN_PARTICIPANT, INVALID_AMOUNT for one out of range; money.MoneyError for bad text."""
    if currency is None:
        raise FedmallError(rc.RESULT_CODE_UNKNOWN_PARTICIPANT, f"no participant {bank_id!r}")
    try:
        return money.parse_amount(amount_text, currency)
    except money.AmountOutOfRange as error:
        raise FedmallError(rc.RESULT_CODE_INVALID_AMOUNT, str(error)) from None


def _report(args: argparse.Namespace, done: FundsResult) -> None:
    emit({**_document(done.movement), "unchanged": done.result == rc.RESULT_CODE_EXISTS}, as_json=args.json,
         human=outcome_text(done))


def outcome_text(done: FundsResult) -> str:
    """What a funds command did, for people (the command line and the web console say the same)."""
    row = done.movement
    amount = money.format_money(row.amount_minor, row.currency)
    what = {("in", COMMITTED): f"funds in of {amount} to {row.bank_id} recorded",
            ("out", "reserved"): f"funds out of {amount} from {row.bank_id} reserved; "
                                 f"commit it once paid (funds commit {row.movement_id}) or abort it",
            ("out", COMMITTED): f"funds out of {amount} from {row.bank_id} committed",
            ("out", "aborted"): f"funds out of {amount} from {row.bank_id} aborted"}[row.direction, row.state]
    if done.result == rc.RESULT_CODE_EXISTS:
        what = f"already done, nothing changed: {what}"
    if row.window_id is not None:
        what += f" (on the statement of window {row.window_id})"
    return f"{row.movement_id}: {what}"


def _document(row: sa.Row) -> dict:
    return {"movement_id": row.movement_id, "bank_id": row.bank_id, "direction": row.direction,
            "amount_minor": row.amount_minor, "currency": row.currency, "state": row.state,
            "external_reference": row.external_reference, "reason": row.reason, "operator": row.operator,
            "created_at_ms": row.created_at_ms, "decided_at_ms": row.decided_at_ms, "window_id": row.window_id}


def _list(args: argparse.Namespace, funds: FundsService) -> int:
    if not 1 <= args.limit <= LIST_LIMIT_MAX:
        raise ValueError(f"--limit must be 1..{LIST_LIMIT_MAX}")
    rows = funds.list(bank_id=args.bank, limit=args.limit)
    human = table([{"recorded": utc_time(r.created_at_ms), "movement": r.movement_id, "bank": r.bank_id,
                    "direction": r.direction, "amount": money.format_money(r.amount_minor, r.currency),
                    "state": r.state, "window": "" if r.window_id is None else str(r.window_id),
                    "reference": r.external_reference, "by": r.operator}
                   for r in rows], ["recorded", "movement", "bank", "direction", "amount", "state", "window",
                                    "reference", "by"]) if rows else "no funds movements"
    emit([_document(r) for r in rows], as_json=args.json, human=human)
    return EXIT_OK

