"""A whole Fedmall federation on this machine, explained step by step.

A clearing and N bank nodes run as separate processes on SQLite. Every bank opens
customer accounts with teller deposits; customers pay customers at other banks (a few
showcase transfers go wrong on purpose, and the operator's levers fix one: the payment
the small bank's cap refused is looked up, the bank's funds in recorded, its cap raised,
scripts/demo_operator.py); merchants at every bank list products and
simulated shoppers search the whole federation and buy across banks, with the buyer's
bank holding the money in escrow until receipt, some cancellations and some refunds.
Between two rounds of shopping each bank scores its merchants and lends to the best
placed (scripts/demo_credit.py); the second round's sales repay the loans and one borrower
pays off early. At the end of the day the clearing closes the settlement window, every
bank reconciles its signed statement, the operator settles, and the clearing's positions,
every node's ledger, loan book and the audit chain are checked against each other.

Everything runs one step at a time and each step is final before the next, so the same
seed always gives the same business outcome (ids are fresh UUIDs).
"""
from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_credit import (  # noqa: E402
    POLICY_FILE, POLICY_IN_BUNDLE, Credit, Lending, Payoff, credit_checks, credit_document, credit_report, lend,
    lines_lent, lines_paid_off, lines_repaid, pay_off_one, read_credit, read_loans)
from demo_instalments import (  # noqa: E402
    CONSUMER_POLICY_FILE, CONSUMER_POLICY_IN_BUNDLE, Instalments, instalment_checks, instalment_document,
    run_instalments, lines as lines_instalments)
from demo_market import (  # noqa: E402
    MERCHANTS_PER_BANK, MarketResult, catalogue_lines, combined, interbank_nets, open_shops, shop_around)
from demo_operator import OperatorDay, raise_small_bank  # noqa: E402
from demo_settlement import Settlement, settle_day, wait_until_booked  # noqa: E402
import invariants  # noqa: E402
from federation import BIN, BankSpec, Books, Federation, read_books  # noqa: E402
from invariants import Check  # noqa: E402

from fedmall.console import emit, fail, table  # noqa: E402
from fedmall.money import format_amount  # noqa: E402
from fedmall.results import name_of  # noqa: E402
from fedmall.v1 import money_pb2, node_pb2  # noqa: E402

CURRENCY = "EUR"
BANKS_MIN, BANKS_MAX = 2, 8
CUSTOMERS_PER_BANK = 3
CUSTOMER_NAMES = (
    "Ana Lima", "Ben Okafor", "Chen Wei", "Dara Novak", "Emil Berg", "Fatima Zahra", "Goran Ilic", "Hana Sato",
    "Ines Duarte", "Jonas Meyer", "Kofi Mensah", "Lena Fischer", "Marta Rossi", "Nils Holm", "Olga Petrova",
    "Pablo Ruiz", "Quynh Tran", "Rosa Diaz", "Sami Haddad", "Tomas Novak", "Uma Patel", "Vera Kuznetsova",
    "Wen Li", "Yusuf Demir",
)
assert len(CUSTOMER_NAMES) >= BANKS_MAX * CUSTOMERS_PER_BANK

DEPOSIT_MINOR = 500_000                      # 5000.00 EUR per customer.
AMOUNT_MINOR_MIN, AMOUNT_MINOR_MAX = 100, 15_000
NET_DEBIT_CAP, LIQUIDITY = "100000.00", "200000.00"
# The last bank's cap is small so that it bites (a showcase transfer goes over it), yet
# large enough for its shoppers' purchases from the other banks during one window.
SMALL_NET_DEBIT_CAP, SMALL_LIQUIDITY = "3000.00", "6000.00"
OVER_SMALL_CAP_MINOR = 400_000               # Above the small cap, below its liquidity and a fresh balance.
OVER_BALANCE_MINOR = 1_000_000
# The operator's day: the small bank pays in more liquidity and its cap is raised above the
# payment its cap refused.
OPERATOR_FUNDS_IN_MINOR, OPERATOR_CAP_MINOR = 500_000, 1_000_000
AUTO_CONFIRM_AFTER_S = 2                     # Shipped orders the buyer never confirms complete after this.
FIRST_ROUND_SHARE_PCT = 50                   # Of the orders, placed before the merchants borrow.

RPC_TIMEOUT_S = 10
FINAL_DEADLINE_S = 45                        # Beyond the payer's 30 s prepare expiry, after which the clearing aborts.
POLL_INTERVAL_S = 0.005
PROGRESS_BAR_WIDTH = 30

COMMITTED, ABORTED = "COMMITTED", "ABORTED"


class DemoError(Exception):
    """The federation did not do what the demo needs (a stuck transfer, a failed call)."""


# The consortium ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Customer:
    bank_id: str
    account_id: str
    name: str


