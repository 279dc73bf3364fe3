"""Verified reviews through real nodes over mTLS, on SQLite and on PostgreSQL: buyers at bank A
(across banks) and at bank B (the merchant's own bank) rate orders that completed; the review
travels to bank B signed by the buyer's bank; the rating shows on the product, in search and in
the merchant's credit features. Every refusal (an order not completed, a second review, bad input,
another's order, a review signed or sent by the wrong bank) changes nothing."""
from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from fedmall import tls
from fedmall.pki import Identity
from fedmall.v1 import credit_pb2 as cr, marketplace_pb2 as mp, marketplace_pb2_grpc
from fedmall.v1 import result_pb2 as rc

from node.market import store as market_tables
from tests.acceptance.conftest import closed_at_rest
from tests.acceptance.credit_world import ANN, BOB, MERCHANT, PRICE, SELLER, credit, provision, sell
from tests.node.market.world import Market
from tests.support.credit import permissive_policy
from tests.support.federation import wait_until


@pytest.fixture(params=["sqlite", "postgresql"])
def market(request, world, tmp_path):
    market = Market(world)
    for bank_id in world.banks:
        overrides = dict(credit_policy_path=permissive_policy(tmp_path))
        if request.param == "postgresql":
            overrides["database_url"] = request.getfixturevalue("postgres_cluster").new_database()
        market.start_node(bank_id, **overrides)
    yield provision(market)
    closed_at_rest(request, market)


def review(market: Market, buyer: tuple[str, str], order_id: str, rating: int, text: str = "") -> mp.ReviewOrderResponse:
    bank_id, account = buyer
    return market.market(bank_id).ReviewOrder(mp.ReviewOrderRequest(
        buyer_account_id=account, order_id=order_id, rating=rating, text=text))


def peer(market: Market, caller: str, target: str = SELLER) -> marketplace_pb2_grpc.MarketplacePeerServiceStub:
    """target's MarketplacePeerService, called with caller's certificate."""
    channel = tls.secure_channel(f"127.0.0.1:{market.world.banks[target].node_port}", market.world.banks[caller].tls,
                                 server=Identity(target, "bank"))
    market.world._channels.append(channel)
    return marketplace_pb2_grpc.MarketplacePeerServiceStub(channel)


def signed_review(market: Market, signer: str, order_id: str, *, rating: int, buyer_bank_id: str | None = None,
                  text: str = ""):
    return market.world.banks[signer].signing_key.sign(mp.OrderReview(
        order_id=order_id, buyer_bank_id=buyer_bank_id or signer, seller_bank_id=SELLER, merchant_id=MERCHANT,
        rating=rating, text=text, reviewed_at_unix_ms=int(time.time() * 1000)))


def rows(market: Market) -> dict:
    """Every review and rating kept at every bank."""
    found = {}
    for bank_id, node in market.nodes.items():
        with node.engine.connect() as connection:
            for table in (market_tables.buyer_reviews, market_tables.seller_reviews, market_tables.product_ratings):
                found[bank_id, table.name] = sorted(tuple(row) for row in connection.execute(sa.select(table)))
    return found


def loaf(market: Market, bank_id: str = "bank-a") -> mp.Product:
    [product] = [p for p in market.market(bank_id).Search(mp.SearchRequest(query="sourdough", page_size=10)).products
                 if p.sku == "loaf"]
    return product


