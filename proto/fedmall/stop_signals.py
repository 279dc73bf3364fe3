"""Waiting for SIGTERM or SIGINT in a server's main thread, the same way in the clearing and the nodes.

Any thread may take a signal sent to the process (one that is starting a thread, say), and
Python runs the handler only when the main thread next executes bytecode: a main thread
blocked in Event.wait() without a timeout never did, and a clearing did not stop (seen with
SIGINT then SIGTERM a few ms apart, under load). So the main thread sleeps in short steps.
And a handler runs between any two bytecodes of the main thread, even inside a lock it holds,
so the handler takes none: it only records the signal (an Event.set in a second handler
deadlocked inside the first's).
"""
from __future__ import annotations

import signal
import time

POLL_S = 0.2


class StopSignals:
    """Install at start-up, before serving: a signal during start-up is kept, not lost."""

    def __init__(self) -> None:
        self.received: list[int] = []
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signal_number, lambda number, _frame: self.received.append(number))

    def wait(self) -> int:
        """Block until a stop signal came; its number."""
        while not self.received:
            time.sleep(POLL_S)
        return self.received[0]
