"""The bank's consumer credit policy for instalments at checkout: data in a TOML file.

    name = "..."                       shown on every plan
    currency = "EUR"                   every *_minor amount below is in this currency

    [eligibility]                      any one declines the buyer (INSTALMENTS_NOT_ELIGIBLE), with
    account_age_days_min = 30          the reason; so does a plan of the buyer LATE or DEFAULTED
    inflows_minor_90d_min = 50000      money into the account in the last 90 days: deposits and
                                       incoming transfers (node.credit.instalments reads them)

    [limit]                            what open plans may owe in all, this checkout included:
    inflows_multiple_bp = 5000         min(inflows_90d x multiple, limit_max_minor)
    limit_max_minor = 300000           (INSTALMENTS_LIMIT_EXCEEDED above it)

    [[terms]]                          the numbers of monthly instalments offered, each with its
    instalments = 3                    flat fee on the financed total (any other number:
    fee_bp = 0                         INSTALMENTS_TERM_NOT_OFFERED)

    [collection]                       how the collection worker treats a short balance
    retry_after_hours = 24             try a due instalment again this long after a short balance
    late_after_days = 5                not collected this many days after its due date: LATE, and
    late_fee_minor = 1000              this fee is added to the instalment (once; 0: none)
    default_after_days = 60            not collected this many days after its due date: the plan
                                       DEFAULTS (collection stops; the debt stays on the book)

validate() is pure and returns every problem; load_consumer_policy() refuses a file with any
(node.credit.policy.PolicyError, as for the merchant policy).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedmall import limits as protocol

from node import limits
from node.credit.features import BASIS_POINTS
from node.credit.policy import (
    check_int, check_keys, check_name_and_currency, checked_document, read_policy_text, table)

HOUR_MS = 3_600_000
_TOP_KEYS = ("name", "currency", "eligibility", "limit", "terms", "collection")
_ELIGIBILITY_KEYS = ("account_age_days_min", "inflows_minor_90d_min")
_LIMIT_KEYS = ("inflows_multiple_bp", "limit_max_minor")
_COLLECTION_KEYS = ("retry_after_hours", "late_after_days", "late_fee_minor", "default_after_days")
_days_max = 3_650


@dataclass(frozen=True, slots=True)
class Term:
    instalments: int
    fee_bp: int


@dataclass(frozen=True, slots=True)
class ConsumerPolicy:
    name: str
    currency: str
    account_age_days_min: int
    inflows_minor_90d_min: int
    inflows_multiple_bp: int
    limit_max_minor: int
    terms: tuple[Term, ...]
    retry_after_hours: int
    late_after_days: int
    late_fee_minor: int
    default_after_days: int

    def term(self, instalments: int) -> Term | None:
        return next((term for term in self.terms if term.instalments == instalments), None)

    def limit_minor(self, inflows_minor_90d: int) -> int:
        return min(inflows_minor_90d * self.inflows_multiple_bp // BASIS_POINTS, self.limit_max_minor)


def validate(document: dict) -> list[str]:
    """Every problem of a parsed policy document, in reading order; [] when it is sound."""
    problems: list[str] = []
    check_keys(problems, "policy", document, allowed=_TOP_KEYS, required=())
    check_name_and_currency(problems, document)
    sections = [("eligibility", _ELIGIBILITY_KEYS), ("limit", _LIMIT_KEYS), ("collection", _COLLECTION_KEYS)]
    highs = dict(account_age_days_min=(0, _days_max), inflows_minor_90d_min=(0, protocol.amount_minor_max),
                 inflows_multiple_bp=(0, 100 * BASIS_POINTS), limit_max_minor=(0, protocol.amount_minor_max),
                 retry_after_hours=(1, 24 * 30), late_after_days=(1, _days_max),
                 late_fee_minor=(0, protocol.amount_minor_max), default_after_days=(1, _days_max))
    for name, keys in sections:
        section = table(problems, document, name)
        check_keys(problems, name, section, allowed=keys, required=keys)
        for key in keys:
            if key in section:
                low, high = highs[key]
                check_int(problems, f"{name}.{key}", section[key], low=low, high=high)
    collection = document.get("collection")
    if isinstance(collection, dict) and all(isinstance(collection.get(key), int)
                                            for key in ("late_after_days", "default_after_days")):
        if collection["default_after_days"] <= collection["late_after_days"]:
            problems.append("collection.default_after_days: must be more than late_after_days")
    problems.extend(_term_problems(document.get("terms")))
    return problems


def _term_problems(terms: Any) -> list[str]:
    if not isinstance(terms, list) or not terms or not all(isinstance(term, dict) for term in terms):
        return ["terms: must be one or more [[terms]] tables"]
    problems: list[str] = []
    seen: set[int] = set()
    for index, term in enumerate(terms):
        where = f"terms[{index}]"
        check_keys(problems, where, term, allowed=("instalments", "fee_bp"), required=("instalments", "fee_bp"))
        if "instalments" in term and check_int(problems, f"{where}.instalments", term["instalments"], low=1,
                                               high=limits.instalments_per_plan_max):
            if term["instalments"] in seen:
                problems.append(f"{where}: {term['instalments']} instalments offered twice")
            seen.add(term["instalments"])
        if "fee_bp" in term:
            check_int(problems, f"{where}.fee_bp", term["fee_bp"], low=0, high=BASIS_POINTS)
    return problems


def policy_from_document(document: dict) -> ConsumerPolicy:
    """A ConsumerPolicy from a document validate() passed."""
    assert validate(document) == [], "validate the document first"
    eligibility, limit, collection = document["eligibility"], document["limit"], document["collection"]
    return ConsumerPolicy(
        name=document["name"], currency=document["currency"],
        account_age_days_min=eligibility["account_age_days_min"],
        inflows_minor_90d_min=eligibility["inflows_minor_90d_min"],
        inflows_multiple_bp=limit["inflows_multiple_bp"], limit_max_minor=limit["limit_max_minor"],
        terms=tuple(Term(instalments=term["instalments"], fee_bp=term["fee_bp"])
                    for term in sorted(document["terms"], key=lambda term: term["instalments"])),
        retry_after_hours=collection["retry_after_hours"], late_after_days=collection["late_after_days"],
        late_fee_minor=collection["late_fee_minor"], default_after_days=collection["default_after_days"])


def parse_consumer_policy(text: str, *, source: str) -> ConsumerPolicy:
    """A policy from TOML text; PolicyError naming source and every problem otherwise."""
    return policy_from_document(checked_document(text, source=source, problems_of=validate))


def load_consumer_policy(path: Path) -> ConsumerPolicy:
    return parse_consumer_policy(read_policy_text(path, "consumer credit policy"), source=str(path))
