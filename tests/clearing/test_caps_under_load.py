"""The net debit cap holds exactly when many prepares race for it."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fedmall.v1 import clearing_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from tests.support.federation import make_prepare

THREADS = 16
PREPARES = 120
AMOUNT_MINOR = 1_000  # bank-a's cap is 100_000: exactly 100 of these fit.


def test_concurrent_prepares__cap_holds_exactly(world):
    stubs = [world.stub("bank-a") for _ in range(THREADS)]
    key = world.banks["bank-a"].signing_key
    now_ms = world.clock()

    def one(index: int) -> int:
        envelope = key.sign(transfer_pb2.PrepareBatch(
            prepares=[make_prepare("bank-a", "bank-b", AMOUNT_MINOR, now_ms=now_ms)]))
        response = stubs[index % THREADS].SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))
        return response.results[0].result

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(one, range(PREPARES)))

    assert results.count(rc.RESULT_CODE_OK) == 100
    assert results.count(rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED) == PREPARES - 100
    payer = world.participant("bank-a")
    assert (payer.position_minor, payer.reserved_minor) == (0, 100_000)
