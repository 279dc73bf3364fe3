"""The marketplace commands on fedmall-node, for each role at this bank:

    merchant onboard M --name N --contact C --settlement-account A | suspend M | resume M
    product set --merchant M SKU --title T [--description D] --price 12.50 --currency EUR --stock N [...]
    product list --merchant M [--after SKU]
    product status | product import, category list, search: node.market.catalogue_cli
    checkout --buyer A --item BANK/MERCHANT/SKU:QTY@PRICE ... | --cart FILE [--checkout-id UUID]
             [--instalments N]                   financed by this bank in N monthly instalments
    ship --merchant M ORDER --tracking REF
    decline --merchant M ORDER [--reason TEXT]
    confirm --buyer A ORDER | cancel --buyer A ORDER
    refund --merchant M ORDER AMOUNT [--reason TEXT] [--refund-id UUID]
    review --buyer A ORDER --rating 1..5 [--text T]   once per completed order, signed by this bank
    order ORDER (--buyer A | --merchant M)
    orders [--buyer A | --merchant M] [--state S ...] [--from DATE] [--to DATE] [--limit N] [--cursor C]
           [--csv FILE]                           filtered, newest first, a page at a time (node.market.orders_cli)

Each calls the node's own MarketplaceService through the client node.cli hands in (the
bundle's mTLS credentials). Amounts are typed and shown as decimals; the wire carries
minor units. Bad input raises BadInput before any marketplace request is sent (exit 2);
a result other than OK or EXISTS raises Refused (exit 1).
"""
from __future__ import annotations

import argparse
import decimal
import json
import uuid
from pathlib import Path
from typing import Callable, Protocol

from fedmall import identifiers
from fedmall.console import table
from fedmall.money import MoneyError, check_currency
from fedmall.v1 import marketplace_pb2, money_pb2, node_pb2, result_pb2

from node.market import catalogue_cli
from node.command_output import (
    BadInput, Refused, add_command, amount_minor, code_name, money_column, money_json, money_text, print_json,
    print_lines, time_text)

from node.limits import instalments_per_plan_max
from node.market import orders_cli

OK_CODES = (result_pb2.RESULT_CODE_OK, result_pb2.RESULT_CODE_EXISTS)

# Bounds on what this command reads from the user.
cart_file_bytes_max = 1024 * 1024
cart_items_max = 1_000
count_max = 2**63 - 1  # int64 on the wire: quantities and stock.


class Client(Protocol):
    """node.client.NodeClient: NodeService by default, MarketplaceService through stub=."""
    marketplace: object

    def call(self, method: str, request, *, stub=None): ...


