"""The console's sessions: who is logged in, until when, and the token every form must carry.

A session lives in the clearing process's memory (a restart logs everybody out). The browser
holds only its id, in a cookie signed with a key made at start (HMAC-SHA256), HttpOnly (no
script reads it) and SameSite=Strict (no other site's page sends it); Secure over HTTPS. Each
session has its own CSRF token, put in every form and checked on every post
(clearing.console.guard). At most limits.console_sessions_max live at once: a new login
ends the one closest to expiry.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Callable

from clearing import limits

COOKIE_NAME = "fedmall_console"


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    operator: str
    method: str                     # token or certificate
    csrf_token: str
    expires_at_ms: int
    certificate_sha256: str = ""    # A certificate session holds only for that certificate.


class Sessions:
    def __init__(self, *, lifetime_s: int, clock_ms: Callable[[], int]) -> None:
        self._key = secrets.token_bytes(32)
        self._lifetime_ms = lifetime_s * 1000
        self._clock_ms = clock_ms
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, *, operator: str, method: str, certificate_sha256: str = "") -> Session:
        session = Session(session_id=secrets.token_urlsafe(24), operator=operator, method=method,
                          csrf_token=secrets.token_urlsafe(24), expires_at_ms=self._clock_ms() + self._lifetime_ms,
                          certificate_sha256=certificate_sha256)
        with self._lock:
            self._drop_expired()
            while len(self._sessions) >= limits.console_sessions_max:
                oldest = min(self._sessions.values(), key=lambda s: s.expires_at_ms)
                del self._sessions[oldest.session_id]
            self._sessions[session.session_id] = session
        return session

    def find(self, cookie_value: str) -> Session | None:
        """The live session a cookie names, or None (unsigned, forged, ended or expired)."""
        session_id, _, signature = cookie_value.partition(".")
        if not session_id or not hmac.compare_digest(signature, self._sign(session_id)):
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at_ms <= self._clock_ms():
                del self._sessions[session_id]
                return None
        return session

    def end(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.session_id, None)

    def cookie_value(self, session: Session) -> str:
        return f"{session.session_id}.{self._sign(session.session_id)}"

    def _sign(self, session_id: str) -> str:
        return hmac.new(self._key, session_id.encode(), hashlib.sha256).hexdigest()

    def _drop_expired(self) -> None:
        now_ms = self._clock_ms()
        for session_id in [s.session_id for s in self._sessions.values() if s.expires_at_ms <= now_ms]:
            del self._sessions[session_id]
