"""A hostile member cannot hurt the others (class 6): what it sends unasked tells it nothing and
leaves nothing behind.

- Transfer ids are one namespace at the clearing. Another payer's id gets exactly the answer
  an unused id gets wherever the prepare has a problem of its own; only a prepare that would
  be reserved is refused for it (MODIFIED_REQUEST), which a prober can tell only by paying a
  real transfer for every free id (clearing.transfers._prepare_one). Decisions and look-ups
  of another bank's transfer are answered as for no transfer at all.
- A payee's node rejects a transfer it never quoted without keeping a row (node.bank.notices):
  its books, transfers and kept deliveries are as they were.
- A seller's node remembers cancellations of orders it does not know at most
  cancelled_unplaced_per_bank_max per buyer bank; events of other kinds for unknown orders
  leave nothing.

Each case asserts the answer AND that nothing changed, reading every table before and after.
"""
from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from fedmall.v1 import clearing_pb2, marketplace_pb2, marketplace_pb2_grpc, money_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import rules
from clearing import store as clearing_store
from node.bank.notices import UnquotedRejects
from node.market import store as market_store

from tests.adversarial.test_membership import (
    EUR_100, clearing_rows, federation, node_rows, peer_channel, sqlite_only)  # noqa: F401  (federation: a fixture)
from tests.clearing.test_transfers import accept, reserve, submit_decisions, submit_prepares
from tests.support.federation import make_prepare, wait_until

ABORTED = transfer_pb2.TRANSFER_STATE_ABORTED
AUDIT = ("audit_log", "audit_head", "audit_envelopes")   # Every batch is audited, refused or not.
UNSPECIFIED = transfer_pb2.TRANSFER_STATE_UNSPECIFIED


# The existence oracle ----------------------------------------------------------------------------

def variants(world, transfer_id: str) -> list[transfer_pb2.Prepare]:
    """bank-c's prepares under transfer_id, each with a problem of its own, then one without."""
    now_ms = world.clock()

    def prepare(**changes) -> transfer_pb2.Prepare:
        made = make_prepare(changes.pop("payer", "bank-c"), changes.pop("payee", "bank-b"),
                            changes.pop("amount_minor", 100), now_ms=now_ms, transfer_id=transfer_id,
                            expires_in_ms=changes.pop("expires_in_ms", 30_000),
                            currency=changes.pop("currency", "EUR"))
        assert not changes
        return made

    return [prepare(amount_minor=0), prepare(currency="USD"), prepare(payee="bank-zz"), prepare(payee="bank-c"),
            prepare(payer="bank-a"), prepare(expires_in_ms=-1), prepare(amount_minor=60_000),  # Over its liquidity.
            prepare()]


def results(world, prepares) -> list[tuple[int, int]]:
    """Each prepare submitted alone (no reservation of one changes the next one's answer)."""
    answered = []
    for prepare in prepares:
        [result] = submit_prepares(world, "bank-c", prepare).results
        answered.append((result.result, result.state))
    return answered


def test_prepare__another_payers_id_is_answered_as_an_unused_one_and_changes_nothing(world):
    held = reserve(world).transfer_id                          # bank-a's, to bank-b.
    before = clearing_rows(world, leave_out=AUDIT)
    on_held = results(world, variants(world, held))
    assert clearing_rows(world, leave_out=AUDIT) == before
    on_unused = results(world, variants(world, str(uuid.uuid4())))
    assert on_held[:-1] == on_unused[:-1]
    assert [code for code, _ in on_held[:-1]] == [
        rc.RESULT_CODE_INVALID_AMOUNT, rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED, rc.RESULT_CODE_UNKNOWN_PARTICIPANT,
        rc.RESULT_CODE_PAYER_IS_PAYEE, rc.RESULT_CODE_PAYER_NOT_SIGNER, rc.RESULT_CODE_INVALID_EXPIRY,
        rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY]
    # The one prepare that would be reserved: refused for the id, nothing written; an unused id reserves.
    assert (on_held[-1], on_unused[-1]) == ((rc.RESULT_CODE_MODIFIED_REQUEST, UNSPECIFIED),
                                            (rc.RESULT_CODE_OK, transfer_pb2.TRANSFER_STATE_RESERVED))
    assert world.participant("bank-a").reserved_minor == 1_000   # bank-a's transfer untouched.


