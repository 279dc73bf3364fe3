"""Netting speed: a clearing database holding N committed transfers in one window, netted
the way `fedmall-clearing report` and window issuing do it (one GROUP BY, then pure netting)."""
from __future__ import annotations

import random
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from clearing.store import Store, participants, transfers
from clearing.windows import COMMITTED, WindowService
from clearing.deliveries import DeliveryBell
from clearing.registry import Registry
from fedmall import pki

BANKS = 8
ROWS_PER_INSERT = 50_000


def fill(store: Store, *, transfer_count: int, seed: int) -> None:
    rng = random.Random(seed)
    bank_ids = [f"bank-{i}" for i in range(BANKS)]
    with store.write() as connection:
        connection.execute(sa.insert(participants), [{
            "bank_id": b, "name": b, "currency": "EUR", "status": "active", "node_address": "127.0.0.1:1",
            "net_debit_cap_minor": 0, "liquidity_minor": 0, "position_minor": 0, "reserved_minor": 0,
            "delivery_sequence": 0, "admitted_at_ms": 0} for b in bank_ids])
    for start in range(0, transfer_count, ROWS_PER_INSERT):
        rows = []
        for _ in range(min(ROWS_PER_INSERT, transfer_count - start)):
            payer, payee = rng.sample(bank_ids, 2)
            rows.append({"transfer_id": str(uuid.UUID(int=rng.getrandbits(128))), "payer_bank_id": payer,
                         "payee_bank_id": payee, "amount_minor": rng.randrange(1, 100_000), "currency": "EUR",
                         "condition": b"", "expires_at_ms": 0, "prepare_bytes": b"", "prepare_sha256": b"",
                         "state": COMMITTED, "result": 1, "fulfilment": None, "created_at_ms": 0,
                         "decided_at_ms": 0, "window_id": 1})
        with store.write() as connection:
            connection.execute(sa.insert(transfers), rows)
        print(f"netting bench: {start + len(rows):,} of {transfer_count:,} transfers written", file=sys.stderr)


def measure_netting(folder: Path, *, transfer_count: int, seed: int) -> dict:
    store = Store.open(f"sqlite:///{folder / 'netting.db'}")
    try:
        fill(store, transfer_count=transfer_count, seed=seed)
        windows = WindowService(store, Registry(store, clock_ms=lambda: 0), clearing_key=pki.new_signing_key("x/k1"),
                                bell=DeliveryBell(), clock_ms=lambda: 0)
        started = time.perf_counter()
        result = windows.netting(1)
        seconds = time.perf_counter() - started
    finally:
        store.close()
    assert result.transfer_count == transfer_count
    return {"netting_transfers": transfer_count, "netting_s": round(seconds, 3),
            "netting_transfers_per_s": round(transfer_count / seconds),
            "netting_liquidity_saving": round(result.liquidity_saving("EUR"), 4)}