def add_commands(commands: argparse._SubParsersAction) -> None:

    merchant = commands.add_parser("merchant", help="onboard, suspend or resume a merchant banking here")
    actions = merchant.add_subparsers(dest="action", required=True)
    sub = add_command(actions, "onboard", "onboard a merchant with a settlement account at this bank")
    sub.add_argument("merchant")
    sub.add_argument("--name", required=True, help="legal name")
    sub.add_argument("--contact", required=True)
    sub.add_argument("--settlement-account", required=True, help="an account at this bank")
    add_command(actions, "suspend", "stop a merchant selling").add_argument("merchant")
    add_command(actions, "resume", "let a suspended merchant sell again").add_argument("merchant")

    product = commands.add_parser("product", help="a merchant's products")
    actions = product.add_subparsers(dest="action", required=True)
    sub = add_command(actions, "set", "create or change a product")
    sub.add_argument("--merchant", required=True)
    sub.add_argument("sku")
    sub.add_argument("--title", required=True)
    sub.add_argument("--description", default="")
    sub.add_argument("--price", required=True, help="decimal, like 12.50")
    sub.add_argument("--currency", required=True)
    sub.add_argument("--stock", required=True, help="units on hand")
    catalogue_cli.add_set_options(sub)
    sub = add_command(actions, "list", "a merchant's products, a page at a time in SKU order")
    sub.add_argument("--merchant", required=True)
    sub.add_argument("--after", default="", help="the SKU the last page ended with")
    catalogue_cli.add_product_actions(actions)
    catalogue_cli.add_commands(commands)
    sub = add_command(commands, "checkout", "buy a cart: one order per merchant, the money held in escrow")
    sub.add_argument("--buyer", required=True, help="the buyer's account at this bank")
    sub.add_argument("--item", action="append", default=[], metavar="BANK/MERCHANT/SKU:QTY@PRICE",
                     help="unit price as the buyer saw it, decimal; repeat for more items")
    sub.add_argument("--cart", type=Path, help='JSON list of {"seller_bank_id", "merchant_id", "sku", '
                                               '"quantity", "unit_price"}')
    sub.add_argument("--checkout-id", default=None, help="UUID; a retry with the same id is safe")
    sub.add_argument("--instalments", default="0", metavar="N",
                     help="pay in N monthly instalments financed by this bank (its consumer credit policy "
                          "says which N it offers); the schedule: credit plan --buyer A ORDER")
    sub = add_command(commands, "ship", "the merchant ships an order")
    sub.add_argument("--merchant", required=True)
    sub.add_argument("order_id")
    sub.add_argument("--tracking", required=True, help="the carrier's tracking reference")
    sub = add_command(commands, "decline", "the merchant will not ship an order: stock freed, the buyer refunded")
    sub.add_argument("--merchant", required=True)
    sub.add_argument("order_id")
    sub.add_argument("--reason", default="", help="shown to the buyer")
    for name, text in (("confirm", "the buyer confirms receipt: the escrow is released"),
                       ("cancel", "the buyer cancels before shipping: the escrow is refunded")):
        sub = add_command(commands, name, text)
        sub.add_argument("--buyer", required=True)
        sub.add_argument("order_id")
    sub = add_command(commands, "refund", "the merchant refunds part or all of a completed order")
    sub.add_argument("--merchant", required=True)
    sub.add_argument("order_id")
    sub.add_argument("amount", help="decimal, in the order's currency")
    sub.add_argument("--reason", default="")
    sub.add_argument("--refund-id", default=None, help="UUID; a retry with the same id is safe")
    sub = add_command(commands, "review", "the buyer rates an order that completed (once); this bank signs it "
                                          "for the seller's bank")
    sub.add_argument("--buyer", required=True)
    sub.add_argument("order_id")
    sub.add_argument("--rating", required=True, help="1 to 5")
    sub.add_argument("--text", default="", help="optional, at most 1000 characters")
    sub = add_command(commands, "order", "one order, as its buyer or its merchant sees it")
    sub.add_argument("order_id")
    sub.add_argument("--buyer")
    sub.add_argument("--merchant")
    sub = add_command(commands, "orders", "a buyer's or a merchant's orders (neither: all at this bank)")
    sub.add_argument("--buyer")
    sub.add_argument("--merchant")
    orders_cli.add_arguments(sub)


# Parsing what the user typed. Pure; BadInput on anything wrong.

def _count(text: str, what: str, *, minimum: int, maximum: int) -> int:
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 19) or not minimum <= int(digits) <= maximum:
        raise BadInput(f"{what} must be a whole number from {minimum} to {maximum}, not {text!r}")
    return int(digits)


def _uuid(text: str | None, what: str) -> str:
    if text is None:
        return str(uuid.uuid4())
    try:
        canonical = str(uuid.UUID(text))  # The contract's one spelling (fedmall.identifiers.is_uuid).
    except ValueError:
        raise BadInput(f"{what} must be a UUID, not {text!r}") from None
    if not identifiers.is_uuid(canonical):
        raise BadInput(f"{what} must not be the nil or max UUID")
    return canonical


def _one_actor(args, *, required: bool) -> tuple[str, str]:
    """(buyer_account_id, merchant_id) with at most one set, or exactly one if required."""
    buyer, merchant = args.buyer or "", args.merchant or ""
    if buyer and merchant:
        raise BadInput("give --buyer or --merchant, not both")
    if required and not (buyer or merchant):
        raise BadInput("give --buyer or --merchant")
    return buyer, merchant


def parse_item(spec: str) -> tuple[str, str, str, int, str]:
    """'bank-b/acme/SKU-1:2@12.50' -> ('bank-b', 'acme', 'SKU-1', 2, '12.50'). The price stays text
    until the buyer's currency is known."""
    path, at, price = spec.rpartition("@")
    path, colon, quantity = path.rpartition(":")
    parts = path.split("/", 2)
    if not at or not colon or len(parts) != 3 or not all(parts) or not price:
        raise BadInput(f"item {spec!r} is not BANK/MERCHANT/SKU:QTY@PRICE, like bank-b/acme/SKU-1:2@12.50")
    return parts[0], parts[1], parts[2], _count(quantity, f"quantity in {spec!r}", minimum=1, maximum=count_max), price


