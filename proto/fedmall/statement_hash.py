"""The statement hash: what a Reconciliation says was reconciled (statement_sha256).

SHA-256 over the signed payload bytes of the statement's pages, concatenated in page order
(page_index 0, 1, ...), exactly as they arrived in their envelopes: never re-serialised. The
clearing compares it with the pages it issued; tests/vectors/statement.json is a worked example.
"""
from __future__ import annotations

import hashlib
from typing import Iterable


def statement_sha256(page_payloads: Iterable[bytes]) -> bytes:
    digest = hashlib.sha256()
    for payload in page_payloads:
        digest.update(payload)
    return digest.digest()
