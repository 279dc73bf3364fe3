from fedmall.v1 import envelope_pb2 as _envelope_pb2
from fedmall.v1 import limits_pb2 as _limits_pb2
from fedmall.v1 import money_pb2 as _money_pb2
from fedmall.v1 import result_pb2 as _result_pb2
from fedmall.v1 import settlement_pb2 as _settlement_pb2
from fedmall.v1 import transfer_pb2 as _transfer_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeliveryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_KIND_UNSPECIFIED: _ClassVar[DeliveryKind]
    DELIVERY_KIND_NOTICE_BATCH: _ClassVar[DeliveryKind]
    DELIVERY_KIND_STATEMENT: _ClassVar[DeliveryKind]
    DELIVERY_KIND_SETTLEMENT_REPORT: _ClassVar[DeliveryKind]
    DELIVERY_KIND_WINDOW_SETTLED: _ClassVar[DeliveryKind]
    DELIVERY_KIND_WINDOW_ABORTED: _ClassVar[DeliveryKind]
    DELIVERY_KIND_LIQUIDITY_MOVEMENT: _ClassVar[DeliveryKind]

class ParticipantStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PARTICIPANT_STATUS_UNSPECIFIED: _ClassVar[ParticipantStatus]
    PARTICIPANT_STATUS_ACTIVE: _ClassVar[ParticipantStatus]
    PARTICIPANT_STATUS_SUSPENDED: _ClassVar[ParticipantStatus]
    PARTICIPANT_STATUS_ONBOARDING: _ClassVar[ParticipantStatus]
    PARTICIPANT_STATUS_LEFT: _ClassVar[ParticipantStatus]

class FundsMovementState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FUNDS_MOVEMENT_STATE_UNSPECIFIED: _ClassVar[FundsMovementState]
    FUNDS_MOVEMENT_STATE_RESERVED: _ClassVar[FundsMovementState]
    FUNDS_MOVEMENT_STATE_COMMITTED: _ClassVar[FundsMovementState]
    FUNDS_MOVEMENT_STATE_ABORTED: _ClassVar[FundsMovementState]
DELIVERY_KIND_UNSPECIFIED: DeliveryKind
DELIVERY_KIND_NOTICE_BATCH: DeliveryKind
DELIVERY_KIND_STATEMENT: DeliveryKind
DELIVERY_KIND_SETTLEMENT_REPORT: DeliveryKind
DELIVERY_KIND_WINDOW_SETTLED: DeliveryKind
DELIVERY_KIND_WINDOW_ABORTED: DeliveryKind
DELIVERY_KIND_LIQUIDITY_MOVEMENT: DeliveryKind
PARTICIPANT_STATUS_UNSPECIFIED: ParticipantStatus
PARTICIPANT_STATUS_ACTIVE: ParticipantStatus
PARTICIPANT_STATUS_SUSPENDED: ParticipantStatus
PARTICIPANT_STATUS_ONBOARDING: ParticipantStatus
PARTICIPANT_STATUS_LEFT: ParticipantStatus
FUNDS_MOVEMENT_STATE_UNSPECIFIED: FundsMovementState
FUNDS_MOVEMENT_STATE_RESERVED: FundsMovementState
FUNDS_MOVEMENT_STATE_COMMITTED: FundsMovementState
FUNDS_MOVEMENT_STATE_ABORTED: FundsMovementState

class TransferResult(_message.Message):
    __slots__ = ("transfer_id", "result", "state", "field")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    result: _result_pb2.ResultCode
    state: _transfer_pb2.TransferState
    field: str
    def __init__(self, transfer_id: _Optional[str] = ..., result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., state: _Optional[_Union[_transfer_pb2.TransferState, str]] = ..., field: _Optional[str] = ...) -> None: ...

class SubmitPreparesRequest(_message.Message):
    __slots__ = ("envelope",)
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    envelope: _envelope_pb2.Envelope
    def __init__(self, envelope: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class SubmitPreparesResponse(_message.Message):
    __slots__ = ("result", "results")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    results: _containers.RepeatedCompositeFieldContainer[TransferResult]
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., results: _Optional[_Iterable[_Union[TransferResult, _Mapping]]] = ...) -> None: ...

class SubmitDecisionsRequest(_message.Message):
    __slots__ = ("envelope",)
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    envelope: _envelope_pb2.Envelope
    def __init__(self, envelope: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class SubmitDecisionsResponse(_message.Message):
    __slots__ = ("result", "results")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    results: _containers.RepeatedCompositeFieldContainer[TransferResult]
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., results: _Optional[_Iterable[_Union[TransferResult, _Mapping]]] = ...) -> None: ...

class GetTransferRequest(_message.Message):
    __slots__ = ("transfer_id",)
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    def __init__(self, transfer_id: _Optional[str] = ...) -> None: ...