def test_reviews__only_completed_orders_once_each_signed_by_the_buyers_bank(market):
    paid = market.checkout(*ANN, [(SELLER, MERCHANT, "loaf", 1, PRICE)]).orders[0]
    assert paid.state == mp.ORDER_STATE_PAID
    before = rows(market)
    refused = review(market, ANN, paid.order_id, 5)
    assert refused.result == rc.RESULT_CODE_REVIEW_ORDER_NOT_COMPLETED, refused
    assert rows(market) == before

    across = sell(market, ANN, paid_minor=PRICE)
    at_home = sell(market, BOB, paid_minor=PRICE)
    before = rows(market)
    for bad in (review(market, ANN, across, 0), review(market, ANN, across, 6),
                review(market, ANN, across, 4, "line\nbreak"), review(market, ANN, across, 4, "x" * 1_001)):
        assert bad.result == rc.RESULT_CODE_INVALID_FIELD, bad
    assert review(market, ("bank-a", "nobody"), across, 4).result == rc.RESULT_CODE_ORDER_UNKNOWN
    assert review(market, BOB, across, 4).result == rc.RESULT_CODE_ORDER_UNKNOWN   # Bob banks at B.
    assert rows(market) == before

    first = review(market, ANN, across, 4, "Crusty, well packed")
    assert (first.result, first.delivered) == (rc.RESULT_CODE_OK, True), first
    again = review(market, ANN, across, 4, "Crusty, well packed")
    assert (again.result, again.delivered) == (rc.RESULT_CODE_EXISTS, True)
    before = rows(market)
    second = review(market, ANN, across, 1, "changed my mind")
    assert second.result == rc.RESULT_CODE_REVIEW_ALREADY_GIVEN, second
    assert rows(market) == before
    assert review(market, BOB, at_home, 5).delivered   # Inside bank B: its node calls itself.

    # The rating shows on the product at bank B and in search from any bank.
    mine = market.products(SELLER, MERCHANT)["loaf"]
    assert (mine.rating_count, mine.rating_average_centi) == (2, 450)
    assert (loaf(market).rating_count, loaf(market).rating_average_centi) == (2, 450)
    # It joins the merchant's trade features.
    offer = credit(market).GetCreditOffer(cr.GetCreditOfferRequest(merchant_id=MERCHANT))
    assert (offer.offer.features["rating_count"], offer.offer.features["rating_average_centi"]) == (2, 450)
    assert {line.feature: line.points for line in offer.offer.scores}["rating_average_centi"] == 10
    # The seller's bank kept the buyer bank's signed bytes.
    with market.nodes[SELLER].engine.connect() as connection:
        kept = connection.execute(sa.select(market_tables.seller_reviews).where(
            market_tables.seller_reviews.c.order_id == across)).one()
    assert (kept.buyer_bank_id, kept.rating, kept.text) == ("bank-a", 4, "Crusty, well packed")


def test_reviews__the_sellers_bank_refuses_what_the_buyers_bank_did_not_sign_or_already_sent(market):
    across = sell(market, ANN, paid_minor=PRICE)
    assert review(market, ANN, across, 4).delivered
    before = rows(market)
    # Bank A's second word on the same order, properly signed: still one review per order.
    answer = peer(market, "bank-a").SubmitReview(mp.SubmitReviewRequest(
        review=signed_review(market, "bank-a", across, rating=1)))
    assert answer.result == rc.RESULT_CODE_REVIEW_ALREADY_GIVEN, answer
    # Bank C reviews bank A's order: not its order (no oracle for others' orders).
    answer = peer(market, "bank-c").SubmitReview(mp.SubmitReviewRequest(
        review=signed_review(market, "bank-c", across, rating=1)))
    assert answer.result == rc.RESULT_CODE_ORDER_UNKNOWN, answer
    # Bank C forwards a review bank A signed: the signer is not the caller.
    answer = peer(market, "bank-c").SubmitReview(mp.SubmitReviewRequest(
        review=signed_review(market, "bank-a", across, rating=1)))
    assert answer.result == rc.RESULT_CODE_SIGNER_NOT_PEER, answer
    # Bank C signs a review in bank A's name.
    answer = peer(market, "bank-c").SubmitReview(mp.SubmitReviewRequest(
        review=signed_review(market, "bank-c", across, rating=1, buyer_bank_id="bank-a")))
    assert answer.result == rc.RESULT_CODE_FORBIDDEN, answer
    # A review of an order that has not completed at bank B.
    paid = market.checkout(*ANN, [(SELLER, MERCHANT, "loaf", 1, PRICE)]).orders[0]
    answer = peer(market, "bank-a").SubmitReview(mp.SubmitReviewRequest(
        review=signed_review(market, "bank-a", paid.order_id, rating=5)))
    assert answer.result == rc.RESULT_CODE_REVIEW_ORDER_NOT_COMPLETED, answer
    assert peer(market, "bank-a").SubmitReview(mp.SubmitReviewRequest()).result == rc.RESULT_CODE_INVALID_FIELD
    assert rows(market) == before
    assert market.market(*ANN[:1]).CancelOrder(mp.CancelOrderRequest(
        buyer_account_id=ANN[1], order_id=paid.order_id)).order.state == mp.ORDER_STATE_CANCELLED


def test_reviews__one_the_sellers_bank_could_not_take_yet_is_delivered_later(market):
    across = sell(market, ANN, paid_minor=PRICE)
    market.stop_node(SELLER)
    answer = review(market, ANN, across, 3, "fine")
    assert (answer.result, answer.delivered) == (rc.RESULT_CODE_OK, False)
    market.start_node(SELLER, credit_policy_path=market.nodes["bank-a"].config.credit_policy_path,
                      database_url=market.database_urls[SELLER])
    wait_until(lambda: market.products(SELLER, MERCHANT)["loaf"].rating_count == 1, timeout_s=20)
    assert review(market, ANN, across, 3, "fine").delivered
    assert uuid.UUID(across)
