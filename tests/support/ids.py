"""Fixed ids for tests: every UUID id of the contract is a lowercase hyphenated UUID
(fedmall.identifiers.is_uuid), so a test's "t1" becomes uuid_of("t1"), the same on every run.
A short name is spelled out in the UUID's bytes, so ids sort as their names do ("t1" < "t2")."""
from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("7d1f0b8e-2a44-5c1e-9f3b-0c6d5e4a3b21")


def uuid_of(name: str) -> str:
    encoded = name.encode()
    if 0 < len(encoded) <= 16:
        return str(uuid.UUID(bytes=encoded.ljust(16, b"\0")))
    return str(uuid.uuid5(_NAMESPACE, name))
