"""Bounded waits for what arrives asynchronously (deliveries, decisions, reconnections)."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

from conformance.cases import CaseFailed

T = TypeVar("T")

POLL_S = 0.02


def wait_for(found: Callable[[], T | None], *, timeout_s: float, waiting_for: str) -> T:
    """found()'s first truthy value within timeout_s; CaseFailed naming what never came."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = found()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise CaseFailed(f"no {waiting_for} within {timeout_s:g} s")
        time.sleep(POLL_S)


def stays_absent(found: Callable[[], object], *, for_s: float) -> object | None:
    """What found() returned if it turned up within for_s (something that must not come), else None."""
    deadline = time.monotonic() + for_s
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(POLL_S)
    return found() or None
