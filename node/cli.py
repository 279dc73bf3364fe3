"""fedmall-node: run a bank node and operate it.

Every command but serve, ledger-check, reconciliations and reconciliation calls the
node's own NodeService (the marketplace commands, in node.market.cli, its
MarketplaceService; the `credit` commands, in node.credit.cli, its CreditService) over
mTLS with the bundle's credentials; those read the node's database directly. Bad input:
a message on stderr, exit 2. A refusal: its result code name (and the node's detail,
when the command has one) on stderr, exit 1.

    serve | open-account | deposit | send | account | transfer | ledger-check
    reconciliations | reconciliation | rotate-key | revoke-key
    merchant | product | search | checkout | ship | confirm | cancel | refund | order | orders
    credit offer | apply | loans | loan | payoff | book
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from pathlib import Path

import grpc
import sqlalchemy as sa

from fedmall.console import table
from fedmall.database import make_engine, read_connection
from fedmall.money import MoneyError, check_currency, format_amount, parse_amount
from fedmall.pki import TlsCredentials
from fedmall.results import FedmallError
from fedmall.stop_signals import StopSignals
from fedmall.tls import secure_channel
from fedmall.v1 import (clearing_pb2_grpc, credit_pb2_grpc, marketplace_pb2_grpc, money_pb2, node_pb2, node_pb2_grpc,
                        result_pb2, settlement_pb2)

from node import command_output
from node.bank import keys, ledger, settlement, store
from node.command_output import code_name
from node.config import ConfigError, NodeConfig, load_config
from node.credit import cli as credit_cli
from node.credit.loan_views import loan_book_problems
from node.market import cli as marketplace_cli

OK_CODES = (result_pb2.RESULT_CODE_OK, result_pb2.RESULT_CODE_EXISTS)
FINAL_STATUSES = ("COMMITTED", "ABORTED")
CALL_TIMEOUT_S = 30.0


class UsageError(Exception):
    """Bad input on the command line: exit 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedmall-node", description="A Fedmall member bank's node.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--home", type=Path, required=True, help="the node's credentials bundle folder")
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        return sub

    command("serve", "run the node until SIGTERM or SIGINT")
    sub = command("open-account", "open a customer account")
    sub.add_argument("account")
    sub.add_argument("--name", required=True)
    sub.add_argument("--currency", required=True)
    sub = command("deposit", "teller deposit into an account")
    sub.add_argument("account")
    sub.add_argument("amount", help="decimal, like 100.00")
    sub.add_argument("--deposit-id", default=None)
    sub = command("send", "send money to an account at another bank")
    sub.add_argument("--from", dest="from_account", required=True)
    sub.add_argument("--to-bank", required=True)
    sub.add_argument("--to-account", required=True)
    sub.add_argument("amount", help="decimal, like 12.50, in the sending account's currency")
    sub.add_argument("--reference", default="")
    sub.add_argument("--transfer-id", default=None)
    sub.add_argument("--wait", type=float, default=0.0, metavar="S", help="wait up to S seconds for the outcome")
    sub = command("account", "show an account")
    sub.add_argument("account")
    sub = command("transfer", "show a transfer")
    sub.add_argument("transfer_id")
    command("ledger-check", "check the books in the database directly")
    command("reconciliations", "this bank's statements per settlement window and its answers to them")
    sub = command("reconciliation", "the breaks this bank found in one window's statement")
    sub.add_argument("window", type=int)
    command("rotate-key", "register a new signing key at the clearing and make it current (restart to use it)")
    sub = command("revoke-key", "revoke an older signing key at the clearing, signed with the current key")
    sub.add_argument("key_id")
    marketplace_cli.add_commands(commands)
    credit_cli.add_commands(commands)
    return parser


def _emit(args, data: dict, lines: list[tuple[str, str]]) -> None:
    if args.json:
        print(json.dumps(data, sort_keys=True))
        return
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"{label.ljust(width)}  {value}")


class _Client:
    def __init__(self, config: NodeConfig) -> None:
        self._channel = secure_channel(config.listen_address, TlsCredentials.load(config.home))
        self.stub = node_pb2_grpc.NodeServiceStub(self._channel)
        self.marketplace = marketplace_pb2_grpc.MarketplaceServiceStub(self._channel)
        self.credit = credit_pb2_grpc.CreditServiceStub(self._channel)

    def call(self, method: str, request, *, stub=None):
        try:
            return getattr(stub or self.stub, method)(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as error:
            raise ConnectionError(f"node did not answer: {error.code().name} {error.details()}") from None


def _check_result(response) -> None:
    if response.result not in OK_CODES:
        raise _Refusal(response.result)


class _Refusal(Exception):
    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code_name(code))
        self.code = code
        self.detail = detail


