"""fedmall-clearing serve stops on SIGTERM whichever of its threads the kernel hands the signal
to (a main thread blocked in Event.wait() without a timeout never ran the handler)."""
from __future__ import annotations

import sys

from clearing.cli import main
from tests.support.signals import linux_x86_64_only, stops_on_sigterm_to_another_thread


@linux_x86_64_only
def test_serve__stops_when_sigterm_is_taken_by_a_thread_other_than_the_main_one(tmp_path):
    home = tmp_path / "clearing"
    assert main(["--home", str(home), "init", "--listen", "127.0.0.1:0"]) == 0
    log = stops_on_sigterm_to_another_thread([sys.executable, "-m", "clearing.cli", "--home", str(home), "serve"],
                                             tmp_path / "serve.log")
    assert "clearing stopped" in log
