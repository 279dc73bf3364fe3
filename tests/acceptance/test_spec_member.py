"""docs/protocol.md is enough to build a member: tests/acceptance/spec_member.py, written from it
and the .proto files with none of Fedmall's code, replaces bank-c's node and pays, is paid by and
rejects a payment of the Python banks, over the real clearing and real nodes."""
from __future__ import annotations

import hashlib

import pytest

from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import transfer_pb2

from tests.acceptance.spec_member import SpecMember
from tests.support.federation import CURRENCY, wait_until

COMMITTED = transfer_pb2.TRANSFER_STATE_COMMITTED
ABORTED = transfer_pb2.TRANSFER_STATE_ABORTED


@pytest.mark.books_left_broken("bank-c's Python node is replaced: its database misses what the spec member did")
def test_spec_member__pays_is_paid_and_rejects_with_its_reason(federation):
    federation.open_account("bank-a", "alice", deposit_minor=10_000)
    federation.stop_node("bank-c")
    member = SpecMember(federation.world.banks["bank-c"].bundle, accounts={"carol", "dave"}, currency=CURRENCY)
    member.start()
    try:
        # It pays: quote at bank-a's node, prepare at the clearing, the commit comes on its stream.
        prepare, result = member.pay("bank-a", "alice", 1_500, now_ms=federation.world.clock())
        assert (result.result, result.state) == (rc.RESULT_CODE_OK, transfer_pb2.TRANSFER_STATE_RESERVED)
        paid = member.final_notice(prepare.transfer_id)
        assert paid.state == COMMITTED and hashlib.sha256(paid.fulfilment).digest() == prepare.condition
        wait_until(lambda: federation.balance("bank-a", "alice") == 11_500)

        # It is paid: bank-a's node quotes it, prepares; it accepts with the fulfilment it kept.
        transfer_id, response = federation.send("bank-a", "alice", "bank-c", "carol", 700)
        assert response.result == rc.RESULT_CODE_OK
        assert federation.wait_final("bank-a", transfer_id).status == "COMMITTED"
        assert member.final_notice(transfer_id).state == COMMITTED

        # It rejects, with its reason, which reaches the payer's record.
        member.rejections["dave"] = (rc.RESULT_CODE_ACCOUNT_CLOSED, "closed by its holder")
        transfer_id, _ = federation.send("bank-a", "alice", "bank-c", "dave", 300)
        record = federation.wait_final("bank-a", transfer_id)
        assert (record.status, record.payee_reason_code, record.payee_reason) == (
            "ABORTED", rc.RESULT_CODE_ACCOUNT_CLOSED, "closed by its holder")
        assert member.final_notice(transfer_id).state == ABORTED

        assert federation.position("bank-c") == (1_500 - 700, 0)
        assert federation.position("bank-a") == (700 - 1_500, 0)
        assert federation.balance("bank-a", "alice") == 11_500 - 700
    finally:
        member.stop()