def _account(client: _Client, account_id: str):
    response = client.call("GetAccount", node_pb2.GetAccountRequest(account_id=account_id))
    _check_result(response)
    return response


def _money(money: money_pb2.Money) -> str:
    return f"{format_amount(money.amount_minor, money.currency)} {money.currency}"


def _show_account(args, response) -> None:
    _emit(args, dict(account_id=response.account_id, holder_name=response.holder_name,
                     balance_minor=response.balance.amount_minor, currency=response.balance.currency,
                     balance=format_amount(response.balance.amount_minor, response.balance.currency),
                     closed=response.closed),
          [("account", response.account_id), ("holder", response.holder_name),
           ("balance", _money(response.balance)), ("closed", "yes" if response.closed else "no")])


def _show_transfer(args, response) -> None:
    abort_reason = code_name(response.abort_reason) if response.abort_reason else ""
    _emit(args, dict(transfer_id=response.transfer_id, direction=response.direction, status=response.status,
                     amount_minor=response.amount.amount_minor, currency=response.amount.currency,
                     amount=format_amount(response.amount.amount_minor, response.amount.currency),
                     counterparty_bank_id=response.counterparty_bank_id, abort_reason=abort_reason),
          [("transfer", response.transfer_id), ("direction", response.direction), ("status", response.status),
           ("amount", _money(response.amount)), ("counterparty", response.counterparty_bank_id)]
          + ([("abort reason", abort_reason)] if abort_reason else []))


def _open_account(args, config: NodeConfig) -> None:
    try:
        check_currency(args.currency)
    except MoneyError as error:
        raise UsageError(str(error)) from None
    response = _Client(config).call("OpenAccount", node_pb2.OpenAccountRequest(
        account_id=args.account, holder_name=args.name, currency=args.currency))
    _check_result(response)
    _emit(args, dict(account_id=args.account, result=code_name(response.result)),
          [("account", args.account), ("result", code_name(response.result))])


def _deposit(args, config: NodeConfig) -> None:
    client = _Client(config)
    currency = _account(client, args.account).balance.currency
    amount_minor = _parse(args.amount, currency)
    response = client.call("Deposit", node_pb2.DepositRequest(
        deposit_id=args.deposit_id or str(uuid.uuid4()), account_id=args.account,
        amount=money_pb2.Money(amount_minor=amount_minor, currency=currency)))
    _check_result(response)
    _emit(args, dict(account_id=args.account, result=code_name(response.result),
                     balance_minor=response.balance.amount_minor, currency=response.balance.currency,
                     balance=format_amount(response.balance.amount_minor, response.balance.currency)),
          [("account", args.account), ("result", code_name(response.result)), ("balance", _money(response.balance))])


def _parse(text: str, currency: str) -> int:
    try:
        return parse_amount(text, currency)
    except MoneyError as error:
        raise UsageError(str(error)) from None


def _send(args, config: NodeConfig) -> None:
    client = _Client(config)
    currency = _account(client, args.from_account).balance.currency
    amount_minor = _parse(args.amount, currency)
    transfer_id = args.transfer_id or str(uuid.uuid4())
    response = client.call("SendTransfer", node_pb2.SendTransferRequest(
        transfer_id=transfer_id, from_account_id=args.from_account, payee_bank_id=args.to_bank,
        payee_account_id=args.to_account, amount=money_pb2.Money(amount_minor=amount_minor, currency=currency),
        reference=args.reference))
    _check_result(response)
    record = client.call("GetTransferRecord", node_pb2.GetTransferRecordRequest(transfer_id=transfer_id))
    deadline = time.monotonic() + args.wait
    while record.status not in FINAL_STATUSES and time.monotonic() < deadline:
        time.sleep(0.1)
        record = client.call("GetTransferRecord", node_pb2.GetTransferRecordRequest(transfer_id=transfer_id))
    _show_transfer(args, record)
    if args.wait and record.status not in FINAL_STATUSES:
        print(f"still {record.status} after {args.wait:g} s", file=sys.stderr)
        raise SystemExit(1)
    if record.status == "ABORTED":
        raise SystemExit(1)


