"""The marketplace commands of fedmall-node against a fake MarketplaceService over real mTLS."""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Iterator

import pytest

from fedmall.v1 import marketplace_pb2, marketplace_pb2_grpc, money_pb2, node_pb2, node_pb2_grpc, result_pb2

from node.cli import main as cli_main
from tests.node.cli_support import fake_node_home, json_out, labelled

M = marketplace_pb2
R = result_pb2
CHECKOUT_ID = "6f1c2a3b-1111-4222-8333-944455556666"
REFUND_ID = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency="EUR")


def jpy(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency="JPY")


ORDER = M.Order(
    order_id="o-1", checkout_id=CHECKOUT_ID, buyer_bank_id="bank-a", buyer_account_id="alice",
    seller_bank_id="bank-b", merchant_id="acme", total=eur(2500), refunded=eur(0), state=M.ORDER_STATE_SHIPPED,
    tracking_reference="TRACK-9", placed_at_unix_ms=1_893_456_000_000, updated_at_unix_ms=1_893_456_060_000,
    items=[M.OrderItem(sku="SKU-1", quantity=2, unit_price=eur(1250), title="Teapot")])
FAILED_ORDER = M.Order(
    order_id="o-2", seller_bank_id="bank-c", merchant_id="zed", total=eur(99_900), state=M.ORDER_STATE_FAILED,
    problem=R.RESULT_CODE_PRICE_CHANGED, problem_detail="now 10.00")


@dataclass
class FakeMarketplace(marketplace_pb2_grpc.MarketplaceServiceServicer, node_pb2_grpc.NodeServiceServicer):
    """Records every request and answers with canned responses; results overridable per method."""
    requests: list = field(default_factory=list)  # (method, request)
    results: dict = field(default_factory=dict)  # method -> ResultCode to answer
    account_currency: str = "EUR"

    def _answer(self, method, request, response_type, **fields):
        self.requests.append((method, request))
        return response_type(result=self.results.get(method, R.RESULT_CODE_OK), **fields)

    def sent(self, method: str) -> list:
        return [request for name, request in self.requests if name == method]

    def GetAccount(self, request, context):
        return self._answer("GetAccount", request, node_pb2.GetAccountResponse, account_id=request.account_id,
                            balance=money_pb2.Money(amount_minor=10_000, currency=self.account_currency))

    def OnboardMerchant(self, request, context):
        return self._answer("OnboardMerchant", request, M.OnboardMerchantResponse)

    def SetMerchantStatus(self, request, context):
        return self._answer("SetMerchantStatus", request, M.SetMerchantStatusResponse)

    def UpsertProduct(self, request, context):
        return self._answer("UpsertProduct", request, M.UpsertProductResponse)

    def ListMerchantProducts(self, request, context):
        return self._answer("ListMerchantProducts", request, M.ListMerchantProductsResponse, products=[
            M.Product(bank_id="bank-a", merchant_id=request.merchant_id, sku="SKU-1", title="Teapot",
                      price=eur(1250), stock_available=7, category_id="kitchen", status=M.PRODUCT_STATUS_LISTED),
            M.Product(bank_id="bank-a", merchant_id=request.merchant_id, sku="SKU-22", title="Kettle",
                      price=eur(12_000), stock_available=0, category_id="kitchen", status=M.PRODUCT_STATUS_DRAFT)])

    def Search(self, request, context):
        self.requests.append(("Search", request))
        return M.SearchResponse(total=41, banks_not_answering=["bank-c"], next_cursor="next-1", products=[
            M.Product(bank_id="bank-b", merchant_id="acme", merchant_name="Acme Ltd", sku="SKU-1", title="Teapot",
                      price=eur(950), stock_available=3, category_id="kitchen", size="L",
                      status=M.PRODUCT_STATUS_LISTED),
            M.Product(bank_id="bank-a", merchant_id="bob", merchant_name="Bob's", sku="T-9", title="Tea cup",
                      price=eur(12_000), stock_available=12, category_id="kitchen", colour="red",
                      status=M.PRODUCT_STATUS_LISTED)])

    def Checkout(self, request, context):
        return self._answer("Checkout", request, M.CheckoutResponse, orders=[ORDER, FAILED_ORDER])

    def ShipOrder(self, request, context):
        return self._answer("ShipOrder", request, M.ShipOrderResponse, order=ORDER)

    def DeclineOrder(self, request, context):
        detail = "order 'o-1' is SHIPPED" if self.results.get("DeclineOrder") else ""
        return self._answer("DeclineOrder", request, M.DeclineOrderResponse, order=ORDER, detail=detail)

    def ConfirmReceipt(self, request, context):
        return self._answer("ConfirmReceipt", request, M.ConfirmReceiptResponse, order=ORDER)

    def CancelOrder(self, request, context):
        return self._answer("CancelOrder", request, M.CancelOrderResponse, order=ORDER)

    def RefundOrder(self, request, context):
        return self._answer("RefundOrder", request, M.RefundOrderResponse, order=ORDER)

    def GetOrder(self, request, context):
        order = M.Order()
        order.CopyFrom(ORDER)
        order.total.currency = self.account_currency
        return self._answer("GetOrder", request, M.GetOrderResponse, order=order)

    def ReviewOrder(self, request, context):
        self.requests.append(("ReviewOrder", request))
        return M.ReviewOrderResponse(result=self.results.get("ReviewOrder", R.RESULT_CODE_OK), delivered=True)

    def ListOrders(self, request, context):
        self.requests.append(("ListOrders", request))
        return M.ListOrdersResponse(result=self.results.get("ListOrders", R.RESULT_CODE_OK),
                                    orders=[ORDER, FAILED_ORDER], next_cursor="next-page")


