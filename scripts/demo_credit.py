"""The demo's credit act, between two rounds of shopping.

    lend       every bank scores its own merchants on the trade its node saw after the first
               round (GetCreditOffer); at each bank the merchant with the best offer borrows
               part of what is available to it (ApplyForLoan): the loan is disbursed into its
               settlement account. One other merchant is refused: knocked out by the policy
               when one is, else because it asks for more than its limit.
    (the second round of shopping: a share of every sale credited to a borrower repays its
               loan inside the sale's own journal entry, interbank receive: or book release:)
    pay off    once every bank has booked the second round, the borrower that repaid most from
               sales pays the rest off early (PayOffLoan).
    read back  at day end: every loan with its statement (GetLoan) and each bank's loan book
               (GetLoanBook), checked against the ledgers.

Only the outcomes are printed by the caller: lines_*() give its story, credit_document() the
JSON, credit_report() the table, credit_checks() the invariants.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from demo_market import Shop
from federation import Books, Federation
from invariants import Check

from fedmall.console import table
from fedmall.money import format_amount, format_money
from fedmall.results import name_of
from fedmall.v1 import credit_pb2, money_pb2

POLICY_FILE = Path(__file__).resolve().with_name("demo_credit_policy.toml")
POLICY_IN_BUNDLE = "credit_policy.toml"     # Each bank's copy, next to its fedmall.toml.
BORROW_SHARE_BP = 6_000                     # Borrowers ask for 60 % of what is available to them...
BORROW_STEP_MINOR = 1_000                   # ... rounded down to whole tens of euros.
DECLINED_ASK_MINOR = 5_000                  # What a knocked-out merchant asks for anyway.
OVER_LIMIT_MINOR = 10_000                   # How far above its available limit the refused merchant asks.
BASIS_POINTS = 10_000
RPC_TIMEOUT_S = 10

SALES, PAYOFF = "SALES", "PAYOFF"           # Statement line kinds (credit.proto).
INTERBANK_CREDIT, BOOK_CREDIT = "receive:", "release:"   # The entry ids a sale's repayment rides in.
APPROVED, DECLINED, LIMIT_EXCEEDED = "OK", "CREDIT_DECLINED", "CREDIT_LIMIT_EXCEEDED"


# The act ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfferSeen:
    """A merchant's offer after the first round, as its bank's CreditService gave it."""
    bank_id: str
    merchant_id: str
    policy_name: str
    repayment_share_bp: int
    grade: str
    total_points: int
    monthly_sales_minor: int
    limit_minor: int
    available_minor: int
    fee_bp: int
    knockouts: tuple[str, ...]              # "rule: reason"; empty when it may borrow.


@dataclass(frozen=True, slots=True)
class Application:
    offer: OfferSeen
    application_id: str
    requested_minor: int
    expected: str                           # The answer the demo expects: OK or a refusal's name.
    result: str
    detail: str
    fee_minor: int = 0                      # Of the loan, when approved.

    @property
    def ok(self) -> bool:
        return self.result == self.expected


@dataclass(frozen=True, slots=True)
class Payoff:
    bank_id: str
    merchant_id: str
    loan_id: str
    repaid_from_sales_minor: int            # Before paying off.
    amount_minor: int                       # What the payoff repaid.
    result: str
    status: str                             # The loan's after it.

    @property
    def ok(self) -> bool:
        return self.result == "OK" and self.status == "REPAID"


@dataclass(frozen=True, slots=True)
class Lending:
    policy_name: str
    repayment_share_bp: int
    currency: str
    offers: tuple[OfferSeen, ...]
    loans: tuple[Application, ...]          # The borrowers' applications (expected OK).
    refusal: Application | None             # The application meant to be refused.


def lend(federation: Federation, shops: list[Shop], *, currency: str) -> Lending:
    offers = tuple(_offer(federation, shop) for shop in shops)
    borrowers = [offer for bank in federation.banks if (offer := _best(offers, bank.bank_id)) is not None]
    loans = tuple(_apply(federation, offer, _ask_minor(offer), expected=APPROVED, currency=currency)
                  for offer in borrowers)
    refusal = None
    candidate = _refusal_candidate([offer for offer in offers if offer not in borrowers])
    if candidate is not None:
        knocked_out = bool(candidate.knockouts)
        refusal = _apply(federation, candidate,
                         DECLINED_ASK_MINOR if knocked_out else candidate.available_minor + OVER_LIMIT_MINOR,
                         expected=DECLINED if knocked_out else LIMIT_EXCEEDED, currency=currency)
    policy_names = {offer.policy_name for offer in offers}
    assert len(policy_names) == 1, f"the demo gives every bank the same policy, not {sorted(policy_names)}"
    return Lending(offers[0].policy_name, offers[0].repayment_share_bp, currency, offers, loans, refusal)


def _ask_minor(offer: OfferSeen) -> int:
    ask_minor = offer.available_minor * BORROW_SHARE_BP // BASIS_POINTS
    return ask_minor - ask_minor % BORROW_STEP_MINOR


def _best(offers: tuple[OfferSeen, ...], bank_id: str) -> OfferSeen | None:
    """The bank's merchant with the most available, if it may borrow something; the first on a tie."""
    eligible = [offer for offer in offers if offer.bank_id == bank_id and not offer.knockouts and _ask_minor(offer)]
    return max(eligible, key=lambda offer: offer.available_minor, default=None)


