"""End-to-end interbank throughput: a clearing and N nodes as separate processes.

Each bank's driver sends batches through NodeService.SendTransfers (one quote per
payee bank, one outbox transaction), keeping at most --window transfers in flight.
A transfer counts when it is COMMITTED at the clearing and both node ledgers show
it (payer settled, payee credited), all on SQLite with synchronous=FULL.

Latency is measured from the timestamps the processes store: the payer node's
outbox row (created) to the later of the payer's settlement and the payee's credit.
The same timestamps split the time by stage (where the time goes), and each
process's CPU seconds show which one is the bottleneck.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_netting import measure_netting  # noqa: E402
from federation import BankSpec, Federation, check_books, read_books  # noqa: E402

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


def node_db(federation: Federation, bank_id: str) -> sqlite3.Connection:
    connection = sqlite3.connect(f"file:{federation.bundle(bank_id) / 'node.db'}?mode=ro", uri=True, timeout=30)
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


def in_flight(connection: sqlite3.Connection) -> int:
    return connection.execute(
        "SELECT count(*) FROM outgoing_transfers WHERE status NOT IN ('COMMITTED','ABORTED')").fetchone()[0]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(federation: Federation, bank_id: str, others: list[str], *, count: int, batch_size: int,
          window: int, seed: int, errors: list[str]) -> None:
    stub = federation.node_stub(bank_id)
    rng = random.Random(seed)
    database = node_db(federation, bank_id)
    sent = 0
    while sent < count:
        if in_flight(database) + batch_size > window:
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


def provision(federation: Federation) -> None:
    for bank in federation.banks:
        stub = federation.node_stub(bank.bank_id)
        for index in range(ACCOUNTS_PER_BANK):
            stub.OpenAccount(node_pb2.OpenAccountRequest(account_id=f"c{index}", holder_name=f"Customer {index}",
                                                         currency=CURRENCY))
            stub.Deposit(node_pb2.DepositRequest(deposit_id=str(uuid.uuid4()), account_id=f"c{index}",
                                                 amount=money_pb2.Money(amount_minor=1_000_000_000, currency=CURRENCY)))


def wait_final(federation: Federation, *, expected: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = 0
        for bank in federation.banks:
            with node_db(federation, bank.bank_id) as db:
                done += db.execute("SELECT count(*) FROM outgoing_transfers WHERE status IN ('COMMITTED','ABORTED')").fetchone()[0]
                pending_credit = db.execute("SELECT count(*) FROM incoming_transfers WHERE status NOT IN ('COMMITTED','ABORTED','REJECTED')").fetchone()[0]
        if done >= expected and pending_credit == 0:
            return
        time.sleep(0.05)
    raise TimeoutError("transfers did not all finish in time")


def measure(federation: Federation) -> dict:
    outgoing, incoming = {}, {}
    for bank in federation.banks:
        with node_db(federation, bank.bank_id) as db:
            for transfer_id, status, created, updated in db.execute(
                    "SELECT transfer_id, status, created_at_unix_ms, updated_at_unix_ms FROM outgoing_transfers"):
                outgoing[transfer_id] = (status, created, updated)
            for transfer_id, status, updated in db.execute(
                    "SELECT transfer_id, status, updated_at_unix_ms FROM incoming_transfers"):
                incoming[transfer_id] = (status, updated)
    clearing = {}
    with sqlite3.connect(f"file:{federation.clearing_home / 'clearing.db'}?mode=ro", uri=True) as db:
        for transfer_id, created, decided in db.execute("SELECT transfer_id, created_at_ms, decided_at_ms FROM transfers"):
            clearing[transfer_id] = (created, decided)
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


def invariants(federation: Federation) -> tuple[bool, list[str]]:
    failed = [f"{check.title}: {check.detail}" for check in check_books(read_books(federation), currency=CURRENCY)
              if not check.ok]
    return not failed, failed


def main() -> int:
    parser = argparse.ArgumentParser(description="End-to-end interbank transfer benchmark (JSON on stdout).")
    parser.add_argument("--banks", type=int, default=3)
    parser.add_argument("--transfers", type=int, default=30_000, help="total across all banks")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--window", type=int, default=300, help="most transfers in flight per bank")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--netting-transfers", type=int, default=1_000_000,
                        help="size of the netting benchmark (0 skips it)")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="fedmall-bench-"))
    banks = [BankSpec(f"bank-{chr(97 + i)}", f"Bank {chr(65 + i)}", "1000000000.00", "1000000000.00")
             for i in range(args.banks)]
    federation = Federation(home=home, currency=CURRENCY, banks=banks)
    federation.create()
    federation.start()
    try:
        provision(federation)
        print(f"bench: {args.transfers} transfers, batches of {args.batch_size}, {args.banks} banks ...", file=sys.stderr)
        cpu_before = {name: cpu_seconds(p.pid) for name, p in federation.processes.items()}
        errors: list[str] = []
        per_bank = args.transfers // args.banks
        ids = [b.bank_id for b in banks]
        threads = [threading.Thread(target=drive, args=(federation, b, [o for o in ids if o != b]),
                                    kwargs=dict(count=per_bank, batch_size=args.batch_size, window=args.window,
                                                seed=args.seed + i, errors=errors)) for i, b in enumerate(ids)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise RuntimeError("; ".join(errors))
        wait_final(federation, expected=per_bank * args.banks, timeout_s=600)
        wall_s = time.monotonic() - started
        cpu = {name: round(cpu_seconds(p.pid) - cpu_before[name], 2) for name, p in federation.processes.items()}
        result = measure(federation)
        ok, problems = invariants(federation)
    finally:
        federation.stop()
    if args.netting_transfers:
        netting = measure_netting(home, transfer_count=args.netting_transfers, seed=args.seed)
        result.update(netting)
        if args.netting_transfers == 1_000_000:
            result["netting_1m_s"] = netting["netting_s"]
    result.update({
        "cores": os.cpu_count(), "batch_size": args.batch_size, "banks": args.banks, "store": "sqlite",
        "wall_seconds": round(wall_s, 2), "cpu_seconds_by_process": cpu,
        "cpu_utilisation_of_machine": round(sum(cpu.values()) / (wall_s * os.cpu_count()), 2),
        "invariants_ok": ok and not errors, "problems": problems + errors[:5], "home": str(home),
    })
    print(json.dumps(result, indent=2))
    return 0 if result["invariants_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
