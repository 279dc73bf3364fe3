"""What an account id and a network address look like, for every party."""
from __future__ import annotations

import re

from fedmall import limits

_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,%d}$" % limits.account_id_length_max)


def is_account_id(text: str) -> bool:
    """ASCII letters, digits, '-', '_' and '.', at most account_id_length_max characters."""
    return bool(_ACCOUNT_ID.fullmatch(text))


_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$")


def check_host_port(address: str, what: str) -> str:
    """address when it is host:port (a name, an IPv4 address or a bracketed IPv6 one, and a port
    1-65535); ValueError naming what otherwise."""
    host, _, port = address.rpartition(":")
    if not _HOST.fullmatch(host) or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65_535:
        raise ValueError(f"{what} must be host:port with a port from 1 to 65535, not {address!r}")
    return address
