"""The clearing operator's levers in the demo, through fedmall-clearing as an operator would
use it: the payment the small bank's cap refused is looked up in the audit log, the bank
pays in more liquidity (funds in), the operator raises its cap, and the same payment,
sent again, now commits.
"""
from __future__ import annotations

from dataclasses import dataclass

from fedmall.money import format_money

from federation import Federation

FUNDS_IN_ID = "demo-funds-in-1"
FUNDS_IN_REFERENCE = "RTGS-DEMO-0001"


@dataclass(frozen=True, slots=True)
class OperatorDay:
    bank_id: str
    refusal: str                 # What the audit log says of the refused payment.
    audit_sequence: int
    funds_in_minor: int
    liquidity_minor: tuple[int, int]   # Before and after the funds in.
    cap_minor: tuple[int, int]         # Before and after the change.
    currency: str

    def lines(self) -> list[str]:
        money = lambda minor: format_money(minor, self.currency)  # noqa: E731
        return [
            f"the operator looked up the payment {self.bank_id}'s cap refused: audit entry {self.audit_sequence} "
            f"(its batch of prepares) says {self.refusal}",
            f"{self.bank_id} paid {money(self.funds_in_minor)} into its settlement account; the operator recorded it "
            f"(funds in {FUNDS_IN_ID}, reference {FUNDS_IN_REFERENCE}): liquidity "
            f"{money(self.liquidity_minor[0])} -> {money(self.liquidity_minor[1])}",
            f"the operator raised {self.bank_id}'s net debit cap {money(self.cap_minor[0])} -> "
            f"{money(self.cap_minor[1])} (recorded in the audit log with the reason)"]


def raise_small_bank(federation: Federation, *, bank_id: str, refused_transfer_id: str, funds_in_minor: int,
                     cap_minor: int, currency: str) -> OperatorDay:
    """Look the refusal up, record a funds in, raise the cap; the caller sends the payment again."""
    [mention] = [entry for entry in federation.clearing_cli("audit", "list", "--transfer", refused_transfer_id)["entries"]
                 if entry["kind"] == "prepares"]
    refusal = next(item["result"] for item in mention["body"]["results"] if item["transfer_id"] == refused_transfer_id)
    before = _participant(federation, bank_id)
    federation.clearing_cli("funds", "in", bank_id, _decimal(funds_in_minor, currency), "--id", FUNDS_IN_ID,
                            "--reference", FUNDS_IN_REFERENCE, "--reason", "prefunding for a larger cap",
                            "--operator", "demo-operator")
    federation.clearing_cli("participants", "set-cap", bank_id, _decimal(cap_minor, currency),
                            "--reason", "funds in received; cap raised to match", "--operator", "demo-operator")
    after = _participant(federation, bank_id)
    return OperatorDay(bank_id=bank_id, refusal=refusal, audit_sequence=mention["sequence"],
                       funds_in_minor=funds_in_minor,
                       liquidity_minor=(before["liquidity_minor"], after["liquidity_minor"]),
                       cap_minor=(before["net_debit_cap_minor"], after["net_debit_cap_minor"]), currency=currency)


def _participant(federation: Federation, bank_id: str) -> dict:
    return next(row for row in federation.participants() if row["bank_id"] == bank_id)


def _decimal(amount_minor: int, currency: str) -> str:
    return format_money(amount_minor, currency).split()[0]
