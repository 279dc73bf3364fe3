"""The merchant credit commands on fedmall-node, `credit ACTION`, for a merchant banking
here and for the bank's own staff:

    credit offer --merchant M              score, grade, limit, available, fee, repayment share
                                           and term; every scored feature's value, band, weight
                                           and points; every knockout that declines
    credit apply --merchant M AMOUNT [--currency EUR] [--application-id ID]
                                           decided at once; an approved loan is disbursed into
                                           the merchant's settlement account
    credit loans --merchant M              the merchant's loans, newest first
    credit loan --merchant M LOAN          one loan, its schedule and its statement
    credit payoff --merchant M LOAN        repay what is left from the settlement account
    credit book [--csv FILE | --csv -]     the bank's loan book: totals per currency and the
                                           loans; --csv writes one row per loan (CSV_COLUMNS)
    credit plans | plan | instalment-book  consumer instalment plans (node.credit.instalment_cli)

Each calls the node's own CreditService through the client node.cli hands in (the
bundle's mTLS credentials). Amounts are typed and shown as decimals, basis points as
percentages; --json gives minor units, currencies and basis points. Bad input raises
BadInput before any credit request is sent (exit 2; a --csv file that cannot be written
is found when it is written); a result other than OK or EXISTS raises Refused with the
node's detail, the reason (exit 1).

An application is idempotent by its id: without --application-id a fresh UUID is used and
printed, so that after a lost answer the same application can be made again (it answers
EXISTS with the loan, or the same refusal).
"""
from __future__ import annotations

import argparse
import csv
import decimal
import sys
import uuid
from pathlib import Path
from typing import Callable, Protocol

from fedmall.console import table
from fedmall.v1 import credit_pb2, money_pb2, result_pb2

from node import fields
from node.credit import instalment_cli
from node.command_output import (
    BadInput, Refused, add_command, amount_minor, code_name, decimal_text, money_column, money_json, money_text,
    print_json, print_lines, time_text, utc)
from node.errors import InvalidRequest

OK_CODES = (result_pb2.RESULT_CODE_OK, result_pb2.RESULT_CODE_EXISTS)
CURRENCY_DEFAULT = "EUR"
CSV_TO_STDOUT = "-"
CSV_COLUMNS = ("loan_id", "merchant_id", "account_id", "currency", "principal_minor", "fee_minor", "repaid_minor",
               "outstanding_minor", "status", "grade", "repayment_share_bp", "disbursed_at", "maturity_at",
               "last_repaid_at", "closed_at", "ever_overdue")


class Client(Protocol):
    """node.client.NodeClient: NodeService by default, CreditService through stub=client.credit."""
    credit: object

    def call(self, method: str, request, *, stub=None): ...


def add_commands(commands: argparse._SubParsersAction) -> None:
    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return add_command(actions, name, help_text)

    credit = commands.add_parser("credit", help="credit at this bank: merchant offers, loans, the loan book; "
                                                   "buyers' instalment plans")
    actions = credit.add_subparsers(dest="action", required=True)
    command("offer", "a merchant's score, grade and limit now, every line explained").add_argument(
        "--merchant", required=True)
    sub = command("apply", "apply for a loan: decided at once, disbursed into the settlement account")
    sub.add_argument("--merchant", required=True)
    sub.add_argument("amount", help="decimal, like 1500.00")
    sub.add_argument("--currency", default=CURRENCY_DEFAULT,
                     help=f"the currency the bank lends in (default {CURRENCY_DEFAULT})")
    sub.add_argument("--application-id", default=None,
                     help="letters, digits, '-', '_' or '.' (default a fresh UUID); a retry with the same id is safe")
    command("loans", "a merchant's loans, newest first").add_argument("--merchant", required=True)
    for name, text in (("loan", "one loan with its schedule and statement"),
                       ("payoff", "repay what is left of a loan from the settlement account")):
        sub = command(name, text)
        sub.add_argument("--merchant", required=True)
        sub.add_argument("loan_id")
    sub = command("book", "the bank's loan book: totals per currency and every loan")
    sub.add_argument("--csv", default=None, metavar="FILE", help="also write one row per loan; '-' for stdout only")
    instalment_cli.add_actions(command)


# Checking what the user typed, before anything is sent. BadInput on anything wrong.

def _application_id(text: str | None) -> str:
    if text is None:
        return str(uuid.uuid4())
    try:
        return fields.check_id(text, "--application-id")
    except InvalidRequest as error:
        raise BadInput(f"{error}, not {text!r}") from None


def _csv_file(args) -> Path | None:
    """The file --csv names: None without --csv or with --csv - (stdout)."""
    if args.csv is None:
        return None
    if args.csv == CSV_TO_STDOUT:
        if args.json:
            raise BadInput("--csv - and --json would both write to stdout; give --csv a file")
        return None
    path = Path(args.csv)
    if path.is_dir() or not path.parent.is_dir():
        raise BadInput(f"--csv {args.csv}: not a file in an existing folder")
    return path