class GetTransferResponse(_message.Message):
    __slots__ = ("result", "state", "abort_reason", "prepare", "field", "payee_reason_code", "payee_reason")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ABORT_REASON_FIELD_NUMBER: _ClassVar[int]
    PREPARE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    PAYEE_REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    PAYEE_REASON_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    state: _transfer_pb2.TransferState
    abort_reason: _result_pb2.ResultCode
    prepare: _transfer_pb2.Prepare
    field: str
    payee_reason_code: _result_pb2.ResultCode
    payee_reason: str
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., state: _Optional[_Union[_transfer_pb2.TransferState, str]] = ..., abort_reason: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., prepare: _Optional[_Union[_transfer_pb2.Prepare, _Mapping]] = ..., field: _Optional[str] = ..., payee_reason_code: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., payee_reason: _Optional[str] = ...) -> None: ...

class StreamDeliveriesRequest(_message.Message):
    __slots__ = ("after_sequence",)
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    def __init__(self, after_sequence: _Optional[int] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("sequence", "envelope", "kind")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    envelope: _envelope_pb2.Envelope
    kind: DeliveryKind
    def __init__(self, sequence: _Optional[int] = ..., envelope: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., kind: _Optional[_Union[DeliveryKind, str]] = ...) -> None: ...

class StreamDeliveriesResponse(_message.Message):
    __slots__ = ("deliveries",)
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[Delivery]
    def __init__(self, deliveries: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ...) -> None: ...

class Participant(_message.Message):
    __slots__ = ("bank_id", "name", "currency", "status", "node_address", "signing_keys")
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NODE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEYS_FIELD_NUMBER: _ClassVar[int]
    bank_id: str
    name: str
    currency: str
    status: ParticipantStatus
    node_address: str
    signing_keys: _containers.RepeatedCompositeFieldContainer[ParticipantSigningKey]
    def __init__(self, bank_id: _Optional[str] = ..., name: _Optional[str] = ..., currency: _Optional[str] = ..., status: _Optional[_Union[ParticipantStatus, str]] = ..., node_address: _Optional[str] = ..., signing_keys: _Optional[_Iterable[_Union[ParticipantSigningKey, _Mapping]]] = ...) -> None: ...

class ParticipantSigningKey(_message.Message):
    __slots__ = ("key_id", "public_key")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    public_key: bytes
    def __init__(self, key_id: _Optional[str] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class ListParticipantsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListParticipantsResponse(_message.Message):
    __slots__ = ("participants",)
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    participants: _containers.RepeatedCompositeFieldContainer[Participant]
    def __init__(self, participants: _Optional[_Iterable[_Union[Participant, _Mapping]]] = ...) -> None: ...

class GetPositionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPositionResponse(_message.Message):
    __slots__ = ("bank_id", "position", "reserved", "net_debit_cap", "liquidity", "delivery_sequence_issued", "delivery_sequence_acknowledged")
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    NET_DEBIT_CAP_FIELD_NUMBER: _ClassVar[int]
    LIQUIDITY_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_SEQUENCE_ISSUED_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_SEQUENCE_ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    bank_id: str
    position: _money_pb2.Money
    reserved: _money_pb2.Money
    net_debit_cap: _money_pb2.Money
    liquidity: _money_pb2.Money
    delivery_sequence_issued: int
    delivery_sequence_acknowledged: int
    def __init__(self, bank_id: _Optional[str] = ..., position: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., reserved: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., net_debit_cap: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., liquidity: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., delivery_sequence_issued: _Optional[int] = ..., delivery_sequence_acknowledged: _Optional[int] = ...) -> None: ...

class ChangeSigningKeyRequest(_message.Message):
    __slots__ = ("envelope",)
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    envelope: _envelope_pb2.Envelope
    def __init__(self, envelope: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class ChangeSigningKeyResponse(_message.Message):
    __slots__ = ("result", "field")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    field: str
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., field: _Optional[str] = ...) -> None: ...

class GetStatementRequest(_message.Message):
    __slots__ = ("window_id",)
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    window_id: int
    def __init__(self, window_id: _Optional[int] = ...) -> None: ...

class GetStatementResponse(_message.Message):
    __slots__ = ("result", "pages")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    pages: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.Envelope]
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., pages: _Optional[_Iterable[_Union[_envelope_pb2.Envelope, _Mapping]]] = ...) -> None: ...

class GetSettlementReportRequest(_message.Message):
    __slots__ = ("window_id",)
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    window_id: int
    def __init__(self, window_id: _Optional[int] = ...) -> None: ...

class GetSettlementReportResponse(_message.Message):
    __slots__ = ("result", "report", "state")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    report: _envelope_pb2.Envelope
    state: _settlement_pb2.WindowState
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., report: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., state: _Optional[_Union[_settlement_pb2.WindowState, str]] = ...) -> None: ...

class SubmitReconciliationRequest(_message.Message):
    __slots__ = ("envelope",)
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    envelope: _envelope_pb2.Envelope
    def __init__(self, envelope: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class SubmitReconciliationResponse(_message.Message):
    __slots__ = ("result", "field")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    field: str
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., field: _Optional[str] = ...) -> None: ...

class SuspendParticipantRequest(_message.Message):
    __slots__ = ("bank_id",)
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    bank_id: str
    def __init__(self, bank_id: _Optional[str] = ...) -> None: ...

class SuspendParticipantResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ...) -> None: ...

