"""Every money limit at exactly its value and one past it: the cap, the liquidity and the
expiry instant of a reservation (a prepare's expiry bounds: tests/clearing/test_rules.py)."""
import pytest

from fedmall import limits, pki
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import transfer_pb2

from clearing import rules
from clearing.deliveries import DeliveryBell
from clearing.transfers import TransferService
from tests.clearing.test_transfers import accept
from tests.support.federation import make_prepare

NOW_MS = 1_900_000_000_000
COMMITTED, ABORTED = transfer_pb2.TRANSFER_STATE_COMMITTED, transfer_pb2.TRANSFER_STATE_ABORTED


def headroom(amount_minor: int, *, cap_minor: int, liquidity_minor: int) -> int:
    return rules.headroom_problem(position_minor=400, reserved_minor=100, amount_minor=amount_minor,
                                  net_debit_cap_minor=cap_minor, liquidity_minor=liquidity_minor)


def test_headroom__exactly_the_cap_or_the_liquidity_is_allowed_one_more_is_not():
    assert headroom(500, cap_minor=1_000, liquidity_minor=2_000) == rc.RESULT_CODE_OK
    assert headroom(501, cap_minor=1_000, liquidity_minor=2_000) == rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED
    assert headroom(500, cap_minor=2_000, liquidity_minor=1_000) == rc.RESULT_CODE_OK
    assert headroom(501, cap_minor=2_000, liquidity_minor=1_000) == rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY


@pytest.mark.parametrize("decided_at, state, code", [
    ("one ms before the expiry", COMMITTED, rc.RESULT_CODE_OK),
    ("at the expiry instant", ABORTED, rc.RESULT_CODE_EXPIRED),
])
def test_accept__at_the_expiry_instant_is_expired_one_ms_before_commits(world, decided_at, state, code):
    now_ms = [NOW_MS]
    key = pki.load_signing_key(world.home / "signing.key", "clearing/k1")
    transfers = TransferService(world.clearing.store, world.clearing.registry, clearing_key=key, bell=DeliveryBell(),
                                clock_ms=lambda: now_ms[0])
    prepare = make_prepare("bank-a", "bank-b", 1_000, now_ms=NOW_MS, expires_in_ms=limits.expiry_ms_min)
    bank_a, bank_b = (world.banks[bank_id].signing_key for bank_id in ("bank-a", "bank-b"))
    [reserved] = transfers.submit_prepares(bank_a.sign(transfer_pb2.PrepareBatch(prepares=[prepare])), peer="bank-a")
    assert reserved.result == rc.RESULT_CODE_OK
    now_ms[0] = prepare.expires_at_unix_ms - (1 if state == COMMITTED else 0)
    [decided] = transfers.submit_decisions(
        bank_b.sign(transfer_pb2.DecisionBatch(accepts=[accept(prepare.transfer_id)])), peer="bank-b")
    assert (decided.result, decided.state) == (code, state)