def _refusal_candidate(others: list[OfferSeen]) -> OfferSeen | None:
    """A knocked-out merchant if there is one (the policy's refusal), else the smallest offer (over the limit)."""
    knocked_out = [offer for offer in others if offer.knockouts]
    if knocked_out:
        return knocked_out[0]
    return min(others, key=lambda offer: offer.available_minor, default=None)


def _offer(federation: Federation, shop: Shop) -> OfferSeen:
    response = federation.credit_stub(shop.bank_id).GetCreditOffer(
        credit_pb2.GetCreditOfferRequest(merchant_id=shop.merchant_id), timeout=RPC_TIMEOUT_S)
    if name_of(response.result) != "OK":
        raise RuntimeError(f"credit offer for {shop.merchant_id} at {shop.bank_id}: {name_of(response.result)} "
                           f"{response.detail}")
    offer = response.offer
    return OfferSeen(shop.bank_id, shop.merchant_id, offer.policy_name, offer.repayment_share_bp, offer.grade,
                     offer.total_points, offer.monthly_sales.amount_minor, offer.limit.amount_minor,
                     offer.available.amount_minor, offer.fee_bp,
                     tuple(f"{knockout.rule}: {knockout.reason}" for knockout in offer.knockouts))


def _apply(federation: Federation, offer: OfferSeen, amount_minor: int, *, expected: str,
           currency: str) -> Application:
    application_id = str(uuid.uuid4())
    response = federation.credit_stub(offer.bank_id).ApplyForLoan(credit_pb2.ApplyForLoanRequest(
        application_id=application_id, merchant_id=offer.merchant_id,
        amount=money_pb2.Money(amount_minor=amount_minor, currency=currency)), timeout=RPC_TIMEOUT_S)
    return Application(offer, application_id, amount_minor, expected, name_of(response.result), response.detail,
                       fee_minor=response.loan.fee.amount_minor)


def approved(lending: Lending) -> list[Application]:
    return [application for application in lending.loans if application.result == APPROVED]


# Reading loans back --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoanState:
    application: Application
    principal_minor: int
    fee_minor: int
    repaid_minor: int
    outstanding_minor: int
    status: str                             # CURRENT, OVERDUE, NON_PERFORMING or REPAID.
    sales_repayments: int
    repaid_from_interbank_minor: int        # Shares of interbank payments (receive:<transfer>).
    repaid_from_book_minor: int             # Shares of book transfers at the bank (release:<order>).
    paid_off_minor: int
    statement_complete: bool

    @property
    def repaid_from_sales_minor(self) -> int:
        return self.repaid_from_interbank_minor + self.repaid_from_book_minor

    @property
    def owed_minor(self) -> int:
        return self.principal_minor + self.fee_minor


