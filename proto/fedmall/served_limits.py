"""The Limits message every server answers GetLimits with (ClearingService, PeerService).

Each field of fedmall.v1.Limits is the bound of the same name in fedmall.limits: the values
live there only, and a field without its bound fails here (tests/fedmall/test_served_limits.py
builds it), so the message can never drift from what the code enforces.
"""
from __future__ import annotations

from fedmall import limits
from fedmall.v1 import limits_pb2


def limits_message() -> limits_pb2.Limits:
    return limits_pb2.Limits(**{field.name: getattr(limits, field.name)
                                for field in limits_pb2.Limits.DESCRIPTOR.fields})
