"""A threaded HTTP server that serves at most so many requests at once, for the small listeners
beside the gRPC servers (fedmall.observability, the clearing's console): a client that floods or
stalls one cannot pile up threads in the process it shares. A request beyond the bound is
dropped, not queued; the caller's handler sets each request's socket timeout.
"""
from __future__ import annotations

import logging
import socket
import threading
from http.server import ThreadingHTTPServer

log = logging.getLogger(__name__)


class BoundedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler, *, requests_in_flight_max: int,
                 bind_and_activate: bool = True) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self._slots = threading.BoundedSemaphore(requests_in_flight_max)
        super().__init__(address, handler, bind_and_activate=bind_and_activate)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):  # Busy: drop it rather than queue without bound.
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        log.debug("HTTP connection from %s failed", client_address, exc_info=True)