def read_loan(federation: Federation, application: Application) -> LoanState:
    offer = application.offer
    response = federation.credit_stub(offer.bank_id).GetLoan(credit_pb2.GetLoanRequest(
        merchant_id=offer.merchant_id, loan_id=application.application_id), timeout=RPC_TIMEOUT_S)
    if name_of(response.result) != "OK":
        raise RuntimeError(f"loan {application.application_id} at {offer.bank_id}: {name_of(response.result)}")
    loan, lines = response.loan, response.statement
    sales = [line for line in lines if line.kind == SALES]
    return LoanState(
        application, loan.principal.amount_minor, loan.fee.amount_minor, loan.repaid.amount_minor,
        loan.outstanding.amount_minor, credit_pb2.LoanStatus.Name(loan.status).removeprefix("LOAN_STATUS_"),
        len(sales), _sum(line for line in sales if line.entry_id.startswith(INTERBANK_CREDIT)),
        _sum(line for line in sales if line.entry_id.startswith(BOOK_CREDIT)),
        _sum(line for line in lines if line.kind == PAYOFF), not response.statement_truncated)


def _sum(lines) -> int:
    return sum(line.amount.amount_minor for line in lines)


def read_loans(federation: Federation, lending: Lending) -> list[LoanState]:
    return [read_loan(federation, application) for application in approved(lending)]


def pay_off_one(federation: Federation, loans: list[LoanState]) -> Payoff | None:
    """The open loan that repaid most from sales is paid off from the merchant's settlement account."""
    open_loans = [loan for loan in loans if loan.status != "REPAID"]
    if not open_loans:
        return None
    loan = max(open_loans, key=lambda loan: loan.repaid_from_sales_minor)
    offer = loan.application.offer
    response = federation.credit_stub(offer.bank_id).PayOffLoan(credit_pb2.PayOffLoanRequest(
        merchant_id=offer.merchant_id, loan_id=loan.application.application_id), timeout=RPC_TIMEOUT_S)
    status = credit_pb2.LoanStatus.Name(response.loan.status).removeprefix("LOAN_STATUS_")
    return Payoff(offer.bank_id, offer.merchant_id, loan.application.application_id, loan.repaid_from_sales_minor,
                  loan.outstanding_minor, name_of(response.result), status)


@dataclass(frozen=True, slots=True)
class BookState:
    """A bank's GetLoanBook totals in the demo's currency."""
    loans: int
    loans_open: int
    disbursed_minor: int
    fees_minor: int
    repaid_minor: int
    outstanding_minor: int
    lending_account_minor: int              # Minus the node's @lending balance.


def read_book(federation: Federation, bank_id: str, *, currency: str) -> BookState:
    response = federation.credit_stub(bank_id).GetLoanBook(credit_pb2.GetLoanBookRequest(), timeout=RPC_TIMEOUT_S)
    if name_of(response.result) != "OK":
        raise RuntimeError(f"loan book of {bank_id}: {name_of(response.result)} {response.detail}")
    totals = next((totals for totals in response.totals if totals.currency == currency), None)
    if totals is None:
        return BookState(0, 0, 0, 0, 0, 0, 0)
    return BookState(totals.loans, totals.loans_open, totals.disbursed.amount_minor, totals.fees.amount_minor,
                     totals.repaid.amount_minor, totals.outstanding.amount_minor, totals.lending_account.amount_minor)


@dataclass(frozen=True, slots=True)
class Credit:
    """The credit act and what the banks say about it at day end."""
    lending: Lending
    payoff: Payoff | None
    loans: tuple[LoanState, ...]
    books: dict[str, BookState]             # bank id -> its loan book

    def total_minor(self, name: str) -> int:
        return sum(getattr(loan, name) for loan in self.loans)


def read_credit(federation: Federation, lending: Lending, payoff: Payoff | None) -> Credit:
    return Credit(lending, payoff, tuple(read_loans(federation, lending)),
                  {bank.bank_id: read_book(federation, bank.bank_id, currency=lending.currency)
                   for bank in federation.banks})


# The story -----------------------------------------------------------------------------------


def percent(basis_points: int) -> str:
    return f"{basis_points / 100:g} %"


