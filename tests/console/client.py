"""A plain HTTP client for the console tests: it keeps the session cookie, sends the console's
own Origin on posts unless told otherwise, and finds the CSRF token in the pages it reads."""
from __future__ import annotations

import http.client
import re
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str
    set_cookies: list[str]


@dataclass
class ConsoleClient:
    address: str                                  # http://127.0.0.1:PORT or https://...
    tls: ssl.SSLContext | None = None
    cookie: str = ""
    csrf: str = ""
    history: list[Answer] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.address

    def request(self, method: str, path: str, *, form: dict | None = None, headers: dict | None = None) -> Answer:
        parts = urlsplit(self.address)
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=self.tls, timeout=10)
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        sent = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        sent.update(headers or {})
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                            response.read().decode(), response.headers.get_all("Set-Cookie") or [])
        finally:
            connection.close()
        for set_cookie in answer.set_cookies:
            self.cookie = set_cookie.split(";", 1)[0]
        if found := CSRF_FIELD.search(answer.text):
            self.csrf = found[1]
        self.history.append(answer)
        return answer

    def get(self, path: str, **kwargs) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, form: dict, *, origin: str | None = "own", csrf: str | None = "own",
             headers: dict | None = None) -> Answer:
        """origin/csrf "own": the console's own; None: left out; any other text: sent as it is."""
        form = dict(form)
        if csrf == "own":
            form["csrf"] = self.csrf
        elif csrf is not None:
            form["csrf"] = csrf
        sent = dict(headers or {})
        if origin == "own":
            sent["Origin"] = self.origin
        elif origin is not None:
            sent["Origin"] = origin
        return self.request("POST", path, form=form, headers=sent)

    def log_in(self, link: str) -> Answer:
        token = link.split("token=", 1)[1]
        self.get(f"/login?token={token}")
        return self.post("/login", {"token": token}, csrf=None)

    def act(self, action: str, form: dict) -> Answer:
        """An action confirmed, as the operator clicks through the confirmation page."""
        return self.post(f"/actions/{action}", {**form, "confirmed": "yes"})
