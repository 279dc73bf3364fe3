"""A wall clock the tests can move forward, to reach expiries without sleeping."""
from __future__ import annotations

import threading
import time


class ShiftableClock:
    def __init__(self) -> None:
        self._offset_ms = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return time.time_ns() // 1_000_000 + self._offset_ms

    def advance(self, *, ms: int) -> None:
        with self._lock:
            self._offset_ms += ms
