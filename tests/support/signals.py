"""Sending a process-directed stop signal to a server the hard way: to one of its threads other
than the main one (tgkill). A signal sent to a process may be taken by any thread, and Python
runs the handler only when the main thread next executes bytecode (fedmall.stop_signals)."""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SYS_TGKILL = 234  # x86_64
STOP_TIMEOUT_S = 5

linux_x86_64_only = pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
                                       reason="tgkill by syscall number is x86_64 Linux")


def tgkill(pid: int, tid: int, signal_number: int) -> None:
    if ctypes.CDLL(None, use_errno=True).syscall(SYS_TGKILL, pid, tid, signal_number) != 0:
        raise OSError(ctypes.get_errno(), f"tgkill {pid}/{tid}")


def wait_for_line(path: Path, text: str, process: subprocess.Popen, *, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in path.read_text():
        assert process.poll() is None, path.read_text()
        assert time.monotonic() < deadline, f"no {text!r} within {timeout_s} s"
        time.sleep(0.02)


def stops_on_sigterm_to_another_thread(command: list[str], log_path: Path) -> str:
    """Run command until it prints 'listening', SIGTERM one of its other threads; its log once it exited 0."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        wait_for_line(log_path, "listening", process)
        other_threads = sorted(int(tid) for tid in os.listdir(f"/proc/{process.pid}/task") if int(tid) != process.pid)
        tgkill(process.pid, other_threads[0], signal.SIGTERM)
        assert process.wait(timeout=STOP_TIMEOUT_S) == 0, log_path.read_text()
        return log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
