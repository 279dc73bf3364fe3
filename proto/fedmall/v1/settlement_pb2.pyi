from fedmall.v1 import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WindowState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WINDOW_STATE_UNSPECIFIED: _ClassVar[WindowState]
    WINDOW_STATE_OPEN: _ClassVar[WindowState]
    WINDOW_STATE_CLOSED: _ClassVar[WindowState]
    WINDOW_STATE_PENDING_SETTLEMENT: _ClassVar[WindowState]
    WINDOW_STATE_SETTLED: _ClassVar[WindowState]
    WINDOW_STATE_ABORTED: _ClassVar[WindowState]

class EntryDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTRY_DIRECTION_UNSPECIFIED: _ClassVar[EntryDirection]
    ENTRY_DIRECTION_DEBIT: _ClassVar[EntryDirection]
    ENTRY_DIRECTION_CREDIT: _ClassVar[EntryDirection]

class LiquidityMovementKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIQUIDITY_MOVEMENT_KIND_UNSPECIFIED: _ClassVar[LiquidityMovementKind]
    LIQUIDITY_MOVEMENT_KIND_FUNDS_IN: _ClassVar[LiquidityMovementKind]
    LIQUIDITY_MOVEMENT_KIND_FUNDS_OUT: _ClassVar[LiquidityMovementKind]
    LIQUIDITY_MOVEMENT_KIND_SETTLEMENT: _ClassVar[LiquidityMovementKind]

class BreakKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BREAK_KIND_UNSPECIFIED: _ClassVar[BreakKind]
    BREAK_KIND_MISSING_AT_NODE: _ClassVar[BreakKind]
    BREAK_KIND_MISSING_AT_CLEARING: _ClassVar[BreakKind]
    BREAK_KIND_AMOUNT_DIFFERS: _ClassVar[BreakKind]
    BREAK_KIND_COUNTERPARTY_DIFFERS: _ClassVar[BreakKind]
    BREAK_KIND_DUPLICATE: _ClassVar[BreakKind]
    BREAK_KIND_DIRECTION_DIFFERS: _ClassVar[BreakKind]
    BREAK_KIND_OPENING_POSITION_DIFFERS: _ClassVar[BreakKind]
    BREAK_KIND_STATEMENT_INCONSISTENT: _ClassVar[BreakKind]
    BREAK_KIND_OPENING_LIQUIDITY_DIFFERS: _ClassVar[BreakKind]
WINDOW_STATE_UNSPECIFIED: WindowState
WINDOW_STATE_OPEN: WindowState
WINDOW_STATE_CLOSED: WindowState
WINDOW_STATE_PENDING_SETTLEMENT: WindowState
WINDOW_STATE_SETTLED: WindowState
WINDOW_STATE_ABORTED: WindowState
ENTRY_DIRECTION_UNSPECIFIED: EntryDirection
ENTRY_DIRECTION_DEBIT: EntryDirection
ENTRY_DIRECTION_CREDIT: EntryDirection
LIQUIDITY_MOVEMENT_KIND_UNSPECIFIED: LiquidityMovementKind
LIQUIDITY_MOVEMENT_KIND_FUNDS_IN: LiquidityMovementKind
LIQUIDITY_MOVEMENT_KIND_FUNDS_OUT: LiquidityMovementKind
LIQUIDITY_MOVEMENT_KIND_SETTLEMENT: LiquidityMovementKind
BREAK_KIND_UNSPECIFIED: BreakKind
BREAK_KIND_MISSING_AT_NODE: BreakKind
BREAK_KIND_MISSING_AT_CLEARING: BreakKind
BREAK_KIND_AMOUNT_DIFFERS: BreakKind
BREAK_KIND_COUNTERPARTY_DIFFERS: BreakKind
BREAK_KIND_DUPLICATE: BreakKind
BREAK_KIND_DIRECTION_DIFFERS: BreakKind
BREAK_KIND_OPENING_POSITION_DIFFERS: BreakKind
BREAK_KIND_STATEMENT_INCONSISTENT: BreakKind
BREAK_KIND_OPENING_LIQUIDITY_DIFFERS: BreakKind

class AuditHead(_message.Message):
    __slots__ = ("sequence", "entry_hash")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ENTRY_HASH_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    entry_hash: bytes
    def __init__(self, sequence: _Optional[int] = ..., entry_hash: _Optional[bytes] = ...) -> None: ...

