"""The audit log's hash chain: intact after real traffic, and every kind of tampering found."""
from __future__ import annotations

import sqlalchemy as sa

from fedmall.v1 import clearing_pb2, transfer_pb2

from clearing import audit
from clearing.store import audit_log

from tests.support.federation import make_prepare


def _traffic(world) -> None:
    for _ in range(3):
        envelope = world.banks["bank-a"].signing_key.sign(
            transfer_pb2.PrepareBatch(prepares=[make_prepare("bank-a", "bank-b", 10, now_ms=world.clock())]))
        world.stub("bank-a").SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))


def _verify(world) -> audit.ChainReport:
    with world.clearing.store.read() as connection:
        return audit.verify_chain(connection)


def test_chain__intact_after_admissions_and_prepares(world):
    _traffic(world)
    report = _verify(world)
    assert report.problems == ()
    # Three admissions, each bank's first call (onboarding -> active), three prepare envelopes.
    assert report.entries == report.head.sequence == 3 + 3 + 3


def test_chain__an_edited_body_is_found(world):
    _traffic(world)
    with world.clearing.store.write() as connection:
        connection.execute(sa.update(audit_log).where(audit_log.c.sequence == 4).values(body=b"{}"))
    assert _verify(world).problems == ("entry 4: content does not match its hash",)


def test_chain__a_removed_entry_is_found(world):
    _traffic(world)
    with world.clearing.store.write() as connection:
        connection.execute(sa.delete(audit_log).where(audit_log.c.sequence == 2))
    problems = _verify(world).problems
    assert "entry 2 is missing (next is 3)" in problems


def test_chain__a_truncated_tail_is_found_against_the_head(world):
    _traffic(world)
    with world.clearing.store.write() as connection:
        connection.execute(sa.delete(audit_log).where(audit_log.c.sequence == 9))
    assert _verify(world).problems == ("stored head (entry 9) is not the last entry (8)",)
