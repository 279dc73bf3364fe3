from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Limits(_message.Message):
    __slots__ = ("prepares_per_batch_max", "decisions_per_batch_max", "notices_per_delivery_max", "deliveries_per_stream_message_max", "stream_message_bytes_max", "quote_items_per_request_max", "envelope_bytes_max", "grpc_message_bytes_max", "id_length_max", "account_id_length_max", "bank_id_length_max", "uuid_length", "reference_length_max", "reject_reason_length_max", "key_name_length_max", "key_id_length_max", "movement_id_length_max", "break_detail_length_max", "prepare_bytes_max", "amount_minor_max", "unsettled_gross_minor_max", "liquidity_ceiling_minor_max", "expiry_ms_min", "expiry_ms_max", "clock_skew_ms_max", "refused_certificates_max", "participants_max", "party_name_length_max")
    PREPARES_PER_BATCH_MAX_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_PER_BATCH_MAX_FIELD_NUMBER: _ClassVar[int]
    NOTICES_PER_DELIVERY_MAX_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_PER_STREAM_MESSAGE_MAX_FIELD_NUMBER: _ClassVar[int]
    STREAM_MESSAGE_BYTES_MAX_FIELD_NUMBER: _ClassVar[int]
    QUOTE_ITEMS_PER_REQUEST_MAX_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_BYTES_MAX_FIELD_NUMBER: _ClassVar[int]
    GRPC_MESSAGE_BYTES_MAX_FIELD_NUMBER: _ClassVar[int]
    ID_LENGTH_MAX_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_LENGTH_MAX_FIELD_NUMBER: _ClassVar[int]
    BANK_ID_LENGTH_MAX_FIELD_NUMBER: _ClassVar[int]
    UUID_LENGTH_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_LENGTH_MAX_FIELD_NUMBER: _ClassVar[int]
    REJECT_REASON_LENGTH_MAX_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_LENGTH_MAX_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_LENGTH_MAX_FIELD_NUMBER: _ClassVar[int]
    MOVEMENT_ID_LENGTH_MAX_FIELD_NUMBER: _ClassVar[int]
    BREAK_DETAIL_LENGTH_MAX_FIELD_NUMBER: _ClassVar[int]
    PREPARE_BYTES_MAX_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_MAX_FIELD_NUMBER: _ClassVar[int]
    UNSETTLED_GROSS_MINOR_MAX_FIELD_NUMBER: _ClassVar[int]
    LIQUIDITY_CEILING_MINOR_MAX_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_MS_MIN_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_MS_MAX_FIELD_NUMBER: _ClassVar[int]
    CLOCK_SKEW_MS_MAX_FIELD_NUMBER: _ClassVar[int]
    REFUSED_CERTIFICATES_MAX_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_MAX_FIELD_NUMBER: _ClassVar[int]
    PARTY_NAME_LENGTH_MAX_FIELD_NUMBER: _ClassVar[int]
    prepares_per_batch_max: int
    decisions_per_batch_max: int
    notices_per_delivery_max: int
    deliveries_per_stream_message_max: int
    stream_message_bytes_max: int
    quote_items_per_request_max: int
    envelope_bytes_max: int
    grpc_message_bytes_max: int
    id_length_max: int
    account_id_length_max: int
    bank_id_length_max: int
    uuid_length: int
    reference_length_max: int
    reject_reason_length_max: int
    key_name_length_max: int
    key_id_length_max: int
    movement_id_length_max: int
    break_detail_length_max: int
    prepare_bytes_max: int
    amount_minor_max: int
    unsettled_gross_minor_max: int
    liquidity_ceiling_minor_max: int
    expiry_ms_min: int
    expiry_ms_max: int
    clock_skew_ms_max: int
    refused_certificates_max: int
    participants_max: int
    party_name_length_max: int
    def __init__(self, prepares_per_batch_max: _Optional[int] = ..., decisions_per_batch_max: _Optional[int] = ..., notices_per_delivery_max: _Optional[int] = ..., deliveries_per_stream_message_max: _Optional[int] = ..., stream_message_bytes_max: _Optional[int] = ..., quote_items_per_request_max: _Optional[int] = ..., envelope_bytes_max: _Optional[int] = ..., grpc_message_bytes_max: _Optional[int] = ..., id_length_max: _Optional[int] = ..., account_id_length_max: _Optional[int] = ..., bank_id_length_max: _Optional[int] = ..., uuid_length: _Optional[int] = ..., reference_length_max: _Optional[int] = ..., reject_reason_length_max: _Optional[int] = ..., key_name_length_max: _Optional[int] = ..., key_id_length_max: _Optional[int] = ..., movement_id_length_max: _Optional[int] = ..., break_detail_length_max: _Optional[int] = ..., prepare_bytes_max: _Optional[int] = ..., amount_minor_max: _Optional[int] = ..., unsettled_gross_minor_max: _Optional[int] = ..., liquidity_ceiling_minor_max: _Optional[int] = ..., expiry_ms_min: _Optional[int] = ..., expiry_ms_max: _Optional[int] = ..., clock_skew_ms_max: _Optional[int] = ..., refused_certificates_max: _Optional[int] = ..., participants_max: _Optional[int] = ..., party_name_length_max: _Optional[int] = ...) -> None: ...