def bank_specs(count: int) -> list[BankSpec]:
    specs = [BankSpec(f"bank-{chr(97 + index)}", f"Bank {chr(65 + index)}", NET_DEBIT_CAP, LIQUIDITY)
             for index in range(count - 1)]
    last = chr(97 + count - 1)
    return specs + [BankSpec(f"bank-{last}", f"Bank {last.upper()}", SMALL_NET_DEBIT_CAP, SMALL_LIQUIDITY)]


def customers_of(banks: list[BankSpec]) -> dict[str, list[Customer]]:
    names = iter(CUSTOMER_NAMES)
    return {bank.bank_id: [Customer(bank.bank_id, (name := next(names)).lower().replace(" ", "-"), name)
                           for _ in range(CUSTOMERS_PER_BANK)] for bank in banks}


# Moving money ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transfer:
    transfer_id: str
    payer: Customer
    payee: Customer
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Outcome:
    answer: str      # The payer node's answer to the send: OK, EXISTS, or why it refused.
    status: str = ""  # COMMITTED or ABORTED once final; "" when refused at the node.
    reason: str = ""  # Why it was aborted.

    @property
    def kind(self) -> str:
        return {COMMITTED: "committed", ABORTED: "aborted"}.get(self.status, "refused_at_node")

    def describe(self) -> str:
        if not self.status:
            return f"refused at the node: {self.answer}"
        final = f"{self.status} ({self.reason})" if self.reason else self.status
        return f"{self.answer}, already {final}" if self.answer == "EXISTS" else final


class Teller:
    """Calls each bank's node as that bank's own tooling would, over mTLS."""

    def __init__(self, federation: Federation) -> None:
        self._stubs = {bank.bank_id: federation.node_stub(bank.bank_id) for bank in federation.banks}

    def open_with_deposit(self, customer: Customer, *, amount_minor: int) -> None:
        opened = self._stubs[customer.bank_id].OpenAccount(node_pb2.OpenAccountRequest(
            account_id=customer.account_id, holder_name=customer.name, currency=CURRENCY), timeout=RPC_TIMEOUT_S)
        if name_of(opened.result) != "OK":
            raise DemoError(f"open account {customer.account_id} at {customer.bank_id}: {name_of(opened.result)}")
        self.deposit(customer, amount_minor=amount_minor)

    def deposit(self, customer: Customer, *, amount_minor: int) -> None:
        deposited = self._stubs[customer.bank_id].Deposit(node_pb2.DepositRequest(
            deposit_id=str(uuid.uuid4()), account_id=customer.account_id,
            amount=money_pb2.Money(amount_minor=amount_minor, currency=CURRENCY)), timeout=RPC_TIMEOUT_S)
        if name_of(deposited.result) != "OK":
            raise DemoError(f"deposit {customer.account_id} at {customer.bank_id}: {name_of(deposited.result)}")

    def balance_minor(self, customer: Customer) -> int:
        response = self._stubs[customer.bank_id].GetAccount(
            node_pb2.GetAccountRequest(account_id=customer.account_id), timeout=RPC_TIMEOUT_S)
        return response.balance.amount_minor

    def move(self, transfer: Transfer) -> Outcome:
        """Send, then wait until both banks' books show the transfer final."""
        answer = name_of(self._stubs[transfer.payer.bank_id].SendTransfer(node_pb2.SendTransferRequest(
            transfer_id=transfer.transfer_id, from_account_id=transfer.payer.account_id,
            payee_bank_id=transfer.payee.bank_id, payee_account_id=transfer.payee.account_id,
            amount=money_pb2.Money(amount_minor=transfer.amount_minor, currency=CURRENCY), reference="demo"),
            timeout=RPC_TIMEOUT_S).result)
        if answer not in ("OK", "EXISTS"):
            return Outcome(answer)
        deadline = time.monotonic() + FINAL_DEADLINE_S
        payer_side = self._wait_final(transfer.payer.bank_id, transfer, deadline=deadline)
        if payer_side.status == COMMITTED:
            self._wait_final(transfer.payee.bank_id, transfer, deadline=deadline)
        reason = name_of(payer_side.abort_reason) if payer_side.status == ABORTED else ""
        return Outcome(answer, payer_side.status, reason)

    def _wait_final(self, bank_id: str, transfer: Transfer, *, deadline: float) -> node_pb2.GetTransferRecordResponse:
        request = node_pb2.GetTransferRecordRequest(transfer_id=transfer.transfer_id)
        while True:
            record = self._stubs[bank_id].GetTransferRecord(request, timeout=RPC_TIMEOUT_S)
            if record.status in (COMMITTED, ABORTED):
                return record
            if time.monotonic() > deadline:
                raise DemoError(f"transfer {transfer.transfer_id} ({transfer.payer.bank_id} -> {transfer.payee.bank_id})"
                                f" is still {record.status or name_of(record.result)} at {bank_id}"
                                f" after {FINAL_DEADLINE_S} s")
            time.sleep(POLL_INTERVAL_S)


