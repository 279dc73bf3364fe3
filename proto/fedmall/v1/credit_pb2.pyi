from fedmall.v1 import money_pb2 as _money_pb2
from fedmall.v1 import result_pb2 as _result_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LoanStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOAN_STATUS_UNSPECIFIED: _ClassVar[LoanStatus]
    LOAN_STATUS_CURRENT: _ClassVar[LoanStatus]
    LOAN_STATUS_OVERDUE: _ClassVar[LoanStatus]
    LOAN_STATUS_NON_PERFORMING: _ClassVar[LoanStatus]
    LOAN_STATUS_REPAID: _ClassVar[LoanStatus]

class PlanStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLAN_STATUS_UNSPECIFIED: _ClassVar[PlanStatus]
    PLAN_STATUS_ACTIVE: _ClassVar[PlanStatus]
    PLAN_STATUS_LATE: _ClassVar[PlanStatus]
    PLAN_STATUS_DEFAULTED: _ClassVar[PlanStatus]
    PLAN_STATUS_REPAID: _ClassVar[PlanStatus]
    PLAN_STATUS_CANCELLED: _ClassVar[PlanStatus]

class InstalmentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTALMENT_STATUS_UNSPECIFIED: _ClassVar[InstalmentStatus]
    INSTALMENT_STATUS_SCHEDULED: _ClassVar[InstalmentStatus]
    INSTALMENT_STATUS_COLLECTED: _ClassVar[InstalmentStatus]
    INSTALMENT_STATUS_LATE: _ClassVar[InstalmentStatus]
    INSTALMENT_STATUS_WAIVED: _ClassVar[InstalmentStatus]
LOAN_STATUS_UNSPECIFIED: LoanStatus
LOAN_STATUS_CURRENT: LoanStatus
LOAN_STATUS_OVERDUE: LoanStatus
LOAN_STATUS_NON_PERFORMING: LoanStatus
LOAN_STATUS_REPAID: LoanStatus
PLAN_STATUS_UNSPECIFIED: PlanStatus
PLAN_STATUS_ACTIVE: PlanStatus
PLAN_STATUS_LATE: PlanStatus
PLAN_STATUS_DEFAULTED: PlanStatus
PLAN_STATUS_REPAID: PlanStatus
PLAN_STATUS_CANCELLED: PlanStatus
INSTALMENT_STATUS_UNSPECIFIED: InstalmentStatus
INSTALMENT_STATUS_SCHEDULED: InstalmentStatus
INSTALMENT_STATUS_COLLECTED: InstalmentStatus
INSTALMENT_STATUS_LATE: InstalmentStatus
INSTALMENT_STATUS_WAIVED: InstalmentStatus

class FeatureScore(_message.Message):
    __slots__ = ("feature", "value", "band", "weight", "points")
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    feature: str
    value: int
    band: str
    weight: int
    points: int
    def __init__(self, feature: _Optional[str] = ..., value: _Optional[int] = ..., band: _Optional[str] = ..., weight: _Optional[int] = ..., points: _Optional[int] = ...) -> None: ...