def test_prepare__another_payers_id_while_the_prober_is_suspended_is_refused_as_any(world):
    held = reserve(world).transfer_id
    world.clearing.registry.set_status("bank-c", rules.SUSPENDED)
    for transfer_id in (held, str(uuid.uuid4())):
        response = submit_prepares(world, "bank-c", make_prepare("bank-c", "bank-b", 100, now_ms=world.clock(),
                                                                 transfer_id=transfer_id))
        assert (response.result, list(response.results)) == (rc.RESULT_CODE_PARTICIPANT_SUSPENDED, [])


def test_prepare__the_same_payer_retrying_is_exists_and_other_content_modified(world):
    prepare = reserve(world)
    assert [(r.result, r.state) for r in submit_prepares(world, "bank-a", prepare).results] == [
        (rc.RESULT_CODE_EXISTS, transfer_pb2.TRANSFER_STATE_RESERVED)]
    changed = transfer_pb2.Prepare()
    changed.CopyFrom(prepare)
    changed.reference = "other"
    assert [r.result for r in submit_prepares(world, "bank-a", changed).results] == [rc.RESULT_CODE_MODIFIED_REQUEST]
    assert world.participant("bank-a").reserved_minor == 1_000


@pytest.mark.parametrize("decision", ["accept", "reject"])
def test_decide_and_look_up__another_banks_transfer_is_answered_as_no_transfer(world, decision):
    held = reserve(world).transfer_id
    before = clearing_rows(world, leave_out=AUDIT)
    answers = []
    for transfer_id in (held, str(uuid.uuid4())):
        if decision == "accept":
            response = submit_decisions(world, "bank-c", accepts=[accept(transfer_id)])
        else:
            response = submit_decisions(world, "bank-c", rejects=[transfer_pb2.Reject(
                transfer_id=transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN)])
        looked_up = world.stub("bank-c").GetTransfer(clearing_pb2.GetTransferRequest(transfer_id=transfer_id))
        answers.append(([(r.result, r.state) for r in response.results], looked_up))
    assert answers[0] == answers[1]
    assert answers[0][0] == [(rc.RESULT_CODE_TRANSFER_NOT_FOUND, UNSPECIFIED)]
    assert answers[0][1] == clearing_pb2.GetTransferResponse(result=rc.RESULT_CODE_TRANSFER_NOT_FOUND)
    assert clearing_rows(world, leave_out=AUDIT) == before


# Transfers a payee's node never quoted -----------------------------------------------------------

def hostile_prepares(world, count: int, *, account: str = "bob") -> list[transfer_pb2.Prepare]:
    """bank-c's prepares to bank-b with conditions bank-b never quoted, submitted at the clearing."""
    prepares = [make_prepare("bank-c", "bank-b", 1, now_ms=world.clock(), account=account) for _ in range(count)]
    assert [r.result for r in submit_prepares(world, "bank-c", *prepares).results] == [rc.RESULT_CODE_OK] * count
    return prepares


def clearing_outcomes(world, prepares) -> list[tuple[int, int]]:
    with world.clearing.store.read() as connection:
        table = clearing_store.transfers
        rows = {row.transfer_id: (row.state, row.result) for row in connection.execute(
            sa.select(table.c.transfer_id, table.c.state, table.c.result)
            .where(table.c.transfer_id.in_([p.transfer_id for p in prepares])))}
    return [rows[p.transfer_id] for p in prepares]


def stream_applied(federation, bank_id: str) -> bool:
    return federation.applied_cursor(bank_id) == federation.world.participant(bank_id).delivery_sequence


@sqlite_only
def test_unquoted_prepares__rejected_by_the_payee_node_without_a_row(federation):
    world = federation.world
    federation.open_account("bank-b", "bob")
    before = node_rows(federation, "bank-b")
    flood = hostile_prepares(world, 20) + hostile_prepares(world, 3, account="nobody")
    wait_until(lambda: set(clearing_outcomes(world, flood)) == {(ABORTED, rc.RESULT_CODE_PAYEE_REJECTED)},
               timeout_s=30)
    wait_until(lambda: stream_applied(federation, "bank-b"), timeout_s=30)
    assert node_rows(federation, "bank-b") == before      # No transfer row, no entry, no kept delivery.
    wait_until(lambda: len(federation.nodes["bank-b"].notices.unquoted) == 0)
    assert world.participant("bank-c").reserved_minor == 0

    # A payment bank-b quoted is served as ever.
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    transfer_id, _ = federation.send("bank-a", "alice", "bank-b", "bob", 700)
    assert federation.wait_final("bank-a", transfer_id).status == "COMMITTED"