def random_transfers(customers: dict[str, list[Customer]], *, count: int, seed: int) -> list[Transfer]:
    rng = random.Random(seed)
    bank_ids = sorted(customers)
    transfers = []
    for _ in range(count):
        payer_bank = rng.choice(bank_ids)
        payee_bank = rng.choice([bank_id for bank_id in bank_ids if bank_id != payer_bank])
        transfers.append(Transfer(str(uuid.uuid4()), rng.choice(customers[payer_bank]),
                                  rng.choice(customers[payee_bank]), rng.randint(AMOUNT_MINOR_MIN, AMOUNT_MINOR_MAX)))
    return transfers


# Showcases: things that go wrong on purpose ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Showcase:
    key: str
    why: str         # What is wrong with this transfer, for the story.
    transfer: Transfer
    expected: Outcome
    consequence: str  # What the payer sees when it ends as expected.
    outcome: Outcome
    payer_balance_unchanged: bool

    @property
    def ok(self) -> bool:
        return self.outcome == self.expected and self.payer_balance_unchanged


def showcase(teller: Teller, key: str, why: str, transfer: Transfer, *, expected: Outcome,
             consequence: str) -> Showcase:
    """Move transfer; the payer's balance must be the same afterwards (refused, aborted or a retry)."""
    before_minor = teller.balance_minor(transfer.payer)
    outcome = teller.move(transfer)
    return Showcase(key, why, transfer, expected, consequence, outcome,
                    teller.balance_minor(transfer.payer) == before_minor)


def run_showcases(teller: Teller, customers: dict[str, list[Customer]], banks: list[BankSpec]) -> list[Showcase]:
    first, second, small = (customers[bank.bank_id] for bank in (banks[0], banks[1], banks[-1]))
    nobody = Customer(second[0].bank_id, "nobody", "nobody")
    already_sent = Transfer(str(uuid.uuid4()), first[2], second[2], 2_500)
    teller.move(already_sent)
    return [
        showcase(teller, "unknown_payee_account", f"an account {nobody.bank_id} does not have",
                 Transfer(str(uuid.uuid4()), first[0], nobody, 2_000), expected=Outcome("ACCOUNT_UNKNOWN"),
                 consequence=f"{nobody.bank_id} said so when asked for a quote; nothing moved"),
        showcase(teller, "over_net_debit_cap", f"more than {small[0].bank_id}'s net debit cap",
                 Transfer(str(uuid.uuid4()), small[0], first[0], OVER_SMALL_CAP_MINOR),
                 expected=Outcome("OK", ABORTED, "NET_DEBIT_CAP_EXCEEDED"),
                 consequence="the clearing refused to reserve it; the money came back to the payer"),
        showcase(teller, "over_balance", "more than the customer has",
                 Transfer(str(uuid.uuid4()), first[1], second[1], OVER_BALANCE_MINOR),
                 expected=Outcome("INSUFFICIENT_FUNDS"), consequence="nothing moved"),
        showcase(teller, "identical_retry", "a transfer already sent, sent again with the same id",
                 already_sent, expected=Outcome("EXISTS", COMMITTED), consequence="nothing doubled"),
    ]


# The story ---------------------------------------------------------------------------------


