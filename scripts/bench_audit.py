"""What refused input costs the clearing's audit log, measured on a running federation after the
transfer benchmark (so its figures are untouched): one bank's batch of 2,000 refused items, the
same batch replayed, and the bank flooding the clearing with refused input at full speed; beside
the bound its budget allows (clearing.audit_growth, docs/architecture.md "Limits")."""
from __future__ import annotations

import itertools
import threading
import time
import uuid

import grpc
import sqlalchemy as sa

from clearing import audit_growth
from clearing.config import ClearingConfig
from fedmall import pki
from fedmall.config_file import load_tls
from fedmall.database import read_connection
from fedmall.tls import secure_channel
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, transfer_pb2
from node.config import load_config

ITEMS = 2_000
FLOOD_THREADS = 2


def measure_audit_growth(federation, clearing_engine: sa.Engine, *, flood_s: float) -> dict:
    bank_id = federation.banks[0].bank_id
    config = load_config(federation.bundle(bank_id))
    key = config.signing_key()
    channel = secure_channel(config.clearing_address, load_tls(federation.bundle(bank_id)), server=pki.CLEARING)
    stub = clearing_pb2_grpc.ClearingServiceStub(channel)
    budget = ClearingConfig.load(federation.clearing_home).budget

    def audit_bytes() -> int:
        with read_connection(clearing_engine) as connection:
            return audit_growth.table_bytes(connection)

    def refused_batch(items: int = ITEMS) -> clearing_pb2.SubmitPreparesRequest:
        """Items holding only a transfer id: each refused, the most results per request byte."""
        envelope = key.sign(transfer_pb2.PrepareBatch(prepares=[
            transfer_pb2.Prepare(transfer_id=str(uuid.uuid4())) for _ in range(items)]))
        return clearing_pb2.SubmitPreparesRequest(envelope=envelope)

    def badly_signed() -> clearing_pb2.SubmitPreparesRequest:
        """A small envelope refused whole: its entry holds it as base64."""
        request = refused_batch(items=1)
        request.envelope.signature = bytes(64)
        return request

    try:
        batch = refused_batch()
        start = audit_bytes()
        stub.SubmitPrepares(batch, timeout=30)
        first = audit_bytes()
        stub.SubmitPrepares(batch, timeout=30)
        replayed = audit_bytes()
        requests = [[refused_batch() for _ in range(40)], [badly_signed() for _ in range(500)]]
        flood_start = audit_bytes()
        seconds = _flood(stub, requests, seconds=flood_s)
        flood_growth = audit_bytes() - flood_start
    finally:
        channel.close()
    return {
        "audit_bytes_per_refused_batch": first - start, "audit_items_per_refused_batch": ITEMS,
        "audit_bytes_per_replayed_batch": replayed - first,
        "audit_bytes_per_member_second_max": audit_growth.growth_bytes_per_s_max(budget),
        "audit_bytes_member_flood_measured": flood_growth, "audit_flood_seconds": round(seconds, 2),
        "audit_bytes_member_flood_max": audit_growth.growth_bytes_max(budget, seconds=seconds),
    }


def _flood(stub, requests_by_thread: list[list], *, seconds: float) -> float:
    """Each thread sends its requests round and round until the time is up; refusals over budget
    (RESOURCE_EXHAUSTED) are expected. The seconds from the first call to the last answer."""
    started = time.monotonic()
    deadline = started + seconds

    def run(requests: list) -> None:
        for request in itertools.cycle(requests):
            if time.monotonic() >= deadline:
                return
            try:
                stub.SubmitPrepares(request, timeout=30)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise

    threads = [threading.Thread(target=run, args=(requests,)) for requests in requests_by_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started
