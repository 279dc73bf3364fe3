"""The console's requests: who is asking (clearing.console.sessions, the client certificate or a
login token), whether a post may act (clearing.console.guard), and which page or action
answers (clearing.console.views, clearing.console.actions). No HTTP server here: the server
(clearing.console.server) hands in a Request and writes out the Response.

    GET  /participants[/BANK]   /windows[/N]   /transfers[/ID]   /audit[/SEQ]   /funds
    GET  /login?token=T         (token login) a page with a button that posts the token
    POST /login                 trade a one-time token for a session
    POST /logout
    POST /actions/NAME          first a confirmation page; with confirmed=yes, the action
    GET  /static/console.css, /static/console.js

Every page but the login page and the static files needs a session; every post needs the
console's own Origin and, once logged in, the session's CSRF token. A refused request changes
nothing and says why, with the result code when the clearing refused it.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import resources
from typing import Callable, Mapping

import jinja2
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fedmall import money, pki
from fedmall.console import utc_time
from fedmall.results import FedmallError, name_of
from fedmall.v1 import result_pb2 as rc

from clearing.console import actions, guard, logins, views
from clearing.console.sessions import COOKIE_NAME, Session, Sessions
from clearing.console.settings import ConsoleSettings
from clearing.store import StorageUnavailable

log = logging.getLogger("fedmall.clearing.console")

STATIC_FILES = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]
NOT_FOUND_RESULTS = {rc.RESULT_CODE_UNKNOWN_PARTICIPANT, rc.RESULT_CODE_TRANSFER_NOT_FOUND,
                     rc.RESULT_CODE_WINDOW_NOT_FOUND}
BAD_INPUT_RESULTS = {rc.RESULT_CODE_INVALID_FIELD, rc.RESULT_CODE_INVALID_AMOUNT}
NAME = r"([A-Za-z0-9._-]{1,64})"


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    form: Mapping[str, str]
    headers: Mapping[str, str]           # Names in lower case.
    client: str                          # The peer's address, for the audit of a login.
    peer_certificate_der: bytes | None = None   # Verified against the consortium CA by the TLS layer.


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


class ConsoleApp:
    def __init__(self, settings: ConsoleSettings, services: views.Services, *, clock_ms: Callable[[], int],
                 certificate_refused: Callable[[str], bool]) -> None:
        self.settings = settings
        self.services = services
        self.port = settings.port           # The bound port, set by the server once it listens.
        self._clock_ms = clock_ms
        self._certificate_refused = certificate_refused
        self.sessions = Sessions(lifetime_s=settings.session_s, clock_ms=clock_ms)
        self._templates = jinja2.Environment(loader=jinja2.PackageLoader("clearing.console", "templates"),
                                             autoescape=True, undefined=jinja2.StrictUndefined)
        self._templates.filters.update(money=money.format_money, utc=utc_time)

    # The request, step by step ----------------------------------------------------------

    def handle(self, request: Request) -> Response:
        problem = guard.host_problem(request.headers.get("host", ""), self.settings, port=self.port)
        if problem:
            return self._plain(HTTPStatus.BAD_REQUEST, problem)
        if request.method == "GET" and request.path.startswith("/static/"):
            return self._static(request.path.removeprefix("/static/"))
        if request.method == "POST":
            problem = guard.origin_problem(request.headers, scheme=self.settings.scheme,
                                           host_header=request.headers.get("host", ""))
            if problem:
                return self._refused(None, HTTPStatus.FORBIDDEN, problem)
        try:
            return self._authenticated(request)
        except StorageUnavailable as error:
            return self._refused(None, HTTPStatus.SERVICE_UNAVAILABLE,
                                 f"the clearing's database is unavailable, nothing was changed; try again ({error})")

    def _authenticated(self, request: Request) -> Response:
        session, new_cookie = self._session(request)
        if isinstance(session, Response):
            return session
        if request.path == "/login" and self.settings.authentication == "token" and (
                session is None or request.method == "POST"):  # A new link replaces the session it finds.
            return self._login(request)
        if session is None:
            if request.method == "POST":
                return self._refused(None, HTTPStatus.FORBIDDEN, "not logged in: nothing was changed")
            return self._redirect("/login")
        response = self._serve(request, session)
        if new_cookie:
            response.headers.append(("Set-Cookie", self._cookie(session)))
        return response

    def _session(self, request: Request) -> tuple[Session | Response | None, bool]:
        """The caller's session, and whether it was opened by this request (its cookie to set)."""
        session = self.sessions.find(_cookies(request.headers.get("cookie", "")).get(COOKIE_NAME, ""))
        if self.settings.authentication == "token":
            return session, False
        if request.peer_certificate_der is None:  # The TLS layer demands one; this is belt and braces.
            return self._refused(None, HTTPStatus.FORBIDDEN, "the console needs the operator's certificate"), False
        certificate = x509.load_der_x509_certificate(request.peer_certificate_der)
        identity = pki.identity_of(certificate.public_bytes(serialization.Encoding.PEM))
        sha256 = pki.fingerprint(certificate)
        if identity is None or identity.role != "operator":
            return self._refused(None, HTTPStatus.FORBIDDEN,
                                 "this console is for the operator's certificate, not a member's"), False
        if self._certificate_refused(sha256):
            return self._refused(None, HTTPStatus.FORBIDDEN, "this certificate was revoked or its CA retired"), False
        if session is not None and session.certificate_sha256 == sha256:
            return session, False
        logins.record_certificate_login(self.services.store, operator_name=identity.party_id,
                                        certificate_serial=pki.serial_text(certificate), now_ms=self._clock_ms(),
                                        client=request.client)
        return self.sessions.start(operator=identity.party_id, method="certificate", certificate_sha256=sha256), True

    def _login(self, request: Request) -> Response:
        if request.method == "GET":
            return self._page("login.html", None, token=request.query.get("token", ""), problem="")
        try:
            operator_name = logins.redeem(self.services.store, request.form.get("token", "").strip(),
                                          now_ms=self._clock_ms(), client=request.client)
        except logins.LoginRefused as refusal:
            return self._page("login.html", None, status=HTTPStatus.FORBIDDEN, token="", problem=str(refusal))
        session = self.sessions.start(operator=operator_name, method="token")
        log.info("console: %s logged in with a login token from %s", operator_name, request.client)
        response = self._redirect("/participants")
        response.headers.append(("Set-Cookie", self._cookie(session)))
        return response

    def _serve(self, request: Request, session: Session) -> Response:
        if request.method == "POST":
            problem = guard.csrf_problem(request.form, session.csrf_token)
            if problem:
                return self._refused(session, HTTPStatus.FORBIDDEN, problem)
            if request.path == "/logout":
                self.sessions.end(session)
                response = self._redirect("/login" if self.settings.authentication == "token" else "/participants")
                response.headers.append(("Set-Cookie", f"{COOKIE_NAME}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"))
                return response
            if match := re.fullmatch(r"/actions/([a-z-]{1,32})", request.path):
                return self._act(match[1], request.form, session)
            return self._plain(HTTPStatus.NOT_FOUND, "no such action")
        if request.method != "GET":
            return self._plain(HTTPStatus.METHOD_NOT_ALLOWED, "GET or POST")
        return self._read(request, session)

    # Pages --------------------------------------------------------------------------------

    def _read(self, request: Request, session: Session) -> Response:
        path, now_ms, services = request.path, self._clock_ms(), self.services
        routes = [
            (r"/participants", lambda: ("participants.html", views.participants(services, now_ms=now_ms))),
            (rf"/participants/{NAME}", lambda name: ("participant.html",
                                                     views.participant(services, name, now_ms=now_ms))),
            (r"/windows", lambda: ("windows.html", views.windows(services))),
            (r"/windows/(\d{1,18})", lambda number: ("window.html", views.window(services, int(number)))),
            (r"/transfers", lambda: ("transfers.html", views.transfers(services, request.query))),
            (r"/transfers/([0-9A-Za-z-]{1,64})", lambda transfer_id: ("transfer.html",
                                                                       views.transfer(services, transfer_id))),
            (r"/audit", lambda: ("audit.html", views.audit(services, request.query))),
            (r"/audit/(\d{1,18})", lambda sequence: ("audit_entry.html", views.audit_entry(services, int(sequence)))),
            (r"/funds", lambda: ("funds.html", views.funds(services, request.query))),
        ]
        if path in ("/", "/login"):
            return self._redirect("/participants")
        for pattern, view in routes:
            if match := re.fullmatch(pattern, path):
                try:
                    template, data = view(*match.groups())
                except FedmallError as error:
                    return self._refused(session, _status_of(error.code), f"{name_of(error.code)}: {error}")
                except ValueError as error:
                    return self._refused(session, HTTPStatus.BAD_REQUEST, str(error))
                return self._page(template, session, **data)
        return self._refused(session, HTTPStatus.NOT_FOUND, f"no page {path}")

    def _act(self, name: str, form: Mapping[str, str], session: Session) -> Response:
        try:
            plan = actions.plan(name, form, self.services, operator_name=session.operator)
            if form.get("confirmed") != "yes":
                return self._page("confirm.html", session, action=name, plan=plan)
            outcome = plan.run()
        except FedmallError as error:
            log.info("console: %s by %s refused: %s", name, session.operator, name_of(error.code))
            return self._refused(session, _status_of(error.code), f"{name_of(error.code)}: {error}")
        except ValueError as error:  # Also money.MoneyError: what was typed is not an amount.
            return self._refused(session, HTTPStatus.BAD_REQUEST, str(error))
        log.info("console: %s by %s: %s", name, session.operator, outcome.message.splitlines()[0])
        return self._page("outcome.html", session, outcome=outcome)

    # Responses -----------------------------------------------------------------------------

    def _page(self, template: str, session: Session | None, *, status: int = HTTPStatus.OK, **data) -> Response:
        body = self._templates.get_template(template).render(session=session, now_ms=self._clock_ms(), **data)
        return Response(status, body.encode(), headers=[("Cache-Control", "no-store")])

    def _refused(self, session: Session | None, status: int, message: str) -> Response:
        return self._page("refused.html", session, status=status, message=message)

    @staticmethod
    def _plain(status: int, message: str) -> Response:
        return Response(status, (message + "\n").encode(), content_type="text/plain; charset=utf-8")

    @staticmethod
    def _redirect(location: str) -> Response:
        return Response(HTTPStatus.SEE_OTHER, b"", headers=[("Location", location)])

    @staticmethod
    def _static(name: str) -> Response:
        if name not in STATIC_FILES:
            return ConsoleApp._plain(HTTPStatus.NOT_FOUND, "no such file")
        body = resources.files("clearing.console").joinpath("static", name).read_bytes()
        return Response(HTTPStatus.OK, body, content_type=STATIC_FILES[name],
                        headers=[("Cache-Control", "no-cache")])

    def _cookie(self, session: Session) -> str:
        secure = "; Secure" if self.settings.uses_tls else ""
        return (f"{COOKIE_NAME}={self.sessions.cookie_value(session)}; Path=/; HttpOnly; SameSite=Strict; "
                f"Max-Age={self.settings.session_s}{secure}")


def _status_of(code: int) -> int:
    if code in NOT_FOUND_RESULTS:
        return HTTPStatus.NOT_FOUND
    if code in BAD_INPUT_RESULTS:
        return HTTPStatus.BAD_REQUEST
    return HTTPStatus.CONFLICT


def _cookies(header: str) -> dict[str, str]:
    cookies = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        cookies.setdefault(name, value)
    return cookies
