"""The bank's own commands on fedmall-node, for its tellers, customers and operations staff:

    open-account A --name N --currency C | deposit A AMOUNT [--deposit-id ID] | account A
    send --from A --to-bank B --to-account A AMOUNT [--reference R] [--transfer-id ID] [--wait S]
    transfer ID
    reconciliations | reconciliation WINDOW       this bank's statements and its answers to them
    reconcile-again WINDOW                        answer again from the books as they are now,
                                                  withdrawing the answer sent before
    rotate-key | revoke-key KEY                   the bank's signing keys at the clearing

The account and transfer commands call the node's own NodeService (node.client); the
reconciliation commands read the node's database directly; the key commands talk to the
clearing. Bad input raises BadInput before anything is sent (exit 2); a result other than
OK or EXISTS raises Refused (exit 1).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Callable

import grpc

from fedmall.console import table
from fedmall.database import make_engine, read_connection
from fedmall.money import MoneyError, check_currency, format_amount
from fedmall.pki import CLEARING, TlsCredentials
from fedmall.results import FedmallError
from fedmall.tls import is_wrong_server, secure_channel, wrong_server_text
from fedmall.v1 import clearing_pb2_grpc, money_pb2, node_pb2, result_pb2, settlement_pb2

from node.bank import keys, settlement
from node.client import NodeClient
from node.command_output import BadInput, Refused, add_command, amount_minor, code_name, emit
from node.config import NodeConfig

OK_CODES = (result_pb2.RESULT_CODE_OK, result_pb2.RESULT_CODE_EXISTS)
FINAL_STATUSES = ("COMMITTED", "ABORTED")


def add_commands(commands: argparse._SubParsersAction) -> None:
    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return add_command(commands, name, help_text)

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
    sub.add_argument("--returns", default="", metavar="TRANSFER_ID",
                     help="return money the other bank paid here by this transfer (a pacs.004 at the clearing)")
    sub.add_argument("--wait", type=float, default=0.0, metavar="S", help="wait up to S seconds for the outcome")
    sub = command("account", "show an account")
    sub.add_argument("account")
    sub = command("transfer", "show a transfer")
    sub.add_argument("transfer_id")
    command("reconciliations", "this bank's statements per settlement window and its answers to them")
    sub = command("reconciliation", "the breaks this bank found in one window's statement")
    sub.add_argument("window", type=int)
    sub = command("reconcile-again", "answer a window's statement again from the books as they are now, "
                                     "withdrawing the answer sent before (after restoring or correcting the books)")
    sub.add_argument("window", type=int)
    command("rotate-key", "register a new signing key at the clearing and make it current (restart to use it)")
    sub = command("revoke-key", "revoke an older signing key at the clearing, signed with the current key")
    sub.add_argument("key_id")


def _check_result(response) -> None:
    if response.result not in OK_CODES:
        field = getattr(response, "field", "")  # INVALID_FIELD names the request field at fault.
        raise Refused(response.result, f"the field at fault is {field}" if field else "")


def _account(client: NodeClient, account_id: str):
    response = client.call("GetAccount", node_pb2.GetAccountRequest(account_id=account_id))
    _check_result(response)
    return response


def _money(money: money_pb2.Money) -> str:
    return f"{format_amount(money.amount_minor, money.currency)} {money.currency}"


def _show_account(args, response) -> None:
    emit(args, dict(account_id=response.account_id, holder_name=response.holder_name,
                    balance_minor=response.balance.amount_minor, currency=response.balance.currency,
                    balance=format_amount(response.balance.amount_minor, response.balance.currency),
                    closed=response.closed),
         [("account", response.account_id), ("holder", response.holder_name),
          ("balance", _money(response.balance)), ("closed", "yes" if response.closed else "no")])


def _show_transfer(args, response) -> None:
    abort_reason = code_name(response.abort_reason) if response.abort_reason else ""
    payee_reason_code = code_name(response.payee_reason_code) if response.payee_reason_code else ""
    emit(args, dict(transfer_id=response.transfer_id, direction=response.direction, status=response.status,
                    amount_minor=response.amount.amount_minor, currency=response.amount.currency,
                    amount=format_amount(response.amount.amount_minor, response.amount.currency),
                    counterparty_bank_id=response.counterparty_bank_id, abort_reason=abort_reason,
                    payee_reason_code=payee_reason_code, payee_reason=response.payee_reason,
                    uetr=response.uetr, original_transfer_id=response.original_transfer_id),
         [("transfer", response.transfer_id), ("uetr", response.uetr), ("direction", response.direction),
          ("status", response.status), ("amount", _money(response.amount)),
          ("counterparty", response.counterparty_bank_id)]
         + ([("returns transfer", response.original_transfer_id)] if response.original_transfer_id else [])
         + ([("abort reason", abort_reason)] if abort_reason else [])
         # The payee's words passed fedmall.text at the clearing and at this node: printable, bounded.
         + ([("payee's reason", f"{payee_reason_code}: {response.payee_reason}")] if payee_reason_code else []))


def _open_account(args, config: NodeConfig) -> None:
    try:
        check_currency(args.currency)
    except MoneyError as error:
        raise BadInput(str(error)) from None
    response = NodeClient(config).call("OpenAccount", node_pb2.OpenAccountRequest(
        account_id=args.account, holder_name=args.name, currency=args.currency))
    _check_result(response)
    emit(args, dict(account_id=args.account, result=code_name(response.result)),
         [("account", args.account), ("result", code_name(response.result))])


def _deposit(args, config: NodeConfig) -> None:
    client = NodeClient(config)
    currency = _account(client, args.account).balance.currency
    response = client.call("Deposit", node_pb2.DepositRequest(
        deposit_id=args.deposit_id or str(uuid.uuid4()), account_id=args.account,
        amount=money_pb2.Money(amount_minor=amount_minor(args.amount, currency), currency=currency)))
    _check_result(response)
    emit(args, dict(account_id=args.account, result=code_name(response.result),
                    balance_minor=response.balance.amount_minor, currency=response.balance.currency,
                    balance=format_amount(response.balance.amount_minor, response.balance.currency)),
         [("account", args.account), ("result", code_name(response.result)), ("balance", _money(response.balance))])


def _send(args, config: NodeConfig) -> None:
    client = NodeClient(config)
    currency = _account(client, args.from_account).balance.currency
    amount = money_pb2.Money(amount_minor=amount_minor(args.amount, currency), currency=currency)
    transfer_id = args.transfer_id or str(uuid.uuid4())
    response = client.call("SendTransfer", node_pb2.SendTransferRequest(
        transfer_id=transfer_id, from_account_id=args.from_account, payee_bank_id=args.to_bank,
        payee_account_id=args.to_account, amount=amount, reference=args.reference, original_transfer_id=args.returns))
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
    client = NodeClient(config)
    if args.command == "account":
        _show_account(args, _account(client, args.account))
        return
    response = client.call("GetTransferRecord", node_pb2.GetTransferRecordRequest(transfer_id=args.transfer_id))
    _check_result(response)
    _show_transfer(args, response)


def read_database(config: NodeConfig, read):
    """read(connection) on one read-only snapshot of the node's database."""
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
    views = read_database(config, settlement.read_windows)
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

    views, answer = read_database(config, read)
    if not views:
        raise Refused(result_pb2.RESULT_CODE_WINDOW_NOT_FOUND)
    [view] = views
    breaks = list(answer.breaks) if answer is not None else []
    rows = [dict(kind=settlement_pb2.BreakKind.Name(item.kind).removeprefix("BREAK_KIND_"),
                 transfer_id=item.transfer_id,
                 clearing_entry=_entry_json(item.clearing_entry, item.HasField("clearing_entry")),
                 node_entry=_entry_json(item.node_entry, item.HasField("node_entry"))) for item in breaks]
    if args.json:
        print(json.dumps(dict(_window_json(view), breaks=rows), sort_keys=True))
        return
    emit(args, {}, [("window", str(view.window_id)), ("pages", f"{view.pages_held}/{view.pages_expected}"),
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


def _reconcile_again(args, config: NodeConfig) -> None:
    signing_key = config.signing_key()
    engine = make_engine(config.database_url)
    try:
        settlement_service = settlement.SettlementService(engine, bank_id=config.bank_id, signing_key=signing_key,
                                                          clock=time.time)
        break_count = settlement_service.reconcile_again(args.window)
    except FedmallError as error:
        raise Refused(error.code, str(error)) from None
    finally:
        engine.dispose()
    answer = "disputed" if break_count else "acknowledged"
    emit(args, dict(window_id=args.window, answer=answer, break_count=break_count, withdraws_previous=True),
         [("window", str(args.window)), ("answer", answer), ("breaks", str(break_count)),
          ("sent", "by the running node, withdrawing the answer it sent before")])


def _clearing_stub(config: NodeConfig) -> clearing_pb2_grpc.ClearingServiceStub:
    return clearing_pb2_grpc.ClearingServiceStub(
        secure_channel(config.clearing_address, TlsCredentials.load(config.home), server=CLEARING))


def _clearing_failure(config: NodeConfig, error: grpc.RpcError) -> str:
    if is_wrong_server(error):
        return wrong_server_text(config.clearing_address, CLEARING)
    return f"clearing did not answer: {error.code().name}"


def _rotate_key(args, config: NodeConfig) -> None:
    try:
        new_key_id = keys.rotate_signing_key(config, _clearing_stub(config))
    except FedmallError as error:
        raise Refused(error.code) from None
    except grpc.RpcError as error:
        raise ConnectionError(_clearing_failure(config, error)) from None
    emit(args, dict(previous_key_id=config.signing_key_id, signing_key_id=new_key_id),
         [("previous key", f"{config.signing_key_id} (still valid until revoked)"),
          ("current key", f"{new_key_id} (used after the node restarts)")])


def _revoke_key(args, config: NodeConfig) -> None:
    try:
        result = keys.revoke_signing_key(config, _clearing_stub(config), args.key_id)
    except FedmallError as error:
        raise Refused(error.code) from None
    except grpc.RpcError as error:
        raise ConnectionError(_clearing_failure(config, error)) from None
    emit(args, dict(key_id=args.key_id, result=code_name(result)),
         [("revoked", args.key_id), ("result", code_name(result))])


COMMANDS: dict[str, Callable[[argparse.Namespace, NodeConfig], None]] = {
    "open-account": _open_account, "deposit": _deposit, "send": _send, "account": _show, "transfer": _show,
    "reconciliations": _reconciliations, "reconciliation": _reconciliation, "reconcile-again": _reconcile_again,
    "rotate-key": _rotate_key, "revoke-key": _revoke_key,
}
