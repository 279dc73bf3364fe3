"""fedmall.budgets.TokenBucket: a rate and a burst, on a clock the caller passes."""
from __future__ import annotations

import math

from fedmall.budgets import Rate, TokenBucket


def test_bucket__starts_full_pays_and_refills_at_its_rate_up_to_its_burst():
    bucket = TokenBucket(Rate(per_s=10, burst=20), now_s=100.0)
    assert bucket.wait_s(20) == 0.0
    bucket.pay(20)
    assert bucket.wait_s(1) == 0.1
    bucket.refill(100.5)
    assert bucket.wait_s(5) == 0.0 and bucket.wait_s(6) == 0.1
    bucket.refill(1_000.0)
    assert bucket.level == 20.0


def test_bucket__a_cost_above_the_burst_is_never_paid():
    assert TokenBucket(Rate(per_s=10, burst=20), now_s=0.0).wait_s(21) == math.inf


def test_bucket__a_debt_paid_after_the_call_holds_the_next_calls_back():
    bucket = TokenBucket(Rate(per_s=2, burst=5), now_s=0.0)
    bucket.pay(50)  # Known only from the response: 45 below zero.
    assert bucket.wait_s(1) == 23.0
    bucket.refill(10.0)
    assert bucket.level == -25.0 and bucket.wait_s(1) == 13.0


def test_bucket__a_clock_going_back_refills_nothing():
    bucket = TokenBucket(Rate(per_s=10, burst=20), now_s=5.0)
    bucket.pay(10)
    bucket.refill(4.0)
    assert bucket.level == 10.0
