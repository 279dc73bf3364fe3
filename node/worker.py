"""A background thread that does one step of work at a time, woken by a signal or a timer.

A step returns True when more work is waiting (run again at once) and False when
idle (sleep until woken or poll_ms passes). A step that raises backs off
exponentially, up to retry_backoff_ms_max, and tries again: every step is safe to retry.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

import grpc

from fedmall.tls import failure_text

from node import limits

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, name: str, step: Callable[[], bool], *, poll_ms: int = limits.worker_poll_ms) -> None:
        self.name = name
        self._step = step
        self._poll_ms = poll_ms
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self, *, timeout_ms: int = limits.stop_timeout_ms) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_ms / 1000)
            if self._thread.is_alive():
                log.warning("worker %s did not stop within %d ms", self.name, timeout_ms)

    def sleep(self, milliseconds: int) -> None:
        """Sleep, returning early on wake or stop."""
        self._wake.wait(milliseconds / 1000)
        self._wake.clear()

    def _run(self) -> None:
        backoff_ms = limits.retry_backoff_ms_min
        while not self._stopping.is_set():
            try:
                more = self._step()
                backoff_ms = limits.retry_backoff_ms_min
            except grpc.RpcError as error:  # The peer is down or restarting: expected, say so briefly.
                if self._stopping.is_set():
                    break
                log.warning("worker %s: %s; retrying in %d ms", self.name, failure_text(error), backoff_ms)
                self._stopping.wait(backoff_ms / 1000)
                backoff_ms = min(backoff_ms * 2, limits.retry_backoff_ms_max)
                continue
            except Exception:  # noqa: BLE001 - a worker must survive and retry.
                if self._stopping.is_set():
                    break
                log.exception("worker %s failed; retrying in %d ms", self.name, backoff_ms)
                self._stopping.wait(backoff_ms / 1000)
                backoff_ms = min(backoff_ms * 2, limits.retry_backoff_ms_max)
                continue
            if not more and not self._stopping.is_set():
                self.sleep(self._poll_ms)