class Knockout(_message.Message):
    __slots__ = ("rule", "reason")
    RULE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    rule: str
    reason: str
    def __init__(self, rule: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CreditOffer(_message.Message):
    __slots__ = ("merchant_id", "policy_name", "features", "scores", "total_points", "grade", "knockouts", "monthly_sales", "limit", "available", "fee_bp", "repayment_share_bp", "term_days", "computed_at_unix_ms")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_POINTS_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    KNOCKOUTS_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_SALES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    FEE_BP_FIELD_NUMBER: _ClassVar[int]
    REPAYMENT_SHARE_BP_FIELD_NUMBER: _ClassVar[int]
    TERM_DAYS_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    policy_name: str
    features: _containers.ScalarMap[str, int]
    scores: _containers.RepeatedCompositeFieldContainer[FeatureScore]
    total_points: int
    grade: str
    knockouts: _containers.RepeatedCompositeFieldContainer[Knockout]
    monthly_sales: _money_pb2.Money
    limit: _money_pb2.Money
    available: _money_pb2.Money
    fee_bp: int
    repayment_share_bp: int
    term_days: int
    computed_at_unix_ms: int
    def __init__(self, merchant_id: _Optional[str] = ..., policy_name: _Optional[str] = ..., features: _Optional[_Mapping[str, int]] = ..., scores: _Optional[_Iterable[_Union[FeatureScore, _Mapping]]] = ..., total_points: _Optional[int] = ..., grade: _Optional[str] = ..., knockouts: _Optional[_Iterable[_Union[Knockout, _Mapping]]] = ..., monthly_sales: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., limit: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., available: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., fee_bp: _Optional[int] = ..., repayment_share_bp: _Optional[int] = ..., term_days: _Optional[int] = ..., computed_at_unix_ms: _Optional[int] = ...) -> None: ...

class Installment(_message.Message):
    __slots__ = ("installment", "due_at_unix_ms", "cumulative_due")
    INSTALLMENT_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_DUE_FIELD_NUMBER: _ClassVar[int]
    installment: int
    due_at_unix_ms: int
    cumulative_due: _money_pb2.Money
    def __init__(self, installment: _Optional[int] = ..., due_at_unix_ms: _Optional[int] = ..., cumulative_due: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class Loan(_message.Message):
    __slots__ = ("loan_id", "merchant_id", "account_id", "principal", "fee", "repaid", "outstanding", "status", "grade", "repayment_share_bp", "disbursed_at_unix_ms", "maturity_at_unix_ms", "last_repaid_at_unix_ms", "closed_at_unix_ms", "ever_overdue", "schedule", "due_by_now")
    LOAN_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    REPAID_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    REPAYMENT_SHARE_BP_FIELD_NUMBER: _ClassVar[int]
    DISBURSED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    MATURITY_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_REPAID_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    EVER_OVERDUE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    DUE_BY_NOW_FIELD_NUMBER: _ClassVar[int]
    loan_id: str
    merchant_id: str
    account_id: str
    principal: _money_pb2.Money
    fee: _money_pb2.Money
    repaid: _money_pb2.Money
    outstanding: _money_pb2.Money
    status: LoanStatus
    grade: str
    repayment_share_bp: int
    disbursed_at_unix_ms: int
    maturity_at_unix_ms: int
    last_repaid_at_unix_ms: int
    closed_at_unix_ms: int
    ever_overdue: bool
    schedule: _containers.RepeatedCompositeFieldContainer[Installment]
    due_by_now: _money_pb2.Money
    def __init__(self, loan_id: _Optional[str] = ..., merchant_id: _Optional[str] = ..., account_id: _Optional[str] = ..., principal: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., fee: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., repaid: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., outstanding: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., status: _Optional[_Union[LoanStatus, str]] = ..., grade: _Optional[str] = ..., repayment_share_bp: _Optional[int] = ..., disbursed_at_unix_ms: _Optional[int] = ..., maturity_at_unix_ms: _Optional[int] = ..., last_repaid_at_unix_ms: _Optional[int] = ..., closed_at_unix_ms: _Optional[int] = ..., ever_overdue: _Optional[bool] = ..., schedule: _Optional[_Iterable[_Union[Installment, _Mapping]]] = ..., due_by_now: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class StatementLine(_message.Message):
    __slots__ = ("at_unix_ms", "kind", "entry_id", "credit", "amount", "outstanding_after")
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_AFTER_FIELD_NUMBER: _ClassVar[int]
    at_unix_ms: int
    kind: str
    entry_id: str
    credit: _money_pb2.Money
    amount: _money_pb2.Money
    outstanding_after: _money_pb2.Money
    def __init__(self, at_unix_ms: _Optional[int] = ..., kind: _Optional[str] = ..., entry_id: _Optional[str] = ..., credit: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., outstanding_after: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class GetCreditOfferRequest(_message.Message):
    __slots__ = ("merchant_id",)
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    def __init__(self, merchant_id: _Optional[str] = ...) -> None: ...

class GetCreditOfferResponse(_message.Message):
    __slots__ = ("result", "detail", "offer")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    OFFER_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    offer: CreditOffer
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., offer: _Optional[_Union[CreditOffer, _Mapping]] = ...) -> None: ...

class ApplyForLoanRequest(_message.Message):
    __slots__ = ("application_id", "merchant_id", "amount")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    merchant_id: str
    amount: _money_pb2.Money
    def __init__(self, application_id: _Optional[str] = ..., merchant_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class ApplyForLoanResponse(_message.Message):
    __slots__ = ("result", "detail", "loan", "offer")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    LOAN_FIELD_NUMBER: _ClassVar[int]
    OFFER_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    loan: Loan
    offer: CreditOffer
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., loan: _Optional[_Union[Loan, _Mapping]] = ..., offer: _Optional[_Union[CreditOffer, _Mapping]] = ...) -> None: ...

class PayOffLoanRequest(_message.Message):
    __slots__ = ("merchant_id", "loan_id")
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    LOAN_ID_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    loan_id: str
    def __init__(self, merchant_id: _Optional[str] = ..., loan_id: _Optional[str] = ...) -> None: ...

class PayOffLoanResponse(_message.Message):
    __slots__ = ("result", "detail", "loan")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    LOAN_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    loan: Loan
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., loan: _Optional[_Union[Loan, _Mapping]] = ...) -> None: ...

class GetLoanRequest(_message.Message):
    __slots__ = ("merchant_id", "loan_id")
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    LOAN_ID_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    loan_id: str
    def __init__(self, merchant_id: _Optional[str] = ..., loan_id: _Optional[str] = ...) -> None: ...

class GetLoanResponse(_message.Message):
    __slots__ = ("result", "detail", "loan", "statement", "statement_truncated")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    LOAN_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    loan: Loan
    statement: _containers.RepeatedCompositeFieldContainer[StatementLine]
    statement_truncated: bool
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., loan: _Optional[_Union[Loan, _Mapping]] = ..., statement: _Optional[_Iterable[_Union[StatementLine, _Mapping]]] = ..., statement_truncated: _Optional[bool] = ...) -> None: ...

class ListLoansRequest(_message.Message):
    __slots__ = ("merchant_id",)
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    def __init__(self, merchant_id: _Optional[str] = ...) -> None: ...

class ListLoansResponse(_message.Message):
    __slots__ = ("result", "detail", "loans")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    LOANS_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    loans: _containers.RepeatedCompositeFieldContainer[Loan]
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., loans: _Optional[_Iterable[_Union[Loan, _Mapping]]] = ...) -> None: ...

class GetLoanBookRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LoanBookTotals(_message.Message):
    __slots__ = ("currency", "loans", "loans_open", "disbursed", "fees", "repaid", "outstanding", "overdue", "non_performing", "non_performing_ratio_bp", "lending_account")
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    LOANS_FIELD_NUMBER: _ClassVar[int]
    LOANS_OPEN_FIELD_NUMBER: _ClassVar[int]
    DISBURSED_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    REPAID_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    NON_PERFORMING_FIELD_NUMBER: _ClassVar[int]
    NON_PERFORMING_RATIO_BP_FIELD_NUMBER: _ClassVar[int]
    LENDING_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    currency: str
    loans: int
    loans_open: int
    disbursed: _money_pb2.Money
    fees: _money_pb2.Money
    repaid: _money_pb2.Money
    outstanding: _money_pb2.Money
    overdue: _money_pb2.Money
    non_performing: _money_pb2.Money
    non_performing_ratio_bp: int
    lending_account: _money_pb2.Money
    def __init__(self, currency: _Optional[str] = ..., loans: _Optional[int] = ..., loans_open: _Optional[int] = ..., disbursed: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., fees: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., repaid: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., outstanding: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., overdue: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., non_performing: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., non_performing_ratio_bp: _Optional[int] = ..., lending_account: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class GetLoanBookResponse(_message.Message):
    __slots__ = ("result", "detail", "totals", "loans", "loans_truncated")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    LOANS_FIELD_NUMBER: _ClassVar[int]
    LOANS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    totals: _containers.RepeatedCompositeFieldContainer[LoanBookTotals]
    loans: _containers.RepeatedCompositeFieldContainer[Loan]
    loans_truncated: bool
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., totals: _Optional[_Iterable[_Union[LoanBookTotals, _Mapping]]] = ..., loans: _Optional[_Iterable[_Union[Loan, _Mapping]]] = ..., loans_truncated: _Optional[bool] = ...) -> None: ...

class Instalment(_message.Message):
    __slots__ = ("number", "due_at_unix_ms", "amount", "collected", "status", "attempts", "next_attempt_at_unix_ms")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    COLLECTED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    number: int
    due_at_unix_ms: int
    amount: _money_pb2.Money
    collected: _money_pb2.Money
    status: InstalmentStatus
    attempts: int
    next_attempt_at_unix_ms: int
    def __init__(self, number: _Optional[int] = ..., due_at_unix_ms: _Optional[int] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., collected: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., status: _Optional[_Union[InstalmentStatus, str]] = ..., attempts: _Optional[int] = ..., next_attempt_at_unix_ms: _Optional[int] = ...) -> None: ...