def lines_lent(lending: Lending) -> list[tuple[bool, str]]:
    """(as expected, line) for the story: the policy, every loan, the refusal."""
    money = lending.currency
    lines = [(True, f"each bank scored its own merchants on the trade its node saw (policy {lending.policy_name}): "
                    f"points give a grade, the limit is monthly sales x the grade's multiple, and "
                    f"{percent(lending.repayment_share_bp)} of every sale credited to a borrower repays its loan")]
    for application in lending.loans:
        offer = application.offer
        line = (f"{offer.merchant_id} borrowed {format_money(application.requested_minor, money)} from {offer.bank_id}: "
                f"grade {offer.grade} ({offer.total_points} points), limit {format_money(offer.limit_minor, money)}, ")
        if application.ok:
            lines.append((True, line + f"fee {percent(offer.fee_bp)} = {format_money(application.fee_minor, money)}; "
                                       f"disbursed into its settlement account, "
                                       f"{format_money(application.requested_minor + application.fee_minor, money)} owed"))
        else:
            lines.append((False, line + f"but was refused {application.result}: {application.detail}"))
    lending_banks = {application.offer.bank_id for application in lending.loans}
    for bank_id in dict.fromkeys(offer.bank_id for offer in lending.offers if offer.bank_id not in lending_banks):
        why = "; ".join(f"{offer.merchant_id}: {', '.join(_rules(offer)) or 'limit too small'}"
                        for offer in lending.offers if offer.bank_id == bank_id)
        lines.append((True, f"{bank_id} may lend to none of its merchants yet ({why})"))
    if (refusal := lending.refusal) is not None:
        offer = refusal.offer
        why = ("although its offer carries a knockout" if offer.knockouts else
               f"above the {format_money(offer.available_minor, money)} available to it (grade {offer.grade})")
        lines.append((refusal.ok, f"{offer.merchant_id} applied to {offer.bank_id} for "
                                  f"{format_money(refusal.requested_minor, money)}, {why}"
                                  f"\n    -> refused {refusal.result}: {refusal.detail}"
                                  + ("" if refusal.ok else f" (expected {refusal.expected})")))
    return lines


def lines_repaid(loans: list[LoanState], currency: str) -> list[tuple[bool, str]]:
    """After the second round, every bank having booked it: what the sales repaid."""
    if not loans:
        return []
    interbank = sum(loan.repaid_from_interbank_minor for loan in loans)
    book = sum(loan.repaid_from_book_minor for loan in loans)
    count = sum(loan.sales_repayments for loan in loans)
    per_loan = ", ".join(f"{loan.application.offer.merchant_id} {format_money(loan.repaid_from_sales_minor, currency)} "
                         f"of {format_money(loan.owed_minor, currency)}" for loan in loans)
    return [(True,
             f"the second round's sales repaid {format_money(interbank + book, currency)} in {count} repayments, each "
             f"split off a sale inside its own journal entry: {format_money(interbank, currency)} from payments across "
             f"banks (receive:), {format_money(book, currency)} from book transfers at the bank (release:)\n    ({per_loan})")]


def lines_paid_off(payoff: Payoff | None, currency: str) -> list[tuple[bool, str]]:
    if payoff is None:
        return []
    line = (f"{payoff.merchant_id} paid its loan off early: {format_money(payoff.amount_minor, currency)} from its "
            f"settlement account (payoff:), after {format_money(payoff.repaid_from_sales_minor, currency)} repaid from sales")
    return [(payoff.ok, f"{line}; the loan is {payoff.status}" if payoff.ok
             else f"{line}: {payoff.result}, the loan is {payoff.status}")]


# The report ---------------------------------------------------------------------------------