@dataclass
class Node:
    fake: FakeMarketplace
    home: str

    def run(self, *argv: str) -> int:
        return cli_main([*argv, "--home", self.home])


@contextlib.contextmanager
def serving(consortium, fake: FakeMarketplace) -> Iterator[Node]:
    """The fake as bank-a's node on port 0 over mTLS, and bank-a's bundle pointing at it."""
    with fake_node_home(consortium, lambda server: marketplace_pb2_grpc.add_MarketplaceServiceServicer_to_server(
            fake, server), lambda server: node_pb2_grpc.add_NodeServiceServicer_to_server(fake, server)) as home:
        yield Node(fake=fake, home=home)


@pytest.fixture
def node(consortium):
    with serving(consortium, FakeMarketplace()) as node:
        yield node






# Merchants and products.

def test_merchant_onboard__sends_the_merchant_and_prints_the_result(node, capsys):
    assert node.run("merchant", "onboard", "acme", "--name", "Acme Ltd", "--contact", "ops@acme.test",
                    "--settlement-account", "acme-settle") == 0
    [request] = node.fake.sent("OnboardMerchant")
    assert (request.merchant_id, request.legal_name, request.contact, request.settlement_account_id) == (
        "acme", "Acme Ltd", "ops@acme.test", "acme-settle")
    assert labelled(capsys.readouterr().out) == {"merchant": "acme", "status": "ACTIVE", "result": "OK"}


def test_merchant_suspend_and_resume__set_the_status(node, capsys):
    assert node.run("merchant", "suspend", "acme", "--json") == 0
    assert json_out(capsys) == {"merchant_id": "acme", "status": "SUSPENDED", "result": "OK"}
    assert node.run("merchant", "resume", "acme") == 0
    assert [r.status for r in node.fake.sent("SetMerchantStatus")] == [
        M.MERCHANT_STATUS_SUSPENDED, M.MERCHANT_STATUS_ACTIVE]


def test_merchant_onboard__refusal_names_the_code_and_exits_1(node, capsys):
    node.fake.results["OnboardMerchant"] = R.RESULT_CODE_ACCOUNT_UNKNOWN
    assert node.run("merchant", "onboard", "acme", "--name", "A", "--contact", "c",
                    "--settlement-account", "nobody", "--json") == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == "ACCOUNT_UNKNOWN"
    assert json.loads(captured.out) == {"result": "ACCOUNT_UNKNOWN"}