class Story:
    """Step lines for a newcomer (stdout, or stderr under --json) and a progress bar on stderr."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def done(self, line: str) -> None:
        print(f"✓ {line}", file=self._out, flush=True)

    def failed(self, line: str) -> None:
        print(f"✗ {line}", file=self._out, flush=True)

    def note(self, line: str) -> None:
        print(f"  {line}", file=self._out, flush=True)

    @staticmethod
    def progress(label: str, done: int, total: int) -> None:
        """One line redrawn in place on a terminal; only the finished line otherwise (logs, pipes)."""
        if done < total and not sys.stderr.isatty():
            return
        filled = PROGRESS_BAR_WIDTH * done // max(total, 1)
        end = "\n" if done == total else ""
        print(f"\r{label} [{'#' * filled}{'.' * (PROGRESS_BAR_WIDTH - filled)}] {done}/{total}",
              end=end, file=sys.stderr, flush=True)


def eur(amount_minor: int) -> str:
    return f"{format_amount(amount_minor, CURRENCY)} {CURRENCY}"


@dataclass(frozen=True, slots=True)
class Run:
    federation: Federation
    customers: dict[str, list[Customer]]
    showcases: list[Showcase]
    transfers: list[tuple[Transfer, Outcome]]   # Every transfer moved, random and showcase, in order.
    random_outcomes: list[Outcome]
    market: MarketResult                        # Both rounds of shopping, and the financed order.
    credit: Credit
    settlement: Settlement
    clearing_transfers: dict                    # `fedmall-clearing transfers --json`
    books: Books
    operator_day: OperatorDay
    resent: Outcome                             # The refused payment, sent again after the cap was raised.
    instalments: Instalments                    # The instalment purchase, its collections and review.


def run_demo(federation: Federation, story: Story, *, transfers: int, orders: int, seed: int) -> Run:
    start_consortium(federation, story)
    customers = customers_of(federation.banks)
    teller = Teller(federation)
    open_accounts(teller, customers, story)
    showcases = run_showcases(teller, customers, federation.banks)
    for case in showcases:
        tell_showcase(story, case)
    operator_day, resent = run_operator_day(federation, teller, showcases, story)
    moved = move_random(teller, customers, story, count=transfers, seed=seed)
    showcase_moves = [(case.transfer, case.outcome) for case in showcases] + [resent]
    market, lending, payoff, instalments = run_market(federation, customers, story, orders=orders, seed=seed)
    settlement = settle_day(federation, currency=CURRENCY)
    tell_settlement(story, settlement)
    return Run(federation, customers, showcases, showcase_moves + moved, [outcome for _, outcome in moved],
               market, read_credit(federation, lending, payoff), settlement, federation.clearing_cli("transfers", "--summary"),
               read_books(federation), operator_day, resent[1], instalments)


def run_operator_day(federation: Federation, teller: Teller, showcases: list[Showcase],
                     story: Story) -> tuple[OperatorDay, tuple[Transfer, Outcome]]:
    """The operator looks up the payment the small bank's cap refused, records the bank's funds
    in and raises its cap; the customer tops up and sends the same amount again (a new id)."""
    refused = next(case for case in showcases if case.key == "over_net_debit_cap")
    day = raise_small_bank(federation, bank_id=refused.transfer.payer.bank_id,
                           refused_transfer_id=refused.transfer.transfer_id, funds_in_minor=OPERATOR_FUNDS_IN_MINOR,
                           cap_minor=OPERATOR_CAP_MINOR, currency=CURRENCY)
    for line in day.lines():
        story.done(line)
    teller.deposit(refused.transfer.payer, amount_minor=refused.transfer.amount_minor)
    again = Transfer(str(uuid.uuid4()), refused.transfer.payer, refused.transfer.payee, refused.transfer.amount_minor)
    outcome = teller.move(again)
    line = (f"{again.payer.name} topped up {eur(again.amount_minor)} and sent the refused payment again (a new id): "
            f"{outcome.describe()}")
    (story.done if outcome.status == COMMITTED else story.failed)(line)
    return day, (again, outcome)


def run_market(federation: Federation, customers: dict[str, list[Customer]], story: Story, *,
               orders: int, seed: int) -> tuple[MarketResult, Lending, Payoff | None, Instalments]:
    """Shops open; a first round of shopping; merchants borrow; a second round repays; a buyer pays in
    instalments and reviews the order; one merchant pays off."""
    shops = open_shops(federation, currency=CURRENCY, rng=random.Random(seed))
    story.done(f"{len(shops)} merchants opened shops ({MERCHANTS_PER_BANK} per bank), 3 products each, "
               f"selling into a settlement account at their own bank")
    tell(story, catalogue_lines(federation, currency=CURRENCY))
    buyers = [(c.bank_id, c.account_id) for bank_customers in customers.values() for c in bank_customers]
    first_orders = orders * FIRST_ROUND_SHARE_PCT // 100
    first = shop_round(federation, buyers, story, "first", orders=first_orders, seed=seed)
    lending = lend(federation, shops, currency=CURRENCY)
    tell(story, lines_lent(lending))
    second = shop_round(federation, buyers, story, "second", orders=orders - first_orders,
                        seed=seed + 1)  # Another seed: other checkout and refund ids.
    instalments = run_instalments(federation, buyers[0], currency=CURRENCY)
    tell(story, lines_instalments(instalments))
    wait_until_booked(federation, currency=CURRENCY)  # So that every sale's repayment is in.
    repaying = read_loans(federation, lending)
    tell(story, lines_repaid(repaying, CURRENCY))
    payoff = pay_off_one(federation, repaying)
    tell(story, lines_paid_off(payoff, CURRENCY))
    return combined([first, second, instalments.as_market()]), lending, payoff, instalments


def shop_round(federation: Federation, buyers: list[tuple[str, str]], story: Story, name: str, *,
               orders: int, seed: int) -> MarketResult:
    market = shop_around(federation, buyers, orders=orders, seed=seed,
                         progress=lambda done, total: story.progress(f"orders ({name} round)", done, total))
    counts = market.counts()
    story.done(f"{name} round of shopping: {market.searches} federated searches and {market.checkouts} checkouts, "
               f"{counts['placed']} orders placed ({counts['cross_bank']} across banks), "
               f"{counts['completed']} completed, {counts['cancelled']} cancelled ({counts['declined']} declined by "
               f"their merchant), {counts['refunded']} refunded")
    return market


def tell(story: Story, lines: list[tuple[bool, str]]) -> None:
    for ok, line in lines:
        (story.done if ok else story.failed)(line)


def tell_settlement(story: Story, settlement: Settlement) -> None:
    story.done(f"settlement window {settlement.window} closed: {settlement.transfer_count} transfers netted; "
               f"each bank got a signed statement and reconciled it against its own books")
    if settlement.settled:
        story.done(f"every bank acknowledged with no breaks; the operator settled window {settlement.window} "
                   "against the banks' prefunded liquidity and each bank booked it")
    else:
        story.failed(f"window {settlement.window} not settled: {settlement.breaks} breaks, "
                     f"acknowledged by {', '.join(settlement.acknowledged_by) or 'nobody'}")


def start_consortium(federation: Federation, story: Story) -> None:
    federation.create()
    small = federation.banks[-1]
    story.done(f"consortium created in {federation.home}: clearing initialised, "
               f"{len(federation.banks)} banks admitted ({', '.join(bank.name for bank in federation.banks)})")
    story.note(f"{small.name} gets a small net debit cap of {small.net_debit_cap} {CURRENCY} "
               f"(liquidity {small.liquidity}) so the cap bites; the others {NET_DEBIT_CAP} {CURRENCY}")
    federation.start()
    story.done(f"processes started: clearing at {federation.clearing_address}, "
               + ", ".join(f"{bank_id} at {address}" for bank_id, address in federation.node_addresses.items()))
    story.note(f"logs in {federation.home / 'logs'}")
    tell_console(federation, story)


def tell_console(federation: Federation, story: Story) -> None:
    """Where the operator's web console is and a one-time link to log in (docs/console.md)."""
    try:
        with urllib.request.urlopen(f"{federation.console_address}/login", timeout=RPC_TIMEOUT_S) as answer:
            answer.read()
    except OSError as error:
        raise DemoError(f"the web console at {federation.console_address} does not answer: {error}") from None
    link = federation.clearing_cli("console-token", "--operator", "demo-operator")["link"]
    story.done(f"operator's web console at {federation.console_address}; log in once with {link}")
    story.note(f"a new link: {BIN / 'fedmall-clearing'} --home {federation.clearing_home} console-token")


