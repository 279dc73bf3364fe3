"""End-to-end interbank throughput: a clearing and N nodes as separate processes.

Each bank's driver sends batches through NodeService.SendTransfers (one quote per
payee bank, one outbox transaction), keeping at most --window transfers in flight.
A transfer counts when it is COMMITTED at the clearing and both node ledgers show
it (payer settled, payee credited). On SQLite (synchronous=FULL) by default; with
--store postgresql the clearing and every node use a private, durable PostgreSQL
cluster, and --clearings 2 runs two clearing processes on its one database (the
production topology, docs/scale-out.md), reporting the conflicts they ran again.

Latency is measured from the timestamps the processes store: the payer node's
outbox row (created) to the later of the payer's settlement and the payee's credit.
The same timestamps split the time by stage (where the time goes), and each
process's CPU seconds show which one is the bottleneck.

After those figures, one bank floods the clearing with refused input (scripts/bench_audit.py):
the audit_* figures are what a refused batch and a replay of it add to the audit log, and what
the flood added beside the bound its budget allows (clearing.audit_growth).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_audit import measure_audit_growth  # noqa: E402
from bench_netting import measure_netting  # noqa: E402
from federation import BankSpec, Federation  # noqa: E402
import invariants  # noqa: E402
from postgres_cluster import PostgresCluster, find_bin_dir  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from fedmall.database import make_engine, read_connection  # noqa: E402
from fedmall.v1 import money_pb2, node_pb2  # noqa: E402
from fedmall.results import name_of  # noqa: E402
from fedmall.v1 import result_pb2 as rc  # noqa: E402

CURRENCY = "EUR"
ACCOUNTS_PER_BANK = 20
DEPOSIT = "10000000.00"
FINAL = ("COMMITTED", "ABORTED")


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


class Databases:
    """Read-only access to the clearing's and every node's database, SQLite or PostgreSQL."""

    def __init__(self, federation: Federation) -> None:
        self.nodes = {bank.bank_id: make_engine(federation.node_url(bank.bank_id)) for bank in federation.banks}
        self.clearing = make_engine(federation.clearing_url())

    def rows(self, engine: sa.Engine, query: str) -> list[sa.Row]:
        with read_connection(engine) as connection:
            return connection.execute(sa.text(query)).all()

    def count(self, bank_id: str, query: str) -> int:
        return self.rows(self.nodes[bank_id], query)[0][0]

    def close(self) -> None:
        for engine in [*self.nodes.values(), self.clearing]:
            engine.dispose()


def in_flight(databases: Databases, bank_id: str) -> int:
    return databases.count(bank_id, "SELECT count(*) FROM outgoing_transfers WHERE status NOT IN ('COMMITTED','ABORTED')")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(federation: Federation, databases: Databases, bank_id: str, others: list[str], *, count: int,
          batch_size: int, window: int, seed: int, errors: list[str]) -> None:
    stub = federation.node_stub(bank_id)
    rng = random.Random(seed)
    sent = 0
    while sent < count:
        if in_flight(databases, bank_id) + batch_size > window:
            time.sleep(0.002)
            continue
        size = min(batch_size, count - sent)
        request = node_pb2.SendTransfersRequest(transfers=[node_pb2.SendTransferRequest(
            transfer_id=str(uuid.uuid4()), from_account_id=f"c{rng.randrange(ACCOUNTS_PER_BANK)}",
            payee_bank_id=rng.choice(others), payee_account_id=f"c{rng.randrange(ACCOUNTS_PER_BANK)}",
            amount=money_pb2.Money(amount_minor=rng.randrange(1, 10_000), currency=CURRENCY), reference="bench")
            for _ in range(size)])
        response = stub.SendTransfers(request, timeout=120)
        refused = [r for r in response.results if r.result != rc.RESULT_CODE_OK]
        if refused:
            errors.append(f"{bank_id}: {len(refused)} sends refused, first {name_of(refused[0].result)}")
            return
        sent += size


class Scraper:
    """With --metrics on, scrapes every process's /metrics every SCRAPE_INTERVAL_S while the
    transfers run, as Prometheus would (far more often than its usual 15 s: a run lasts seconds),
    timing each scrape."""

    SCRAPE_INTERVAL_S = 1.0

    def __init__(self, homes: list[Path]) -> None:
        self._homes = homes
        self._stop = threading.Event()
        self.seconds: list[float] = []
        self._thread = threading.Thread(target=self._run, name="scraper", daemon=True)

    def __enter__(self) -> "Scraper":
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.SCRAPE_INTERVAL_S):
            for home in self._homes:
                started = time.monotonic()
                address = (home / "metrics.address").read_text().strip()
                with urllib.request.urlopen(f"http://{address}/metrics", timeout=30) as answer:
                    answer.read()
                self.seconds.append(time.monotonic() - started)

    def figures(self) -> dict:
        ordered = sorted(self.seconds)
        return {"metrics_scrapes": len(ordered), "metrics_scrape_p50_s": round(percentile(ordered, 0.5), 4),
                "metrics_scrape_max_s": round(ordered[-1], 4) if ordered else 0.0}


def provision(federation: Federation) -> None:
    for bank in federation.banks:
        stub = federation.node_stub(bank.bank_id)
        for index in range(ACCOUNTS_PER_BANK):
            stub.OpenAccount(node_pb2.OpenAccountRequest(account_id=f"c{index}", holder_name=f"Customer {index}",
                                                         currency=CURRENCY))
            stub.Deposit(node_pb2.DepositRequest(deposit_id=str(uuid.uuid4()), account_id=f"c{index}",
                                                 amount=money_pb2.Money(amount_minor=1_000_000_000, currency=CURRENCY)))


def wait_final(databases: Databases, *, expected: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = sum(databases.count(bank_id, "SELECT count(*) FROM outgoing_transfers "
                                            "WHERE status IN ('COMMITTED','ABORTED')") for bank_id in databases.nodes)
        pending_credit = sum(databases.count(bank_id, "SELECT count(*) FROM incoming_transfers WHERE status "
                                                      "NOT IN ('COMMITTED','ABORTED','REJECTED')")
                             for bank_id in databases.nodes)
        if done >= expected and pending_credit == 0:
            return
        time.sleep(0.05)
    raise TimeoutError("transfers did not all finish in time")


def measure(databases: Databases) -> dict:
    outgoing, incoming = {}, {}
    for engine in databases.nodes.values():
        for transfer_id, status, created, updated in databases.rows(
                engine, "SELECT transfer_id, status, created_at_unix_ms, updated_at_unix_ms FROM outgoing_transfers"):
            outgoing[transfer_id] = (status, created, updated)
        for transfer_id, status, updated in databases.rows(
                engine, "SELECT transfer_id, status, updated_at_unix_ms FROM incoming_transfers"):
            incoming[transfer_id] = (status, updated)
    clearing = {transfer_id: (created, decided) for transfer_id, created, decided in databases.rows(
        databases.clearing, "SELECT transfer_id, created_at_ms, decided_at_ms FROM transfers")}
    latencies, stages = [], {"payer_outbox_to_reserved": [], "reserved_to_committed": [], "committed_to_both_booked": []}
    committed = aborted = 0
    first_ms, last_ms = None, None
    for transfer_id, (status, created, updated) in outgoing.items():
        first_ms = created if first_ms is None else min(first_ms, created)
        if status != "COMMITTED":
            aborted += 1
            continue
        committed += 1
        credited = incoming[transfer_id][1]
        done_ms = max(updated, credited)
        last_ms = done_ms if last_ms is None else max(last_ms, done_ms)
        latencies.append(done_ms - created)
        reserved_ms, decided_ms = clearing[transfer_id]
        stages["payer_outbox_to_reserved"].append(reserved_ms - created)
        stages["reserved_to_committed"].append(decided_ms - reserved_ms)
        stages["committed_to_both_booked"].append(done_ms - decided_ms)
    latencies.sort()
    for values in stages.values():
        values.sort()
    seconds = (last_ms - first_ms) / 1000 if committed else 0.0
    return {
        "transfers_committed": committed, "transfers_aborted": aborted, "seconds": round(seconds, 3),
        "transfers_per_s": round(committed / seconds, 1) if seconds else 0.0,
        "latency_ms_p50": percentile(latencies, 0.50), "latency_ms_p99": percentile(latencies, 0.99),
        "stages_ms_p50": {name: percentile(values, 0.5) for name, values in stages.items()},
        "stages_ms_p99": {name: percentile(values, 0.99) for name, values in stages.items()},
    }


def invariants_broken(federation: Federation) -> list[str]:
    return invariants.failures(invariants.check_databases(federation.clearing_url(), federation.node_urls(),
                                                          currency=CURRENCY))


def conflicts(federation: Federation) -> dict:
    """What the clearing processes logged of conflicts: ran again, and given up (reached members)."""
    logs = [path.read_text() for path in (federation.home / "logs").glob("clearing*.log")]
    return {"conflicts_retried": sum(log.count("; running it again") for log in logs),
            "conflicts_given_up": sum(log.count("; giving up") for log in logs)}


def main() -> int:
    parser = argparse.ArgumentParser(description="End-to-end interbank transfer benchmark (JSON on stdout).")
    parser.add_argument("--banks", type=int, default=3)
    parser.add_argument("--transfers", type=int, default=30_000, help="total across all banks")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--window", type=int, default=300, help="most transfers in flight per bank")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                        help="postgresql: a private, durable cluster for the clearing and every node")
    parser.add_argument("--clearings", type=int, default=1, choices=(1, 2),
                        help="clearing processes on the one database (2 needs --store postgresql)")
    parser.add_argument("--netting-transfers", type=int, default=1_000_000,
                        help="size of the netting benchmark (0 skips it)")
    parser.add_argument("--audit-flood-s", type=float, default=1.0,
                        help="after the transfers, one bank floods the clearing with refused input this long to "
                             "measure the audit log's growth (audit_* figures; 0 skips them)")
    parser.add_argument("--metrics", choices=("on", "off"), default="on",
                        help="off: every process runs with [metrics] enabled = false (to measure what metrics cost)")
    args = parser.parse_args()
    if args.clearings > 1 and args.store != "postgresql":
        parser.error("several clearing processes share one PostgreSQL database: add --store postgresql")

    home = args.home or Path(tempfile.mkdtemp(prefix="fedmall-bench-"))
    banks = [BankSpec(f"bank-{chr(97 + i)}", f"Bank {chr(65 + i)}", "1000000000.00", "1000000000.00")
             for i in range(args.banks)]
    cluster = None
    federation = Federation(home=home, currency=CURRENCY, banks=banks, clearing_processes=args.clearings,
                            metrics=args.metrics == "on")
    if args.store == "postgresql":
        bin_dir = find_bin_dir()
        if bin_dir is None:
            parser.error("PostgreSQL's server binaries are not installed (Debian package postgresql)")
        cluster = PostgresCluster(bin_dir, durable=True)
        cluster.start()
        federation.clearing_database_url = cluster.new_database()
        federation.node_database_urls = {bank.bank_id: cluster.new_database() for bank in banks}
    databases = None
    try:
        federation.create()
        federation.start()
        databases = Databases(federation)
        provision(federation)
        print(f"bench: {args.transfers} transfers, batches of {args.batch_size}, {args.banks} banks, {args.store}, "
              f"{args.clearings} clearing process(es) ...", file=sys.stderr)
        cpu_before = {name: cpu_seconds(p.pid) for name, p in federation.processes.items()}
        errors: list[str] = []
        per_bank = args.transfers // args.banks
        ids = [b.bank_id for b in banks]
        threads = [threading.Thread(target=drive, args=(federation, databases, b, [o for o in ids if o != b]),
                                    kwargs=dict(count=per_bank, batch_size=args.batch_size, window=args.window,
                                                seed=args.seed + i, errors=errors)) for i, b in enumerate(ids)]
        scraper = Scraper([federation.clearing_home, *(federation.bundle(b) for b in ids)]) if federation.metrics \
            else contextlib.nullcontext()
        started = time.monotonic()
        with scraper:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        if errors:
            raise RuntimeError("; ".join(errors))
        wait_final(databases, expected=per_bank * args.banks, timeout_s=600)
        wall_s = time.monotonic() - started
        cpu = {name: round(cpu_seconds(p.pid) - cpu_before[name], 2) for name, p in federation.processes.items()}
        result = measure(databases)
        if federation.metrics:
            result.update(scraper.figures())
        problems = invariants_broken(federation)
        if args.audit_flood_s > 0:  # After every other figure: refused input, nothing changes.
            result.update(measure_audit_growth(federation, databases.clearing, flood_s=args.audit_flood_s))
    finally:
        if databases is not None:
            databases.close()
        federation.stop()
        if cluster is not None:
            cluster.stop()
    if args.netting_transfers:
        netting = measure_netting(home, transfer_count=args.netting_transfers, seed=args.seed)
        result.update(netting)
        if args.netting_transfers == 1_000_000:
            result["netting_1m_s"] = netting["netting_s"]
    result.update({
        "cores": os.cpu_count(), "batch_size": args.batch_size, "banks": args.banks, "store": args.store,
        "clearing_processes": args.clearings, "metrics": args.metrics, **conflicts(federation),
        "wall_seconds": round(wall_s, 2), "cpu_seconds_by_process": cpu,
        "cpu_utilisation_of_machine": round(sum(cpu.values()) / (wall_s * os.cpu_count()), 2),
        "invariants_ok": not problems and not errors, "problems": problems + errors[:5], "home": str(home),
    })
    print(json.dumps(result, indent=2))
    return 0 if result["invariants_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
