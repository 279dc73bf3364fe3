"""Consumer instalments as pure rules: the policy file (node.credit.consumer_policy) and a plan's
arithmetic (node.credit.instalment_plans): fee, schedule, refusals in order, a short balance, a
pay-down."""
from __future__ import annotations

import tomllib
from dataclasses import replace

import pytest

from fedmall.v1 import result_pb2 as rc

from node.credit import instalment_plans as plans
from node.credit.consumer_policy import load_consumer_policy, parse_consumer_policy, validate
from node.credit.policy import PolicyError
from node.credit.features import DAY_MS
from tests.support.credit import CONSUMER_EXAMPLE_POLICY

POLICY = load_consumer_policy(CONSUMER_EXAMPLE_POLICY)
GOOD = plans.BuyerHistory(account_age_days=400, inflows_minor_90d=200_000, owed_minor=0, plans_in_arrears=0)


def test_policy__the_example_loads_with_its_terms_in_order():
    assert [(term.instalments, term.fee_bp) for term in POLICY.terms] == [(3, 0), (6, 250), (12, 600)]
    assert (POLICY.limit_minor(200_000), POLICY.limit_minor(10_000_000)) == (100_000, 300_000)
    assert POLICY.term(4) is None


def test_policy__every_problem_is_named():
    document = tomllib.loads(CONSUMER_EXAMPLE_POLICY.read_text(encoding="utf-8"))
    document["terms"].append({"instalments": 3, "fee_bp": 10_001})
    document["collection"]["default_after_days"] = 5
    document["eligibility"]["colour"] = "blue"
    del document["limit"]["limit_max_minor"]
    assert validate(document) == [
        "eligibility: unknown key 'colour'", "limit: missing 'limit_max_minor'",
        "collection.default_after_days: must be more than late_after_days",
        "terms[3]: 3 instalments offered twice", "terms[3].fee_bp: must be 0..10000, not 10001"]
    with pytest.raises(PolicyError, match="not valid TOML"):
        parse_consumer_policy("name = ", source="x.toml")


def test_schedule__monthly_and_adding_up_to_what_is_owed():
    dues = plans.schedule(owed_minor=10_000, opened_at_ms=0, instalments=3)
    assert [(due.number, due.due_at_unix_ms // DAY_MS, due.amount_minor) for due in dues] == [
        (1, 30, 3_333), (2, 60, 3_333), (3, 90, 3_334)]
    assert plans.fee_of(12_345, 250) == 308


def test_refusal__term_then_eligibility_then_limit():
    def code(policy=POLICY, history=GOOD, instalments=3, owed_minor=1_000):
        refusal = plans.refusal(policy, history, instalments=instalments, owed_minor=owed_minor)
        return refusal and refusal.code

    assert code() is None
    assert code(instalments=4) == code(policy=None) == rc.RESULT_CODE_INSTALMENTS_TERM_NOT_OFFERED
    assert code(history=replace(GOOD, account_age_days=29)) == rc.RESULT_CODE_INSTALMENTS_NOT_ELIGIBLE
    assert code(history=replace(GOOD, inflows_minor_90d=49_999)) == rc.RESULT_CODE_INSTALMENTS_NOT_ELIGIBLE
    assert code(history=replace(GOOD, plans_in_arrears=1)) == rc.RESULT_CODE_INSTALMENTS_NOT_ELIGIBLE
    assert code(owed_minor=100_000) is None and code(owed_minor=100_001) == rc.RESULT_CODE_INSTALMENTS_LIMIT_EXCEEDED
    assert code(history=replace(GOOD, owed_minor=99_000), owed_minor=1_001) == \
        rc.RESULT_CODE_INSTALMENTS_LIMIT_EXCEEDED
    # Ineligible before over the limit: the reason a buyer can act on comes first.
    assert code(history=replace(GOOD, account_age_days=0), owed_minor=10**9) == rc.RESULT_CODE_INSTALMENTS_NOT_ELIGIBLE


def test_short_balance__retry_then_late_once_then_default():
    def short(days: int, *, was_late: bool = False) -> plans.ShortBalance:
        return plans.after_short_balance(due_at_ms=0, was_late=was_late, now_ms=days * DAY_MS, retry_after_ms=1_000,
                                         late_after_days=5, late_fee_minor=1_000, default_after_days=60)

    assert short(4) == plans.ShortBalance(4 * DAY_MS + 1_000, late=False, add_late_fee_minor=0, defaulted=False)
    assert short(5) == plans.ShortBalance(5 * DAY_MS + 1_000, late=True, add_late_fee_minor=1_000, defaulted=False)
    assert short(6, was_late=True).add_late_fee_minor == 0
    assert short(60, was_late=True).defaulted


def test_shrink__from_the_last_instalment_backwards():
    assert plans.shrink([2_050, 2_050, 2_050], 2_500) == [2_050, 1_600, 0]
    assert plans.shrink([100], 100) == [0]
    with pytest.raises(AssertionError):
        plans.shrink([100], 101)
