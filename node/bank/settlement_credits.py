"""Settlement credits: money a customer earned, arriving in its account, and the hook through
which another part of the node takes its share of it inside the very entry that brings it.

    receive:<transfer>  an interbank payment committed to a customer   node.bank.notices
    release:<order>     escrow released to a merchant at this bank      node.market.buyer_orders

Both are booked by book_settlement_credits(). It finds the one customer account each entry
credits, asks the node's SettlementCreditHook what it claims of each credit, moves those
claims into internal accounts inside the credit's own entry, writes the entries and lets the
hook record its side, all in the caller's transaction. Merchant credit registers the hook
(node.credit.repayments: a share of every sale repays the merchant's loans); the bank knows
nothing of loans.

Because a claim is part of the credit's own entry, and that entry's id names its cause,
there is no moment where the credit is booked and the claim not: a crash before the commit
loses both (the delivery or the confirmation is replayed), and a replay finds the entry
written and skips both. Callers pass only entries not written yet.

The hook runs before any balance changes, so the rows it locks (loans) are always locked
before account rows, the order every other writer of them keeps: no lock cycles.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Callable, Protocol, Sequence

import sqlalchemy as sa

from node.bank import ledger, store

# The entry kinds that carry money a customer earned: interbank payments and book releases.
SETTLEMENT_CREDIT_KINDS = ("receive", "release")


@dataclass(frozen=True, slots=True)
class SettlementCredit:
    entry_id: str
    account_id: str          # The customer account credited.
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Claim:
    """Part of one credit that goes to an internal account instead of the customer."""
    entry_id: str
    to_account_id: str       # An internal account of the credit's currency (node.bank.ledger).
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Claims:
    claims: tuple[Claim, ...]
    # Writes the hook's own rows, in the same transaction, once the entries are written
    # (its rows may refer to them).
    record: Callable[[sa.Connection], None]


NO_CLAIMS = Claims(claims=(), record=lambda connection: None)


class SettlementCreditHook(Protocol):
    def claim(self, connection: sa.Connection, credits: Sequence[SettlementCredit], *, now_ms: int) -> Claims:
        """What the hook takes of these credits (never more than a credit's amount)."""


class NoClaims:
    """The hook of a node where nothing takes a share of its customers' credits."""

    def claim(self, connection: sa.Connection, credits: Sequence[SettlementCredit], *, now_ms: int) -> Claims:
        return NO_CLAIMS


def settlement_credit_of(entry: ledger.Entry) -> SettlementCredit | None:
    """The one customer account an entry credits, when it is a settlement credit."""
    if entry.kind not in SETTLEMENT_CREDIT_KINDS:
        return None
    credits = [posting for posting in entry.postings
               if posting.amount_minor > 0 and ledger.is_valid_account_id(posting.account_id)]
    assert len(credits) <= 1, f"{entry.entry_id} credits more than one customer account"
    if not credits:
        return None
    return SettlementCredit(entry_id=entry.entry_id, account_id=credits[0].account_id,
                            amount_minor=credits[0].amount_minor, currency=credits[0].currency)


def book_settlement_credits(connection: sa.Connection, entries: Sequence[ledger.Entry],
                            hook: SettlementCreditHook, *, now_ms: int) -> None:
    """store.write_entries, with what the hook claims split off every settlement credit."""
    credits = {credit.entry_id: credit for credit in map(settlement_credit_of, entries) if credit is not None}
    claims = hook.claim(connection, list(credits.values()), now_ms=now_ms) if credits else NO_CLAIMS
    by_entry: dict[str, list[Claim]] = defaultdict(list)
    for claim in claims.claims:
        by_entry[claim.entry_id].append(claim)
    store.write_entries(connection, [
        _split(entry, credits[entry.entry_id], by_entry[entry.entry_id]) if entry.entry_id in by_entry else entry
        for entry in entries], now_ms=now_ms)
    claims.record(connection)


def _split(entry: ledger.Entry, credit: SettlementCredit, claims: list[Claim]) -> ledger.Entry:
    """The entry with the claims moved out of the customer's credit. The entry stays balanced:
    the credit shrinks by exactly what the claims add to internal accounts."""
    taken_minor = sum(claim.amount_minor for claim in claims)
    assert all(claim.amount_minor > 0 and claim.to_account_id.startswith("@")
               and claim.to_account_id.endswith(f"/{credit.currency}") for claim in claims), claims
    assert taken_minor <= credit.amount_minor, f"{entry.entry_id}: claims of {taken_minor} exceed the credit"
    postings = [posting for posting in entry.postings
                if not (posting.account_id == credit.account_id and posting.amount_minor == credit.amount_minor)]
    assert len(postings) == len(entry.postings) - 1, f"{entry.entry_id}: the credit posting is not unique"
    if taken_minor < credit.amount_minor:
        postings.append(ledger.Posting(account_id=credit.account_id, amount_minor=credit.amount_minor - taken_minor,
                                       currency=credit.currency))
    claimed: dict[str, int] = defaultdict(int)
    for claim in claims:
        claimed[claim.to_account_id] += claim.amount_minor
    postings.extend(ledger.Posting(account_id=account_id, amount_minor=amount_minor, currency=credit.currency)
                    for account_id, amount_minor in claimed.items())
    return replace(entry, postings=tuple(postings))