def open_accounts(teller: Teller, customers: dict[str, list[Customer]], story: Story) -> None:
    everyone = [customer for bank_customers in customers.values() for customer in bank_customers]
    for customer in everyone:
        teller.open_with_deposit(customer, amount_minor=DEPOSIT_MINOR)
    story.done(f"{len(everyone)} customers opened accounts ({CUSTOMERS_PER_BANK} per bank), "
               f"{eur(DEPOSIT_MINOR)} teller deposit each, {eur(DEPOSIT_MINOR * len(everyone))} in all")


def move_random(teller: Teller, customers: dict[str, list[Customer]], story: Story, *,
                count: int, seed: int) -> list[tuple[Transfer, Outcome]]:
    moved = []
    for transfer in random_transfers(customers, count=count, seed=seed):
        moved.append((transfer, teller.move(transfer)))
        story.progress("transfers", len(moved), count)
    kinds = Counter(outcome.kind for _, outcome in moved)
    story.done(f"{count} random transfers of {eur(AMOUNT_MINOR_MIN)}..{eur(AMOUNT_MINOR_MAX)} moved: "
               f"{kinds['committed']} committed, {kinds['aborted']} aborted, {kinds['refused_at_node']} refused at the node")
    return moved


def tell_showcase(story: Story, case: Showcase) -> None:
    transfer = case.transfer
    line = (f"showcase {case.key}: {transfer.payer.name} ({transfer.payer.bank_id}) pays "
            f"{eur(transfer.amount_minor)} to {transfer.payee.account_id} at {transfer.payee.bank_id}, {case.why}")
    if case.ok:
        story.done(f"{line}\n    -> {case.outcome.describe()}: {case.consequence}")
    else:
        story.failed(f"{line}\n    -> {case.outcome.describe()}, expected {case.expected.describe()}"
                     f"{'' if case.payer_balance_unchanged else '; the payer balance changed'}")


# The report --------------------------------------------------------------------------------


def operator_day_worked(run: Run) -> Check:
    day = run.operator_day
    ok = (day.refusal == "NET_DEBIT_CAP_EXCEEDED" and run.resent.status == COMMITTED
          and day.liquidity_minor[1] == day.liquidity_minor[0] + day.funds_in_minor and day.cap_minor[1] > day.cap_minor[0])
    return Check("operator_day", "operator: refusal looked up, funds in, cap raised, payment made", ok,
                 f"{day.bank_id}: audit said {day.refusal}; liquidity +{eur(day.funds_in_minor)}; cap "
                 f"{eur(day.cap_minor[0])} -> {eur(day.cap_minor[1])}; resent {run.resent.describe()}")


