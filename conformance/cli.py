"""fedmall-conformance: run the conformance kit against a clearing or a member bank's node.

    fedmall-conformance clearing --address HOST:PORT --bundle DIR
    fedmall-conformance member --address HOST:PORT --bundle DIR --account ACCOUNT
    fedmall-conformance bundle --member BANK --currency EUR --clearing-address HOST:PORT \\
        --node-address HOST:PORT --out DIR

Each case is reported pass or fail with its reason (a table, or --json); the exit status is 1
when any case fails, 2 when the kit could not run (a bundle or an argument it cannot use).
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import grpc

from fedmall import money
from fedmall.console import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, emit, fail
from fedmall.tls import failure_text

from conformance import cases
from conformance.clearing_cases import ClearingRun
from conformance.credentials import BundleError, make_member_bundle, read_clearing_bundle, read_member_bundle
from conformance.member_cases import MemberRun

TIMEOUT_S_DEFAULT = 10.0
CONNECT_TIMEOUT_S_DEFAULT = 60.0


def _seconds(text: str) -> float:
    """A positive number of seconds, at most an hour."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} s: give more than 0 and at most 3600")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedmall-conformance", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    clearing = commands.add_parser("clearing", help="run the cases against a clearing")
    clearing.add_argument("--address", required=True, help="the clearing, HOST:PORT")
    member = commands.add_parser("member", help="run the cases against a member bank's node (the kit plays the "
                                                "clearing and a payer bank)")
    member.add_argument("--address", required=True, help="the member's node (its peer services), HOST:PORT")
    member.add_argument("--account", required=True, help="an open account at the member, in the bundle's currency, "
                                                          "that may be paid")
    member.add_argument("--listen", help="where the kit serves as the member's clearing (default: the bundle's "
                                         "clearing address)")
    member.add_argument("--connect-timeout-s", type=_seconds, default=CONNECT_TIMEOUT_S_DEFAULT,
                        help="how long to wait for the member's node to connect to the kit")
    for command in (clearing, member):
        command.add_argument("--bundle", required=True, type=Path, help="the credentials bundle folder")
        command.add_argument("--timeout-s", type=_seconds, default=TIMEOUT_S_DEFAULT,
                             help="how long a case waits for something to arrive")
        command.add_argument("--json", action="store_true")
    bundle = commands.add_parser("bundle", help="make a member's test bundle: a test CA, the clearing and payer "
                                                "the kit plays, the member's credentials")
    bundle.add_argument("--member", required=True, help="the member bank's id")
    bundle.add_argument("--currency", required=True)
    bundle.add_argument("--clearing-address", required=True, help="where the kit will serve as the clearing")
    bundle.add_argument("--node-address", required=True, help="where the member's test node serves its peers")
    bundle.add_argument("--out", required=True, type=Path, help="a new or empty folder")
    bundle.add_argument("--json", action="store_true")
    return parser


def _report(target: str, address: str, verdicts, *, as_json: bool) -> int:
    emit(cases.report_document(target, address, verdicts), as_json=as_json,
         human=cases.report_table(target, address, verdicts))
    return EXIT_OK if cases.all_passed(verdicts) else EXIT_REFUSED


def _clearing(args) -> int:
    bundle = read_clearing_bundle(args.bundle)
    try:
        run = ClearingRun(args.address, bundle, timeout_s=args.timeout_s)
    except grpc.RpcError as error:
        return fail(f"cannot reach the clearing at {args.address} as {bundle.banks[0].party_id}: "
                    f"{failure_text(error)}", code=EXIT_USAGE)
    try:
        verdicts = cases.run_cases(run.cases())
    finally:
        run.close()
    return _report("clearing", args.address, verdicts, as_json=args.json)


def _member(args) -> int:
    bundle = read_member_bundle(args.bundle)
    listen = args.listen or bundle.clearing_address
    run = MemberRun(args.address, bundle, account=args.account, listen=listen, timeout_s=args.timeout_s,
                    connect_timeout_s=args.connect_timeout_s)
    try:
        verdicts = run.run()
    finally:
        run.close()
    return _report("member", args.address, verdicts, as_json=args.json)


def _bundle(args) -> int:
    money.check_currency(args.currency)
    make_member_bundle(args.out, member_id=args.member, currency=args.currency,
                       clearing_address=args.clearing_address, node_address=args.node_address,
                       now=dt.datetime.now(dt.timezone.utc))
    emit({"bundle": str(args.out), "member": args.member, "member_folder": str(args.out / args.member)},
         as_json=args.json, human=f"test bundle written to {args.out}; give {args.out / args.member} to the "
                                  f"member's test node, its clearing is the kit at {args.clearing_address}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"clearing": _clearing, "member": _member, "bundle": _bundle}[args.command](args)
    except (BundleError, money.MoneyError, OSError) as error:
        return fail(str(error), code=EXIT_USAGE)


if __name__ == "__main__":
    sys.exit(main())
