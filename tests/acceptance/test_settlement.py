"""Settlement end to end: windows closed under load, every bank reconciling its signed
statement with zero breaks, an injected break found and blocking settlement, then final
settlement moving liquidity and resetting positions at the clearing and in every node."""
from __future__ import annotations

import threading

import sqlalchemy as sa

from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc

from clearing.cli import main as clearing_cli
from node.cli import main as node_cli
from node.bank import store as node_store

from tests.support.federation import close_and_issue, wait_until

DEPOSIT_MINOR = 1_000_000


def provision(federation) -> None:
    for bank_id in federation.world.banks:
        federation.open_account(bank_id, "customer", deposit_minor=DEPOSIT_MINOR)


def answers(federation, window_id: int) -> dict[str, str]:
    return {a.bank_id: a.status for a in federation.world.clearing.windows.answers(window_id)}


def close(federation) -> int:
    return close_and_issue(federation.world.clearing.windows)


def test_windows_closed_under_load_reconcile_with_no_breaks_and_settle(federation):
    provision(federation)
    ring = [("bank-a", "bank-b"), ("bank-b", "bank-c"), ("bank-c", "bank-a"), ("bank-a", "bank-c")]
    sent: list[tuple[str, str]] = []
    stop = threading.Event()

    refusals: list[int] = []

    def traffic(payer: str, payee: str, amount_minor: int) -> None:
        while not stop.is_set() and len(sent) < 400:
            transfer_id, response = federation.send(payer, "customer", payee, "customer", amount_minor)
            if response.result != rc.RESULT_CODE_OK:
                refusals.append(response.result)
                return
            sent.append((payer, transfer_id))

    threads = [threading.Thread(target=traffic, args=(payer, payee, 100 + 17 * i))
               for i, (payer, payee) in enumerate(ring)]
    for thread in threads:
        thread.start()
    closed = []
    for _ in range(2):  # Close while prepares are reserved and commits race.
        wait_until(lambda: len(sent) > 40 * (len(closed) + 1), timeout_s=30)
        closed.append(close(federation))
    stop.set()
    for thread in threads:
        thread.join()
    assert refusals == []
    for payer, transfer_id in sent:
        assert federation.wait_final(payer, transfer_id).status == "COMMITTED"
    closed.append(close(federation))

    windows = federation.world.clearing.windows
    total_transfers = 0
    for window_id in closed:
        nets = windows.nets(window_id)
        assert sum(row.net_minor for row in nets) == 0
        _, report = windows.report(window_id)
        total_transfers += report.transfer_count
        wait_until(lambda: set(answers(federation, window_id).values()) == {"acknowledged"}, timeout_s=30)
    assert total_transfers == len(sent)  # Every transfer in exactly one window.

    liquidity_before = {b: federation.world.participant(b).liquidity_minor for b in federation.world.banks}
    moved = {b: 0 for b in federation.world.banks}
    for window_id in closed:
        for row in windows.settle(window_id):
            moved[row.bank_id] += row.net_minor
    assert sum(moved.values()) == 0
    for bank_id in federation.world.banks:
        participant = federation.world.participant(bank_id)
        assert (participant.position_minor, participant.reserved_minor) == (0, 0)
        assert participant.liquidity_minor == liquidity_before[bank_id] + moved[bank_id]
        # The node booked each settlement: its clearing account is back to zero, its
        # liquidity account (which also holds the funds in it was admitted with) moved by
        # the same amount as the clearing's record of it.
        wait_until(lambda: federation.internal(bank_id, "clearing") == 0)
        wait_until(lambda: federation.internal(bank_id, "liquidity") == -participant.liquidity_minor)
    federation.assert_invariants()


def test_a_removed_posting_is_disputed_and_blocks_settle_until_restored_and_answered_again(federation, capsys):
    provision(federation)
    kept, _ = federation.send("bank-a", "customer", "bank-b", "customer", 1_500)
    removed, _ = federation.send("bank-a", "customer", "bank-b", "customer", 2_500)
    for transfer_id in (kept, removed):
        assert federation.wait_final("bank-a", transfer_id).status == "COMMITTED"
        wait_until(lambda: federation.record("bank-b", transfer_id).status == "COMMITTED")

    # Corrupt bank B's books: the credit of one transfer disappears.
    with federation.nodes["bank-b"].engine.begin() as connection:
        entry_ids = connection.execute(sa.select(node_store.postings.c.entry_id).where(
            node_store.postings.c.entry_id.like(f"%{removed}%"),
            node_store.postings.c.account_id == "@clearing/EUR")).scalars().all()
        assert len(entry_ids) == 1
        lost_entry = connection.execute(sa.select(node_store.journal_entries).where(
            node_store.journal_entries.c.entry_id == entry_ids[0])).one()
        lost_postings = connection.execute(sa.select(node_store.postings).where(
            node_store.postings.c.entry_id == entry_ids[0])).all()
        connection.execute(sa.delete(node_store.postings).where(node_store.postings.c.entry_id == entry_ids[0]))
        connection.execute(sa.delete(node_store.journal_entries).where(
            node_store.journal_entries.c.entry_id == entry_ids[0]))

    window_id = close(federation)
    wait_until(lambda: "silent" not in answers(federation, window_id).values(), timeout_s=30)
    assert answers(federation, window_id) == {"bank-a": "acknowledged", "bank-b": "disputed", "bank-c": "acknowledged"}
    [dispute] = [a for a in federation.world.clearing.windows.answers(window_id) if a.bank_id == "bank-b"]
    assert [(b.kind, b.transfer_id) for b in dispute.breaks] == [(1, removed)]  # BREAK_KIND_MISSING_AT_NODE

    home = str(federation.world.home)
    assert clearing_cli(["--home", home, "reconcile", "--window", str(window_id)]) == 1
    assert "MISSING_AT_NODE " + removed in capsys.readouterr().out
    positions = {b: federation.position(b) for b in federation.world.banks}
    try:
        federation.world.clearing.windows.settle(window_id)
        raise AssertionError("settle should have been refused")
    except FedmallError as error:
        assert error.code == rc.RESULT_CODE_SETTLEMENT_DISPUTED
    assert {b: federation.position(b) for b in federation.world.banks} == positions
    assert clearing_cli(["--home", home, "settle", "--window", str(window_id)]) == 1

    # Bank B restores its books and answers again, withdrawing the dispute: the window settles.
    with federation.nodes["bank-b"].engine.begin() as connection:
        connection.execute(node_store.journal_entries.insert().values(lost_entry._asdict()))
        connection.execute(node_store.postings.insert(), [row._asdict() for row in lost_postings])
    bundle = str(federation.world.banks["bank-b"].bundle)
    assert node_cli(["reconcile-again", str(window_id), "--home", bundle, "--json"]) == 0
    assert '"answer": "acknowledged"' in capsys.readouterr().out
    wait_until(lambda: answers(federation, window_id)["bank-b"] == "acknowledged", timeout_s=30)
    assert clearing_cli(["--home", home, "settle", "--window", str(window_id)]) == 0
