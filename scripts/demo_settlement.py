"""The demo's last act, the clearing operator's day end: close the window, let every bank
reconcile its signed statement, check the answers, settle, and wait for the banks to book it."""
from __future__ import annotations

import time
from dataclasses import dataclass

from federation import Federation

ANSWER_TIMEOUT_S = 30


@dataclass(frozen=True, slots=True)
class Settlement:
    window: int
    transfer_count: int
    gross_minor: int
    net_minor: int
    liquidity_saving_pct: float
    net_positions: dict[str, int]       # bank -> credits - debits in the window
    acknowledged_by: list[str]
    breaks: int
    settled: bool
    liquidity_before_minor: dict[str, int]
    liquidity_after_minor: dict[str, int]


def _wait(what: str, probe, *, timeout_s: float = ANSWER_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def settle_day(federation: Federation, *, currency: str) -> Settlement:
    window = federation.clearing_cli("windows", "close")["closed"]

    def answers():
        document = federation.clearing_cli("reconcile", "--window", str(window), check=False)
        return document if not document["silent"] else None

    answered = _wait("every bank's answer to its statement", answers)
    report = federation.clearing_cli("report", "--window", str(window))
    before = {p["bank_id"]: p["liquidity_minor"] for p in federation.participants()}
    settled = answered["breaks"] == 0
    if settled:
        federation.clearing_cli("settle", "--window", str(window))
        _wait("every bank to book the settlement", lambda: _books_agree(federation, currency))
    after = {p["bank_id"]: p["liquidity_minor"] for p in federation.participants()}
    return Settlement(
        window=window, transfer_count=report["transfer_count"], gross_minor=report["gross_minor"].get(currency, 0),
        net_minor=report["net_total_minor"].get(currency, 0),
        liquidity_saving_pct=report["liquidity_saving_pct"].get(currency, 0.0),
        net_positions={n["bank_id"]: n["net_minor"] for n in report["nets"]},
        acknowledged_by=[m["bank_id"] for m in answered["members"] if m["status"] == "acknowledged"],
        breaks=answered["breaks"], settled=settled, liquidity_before_minor=before, liquidity_after_minor=after)


def wait_until_booked(federation: Federation, *, currency: str) -> None:
    """Until every node has booked every transfer the clearing committed (its @clearing equals its position)."""
    _wait("every bank to book the transfers committed", lambda: _books_agree(federation, currency))


def _books_agree(federation: Federation, currency: str) -> bool:
    positions = {p["bank_id"]: p["position_minor"] for p in federation.participants()}
    ledgers = federation.ledger_checks()
    return all(ledgers[bank.bank_id]["internal_balances_minor"].get(f"@clearing/{currency}", 0)
               == positions[bank.bank_id] for bank in federation.banks)