@sqlite_only
def test_unquoted_prepares__beyond_the_bound_the_oldest_are_dropped_and_expire(federation):
    world = federation.world
    federation.open_account("bank-b", "bob")
    federation.nodes["bank-b"].notices.unquoted = UnquotedRejects(per_bank_max=2)
    before = node_rows(federation, "bank-b")
    flood = hostile_prepares(world, 6)
    wait_until(lambda: stream_applied(federation, "bank-b"), timeout_s=30)
    wait_until(lambda: sum(outcome == (ABORTED, rc.RESULT_CODE_PAYEE_REJECTED)
                           for outcome in clearing_outcomes(world, flood)) >= 2, timeout_s=30)
    wait_until(lambda: len(federation.nodes["bank-b"].notices.unquoted) == 0)   # Sent; the rest were dropped.
    world.clock.advance(ms=31_000)                         # The dropped ones expire at the clearing.
    wait_until(lambda: all(state == ABORTED for state, _ in clearing_outcomes(world, flood)), timeout_s=30)
    results = [result for _, result in clearing_outcomes(world, flood)]
    assert results.count(rc.RESULT_CODE_EXPIRED) >= 1 and set(results) == {
        rc.RESULT_CODE_PAYEE_REJECTED, rc.RESULT_CODE_EXPIRED}
    wait_until(lambda: stream_applied(federation, "bank-b"), timeout_s=30)
    assert node_rows(federation, "bank-b") == before


# Order events for orders a node does not know -----------------------------------------------------

def notify(federation, sender: str, recipient: str, kind: int, order_id: str | None = None) -> int:
    stub = marketplace_pb2_grpc.MarketplacePeerServiceStub(
        peer_channel(federation, recipient, federation.world.banks[sender].tls))
    request = marketplace_pb2.NotifyOrderEventRequest(
        event_id=str(uuid.uuid4()), order_id=order_id or str(uuid.uuid4()), kind=kind, tracking_reference="T",
        transfer_id=str(uuid.uuid4()), amount=money_pb2.Money(amount_minor=100, currency="EUR"))
    return stub.NotifyOrderEvent(request, timeout=5).result


def remembered(federation, bank_id: str) -> list[tuple[str, str]]:
    table = market_store.seller_cancelled_unplaced
    with federation.nodes[bank_id].engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(sa.select(table.c.buyer_bank_id, table.c.order_id)))


@sqlite_only
def test_order_events__cancellations_of_unknown_orders_are_remembered_up_to_a_bound_per_bank(federation):
    federation.stop_node("bank-b")
    federation.start_node("bank-b", cancelled_unplaced_per_bank_max=3)
    honest = str(uuid.uuid4())
    assert notify(federation, "bank-a", "bank-b", marketplace_pb2.ORDER_EVENT_KIND_CANCELLED, honest) \
        == rc.RESULT_CODE_OK
    before = {name: rows for name, rows in node_rows(federation, "bank-b").items()
              if name != market_store.seller_cancelled_unplaced.name}

    flood = []
    for _ in range(6):
        flood.append(str(uuid.uuid4()))
        assert notify(federation, "bank-c", "bank-b", marketplace_pb2.ORDER_EVENT_KIND_CANCELLED, flood[-1]) \
            == rc.RESULT_CODE_OK
        time.sleep(0.002)   # Each a later millisecond: the oldest is well defined.
    # The other kinds, for orders bank-b does not know as seller or as buyer: refused, nothing kept.
    for kind in (marketplace_pb2.ORDER_EVENT_KIND_COMPLETED, marketplace_pb2.ORDER_EVENT_KIND_SHIPPED,
                 marketplace_pb2.ORDER_EVENT_KIND_DECLINED, marketplace_pb2.ORDER_EVENT_KIND_REFUNDED):
        assert notify(federation, "bank-c", "bank-b", kind) == rc.RESULT_CODE_ORDER_UNKNOWN

    assert remembered(federation, "bank-b") == sorted([("bank-a", honest)] + [("bank-c", o) for o in flood[-3:]])
    assert {name: rows for name, rows in node_rows(federation, "bank-b").items()
            if name != market_store.seller_cancelled_unplaced.name} == before
