"""Is 32 bytes a usable Ed25519 public key? Checked before a signing key is registered.

cryptography's Ed25519PublicKey.from_public_bytes takes any 32 bytes: it checks the length,
never the point. A key that is not a point of the prime-order subgroup is refused here:

1. the encoding is canonical: y (the low 255 bits, little-endian) is below p = 2^255 - 19,
   and the sign bit is not set for x = 0 (RFC 8032 5.1.3 decoding, plus those two checks
   that make each point have exactly one encoding);
2. it decodes to a point on the curve: x^2 = (y^2 - 1) / (d y^2 + 1) has a square root;
3. the point is not the identity and [L]A is the identity, L the prime order of the base
   point's subgroup. That refuses the eight points of small order (the identity among them),
   with which a signature can be made to verify for more than one message, and the "mixed"
   points with a small-order component, whose signatures verify under cofactored but not
   cofactorless rules. A key made by any Ed25519 implementation, A = [a]B, passes.

Point arithmetic is RFC 8032's extended coordinates, in Python integers: a few milliseconds
for one key, paid once per key change, never per signature.
"""
from __future__ import annotations

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_MINUS_ONE = pow(2, (P - 1) // 4, P)
PUBLIC_KEY_BYTES = 32

_Point = tuple[int, int, int, int]  # Extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z.
_IDENTITY: _Point = (0, 1, 1, 0)


def _add(a: _Point, b: _Point) -> _Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    e1 = (y1 - x1) * (y2 - x2) % P
    e2 = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = e2 - e1, dd - c, dd + c, e2 + e1
    return e * f % P, g * h % P, f * g % P, e * h % P


def _multiply(scalar: int, point: _Point) -> _Point:
    result = _IDENTITY
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _is_identity(point: _Point) -> bool:
    x, y, z, _ = point
    return x % P == 0 and (y - z) % P == 0


def _decode(encoded: bytes) -> _Point | None:
    """RFC 8032 5.1.3, refusing non-canonical encodings; None when not a curve point."""
    number = int.from_bytes(encoded, "little")
    sign, y = number >> 255, number & ((1 << 255) - 1)
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * SQRT_MINUS_ONE % P
    if v * x * x % P != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x, y, 1, x * y % P


def public_key_problem(encoded: bytes) -> str | None:
    """Why these bytes are not a usable Ed25519 public key, or None."""
    if len(encoded) != PUBLIC_KEY_BYTES:
        return f"an Ed25519 public key is {PUBLIC_KEY_BYTES} bytes, not {len(encoded)}"
    point = _decode(encoded)
    if point is None:
        return "not the canonical encoding of a point on the Ed25519 curve"
    if _is_identity(point) or not _is_identity(_multiply(L, point)):
        return "a point of small order, or with a small-order component: not a key any signer made"
    return None
