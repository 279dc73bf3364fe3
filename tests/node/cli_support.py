"""What the command-line tests share: a fake of bank-a's node over real mTLS, and readers of
the commands' output."""
from __future__ import annotations

import contextlib
import json
from typing import Callable, Iterator

from fedmall.tls import new_server, server_credentials


@contextlib.contextmanager
def fake_node_home(consortium, *add_servicers: Callable) -> Iterator[str]:
    """Serve the fake's services (each add_servicer(server) registers one) on port 0 over mTLS;
    yields bank-a's bundle folder pointing at it."""
    server = new_server(threads=4)
    for add_servicer in add_servicers:
        add_servicer(server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(consortium.credentials("bank-a")))
    server.start()
    try:
        yield str(consortium.bundle("bank-a", listen_address=f"127.0.0.1:{port}"))
    finally:
        server.stop(0)


def json_out(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def labelled(out: str) -> dict:
    """The 'label  value' lines before the first blank line; labels are separated by two spaces or more."""
    head = out.split("\n\n", 1)[0]
    return dict((part.strip() for part in line.split("  ", 1)) for line in head.splitlines())
