from fedmall.v1 import money_pb2 as _money_pb2
from fedmall.v1 import result_pb2 as _result_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransferState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFER_STATE_UNSPECIFIED: _ClassVar[TransferState]
    TRANSFER_STATE_RECEIVED: _ClassVar[TransferState]
    TRANSFER_STATE_RESERVED: _ClassVar[TransferState]
    TRANSFER_STATE_COMMITTED: _ClassVar[TransferState]
    TRANSFER_STATE_ABORTED: _ClassVar[TransferState]
TRANSFER_STATE_UNSPECIFIED: TransferState
TRANSFER_STATE_RECEIVED: TransferState
TRANSFER_STATE_RESERVED: TransferState
TRANSFER_STATE_COMMITTED: TransferState
TRANSFER_STATE_ABORTED: TransferState

class Prepare(_message.Message):
    __slots__ = ("transfer_id", "payer_bank_id", "payee_bank_id", "payee_account", "amount", "condition", "expires_at_unix_ms", "reference", "uetr", "debtor_name", "debtor_account", "creditor_name", "original_transfer_id")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    PAYER_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    PAYEE_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    PAYEE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    UETR_FIELD_NUMBER: _ClassVar[int]
    DEBTOR_NAME_FIELD_NUMBER: _ClassVar[int]
    DEBTOR_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CREDITOR_NAME_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    payer_bank_id: str
    payee_bank_id: str
    payee_account: str
    amount: _money_pb2.Money
    condition: bytes
    expires_at_unix_ms: int
    reference: str
    uetr: str
    debtor_name: str
    debtor_account: str
    creditor_name: str
    original_transfer_id: str
    def __init__(self, transfer_id: _Optional[str] = ..., payer_bank_id: _Optional[str] = ..., payee_bank_id: _Optional[str] = ..., payee_account: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., condition: _Optional[bytes] = ..., expires_at_unix_ms: _Optional[int] = ..., reference: _Optional[str] = ..., uetr: _Optional[str] = ..., debtor_name: _Optional[str] = ..., debtor_account: _Optional[str] = ..., creditor_name: _Optional[str] = ..., original_transfer_id: _Optional[str] = ...) -> None: ...

class PrepareBatch(_message.Message):
    __slots__ = ("prepares",)
    PREPARES_FIELD_NUMBER: _ClassVar[int]
    prepares: _containers.RepeatedCompositeFieldContainer[Prepare]
    def __init__(self, prepares: _Optional[_Iterable[_Union[Prepare, _Mapping]]] = ...) -> None: ...

class Accept(_message.Message):
    __slots__ = ("transfer_id", "fulfilment")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    FULFILMENT_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    fulfilment: bytes
    def __init__(self, transfer_id: _Optional[str] = ..., fulfilment: _Optional[bytes] = ...) -> None: ...

class Reject(_message.Message):
    __slots__ = ("transfer_id", "reason_code", "reason")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    reason_code: _result_pb2.ResultCode
    reason: str
    def __init__(self, transfer_id: _Optional[str] = ..., reason_code: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class DecisionBatch(_message.Message):
    __slots__ = ("accepts", "rejects")
    ACCEPTS_FIELD_NUMBER: _ClassVar[int]
    REJECTS_FIELD_NUMBER: _ClassVar[int]
    accepts: _containers.RepeatedCompositeFieldContainer[Accept]
    rejects: _containers.RepeatedCompositeFieldContainer[Reject]
    def __init__(self, accepts: _Optional[_Iterable[_Union[Accept, _Mapping]]] = ..., rejects: _Optional[_Iterable[_Union[Reject, _Mapping]]] = ...) -> None: ...

class TransferNotice(_message.Message):
    __slots__ = ("prepare", "state", "result", "fulfilment", "decided_at_unix_ms", "settlement_window_id", "payee_reason_code", "payee_reason")
    PREPARE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    FULFILMENT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    PAYEE_REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    PAYEE_REASON_FIELD_NUMBER: _ClassVar[int]
    prepare: Prepare
    state: TransferState
    result: _result_pb2.ResultCode
    fulfilment: bytes
    decided_at_unix_ms: int
    settlement_window_id: int
    payee_reason_code: _result_pb2.ResultCode
    payee_reason: str
    def __init__(self, prepare: _Optional[_Union[Prepare, _Mapping]] = ..., state: _Optional[_Union[TransferState, str]] = ..., result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., fulfilment: _Optional[bytes] = ..., decided_at_unix_ms: _Optional[int] = ..., settlement_window_id: _Optional[int] = ..., payee_reason_code: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., payee_reason: _Optional[str] = ...) -> None: ...

class NoticeBatch(_message.Message):
    __slots__ = ("recipient_bank_id", "notices")
    RECIPIENT_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    NOTICES_FIELD_NUMBER: _ClassVar[int]
    recipient_bank_id: str
    notices: _containers.RepeatedCompositeFieldContainer[TransferNotice]
    def __init__(self, recipient_bank_id: _Optional[str] = ..., notices: _Optional[_Iterable[_Union[TransferNotice, _Mapping]]] = ...) -> None: ...

class SigningKeyChange(_message.Message):
    __slots__ = ("bank_id", "key_id", "public_key", "revoke")
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    REVOKE_FIELD_NUMBER: _ClassVar[int]
    bank_id: str
    key_id: str
    public_key: bytes
    revoke: bool
    def __init__(self, bank_id: _Optional[str] = ..., key_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., revoke: _Optional[bool] = ...) -> None: ...
