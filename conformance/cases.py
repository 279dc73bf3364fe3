"""A case, its verdict, the run and the report.

A case is a function that returns normally when the implementation did what the contract
says and raises CaseFailed with what it saw otherwise. Any other exception (a call that
failed, a wait that ran out) fails the case too, with its text: a case can never pass on
something it did not see.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

from fedmall.console import table


class CaseFailed(Exception):
    """The implementation did not do what the case expects; the message says what it did."""


def expect(condition: bool, reason: str) -> None:
    if not condition:
        raise CaseFailed(reason)


def expect_equal(seen, wanted, what: str) -> None:
    if seen != wanted:
        raise CaseFailed(f"{what}: {seen!r}, expected {wanted!r}")


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    checks: str  # One line: what the case checks (also in docs/conformance.md).
    run: Callable[[], None]


@dataclass(slots=True)
class Verdict:
    name: str
    checks: str
    passed: bool
    reason: str
    duration_ms: int

    def failed_later(self, reason: str) -> None:
        """A later case found what this one left wrong (a transfer booked that should not be)."""
        self.passed = False
        self.reason = reason if not self.reason or self.reason == "ok" else f"{self.reason}; {reason}"


def run_case(case: Case, *, clock: Callable[[], float] = time.monotonic) -> Verdict:
    started = clock()
    try:
        case.run()
    except CaseFailed as failure:
        passed, reason = False, str(failure)
    except Exception as error:  # noqa: BLE001 - any error is the case's failure, reported with its text.
        passed, reason = False, f"{type(error).__name__}: {error}"
    else:
        passed, reason = True, "ok"
    return Verdict(name=case.name, checks=case.checks, passed=passed, reason=reason,
                   duration_ms=int((clock() - started) * 1000))


def run_cases(cases: Sequence[Case]) -> list[Verdict]:
    return [run_case(case) for case in cases]


def all_passed(verdicts: Sequence[Verdict]) -> bool:
    return bool(verdicts) and all(verdict.passed for verdict in verdicts)


def report_document(target: str, address: str, verdicts: Sequence[Verdict]) -> dict:
    return {"target": target, "address": address, "passed": all_passed(verdicts),
            "cases": [{"name": v.name, "passed": v.passed, "reason": v.reason, "checks": v.checks,
                       "duration_ms": v.duration_ms} for v in verdicts]}


def report_table(target: str, address: str, verdicts: Sequence[Verdict]) -> str:
    rows = [{"case": v.name, "result": "pass" if v.passed else "FAIL", "ms": v.duration_ms, "reason": v.reason}
            for v in verdicts]
    failed = sum(not v.passed for v in verdicts)
    summary = (f"{target} at {address}: {len(verdicts) - failed} of {len(verdicts)} cases passed"
               + (f", {failed} FAILED" if failed else ""))
    return table(rows, ["case", "result", "ms", "reason"]) + "\n" + summary
