"""The instalment commands of `fedmall-node credit` (node.credit.cli registers them):

    credit plans --buyer A                 a buyer's instalment plans, newest first
    credit plan --buyer A PLAN             one plan (its order's id) and its schedule: each
                                           instalment's due date, amount, what was collected
    credit instalment-book                 the bank's consumer instalment book: totals per
                                           currency (financed, fees, repaid, outstanding, late,
                                           defaulted, @consumer-lending) and the newest plans

Tables for people; --json gives minor units and currencies.
"""
from __future__ import annotations

import argparse
from typing import Callable

from fedmall.console import table
from fedmall.v1 import credit_pb2

from node.command_output import money_column, money_json, money_text, print_json, print_lines, time_text


def add_actions(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    command("plans", "a buyer's instalment plans, newest first").add_argument("--buyer", required=True)
    sub = command("plan", "one instalment plan and its schedule")
    sub.add_argument("--buyer", required=True)
    sub.add_argument("plan_id", help="the financed order's id")
    command("instalment-book", "the bank's consumer instalment book: totals per currency and the plans")


def _status(enum, value: int, prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix)


def instalment_json(item: credit_pb2.Instalment) -> dict:
    return dict(number=item.number, due_at_unix_ms=item.due_at_unix_ms, **money_json("amount", item.amount),
                **money_json("collected", item.collected),
                status=_status(credit_pb2.InstalmentStatus, item.status, "INSTALMENT_STATUS_"),
                attempts=item.attempts, next_attempt_at_unix_ms=item.next_attempt_at_unix_ms)


def plan_json(plan: credit_pb2.InstalmentPlan) -> dict:
    return dict(plan_id=plan.plan_id, buyer_account_id=plan.buyer_account_id, policy_name=plan.policy_name,
                instalments=plan.instalments, **money_json("principal", plan.principal), **money_json("fee", plan.fee),
                **money_json("late_fees", plan.late_fees), **money_json("repaid", plan.repaid),
                **money_json("outstanding", plan.outstanding),
                status=_status(credit_pb2.PlanStatus, plan.status, "PLAN_STATUS_"),
                opened_at_unix_ms=plan.opened_at_unix_ms, schedule=[instalment_json(item) for item in plan.schedule])


def schedule_table(plan: credit_pb2.InstalmentPlan) -> str:
    amounts = money_column([item.amount for item in plan.schedule])
    collected = money_column([item.collected for item in plan.schedule])
    return table([{"#": item.number, "due": time_text(item.due_at_unix_ms)[:10], "amount": amount,
                   "collected": got, "status": _status(credit_pb2.InstalmentStatus, item.status, "INSTALMENT_STATUS_"),
                   "attempts": item.attempts}
                  for item, amount, got in zip(plan.schedule, amounts, collected)],
                 ["#", "due", "amount", "collected", "status", "attempts"])


def _plans_table(plans: list[credit_pb2.InstalmentPlan], *, with_buyer: bool) -> str:
    principals = money_column([plan.principal for plan in plans])
    outstandings = money_column([plan.outstanding for plan in plans])
    return table([{"plan": plan.plan_id, "buyer": plan.buyer_account_id,
                   "status": _status(credit_pb2.PlanStatus, plan.status, "PLAN_STATUS_"),
                   "instalments": plan.instalments, "financed": principal, "outstanding": outstanding,
                   "opened": time_text(plan.opened_at_unix_ms)[:10]}
                  for plan, principal, outstanding in zip(plans, principals, outstandings)],
                 ["plan"] + (["buyer"] if with_buyer else []) + ["status", "instalments", "financed", "outstanding",
                                                                  "opened"])


def show_plan(plan: credit_pb2.InstalmentPlan) -> None:
    print_lines([("plan", plan.plan_id), ("buyer", plan.buyer_account_id), ("policy", plan.policy_name),
                 ("status", _status(credit_pb2.PlanStatus, plan.status, "PLAN_STATUS_")),
                 ("financed", money_text(plan.principal)), ("fee", money_text(plan.fee)),
                 ("late fees", money_text(plan.late_fees) if plan.late_fees.amount_minor else ""),
                 ("repaid", money_text(plan.repaid)), ("outstanding", money_text(plan.outstanding)),
                 ("opened", time_text(plan.opened_at_unix_ms))])
    print()
    print(schedule_table(plan))


def _totals_json(item: credit_pb2.InstalmentBookTotals) -> dict:
    return dict(currency=item.currency, plans=item.plans, plans_open=item.plans_open,
                **money_json("financed", item.financed), **money_json("fees", item.fees),
                **money_json("late_fees", item.late_fees), **money_json("repaid", item.repaid),
                **money_json("outstanding", item.outstanding), **money_json("late", item.late),
                **money_json("defaulted", item.defaulted), **money_json("lending_account", item.lending_account),
                books_agree=item.lending_account == item.outstanding)


def _plans(args, credit) -> None:
    plans = list(credit("ListInstalmentPlans", credit_pb2.ListInstalmentPlansRequest(buyer_account_id=args.buyer)).plans)
    if args.json:
        print_json(dict(buyer_account_id=args.buyer, plans=[plan_json(plan) for plan in plans]))
    elif not plans:
        print(f"{args.buyer} has no instalment plans")
    else:
        print(_plans_table(plans, with_buyer=False))


def _plan(args, credit) -> None:
    plan = credit("GetInstalmentPlan", credit_pb2.GetInstalmentPlanRequest(
        buyer_account_id=args.buyer, plan_id=args.plan_id)).plan
    if args.json:
        print_json(plan_json(plan))
        return
    show_plan(plan)


def _book(args, credit) -> None:
    response = credit("GetInstalmentBook", credit_pb2.GetInstalmentBookRequest())
    totals, plans = list(response.totals), list(response.plans)
    if args.json:
        print_json(dict(totals=[_totals_json(item) for item in totals], plans=[plan_json(plan) for plan in plans],
                         plans_truncated=response.plans_truncated))
        return
    if not totals:
        print("no instalment plans yet")
        return
    print(table([{key: value for key, value in (
        ("currency", item.currency), ("plans", item.plans), ("open", item.plans_open),
        ("financed", money_text(item.financed)), ("fees", money_text(item.fees)),
        ("late fees", money_text(item.late_fees)), ("repaid", money_text(item.repaid)),
        ("outstanding", money_text(item.outstanding)), ("late", money_text(item.late)),
        ("defaulted", money_text(item.defaulted)), ("@consumer-lending", money_text(item.lending_account)),
        ("= outstanding", "yes" if item.lending_account == item.outstanding else "NO"))} for item in totals],
        ["currency", "plans", "open", "financed", "fees", "late fees", "repaid", "outstanding", "late", "defaulted",
         "@consumer-lending", "= outstanding"]))
    print()
    if response.plans_truncated:
        print(f"(the newest {len(plans)} plans)")
    print(_plans_table(plans, with_buyer=True))


ACTIONS = {"plans": _plans, "plan": _plan, "instalment-book": _book}