# Showing what came back.

def _status_name(status: int) -> str:
    try:
        return credit_pb2.LoanStatus.Name(status).removeprefix("LOAN_STATUS_")
    except ValueError:
        return str(status)


def _percent(basis_points: int) -> str:
    return f"{decimal.Decimal(basis_points).scaleb(-2):.2f} %"


def _date(unix_ms: int) -> str:
    return utc(unix_ms).strftime("%Y-%m-%d") if unix_ms else ""


def _iso_time(unix_ms: int) -> str:
    return utc(unix_ms).strftime("%Y-%m-%dT%H:%M:%SZ") if unix_ms else ""


def offer_json(offer: credit_pb2.CreditOffer) -> dict:
    return dict(
        merchant_id=offer.merchant_id, policy_name=offer.policy_name, features=dict(offer.features),
        scores=[dict(feature=line.feature, value=line.value, band=line.band, weight=line.weight, points=line.points)
                for line in offer.scores],
        total_points=offer.total_points, grade=offer.grade,
        knockouts=[dict(rule=knockout.rule, reason=knockout.reason) for knockout in offer.knockouts],
        **money_json("monthly_sales", offer.monthly_sales), **money_json("limit", offer.limit),
        **money_json("available", offer.available), fee_bp=offer.fee_bp,
        repayment_share_bp=offer.repayment_share_bp, term_days=offer.term_days,
        computed_at_unix_ms=offer.computed_at_unix_ms)


def loan_json(loan: credit_pb2.Loan) -> dict:
    return dict(
        loan_id=loan.loan_id, merchant_id=loan.merchant_id, account_id=loan.account_id,
        **money_json("principal", loan.principal), **money_json("fee", loan.fee),
        **money_json("repaid", loan.repaid), **money_json("outstanding", loan.outstanding),
        **money_json("due_by_now", loan.due_by_now), status=_status_name(loan.status), grade=loan.grade,
        repayment_share_bp=loan.repayment_share_bp, disbursed_at_unix_ms=loan.disbursed_at_unix_ms,
        maturity_at_unix_ms=loan.maturity_at_unix_ms, last_repaid_at_unix_ms=loan.last_repaid_at_unix_ms,
        closed_at_unix_ms=loan.closed_at_unix_ms, ever_overdue=loan.ever_overdue,
        schedule=[dict(installment=item.installment, due_at_unix_ms=item.due_at_unix_ms,
                       **money_json("cumulative_due", item.cumulative_due)) for item in loan.schedule])


def _line_json(line: credit_pb2.StatementLine) -> dict:
    return dict(at_unix_ms=line.at_unix_ms, kind=line.kind, entry_id=line.entry_id,
                **money_json("credit", line.credit), **money_json("amount", line.amount),
                **money_json("outstanding_after", line.outstanding_after))


def _totals_json(totals: credit_pb2.LoanBookTotals) -> dict:
    return dict(
        currency=totals.currency, loans=totals.loans, loans_open=totals.loans_open,
        **money_json("disbursed", totals.disbursed), **money_json("fees", totals.fees),
        **money_json("repaid", totals.repaid), **money_json("outstanding", totals.outstanding),
        **money_json("overdue", totals.overdue), **money_json("non_performing", totals.non_performing),
        non_performing_ratio_bp=totals.non_performing_ratio_bp,
        **money_json("lending_account", totals.lending_account), books_agree=_books_agree(totals))


def _books_agree(totals: credit_pb2.LoanBookTotals) -> bool:
    return totals.lending_account == totals.outstanding


def _show_offer(offer: credit_pb2.CreditOffer) -> None:
    limit, available = money_column([offer.limit, offer.available])
    print_lines([
        ("merchant", offer.merchant_id), ("policy", offer.policy_name),
        ("score", f"{offer.total_points} points"), ("grade", offer.grade),
        ("limit", limit), ("available", available), ("monthly sales", money_text(offer.monthly_sales)),
        ("fee", _percent(offer.fee_bp)),
        ("repayment share", f"{_percent(offer.repayment_share_bp)} of each incoming credit"),
        ("term", f"{offer.term_days} days"), ("computed", time_text(offer.computed_at_unix_ms))])
    if offer.scores:
        print()
        print(table([{"feature": line.feature, "value": line.value, "band": line.band, "weight": line.weight,
                      "points": line.points} for line in offer.scores],
                    ["feature", "value", "band", "weight", "points"]))
    if offer.knockouts:
        print()
    for knockout in offer.knockouts:
        print(f"declined: {knockout.rule}: {knockout.reason}")


