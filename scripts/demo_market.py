"""The demo's marketplace act: merchants list products at every bank, simulated shoppers
search the whole federation and buy across banks, merchants ship (or decline an order they
cannot ship), buyers confirm (or the timer does), some cancel before shipping and some get
refunds after completion. The demo
shops in rounds (credit is taken between them); combined() adds the rounds up."""
from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from federation import Federation

from fedmall.v1 import marketplace_pb2 as mp
from fedmall.v1 import money_pb2, node_pb2
from fedmall.v1 import result_pb2 as rc

GOODS = [  # word, title, description, unit price (minor units), category (fedmall.categories)
    ("tea", "Green tea tin", "loose leaf tea for the kitchen", 450, "beverages"),
    ("mug", "Stoneware mug", "a mug for tea or coffee", 1_200, "kitchen"),
    ("pot", "Cast iron pot", "kitchen pot for slow cooking", 3_500, "kitchen"),
    ("bowl", "Rice bowl", "porcelain bowl for the kitchen table", 800, "kitchen"),
    ("kettle", "Steel kettle", "kettle for tea", 2_900, "kitchen"),
    ("spoon", "Wooden spoon", "kitchen spoon in beech", 300, "kitchen"),
]
# The demo's filtered search: "kitchen" in "home" (kitchen is under it, the tea tin's beverages is
# not), 2.00 to 30.00 (not the pot), in stock.
FILTERED_QUERY, FILTERED_CATEGORY, FILTERED_PRICES_MINOR = "kitchen", "home", (200, 3_000)
MERCHANTS_PER_BANK = 2
STOCK = 400
CANCEL_SHARE = 0.10
DECLINE_SHARE = 0.04        # Orders the merchant will not ship: it declines them.
AUTO_CONFIRM_SHARE = 0.10  # Shipped orders the buyer never confirms: the timer does.
REFUND_SHARE = 0.10
FINAL = {mp.ORDER_STATE_COMPLETED, mp.ORDER_STATE_CANCELLED, mp.ORDER_STATE_REFUNDED, mp.ORDER_STATE_FAILED}
FINAL_WAIT_S = 60
POLL_INTERVAL_S = 0.01


@dataclass
class Shop:
    bank_id: str
    merchant_id: str
    settlement_account: str


@dataclass
class MarketResult:
    merchants: int = 0
    products: int = 0
    checkouts: int = 0
    searches: int = 0
    searches_partial: int = 0
    orders: dict[str, mp.Order] = field(default_factory=dict)   # order id -> final order (buyer's view)
    failed_reasons: Counter = field(default_factory=Counter)
    refunds_minor: int = 0

    def counts(self) -> dict:
        states = Counter(mp.OrderState.Name(o.state).removeprefix("ORDER_STATE_").lower() for o in self.orders.values())
        placed = [o for o in self.orders.values() if o.state != mp.ORDER_STATE_FAILED]
        declined = sum(o.problem == rc.RESULT_CODE_ORDER_DECLINED for o in self.orders.values())
        return dict(placed=len(placed), completed=states["completed"], cancelled=states["cancelled"], declined=declined,
                    refunded=states["refunded"], failed=states["failed"],
                    cross_bank=sum(o.seller_bank_id != o.buyer_bank_id for o in placed),
                    failed_by_reason=dict(sorted(self.failed_reasons.items())))

    def money(self) -> dict:
        """Money paid to merchants, inside one bank and between banks, net of refunds."""
        paid = [o for o in self.orders.values() if o.state in (mp.ORDER_STATE_COMPLETED, mp.ORDER_STATE_REFUNDED)]
        inside = sum(o.total.amount_minor - o.refunded.amount_minor for o in paid if o.seller_bank_id == o.buyer_bank_id)
        between = sum(o.total.amount_minor - o.refunded.amount_minor for o in paid if o.seller_bank_id != o.buyer_bank_id)
        return dict(paid_inside_banks_minor=inside, paid_between_banks_minor=between, refunded_minor=self.refunds_minor)


def combined(rounds: list[MarketResult]) -> MarketResult:
    """Several rounds of shopping as one (their order ids never meet: each round has its own seed)."""
    total = MarketResult()
    for result in rounds:
        assert not set(total.orders) & set(result.orders), "two rounds placed the same order"
        total.merchants = max(total.merchants, result.merchants)
        total.products = max(total.products, result.products)
        total.checkouts += result.checkouts
        total.searches += result.searches
        total.searches_partial += result.searches_partial
        total.orders.update(result.orders)
        total.failed_reasons.update(result.failed_reasons)
        total.refunds_minor += result.refunds_minor
    return total


def eur(amount_minor: int, currency: str) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency=currency)