def parse_cart(text: str) -> list[tuple[str, str, str, int, str]]:
    """A JSON list of {"seller_bank_id", "merchant_id", "sku", "quantity", "unit_price"}."""
    try:
        document = json.loads(text, parse_float=decimal.Decimal)
    except (ValueError, RecursionError) as error:
        raise BadInput(f"cart is not JSON: {error}") from None
    if not isinstance(document, list) or not document:
        raise BadInput("cart must be a non-empty JSON list of items")
    keys = {"seller_bank_id", "merchant_id", "sku", "quantity", "unit_price"}
    items = []
    for number, entry in enumerate(document, start=1):
        if not isinstance(entry, dict) or set(entry) != keys:
            raise BadInput(f"cart item {number} must have exactly the keys {', '.join(sorted(keys))}")
        names = [entry["seller_bank_id"], entry["merchant_id"], entry["sku"]]
        if not all(isinstance(name, str) and name for name in names):
            raise BadInput(f"cart item {number}: seller_bank_id, merchant_id and sku must be non-empty text")
        quantity, price = entry["quantity"], entry["unit_price"]
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= count_max:
            raise BadInput(f"cart item {number}: quantity must be a whole number from 1")
        if isinstance(price, bool) or not isinstance(price, (str, int, decimal.Decimal)):
            raise BadInput(f"cart item {number}: unit_price must be a decimal like \"12.50\"")
        items.append((*names, quantity, str(price)))
    return items


