"""The bank's merchant credit policy: data in a TOML file, not code constants.

    name = "..."                       shown on every decision
    currency = "EUR"                   every *_minor amount below is in this currency
    ship_within_hours = 72             an order shipped later than this after it was placed is late

    [knockouts]                        any one declines the merchant, with the reason; so do a
    tenure_days_min = 90               suspended merchant and an overdue or non-performing loan
    gross_sales_minor_90d_min = 300000
    refund_rate_bp_max = 1500

    [limit]                            limit = min(monthly sales x grade multiple, grade cap),
    round_down_to_minor = 1000         rounded down; monthly sales = net_sales_minor_90d // 3

    [loans]                            the terms every new loan is written with (node.credit.loans)
    repayment_share_bp = 2000          share of each incoming settlement credit that repays
    term_days = 180                    the loan should be repaid by then (the schedule's last date)
    overdue_after_days = 30            days without a repayment (or past the term) before overdue
    non_performing_after_days = 90     ... and non-performing

    [[grades]]                         best first; a total of at least points_min earns the grade;
    name = "A"                         the last grade has no points_min and takes every lower total
    points_min = 120
    sales_multiple_bp = 20000          2 x monthly sales
    limit_max_minor = 5000000
    fee_bp = 150                       flat fee on the principal

    [scorecard.tenure_days]            one table per scored feature (node.credit.features names)
    weight = 2                         contribution = weight x band points
    [[scorecard.tenure_days.bands]]    bands from 0 up, each [at_least, below); at_least may be left
    below = 180                        out (it is the previous band's below, 0 for the first); the
    points = 0                         last band has no below. Gaps and overlaps are refused.

validate() is pure and returns every problem; load_policy() refuses a file with any.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from fedmall import limits as protocol

from node.credit.features import BASIS_POINTS, SCORABLE_FEATURES


class PolicyError(ValueError):
    """The policy file is unreadable or breaks a rule; the message lists what to fix."""


@dataclass(frozen=True, slots=True)
class Band:
    at_least: int           # Inclusive.
    below: int | None       # Exclusive; None: no upper bound.
    points: int

    def holds(self, value: int) -> bool:
        return self.at_least <= value and (self.below is None or value < self.below)

    def label(self) -> str:
        return f"{self.at_least}+" if self.below is None else f"{self.at_least}..<{self.below}"


@dataclass(frozen=True, slots=True)
class FeatureScore:
    feature: str
    weight: int
    bands: tuple[Band, ...]


@dataclass(frozen=True, slots=True)
class Grade:
    name: str
    points_min: int | None  # None: the last grade, every total below the others.
    sales_multiple_bp: int
    limit_max_minor: int
    fee_bp: int


@dataclass(frozen=True, slots=True)
class Knockouts:
    tenure_days_min: int
    gross_sales_minor_90d_min: int
    refund_rate_bp_max: int


@dataclass(frozen=True, slots=True)
class LoanTerms:
    repayment_share_bp: int
    term_days: int
    overdue_after_days: int
    non_performing_after_days: int


@dataclass(frozen=True, slots=True)
class CreditPolicy:
    name: str
    currency: str
    ship_within_hours: int
    knockouts: Knockouts
    limit_round_down_to_minor: int
    loans: LoanTerms
    grades: tuple[Grade, ...]               # Best first.
    scorecard: tuple[FeatureScore, ...]     # In file order.

    @property
    def ship_within_ms(self) -> int:
        return self.ship_within_hours * 3_600_000


_TOP_KEYS = {"name", "currency", "ship_within_hours", "knockouts", "limit", "loans", "grades", "scorecard"}
_KNOCKOUT_KEYS = ("tenure_days_min", "gross_sales_minor_90d_min", "refund_rate_bp_max")
_LOAN_KEYS = ("repayment_share_bp", "term_days", "overdue_after_days", "non_performing_after_days")
_GRADE_KEYS = {"name", "points_min", "sales_multiple_bp", "limit_max_minor", "fee_bp"}
_points_abs_max = 1_000_000
_weight_max = 1_000
_days_max = 36_500


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(problems: list[str], where: str, value: Any, *, low: int, high: int) -> bool:
    if not _is_int(value):
        problems.append(f"{where}: must be an integer")
        return False
    if not low <= value <= high:
        problems.append(f"{where}: must be {low}..{high}, not {value}")
        return False
    return True


def check_keys(problems: list[str], where: str, table: dict, *, allowed: set[str] | tuple[str, ...],
                required: set[str] | tuple[str, ...]) -> None:
    for key in sorted(set(table) - set(allowed)):
        problems.append(f"{where}: unknown key {key!r}")
    for key in required:
        if key not in table:
            problems.append(f"{where}: missing {key!r}")


def table(problems: list[str], document: dict, key: str) -> dict:
    value = document.get(key)
    if not isinstance(value, dict):
        problems.append(f"missing table [{key}]")
        return {}
    return value


def check_name_and_currency(problems: list[str], document: dict) -> None:
    """Every policy file (merchant, consumer) starts with its name and its currency."""
    if not isinstance(document.get("name"), str) or not document["name"].strip():
        problems.append("name: must be a non-empty string")
    currency = document.get("currency")
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isascii() and currency.isupper()):
        problems.append("currency: must be an ISO 4217 code such as \"EUR\"")


def validate(document: dict) -> list[str]:
    """Every problem of a parsed policy document, in reading order; [] when it is sound."""
    problems: list[str] = []
    check_keys(problems, "policy", document, allowed=_TOP_KEYS, required=())
    check_name_and_currency(problems, document)
    check_int(problems, "ship_within_hours", document.get("ship_within_hours"), low=1, high=24 * 365)

    knockouts = table(problems, document, "knockouts")
    check_keys(problems, "knockouts", knockouts, allowed=_KNOCKOUT_KEYS, required=_KNOCKOUT_KEYS)
    for key, high in (("tenure_days_min", _days_max), ("gross_sales_minor_90d_min", protocol.amount_minor_max),
                      ("refund_rate_bp_max", BASIS_POINTS)):
        if key in knockouts:
            check_int(problems, f"knockouts.{key}", knockouts[key], low=0, high=high)

    limit = table(problems, document, "limit")
    check_keys(problems, "limit", limit, allowed=("round_down_to_minor",), required=("round_down_to_minor",))
    if "round_down_to_minor" in limit:
        check_int(problems, "limit.round_down_to_minor", limit["round_down_to_minor"], low=1,
                   high=protocol.amount_minor_max)

    loans = table(problems, document, "loans")
    check_keys(problems, "loans", loans, allowed=_LOAN_KEYS, required=_LOAN_KEYS)
    if "repayment_share_bp" in loans:
        check_int(problems, "loans.repayment_share_bp", loans["repayment_share_bp"], low=1, high=BASIS_POINTS)
    if "term_days" in loans:
        check_int(problems, "loans.term_days", loans["term_days"], low=1, high=_days_max)
    overdue_ok = "overdue_after_days" in loans and check_int(
        problems, "loans.overdue_after_days", loans["overdue_after_days"], low=1, high=_days_max)
    non_performing_ok = "non_performing_after_days" in loans and check_int(
        problems, "loans.non_performing_after_days", loans["non_performing_after_days"], low=1, high=_days_max)
    if overdue_ok and non_performing_ok and loans["non_performing_after_days"] <= loans["overdue_after_days"]:
        problems.append("loans.non_performing_after_days: must be more than overdue_after_days")

    problems.extend(_grade_problems(document.get("grades")))
    problems.extend(_scorecard_problems(document.get("scorecard")))
    return problems


def _grade_problems(grades: Any) -> list[str]:
    problems: list[str] = []
    if not isinstance(grades, list) or not grades or not all(isinstance(grade, dict) for grade in grades):
        return ["grades: must be one or more [[grades]] tables, best first"]
    names: set[str] = set()
    previous_min: int | None = None
    for index, grade in enumerate(grades):
        name = grade.get("name")
        where = f"grades[{index}]" if not isinstance(name, str) else f"grade {name}"
        last = index == len(grades) - 1
        check_keys(problems, where, grade, allowed=_GRADE_KEYS,
                    required=("name", "sales_multiple_bp", "limit_max_minor", "fee_bp"))
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}: name must be a non-empty string")
        elif name in names:
            problems.append(f"{where}: named twice")
        else:
            names.add(name)
        if "sales_multiple_bp" in grade:
            check_int(problems, f"{where}.sales_multiple_bp", grade["sales_multiple_bp"], low=0,
                       high=100 * BASIS_POINTS)
        if "limit_max_minor" in grade:
            check_int(problems, f"{where}.limit_max_minor", grade["limit_max_minor"], low=0,
                       high=protocol.amount_minor_max)
        if "fee_bp" in grade:
            check_int(problems, f"{where}.fee_bp", grade["fee_bp"], low=0, high=BASIS_POINTS)
        if last:
            if "points_min" in grade:
                problems.append(f"{where}: the last grade takes every lower total; leave out points_min")
            continue
        if "points_min" not in grade:
            problems.append(f"{where}: missing 'points_min' (only the last grade leaves it out)")
        elif check_int(problems, f"{where}.points_min", grade["points_min"], low=-_points_abs_max * _weight_max,
                        high=_points_abs_max * _weight_max):
            if previous_min is not None and grade["points_min"] >= previous_min:
                problems.append(f"{where}.points_min: must be below the previous grade's ({previous_min})")
            previous_min = grade["points_min"]
    return problems


def _scorecard_problems(scorecard: Any) -> list[str]:
    if not isinstance(scorecard, dict) or not scorecard:
        return ["scorecard: must hold one [scorecard.<feature>] table or more"]
    problems: list[str] = []
    for feature, entry in scorecard.items():
        where = f"scorecard.{feature}"
        if feature not in SCORABLE_FEATURES:
            problems.append(f"{where}: no such feature (one of {', '.join(SCORABLE_FEATURES)})")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a table with weight and bands")
            continue
        check_keys(problems, where, entry, allowed=("weight", "bands"), required=("weight", "bands"))
        if "weight" in entry:
            check_int(problems, f"{where}.weight", entry["weight"], low=0, high=_weight_max)
        if "bands" in entry:
            problems.extend(_band_problems(where, entry["bands"]))
    return problems


def _band_problems(where: str, bands: Any) -> list[str]:
    """Bands must cover 0 and up exactly once: every value falls in one band, so the score is defined."""
    if not isinstance(bands, list) or not bands or not all(isinstance(band, dict) for band in bands):
        return [f"{where}: missing band (one [[{where}.bands]] or more)"]
    problems: list[str] = []
    start = 0
    for index, band in enumerate(bands):
        here = f"{where}.bands[{index}]"
        last = index == len(bands) - 1
        check_keys(problems, here, band, allowed=("at_least", "below", "points"), required=("points",))
        if "points" in band:
            check_int(problems, f"{here}.points", band["points"], low=-_points_abs_max, high=_points_abs_max)
        at_least = band.get("at_least", start)
        if not _is_int(at_least):
            problems.append(f"{here}.at_least: must be an integer")
            return problems
        if at_least > start:
            problems.append(f"{here}: missing band for values {start}..<{at_least}")
        elif at_least < start:
            problems.append(f"{here}: overlapping bands (at_least {at_least} is below the previous band's end "
                            f"{start})")
        below = band.get("below")
        if below is None:
            if not last:
                problems.append(f"{here}: only the last band may leave out 'below'")
            return problems
        if not _is_int(below):
            problems.append(f"{here}.below: must be an integer")
            return problems
        if below <= at_least:
            problems.append(f"{here}: overlapping bands (below {below} is not above at_least {at_least})")
        start = max(below, start)
    problems.append(f"{where}: missing band for values {start} and up (leave out 'below' in the last band)")
    return problems


def policy_from_document(document: dict) -> CreditPolicy:
    """A CreditPolicy from a document validate() passed."""
    assert validate(document) == [], "validate the document first"
    knockouts, loans = document["knockouts"], document["loans"]
    return CreditPolicy(
        name=document["name"],
        currency=document["currency"],
        ship_within_hours=document["ship_within_hours"],
        knockouts=Knockouts(**{key: knockouts[key] for key in _KNOCKOUT_KEYS}),
        limit_round_down_to_minor=document["limit"]["round_down_to_minor"],
        loans=LoanTerms(**{key: loans[key] for key in _LOAN_KEYS}),
        grades=tuple(Grade(name=grade["name"], points_min=grade.get("points_min"),
                           sales_multiple_bp=grade["sales_multiple_bp"], limit_max_minor=grade["limit_max_minor"],
                           fee_bp=grade["fee_bp"]) for grade in document["grades"]),
        scorecard=tuple(FeatureScore(feature=feature, weight=entry["weight"], bands=_bands(entry["bands"]))
                        for feature, entry in document["scorecard"].items()))


def _bands(bands: list[dict]) -> tuple[Band, ...]:
    result, start = [], 0
    for band in bands:
        result.append(Band(at_least=band.get("at_least", start), below=band.get("below"), points=band["points"]))
        start = band.get("below", start)
    return tuple(result)


def checked_document(text: str, *, source: str, problems_of: Callable[[dict], list[str]]) -> dict:
    """A TOML document problems_of finds sound; PolicyError naming source and every problem otherwise.
    The merchant and the consumer policy (node.credit.consumer_policy) are read through it."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{source}: not valid TOML: {error}") from None
    problems = problems_of(document)
    if problems:
        raise PolicyError(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return document


def read_policy_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError(f"{path}: cannot read the {what}: {error.strerror}") from None


def parse_policy(text: str, *, source: str) -> CreditPolicy:
    """A policy from TOML text; PolicyError naming source and every problem otherwise."""
    return policy_from_document(checked_document(text, source=source, problems_of=validate))


def load_policy(path: Path) -> CreditPolicy:
    return parse_policy(read_policy_text(path, "credit policy"), source=str(path))
