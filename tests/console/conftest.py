"""A running clearing with its web console on, and a window with a break to look at.

Banks a, b and c (as tests/conftest.py's world) trade; window 1 is closed and issued; bank-a
and bank-c acknowledge their statements and bank-b disputes, naming a real transfer. The
console logs in with one-time tokens on loopback, or with the operator's certificate over
HTTPS (certificate_console).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from fedmall.v1 import settlement_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import credentials
from clearing.console import logins

from tests.clearing.test_windows import answer, commit
from tests.support.clock import ShiftableClock
from tests.support.federation import ClearingWorld, close_and_issue


@dataclass
class ConsoleWorld:
    world: ClearingWorld
    window_id: int
    broken_transfer_id: str        # The transfer bank-b's dispute names.

    @property
    def address(self) -> str:
        return self.world.clearing.console.address

    def login_link(self, operator_name: str = "alice") -> str:
        token = logins.issue(self.world.clearing.store, operator_name=operator_name,
                             now_ms=self.world.clearing.clock_ms(), valid_for_s=600)
        return f"{self.address}/login?token={token}"


def start_console_world(tmp_path, *, authentication: str = "token") -> ConsoleWorld:
    home = tmp_path / "clearing"
    database_url = f"sqlite:///{tmp_path / 'clearing.db'}"
    credentials.init_home(home, listen_address="127.0.0.1:0", database_url=database_url,
                          now=dt.datetime.now(dt.timezone.utc), validity_days=90)
    with (home / "fedmall.toml").open("a") as config:
        config.write(f'\n[console]\nlisten_address = "127.0.0.1:0"\nauthentication = "{authentication}"\n')
    world = ClearingWorld(home=home, database_url=database_url, clock=ShiftableClock())
    world.start()
    for bank_id, cap_minor, liquidity_minor in (("bank-a", 100_000, 200_000), ("bank-b", 100_000, 200_000),
                                                 ("bank-c", 80_000, 50_000)):
        world.admit(bank_id, cap_minor=cap_minor, liquidity_minor=liquidity_minor, folder=tmp_path / "banks")
    broken = commit(world, "bank-a", "bank-b", 700)
    commit(world, "bank-b", "bank-c", 200)
    commit(world, "bank-c", "bank-a", 100)
    window_id = close_and_issue(world.clearing.windows)
    dispute = settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_MISSING_AT_NODE, transfer_id=broken)
    assert answer(world, "bank-a", window_id) == rc.RESULT_CODE_OK
    assert answer(world, "bank-b", window_id, breaks=[dispute]) == rc.RESULT_CODE_OK
    assert answer(world, "bank-c", window_id) == rc.RESULT_CODE_OK
    return ConsoleWorld(world=world, window_id=window_id, broken_transfer_id=broken)


@pytest.fixture
def console(tmp_path):
    console_world = start_console_world(tmp_path)
    yield console_world
    console_world.world.close()


@pytest.fixture
def certificate_console(tmp_path):
    console_world = start_console_world(tmp_path, authentication="certificate")
    yield console_world
    console_world.world.close()
