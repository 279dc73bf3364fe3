"""The fault-injection suite (tests/faults/chaos.py): a short seeded run in every test run,
with its negative control; the long run with `scripts/test --chaos-long` (PostgreSQL under
two clearing processes and every node, windows closing every second, ten faults of each kind)."""
import os

import pytest

from tests.faults import chaos

SEED = int(os.environ.get("FEDMALL_CHAOS_SEED", "20261129"))


def test_chaos__every_kind_of_fault_under_load_leaves_every_invariant_whole(tmp_path):
    report = chaos.run(chaos.Plan(seed=SEED, load_s=15, faults_per_kind=2), tmp_path, plant_violation=True)
    print("\n".join(report.lines()))
    assert report.violations == [], report.lines()
    assert report.unknown_errors_at_members == 0
    assert len(report.faults) == 6 and report.committed > 0 and report.windows_settled > 0
    # The negative control: the same checker sees a payee's lost credit.
    transfer_id = report.planted.removeprefix("receive:")
    assert {"ledgers_balanced", "transfers_agree"} <= set(report.planted_failed), report.lines()
    assert transfer_id in report.planted_failed["transfers_agree"], report.lines()


@pytest.mark.chaos_long
@pytest.mark.timeout(3_600)
def test_chaos__long_run_on_postgresql_with_two_clearings(tmp_path, postgres_cluster):
    banks = [f"bank-{letter}" for letter in "abc"]
    plan = chaos.Plan(seed=SEED, load_s=float(os.environ.get("FEDMALL_CHAOS_LOAD_S", "300")), faults_per_kind=10,
                      clearings=2, window_close_interval_s=1, clearing_database_url=postgres_cluster.new_database(),
                      node_database_urls={bank_id: postgres_cluster.new_database() for bank_id in banks})
    report = chaos.run(plan, tmp_path)
    print("\n".join(report.lines()))
    assert report.violations == [] and report.unknown_errors_at_members == 0
