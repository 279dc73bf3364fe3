"""What each DeliveryKind carries: the one payload type of its envelope, for both sides.

The clearing stamps every delivery with the kind of its envelope's payload (kind_of); a
member checks the two agree before it opens the envelope (payload_type_problem), so the
stream's contents are named in the contract (fedmall.v1.DeliveryKind), not only in code.
"""
from __future__ import annotations

from fedmall.v1 import clearing_pb2, settlement_pb2, transfer_pb2

PAYLOAD_TYPES: dict[int, str] = {
    clearing_pb2.DELIVERY_KIND_NOTICE_BATCH: transfer_pb2.NoticeBatch.DESCRIPTOR.full_name,
    clearing_pb2.DELIVERY_KIND_STATEMENT: settlement_pb2.Statement.DESCRIPTOR.full_name,
    clearing_pb2.DELIVERY_KIND_SETTLEMENT_REPORT: settlement_pb2.SettlementReport.DESCRIPTOR.full_name,
    clearing_pb2.DELIVERY_KIND_WINDOW_SETTLED: settlement_pb2.WindowSettled.DESCRIPTOR.full_name,
    clearing_pb2.DELIVERY_KIND_WINDOW_ABORTED: settlement_pb2.WindowAborted.DESCRIPTOR.full_name,
    clearing_pb2.DELIVERY_KIND_LIQUIDITY_MOVEMENT: settlement_pb2.LiquidityMovement.DESCRIPTOR.full_name,
}
KINDS: dict[str, int] = {payload_type: kind for kind, payload_type in PAYLOAD_TYPES.items()}
assert set(PAYLOAD_TYPES) == set(clearing_pb2.DeliveryKind.values()) - {clearing_pb2.DELIVERY_KIND_UNSPECIFIED}


def kind_of(payload_type: str) -> int:
    """The kind the clearing stamps on a delivery of payload_type (only types it sends)."""
    return KINDS[payload_type]


def delivery(sequence: int, envelope) -> clearing_pb2.Delivery:
    """A delivery of a signed envelope, stamped with its kind."""
    return clearing_pb2.Delivery(sequence=sequence, envelope=envelope, kind=kind_of(envelope.payload_type))


def payload_type_problem(kind: int, payload_type: str) -> str | None:
    """Why a delivery's kind and its envelope's payload_type disagree, or None. A kind newer
    than this contract is no problem: the member keeps it unapplied (docs/protocol.md)."""
    expected = PAYLOAD_TYPES.get(kind)
    if kind == clearing_pb2.DELIVERY_KIND_UNSPECIFIED:
        return "a delivery names no kind"
    if expected is not None and expected != payload_type:
        return f"a delivery of kind {clearing_pb2.DeliveryKind.Name(kind)} carries {payload_type!r}"
    if expected is None and payload_type in KINDS:
        return f"a delivery of an unknown kind {kind} carries {payload_type!r}"
    return None