def open_shops(federation: Federation, *, currency: str, rng: random.Random) -> list[Shop]:
    shops = []
    for bank in federation.banks:
        market, teller = federation.market_stub(bank.bank_id), federation.node_stub(bank.bank_id)
        for index in range(MERCHANTS_PER_BANK):
            shop = Shop(bank.bank_id, f"{bank.bank_id}-shop{index + 1}", f"{bank.bank_id}-shop{index + 1}-sales")
            teller.OpenAccount(node_pb2.OpenAccountRequest(account_id=shop.settlement_account,
                                                           holder_name=shop.merchant_id, currency=currency))
            _ok(market.OnboardMerchant(mp.OnboardMerchantRequest(
                merchant_id=shop.merchant_id, legal_name=f"{bank.name} shop {index + 1}",
                contact=f"{shop.merchant_id}@example.test", settlement_account_id=shop.settlement_account)))
            for word, title, description, price, category in rng.sample(GOODS, 3):
                _ok(market.UpsertProduct(mp.UpsertProductRequest(
                    merchant_id=shop.merchant_id, sku=f"{word}-{index + 1}", title=title, description=description,
                    price=eur(price + rng.randrange(0, 5) * 10, currency), stock=STOCK, category_id=category)))
            shops.append(shop)
    return shops


def catalogue_lines(federation: Federation, *, currency: str) -> list[tuple[bool, str]]:
    """The category tree every node shares, and one filtered search with its facets, checked:
    every product found is in the category or under it, in the price range and in stock."""
    market = federation.market_stub(federation.banks[0].bank_id)
    tree = market.ListCategories(mp.ListCategoriesRequest())
    parents = {c.category_id: c.parent_id for c in tree.categories}
    tops = [c.category_id for c in tree.categories if not c.parent_id]
    low, high = FILTERED_PRICES_MINOR
    found = market.Search(mp.SearchRequest(query=FILTERED_QUERY, page_size=20, want_facets=True, filters=mp.SearchFilters(
        category_id=FILTERED_CATEGORY, price_min=eur(low, currency), price_max=eur(high, currency), in_stock=True)))

    def under(category_id: str) -> bool:
        while category_id and category_id != FILTERED_CATEGORY:
            category_id = parents.get(category_id, "")
        return category_id == FILTERED_CATEGORY

    sound = all(under(p.category_id) and low <= p.price.amount_minor <= high and p.stock_available > 0
                for p in found.products) and found.products
    facets = ", ".join(f"{f.category_id} {f.count}" for f in found.facets.categories)
    shown = ", ".join(f"{p.title} {p.price.amount_minor / 100:.2f} at {p.bank_id}" for p in found.products[:4])
    return [(bool(tree.categories), f"category tree version {tree.version}: {len(tree.categories)} categories, "
                                    f"top level {', '.join(tops)}"),
            (bool(sound), f"filtered search '{FILTERED_QUERY}' in {FILTERED_CATEGORY}, {low / 100:.2f}-{high / 100:.2f} "
                          f"{currency}, in stock: {found.total} found across {len(federation.banks)} banks "
                          f"(by category: {facets}); first: {shown}"
                          + (f"; not answering: {', '.join(found.banks_not_answering)}"
                             if found.banks_not_answering else ""))]


def _ok(response) -> None:
    if response.result not in (rc.RESULT_CODE_OK, rc.RESULT_CODE_EXISTS):
        raise RuntimeError(f"marketplace call refused: {rc.ResultCode.Name(response.result)}")


def shop_around(federation: Federation, buyers: list[tuple[str, str]], *, orders: int, seed: int,
                progress: Callable[[int, int], None]) -> MarketResult:
    """Shoppers check out carts until `orders` orders were placed, then each order meets its fate."""
    rng = random.Random(seed)
    result = MarketResult()
    fates: dict[str, str] = {}
    while sum(o.state != mp.ORDER_STATE_FAILED for o in result.orders.values()) < orders:
        bank_id, account = rng.choice(buyers)
        market = federation.market_stub(bank_id)
        found = market.Search(mp.SearchRequest(query=rng.choice(GOODS)[0], page_size=10,
                                               filters=mp.SearchFilters(in_stock=True)))
        result.searches += 1
        result.searches_partial += bool(found.banks_not_answering)
        if not found.products:
            continue
        picks = rng.sample(list(found.products), min(len(found.products), rng.randint(1, 3)))
        response = market.Checkout(mp.CheckoutRequest(
            checkout_id=str(uuid.UUID(int=rng.getrandbits(128))), buyer_account_id=account, items=[
                mp.CartItem(seller_bank_id=p.bank_id, merchant_id=p.merchant_id, sku=p.sku,
                            quantity=rng.randint(1, 2), unit_price=p.price) for p in picks]))
        result.checkouts += 1
        if response.result != rc.RESULT_CODE_OK:
            result.failed_reasons[rc.ResultCode.Name(response.result).removeprefix("RESULT_CODE_")] += 1
            continue
        for order in response.orders:
            result.orders[order.order_id] = order
            if order.state == mp.ORDER_STATE_FAILED:
                result.failed_reasons[rc.ResultCode.Name(order.problem).removeprefix("RESULT_CODE_")] += 1
            else:
                fates[order.order_id] = _fate(rng)
        progress(min(orders, len(fates)), orders)
    for order_id, fate in sorted(fates.items()):
        _play(federation, result.orders[order_id], fate, result, rng)
    for order_id, fate in fates.items():
        result.orders[order_id] = _wait(federation, result.orders[order_id], {FATE_ENDS[fate]})
    return result


