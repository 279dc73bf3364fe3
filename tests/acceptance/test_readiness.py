"""/readyz and the gRPC health check follow the database: a clearing and a node on a private
PostgreSQL cluster turn not-ready when it stops and ready again when it is back."""
from __future__ import annotations

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from scripts.postgres_cluster import PostgresCluster, find_bin_dir

from tests.acceptance.conftest import Federation
from tests.acceptance.test_observability import scrape, value
from tests.support.federation import new_clearing_world, wait_until
from tests.support.http import get

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def readyz(address: str) -> tuple[int, str]:
    return get(address, "/readyz")


def healthz(address: str) -> int:
    return get(address, "/healthz")[0]


@pytest.fixture
def cluster():
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin); scripts/test installs them")
    cluster = PostgresCluster(bin_dir)  # Its own: this test stops it.
    cluster.start()
    yield cluster
    cluster.stop()


def test_readyz__not_ready_while_the_database_is_down_and_ready_again_when_it_returns(tmp_path, cluster):
    world = new_clearing_world(tmp_path, cluster.new_database())
    federation = Federation(world)
    try:
        world.admit("bank-a", cap_minor=100_000, liquidity_minor=200_000, folder=tmp_path / "banks")
        node = federation.start_node("bank-a", database_url=cluster.new_database())
        addresses = {"clearing": world.clearing.observability.address, "node": node.observability.address}
        health = {"clearing": health_pb2_grpc.HealthStub(world.channel(world.banks["bank-a"].tls)),
                  "node": health_pb2_grpc.HealthStub(federation._channel("bank-a"))}

        def status(name: str) -> int:
            return health[name].Check(health_pb2.HealthCheckRequest(), timeout=5).status

        for name, address in addresses.items():
            assert wait_until(lambda: readyz(address) == (200, "ready\n"), timeout_s=20)
            assert wait_until(lambda: status(name) == SERVING, timeout_s=20)
        # The state collectors read PostgreSQL as they read SQLite.
        assert value(scrape(addresses["clearing"]), "fedmall_clearing_participant_status", bank="bank-a",
                     status="active") == 1
        node_samples = scrape(addresses["node"])
        assert value(node_samples, "fedmall_node_database_up") == 1
        assert value(node_samples, "fedmall_node_outbox_backlog") == 0

        cluster.pause()
        for name, address in addresses.items():
            code, body = wait_until(lambda: (answer := readyz(address))[0] == 503 and answer, timeout_s=20)
            assert "database unreachable" in body
            assert value(scrape(address), f"fedmall_{name}_database_up") == 0  # The scrape still answers.
            assert wait_until(lambda: status(name) == NOT_SERVING, timeout_s=20)
            assert healthz(address) == 200  # Alive all the same: an orchestrator must not kill it for this.

        cluster.resume()
        for name, address in addresses.items():
            assert wait_until(lambda: readyz(address) == (200, "ready\n"), timeout_s=30)
            assert wait_until(lambda: status(name) == SERVING, timeout_s=20)
    finally:
        federation.close()
        world.close()