def credit_document(credit: Credit) -> dict:
    lending = credit.lending
    refusals = [lending.refusal] if lending.refusal else []
    return dict(
        policy=lending.policy_name, repayment_share_bp=lending.repayment_share_bp,
        loans=len(credit.loans),
        disbursed_minor=credit.total_minor("principal_minor"),
        fees_minor=credit.total_minor("fee_minor"),
        repaid_minor=credit.total_minor("repaid_minor"),
        repaid_from_sales_minor=credit.total_minor("repaid_from_sales_minor"),
        repaid_from_interbank_sales_minor=credit.total_minor("repaid_from_interbank_minor"),
        repaid_from_book_sales_minor=credit.total_minor("repaid_from_book_minor"),
        sales_repayments=credit.total_minor("sales_repayments"),
        paid_off_minor=credit.total_minor("paid_off_minor"),
        outstanding_minor=credit.total_minor("outstanding_minor"),
        declined=[dict(bank_id=refusal.offer.bank_id, merchant_id=refusal.offer.merchant_id,
                       requested_minor=refusal.requested_minor, available_minor=refusal.offer.available_minor,
                       knockouts=list(refusal.offer.knockouts), result=refusal.result, expected=refusal.expected,
                       detail=refusal.detail) for refusal in refusals],
        payoff=None if credit.payoff is None else dict(
            bank_id=credit.payoff.bank_id, merchant_id=credit.payoff.merchant_id, loan_id=credit.payoff.loan_id,
            amount_minor=credit.payoff.amount_minor, result=credit.payoff.result, status=credit.payoff.status),
        loan_list=[dict(
            bank_id=loan.application.offer.bank_id, merchant_id=loan.application.offer.merchant_id,
            loan_id=loan.application.application_id, grade=loan.application.offer.grade,
            limit_minor=loan.application.offer.limit_minor, fee_bp=loan.application.offer.fee_bp,
            principal_minor=loan.principal_minor, fee_minor=loan.fee_minor, repaid_minor=loan.repaid_minor,
            repaid_from_sales_minor=loan.repaid_from_sales_minor, sales_repayments=loan.sales_repayments,
            paid_off_minor=loan.paid_off_minor, outstanding_minor=loan.outstanding_minor, status=loan.status)
            for loan in credit.loans],
        offers=[dict(bank_id=offer.bank_id, merchant_id=offer.merchant_id, grade=offer.grade,
                     total_points=offer.total_points, monthly_sales_minor=offer.monthly_sales_minor,
                     limit_minor=offer.limit_minor, available_minor=offer.available_minor, fee_bp=offer.fee_bp,
                     knockouts=list(offer.knockouts)) for offer in lending.offers],
        books={bank_id: dict(loans=book.loans, loans_open=book.loans_open, disbursed_minor=book.disbursed_minor,
                             fees_minor=book.fees_minor, repaid_minor=book.repaid_minor,
                             outstanding_minor=book.outstanding_minor, lending_account_minor=book.lending_account_minor)
               for bank_id, book in credit.books.items()},
    )


def credit_report(credit: Credit) -> str:
    lending, money = credit.lending, credit.lending.currency
    loans = {loan.application.offer.merchant_id: loan for loan in credit.loans}
    rows = []
    for offer in lending.offers:
        row = dict(bank=offer.bank_id, merchant=offer.merchant_id, grade=offer.grade,
                   limit=format_amount(offer.limit_minor, money), status=_no_loan_status(lending, offer))
        if (loan := loans.get(offer.merchant_id)) is not None:
            row |= dict(principal=format_amount(loan.principal_minor, money), fee=format_amount(loan.fee_minor, money),
                        repaid=format_amount(loan.repaid_minor, money),
                        outstanding=format_amount(loan.outstanding_minor, money), status=_loan_status(credit, loan))
        rows.append(row)
    return (f"Merchant credit (policy {lending.policy_name}; {percent(lending.repayment_share_bp)} of each sale "
            f"credited to a borrower repays its loan)\n"
            + table(rows, ["bank", "merchant", "grade", "limit", "principal", "fee", "repaid", "outstanding", "status"])
            + "\n" + _totals_line(credit)
            + "\n* grade and limit as scored after the first round; repaid includes the fee; the demo lends to "
              "one merchant per bank, the one with the best offer.")


def _totals_line(credit: Credit) -> str:
    def money(name: str) -> str:
        return format_money(credit.total_minor(name), credit.lending.currency)

    loans = f"{len(credit.loans)} loan" + ("" if len(credit.loans) == 1 else "s")
    return (f"lent {money('principal_minor')} in {loans} (fees {money('fee_minor')}); "
            f"repaid {money('repaid_minor')}: {money('repaid_from_sales_minor')} from "
            f"{credit.total_minor('sales_repayments')} sales ({money('repaid_from_interbank_minor')} across banks, "
            f"{money('repaid_from_book_minor')} at the bank), {money('paid_off_minor')} paid off; "
            f"outstanding {money('outstanding_minor')}")


def _rules(offer: OfferSeen) -> list[str]:
    """The knockouts' rule names (sales_too_low, ...)."""
    return [knockout.split(":")[0] for knockout in offer.knockouts]