class NetPosition(_message.Message):
    __slots__ = ("bank_id", "debits", "credits", "net")
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    DEBITS_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    NET_FIELD_NUMBER: _ClassVar[int]
    bank_id: str
    debits: _money_pb2.Money
    credits: _money_pb2.Money
    net: _money_pb2.Money
    def __init__(self, bank_id: _Optional[str] = ..., debits: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., credits: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., net: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class BilateralPosition(_message.Message):
    __slots__ = ("bank_id", "counterparty_bank_id", "paid", "received", "net", "transfer_count")
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTERPARTY_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    PAID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    NET_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_COUNT_FIELD_NUMBER: _ClassVar[int]
    bank_id: str
    counterparty_bank_id: str
    paid: _money_pb2.Money
    received: _money_pb2.Money
    net: _money_pb2.Money
    transfer_count: int
    def __init__(self, bank_id: _Optional[str] = ..., counterparty_bank_id: _Optional[str] = ..., paid: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., received: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., net: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., transfer_count: _Optional[int] = ...) -> None: ...

class SettlementReport(_message.Message):
    __slots__ = ("window_id", "opened_at_unix_ms", "closed_at_unix_ms", "transfer_count", "gross", "net_total", "net_positions", "bilateral", "audit_head")
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_COUNT_FIELD_NUMBER: _ClassVar[int]
    GROSS_FIELD_NUMBER: _ClassVar[int]
    NET_TOTAL_FIELD_NUMBER: _ClassVar[int]
    NET_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    BILATERAL_FIELD_NUMBER: _ClassVar[int]
    AUDIT_HEAD_FIELD_NUMBER: _ClassVar[int]
    window_id: int
    opened_at_unix_ms: int
    closed_at_unix_ms: int
    transfer_count: int
    gross: _containers.RepeatedCompositeFieldContainer[_money_pb2.Money]
    net_total: _containers.RepeatedCompositeFieldContainer[_money_pb2.Money]
    net_positions: _containers.RepeatedCompositeFieldContainer[NetPosition]
    bilateral: _containers.RepeatedCompositeFieldContainer[BilateralPosition]
    audit_head: AuditHead
    def __init__(self, window_id: _Optional[int] = ..., opened_at_unix_ms: _Optional[int] = ..., closed_at_unix_ms: _Optional[int] = ..., transfer_count: _Optional[int] = ..., gross: _Optional[_Iterable[_Union[_money_pb2.Money, _Mapping]]] = ..., net_total: _Optional[_Iterable[_Union[_money_pb2.Money, _Mapping]]] = ..., net_positions: _Optional[_Iterable[_Union[NetPosition, _Mapping]]] = ..., bilateral: _Optional[_Iterable[_Union[BilateralPosition, _Mapping]]] = ..., audit_head: _Optional[_Union[AuditHead, _Mapping]] = ...) -> None: ...

class StatementEntry(_message.Message):
    __slots__ = ("transfer_id", "direction", "counterparty_bank_id", "amount", "reference", "committed_at_unix_ms")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    COUNTERPARTY_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    direction: EntryDirection
    counterparty_bank_id: str
    amount: _money_pb2.Money
    reference: str
    committed_at_unix_ms: int
    def __init__(self, transfer_id: _Optional[str] = ..., direction: _Optional[_Union[EntryDirection, str]] = ..., counterparty_bank_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., reference: _Optional[str] = ..., committed_at_unix_ms: _Optional[int] = ...) -> None: ...

class LiquidityMovement(_message.Message):
    __slots__ = ("movement_id", "bank_id", "kind", "direction", "amount", "window_id", "settled_window_id", "external_reference", "recorded_at_unix_ms")
    MOVEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    SETTLED_WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    movement_id: str
    bank_id: str
    kind: LiquidityMovementKind
    direction: EntryDirection
    amount: _money_pb2.Money
    window_id: int
    settled_window_id: int
    external_reference: str
    recorded_at_unix_ms: int
    def __init__(self, movement_id: _Optional[str] = ..., bank_id: _Optional[str] = ..., kind: _Optional[_Union[LiquidityMovementKind, str]] = ..., direction: _Optional[_Union[EntryDirection, str]] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., window_id: _Optional[int] = ..., settled_window_id: _Optional[int] = ..., external_reference: _Optional[str] = ..., recorded_at_unix_ms: _Optional[int] = ...) -> None: ...

class Statement(_message.Message):
    __slots__ = ("window_id", "bank_id", "page_index", "page_count", "entries", "opening_position", "closing_position", "net", "entry_count", "audit_head", "movements", "movement_count", "opening_liquidity", "closing_liquidity")
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_INDEX_FIELD_NUMBER: _ClassVar[int]
    PAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    OPENING_POSITION_FIELD_NUMBER: _ClassVar[int]
    CLOSING_POSITION_FIELD_NUMBER: _ClassVar[int]
    NET_FIELD_NUMBER: _ClassVar[int]
    ENTRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    AUDIT_HEAD_FIELD_NUMBER: _ClassVar[int]
    MOVEMENTS_FIELD_NUMBER: _ClassVar[int]
    MOVEMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    OPENING_LIQUIDITY_FIELD_NUMBER: _ClassVar[int]
    CLOSING_LIQUIDITY_FIELD_NUMBER: _ClassVar[int]
    window_id: int
    bank_id: str
    page_index: int
    page_count: int
    entries: _containers.RepeatedCompositeFieldContainer[StatementEntry]
    opening_position: _money_pb2.Money
    closing_position: _money_pb2.Money
    net: _money_pb2.Money
    entry_count: int
    audit_head: AuditHead
    movements: _containers.RepeatedCompositeFieldContainer[LiquidityMovement]
    movement_count: int
    opening_liquidity: _money_pb2.Money
    closing_liquidity: _money_pb2.Money
    def __init__(self, window_id: _Optional[int] = ..., bank_id: _Optional[str] = ..., page_index: _Optional[int] = ..., page_count: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[StatementEntry, _Mapping]]] = ..., opening_position: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., closing_position: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., net: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., entry_count: _Optional[int] = ..., audit_head: _Optional[_Union[AuditHead, _Mapping]] = ..., movements: _Optional[_Iterable[_Union[LiquidityMovement, _Mapping]]] = ..., movement_count: _Optional[int] = ..., opening_liquidity: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., closing_liquidity: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class ReconciliationBreak(_message.Message):
    __slots__ = ("kind", "transfer_id", "clearing_entry", "node_entry", "detail", "clearing_position", "node_position", "clearing_movement", "node_movement")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    CLEARING_ENTRY_FIELD_NUMBER: _ClassVar[int]
    NODE_ENTRY_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CLEARING_POSITION_FIELD_NUMBER: _ClassVar[int]
    NODE_POSITION_FIELD_NUMBER: _ClassVar[int]
    CLEARING_MOVEMENT_FIELD_NUMBER: _ClassVar[int]
    NODE_MOVEMENT_FIELD_NUMBER: _ClassVar[int]
    kind: BreakKind
    transfer_id: str
    clearing_entry: StatementEntry
    node_entry: StatementEntry
    detail: str
    clearing_position: _money_pb2.Money
    node_position: _money_pb2.Money
    clearing_movement: LiquidityMovement
    node_movement: LiquidityMovement
    def __init__(self, kind: _Optional[_Union[BreakKind, str]] = ..., transfer_id: _Optional[str] = ..., clearing_entry: _Optional[_Union[StatementEntry, _Mapping]] = ..., node_entry: _Optional[_Union[StatementEntry, _Mapping]] = ..., detail: _Optional[str] = ..., clearing_position: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., node_position: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., clearing_movement: _Optional[_Union[LiquidityMovement, _Mapping]] = ..., node_movement: _Optional[_Union[LiquidityMovement, _Mapping]] = ...) -> None: ...