class ResumeParticipantRequest(_message.Message):
    __slots__ = ("bank_id",)
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    bank_id: str
    def __init__(self, bank_id: _Optional[str] = ...) -> None: ...

class ResumeParticipantResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ...) -> None: ...

class SetNetDebitCapRequest(_message.Message):
    __slots__ = ("bank_id", "cap", "reason")
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    CAP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    bank_id: str
    cap: _money_pb2.Money
    reason: str
    def __init__(self, bank_id: _Optional[str] = ..., cap: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class SetNetDebitCapResponse(_message.Message):
    __slots__ = ("result", "field")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    field: str
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., field: _Optional[str] = ...) -> None: ...

class FundsMovementTerms(_message.Message):
    __slots__ = ("movement_id", "bank_id", "amount", "external_reference")
    MOVEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    movement_id: str
    bank_id: str
    amount: _money_pb2.Money
    external_reference: str
    def __init__(self, movement_id: _Optional[str] = ..., bank_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., external_reference: _Optional[str] = ...) -> None: ...

class RecordFundsInRequest(_message.Message):
    __slots__ = ("terms", "reason")
    TERMS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    terms: FundsMovementTerms
    reason: str
    def __init__(self, terms: _Optional[_Union[FundsMovementTerms, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class RecordFundsInResponse(_message.Message):
    __slots__ = ("result", "state", "statement_window_id", "field")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    state: FundsMovementState
    statement_window_id: int
    field: str
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., state: _Optional[_Union[FundsMovementState, str]] = ..., statement_window_id: _Optional[int] = ..., field: _Optional[str] = ...) -> None: ...

class ReserveFundsOutRequest(_message.Message):
    __slots__ = ("terms", "reason")
    TERMS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    terms: FundsMovementTerms
    reason: str
    def __init__(self, terms: _Optional[_Union[FundsMovementTerms, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class ReserveFundsOutResponse(_message.Message):
    __slots__ = ("result", "state", "field")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    state: FundsMovementState
    field: str
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., state: _Optional[_Union[FundsMovementState, str]] = ..., field: _Optional[str] = ...) -> None: ...

class CommitFundsOutRequest(_message.Message):
    __slots__ = ("movement_id", "reason")
    MOVEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    movement_id: str
    reason: str
    def __init__(self, movement_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CommitFundsOutResponse(_message.Message):
    __slots__ = ("result", "state", "statement_window_id", "field")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    state: FundsMovementState
    statement_window_id: int
    field: str
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., state: _Optional[_Union[FundsMovementState, str]] = ..., statement_window_id: _Optional[int] = ..., field: _Optional[str] = ...) -> None: ...

class AbortFundsOutRequest(_message.Message):
    __slots__ = ("movement_id", "reason")
    MOVEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    movement_id: str
    reason: str
    def __init__(self, movement_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AbortFundsOutResponse(_message.Message):
    __slots__ = ("result", "state", "field")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    state: FundsMovementState
    field: str
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., state: _Optional[_Union[FundsMovementState, str]] = ..., field: _Optional[str] = ...) -> None: ...

class GetLimitsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetLimitsResponse(_message.Message):
    __slots__ = ("limits",)
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    limits: _limits_pb2.Limits
    def __init__(self, limits: _Optional[_Union[_limits_pb2.Limits, _Mapping]] = ...) -> None: ...

class CloseWindowRequest(_message.Message):
    __slots__ = ("window_id",)
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    window_id: int
    def __init__(self, window_id: _Optional[int] = ...) -> None: ...

class CloseWindowResponse(_message.Message):
    __slots__ = ("result", "closed_window_id", "opened_window_id")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CLOSED_WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    OPENED_WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    closed_window_id: int
    opened_window_id: int
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., closed_window_id: _Optional[int] = ..., opened_window_id: _Optional[int] = ...) -> None: ...

class SettleWindowRequest(_message.Message):
    __slots__ = ("window_id",)
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    window_id: int
    def __init__(self, window_id: _Optional[int] = ...) -> None: ...

class SettleWindowResponse(_message.Message):
    __slots__ = ("result", "nets")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    NETS_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    nets: _containers.RepeatedCompositeFieldContainer[_settlement_pb2.NetPosition]
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., nets: _Optional[_Iterable[_Union[_settlement_pb2.NetPosition, _Mapping]]] = ...) -> None: ...

class ListRevokedCertificatesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RevokedCertificate(_message.Message):
    __slots__ = ("serial", "sha256_fingerprint", "party_id", "not_after_unix_ms")
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    SHA256_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    serial: str
    sha256_fingerprint: bytes
    party_id: str
    not_after_unix_ms: int
    def __init__(self, serial: _Optional[str] = ..., sha256_fingerprint: _Optional[bytes] = ..., party_id: _Optional[str] = ..., not_after_unix_ms: _Optional[int] = ...) -> None: ...

class ListRevokedCertificatesResponse(_message.Message):
    __slots__ = ("certificates",)
    CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    certificates: _containers.RepeatedCompositeFieldContainer[RevokedCertificate]
    def __init__(self, certificates: _Optional[_Iterable[_Union[RevokedCertificate, _Mapping]]] = ...) -> None: ...