def _loan_status(credit: Credit, loan: LoanState) -> str:
    if credit.payoff is not None and credit.payoff.loan_id == loan.application.application_id:
        return f"{loan.status.lower()} (paid off)"
    return loan.status.lower()


def _no_loan_status(lending: Lending, offer: OfferSeen) -> str:
    refusal = lending.refusal
    if refusal is not None and refusal.offer == offer:
        return f"refused: {refusal.result}"
    if offer.knockouts:
        return "declined: " + ", ".join(_rules(offer))
    return "did not apply"


# The checks ---------------------------------------------------------------------------------


def credit_checks(credit: Credit, books: Books) -> list[Check]:
    return [_loan_books_agree(credit, books), _loans_within_owed(credit), _credit_as_expected(credit)]


def _loan_books_agree(credit: Credit, books: Books) -> Check:
    """Each bank's loan book (its own view) against its ledger (ledger-check, read separately)."""
    currency = credit.lending.currency
    wrong = []
    for bank_id, book in credit.books.items():
        internal = books.ledgers[bank_id]["internal_balances_minor"]
        lending_minor = -internal.get(f"@lending/{currency}", 0)
        fees_minor = internal.get(f"@credit-fees/{currency}", 0)
        loans_minor = sum(loan.outstanding_minor for loan in credit.loans if loan.application.offer.bank_id == bank_id)
        if not book.outstanding_minor == book.lending_account_minor == lending_minor == loans_minor:
            wrong.append(f"{bank_id}: book outstanding {book.outstanding_minor}, its @lending "
                         f"{book.lending_account_minor}, ledger-check @lending {lending_minor}, loans {loans_minor}")
        if book.fees_minor != fees_minor:
            wrong.append(f"{bank_id}: book fees {book.fees_minor}, @credit-fees {fees_minor}")
    outstanding = sum(book.outstanding_minor for book in credit.books.values())
    fees = sum(book.fees_minor for book in credit.books.values())
    return Check("loan_books_agree", "loan books agree with the ledger", not wrong, "; ".join(wrong) or
                 f"{len(credit.books)} banks: outstanding {format_money(outstanding, currency)} = -@lending, "
                 f"fees {format_money(fees, currency)} = @credit-fees")


def _loans_within_owed(credit: Credit) -> Check:
    """No loan repaid more than principal + fee; what it repaid and what is left make up what it owed."""
    wrong = []
    for loan in credit.loans:
        name = f"{loan.application.offer.merchant_id} loan {loan.application.application_id[:8]}"
        if not (0 <= loan.repaid_minor <= loan.owed_minor and loan.outstanding_minor >= 0
                and loan.repaid_minor + loan.outstanding_minor == loan.owed_minor):
            wrong.append(f"{name}: owed {loan.owed_minor}, repaid {loan.repaid_minor}, "
                         f"outstanding {loan.outstanding_minor}")
        elif loan.statement_complete and loan.repaid_from_sales_minor + loan.paid_off_minor != loan.repaid_minor:
            wrong.append(f"{name}: statement repays {loan.repaid_from_sales_minor + loan.paid_off_minor}, "
                         f"the loan {loan.repaid_minor}")
        elif (loan.outstanding_minor == 0) != (loan.status == "REPAID"):
            wrong.append(f"{name}: outstanding {loan.outstanding_minor} but {loan.status}")
    return Check("loans_within_owed", "loans never repaid more than owed", not wrong,
                 "; ".join(wrong) or f"{len(credit.loans)} loans: repaid + outstanding = principal + fee, "
                                     f"statements add up")


def _credit_as_expected(credit: Credit) -> Check:
    lending = credit.lending
    applications = list(lending.loans) + ([lending.refusal] if lending.refusal else [])
    wrong = [f"{application.offer.merchant_id}: {application.result} (expected {application.expected})"
             for application in applications if not application.ok]
    if credit.payoff is not None and not credit.payoff.ok:
        wrong.append(f"payoff of {credit.payoff.merchant_id}: {credit.payoff.result}, {credit.payoff.status}")
    approved_count = len(approved(lending))
    return Check("credit_as_expected", "loan applications and payoff ended as expected", not wrong,
                 "; ".join(wrong) or f"{approved_count} approved, {len(applications) - approved_count} refused, "
                                     f"{'1 paid off' if credit.payoff else 'none paid off'}")