FATE_ENDS = {"cancel": mp.ORDER_STATE_CANCELLED, "decline": mp.ORDER_STATE_CANCELLED,
             "auto-confirm": mp.ORDER_STATE_COMPLETED,
             "confirm": mp.ORDER_STATE_COMPLETED, "confirm-and-refund": mp.ORDER_STATE_REFUNDED}


def _fate(rng: random.Random) -> str:
    roll = rng.random()
    if roll < CANCEL_SHARE:
        return "cancel"
    if roll < CANCEL_SHARE + DECLINE_SHARE:
        return "decline"
    if roll < CANCEL_SHARE + DECLINE_SHARE + AUTO_CONFIRM_SHARE:
        return "auto-confirm"
    return "confirm-and-refund" if rng.random() < REFUND_SHARE else "confirm"


def _play(federation: Federation, order: mp.Order, fate: str, result: MarketResult, rng: random.Random) -> None:
    buyer_market = federation.market_stub(order.buyer_bank_id)
    seller_market = federation.market_stub(order.seller_bank_id)
    if fate == "cancel":
        _ok(buyer_market.CancelOrder(mp.CancelOrderRequest(buyer_account_id=order.buyer_account_id,
                                                           order_id=order.order_id)))
        return
    if fate == "decline":
        _ok(seller_market.DeclineOrder(mp.DeclineOrderRequest(merchant_id=order.merchant_id, order_id=order.order_id,
                                                              reason="sold out at the workshop")))
        return
    _ok(seller_market.ShipOrder(mp.ShipOrderRequest(merchant_id=order.merchant_id, order_id=order.order_id,
                                                    tracking_reference=f"TRK-{order.order_id[:8]}")))
    shipped = _wait(federation, order, {mp.ORDER_STATE_SHIPPED} | FINAL | {mp.ORDER_STATE_RECEIVED})
    if fate == "auto-confirm":
        return
    if shipped.state == mp.ORDER_STATE_SHIPPED:
        confirmed = buyer_market.ConfirmReceipt(mp.ConfirmReceiptRequest(buyer_account_id=order.buyer_account_id,
                                                                         order_id=order.order_id))
        if confirmed.result != rc.RESULT_CODE_ORDER_STATE_INVALID:  # Else the auto-confirm timer was first.
            _ok(confirmed)
    if fate == "confirm-and-refund":
        # The merchant refunds once its own bank has heard that the order completed.
        _wait(federation, order, {mp.ORDER_STATE_COMPLETED}, merchant_view=True)
        amount_minor = max(1, order.total.amount_minor // 2)
        _ok(seller_market.RefundOrder(mp.RefundOrderRequest(
            refund_id=str(uuid.UUID(int=rng.getrandbits(128))), merchant_id=order.merchant_id,
            order_id=order.order_id, amount=eur(amount_minor, order.total.currency), reason="damaged in transit")))
        result.refunds_minor += amount_minor


def _order(federation: Federation, order: mp.Order, *, merchant_view: bool = False) -> mp.Order:
    """The order as the buyer's bank sees it, or as the merchant's bank does."""
    if merchant_view:
        return federation.market_stub(order.seller_bank_id).GetOrder(mp.GetOrderRequest(
            order_id=order.order_id, merchant_id=order.merchant_id)).order
    return federation.market_stub(order.buyer_bank_id).GetOrder(mp.GetOrderRequest(
        order_id=order.order_id, buyer_account_id=order.buyer_account_id)).order


def _wait(federation: Federation, order: mp.Order, states: set[int], *, merchant_view: bool = False) -> mp.Order:
    deadline = time.monotonic() + FINAL_WAIT_S
    while time.monotonic() < deadline:
        current = _order(federation, order, merchant_view=merchant_view)
        if current.state in states:
            return current
        time.sleep(POLL_INTERVAL_S)
    raise RuntimeError(f"order {order.order_id} stuck in {mp.OrderState.Name(current.state)}")


def interbank_nets(result: MarketResult) -> dict[str, int]:
    """What the marketplace moved between banks, per bank (received - paid): releases of
    cross-bank orders to the merchants' banks and refunds back to the buyers' banks."""
    nets: Counter = Counter()
    for order in result.orders.values():
        if order.seller_bank_id == order.buyer_bank_id or order.state not in (
                mp.ORDER_STATE_COMPLETED, mp.ORDER_STATE_REFUNDED):
            continue
        moved_minor = order.total.amount_minor - order.refunded.amount_minor
        nets[order.seller_bank_id] += moved_minor
        nets[order.buyer_bank_id] -= moved_minor
    return dict(nets)
