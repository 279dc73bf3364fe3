"""Verified reviews: only a buyer whose order completed rates it, once, and the seller's bank takes
the rating on the buyer's bank's signed word, checked against its own books.

At the buyer's bank (review):
    the buyer names its order, a rating 1..5 and an optional text (fedmall.text rules, at most
    review_text_length_max characters): INVALID_FIELD otherwise; another's order is ORDER_UNKNOWN;
    an order not COMPLETED or REFUNDED is REVIEW_ORDER_NOT_COMPLETED. This bank signs an OrderReview
    (the order, both banks, the merchant, rating, text, time) and keeps it with the order
    (buyer_reviews) in one transaction: the same review again is EXISTS, another is
    REVIEW_ALREADY_GIVEN. Then it delivers the signed bytes to the seller's bank (SubmitReview).
    Unanswered, UNAVAILABLE or REVIEW_ORDER_NOT_COMPLETED (the COMPLETED event may still be on its
    way there) are tried again by deliver_step with a growing pause; any other answer is final.

At the seller's bank (accept):
    opens the envelope with the key the clearing registered for the calling bank (an envelope
    from another signer is refused, fedmall.envelope), checks that it names the caller as buyer
    bank and this bank as seller bank (FORBIDDEN), that the order is its own and the caller's
    (ORDER_UNKNOWN), of that merchant (INVALID_FIELD), COMPLETED or REFUNDED here
    (REVIEW_ORDER_NOT_COMPLETED) and not reviewed before (EXISTS for the same review,
    REVIEW_ALREADY_GIVEN for another). It keeps the signed bytes (seller_reviews) and adds the
    rating to every product of the order (product_ratings), in one transaction.

A merchant's ratings join its trade features (node.credit.features: rating_average_centi,
rating_count).
"""
from __future__ import annotations

import logging
from typing import Callable

import grpc
import sqlalchemy as sa

from fedmall import limits as protocol
from fedmall.database import read_connection
from fedmall.envelope import Envelope, KeyLookup, SigningKey, open_envelope
from fedmall.v1 import envelope_pb2, marketplace_pb2, result_pb2

from node import fields, limits
from node.errors import InvalidRequest, Refused
from node.market import store as tables
from node.market.order_events import MarketplacePeers
from node.market.orders import COMPLETED, REFUNDED, items_from_json

log = logging.getLogger(__name__)

OK = result_pb2.RESULT_CODE_OK
EXISTS = result_pb2.RESULT_CODE_EXISTS
NOT_ANSWERED = result_pb2.RESULT_CODE_UNSPECIFIED
REVIEWABLE_STATES = (COMPLETED, REFUNDED)
# Answers after which the buyer's bank asks again: the seller's bank may not know yet that the order
# completed (its COMPLETED event is on the way), or could not answer.
ASK_AGAIN = (NOT_ANSWERED, result_pb2.RESULT_CODE_UNAVAILABLE, result_pb2.RESULT_CODE_REVIEW_ORDER_NOT_COMPLETED)


def check_review(rating: int, text: str) -> None:
    if not protocol.review_rating_min <= rating <= protocol.review_rating_max:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                             f"a rating is {protocol.review_rating_min} to {protocol.review_rating_max}")
    fields.check_text(text, "review text", length_max=protocol.review_text_length_max)


def same_review(row, *, rating: int, text: str) -> int:
    """EXISTS for the review already kept; a refusal for another one of the same order."""
    if (row.rating, row.text) == (rating, text):
        return EXISTS
    raise Refused(result_pb2.RESULT_CODE_REVIEW_ALREADY_GIVEN,
                  f"order {row.order_id!r} was reviewed already ({row.rating} of 5)")


def retry_pause_ms(attempts: int) -> int:
    return min(limits.order_event_retry_ms_min * 2 ** min(attempts, 20), limits.order_event_retry_ms_max)


