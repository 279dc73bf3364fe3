"""Running calls at the same moment, each in its own thread, for the race tests."""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

Result = TypeVar("Result")


def at_once(calls: list[Callable[[], Result]], *, timeout_s: float = 60) -> list[Result]:
    """Start every call in its own thread, release them together, and return their results in
    order; a call that raised re-raises here."""
    start = threading.Barrier(len(calls))
    outcomes: list[tuple[bool, object]] = [(False, None)] * len(calls)

    def run(index: int) -> None:
        start.wait(timeout=timeout_s)
        try:
            outcomes[index] = (True, calls[index]())
        except BaseException as error:  # Handed to the test's thread below.
            outcomes[index] = (False, error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout_s)
        assert not thread.is_alive(), "a call did not finish"
    for finished, value in outcomes:
        if not finished:
            raise value
    return [value for _, value in outcomes]
