"""`fedmall-node orders`: the bank's, a buyer's or a merchant's orders, filtered and paged.

    orders [--buyer A | --merchant M] [--state S ...] [--from DATE] [--to DATE]
           [--limit N] [--cursor C] [--json | --csv FILE | --csv -]

--from and --to are dates (YYYY-MM-DD, whole UTC days, --to included) or ISO 8601 times (a time
without a zone is UTC; --to then excluded). One page at a time, newest first: the next page is
--cursor with the cursor printed under the table (or next_cursor in the JSON), with the same
filters. --csv writes the page as CSV_COLUMNS rows (amounts in minor units, times ISO 8601 UTC).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from typing import Callable

from fedmall.v1 import marketplace_pb2

from node import limits
from node.command_output import BadInput, print_json

CSV_COLUMNS = ("order_id", "placed_at", "state", "buyer_bank_id", "buyer_account_id", "seller_bank_id", "merchant_id",
               "total_minor", "currency", "refunded_minor", "instalments", "tracking_reference")
STATES = tuple(name.removeprefix("ORDER_STATE_") for name in marketplace_pb2.OrderState.keys()
               if name != "ORDER_STATE_UNSPECIFIED")


def add_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--state", action="append", default=[], choices=STATES, help="repeat for several states")
    sub.add_argument("--from", dest="placed_from", default=None, metavar="DATE",
                     help="placed on or after (YYYY-MM-DD or an ISO 8601 time; UTC)")
    sub.add_argument("--to", dest="placed_to", default=None, metavar="DATE",
                     help="placed on or before this day (or before this ISO 8601 time)")
    sub.add_argument("--limit", type=int, default=limits.orders_page_size_default,
                     help=f"orders on this page, 1..{limits.orders_page_size_max}")
    sub.add_argument("--cursor", default="", help="the next page: the cursor the previous page printed")
    sub.add_argument("--csv", default=None, metavar="FILE", help="write the page as CSV; '-' for stdout")


def _unix_ms(text: str, what: str, *, end_of_day: bool) -> int:
    """A date (the day's start, or the next day's with end_of_day) or an ISO 8601 time, in UTC ms."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text) + dt.timedelta(days=1 if end_of_day else 0)
            moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
        else:
            moment = dt.datetime.fromisoformat(text)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise BadInput(f"{what} must be a date (YYYY-MM-DD) or an ISO 8601 time, not {text!r}") from None
    unix_ms = int(moment.timestamp() * 1000)
    if unix_ms <= 0:
        raise BadInput(f"{what} must be after 1970")
    return unix_ms


def request_of(args, *, buyer: str, merchant: str) -> marketplace_pb2.ListOrdersRequest:
    """The ListOrdersRequest the arguments ask for; BadInput before anything is sent."""
    if not 1 <= args.limit <= limits.orders_page_size_max:
        raise BadInput(f"--limit must be 1..{limits.orders_page_size_max}, not {args.limit}")
    placed_from = _unix_ms(args.placed_from, "--from", end_of_day=False) if args.placed_from else 0
    placed_before = _unix_ms(args.placed_to, "--to", end_of_day=True) if args.placed_to else 0
    if placed_from and placed_before and placed_before <= placed_from:
        raise BadInput("--to must be after --from")
    if len(args.cursor) > limits.order_cursor_length_max:
        raise BadInput("--cursor is not a cursor this command printed")
    return marketplace_pb2.ListOrdersRequest(
        buyer_account_id=buyer, merchant_id=merchant,
        states=[marketplace_pb2.OrderState.Value(f"ORDER_STATE_{state}") for state in args.state],
        placed_from_unix_ms=placed_from, placed_before_unix_ms=placed_before, page_size=args.limit,
        cursor=args.cursor)


def _iso(unix_ms: int) -> str:
    return dt.datetime.fromtimestamp(unix_ms / 1000, dt.timezone.utc).isoformat(timespec="milliseconds") if unix_ms \
        else ""


def write_csv(file, orders: list[marketplace_pb2.Order], state_name: Callable[[int], str]) -> None:
    writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(dict(
        order_id=order.order_id, placed_at=_iso(order.placed_at_unix_ms), state=state_name(order.state),
        buyer_bank_id=order.buyer_bank_id, buyer_account_id=order.buyer_account_id,
        seller_bank_id=order.seller_bank_id, merchant_id=order.merchant_id, total_minor=order.total.amount_minor,
        currency=order.total.currency, refunded_minor=order.refunded.amount_minor, instalments=order.instalments,
        tracking_reference=order.tracking_reference) for order in orders)


def show(args, response: marketplace_pb2.ListOrdersResponse, *, document: dict, order_json: Callable,
         orders_table: Callable, state_name: Callable[[int], str]) -> None:
    """The page as JSON, CSV or a table, and how to ask for the next one."""
    orders = list(response.orders)
    if args.json:
        print_json(dict(document, orders=[order_json(order) for order in orders], next_cursor=response.next_cursor))
        return
    if args.csv == "-":
        write_csv(sys.stdout, orders, state_name)
        return
    if args.csv is not None:
        try:
            with open(args.csv, "w", newline="", encoding="utf-8") as file:
                write_csv(file, orders, state_name)
        except OSError as error:
            raise BadInput(f"cannot write {args.csv}: {error.strerror}") from None
    print(orders_table(orders) if orders else "no orders")
    if args.csv is not None:
        print(f"wrote {len(orders)} orders to {args.csv}")
    if response.next_cursor:
        print(f"more: --cursor {response.next_cursor}")


__all__ = ["add_arguments", "request_of", "show", "write_csv", "CSV_COLUMNS"]