class ReviewService:
    def __init__(self, engine: sa.Engine, *, bank_id: str, peers: MarketplacePeers, signing_key: SigningKey,
                 keys: KeyLookup, clock: Callable[[], float]) -> None:
        """signing_key: this bank's (it signs its buyers' reviews); keys: the other banks' registered keys."""
        self._engine = engine
        self._bank_id = bank_id
        self._peers = peers
        self._signing_key = signing_key
        self._keys = keys
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # The buyer's bank -----------------------------------------------------------------------------

    def review(self, *, buyer_account_id: str, order_id: str, rating: int, text: str) -> tuple[int, bool]:
        """Record the buyer's review and deliver it: (OK or EXISTS, whether the seller's bank took it)."""
        fields.check_account_id(buyer_account_id)
        fields.check_uuid(order_id, "order id")
        check_review(rating, text)
        orders, reviews = tables.buyer_orders, tables.buyer_reviews
        now_ms = self._now_ms()
        with self._engine.begin() as connection:
            order = connection.execute(sa.select(orders).where(orders.c.order_id == order_id)).first()
            if order is None or order.buyer_account_id != buyer_account_id:  # Another's: as if it did not exist.
                raise Refused(result_pb2.RESULT_CODE_ORDER_UNKNOWN, f"no order {order_id!r} for {buyer_account_id!r}")
            earlier = connection.execute(sa.select(reviews).where(reviews.c.order_id == order_id)).first()
            if earlier is not None:
                code = same_review(earlier, rating=rating, text=text)
            elif order.state not in REVIEWABLE_STATES:
                raise Refused(result_pb2.RESULT_CODE_REVIEW_ORDER_NOT_COMPLETED,
                              f"order {order_id!r} is {order.state}; only a completed order can be reviewed")
            else:
                code = self._record(connection, order, rating=rating, text=text, now_ms=now_ms)
        return code, self._deliver(order_id)

    def _record(self, connection: sa.Connection, order, *, rating: int, text: str, now_ms: int) -> int:
        envelope = self._signing_key.sign(marketplace_pb2.OrderReview(
            order_id=order.order_id, buyer_bank_id=self._bank_id, seller_bank_id=order.seller_bank_id,
            merchant_id=order.merchant_id, rating=rating, text=text, reviewed_at_unix_ms=now_ms))
        try:
            with connection.begin_nested():
                connection.execute(tables.buyer_reviews.insert().values(
                    order_id=order.order_id, rating=rating, text=text,
                    envelope=envelope.SerializeToString(deterministic=True), delivered=False,
                    answer_result=NOT_ANSWERED, attempts=0, next_attempt_at_unix_ms=now_ms, reviewed_at_unix_ms=now_ms))
            return OK
        except sa.exc.IntegrityError:  # The same order reviewed by a racing call (PostgreSQL).
            earlier = connection.execute(sa.select(tables.buyer_reviews).where(
                tables.buyer_reviews.c.order_id == order.order_id)).one()
            return same_review(earlier, rating=rating, text=text)

    def _deliver(self, order_id: str) -> bool:
        """Send the kept review to the seller's bank once; True when it was taken (now or before)."""
        reviews, orders = tables.buyer_reviews, tables.buyer_orders
        with read_connection(self._engine) as connection:
            row = connection.execute(sa.select(reviews, orders.c.seller_bank_id).join(
                orders, orders.c.order_id == reviews.c.order_id).where(reviews.c.order_id == order_id)).one()
        if row.delivered or row.answer_result not in ASK_AGAIN:
            return row.delivered
        envelope = envelope_pb2.Envelope.FromString(row.envelope)
        try:
            response = self._peers.marketplace(row.seller_bank_id).SubmitReview(
                marketplace_pb2.SubmitReviewRequest(review=envelope), timeout=limits.rpc_timeout_ms / 1000)
            code = response.result
        except grpc.RpcError as error:
            self._peers.call_failed()
            log.info("review of order %s: %s did not answer (%s)", order_id, row.seller_bank_id, error.code().name)
            code = result_pb2.RESULT_CODE_UNAVAILABLE
        delivered = code in (OK, EXISTS)
        now_ms = self._now_ms()
        with self._engine.begin() as connection:
            connection.execute(reviews.update().where(reviews.c.order_id == order_id, ~reviews.c.delivered).values(
                delivered=delivered, answer_result=code, attempts=reviews.c.attempts + 1,
                next_attempt_at_unix_ms=now_ms + retry_pause_ms(row.attempts)))
        if not delivered and code not in ASK_AGAIN:
            log.warning("review of order %s refused by %s: %d", order_id, row.seller_bank_id, code)
        return delivered

    def deliver_step(self) -> bool:
        """Reviews not delivered yet whose pause is over: send each again. True when more are waiting."""
        reviews = tables.buyer_reviews
        with read_connection(self._engine) as connection:
            order_ids = connection.scalars(sa.select(reviews.c.order_id).where(
                ~reviews.c.delivered, reviews.c.answer_result.in_(ASK_AGAIN),
                reviews.c.next_attempt_at_unix_ms <= self._now_ms())
                .order_by(reviews.c.next_attempt_at_unix_ms).limit(limits.reviews_per_step_max)).all()
        for order_id in order_ids:
            self._deliver(order_id)
        return len(order_ids) == limits.reviews_per_step_max

    # The seller's bank ----------------------------------------------------------------------------

    def accept(self, *, sender_bank_id: str, envelope: Envelope | None) -> int:
        """A buyer bank's signed review of one of this bank's orders: OK, EXISTS, or a refusal."""
        if envelope is None or not envelope.payload:
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "no review")
        review = open_envelope(envelope, marketplace_pb2.OrderReview, expected_signer=sender_bank_id, keys=self._keys)
        if review.buyer_bank_id != sender_bank_id or review.seller_bank_id != self._bank_id:
            raise Refused(result_pb2.RESULT_CODE_FORBIDDEN,
                          f"the review names {review.buyer_bank_id!r} to {review.seller_bank_id!r}")
        fields.check_id(review.order_id, "order id")
        check_review(review.rating, review.text)
        orders, reviews = tables.seller_orders, tables.seller_reviews
        with self._engine.begin() as connection:
            order = connection.execute(sa.select(orders).where(orders.c.order_id == review.order_id)).first()
            if order is None or order.buyer_bank_id != sender_bank_id:  # No oracle for another bank's orders.
                raise Refused(result_pb2.RESULT_CODE_ORDER_UNKNOWN, f"no order {review.order_id!r} of {sender_bank_id}")
            if order.merchant_id != review.merchant_id:
                raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                                     f"order {review.order_id!r} is not merchant {review.merchant_id!r}'s")
            earlier = connection.execute(sa.select(reviews).where(reviews.c.order_id == review.order_id)).first()
            if earlier is not None:
                return same_review(earlier, rating=review.rating, text=review.text)
            if order.state not in REVIEWABLE_STATES:
                raise Refused(result_pb2.RESULT_CODE_REVIEW_ORDER_NOT_COMPLETED,
                              f"order {review.order_id!r} is {order.state} here")
            try:
                with connection.begin_nested():
                    connection.execute(reviews.insert().values(
                        order_id=order.order_id, merchant_id=order.merchant_id, buyer_bank_id=sender_bank_id,
                        rating=review.rating, text=review.text, envelope=envelope.SerializeToString(deterministic=True),
                        received_at_unix_ms=self._now_ms()))
            except sa.exc.IntegrityError:  # A racing delivery of the same order (PostgreSQL).
                earlier = connection.execute(sa.select(reviews).where(reviews.c.order_id == review.order_id)).one()
                return same_review(earlier, rating=review.rating, text=review.text)
            for sku in sorted({item.sku for item in items_from_json(order.items)}):
                add_rating(connection, merchant_id=order.merchant_id, sku=sku, rating=review.rating)
        return OK

    def ratings_of(self, merchant_id: str) -> tuple[int, int]:
        """(count, sum) of the merchant's verified ratings."""
        with read_connection(self._engine) as connection:
            return merchant_ratings(connection, merchant_id)


def add_rating(connection: sa.Connection, *, merchant_id: str, sku: str, rating: int) -> None:
    """sum += rating, count += 1 for one product; the row is made on its first rating."""
    ratings = tables.product_ratings
    where = (ratings.c.merchant_id == merchant_id, ratings.c.sku == sku)
    add = dict(rating_sum=ratings.c.rating_sum + rating, rating_count=ratings.c.rating_count + 1)
    if connection.execute(ratings.update().where(*where).values(**add)).rowcount:
        return
    try:
        with connection.begin_nested():
            connection.execute(ratings.insert().values(merchant_id=merchant_id, sku=sku, rating_sum=rating,
                                                       rating_count=1))
    except sa.exc.IntegrityError:  # Made by a racing review of another order (PostgreSQL).
        connection.execute(ratings.update().where(*where).values(**add))


def merchant_ratings(connection: sa.Connection, merchant_id: str) -> tuple[int, int]:
    """(count, sum) of the verified reviews of the merchant's orders at this bank."""
    reviews = tables.seller_reviews
    count, total = connection.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(reviews.c.rating), 0))
                                      .where(reviews.c.merchant_id == merchant_id)).one()
    return count, int(total)


__all__ = ["ReviewService", "check_review", "merchant_ratings"]
