"""Helpers for the marketplace tests: a real clearing and real nodes over mTLS (the
acceptance Federation), with the bank's own MarketplaceService stubs and shortcuts.

Test modules import the fixtures they use: `from tests.node.market.world import
database_url, market  # noqa: F401`.
"""
from __future__ import annotations

import contextlib
import uuid

import pytest

from fedmall import tls
from fedmall.pki import Identity
from fedmall.v1 import marketplace_pb2 as mp, marketplace_pb2_grpc, money_pb2
from fedmall.v1 import result_pb2 as rc

from tests.acceptance.conftest import Federation, closed_at_rest
from tests.support.federation import CURRENCY, wait_until

OK_CODES = (rc.RESULT_CODE_OK, rc.RESULT_CODE_EXISTS)


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency=CURRENCY)


class Market(Federation):
    def __init__(self, world) -> None:
        super().__init__(world)
        self._market_stubs: dict[str, marketplace_pb2_grpc.MarketplaceServiceStub] = {}

    def stop_node(self, bank_id: str) -> None:
        super().stop_node(bank_id)
        self._market_stubs.pop(bank_id, None)

    def market(self, bank_id: str) -> marketplace_pb2_grpc.MarketplaceServiceStub:
        if bank_id not in self._market_stubs:
            bank = self.world.banks[bank_id]
            channel = tls.secure_channel(f"127.0.0.1:{bank.node_port}", bank.tls, server=Identity(bank_id, "bank"))
            self.world._channels.append(channel)
            self._market_stubs[bank_id] = marketplace_pb2_grpc.MarketplaceServiceStub(channel)
        return self._market_stubs[bank_id]

    def merchant(self, bank_id: str, merchant_id: str) -> str:
        """Onboard a merchant with a fresh settlement account; its account id."""
        account_id = f"settle-{merchant_id}"
        self.open_account(bank_id, account_id)
        response = self.market(bank_id).OnboardMerchant(mp.OnboardMerchantRequest(
            merchant_id=merchant_id, legal_name=f"{merchant_id.title()} Ltd", contact=f"{merchant_id}@example.com",
            settlement_account_id=account_id))
        assert response.result == rc.RESULT_CODE_OK, response
        return account_id

    def product(self, bank_id: str, merchant_id: str, sku: str, *, title: str, price_minor: int, stock: int,
                description: str = "") -> None:
        response = self.market(bank_id).UpsertProduct(mp.UpsertProductRequest(
            merchant_id=merchant_id, sku=sku, title=title, description=description, price=eur(price_minor),
            stock=stock))
        assert response.result in OK_CODES, response

    def products(self, bank_id: str, merchant_id: str) -> dict[str, mp.Product]:
        response = self.market(bank_id).ListMerchantProducts(mp.ListMerchantProductsRequest(merchant_id=merchant_id))
        assert response.result == rc.RESULT_CODE_OK
        return {product.sku: product for product in response.products}

    def checkout(self, bank_id: str, buyer: str, items: list[tuple[str, str, str, int, int]],
                 *, checkout_id: str | None = None) -> mp.CheckoutResponse:
        """items: (seller bank, merchant, sku, quantity, unit price)."""
        return self.market(bank_id).Checkout(mp.CheckoutRequest(
            checkout_id=checkout_id or str(uuid.uuid4()), buyer_account_id=buyer,
            items=[mp.CartItem(seller_bank_id=seller, merchant_id=merchant, sku=sku, quantity=quantity,
                               unit_price=eur(price)) for seller, merchant, sku, quantity, price in items]))

    def buyer_order(self, bank_id: str, buyer: str, order_id: str) -> mp.Order:
        response = self.market(bank_id).GetOrder(mp.GetOrderRequest(order_id=order_id, buyer_account_id=buyer))
        assert response.result == rc.RESULT_CODE_OK, response
        return response.order

    def seller_order(self, bank_id: str, merchant_id: str, order_id: str) -> mp.Order:
        response = self.market(bank_id).GetOrder(mp.GetOrderRequest(order_id=order_id, merchant_id=merchant_id))
        assert response.result == rc.RESULT_CODE_OK, response
        return response.order

    def wait_buyer_state(self, bank_id: str, buyer: str, order_id: str, state: int, *,
                         timeout_s: float = 15.0) -> mp.Order:
        return wait_until(lambda: (o := self.buyer_order(bank_id, buyer, order_id)).state == state and o,
                          timeout_s=timeout_s)

    def wait_seller_state(self, bank_id: str, merchant_id: str, order_id: str, state: int, *,
                          timeout_s: float = 15.0) -> mp.Order:
        return wait_until(lambda: (o := self.seller_order(bank_id, merchant_id, order_id)).state == state and o,
                          timeout_s=timeout_s)

    def escrow(self, bank_id: str) -> int:
        return self.internal(bank_id, "escrow")

    def assert_books(self) -> None:
        for bank_id in self.nodes:
            assert self.books_problems(bank_id) == [], bank_id


@pytest.fixture
def database_url(tmp_path):
    """The clearing on the embedded default; tests/clearing covers PostgreSQL."""
    return f"sqlite:///{tmp_path / 'clearing.db'}"


@pytest.fixture
def market(world, request):
    market = Market(world)
    for bank_id in world.banks:
        market.start_node(bank_id)
    yield market
    closed_at_rest(request, market)


@pytest.fixture
def world_market(world, request):
    """A factory: world_market(**config overrides) starts every node with them."""
    started = []

    def start(**overrides) -> Market:
        market = Market(world)
        for bank_id in world.banks:
            market.start_node(bank_id, **overrides)
        started.append(market)
        return market

    yield start
    with contextlib.ExitStack() as closing:  # Every market is closed, even after one fails its check.
        for market in started:
            closing.callback(closed_at_rest, request, market)