class InstalmentPlan(_message.Message):
    __slots__ = ("plan_id", "buyer_account_id", "policy_name", "instalments", "principal", "fee", "late_fees", "repaid", "outstanding", "status", "opened_at_unix_ms", "schedule")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    INSTALMENTS_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    LATE_FEES_FIELD_NUMBER: _ClassVar[int]
    REPAID_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    buyer_account_id: str
    policy_name: str
    instalments: int
    principal: _money_pb2.Money
    fee: _money_pb2.Money
    late_fees: _money_pb2.Money
    repaid: _money_pb2.Money
    outstanding: _money_pb2.Money
    status: PlanStatus
    opened_at_unix_ms: int
    schedule: _containers.RepeatedCompositeFieldContainer[Instalment]
    def __init__(self, plan_id: _Optional[str] = ..., buyer_account_id: _Optional[str] = ..., policy_name: _Optional[str] = ..., instalments: _Optional[int] = ..., principal: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., fee: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., late_fees: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., repaid: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., outstanding: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., status: _Optional[_Union[PlanStatus, str]] = ..., opened_at_unix_ms: _Optional[int] = ..., schedule: _Optional[_Iterable[_Union[Instalment, _Mapping]]] = ...) -> None: ...

class GetInstalmentPlanRequest(_message.Message):
    __slots__ = ("buyer_account_id", "plan_id")
    BUYER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    buyer_account_id: str
    plan_id: str
    def __init__(self, buyer_account_id: _Optional[str] = ..., plan_id: _Optional[str] = ...) -> None: ...

class GetInstalmentPlanResponse(_message.Message):
    __slots__ = ("result", "detail", "plan")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    plan: InstalmentPlan
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., plan: _Optional[_Union[InstalmentPlan, _Mapping]] = ...) -> None: ...

class ListInstalmentPlansRequest(_message.Message):
    __slots__ = ("buyer_account_id",)
    BUYER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    buyer_account_id: str
    def __init__(self, buyer_account_id: _Optional[str] = ...) -> None: ...

class ListInstalmentPlansResponse(_message.Message):
    __slots__ = ("result", "detail", "plans")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    PLANS_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    plans: _containers.RepeatedCompositeFieldContainer[InstalmentPlan]
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., plans: _Optional[_Iterable[_Union[InstalmentPlan, _Mapping]]] = ...) -> None: ...

class GetInstalmentBookRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InstalmentBookTotals(_message.Message):
    __slots__ = ("currency", "plans", "plans_open", "financed", "fees", "late_fees", "repaid", "outstanding", "late", "defaulted", "lending_account")
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    PLANS_FIELD_NUMBER: _ClassVar[int]
    PLANS_OPEN_FIELD_NUMBER: _ClassVar[int]
    FINANCED_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    LATE_FEES_FIELD_NUMBER: _ClassVar[int]
    REPAID_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    LATE_FIELD_NUMBER: _ClassVar[int]
    DEFAULTED_FIELD_NUMBER: _ClassVar[int]
    LENDING_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    currency: str
    plans: int
    plans_open: int
    financed: _money_pb2.Money
    fees: _money_pb2.Money
    late_fees: _money_pb2.Money
    repaid: _money_pb2.Money
    outstanding: _money_pb2.Money
    late: _money_pb2.Money
    defaulted: _money_pb2.Money
    lending_account: _money_pb2.Money
    def __init__(self, currency: _Optional[str] = ..., plans: _Optional[int] = ..., plans_open: _Optional[int] = ..., financed: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., fees: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., late_fees: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., repaid: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., outstanding: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., late: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., defaulted: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., lending_account: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class GetInstalmentBookResponse(_message.Message):
    __slots__ = ("result", "detail", "totals", "plans", "plans_truncated")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    PLANS_FIELD_NUMBER: _ClassVar[int]
    PLANS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    totals: _containers.RepeatedCompositeFieldContainer[InstalmentBookTotals]
    plans: _containers.RepeatedCompositeFieldContainer[InstalmentPlan]
    plans_truncated: bool
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., totals: _Optional[_Iterable[_Union[InstalmentBookTotals, _Mapping]]] = ..., plans: _Optional[_Iterable[_Union[InstalmentPlan, _Mapping]]] = ..., plans_truncated: _Optional[bool] = ...) -> None: ...
