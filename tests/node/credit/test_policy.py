"""The credit policy file: the example loads cleanly; every broken rule is named."""
from __future__ import annotations

import copy
import tomllib

import pytest

from node.credit.policy import Band, PolicyError, load_policy, parse_policy, validate
from tests.support.credit import EXAMPLE_POLICY as EXAMPLE


def example_document() -> dict:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_example_policy__loads_cleanly():
    assert validate(example_document()) == []
    policy = load_policy(EXAMPLE)
    assert (policy.name, policy.currency, policy.ship_within_ms) == ("example-2030-01", "EUR", 72 * 3_600_000)
    assert [grade.name for grade in policy.grades] == ["A", "B", "C", "D", "E"]
    assert policy.grades[-1].points_min is None
    assert (policy.loans.repayment_share_bp, policy.loans.term_days, policy.loans.overdue_after_days,
            policy.loans.non_performing_after_days) == (2_000, 180, 30, 90)
    tenure = policy.scorecard[0]
    assert tenure.feature == "tenure_days"
    assert tenure.bands == (Band(0, 180, 0), Band(180, 365, 10), Band(365, 730, 20), Band(730, None, 25))


def test_validate__gap_between_bands_is_a_missing_band():
    document = example_document()
    document["scorecard"]["tenure_days"]["bands"][1]["at_least"] = 200
    assert validate(document) == ["scorecard.tenure_days.bands[1]: missing band for values 180..<200"]


def test_validate__feature_without_bands_is_a_missing_band():
    document = example_document()
    document["scorecard"]["tenure_days"]["bands"] = []
    assert validate(document) == ["scorecard.tenure_days: missing band (one [[scorecard.tenure_days.bands]] or more)"]


def test_validate__bounded_last_band_leaves_values_without_a_band():
    document = example_document()
    document["scorecard"]["tenure_days"]["bands"][-1]["below"] = 10_000
    assert validate(document) == [
        "scorecard.tenure_days: missing band for values 10000 and up (leave out 'below' in the last band)"]


def test_validate__overlapping_bands():
    document = example_document()
    document["scorecard"]["refund_rate_bp"]["bands"][2]["at_least"] = 300
    document["scorecard"]["sales_trend_bp"]["bands"][1]["below"] = 6_000   # Below the previous band's end.
    assert validate(document) == [
        "scorecard.sales_trend_bp.bands[1]: overlapping bands (below 6000 is not above at_least 7000)",
        "scorecard.refund_rate_bp.bands[2]: overlapping bands (at_least 300 is below the previous band's end 500)"]


def test_validate__negative_multiple_and_other_grade_mistakes():
    document = example_document()
    document["grades"][1]["sales_multiple_bp"] = -5_000
    document["grades"][2]["points_min"] = 70                    # Not below B's 65.
    document["grades"][-1]["points_min"] = 0                    # The catch-all grade has none.
    assert validate(document) == [
        "grade B.sales_multiple_bp: must be 0..1000000, not -5000",
        "grade C.points_min: must be below the previous grade's (65)",
        "grade E: the last grade takes every lower total; leave out points_min"]


def test_validate__unknown_names_missing_keys_and_booleans_are_refused():
    document = example_document()
    document["scorecard"]["tenure_dayz"] = document["scorecard"].pop("tenure_days")
    del document["knockouts"]["refund_rate_bp_max"]
    document["knockouts"]["tenure_days_min"] = True
    document["loans"]["non_performing_after_days"] = 30
    document["currency"] = "eur"
    document["limts"] = {}
    problems = validate(document)
    assert problems[:5] == [
        "policy: unknown key 'limts'",
        "currency: must be an ISO 4217 code such as \"EUR\"",
        "knockouts: missing 'refund_rate_bp_max'",
        "knockouts.tenure_days_min: must be an integer",
        "loans.non_performing_after_days: must be more than overdue_after_days"]
    assert problems[5].startswith("scorecard.tenure_dayz: no such feature (one of tenure_days, ")
    assert len(problems) == 6


def test_validate__empty_document_names_every_missing_part():
    problems = validate({})
    assert "missing table [knockouts]" in problems
    assert "grades: must be one or more [[grades]] tables, best first" in problems
    assert "scorecard: must hold one [scorecard.<feature>] table or more" in problems


def test_load__refuses_a_bad_file_with_every_problem(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(EXAMPLE.read_text(encoding="utf-8").replace("sales_multiple_bp = 15_000",
                                                                "sales_multiple_bp = -1"))
    with pytest.raises(PolicyError) as error:
        load_policy(path)
    assert str(error.value) == f"{path}: 1 problem(s):\n  grade B.sales_multiple_bp: must be 0..1000000, not -1"


def test_load__refuses_malformed_toml_and_a_missing_file(tmp_path):
    with pytest.raises(PolicyError, match=r"^here: not valid TOML"):
        parse_policy("name = ", source="here")
    with pytest.raises(PolicyError, match="cannot read the credit policy"):
        load_policy(tmp_path / "absent.toml")


def test_validate__does_not_change_the_document():
    document = example_document()
    before = copy.deepcopy(document)
    validate(document)
    assert document == before