def _read_cart(path: Path) -> list[tuple[str, str, str, int, str]]:
    try:
        with path.open("rb") as file:
            data = file.read(cart_file_bytes_max + 1)
    except OSError as error:
        raise BadInput(f"cannot read cart {path}: {error.strerror}") from None
    if len(data) > cart_file_bytes_max:
        raise BadInput(f"cart {path} is larger than {cart_file_bytes_max} bytes")
    try:
        return parse_cart(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadInput(f"cart {path} is not UTF-8 text") from None


# Showing what came back.

def _state_name(state: int) -> str:
    try:
        return marketplace_pb2.OrderState.Name(state).removeprefix("ORDER_STATE_")
    except ValueError:
        return str(state)


def _has_problem(order: marketplace_pb2.Order) -> bool:
    return order.problem not in (result_pb2.RESULT_CODE_UNSPECIFIED, result_pb2.RESULT_CODE_OK)


def _problem(order: marketplace_pb2.Order) -> str:
    name = code_name(order.problem) if _has_problem(order) else ""
    return f"{name}: {order.problem_detail}" if name and order.problem_detail else name or order.problem_detail


def order_json(order: marketplace_pb2.Order) -> dict:
    return dict(
        order_id=order.order_id, checkout_id=order.checkout_id, buyer_bank_id=order.buyer_bank_id,
        buyer_account_id=order.buyer_account_id, seller_bank_id=order.seller_bank_id,
        merchant_id=order.merchant_id, state=_state_name(order.state),
        items=[dict(sku=item.sku, title=item.title, quantity=item.quantity,
                    **money_json("unit_price", item.unit_price)) for item in order.items],
        **money_json("total", order.total), **money_json("refunded", order.refunded),
        tracking_reference=order.tracking_reference,
        problem=code_name(order.problem) if _has_problem(order) else "", problem_detail=order.problem_detail,
        release_transfer_id=order.release_transfer_id, placed_at_unix_ms=order.placed_at_unix_ms,
        updated_at_unix_ms=order.updated_at_unix_ms, auto_confirm_at_unix_ms=order.auto_confirm_at_unix_ms,
        instalments=order.instalments)


def _show_order(args, order: marketplace_pb2.Order, result: int) -> None:
    if args.json:
        print_json(dict(result=code_name(result), order=order_json(order)))
        return
    lines = [("order", order.order_id), ("state", _state_name(order.state)), ("result", code_name(result)),
             ("buyer", f"{order.buyer_account_id} at {order.buyer_bank_id}"),
             ("merchant", f"{order.merchant_id} at {order.seller_bank_id}"),
             ("total", money_text(order.total)), ("refunded", money_text(order.refunded)),
             ("tracking", order.tracking_reference), ("problem", _problem(order)),
             ("release transfer", order.release_transfer_id), ("checkout", order.checkout_id),
             ("placed", time_text(order.placed_at_unix_ms)), ("updated", time_text(order.updated_at_unix_ms)),
             ("auto-confirm", time_text(order.auto_confirm_at_unix_ms))]
    print_lines([(label, value) for label, value in lines if value])  # JSON has every field, set or not.
    if order.items:
        print()
        prices = money_column([item.unit_price for item in order.items])
        print(table([{"sku": item.sku, "title": item.title, "quantity": item.quantity, "unit price": price}
                     for item, price in zip(order.items, prices)], ["sku", "title", "quantity", "unit price"]))


def _orders_table(orders: list[marketplace_pb2.Order]) -> str:
    totals = money_column([order.total for order in orders])
    return table([{"order": order.order_id, "buyer": order.buyer_account_id, "buyer bank": order.buyer_bank_id,
                   "seller bank": order.seller_bank_id, "merchant": order.merchant_id, "total": total,
                   "state": _state_name(order.state), "problem": _problem(order)}
                  for order, total in zip(orders, totals)],
                 ["order", "buyer", "buyer bank", "seller bank", "merchant", "total", "state", "problem"])


# The commands. Each validates everything it can before its first call.

def _market(client: Client, method: str, request):
    response = client.call(method, request, stub=client.marketplace)
    if hasattr(response, "result") and response.result not in OK_CODES:
        raise Refused(response.result, getattr(response, "detail", ""))
    return response


def _currency_of_account(client: Client, account_id: str) -> str:
    response = client.call("GetAccount", node_pb2.GetAccountRequest(account_id=account_id))
    if response.result not in OK_CODES:
        raise Refused(response.result)
    return response.balance.currency


def _merchant(args, client: Client) -> None:
    if args.action == "onboard":
        response = _market(client, "OnboardMerchant", marketplace_pb2.OnboardMerchantRequest(
            merchant_id=args.merchant, legal_name=args.name, contact=args.contact,
            settlement_account_id=args.settlement_account))
        status = "ACTIVE"
    else:
        status = "SUSPENDED" if args.action == "suspend" else "ACTIVE"
        response = _market(client, "SetMerchantStatus", marketplace_pb2.SetMerchantStatusRequest(
            merchant_id=args.merchant, status=marketplace_pb2.MerchantStatus.Value(f"MERCHANT_STATUS_{status}")))
    if args.json:
        print_json(dict(merchant_id=args.merchant, status=status, result=code_name(response.result)))
        return
    print_lines([("merchant", args.merchant), ("status", status), ("result", code_name(response.result))])


def _product(args, client: Client) -> None:
    if args.action in catalogue_cli.COMMANDS:
        catalogue_cli.COMMANDS[args.action](args, client)
        return
    if args.action == "list":
        response = _market(client, "ListMerchantProducts", marketplace_pb2.ListMerchantProductsRequest(
            merchant_id=args.merchant, after_sku=args.after))
        products = list(response.products)
        if args.json:
            print_json(dict(merchant_id=args.merchant, products=[catalogue_cli.product_json(p) for p in products],
                            next_after_sku=response.next_after_sku))
        elif not products:
            print(f"{args.merchant} has no products")
        else:
            prices = money_column([product.price for product in products])
            print(table([{"sku": p.sku, "title": p.title, "category": p.category_id,
                          "status": catalogue_cli.status_name(p.status), "price": price, "stock": p.stock_available}
                         for p, price in zip(products, prices)], ["sku", "title", "category", "status", "price",
                                                                 "stock"]))
            if response.next_after_sku:
                print(f"more: --after {response.next_after_sku}")
        return
    try:
        currency = check_currency(args.currency)
    except MoneyError as error:
        raise BadInput(str(error)) from None
    price = money_pb2.Money(amount_minor=amount_minor(args.price, currency), currency=currency)
    stock = _count(args.stock, "--stock", minimum=0, maximum=count_max)
    response = _market(client, "UpsertProduct", marketplace_pb2.UpsertProductRequest(
        merchant_id=args.merchant, sku=args.sku, title=args.title, description=args.description,
        price=price, stock=stock, **catalogue_cli.set_fields(args)))
    if args.json:
        print_json(dict(merchant_id=args.merchant, sku=args.sku, stock=stock, result=code_name(response.result),
                         **money_json("price", price)))
        return
    print_lines([("merchant", args.merchant), ("sku", args.sku), ("title", args.title), ("price", money_text(price)),
                  ("stock", str(stock)), ("result", code_name(response.result))])


def _checkout(args, client: Client) -> None:
    specs = (_read_cart(args.cart) if args.cart else []) + [parse_item(spec) for spec in args.item]
    if not specs:
        raise BadInput("give at least one --item or a --cart file")
    if len(specs) > cart_items_max:
        raise BadInput(f"at most {cart_items_max} items in one checkout")
    checkout_id = _uuid(args.checkout_id, "--checkout-id")
    instalments = _count(args.instalments, "--instalments", minimum=0, maximum=instalments_per_plan_max)
    currency = _currency_of_account(client, args.buyer)
    items = [marketplace_pb2.CartItem(
        seller_bank_id=bank, merchant_id=merchant, sku=sku, quantity=quantity,
        unit_price=money_pb2.Money(amount_minor=amount_minor(price, currency), currency=currency))
        for bank, merchant, sku, quantity, price in specs]
    response = _market(client, "Checkout", marketplace_pb2.CheckoutRequest(
        checkout_id=checkout_id, buyer_account_id=args.buyer, items=items, instalments=instalments))
    orders = list(response.orders)
    if args.json:
        print_json(dict(checkout_id=checkout_id, result=code_name(response.result), detail=response.detail,
                         orders=[order_json(order) for order in orders]))
        return
    totals = money_column([order.total for order in orders])
    print(table([{"order": order.order_id, "seller bank": order.seller_bank_id, "merchant": order.merchant_id,
                  "total": total, "state": _state_name(order.state), "problem": _problem(order)}
                 for order, total in zip(orders, totals)],
                ["order", "seller bank", "merchant", "total", "state", "problem"]))
    detail = f", {response.detail}" if response.detail else ""
    print(f"checkout {checkout_id}: {code_name(response.result)}{detail}")
    if instalments:
        print(f"financed in {instalments} monthly instalments, one plan per order; its schedule: "
              f"fedmall-node credit plan --buyer {args.buyer} ORDER")


def _ship(args, client: Client) -> None:
    response = _market(client, "ShipOrder", marketplace_pb2.ShipOrderRequest(
        merchant_id=args.merchant, order_id=args.order_id, tracking_reference=args.tracking))
    _show_order(args, response.order, response.result)


def _decline(args, client: Client) -> None:
    response = _market(client, "DeclineOrder", marketplace_pb2.DeclineOrderRequest(
        merchant_id=args.merchant, order_id=args.order_id, reason=args.reason))
    _show_order(args, response.order, response.result)


def _confirm_or_cancel(args, client: Client) -> None:
    if args.command == "confirm":
        response = _market(client, "ConfirmReceipt", marketplace_pb2.ConfirmReceiptRequest(
            buyer_account_id=args.buyer, order_id=args.order_id))
    else:
        response = _market(client, "CancelOrder", marketplace_pb2.CancelOrderRequest(
            buyer_account_id=args.buyer, order_id=args.order_id))
    _show_order(args, response.order, response.result)


def _refund(args, client: Client) -> None:
    refund_id = _uuid(args.refund_id, "--refund-id")
    # The refund is in the order's currency, which only the order knows.
    currency = _market(client, "GetOrder", marketplace_pb2.GetOrderRequest(
        order_id=args.order_id, merchant_id=args.merchant)).order.total.currency
    amount = money_pb2.Money(amount_minor=amount_minor(args.amount, currency), currency=currency)
    response = _market(client, "RefundOrder", marketplace_pb2.RefundOrderRequest(
        refund_id=refund_id, merchant_id=args.merchant, order_id=args.order_id, amount=amount, reason=args.reason))
    _show_order(args, response.order, response.result)


def _review(args, client: Client) -> None:
    rating = _count(args.rating, "--rating", minimum=1, maximum=5)
    response = _market(client, "ReviewOrder", marketplace_pb2.ReviewOrderRequest(
        buyer_account_id=args.buyer, order_id=args.order_id, rating=rating, text=args.text))
    if args.json:
        print_json(dict(result=code_name(response.result), order_id=args.order_id, rating=rating,
                         delivered=response.delivered))
        return
    where = "the seller's bank has it" if response.delivered else "the seller's bank gets it when it answers"
    print(f"review of {args.order_id}: {code_name(response.result)}, {rating} of 5; {where}")


def _order(args, client: Client) -> None:
    buyer, merchant = _one_actor(args, required=True)
    response = _market(client, "GetOrder", marketplace_pb2.GetOrderRequest(
        order_id=args.order_id, buyer_account_id=buyer, merchant_id=merchant))
    _show_order(args, response.order, response.result)


def _orders(args, client: Client) -> None:
    buyer, merchant = _one_actor(args, required=False)
    response = _market(client, "ListOrders", orders_cli.request_of(args, buyer=buyer, merchant=merchant))
    orders_cli.show(args, response, document=dict(buyer_account_id=buyer, merchant_id=merchant),
                    order_json=order_json, orders_table=_orders_table, state_name=_state_name)


COMMANDS: dict[str, Callable[[argparse.Namespace, Client], None]] = {
    "merchant": _merchant, "product": _product, "search": catalogue_cli.COMMANDS["search"],
    "category": catalogue_cli.COMMANDS["category"], "checkout": _checkout, "ship": _ship,
    "decline": _decline,
    "confirm": _confirm_or_cancel, "cancel": _confirm_or_cancel, "refund": _refund, "review": _review, "order": _order,
    "orders": _orders,
}
