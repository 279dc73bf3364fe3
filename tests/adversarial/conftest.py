"""Hostile members against real servers: a clearing on loopback over mTLS (the `world` fixture of
tests/conftest.py, on SQLite and PostgreSQL), and a whole federation of real nodes on SQLite."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from clearing import store as clearing_store
from node.migrations import all_tables

from tests.acceptance.conftest import Federation, closed_at_rest
from tests.support.federation import ClearingWorld, new_clearing_world

BANKS = (("bank-a", 100_000, 200_000), ("bank-b", 100_000, 200_000), ("bank-c", 80_000, 50_000))
CLEARING_TABLES = (clearing_store.transfers, clearing_store.participants, clearing_store.deliveries,
                   clearing_store.audit_log, clearing_store.audit_envelopes, clearing_store.audit_head)


@pytest.fixture
def federation(tmp_path, request):
    """Banks a, b and c (as in the world fixture), each with its real node, on SQLite."""
    world = new_clearing_world(tmp_path, f"sqlite:///{tmp_path / 'clearing.db'}")
    federation = Federation(world)
    try:
        for bank_id, cap_minor, liquidity_minor in BANKS:
            world.admit(bank_id, cap_minor=cap_minor, liquidity_minor=liquidity_minor, folder=tmp_path / "banks")
        for bank_id, _, _ in BANKS:
            federation.start_node(bank_id)
        yield federation
        closed_at_rest(request, federation)
    finally:
        federation.close()
        world.close()


def restart_with_budget(world: ClearingWorld, **budget: int) -> None:
    """Restart the clearing with these keys in [budget] of its fedmall.toml."""
    path = world.home / "fedmall.toml"
    path.write_text(path.read_text() + "\n[budget]\n" + "".join(f"{key} = {value}\n" for key, value in budget.items()))
    world.restart()


def rows_of(engine_or_store, tables) -> dict[str, list[tuple]]:
    """Every row of the tables, to compare before and after a refusal."""
    read = engine_or_store.read() if hasattr(engine_or_store, "read") else engine_or_store.connect()
    with read as connection:
        return {table.name: sorted((tuple(row) for row in connection.execute(sa.select(table))), key=repr)
                for table in tables}


def clearing_rows(world: ClearingWorld) -> dict[str, list[tuple]]:
    return rows_of(world.clearing.store, CLEARING_TABLES)


def node_rows(federation: Federation, bank_id: str) -> dict[str, list[tuple]]:
    return rows_of(federation.nodes[bank_id].engine, all_tables().sorted_tables)
