from fedmall.v1 import limits_pb2 as _limits_pb2
from fedmall.v1 import money_pb2 as _money_pb2
from fedmall.v1 import result_pb2 as _result_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OpenAccountRequest(_message.Message):
    __slots__ = ("account_id", "holder_name", "currency")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    holder_name: str
    currency: str
    def __init__(self, account_id: _Optional[str] = ..., holder_name: _Optional[str] = ..., currency: _Optional[str] = ...) -> None: ...

class OpenAccountResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ...) -> None: ...

class DepositRequest(_message.Message):
    __slots__ = ("deposit_id", "account_id", "amount")
    DEPOSIT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    deposit_id: str
    account_id: str
    amount: _money_pb2.Money
    def __init__(self, deposit_id: _Optional[str] = ..., account_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class DepositResponse(_message.Message):
    __slots__ = ("result", "balance")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    balance: _money_pb2.Money
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., balance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class GetAccountResponse(_message.Message):
    __slots__ = ("result", "account_id", "holder_name", "balance", "closed")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_NAME_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    account_id: str
    holder_name: str
    balance: _money_pb2.Money
    closed: bool
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., account_id: _Optional[str] = ..., holder_name: _Optional[str] = ..., balance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., closed: _Optional[bool] = ...) -> None: ...

class SendTransferRequest(_message.Message):
    __slots__ = ("transfer_id", "from_account_id", "payee_bank_id", "payee_account_id", "amount", "reference", "original_transfer_id")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAYEE_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    PAYEE_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    from_account_id: str
    payee_bank_id: str
    payee_account_id: str
    amount: _money_pb2.Money
    reference: str
    original_transfer_id: str
    def __init__(self, transfer_id: _Optional[str] = ..., from_account_id: _Optional[str] = ..., payee_bank_id: _Optional[str] = ..., payee_account_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., reference: _Optional[str] = ..., original_transfer_id: _Optional[str] = ...) -> None: ...

class SendTransferResponse(_message.Message):
    __slots__ = ("result", "status", "field")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    status: str
    field: str
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., status: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class SendTransfersRequest(_message.Message):
    __slots__ = ("transfers",)
    TRANSFERS_FIELD_NUMBER: _ClassVar[int]
    transfers: _containers.RepeatedCompositeFieldContainer[SendTransferRequest]
    def __init__(self, transfers: _Optional[_Iterable[_Union[SendTransferRequest, _Mapping]]] = ...) -> None: ...

class SendTransfersResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SendTransferResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[SendTransferResponse, _Mapping]]] = ...) -> None: ...

class GetTransferRecordRequest(_message.Message):
    __slots__ = ("transfer_id",)
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    def __init__(self, transfer_id: _Optional[str] = ...) -> None: ...

class GetTransferRecordResponse(_message.Message):
    __slots__ = ("result", "transfer_id", "direction", "status", "amount", "counterparty_bank_id", "abort_reason", "payee_reason_code", "payee_reason", "uetr", "original_transfer_id")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    COUNTERPARTY_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    ABORT_REASON_FIELD_NUMBER: _ClassVar[int]
    PAYEE_REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    PAYEE_REASON_FIELD_NUMBER: _ClassVar[int]
    UETR_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    transfer_id: str
    direction: str
    status: str
    amount: _money_pb2.Money
    counterparty_bank_id: str
    abort_reason: _result_pb2.ResultCode
    payee_reason_code: _result_pb2.ResultCode
    payee_reason: str
    uetr: str
    original_transfer_id: str
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., transfer_id: _Optional[str] = ..., direction: _Optional[str] = ..., status: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., counterparty_bank_id: _Optional[str] = ..., abort_reason: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., payee_reason_code: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., payee_reason: _Optional[str] = ..., uetr: _Optional[str] = ..., original_transfer_id: _Optional[str] = ...) -> None: ...

class PeerServiceGetLimitsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PeerServiceGetLimitsResponse(_message.Message):
    __slots__ = ("limits",)
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    limits: _limits_pb2.Limits
    def __init__(self, limits: _Optional[_Union[_limits_pb2.Limits, _Mapping]] = ...) -> None: ...

class QuoteItem(_message.Message):
    __slots__ = ("transfer_id", "payee_account", "amount")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    PAYEE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    payee_account: str
    amount: _money_pb2.Money
    def __init__(self, transfer_id: _Optional[str] = ..., payee_account: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class QuoteResult(_message.Message):
    __slots__ = ("transfer_id", "result", "condition", "field", "creditor_name")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    CREDITOR_NAME_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    result: _result_pb2.ResultCode
    condition: bytes
    field: str
    creditor_name: str
    def __init__(self, transfer_id: _Optional[str] = ..., result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., condition: _Optional[bytes] = ..., field: _Optional[str] = ..., creditor_name: _Optional[str] = ...) -> None: ...

class QuoteTransfersRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[QuoteItem]
    def __init__(self, items: _Optional[_Iterable[_Union[QuoteItem, _Mapping]]] = ...) -> None: ...

class QuoteTransfersResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[QuoteResult]
    def __init__(self, results: _Optional[_Iterable[_Union[QuoteResult, _Mapping]]] = ...) -> None: ...