def showcases_as_expected(run: Run) -> Check:
    wrong = [f"{case.key}: {case.outcome.describe()} (expected {case.expected.describe()}"
             f"{'' if case.payer_balance_unchanged else ', payer balance changed'})" for case in run.showcases if not case.ok]
    return Check("showcases_as_expected", "showcases ended as expected", not wrong, "; ".join(wrong) or f"{len(run.showcases)} of {len(run.showcases)}")


def nets_match_transfers(run: Run) -> Check:
    """Each bank's settlement net is what it received minus what it paid, as the demo saw it."""
    market = interbank_nets(run.market)
    wrong = [f"{bank_id}: net {net_minor}, received - sent {expected_minor}"
             for bank_id, net_minor in run.settlement.net_positions.items()
             if net_minor != (expected_minor := committed_minor(run, bank_id, "payee")
                              - committed_minor(run, bank_id, "payer") + market.get(bank_id, 0))]
    return Check("nets_match_transfers", "settlement nets equal money received minus sent", not wrong,
                 "; ".join(wrong) or f"{sum(o.status == COMMITTED for _, o in run.transfers)} payments and "
                                     f"{run.market.counts()['cross_bank']} cross-bank orders agree")


def escrow_minor(run: Run, bank_id: str) -> int:
    return run.books.ledgers[bank_id]["internal_balances_minor"].get(f"@escrow/{CURRENCY}", 0)


def window_settled(run: Run) -> Check:
    settlement = run.settlement
    missing = sorted(set(settlement.net_positions) - set(settlement.acknowledged_by))
    nets_zero = sum(settlement.net_positions.values()) == 0
    positions_reset = all(p["position_minor"] == 0 for p in run.books.positions.values())
    ok = settlement.settled and not missing and settlement.breaks == 0 and nets_zero and positions_reset
    return Check("window_settled", "window reconciled with no breaks, settled, positions reset", ok,
                 f"window {settlement.window}: {settlement.breaks} breaks, nets sum {sum(settlement.net_positions.values())}"
                 + (f", silent or disputing: {', '.join(missing)}" if missing else "")
                 + ("" if positions_reset else ", positions not reset"))


def all_checks(run: Run) -> list[Check]:
    """Every money invariant (scripts/invariants.py, read from the databases), then what this run
    itself expects of its payments, settlement, showcases and loans."""
    federation = run.federation
    return invariants.check_databases(federation.clearing_url(), federation.node_urls(), currency=CURRENCY) + [
        nets_match_transfers(run), window_settled(run), showcases_as_expected(run), operator_day_worked(run)] \
        + credit_checks(run.credit, run.books) + instalment_checks(run.instalments, run.books)


def committed_minor(run: Run, bank_id: str, side: str) -> int:
    return sum(transfer.amount_minor for transfer, outcome in run.transfers
               if outcome.status == COMMITTED and getattr(transfer, side).bank_id == bank_id)


def bank_rows(run: Run) -> list[dict]:
    return [dict(
        id=bank.bank_id, name=bank.name, ledger_balanced=run.books.ledgers[bank.bank_id]["ok"],
        clearing_position_minor=run.books.positions[bank.bank_id]["position_minor"],
        clearing_account_minor=run.books.clearing_account_minor(bank.bank_id, CURRENCY),
        customer_balances_minor=run.books.ledgers[bank.bank_id]["customer_balances_minor"],
        escrow_minor=escrow_minor(run, bank.bank_id),
        net_debit_cap_minor=run.books.positions[bank.bank_id]["net_debit_cap_minor"],
        sent_minor=committed_minor(run, bank.bank_id, "payer"),
        received_minor=committed_minor(run, bank.bank_id, "payee")) for bank in run.federation.banks]


def transfer_counts(outcomes: list[Outcome]) -> dict:
    kinds = Counter(outcome.kind for outcome in outcomes)
    reasons = Counter(outcome.reason or outcome.answer for outcome in outcomes if outcome.kind != "committed")
    return dict(requested=len(outcomes), committed=kinds["committed"], aborted=kinds["aborted"],
                refused_at_node=kinds["refused_at_node"], by_reason=dict(sorted(reasons.items())))


def document(run: Run, checks: list[Check]) -> dict:
    """The --json document; later issues add sections beside these."""
    return dict(
        home=str(run.federation.home), console=run.federation.console_address,
        banks=bank_rows(run),
        payments=transfer_counts(run.random_outcomes),
        transfers=dict(committed=run.clearing_transfers["by_state"].get("committed", 0),
                       aborted=run.clearing_transfers["by_state"].get("aborted", 0),
                       aborted_by_reason=run.clearing_transfers["aborted_by_reason"]),
        orders=run.market.counts(),
        market_money=run.market.money(),
        credit=credit_document(run.credit),
        instalments=instalment_document(run.instalments),
        settlement=settlement_document(run.settlement),
        showcases={case.key: dict(ok=case.ok, expected=asdict(case.expected), outcome=asdict(case.outcome),
                                  payer_balance_unchanged=case.payer_balance_unchanged) for case in run.showcases},
        operator_day=dict(asdict(run.operator_day), resent=asdict(run.resent)),
        checks={check.key: dict(title=check.title, ok=check.ok, detail=check.detail) for check in checks},
        invariants_ok=all(check.ok for check in checks),
    )


