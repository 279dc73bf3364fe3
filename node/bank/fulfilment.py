"""Stateless conditions and fulfilments (as in Interledger STREAM).

The payee bank derives the fulfilment of a transfer from a local secret and the
transfer's terms, so it stores nothing when quoting and can recompute it when the
prepare arrives: if anything in the terms changed, the condition no longer matches.

    fulfilment = HMAC-SHA256(secret, "fedmall.fulfilment.v1\\0" payer \\0 transfer \\0 account \\0 amount \\0 currency)
    condition  = SHA-256(fulfilment)
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from fedmall.pki import write_private

SECRET_BYTES = 32
_DOMAIN = b"fedmall.fulfilment.v1\0"


def condition_of(fulfilment: bytes) -> bytes:
    return hashlib.sha256(fulfilment).digest()


@dataclass(frozen=True, slots=True)
class FulfilmentKey:
    secret: bytes

    def __post_init__(self) -> None:
        assert len(self.secret) == SECRET_BYTES, "fulfilment secret must be 32 bytes"

    def fulfilment(self, *, payer_bank_id: str, transfer_id: str, payee_account: str,
                   amount_minor: int, currency: str) -> bytes:
        message = _DOMAIN + b"\0".join(
            part.encode() for part in (payer_bank_id, transfer_id, payee_account, str(amount_minor), currency))
        return hmac.new(self.secret, message, hashlib.sha256).digest()

    def condition(self, *, payer_bank_id: str, transfer_id: str, payee_account: str,
                  amount_minor: int, currency: str) -> bytes:
        return condition_of(self.fulfilment(
            payer_bank_id=payer_bank_id, transfer_id=transfer_id, payee_account=payee_account,
            amount_minor=amount_minor, currency=currency))


def load_or_create_key(path: Path) -> FulfilmentKey:
    """Read the node's secret, creating it (mode 0600) on first start."""
    if not path.exists():
        write_private(path, secrets.token_bytes(SECRET_BYTES))
    secret = path.read_bytes()
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"{path} must hold exactly {SECRET_BYTES} bytes")
    return FulfilmentKey(secret=secret)
