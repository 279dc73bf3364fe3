"""Rotating the bank's signing key without downtime.

1. rotate: make a new key, register it at the clearing with a SigningKeyChange signed
   by the current key, then make it current in the bundle (the old file is kept as
   signing-<name>.key). The running node keeps signing with the old key, which stays
   valid, until it restarts with the new one.
2. revoke: once every node process runs on the new key, revoke the old one, signed
   with the new key.
Each step is safe to retry: the clearing answers EXISTS for a key it already has.
"""
from __future__ import annotations

import re

from fedmall import pki
from fedmall.results import FedmallError
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from node.config import CONFIG_FILE, NodeConfig

PENDING_KEY_FILE = "signing.key.next"
_KEY_NUMBER = re.compile(r"^(?P<prefix>.*/k)(?P<number>\d+)$")


def next_key_id(key_id: str) -> str:
    """bank-a/k1 -> bank-a/k2 (a key id without a number gets /k2 appended to its name)."""
    match = _KEY_NUMBER.match(key_id)
    return f"{match['prefix']}{int(match['number']) + 1}" if match else f"{key_id}-k2"


def _change(clearing: clearing_pb2_grpc.ClearingServiceStub, key: pki.SigningKey,
            change: transfer_pb2.SigningKeyChange) -> int:
    response = clearing.ChangeSigningKey(clearing_pb2.ChangeSigningKeyRequest(envelope=key.sign(change)), timeout=30)
    if response.result not in (rc.RESULT_CODE_OK, rc.RESULT_CODE_EXISTS):
        raise FedmallError(response.result)
    return response.result


def rotate_signing_key(config: NodeConfig, clearing: clearing_pb2_grpc.ClearingServiceStub) -> str:
    """Register a new signing key and make it the bundle's current one; returns its id."""
    current = pki.load_signing_key(config.signing_key_path, config.signing_key_id)
    new_key_id = next_key_id(config.signing_key_id)
    pending = config.home / PENDING_KEY_FILE
    if pending.exists():  # A retry after a crash: reuse the key made then.
        new_key = pki.load_signing_key(pending, new_key_id)
    else:
        new_key = pki.new_signing_key(new_key_id)
        pki.write_private(pending, pki.signing_key_pem(new_key))
    _change(clearing, current, transfer_pb2.SigningKeyChange(
        bank_id=config.bank_id, key_id=new_key_id, public_key=pki.public_key_raw(new_key.private_key.public_key())))
    old_name = config.signing_key_id.rsplit("/", 1)[-1]
    config.signing_key_path.rename(config.home / f"signing-{old_name}.key")
    pending.rename(config.signing_key_path)
    config_path = config.home / CONFIG_FILE
    text = config_path.read_text()
    config_path.write_text(text.replace(f'signing_key_id = "{config.signing_key_id}"',
                                        f'signing_key_id = "{new_key_id}"', 1))
    return new_key_id


def revoke_signing_key(config: NodeConfig, clearing: clearing_pb2_grpc.ClearingServiceStub, key_id: str) -> int:
    """Revoke one of this bank's older keys, signed with the current key."""
    current = pki.load_signing_key(config.signing_key_path, config.signing_key_id)
    return _change(clearing, current, transfer_pb2.SigningKeyChange(bank_id=config.bank_id, key_id=key_id, revoke=True))
