"""Shared fixtures: database URLs for both stores, and a real clearing on loopback."""
from __future__ import annotations

import pytest


def pytest_addoption(parser):
    parser.addoption("--chaos-long", action="store_true",
                     help="also run the long fault-injection run (tests/faults: PostgreSQL, two clearings)")


def pytest_configure(config):
    config.addinivalue_line("markers", "chaos_long: the long fault-injection run, only with --chaos-long")
    config.addinivalue_line("markers", "books_left_broken(why): a federation test that ends with books it broke "
                                       "on purpose; its fixture does not check the invariants at the end")


TEST_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember a failed test body, so teardown checks (closed_at_rest) do not pile a second
    report on the first."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[TEST_FAILED] = True
    return report


def pytest_collection_modifyitems(config, items):
    if config.getoption("--chaos-long"):
        return
    skip = pytest.mark.skip(reason="the long fault-injection run needs --chaos-long")
    for item in items:
        if "chaos_long" in item.keywords:
            item.add_marker(skip)

from tests.support.federation import new_clearing_world
from scripts.postgres_cluster import PostgresCluster, find_bin_dir


@pytest.fixture(scope="session")
def postgres_cluster():
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin); scripts/test installs them")
    cluster = PostgresCluster(bin_dir)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """The clearing's store: the embedded default and the production one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'clearing.db'}"
    return request.getfixturevalue("postgres_cluster").new_database()


@pytest.fixture
def world(tmp_path, database_url):
    """A running clearing with banks a, b (cap 1000.00, liquidity 2000.00) and c, whose cap
    of 800.00 is above its liquidity of 500.00, so for c the liquidity binds."""
    clearing_world = new_clearing_world(tmp_path, database_url)
    for bank_id, cap_minor, liquidity_minor in (("bank-a", 100_000, 200_000), ("bank-b", 100_000, 200_000),
                                                 ("bank-c", 80_000, 50_000)):
        clearing_world.admit(bank_id, cap_minor=cap_minor, liquidity_minor=liquidity_minor, folder=tmp_path / "banks")
    yield clearing_world
    clearing_world.close()
