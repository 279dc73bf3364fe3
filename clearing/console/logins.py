"""One-time login tokens for the web console: `fedmall-clearing console-token` issues one for
an operator and prints a link; the console trades it for a session once.

Only the token's SHA-256 is stored (clearing.store.console_logins), so a copy of the database
logs nobody in. A token is good once, until it expires; issuing and using one are both in the
audit log (console.token, console.login), under the operator's name.
"""
from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa

from clearing import audit, operator
from clearing.store import Store, console_logins

TOKEN_BYTES = 32
TOKEN_LENGTH_MAX = 64  # URL-safe base64 of TOKEN_BYTES is 43 characters; longer is not ours.


class LoginRefused(Exception):
    """The token is unknown, used or expired; the message says which, for the operator."""


def issue(store: Store, *, operator_name: str, now_ms: int, valid_for_s: int) -> str:
    """A new token for operator_name (checked as clearing.operator checks names), valid once."""
    name = operator.checked(operator_name, "console login").operator
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at_ms = now_ms + valid_for_s * 1000
    with store.write() as connection:
        connection.execute(sa.insert(console_logins).values(
            token_sha256=_digest(token), operator=name, created_at_ms=now_ms, expires_at_ms=expires_at_ms))
        audit.append(connection, kind="console.token", party_id="operator", now_ms=now_ms, body=audit.json_body({
            "operator": name, "expires_at_ms": expires_at_ms, "token_sha256": _digest(token).hex()[:16]}))
    return token


def redeem(store: Store, token: str, *, now_ms: int, client: str) -> str:
    """The operator the token names, marking it used in the same transaction as its audit entry;
    LoginRefused (nothing changed) when it is not a live token."""
    if not token or len(token) > TOKEN_LENGTH_MAX:
        raise LoginRefused("that is not a login token: ask for a new one (fedmall-clearing console-token)")
    digest = _digest(token)
    with store.write() as connection:
        row = connection.execute(sa.select(console_logins).where(console_logins.c.token_sha256 == digest)
                                 .with_for_update()).first()
        if row is None:
            raise LoginRefused("unknown login token: ask for a new one (fedmall-clearing console-token)")
        if row.used_at_ms is not None:
            raise LoginRefused("this login token was used already; each is good once: ask for a new one")
        if now_ms >= row.expires_at_ms:
            raise LoginRefused("this login token expired: ask for a new one (fedmall-clearing console-token)")
        connection.execute(sa.update(console_logins).where(console_logins.c.token_sha256 == digest)
                           .values(used_at_ms=now_ms))
        audit.append(connection, kind="console.login", party_id="operator", now_ms=now_ms, body=audit.json_body({
            "operator": row.operator, "method": "token", "token_sha256": digest.hex()[:16], "client": client}))
    return row.operator


def record_certificate_login(store: Store, *, operator_name: str, certificate_serial: str, now_ms: int,
                             client: str) -> None:
    """A session opened by the operator's client certificate, in the audit log."""
    with store.write() as connection:
        audit.append(connection, kind="console.login", party_id="operator", now_ms=now_ms, body=audit.json_body({
            "operator": operator_name, "method": "certificate", "certificate_serial": certificate_serial,
            "client": client}))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