def test_product_set__sends_minor_units_currency_and_stock(node, capsys):
    assert node.run("product", "set", "--merchant", "acme", "SKU-1", "--title", "Teapot", "--description", "Blue",
                    "--price", "12.50", "--currency", "EUR", "--stock", "7", "--json") == 0
    [request] = node.fake.sent("UpsertProduct")
    assert (request.merchant_id, request.sku, request.title, request.description, request.stock) == (
        "acme", "SKU-1", "Teapot", "Blue", 7)
    assert request.price == eur(1250)
    document = json_out(capsys)
    assert (document["price_minor"], document["price"], document["result"]) == (1250, "12.50", "OK")


def test_product_set__zero_decimal_currency(node):
    assert node.run("product", "set", "--merchant", "acme", "SKU-1", "--title", "T", "--price", "1200",
                    "--currency", "JPY", "--stock", "0") == 0
    assert node.fake.sent("UpsertProduct")[0].price == jpy(1200)


@pytest.mark.parametrize("price, currency, stock", [
    ("12.505", "EUR", "1"), ("12,50", "EUR", "1"), ("0", "EUR", "1"), ("-3", "EUR", "1"),
    ("12.50", "XXX", "1"), ("12.50", "EUR", "-1"), ("12.50", "EUR", "many"), ("12.5", "JPY", "1")])
def test_product_set__bad_price_currency_or_stock_exits_2_and_sends_nothing(node, capsys, price, currency, stock):
    assert node.run("product", "set", "--merchant", "acme", "SKU-1", "--title", "T", "--price", price,
                    "--currency", currency, "--stock", stock) == 2
    assert node.fake.requests == []
    assert capsys.readouterr().err.startswith("fedmall-node: ")


def test_product_list__table_with_aligned_prices(node, capsys):
    assert node.run("product", "list", "--merchant", "acme") == 0
    assert node.fake.sent("ListMerchantProducts")[0].merchant_id == "acme"
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["sku", "title", "category", "status", "price", "stock"]
    assert lines[2].split() == ["SKU-1", "Teapot", "kitchen", "LISTED", "12.50", "EUR", "7"]
    assert lines[2].index("12.50") + len("12.50") == lines[3].index("120.00") + len("120.00")


# Search.

