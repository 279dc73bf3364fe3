"""The instalment calls of CreditService (proto <-> node.credit.instalments), a mixin of
node.credit.servicer.CreditServicer: the bank's own channels only; a buyer sees only its plans."""
from __future__ import annotations

from fedmall.v1 import credit_pb2, money_pb2, result_pb2

from node.answers import answers_errors, own_bank_only
from node.credit import store as tables
from node.credit.instalments import InstalmentService, PlanView

OK = result_pb2.RESULT_CODE_OK
PLAN_STATUS = {tables.PLAN_ACTIVE: credit_pb2.PLAN_STATUS_ACTIVE, tables.PLAN_LATE: credit_pb2.PLAN_STATUS_LATE,
               tables.PLAN_DEFAULTED: credit_pb2.PLAN_STATUS_DEFAULTED, tables.PLAN_REPAID: credit_pb2.PLAN_STATUS_REPAID,
               tables.PLAN_CANCELLED: credit_pb2.PLAN_STATUS_CANCELLED}
INSTALMENT_STATUS = {tables.SCHEDULED: credit_pb2.INSTALMENT_STATUS_SCHEDULED,
                     tables.COLLECTED: credit_pb2.INSTALMENT_STATUS_COLLECTED,
                     tables.LATE: credit_pb2.INSTALMENT_STATUS_LATE, tables.WAIVED: credit_pb2.INSTALMENT_STATUS_WAIVED}


def plan_to_proto(plan: PlanView) -> credit_pb2.InstalmentPlan:
    def money(amount_minor: int) -> money_pb2.Money:
        return money_pb2.Money(amount_minor=amount_minor, currency=plan.currency)

    return credit_pb2.InstalmentPlan(
        plan_id=plan.plan_id, buyer_account_id=plan.buyer_account_id, policy_name=plan.policy_name,
        instalments=plan.instalments, principal=money(plan.principal_minor), fee=money(plan.fee_minor),
        late_fees=money(plan.late_fees_minor), repaid=money(plan.repaid_minor),
        outstanding=money(plan.outstanding_minor), status=PLAN_STATUS[plan.status],
        opened_at_unix_ms=plan.opened_at_unix_ms,
        schedule=[credit_pb2.Instalment(
            number=item.number, due_at_unix_ms=item.due_at_unix_ms, amount=money(item.amount_minor),
            collected=money(item.collected_minor), status=INSTALMENT_STATUS[item.status], attempts=item.attempts,
            next_attempt_at_unix_ms=item.next_attempt_at_unix_ms) for item in plan.schedule])


class InstalmentCalls:
    """Needs self._bank_id and self._instalments (an InstalmentService)."""
    _bank_id: str
    _instalments: InstalmentService

    @own_bank_only(credit_pb2.GetInstalmentPlanResponse)
    @answers_errors(credit_pb2.GetInstalmentPlanResponse)
    def GetInstalmentPlan(self, request, context):
        plan = self._instalments.plan(buyer_account_id=request.buyer_account_id, plan_id=request.plan_id)
        return credit_pb2.GetInstalmentPlanResponse(result=OK, plan=plan_to_proto(plan))

    @own_bank_only(credit_pb2.ListInstalmentPlansResponse)
    @answers_errors(credit_pb2.ListInstalmentPlansResponse)
    def ListInstalmentPlans(self, request, context):
        return credit_pb2.ListInstalmentPlansResponse(result=OK, plans=[
            plan_to_proto(plan) for plan in self._instalments.plans_of(request.buyer_account_id)])

    @own_bank_only(credit_pb2.GetInstalmentBookResponse)
    @answers_errors(credit_pb2.GetInstalmentBookResponse)
    def GetInstalmentBook(self, request, context):
        book = self._instalments.book()

        def totals_to_proto(totals) -> credit_pb2.InstalmentBookTotals:
            def money(amount_minor: int) -> money_pb2.Money:
                return money_pb2.Money(amount_minor=amount_minor, currency=totals.currency)
            return credit_pb2.InstalmentBookTotals(
                currency=totals.currency, plans=totals.plans, plans_open=totals.plans_open,
                financed=money(totals.financed_minor), fees=money(totals.fees_minor),
                late_fees=money(totals.late_fees_minor), repaid=money(totals.repaid_minor),
                outstanding=money(totals.outstanding_minor), late=money(totals.late_minor),
                defaulted=money(totals.defaulted_minor), lending_account=money(totals.lending_account_minor))

        return credit_pb2.GetInstalmentBookResponse(
            result=OK, totals=[totals_to_proto(totals) for totals in book.totals],
            plans=[plan_to_proto(plan) for plan in book.plans], plans_truncated=book.truncated)
