"""What ids and network addresses look like, for every party: one function per kind of id,
used by the clearing and the nodes alike."""
from __future__ import annotations

import re

from fedmall import limits

_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,%d}$" % limits.account_id_length_max)


def is_account_id(text: str) -> bool:
    """ASCII letters, digits, '-', '_' and '.', at most account_id_length_max characters."""
    return bool(_ACCOUNT_ID.fullmatch(text))


def is_bank_id(text: str) -> bool:
    """An account id of at most bank_id_length_max characters ("clearing" and "operator" are
    reserved by the clearing's registry)."""
    return len(text) <= limits.bank_id_length_max and is_account_id(text)


# Every UUID id of the contract (transfer, order, checkout, refund, event and deposit ids) in
# its one canonical spelling: lowercase hexadecimal, hyphenated 8-4-4-4-12. "ABC..." and
# "abc..." would otherwise be two ids for one UUID (two transfers, two reservations), and a
# braced, URN or unhyphenated spelling a third. The nil and max UUIDs (RFC 9562) are
# sentinels no sender generates: refused too.
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NIL_UUID = "00000000-0000-0000-0000-000000000000"
MAX_UUID = "ffffffff-ffff-ffff-ffff-ffffffffffff"


def is_uuid(text: str) -> bool:
    """A lowercase hyphenated UUID other than the nil and max UUIDs."""
    return len(text) == limits.uuid_length and bool(_UUID.fullmatch(text)) and text not in (NIL_UUID, MAX_UUID)


# A UETR (ISO 20022 UUIDv4Identifier): a canonical UUID whose version nibble is 4 and whose
# variant bits are RFC 4122's (10xx), the pattern the pacs and camt schemas demand.
_UUID_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def is_uetr(text: str) -> bool:
    """A lowercase hyphenated version 4 UUID."""
    return len(text) == limits.uuid_length and bool(_UUID_V4.fullmatch(text))


_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,%d}$" % (limits.key_name_length_max - 1))


def is_key_id(key_id: str, *, owner: str) -> bool:
    """"<owner>/<key name>": the owner's bank id (or "clearing"), then a name of letters, digits,
    '-', '_' and '.' starting with a letter or digit, at most key_id_length_max in all."""
    owner_part, slash, name = key_id.partition("/")
    return (bool(slash) and owner_part == owner and len(key_id) <= limits.key_id_length_max
            and bool(_KEY_NAME.fullmatch(name)))


_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$")


def check_host_port(address: str, what: str) -> str:
    """address when it is host:port (a name, an IPv4 address or a bracketed IPv6 one, and a port
    1-65535); ValueError naming what otherwise."""
    host, _, port = address.rpartition(":")
    if not _HOST.fullmatch(host) or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65_535:
        raise ValueError(f"{what} must be host:port with a port from 1 to 65535, not {address!r}")
    return address