def _show(args, config: NodeConfig) -> None:
    client = _Client(config)
    if args.command == "account":
        _show_account(args, _account(client, args.account))
        return
    response = client.call("GetTransferRecord", node_pb2.GetTransferRecordRequest(transfer_id=args.transfer_id))
    _check_result(response)
    _show_transfer(args, response)


def _ledger_check(args, config: NodeConfig) -> None:
    engine = make_engine(config.database_url)
    try:
        with read_connection(engine) as connection:
            summary = store.read_books(connection)
            entries = connection.scalar(sa.select(sa.func.count()).select_from(store.journal_entries))
            loan_problems = loan_book_problems(connection)
    finally:
        engine.dispose()
    problems = ledger.books_problems(summary) + loan_problems
    internal = {a: b for a, b in sorted(summary.stored_balances.items()) if a.startswith("@")}
    customers_minor = sum(b for a, b in summary.stored_balances.items() if not a.startswith("@"))
    _emit(args, dict(ok=not problems, problems=problems, entries=entries, internal_balances_minor=internal,
                     customer_balances_minor=customers_minor),
          [("entries", str(entries)), ("result", "ok" if not problems else f"{len(problems)} problems")]
          + [("problem", problem) for problem in problems])
    if problems:
        raise SystemExit(1)


def _read_database(config: NodeConfig, read):
    engine = make_engine(config.database_url)
    try:
        with read_connection(engine) as connection:
            return read(connection)
    finally:
        engine.dispose()


def _net(amount_minor: int | None, currency: str) -> str:
    if amount_minor is None or not currency:
        return ""
    return f"{format_amount(amount_minor, currency)} {currency}"


def _sent(view: settlement.WindowView) -> str:
    if not view.sent:
        return "no"
    if view.answer_result in OK_CODES:
        return "yes"
    return f"yes, {code_name(view.answer_result)}"


def _window_json(view: settlement.WindowView) -> dict:
    return dict(window_id=view.window_id, pages_held=view.pages_held, pages_expected=view.pages_expected,
                currency=view.currency, statement_net_minor=view.statement_net_minor,
                node_net_minor=view.node_net_minor, break_count=view.break_count, answer=view.answer,
                sent=view.sent, answer_result=code_name(view.answer_result) if view.sent else "")


def _reconciliations(args, config: NodeConfig) -> None:
    views = _read_database(config, settlement.read_windows)
    if args.json:
        print(json.dumps(dict(windows=[_window_json(view) for view in views]), sort_keys=True))
        return
    if not views:
        print("no statements received yet")
        return
    print(table([{
        "window": view.window_id, "pages": f"{view.pages_held}/{view.pages_expected}",
        "statement net": _net(view.statement_net_minor, view.currency),
        "node net": _net(view.node_net_minor, view.currency),
        "breaks": "" if view.break_count is None else view.break_count,
        "answer": view.answer, "sent": _sent(view)} for view in views],
        ["window", "pages", "statement net", "node net", "breaks", "answer", "sent"]))


def _entry_text(entry: settlement_pb2.StatementEntry, present: bool) -> str:
    if not present:
        return "-"
    direction = settlement_pb2.EntryDirection.Name(entry.direction).removeprefix("ENTRY_DIRECTION_")
    return f"{direction} {entry.counterparty_bank_id} {_net(entry.amount.amount_minor, entry.amount.currency)}"


def _entry_json(entry: settlement_pb2.StatementEntry, present: bool) -> dict | None:
    if not present:
        return None
    return dict(direction=settlement_pb2.EntryDirection.Name(entry.direction).removeprefix("ENTRY_DIRECTION_"),
                counterparty_bank_id=entry.counterparty_bank_id, amount_minor=entry.amount.amount_minor,
                currency=entry.amount.currency, reference=entry.reference)