def _show_loan(loan: credit_pb2.Loan, head: list[tuple[str, str]]) -> None:
    principal, fee, repaid, outstanding, due_by_now = money_column(
        [loan.principal, loan.fee, loan.repaid, loan.outstanding, loan.due_by_now])
    print_lines(head + [
        ("loan", loan.loan_id), ("merchant", loan.merchant_id), ("account", loan.account_id),
        ("status", _status_name(loan.status)), ("grade", loan.grade),
        ("principal", principal), ("fee", fee), ("repaid", repaid), ("outstanding", outstanding),
        ("due by now", due_by_now),
        ("repayment share", f"{_percent(loan.repayment_share_bp)} of each incoming credit"),
        ("disbursed", time_text(loan.disbursed_at_unix_ms)), ("maturity", time_text(loan.maturity_at_unix_ms)),
        ("last repaid", time_text(loan.last_repaid_at_unix_ms)), ("closed", time_text(loan.closed_at_unix_ms)),
        ("ever overdue", "yes" if loan.ever_overdue else "no")])
    if loan.schedule:
        print()
        dues = money_column([item.cumulative_due for item in loan.schedule])
        print(table([{"installment": item.installment, "due": time_text(item.due_at_unix_ms), "cumulative due": due}
                     for item, due in zip(loan.schedule, dues)], ["installment", "due", "cumulative due"]))


def _statement_table(lines: list[credit_pb2.StatementLine]) -> str:
    credits = money_column([line.credit if line.credit.amount_minor else money_pb2.Money() for line in lines])
    amounts = money_column([line.amount for line in lines])
    afters = money_column([line.outstanding_after for line in lines])
    return table([{"time": time_text(line.at_unix_ms), "kind": line.kind, "entry": line.entry_id, "credit": credit,
                   "amount": amount, "outstanding after": after}
                  for line, credit, amount, after in zip(lines, credits, amounts, afters)],
                 ["time", "kind", "entry", "credit", "amount", "outstanding after"])


def _loans_table(loans: list[credit_pb2.Loan], *, with_merchant: bool) -> str:
    principals = money_column([loan.principal for loan in loans])
    fees = money_column([loan.fee for loan in loans])
    repaids = money_column([loan.repaid for loan in loans])
    outstandings = money_column([loan.outstanding for loan in loans])
    rows = [{"loan": loan.loan_id, "merchant": loan.merchant_id, "status": _status_name(loan.status),
             "grade": loan.grade, "principal": principal, "fee": fee, "repaid": repaid, "outstanding": outstanding,
             "disbursed": _date(loan.disbursed_at_unix_ms), "maturity": _date(loan.maturity_at_unix_ms)}
            for loan, principal, fee, repaid, outstanding in zip(loans, principals, fees, repaids, outstandings)]
    return table(rows, ["loan"] + (["merchant"] if with_merchant else [])
                 + ["status", "grade", "principal", "fee", "repaid", "outstanding", "disbursed", "maturity"])


def _totals_table(totals: list[credit_pb2.LoanBookTotals]) -> str:
    return table([{"currency": item.currency, "loans": item.loans, "open": item.loans_open,
                   "disbursed": decimal_text(item.disbursed), "fees": decimal_text(item.fees),
                   "repaid": decimal_text(item.repaid), "outstanding": decimal_text(item.outstanding),
                   "overdue": decimal_text(item.overdue), "non-performing": decimal_text(item.non_performing),
                   "NPL ratio": _percent(item.non_performing_ratio_bp),
                   "@lending": decimal_text(item.lending_account),
                   "= outstanding": "yes" if _books_agree(item) else "NO"} for item in totals],
                 ["currency", "loans", "open", "disbursed", "fees", "repaid", "outstanding", "overdue",
                  "non-performing", "NPL ratio", "@lending", "= outstanding"])


def _csv_row(loan: credit_pb2.Loan) -> dict:
    return dict(
        loan_id=loan.loan_id, merchant_id=loan.merchant_id, account_id=loan.account_id,
        currency=loan.principal.currency, principal_minor=loan.principal.amount_minor,
        fee_minor=loan.fee.amount_minor, repaid_minor=loan.repaid.amount_minor,
        outstanding_minor=loan.outstanding.amount_minor, status=_status_name(loan.status), grade=loan.grade,
        repayment_share_bp=loan.repayment_share_bp, disbursed_at=_iso_time(loan.disbursed_at_unix_ms),
        maturity_at=_iso_time(loan.maturity_at_unix_ms), last_repaid_at=_iso_time(loan.last_repaid_at_unix_ms),
        closed_at=_iso_time(loan.closed_at_unix_ms), ever_overdue="true" if loan.ever_overdue else "false")


