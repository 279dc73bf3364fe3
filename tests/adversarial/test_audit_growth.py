"""The worst case stated in docs/architecture.md ("Limits"), measured against a real clearing: one
member floods it with refused input at full speed, and the audit tables (their rows' bytes:
clearing.audit_growth.table_bytes) grow by no more than clearing.audit_growth.growth_bytes_max
allows for its budget over the time the flood took."""
from __future__ import annotations

import itertools
import threading
import time
import uuid

import grpc

from fedmall.v1 import clearing_pb2, transfer_pb2

from clearing import audit_growth
from clearing.config import DEFAULT_BUDGET

from tests.adversarial.conftest import restart_with_budget
from tests.support.federation import make_prepare

FLOOD_S = 1.5
THREADS = 4


def audit_bytes(world) -> int:
    with world.clearing.store.read() as connection:
        return audit_growth.table_bytes(connection)


def signed(world, prepares) -> clearing_pb2.SubmitPreparesRequest:
    envelope = world.banks["bank-a"].signing_key.sign(transfer_pb2.PrepareBatch(prepares=prepares))
    return clearing_pb2.SubmitPreparesRequest(envelope=envelope)


def large_refused(world) -> clearing_pb2.SubmitPreparesRequest:
    """About 4 MB: 1,900 prepares whose references are too long, each refused."""
    prepares = [make_prepare("bank-a", "bank-b", 100, now_ms=world.clock()) for _ in range(1_900)]
    for prepare in prepares:
        prepare.reference = "x" * 2_000
    return signed(world, prepares)


def named_only(world) -> clearing_pb2.SubmitPreparesRequest:
    """The most results per request byte: 2,000 items holding only a fresh transfer id (40 bytes each)."""
    return signed(world, [transfer_pb2.Prepare(transfer_id=str(uuid.uuid4())) for _ in range(2_000)])


def badly_signed(world) -> clearing_pb2.SubmitPreparesRequest:
    """A small envelope refused whole, held in its entry as base64 (the most bytes per request byte)."""
    request = signed(world, [make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())])
    request.envelope.signature = bytes(64)
    return request


def flood(world, requests_by_thread: list[list], *, seconds: float) -> tuple[dict[str, int], float]:
    """Each thread sends its requests round and round as fast as the clearing answers; how many were
    served and refused over budget, and the seconds from the first call to the last answer."""
    counts = {"served": 0, "refused": 0}
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + seconds

    def run(requests: list) -> None:
        stub = world.stub("bank-a")
        for request in itertools.cycle(requests):
            if time.monotonic() >= deadline:
                return
            try:
                stub.SubmitPrepares(request, timeout=30)
                outcome = "served"
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                outcome = "refused"
            with lock:
                counts[outcome] += 1

    threads = [threading.Thread(target=run, args=(requests,)) for requests in requests_by_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts, time.monotonic() - started


def test_refused_input_at_full_speed_grows_the_audit_log_by_at_most_the_stated_bound(world):
    """With the default budget: a large all-refused envelope replayed, distinct batches of named
    items, and distinct small envelopes refused whole, from four threads at once."""
    large = large_refused(world)
    requests = [[large], [named_only(world) for _ in range(40)], [named_only(world) for _ in range(40)],
                [badly_signed(world) for _ in range(1_000)]]
    before = audit_bytes(world)
    counts, seconds = flood(world, requests, seconds=FLOOD_S)
    growth = audit_bytes(world) - before
    bound = audit_growth.growth_bytes_max(DEFAULT_BUDGET, seconds=seconds)
    print(f"\nfull-speed refused input, default budget: {counts} in {seconds:.2f} s; audit grew {growth} bytes, "
          f"bound {bound} ({audit_growth.growth_bytes_per_s_max(DEFAULT_BUDGET)} a second after the bursts)")
    assert counts["served"] > 0 and counts["refused"] > 0  # The budget was reached, and paid for some.
    assert growth <= bound


def test_a_replayed_envelope_adds_a_reference_however_large_and_however_often(world):
    """The issue's attack (one large all-refused envelope replayed), with a budget an operator set
    far too generously: each replay adds one small reference, not the envelope."""
    restart_with_budget(world, requests_per_s=100_000, requests_burst=100_000,
                        request_bytes_per_s=10**11, request_bytes_burst=10**11)
    large = large_refused(world)
    world.stub("bank-a").SubmitPrepares(large)
    before = audit_bytes(world)
    counts, seconds = flood(world, [[large], [large]], seconds=FLOOD_S)
    growth = audit_bytes(world) - before
    print(f"\nreplaying a {large.ByteSize()}-byte refused envelope: {counts['served']} replays in {seconds:.2f} s "
          f"added {growth} bytes ({growth / seconds:.0f} bytes a second; {growth // max(counts['served'], 1)} "
          "bytes a replay)")
    assert counts["served"] > 0 and counts["refused"] == 0
    assert growth <= counts["served"] * audit_growth.ENTRY_FIXED_BYTES_MAX