def settlement_document(settlement: Settlement) -> dict:
    return dict(window=settlement.window, transfer_count=settlement.transfer_count,
                gross_minor=settlement.gross_minor, net_minor=settlement.net_minor,
                liquidity_saving_pct=settlement.liquidity_saving_pct, net_positions=settlement.net_positions,
                acknowledged_by=settlement.acknowledged_by, breaks=settlement.breaks, settled=settlement.settled)


def settlement_report(settlement: Settlement) -> str:
    rows = [dict(bank=bank_id, net=format_amount(net_minor, CURRENCY),
                 answer="acknowledged" if bank_id in settlement.acknowledged_by else "NOT acknowledged",
                 liquidity=f"{format_amount(settlement.liquidity_before_minor[bank_id], CURRENCY)} -> "
                           f"{format_amount(settlement.liquidity_after_minor[bank_id], CURRENCY)}")
            for bank_id, net_minor in settlement.net_positions.items()]
    return (f"Settlement of window {settlement.window}: gross {eur(settlement.gross_minor)} moved in "
            f"{settlement.transfer_count} transfers, settled by net payments of {eur(settlement.net_minor)} "
            f"(liquidity saving {settlement.liquidity_saving_pct}%)\n"
            + table(rows, ["bank", "net", "answer", "liquidity"])
            + "\n* net > 0: the bank receives at settlement; < 0: it pays. Liquidity is its prefunded balance "
              "at the clearing, before -> after.")


def market_report(data: dict) -> str:
    orders, money = data["orders"], data["market_money"]
    rows = [dict(orders=name, count=orders[name]) for name in ("placed", "completed", "cancelled", "refunded", "failed")]
    rows.insert(3, dict(orders="  of which declined by the merchant", count=orders["declined"]))
    failed = ", ".join(f"{reason} {count}" for reason, count in orders["failed_by_reason"].items())
    return ("Marketplace orders (cross-bank: {})\n".format(orders["cross_bank"]) + table(rows, ["orders", "count"])
            + (f"\nfailed at checkout: {failed}" if failed else "")
            + f"\nmerchants paid inside their buyers' banks (book transfers): {eur(money['paid_inside_banks_minor'])}"
            + f"\nmerchants paid across banks (through the clearing): {eur(money['paid_between_banks_minor'])}"
            + f"\nrefunded to buyers after completion: {eur(money['refunded_minor'])}")


def human_report(run: Run, data: dict) -> str:
    return "\n\n".join([
        market_report(data),
        credit_report(run.credit),
        settlement_report(run.settlement),
        "Payments between customers, by outcome\n" + table(outcome_rows(run.random_outcomes), ["outcome", "reason", "count"]),
        "Banks\n" + table(human_bank_rows(data["banks"]), [
            "bank", "customers hold", "escrow", "clearing position*", "node @clearing", "ledger balanced"])
        + "\n* position > 0: the bank owes the others; < 0: the bank is owed. "
          "The node's @clearing/EUR account must show the same.",
        "Checks\n" + table([dict(check=check["title"], result="ok" if check["ok"] else "FAILED", detail=check["detail"])
                            for check in data["checks"].values()], ["check", "result", "detail"]),
        verdict(data),
    ])


OUTCOME_TITLES = {"committed": "committed", "aborted": "aborted by the clearing", "refused_at_node": "refused at the node"}


def outcome_rows(outcomes: list[Outcome]) -> list[dict]:
    counts = Counter((outcome.kind, outcome.reason or ("" if outcome.kind == "committed" else outcome.answer))
                     for outcome in outcomes)
    rows = [dict(outcome=OUTCOME_TITLES[kind], reason=reason, count=counts[kind, reason])
            for kind in OUTCOME_TITLES for (counted_kind, reason) in sorted(counts) if counted_kind == kind]
    return rows + [dict(outcome="total", reason="", count=len(outcomes))]


def human_bank_rows(banks: list[dict]) -> list[dict]:
    return [{
        "bank": f"{bank['id']} ({bank['name']})", "customers hold": format_amount(bank["customer_balances_minor"], CURRENCY),
        "clearing position*": f"{format_amount(bank['clearing_position_minor'], CURRENCY)} {owes(bank['clearing_position_minor'])}",
        "node @clearing": format_amount(bank["clearing_account_minor"], CURRENCY),
        "escrow": format_amount(bank["escrow_minor"], CURRENCY),
        "sent": format_amount(bank["sent_minor"], CURRENCY), "received": format_amount(bank["received_minor"], CURRENCY),
        "ledger balanced": "yes" if bank["ledger_balanced"] else "NO"} for bank in banks]


