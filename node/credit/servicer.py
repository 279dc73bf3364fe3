"""The thin gRPC servicer of merchant credit: proto -> node.credit.lending -> proto.

Only the bank's own channels may call it (this bank's certificate, else FORBIDDEN): no
other member's node can read this bank's scores or loans. Each request names the
merchant acting, and node.credit.lending shows it only its own offer and loans.
"""
from __future__ import annotations

from dataclasses import asdict

from fedmall.v1 import credit_pb2, credit_pb2_grpc, money_pb2, result_pb2

from node.answers import answers_errors, own_bank_only
from node.credit.features import SCORABLE_FEATURES
from node.credit.instalment_servicer import InstalmentCalls
from node.credit.instalments import InstalmentService
from node.credit.lending import LendingService, Offer
from node.credit.loan_views import LoanView, StatementLine
from node.credit.store import CURRENT, NON_PERFORMING, OVERDUE, REPAID

OK = result_pb2.RESULT_CODE_OK
LOAN_STATUS = {CURRENT: credit_pb2.LOAN_STATUS_CURRENT, OVERDUE: credit_pb2.LOAN_STATUS_OVERDUE,
               NON_PERFORMING: credit_pb2.LOAN_STATUS_NON_PERFORMING, REPAID: credit_pb2.LOAN_STATUS_REPAID}


def _money(amount_minor: int, currency: str) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency=currency)


def offer_to_proto(offer: Offer) -> credit_pb2.CreditOffer:
    decision, features = offer.decision, offer.features
    currency = decision.currency
    return credit_pb2.CreditOffer(
        merchant_id=decision.merchant_id, policy_name=decision.policy_name,
        features={name: value for name, value in asdict(features).items() if name in SCORABLE_FEATURES}
        | {"suspended": int(features.suspended)},
        scores=[credit_pb2.FeatureScore(feature=line.feature, value=line.value, band=line.band.label(),
                                        weight=line.weight, points=line.contribution) for line in decision.lines],
        total_points=decision.total_points, grade=decision.grade,
        knockouts=[credit_pb2.Knockout(rule=knockout.rule, reason=knockout.reason)
                   for knockout in decision.knockouts],
        monthly_sales=_money(decision.monthly_sales_minor, currency), limit=_money(decision.limit_minor, currency),
        available=_money(decision.available_minor, currency), fee_bp=decision.fee_bp,
        repayment_share_bp=offer.policy.loans.repayment_share_bp, term_days=offer.policy.loans.term_days,
        computed_at_unix_ms=features.computed_at_unix_ms)


def loan_to_proto(loan: LoanView) -> credit_pb2.Loan:
    currency = loan.currency
    return credit_pb2.Loan(
        loan_id=loan.loan_id, merchant_id=loan.merchant_id, account_id=loan.account_id,
        principal=_money(loan.principal_minor, currency), fee=_money(loan.fee_minor, currency),
        repaid=_money(loan.repaid_minor, currency), outstanding=_money(loan.outstanding_minor, currency),
        status=LOAN_STATUS[loan.status], grade=loan.grade, repayment_share_bp=loan.repayment_share_bp,
        disbursed_at_unix_ms=loan.disbursed_at_unix_ms, maturity_at_unix_ms=loan.maturity_at_unix_ms,
        last_repaid_at_unix_ms=loan.last_repaid_at_unix_ms or 0, closed_at_unix_ms=loan.closed_at_unix_ms or 0,
        ever_overdue=loan.ever_overdue,
        schedule=[credit_pb2.Installment(installment=item.installment, due_at_unix_ms=item.due_at_unix_ms,
                                         cumulative_due=_money(item.cumulative_due_minor, currency))
                  for item in loan.schedule],
        due_by_now=_money(loan.due_by_now_minor, currency))


def line_to_proto(line: StatementLine, currency: str) -> credit_pb2.StatementLine:
    return credit_pb2.StatementLine(
        at_unix_ms=line.at_unix_ms, kind=line.kind, entry_id=line.entry_id,
        credit=_money(line.credit_minor, currency), amount=_money(line.amount_minor, currency),
        outstanding_after=_money(line.outstanding_after_minor, currency))


class CreditServicer(InstalmentCalls, credit_pb2_grpc.CreditServiceServicer):
    def __init__(self, *, bank_id: str, lending: LendingService, instalments: InstalmentService) -> None:
        self._instalments = instalments
        self._bank_id = bank_id
        self._lending = lending

    @own_bank_only(credit_pb2.GetCreditOfferResponse)
    @answers_errors(credit_pb2.GetCreditOfferResponse)
    def GetCreditOffer(self, request, context):
        offer = self._lending.offer(request.merchant_id)
        return credit_pb2.GetCreditOfferResponse(result=OK,
                                                 offer=offer_to_proto(offer))

    @own_bank_only(credit_pb2.ApplyForLoanResponse)
    @answers_errors(credit_pb2.ApplyForLoanResponse)
    def ApplyForLoan(self, request, context):
        application = self._lending.apply(
            application_id=request.application_id, merchant_id=request.merchant_id,
            amount_minor=request.amount.amount_minor, currency=request.amount.currency)
        response = credit_pb2.ApplyForLoanResponse(result=application.result, loan=loan_to_proto(application.loan))
        if application.offer is not None:
            response.offer.CopyFrom(offer_to_proto(application.offer))
        return response

    @own_bank_only(credit_pb2.PayOffLoanResponse)
    @answers_errors(credit_pb2.PayOffLoanResponse)
    def PayOffLoan(self, request, context):
        result, loan = self._lending.pay_off(merchant_id=request.merchant_id, loan_id=request.loan_id)
        return credit_pb2.PayOffLoanResponse(result=result, loan=loan_to_proto(loan))

    @own_bank_only(credit_pb2.GetLoanResponse)
    @answers_errors(credit_pb2.GetLoanResponse)
    def GetLoan(self, request, context):
        loan, lines, truncated = self._lending.statement(merchant_id=request.merchant_id, loan_id=request.loan_id)
        return credit_pb2.GetLoanResponse(
            result=OK, loan=loan_to_proto(loan),
            statement=[line_to_proto(line, loan.currency) for line in lines], statement_truncated=truncated)

    @own_bank_only(credit_pb2.ListLoansResponse)
    @answers_errors(credit_pb2.ListLoansResponse)
    def ListLoans(self, request, context):
        return credit_pb2.ListLoansResponse(
            result=OK,
            loans=[loan_to_proto(loan) for loan in self._lending.loans_of(request.merchant_id)])

    @own_bank_only(credit_pb2.GetLoanBookResponse)
    @answers_errors(credit_pb2.GetLoanBookResponse)
    def GetLoanBook(self, request, context):
        book = self._lending.book()
        return credit_pb2.GetLoanBookResponse(
            result=OK,
            totals=[credit_pb2.LoanBookTotals(
                currency=totals.currency, loans=totals.loans, loans_open=totals.loans_open,
                disbursed=_money(totals.disbursed_minor, totals.currency),
                fees=_money(totals.fees_minor, totals.currency), repaid=_money(totals.repaid_minor, totals.currency),
                outstanding=_money(totals.outstanding_minor, totals.currency),
                overdue=_money(totals.overdue_minor, totals.currency),
                non_performing=_money(totals.non_performing_minor, totals.currency),
                non_performing_ratio_bp=totals.non_performing_ratio_bp,
                lending_account=_money(totals.lending_account_minor, totals.currency)) for totals in book.totals],
            loans=[loan_to_proto(loan) for loan in book.loans], loans_truncated=book.truncated)
