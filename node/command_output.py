"""What the node's command groups share (node.bank.cli, node.market.cli, node.credit.cli):
declaring a command, their two failures, reading an amount, and showing codes, money,
times and JSON."""
from __future__ import annotations

import argparse
import datetime as dt
import json

from fedmall.money import MoneyError, check_currency, format_amount, parse_amount
from fedmall.results import name_of
from fedmall.v1 import money_pb2


def add_command(parent: argparse._SubParsersAction, name: str, help_text: str) -> argparse.ArgumentParser:
    """A command with machine-readable output (--json); node.cli gives every command --home."""
    sub = parent.add_parser(name, help=help_text)
    sub.add_argument("--json", action="store_true", help="machine-readable output")
    return sub


class BadInput(Exception):
    """Bad input on the command line: nothing was sent (exit 2)."""


class Refused(Exception):
    """The node answered with a result other than OK or EXISTS (exit 1)."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code_name(code))
        self.code = code
        self.detail = detail


def amount_minor(text: str, currency: str) -> int:
    try:
        return parse_amount(text, check_currency(currency))
    except MoneyError as error:
        raise BadInput(str(error)) from None


def code_name(code: int) -> str:
    """The result code's name; its number when this client does not know it."""
    try:
        return name_of(code)
    except ValueError:
        return str(code)


def decimal_text(money: money_pb2.Money) -> str:
    if not money.currency:
        return ""
    try:
        return format_amount(money.amount_minor, money.currency)
    except MoneyError:
        return f"{money.amount_minor} minor units"


def money_text(money: money_pb2.Money) -> str:
    return f"{decimal_text(money)} {money.currency}" if money.currency else ""


def money_column(amounts: list[money_pb2.Money]) -> list[str]:
    """'9.50 EUR' and '120.00 EUR' with their decimal points in one column."""
    width = max([len(decimal_text(money)) for money in amounts] + [0])
    return [f"{decimal_text(money).rjust(width)} {money.currency}" if money.currency else "" for money in amounts]


def money_json(prefix: str, money: money_pb2.Money) -> dict:
    return {f"{prefix}_minor": money.amount_minor, prefix: decimal_text(money), f"{prefix}_currency": money.currency}


def utc(unix_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix_ms / 1000, dt.timezone.utc)


def time_text(unix_ms: int) -> str:
    return utc(unix_ms).strftime("%Y-%m-%d %H:%M:%S UTC") if unix_ms else ""


def print_json(document: dict) -> None:
    print(json.dumps(document, sort_keys=True))


def print_lines(lines: list[tuple[str, str]]) -> None:
    """'label  value' lines, the values in one column; lines without a value are left out."""
    lines = [(label, value) for label, value in lines if value]
    width = max((len(label) for label, _ in lines), default=0)
    for label, value in lines:
        print(f"{label.ljust(width)}  {value}".rstrip())


def emit(args, document: dict, lines: list[tuple[str, str]]) -> None:
    """The document as JSON with --json, else 'label  value' lines (empty values kept)."""
    if args.json:
        print_json(document)
        return
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"{label.ljust(width)}  {value}")