def _reconciliation(args, config: NodeConfig) -> None:
    def read(connection):
        views = [view for view in settlement.read_windows(connection) if view.window_id == args.window]
        return views, settlement.read_reconciliation(connection, args.window)

    views, answer = _read_database(config, read)
    if not views:
        raise _Refusal(result_pb2.RESULT_CODE_WINDOW_NOT_FOUND)
    [view] = views
    breaks = list(answer.breaks) if answer is not None else []
    rows = [dict(kind=settlement_pb2.BreakKind.Name(item.kind).removeprefix("BREAK_KIND_"),
                 transfer_id=item.transfer_id,
                 clearing_entry=_entry_json(item.clearing_entry, item.HasField("clearing_entry")),
                 node_entry=_entry_json(item.node_entry, item.HasField("node_entry"))) for item in breaks]
    if args.json:
        print(json.dumps(dict(_window_json(view), breaks=rows), sort_keys=True))
        return
    _emit(args, {}, [("window", str(view.window_id)), ("pages", f"{view.pages_held}/{view.pages_expected}"),
                     ("statement net", _net(view.statement_net_minor, view.currency)),
                     ("node net", _net(view.node_net_minor, view.currency)), ("answer", view.answer),
                     ("breaks", "" if view.break_count is None else str(view.break_count)),
                     ("sent", _sent(view))])
    if view.break_count and len(breaks) < view.break_count:
        print(f"(the answer lists the first {len(breaks)} breaks)")
    if breaks:
        print()
        print(table([{"kind": row["kind"], "transfer": item.transfer_id,
                      "clearing says": _entry_text(item.clearing_entry, item.HasField("clearing_entry")),
                      "books say": _entry_text(item.node_entry, item.HasField("node_entry"))}
                     for row, item in zip(rows, breaks)], ["kind", "transfer", "clearing says", "books say"]))


def _clearing_stub(config: NodeConfig) -> clearing_pb2_grpc.ClearingServiceStub:
    return clearing_pb2_grpc.ClearingServiceStub(secure_channel(config.clearing_address, TlsCredentials.load(config.home)))


def _rotate_key(args, config: NodeConfig) -> None:
    try:
        new_key_id = keys.rotate_signing_key(config, _clearing_stub(config))
    except FedmallError as error:
        raise _Refusal(error.code) from None
    except grpc.RpcError as error:
        raise ConnectionError(f"clearing did not answer: {error.code().name}") from None
    _emit(args, dict(previous_key_id=config.signing_key_id, signing_key_id=new_key_id),
          [("previous key", f"{config.signing_key_id} (still valid until revoked)"),
           ("current key", f"{new_key_id} (used after the node restarts)")])


def _revoke_key(args, config: NodeConfig) -> None:
    try:
        result = keys.revoke_signing_key(config, _clearing_stub(config), args.key_id)
    except FedmallError as error:
        raise _Refusal(error.code) from None
    except grpc.RpcError as error:
        raise ConnectionError(f"clearing did not answer: {error.code().name}") from None
    _emit(args, dict(key_id=args.key_id, result=code_name(result)),
          [("revoked", args.key_id), ("result", code_name(result))])


def _serve(args, config: NodeConfig) -> None:
    from node.server import build_node  # Only serve needs the whole node.

    stop_signals = StopSignals()
    node = build_node(config)
    port = node.start()
    host = config.listen_address.rsplit(":", 1)[0]
    print(f"node {config.bank_id} listening on {host}:{port}", flush=True)
    stop_signals.wait()
    node.stop()  # In-flight calls finish first (node.server).


def _command_group(group_commands: dict):
    """A command of node.market.cli or node.credit.cli, its failures made this module's."""
    def run(args, config: NodeConfig) -> None:
        try:
            group_commands[args.command](args, _Client(config))
        except command_output.BadInput as error:
            raise UsageError(str(error)) from None
        except command_output.Refused as refusal:
            raise _Refusal(refusal.code, refusal.detail) from None
    return run


COMMANDS = {
    "serve": _serve, "open-account": _open_account, "deposit": _deposit, "send": _send,
    "account": _show, "transfer": _show, "ledger-check": _ledger_check,
    "rotate-key": _rotate_key, "revoke-key": _revoke_key,
    "reconciliations": _reconciliations, "reconciliation": _reconciliation,
    **dict.fromkeys(marketplace_cli.COMMANDS, _command_group(marketplace_cli.COMMANDS)),
    **dict.fromkeys(credit_cli.COMMANDS, _command_group(credit_cli.COMMANDS)),
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.command == "serve" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = load_config(args.home)
        COMMANDS[args.command](args, config)
    except (UsageError, ConfigError) as error:
        print(f"fedmall-node: {error}", file=sys.stderr)
        return 2
    except _Refusal as refusal:
        name = code_name(refusal.code)
        print(f"{name}: {refusal.detail}" if refusal.detail else name, file=sys.stderr)
        if args.json:
            print(json.dumps(dict(result=name, detail=refusal.detail) if refusal.detail else dict(result=name)))
        return 1
    except ConnectionError as error:
        print(f"fedmall-node: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
