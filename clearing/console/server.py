"""The console's HTTP server: the standard library's, one thread per connection (at most
limits.console_connections_max at once, each dropped after limits.console_socket_timeout_s
of silence), over HTTPS with the operator's client certificate demanded when
[console].authentication is "certificate". It parses a request into a
clearing.console.app.Request (a form of at most limits.console_request_body_bytes_max) and
writes back the Response; the app decides everything else.
"""
from __future__ import annotations

import logging
import ssl
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fedmall.bounded_http import BoundedHTTPServer

from clearing import limits
from clearing.console.app import ConsoleApp, Request, Response, SECURITY_HEADERS

log = logging.getLogger("fedmall.clearing.console")
FORM_FIELDS_MAX = 32
FORM_TYPE = "application/x-www-form-urlencoded"


def tls_context(home: Path, ca_pem: bytes) -> ssl.SSLContext:
    """The clearing's own certificate; a client must show one the consortium CA issued."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(home / "tls.crt", home / "tls.key")
    context.load_verify_locations(cadata=ca_pem.decode())
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class ConsoleServer:
    """start() binds and serves in a thread, returning the port; stop() closes."""

    def __init__(self, app: ConsoleApp, *, tls: ssl.SSLContext | None) -> None:
        self.app = app
        self._httpd = BoundedHTTPServer((app.settings.host, app.settings.port), _handler_class(app, tls),
                                        requests_in_flight_max=limits.console_connections_max,
                                        bind_and_activate=False)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="console", daemon=True)

    def start(self) -> int:
        try:
            self._httpd.server_bind()
            self._httpd.server_activate()
        except OSError as error:
            self._httpd.server_close()
            raise OSError(f"the web console cannot listen on {self.app.settings.host}:{self.app.settings.port} "
                          f"([console].listen_address): {error.strerror}") from None
        self.app.port = self._httpd.server_address[1]
        self._thread.start()
        return self.app.port

    @property
    def address(self) -> str:
        return self.app.settings.address(self.app.port)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()


def _handler_class(app: ConsoleApp, tls: ssl.SSLContext | None):
    class Handler(BaseHTTPRequestHandler):
        server_version = "fedmall-console"
        sys_version = ""
        timeout = limits.console_socket_timeout_s

        def setup(self) -> None:
            self.request.settimeout(limits.console_socket_timeout_s)
            if tls is not None:  # The handshake runs here, in this connection's thread.
                self.request = tls.wrap_socket(self.request, server_side=True)
            super().setup()

        def do_GET(self) -> None:
            self._answer(b"")

        def do_POST(self) -> None:
            length_text = self.headers.get("Content-Length", "")
            if not length_text.isdigit():
                self._write(Response(HTTPStatus.LENGTH_REQUIRED, b"a post needs a Content-Length\n",
                                     content_type="text/plain; charset=utf-8"))
                return
            if int(length_text) > limits.console_request_body_bytes_max:
                self.close_connection = True
                self._write(Response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"the form is too large\n",
                                     content_type="text/plain; charset=utf-8"))
                return
            self._answer(self.rfile.read(int(length_text)))

        def _answer(self, body: bytes) -> None:
            parts = urlsplit(self.path)
            form = {}
            if body and self.headers.get_content_type() == FORM_TYPE:
                form = _first_values(body.decode("utf-8", "replace"))
            certificate = self.connection.getpeercert(binary_form=True) if tls is not None else None
            request = Request(method=self.command, path=parts.path, query=_first_values(parts.query), form=form,
                              headers={name.lower(): value for name, value in self.headers.items()},
                              client=self.client_address[0], peer_certificate_der=certificate)
            try:
                response = app.handle(request)
            except Exception:  # One broken page must not take the console down; the log has it.
                log.exception("console: %s %s failed", self.command, parts.path)
                response = Response(HTTPStatus.INTERNAL_SERVER_ERROR, b"the console failed; see the clearing's log\n",
                                    content_type="text/plain; charset=utf-8")
            self._write(response)

        def _write(self, response: Response) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in SECURITY_HEADERS + response.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args) -> None:
            log.debug("console %s: " + format, self.client_address[0], *args)

    return Handler


def _first_values(text: str) -> dict[str, str]:
    """A query or form, each field's first value (a repeated field cannot smuggle a second)."""
    try:
        parsed = parse_qs(text, keep_blank_values=True, max_num_fields=FORM_FIELDS_MAX)
    except ValueError:  # More fields than any console form has.
        return {}
    return {name: values[0] for name, values in parsed.items()}
