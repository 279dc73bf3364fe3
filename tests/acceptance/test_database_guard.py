"""A node started on a database behind what its bank acknowledged to the clearing (lost,
restored from an old backup, another bank's) refuses to start, and replays nothing, until
its operator accepts the replay. Restarting on its own database needs nothing."""
from __future__ import annotations

import pytest

from node.config import ConfigError
from scripts import invariants
from tests.acceptance.test_settlement import provision
from tests.support.federation import CURRENCY, wait_until
from tests.support.startup import refused_start


@pytest.mark.books_left_broken("bank-b's books are lost on purpose; the replay cannot credit an account it lacks")
def test_a_node_on_an_empty_database_refuses_to_start_until_its_operator_accepts(federation):
    provision(federation)
    transfer_id, _ = federation.send("bank-a", "customer", "bank-b", "customer", 1_500)
    assert federation.wait_final("bank-a", transfer_id).status == "COMMITTED"
    wait_until(lambda: federation.record("bank-b", transfer_id).status == "COMMITTED")
    with federation.nodes["bank-b"].engine.connect() as connection:
        cursor = connection.exec_driver_sql("SELECT value_int FROM node_state").scalar()
    assert cursor > 0
    federation.stop_node("bank-b")     # Restarting resumes the stream after the cursor: the clearing
    federation.start_node("bank-b")    # takes that as the bank's acknowledgement.
    wait_until(lambda: federation.world.participant("bank-b").acknowledged_sequence == cursor)
    federation.stop_node("bank-b")

    bundle = federation.world.banks["bank-b"].bundle
    for path in bundle.glob("node.db*"):   # The database is lost.
        path.unlink()
    with pytest.raises(ConfigError, match=f"applied deliveries up to 0, but bank-b acknowledged {cursor} to the "
                                          "clearing.*--accept-database-behind"):
        federation.start_node("bank-b")
    line = refused_start("node.cli", "serve", "--home", str(bundle))   # The real command: one line, exit 2.
    assert f"bank-b acknowledged {cursor} to the clearing" in line and "--accept-database-behind" in line
    for path in bundle.glob("node.db*"):
        path.unlink()

    # The operator accepts: the stream is replayed onto the empty books (which hold no accounts).
    node = federation.start_node("bank-b", accept_database_behind=True)

    def replayed_cursor() -> int:
        with node.engine.connect() as connection:
            return connection.exec_driver_sql("SELECT value_int FROM node_state").scalar() or 0
    wait_until(lambda: replayed_cursor() >= cursor)

