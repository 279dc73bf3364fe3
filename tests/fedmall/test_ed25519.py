"""Ed25519 public keys: any key a signer made passes; small-order, mixed-order, off-curve and
non-canonical encodings do not (fedmall.ed25519)."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fedmall import ed25519, pki

# The eight points of small order and non-canonical encodings of some of them ("Taming the many
# EdDSAs", Brendel et al. 2020, table 6 of small-order encodings).
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # The identity.
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # Order 2.
    "0000000000000000000000000000000000000000000000000000000000000080",  # Order 4.
    "0000000000000000000000000000000000000000000000000000000000000000",  # Order 4.
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # Order 8.
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # Order 8.
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # Order 8.
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # Order 8.
]
NON_CANONICAL = [
    "0100000000000000000000000000000000000000000000000000000000000080",  # The identity with x's sign set.
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1.
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p.
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
]


def test_keys_made_by_a_signer__pass():
    for _ in range(20):
        key = pki.new_signing_key("bank-a/k1")
        assert ed25519.public_key_problem(pki.public_key_raw(key.private_key.public_key())) is None


@pytest.mark.parametrize("encoded", SMALL_ORDER)
def test_small_order_points__are_refused_though_cryptography_loads_them(encoded):
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(encoded))  # Loads: it checks only the length.
    assert "small order" in ed25519.public_key_problem(bytes.fromhex(encoded))


@pytest.mark.parametrize("encoded", NON_CANONICAL)
def test_non_canonical_encodings__are_refused(encoded):
    assert ed25519.public_key_problem(bytes.fromhex(encoded)) is not None


def test_a_real_key_plus_a_small_order_point__is_refused():
    public = pki.public_key_raw(pki.new_signing_key("bank-a/k1").private_key.public_key())
    x, y, z, _ = ed25519._add(ed25519._decode(public), ed25519._decode(bytes.fromhex(SMALL_ORDER[4])))
    inverse = pow(z, ed25519.P - 2, ed25519.P)
    x, y = x * inverse % ed25519.P, y * inverse % ed25519.P
    mixed = (y | (x & 1) << 255).to_bytes(32, "little")
    assert ed25519._decode(mixed) is not None  # On the curve, canonically encoded...
    assert "small-order component" in ed25519.public_key_problem(mixed)  # ...but not in the prime-order group.


def test_off_curve_and_wrong_length__are_refused():
    off_curve = next(bytes([index]) + bytes(31) for index in range(2, 256)
                     if ed25519._decode(bytes([index]) + bytes(31)) is None)
    assert "not the canonical encoding of a point" in ed25519.public_key_problem(off_curve)
    assert "32 bytes" in ed25519.public_key_problem(bytes(31))
    assert "32 bytes" in ed25519.public_key_problem(bytes(33))