def test_search__sends_filters_sort_and_cursor_and_prints_table_and_missing_banks(node, capsys):
    assert node.run("search", "tea", "--category", "kitchen", "--min-price", "1", "--max-price", "20.50",
                    "--currency", "EUR", "--in-stock", "--sort", "price", "--page-size", "5", "--cursor", "c-1") == 0
    [request] = node.fake.sent("Search")
    assert (request.query, request.page_size, request.cursor, request.sort) == (
        "tea", 5, "c-1", M.SEARCH_SORT_PRICE_ASCENDING)
    assert request.filters == M.SearchFilters(category_id="kitchen", price_min=eur(100), price_max=eur(2050),
                                              in_stock=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["bank", "merchant", "sku", "title", "variant", "category", "price", "stock"]
    assert lines[2].split() == ["bank-b", "acme", "SKU-1", "Teapot", "L", "kitchen", "9.50", "EUR", "3"]
    assert lines[-2:] == ["banks not answering: bank-c", "next page: --cursor next-1"]


def test_search__json(node, capsys):
    assert node.run("search", "tea", "--json") == 0
    document = json_out(capsys)
    assert document["banks_not_answering"] == ["bank-c"] and document["total"] == 41
    assert document["next_cursor"] == "next-1" and document["facets"] is None
    assert document["products"][0] == {
        "bank_id": "bank-b", "merchant_id": "acme", "merchant_name": "Acme Ltd", "sku": "SKU-1", "product_id": "",
        "title": "Teapot", "description": "", "size": "L", "colour": "", "category_id": "kitchen",
        "status": "LISTED", "attributes": {}, "image_refs": [], "stock_available": 3, "created_at_unix_ms": 0,
        "price_minor": 950, "price": "9.50", "price_currency": "EUR"}
    assert node.fake.sent("Search")[0].sort == M.SEARCH_SORT_RELEVANCE


@pytest.mark.parametrize("flags", [("--page-size", "0"), ("--page-size", "3000000000"), ("--min-price", "1"),
                                   ("--min-price", "1.234", "--currency", "EUR"), ("--min-price", "1", "--currency", "X")])
def test_search__bad_page_size_or_price_bound_exits_2_and_sends_nothing(node, flags):
    assert node.run("search", "tea", *flags) == 2
    assert node.fake.requests == []


# Checkout.

def test_checkout__items_in_the_buyers_currency_one_row_per_order(node, capsys):
    assert node.run("checkout", "--buyer", "alice", "--item", "bank-b/acme/SKU-1:2@12.50",
                    "--item", "bank-c/zed/a/b:1@999", "--checkout-id", CHECKOUT_ID) == 0
    assert node.fake.sent("GetAccount")[0].account_id == "alice"
    [request] = node.fake.sent("Checkout")
    assert (request.checkout_id, request.buyer_account_id) == (CHECKOUT_ID, "alice")
    assert [(i.seller_bank_id, i.merchant_id, i.sku, i.quantity, i.unit_price) for i in request.items] == [
        ("bank-b", "acme", "SKU-1", 2, eur(1250)), ("bank-c", "zed", "a/b", 1, eur(99_900))]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["order", "seller", "bank", "merchant", "total", "state", "problem"]
    assert lines[2].split() == ["o-1", "bank-b", "acme", "25.00", "EUR", "SHIPPED"]
    assert lines[3].split() == ["o-2", "bank-c", "zed", "999.00", "EUR", "FAILED", "PRICE_CHANGED:", "now", "10.00"]
    assert lines[-1] == f"checkout {CHECKOUT_ID}: OK"


def test_checkout__cart_file_and_json(node, capsys, tmp_path):
    cart = tmp_path / "cart.json"
    cart.write_text(json.dumps([{"seller_bank_id": "bank-b", "merchant_id": "acme", "sku": "SKU-1",
                                 "quantity": 3, "unit_price": "12.50"}]).replace('"12.50"', "12.50"))
    assert node.run("checkout", "--buyer", "alice", "--cart", str(cart), "--json") == 0
    [request] = node.fake.sent("Checkout")
    assert [(i.sku, i.quantity, i.unit_price) for i in request.items] == [("SKU-1", 3, eur(1250))]
    document = json_out(capsys)
    assert document["checkout_id"] == request.checkout_id and document["result"] == "OK"
    assert [(o["order_id"], o["state"], o["total_minor"], o["problem"]) for o in document["orders"]] == [
        ("o-1", "SHIPPED", 2500, ""), ("o-2", "FAILED", 99_900, "PRICE_CHANGED")]


def test_checkout__in_instalments_names_the_schedule_command(node, capsys):
    assert node.run("checkout", "--buyer", "alice", "--item", "bank-b/acme/SKU-1:1@12.50", "--instalments", "6") == 0
    assert node.fake.sent("Checkout")[0].instalments == 6
    assert capsys.readouterr().out.splitlines()[-1] == (
        "financed in 6 monthly instalments, one plan per order; its schedule: "
        "fedmall-node credit plan --buyer alice ORDER")
    assert node.run("checkout", "--buyer", "alice", "--item", "bank-b/acme/SKU-1:1@12.50", "--instalments", "61") == 2
    assert len(node.fake.sent("Checkout")) == 1


def test_checkout__currency_comes_from_the_buyers_account(node):
    node.fake.account_currency = "JPY"
    assert node.run("checkout", "--buyer", "taro", "--item", "bank-b/acme/SKU-1:1@1500") == 0
    assert node.fake.sent("Checkout")[0].items[0].unit_price == jpy(1500)


@pytest.mark.parametrize("item", [
    "bank-b/acme/SKU-1:2", "bank-b/acme:2@12.50", "bank-b//SKU-1:2@12.50", "bank-b/acme/SKU-1:0@12.50",
    "bank-b/acme/SKU-1:two@12.50", "bank-b/acme/SKU-1:2@", "bank-b/acme/SKU-1@12.50"])
def test_checkout__malformed_item_exits_2_and_sends_nothing(node, capsys, item):
    assert node.run("checkout", "--buyer", "alice", "--item", item) == 2
    assert node.fake.requests == []
    assert capsys.readouterr().err.startswith("fedmall-node: ")


@pytest.mark.parametrize("price", ["12.505", "abc", "0", "-1"])
def test_checkout__bad_price_exits_2_and_checkout_is_not_sent(node, price):
    assert node.run("checkout", "--buyer", "alice", "--item", f"bank-b/acme/SKU-1:1@{price}") == 2
    assert node.fake.sent("Checkout") == []


@pytest.mark.parametrize("cart", [
    "not json", "[]", '{"sku": "x"}', '[{"seller_bank_id": "b", "merchant_id": "m", "sku": "s", "quantity": 1}]',
    '[{"seller_bank_id": "b", "merchant_id": "m", "sku": "s", "quantity": true, "unit_price": "1.00"}]',
    '[{"seller_bank_id": "b", "merchant_id": "", "sku": "s", "quantity": 1, "unit_price": "1.00"}]',
    '[{"seller_bank_id": "b", "merchant_id": "m", "sku": "s", "quantity": 1, "unit_price": ["1"]}]'])
def test_checkout__bad_cart_file_exits_2_and_sends_nothing(node, tmp_path, cart):
    path = tmp_path / "cart.json"
    path.write_text(cart)
    assert node.run("checkout", "--buyer", "alice", "--cart", str(path)) == 2
    assert node.fake.requests == []


def test_checkout__no_items_missing_cart_or_bad_checkout_id_exit_2(node, tmp_path):
    assert node.run("checkout", "--buyer", "alice") == 2
    assert node.run("checkout", "--buyer", "alice", "--cart", str(tmp_path / "missing.json")) == 2
    assert node.run("checkout", "--buyer", "alice", "--item", "b/m/s:1@1.00", "--checkout-id", "nope") == 2
    assert node.fake.requests == []


def test_checkout__unknown_buyer_is_refused_before_checkout(node, capsys):
    node.fake.results["GetAccount"] = R.RESULT_CODE_ACCOUNT_UNKNOWN
    assert node.run("checkout", "--buyer", "nobody", "--item", "bank-b/acme/SKU-1:1@1.00") == 1
    assert capsys.readouterr().err.strip() == "ACCOUNT_UNKNOWN"
    assert node.fake.sent("Checkout") == []


def test_checkout__refusal_exits_1_with_the_name(node, capsys):
    node.fake.results["Checkout"] = R.RESULT_CODE_INSUFFICIENT_FUNDS
    assert node.run("checkout", "--buyer", "alice", "--item", "bank-b/acme/SKU-1:1@1.00", "--json") == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == "INSUFFICIENT_FUNDS"
    assert json.loads(captured.out) == {"result": "INSUFFICIENT_FUNDS"}


def test_checkout__exists_on_retry_is_success(node):
    node.fake.results["Checkout"] = R.RESULT_CODE_EXISTS
    assert node.run("checkout", "--buyer", "alice", "--item", "bank-b/acme/SKU-1:1@1.00") == 0


# Order actions.

def test_ship__sends_merchant_order_and_tracking(node, capsys):
    assert node.run("ship", "--merchant", "acme", "o-1", "--tracking", "TRACK-9", "--json") == 0
    [request] = node.fake.sent("ShipOrder")
    assert (request.merchant_id, request.order_id, request.tracking_reference) == ("acme", "o-1", "TRACK-9")
    document = json_out(capsys)
    assert document["result"] == "OK" and document["order"]["state"] == "SHIPPED"


def test_decline__sends_merchant_order_and_reason_and_a_refusal_shows_the_nodes_detail(node, capsys):
    assert node.run("decline", "--merchant", "acme", "o-1", "--reason", "out of clay") == 0
    [request] = node.fake.sent("DeclineOrder")
    assert (request.merchant_id, request.order_id, request.reason) == ("acme", "o-1", "out of clay")
    capsys.readouterr()
    node.fake.results["DeclineOrder"] = R.RESULT_CODE_ORDER_STATE_INVALID
    assert node.run("decline", "--merchant", "acme", "o-1") == 1
    assert capsys.readouterr().err.strip() == "ORDER_STATE_INVALID: order 'o-1' is SHIPPED"


@pytest.mark.parametrize("command, method", [("confirm", "ConfirmReceipt"), ("cancel", "CancelOrder")])
def test_confirm_and_cancel__send_buyer_and_order(node, capsys, command, method):
    assert node.run(command, "--buyer", "alice", "o-1") == 0
    [request] = node.fake.sent(method)
    assert (request.buyer_account_id, request.order_id) == ("alice", "o-1")
    assert labelled(capsys.readouterr().out)["state"] == "SHIPPED"


def test_cancel__wrong_state_is_refused(node, capsys):
    node.fake.results["CancelOrder"] = R.RESULT_CODE_ORDER_STATE_INVALID
    assert node.run("cancel", "--buyer", "alice", "o-1") == 1
    assert capsys.readouterr().err.strip() == "ORDER_STATE_INVALID"


def test_refund__amount_in_the_orders_currency(node, capsys):
    assert node.run("refund", "--merchant", "acme", "o-1", "5.25", "--reason", "chipped",
                    "--refund-id", REFUND_ID) == 0
    [lookup] = node.fake.sent("GetOrder")
    assert (lookup.order_id, lookup.merchant_id, lookup.buyer_account_id) == ("o-1", "acme", "")
    [request] = node.fake.sent("RefundOrder")
    assert (request.refund_id, request.merchant_id, request.order_id, request.reason) == (
        REFUND_ID, "acme", "o-1", "chipped")
    assert request.amount == eur(525)


def test_refund__above_paid_is_refused(node, capsys):
    node.fake.results["RefundOrder"] = R.RESULT_CODE_REFUND_EXCEEDS_PAID
    assert node.run("refund", "--merchant", "acme", "o-1", "99.00", "--json") == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == "REFUND_EXCEEDS_PAID"
    assert json.loads(captured.out) == {"result": "REFUND_EXCEEDS_PAID"}


@pytest.mark.parametrize("extra", [["1.234"], ["0"], ["1.00", "--refund-id", "not-a-uuid"],
                                   ["1.00", "--refund-id", "00000000-0000-0000-0000-000000000000"]])
def test_refund__bad_amount_or_id_exits_2_and_refund_is_not_sent(node, extra):
    assert node.run("refund", "--merchant", "acme", "o-1", *extra) == 2
    assert node.fake.sent("RefundOrder") == []


def test_order__all_fields_as_the_buyer(node, capsys):
    assert node.run("order", "o-1", "--buyer", "alice") == 0
    [request] = node.fake.sent("GetOrder")
    assert (request.order_id, request.buyer_account_id, request.merchant_id) == ("o-1", "alice", "")
    out = capsys.readouterr().out
    assert labelled(out) == {
        "order": "o-1", "state": "SHIPPED", "result": "OK", "buyer": "alice at bank-a", "merchant": "acme at bank-b",
        "total": "25.00 EUR", "refunded": "0.00 EUR", "tracking": "TRACK-9", "checkout": CHECKOUT_ID,
        "placed": "2030-01-01 00:00:00 UTC", "updated": "2030-01-01 00:01:00 UTC"}
    assert out.splitlines()[-1].split() == ["SKU-1", "Teapot", "2", "12.50", "EUR"]


def test_order__json_as_the_merchant(node, capsys):
    assert node.run("order", "o-1", "--merchant", "acme", "--json") == 0
    assert node.fake.sent("GetOrder")[0].merchant_id == "acme"
    order = json_out(capsys)["order"]
    assert order["items"] == [{"sku": "SKU-1", "title": "Teapot", "quantity": 2, "unit_price_minor": 1250,
                               "unit_price": "12.50", "unit_price_currency": "EUR"}]
    assert (order["state"], order["total"], order["refunded_minor"], order["tracking_reference"]) == (
        "SHIPPED", "25.00", 0, "TRACK-9")


@pytest.mark.parametrize("actors", [[], ["--buyer", "alice", "--merchant", "acme"]])
def test_order__needs_exactly_one_actor(node, capsys, actors):
    assert node.run("order", "o-1", *actors) == 2
    assert node.fake.requests == []
    assert "--buyer or --merchant" in capsys.readouterr().err


def test_order__unknown_is_refused(node, capsys):
    node.fake.results["GetOrder"] = R.RESULT_CODE_ORDER_UNKNOWN
    assert node.run("order", "o-404", "--buyer", "alice") == 1
    assert capsys.readouterr().err.strip() == "ORDER_UNKNOWN"


def test_orders__table_for_a_merchant_and_all_as_json(node, capsys):
    assert node.run("orders", "--merchant", "acme") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["order", "buyer", "buyer", "bank", "seller", "bank", "merchant", "total", "state",
                                "problem"]
    assert lines[2].split() == ["o-1", "alice", "bank-a", "bank-b", "acme", "25.00", "EUR", "SHIPPED"]
    assert node.run("orders", "--json") == 0
    assert [o["order_id"] for o in json_out(capsys)["orders"]] == ["o-1", "o-2"]
    assert [(r.buyer_account_id, r.merchant_id) for r in node.fake.sent("ListOrders")] == [("", "acme"), ("", "")]


def test_orders__filters_page_and_csv(node, capsys, tmp_path):
    assert node.run("orders", "--buyer", "alice", "--state", "PAID", "--state", "SHIPPED", "--from", "2026-11-01",
                    "--to", "2026-11-30", "--limit", "2", "--cursor", "abc") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "more: --cursor next-page"
    [request] = node.fake.sent("ListOrders")
    assert (list(request.states), request.page_size, request.cursor) == (
        [M.ORDER_STATE_PAID, M.ORDER_STATE_SHIPPED], 2, "abc")
    assert (request.placed_from_unix_ms, request.placed_before_unix_ms) == (1_793_491_200_000, 1_796_083_200_000)
    assert node.run("orders", "--merchant", "acme", "--csv", "-") == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == ",".join(("order_id", "placed_at", "state", "buyer_bank_id", "buyer_account_id",
                                "seller_bank_id", "merchant_id", "total_minor", "currency", "refunded_minor",
                                "instalments", "tracking_reference"))
    assert rows[1].split(",")[:3] == ["o-1", rows[1].split(",")[1], "SHIPPED"] and len(rows) == 3
    assert node.run("orders", "--csv", str(tmp_path / "orders.csv")) == 0
    assert (tmp_path / "orders.csv").read_text(encoding="utf-8").count("\n") == 3


def test_orders__bad_filters_exit_2_and_send_nothing(node, capsys):
    for bad in (["--from", "2026-13-01"], ["--limit", "0"], ["--from", "2026-11-02", "--to", "2026-11-01"],
                ["--state", "LOST"]):
        with pytest.raises(SystemExit) if bad[0] == "--state" else contextlib.nullcontext():
            assert node.run("orders", *bad) == 2
    assert node.fake.requests == []


def test_orders__a_refused_cursor_exits_1(node, capsys):
    node.fake.results["ListOrders"] = R.RESULT_CODE_INVALID_FIELD
    assert node.run("orders", "--cursor", "stale") == 1
    assert capsys.readouterr().err.strip() == "INVALID_FIELD"


def test_review__sends_the_rating_and_says_where_it_went(node, capsys):
    assert node.run("review", "--buyer", "alice", "o-1", "--rating", "4", "--text", "good") == 0
    assert capsys.readouterr().out.strip() == "review of o-1: OK, 4 of 5; the seller's bank has it"
    [request] = node.fake.sent("ReviewOrder")
    assert (request.buyer_account_id, request.order_id, request.rating, request.text) == ("alice", "o-1", 4, "good")
    assert node.run("review", "--buyer", "alice", "o-1", "--rating", "6") == 2
    node.fake.results["ReviewOrder"] = R.RESULT_CODE_REVIEW_ALREADY_GIVEN
    assert node.run("review", "--buyer", "alice", "o-1", "--rating", "2", "--json") == 1
    assert "REVIEW_ALREADY_GIVEN" in capsys.readouterr().err


def test_orders__both_actors_exit_2(node):
    assert node.run("orders", "--buyer", "alice", "--merchant", "acme") == 2
    assert node.fake.requests == []