def owes(position_minor: int) -> str:
    return "owes" if position_minor > 0 else "is owed" if position_minor < 0 else "even"


def verdict(data: dict) -> str:
    if data["invariants_ok"]:
        return "All invariants hold."
    return "Invariants FAILED: " + "; ".join(check["title"] for check in data["checks"].values() if not check["ok"])


# Entry point -------------------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--banks", type=int, default=3, help=f"member banks, {BANKS_MIN}..{BANKS_MAX} (default 3)")
    parser.add_argument("--transfers", type=int, default=20, help="random interbank payments (default 20)")
    parser.add_argument("--orders", type=int, default=60, help="marketplace orders the shoppers place (default 60)")
    parser.add_argument("--seed", type=int, default=7, help="the same seed gives the same outcomes (default 7)")
    parser.add_argument("--home", type=Path, help="keep everything here (an empty or new folder); without it the "
                                                  "federation runs in a temporary folder of which only logs/ is kept")
    parser.add_argument("--json", action="store_true", help="print only the JSON document on stdout")
    parser.add_argument("--keep", action="store_true",
                        help="keep the federation up after the run, until Ctrl-C, to look around in the web console")
    return parser.parse_args()


def usage_problem(args: argparse.Namespace) -> str:
    if not BANKS_MIN <= args.banks <= BANKS_MAX:
        return f"--banks must be {BANKS_MIN}..{BANKS_MAX}"
    if args.transfers < 0 or args.orders < 0:
        return "--transfers and --orders must not be negative"
    if args.home and args.home.exists() and any(args.home.iterdir()):
        return f"--home {args.home} is not empty"
    return ""


def report(run: Run, *, as_json: bool) -> dict:
    data = document(run, all_checks(run))
    emit(data, as_json=as_json, human="\n" + human_report(run, data))
    return data


def keep_up(federation: Federation, story: Story) -> None:
    """--keep: wait for Ctrl-C (or SIGTERM) with every process running."""
    story.done(f"the federation stays up: web console at {federation.console_address} (a new login link: "
               f"{BIN / 'fedmall-clearing'} --home {federation.clearing_home} console-token); Ctrl-C stops it")
    try:
        while all(process.poll() is None for process in federation.processes.values()):
            time.sleep(1)
        story.failed("a process stopped; stopping the federation")
    except KeyboardInterrupt:
        story.note("stopping the federation")


def interrupt(signal_number: int, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    args = parse_arguments()
    if problem := usage_problem(args):
        return fail(problem)
    signal.signal(signal.SIGTERM, interrupt)  # So that `finally` stops the processes on SIGTERM too.
    home = (args.home or Path(tempfile.mkdtemp(prefix="fedmall-demo-"))).resolve()
    federation = Federation(home=home, currency=CURRENCY, banks=bank_specs(args.banks),
                            node_settings={"auto_confirm_after_s": AUTO_CONFIRM_AFTER_S,
                                           "credit_policy": POLICY_IN_BUNDLE,
                                           "consumer_credit_policy": CONSUMER_POLICY_IN_BUNDLE},
                            bundle_files={POLICY_IN_BUNDLE: POLICY_FILE, CONSUMER_POLICY_IN_BUNDLE: CONSUMER_POLICY_FILE},
                            console=True)
    story = Story(sys.stderr if args.json else sys.stdout)
    if not args.json:
        print(f"Fedmall demo: {args.banks} banks, {args.transfers} payments, {args.orders} orders, seed {args.seed}")
    data = None
    try:
        run = run_demo(federation, story, transfers=args.transfers, orders=args.orders, seed=args.seed)
        if args.keep:  # The report now, then the federation stays up (idle) until Ctrl-C.
            data = report(run, as_json=args.json)
            keep_up(federation, story)
    except KeyboardInterrupt:
        return fail(f"interrupted; processes stopped, logs kept in {home / 'logs'}", code=130)
    except grpc.RpcError as error:
        return fail(f"a call to a node failed: {error.code().name}: {error.details()}\nlogs kept in {home / 'logs'}",
                    code=1)
    except (DemoError, RuntimeError) as error:
        return fail(f"{error}\nlogs kept in {home / 'logs'}", code=1)
    finally:
        federation.stop()
    if data is None:
        data = report(run, as_json=args.json)
    if not data["invariants_ok"]:
        print(f"everything kept in {home}, logs in {home / 'logs'}", file=sys.stderr)
        return 1
    if not args.home:  # The databases and keys of a throwaway federation go; the logs it named stay.
        for path in home.iterdir():
            if path.name != "logs":
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    print(f"logs kept in {home / 'logs'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