def write_csv(file, loans: list[credit_pb2.Loan]) -> None:
    """One row per loan under a header of CSV_COLUMNS; times in ISO 8601 UTC, empty when unset."""
    writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(_csv_row(loan) for loan in loans)


# The commands. Each validates everything it can before its first call.

def _credit(client: Client, method: str, request):
    response = client.call(method, request, stub=client.credit)
    if response.result not in OK_CODES:
        raise Refused(response.result, response.detail)
    return response


def _offer(args, client: Client) -> None:
    offer = _credit(client, "GetCreditOffer", credit_pb2.GetCreditOfferRequest(merchant_id=args.merchant)).offer
    if args.json:
        print_json(offer_json(offer))
        return
    _show_offer(offer)


def _apply(args, client: Client) -> None:
    amount = money_pb2.Money(amount_minor=amount_minor(args.amount, args.currency), currency=args.currency)
    application_id = _application_id(args.application_id)
    try:
        response = _credit(client, "ApplyForLoan", credit_pb2.ApplyForLoanRequest(
            application_id=application_id, merchant_id=args.merchant, amount=amount))
    except ConnectionError as error:  # The node may have decided: the same id again answers with the decision.
        raise ConnectionError(f"{error}; to retry, give --application-id {application_id}") from None
    if args.json:
        print_json(dict(application_id=application_id, result=code_name(response.result),
                         loan=loan_json(response.loan),
                         offer=offer_json(response.offer) if response.HasField("offer") else None))
        return
    _show_loan(response.loan, [("application", application_id), ("result", code_name(response.result))])


def _loans(args, client: Client) -> None:
    loans = list(_credit(client, "ListLoans", credit_pb2.ListLoansRequest(merchant_id=args.merchant)).loans)
    if args.json:
        print_json(dict(merchant_id=args.merchant, loans=[loan_json(loan) for loan in loans]))
    elif not loans:
        print(f"{args.merchant} has no loans")
    else:
        print(_loans_table(loans, with_merchant=False))


def _loan(args, client: Client) -> None:
    response = _credit(client, "GetLoan", credit_pb2.GetLoanRequest(merchant_id=args.merchant,
                                                                   loan_id=args.loan_id))
    lines = list(response.statement)
    if args.json:
        print_json(dict(loan=loan_json(response.loan), statement=[_line_json(line) for line in lines],
                         statement_truncated=response.statement_truncated))
        return
    _show_loan(response.loan, [])
    print()
    if response.statement_truncated:
        print(f"(the newest {len(lines)} lines of the statement)")
    print(_statement_table(lines) if lines else "no statement lines")


def _payoff(args, client: Client) -> None:
    response = _credit(client, "PayOffLoan", credit_pb2.PayOffLoanRequest(merchant_id=args.merchant,
                                                                         loan_id=args.loan_id))
    if args.json:
        print_json(dict(result=code_name(response.result), loan=loan_json(response.loan)))
        return
    _show_loan(response.loan, [("result", code_name(response.result))])


def _book(args, client: Client) -> None:
    path = _csv_file(args)
    response = _credit(client, "GetLoanBook", credit_pb2.GetLoanBookRequest())
    totals, loans = list(response.totals), list(response.loans)
    if args.csv == CSV_TO_STDOUT:
        write_csv(sys.stdout, loans)
        if response.loans_truncated:
            print(f"(the newest {len(loans)} loans)", file=sys.stderr)
        return
    if path is not None:
        try:
            with path.open("w", newline="", encoding="utf-8") as file:
                write_csv(file, loans)
        except OSError as error:
            raise BadInput(f"cannot write {path}: {error.strerror}") from None
    if args.json:
        print_json(dict(totals=[_totals_json(item) for item in totals], loans=[loan_json(loan) for loan in loans],
                         loans_truncated=response.loans_truncated))
        return
    _show_book(totals, loans, truncated=response.loans_truncated)
    if path is not None:
        print(f"wrote {len(loans)} loans to {path}")


def _show_book(totals: list[credit_pb2.LoanBookTotals], loans: list[credit_pb2.Loan], *, truncated: bool) -> None:
    if not totals:
        print("no loans yet")
        return
    print(_totals_table(totals))
    print()
    if truncated:
        print(f"(the newest {len(loans)} loans)")
    print(_loans_table(loans, with_merchant=True))


ACTIONS: dict[str, Callable[[argparse.Namespace, Client], None]] = {
    "offer": _offer, "apply": _apply, "loans": _loans, "loan": _loan, "payoff": _payoff, "book": _book,
}


def _run(args, client: Client) -> None:
    if args.action in instalment_cli.ACTIONS:
        instalment_cli.ACTIONS[args.action](args, lambda method, request: _credit(client, method, request))
        return
    ACTIONS[args.action](args, client)


COMMANDS: dict[str, Callable[[argparse.Namespace, Client], None]] = {"credit": _run}
