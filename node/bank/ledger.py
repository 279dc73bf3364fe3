"""Double-entry bookkeeping as small, plain data. Pure: no database, no clock.

A journal entry is a set of postings. A posting moves amount_minor of one currency
into (positive, a credit) or out of (negative, a debit) one account. From a
customer's point of view a credit raises the balance.

Internal accounts, one per kind and currency, have ids customers cannot take
(customer ids never contain '@' or '/'):

    @cash/EUR                 teller deposits: cash -x, customer +x
    @owed-to-clearing/EUR     money a customer sent that the clearing has not settled yet
    @clearing/EUR             the node's settlement position with the clearing; it
                              equals the clearing's position for this bank (positive: we owe)
    @liquidity/EUR            minus the bank's prefunded liquidity at the clearing; final
                              settlement of a window moves its net between here and @clearing:
                              @clearing +net, @liquidity -net (net = credits - debits); funds in
                              and out move money between here and @reserves
    @reserves/EUR             the bank's own money outside the consortium (its reserve account at
                              the settlement bank): funds in x: @liquidity -x, @reserves +x
    @escrow/EUR               buyers' money held for marketplace orders until the goods
                              arrive: checkout buyer -x, escrow +x; then escrow -x to the
                              merchant (or to the clearing), or back to the buyer
    @lending/EUR              merchant loans (node.credit.loans): minus what merchants owe the bank.
                              A disbursement takes principal + fee out of it; every repayment
                              puts money back, so -balance = the loans' outstanding total
    @credit-fees/EUR          the bank's fee income on merchant loans, earned at disbursement
    @consumer-lending/EUR     consumer instalment plans (node.credit.instalments): minus what buyers
                              owe the bank. A financed checkout takes total + fee out of it (the
                              total into @escrow); every collection puts money back
    @consumer-fees/EUR        the bank's fee income on instalment plans: the fee at checkout and late
                              fees; given back when an order is cancelled

Every entry id is derived from what caused it ("deposit:<id>", "send:<transfer>"...),
so applying the same cause twice is detectable: the entry already exists.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

from fedmall import identifiers

CASH = "cash"
OWED_TO_CLEARING = "owed-to-clearing"
CLEARING = "clearing"
LIQUIDITY = "liquidity"
ESCROW = "escrow"
LENDING = "lending"
CREDIT_FEES = "credit-fees"
CONSUMER_LENDING = "consumer-lending"
CONSUMER_FEES = "consumer-fees"
RESERVES = "reserves"
INTERNAL_KINDS = (CASH, OWED_TO_CLEARING, CLEARING, LIQUIDITY, ESCROW, LENDING, CREDIT_FEES, RESERVES,
                  CONSUMER_LENDING, CONSUMER_FEES)

is_valid_account_id = identifiers.is_account_id


def internal_account_id(kind: str, currency: str) -> str:
    assert kind in INTERNAL_KINDS, kind
    return f"@{kind}/{currency}"


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: str
    amount_minor: int  # Positive: credit (balance up). Negative: debit.
    currency: str


@dataclass(frozen=True, slots=True)
class Entry:
    entry_id: str
    kind: str
    postings: tuple[Posting, ...]


def move(entry_id: str, kind: str, *, source: str, destination: str, amount_minor: int, currency: str) -> Entry:
    """The common entry: amount_minor leaves source and arrives at destination."""
    return Entry(entry_id=entry_id, kind=kind, postings=(
        Posting(account_id=source, amount_minor=-amount_minor, currency=currency),
        Posting(account_id=destination, amount_minor=amount_minor, currency=currency),
    ))


def entry_problems(entry: Entry) -> list[str]:
    """What is wrong with one entry; empty when it may be written.

    The crucial rule is that the postings of an entry sum to zero in every currency.
    Money is never created or destroyed by the node, only moved between accounts:
    a deposit moves it from the bank's cash into a customer account, a transfer
    moves it from the customer into "owed to clearing" and, when the clearing
    commits, from there into the clearing position. If one entry did not sum to
    zero, the sum of all balances would drift away from zero, the node's books
    would no longer agree with the clearing's statement, and nothing afterwards
    could tell which entry was wrong. So this is checked before every write, per
    currency (EUR and JPY never net against each other), and a failure is our own
    bug, never the caller's: the writer asserts on it.
    """
    problems = []
    if len(entry.postings) < 2:
        problems.append(f"{entry.entry_id}: an entry needs at least two postings")
    totals: dict[str, int] = defaultdict(int)
    for posting in entry.postings:
        if posting.amount_minor == 0:
            problems.append(f"{entry.entry_id}: zero posting to {posting.account_id}")
        totals[posting.currency] += posting.amount_minor
    for currency, total in sorted(totals.items()):
        if total != 0:
            problems.append(f"{entry.entry_id}: postings in {currency} sum to {total}, not 0")
    return problems


def check_entries(entries: Iterable[Entry]) -> None:
    """Assert every entry balances; called by the store before any posting is written."""
    problems = [problem for entry in entries for problem in entry_problems(entry)]
    assert not problems, "unbalanced journal entries: " + "; ".join(problems)


def balance_deltas(entries: Iterable[Entry]) -> dict[str, int]:
    """How much each account's balance changes when entries are written."""
    deltas: dict[str, int] = defaultdict(int)
    for entry in entries:
        for posting in entry.postings:
            deltas[posting.account_id] += posting.amount_minor
    return dict(deltas)


@dataclass(frozen=True, slots=True)
class BooksSummary:
    """What ledger-check reads from the database."""
    entry_totals: dict[tuple[str, str], int]      # (entry_id, currency) -> sum of postings
    currency_totals: dict[str, int]               # currency -> sum of all postings
    stored_balances: dict[str, int]               # account -> balance_minor column
    posted_balances: dict[str, int]               # account -> sum of its postings


def books_problems(summary: BooksSummary) -> list[str]:
    """Every way the stored books break double entry; empty when they are sound."""
    problems = [f"entry {entry_id} sums to {total} {currency}"
                for (entry_id, currency), total in sorted(summary.entry_totals.items()) if total != 0]
    problems += [f"all postings in {currency} sum to {total}, not 0"
                 for currency, total in sorted(summary.currency_totals.items()) if total != 0]
    for account_id in sorted(set(summary.stored_balances) | set(summary.posted_balances)):
        stored = summary.stored_balances.get(account_id, 0)
        posted = summary.posted_balances.get(account_id, 0)
        if stored != posted:
            problems.append(f"account {account_id}: balance {stored} but postings sum to {posted}")
    return problems