class Reconciliation(_message.Message):
    __slots__ = ("window_id", "bank_id", "statement_sha256", "breaks", "node_net", "withdraws_previous")
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    BREAKS_FIELD_NUMBER: _ClassVar[int]
    NODE_NET_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWS_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    window_id: int
    bank_id: str
    statement_sha256: bytes
    breaks: _containers.RepeatedCompositeFieldContainer[ReconciliationBreak]
    node_net: _money_pb2.Money
    withdraws_previous: bool
    def __init__(self, window_id: _Optional[int] = ..., bank_id: _Optional[str] = ..., statement_sha256: _Optional[bytes] = ..., breaks: _Optional[_Iterable[_Union[ReconciliationBreak, _Mapping]]] = ..., node_net: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., withdraws_previous: _Optional[bool] = ...) -> None: ...

class WindowSettled(_message.Message):
    __slots__ = ("window_id", "bank_id", "net", "settled_at_unix_ms", "statement_window_id")
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    NET_FIELD_NUMBER: _ClassVar[int]
    SETTLED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    window_id: int
    bank_id: str
    net: _money_pb2.Money
    settled_at_unix_ms: int
    statement_window_id: int
    def __init__(self, window_id: _Optional[int] = ..., bank_id: _Optional[str] = ..., net: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., settled_at_unix_ms: _Optional[int] = ..., statement_window_id: _Optional[int] = ...) -> None: ...

class WindowAborted(_message.Message):
    __slots__ = ("window_id", "moved_to_window_id")
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    MOVED_TO_WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    window_id: int
    moved_to_window_id: int
    def __init__(self, window_id: _Optional[int] = ..., moved_to_window_id: _Optional[int] = ...) -> None: ...
