"""Resuming a delivery stream tells the clearing how far the bank's node has applied it; a
node checks its database against that (node.bank.deliveries) through GetPosition."""
from fedmall.v1 import clearing_pb2

from tests.clearing.test_windows import commit
from tests.support.federation import wait_until


def resume(world, bank_id: str, after_sequence: int):
    """Open the bank's stream after a sequence; the caller cancels it."""
    return world.stub(bank_id).StreamDeliveries(clearing_pb2.StreamDeliveriesRequest(after_sequence=after_sequence))


def test_resume__records_the_highest_sequence_never_lower_never_above_what_was_issued(world):
    commit(world, "bank-a", "bank-b", 500)
    issued = world.participant("bank-b").delivery_sequence
    assert issued >= 2 and world.participant("bank-b").acknowledged_sequence == 0

    stream = resume(world, "bank-b", 1)
    next(stream)   # A delivery came: the call has been taken.
    stream.cancel()
    assert world.participant("bank-b").acknowledged_sequence == 1

    stream = resume(world, "bank-b", 0)   # A node that lost its data asks from the start...
    next(stream)
    stream.cancel()
    assert world.participant("bank-b").acknowledged_sequence == 1   # ...and lowers nothing.

    stream = resume(world, "bank-b", issued + 100)   # A cursor beyond what was issued is not believed.
    wait_until(lambda: world.participant("bank-b").acknowledged_sequence == issued)
    stream.cancel()

    position = world.stub("bank-b").GetPosition(clearing_pb2.GetPositionRequest())
    assert (position.delivery_sequence_issued, position.delivery_sequence_acknowledged) == (issued, issued)
