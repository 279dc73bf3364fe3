"""A month in the life of a consortium, through the operator's commands and real nodes:
a bank joins by a signing request, trades, has its cap raised and adds liquidity; another
takes liquidity out; a certificate is renewed and the old one revoked; a bank leaves.
Every window reconciles with no break and settles without an override, every camt.053
balance chains to the next window's, and (the fixture's end) every invariant holds."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import grpc
from cryptography import x509
from lxml import etree

from fedmall import pki
from fedmall.tls import TlsCredentials
from fedmall.v1 import clearing_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import exports
from clearing import cli as clearing_cli
from node import cli as node_cli
from scripts.federation import free_port
from tests.acceptance.test_certificates import at_clearing, channels  # noqa: F401 (a fixture)
from tests.support.federation import Bank, close_and_issue, wait_until

NS = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"}
SCHEMA = Path(__file__).parents[1] / "schemas" / "camt.053.001.08.xsd"
DEPOSIT_MINOR = 100_000
OPERATOR = ("--operator", "olga", "--reason")


def operator(world, capsys, *args: str) -> dict:
    """A fedmall-clearing command that must succeed; its --json answer."""
    capsys.readouterr()   # What other commands printed before.
    code = clearing_cli.main(["--home", str(world.home), *args, "--json"])
    out = capsys.readouterr().out
    assert code == 0, (args, out)
    return json.loads(out)


def join_by_signing_request(federation, tmp_path: Path, bank_id: str, *, cap: str, liquidity: str) -> None:
    """The bank makes its keys and a request at home; the operator admits it from the request;
    the bank installs what it is sent and starts its node, which makes it active."""
    world, home, bundle = federation.world, tmp_path / bank_id, tmp_path / f"{bank_id}-sent"
    port = free_port()
    assert node_cli.main(["csr", "--home", str(home), "--bank-id", bank_id, "--node-address", f"127.0.0.1:{port}",
                          "--out", str(tmp_path / f"{bank_id}.csr")]) == 0
    clearing_cli.main(["--home", str(world.home), "admit", bank_id, "--name", "Bank D", "--currency", "EUR",
                       "--net-debit-cap", cap, "--liquidity", liquidity, "--node-address", f"127.0.0.1:{port}",
                       "--out", str(bundle), "--csr", str(tmp_path / f"{bank_id}.csr"),
                       "--signing-public-key", str(home / "signing.pub")])
    assert not (bundle / "tls.key").exists() and not (bundle / "signing.key").exists()
    assert node_cli.main(["install-certificate", "--home", str(home), "--from", str(bundle)]) == 0
    world.banks[bank_id] = Bank(bank_id=bank_id, bundle=home, signing_key=pki.load_signing_key(
        home / "signing.key", f"{bank_id}/k1"), node_port=port)
    assert world.participant(bank_id).status == "onboarding"
    federation.start_node(bank_id, clearing_address=world.address)  # The test clearing's port is picked at start.
    wait_until(lambda: world.participant(bank_id).status == "active", timeout_s=10)


def pay(federation, payer: str, payee: str, amount_minor: int) -> str:
    transfer_id, _ = federation.send(payer, "cust", payee, "cust", amount_minor)
    return federation.wait_final(payer, transfer_id).status


def end_of_day(federation) -> int:
    """Close the window; every bank that paid or was paid acknowledges it with no break; settle."""
    windows = federation.world.clearing.windows
    window_id = close_and_issue(windows)
    wait_until(lambda: {a.status for a in windows.answers(window_id)} <= {"acknowledged", "idle"}, timeout_s=30)
    windows.settle(window_id)   # No override: it would raise were anyone silent or disputing.
    return window_id


def balances(statement) -> dict[str, tuple[Decimal, Decimal]]:
    """Each account's (opening, closing) balance, credit positive."""
    found = {}
    for account in statement.findall("c:BkToCstmrStmt/c:Stmt", NS):
        signed = {}
        for balance in account.findall("c:Bal", NS):
            amount = Decimal(balance.findtext("c:Amt", namespaces=NS))
            sign = 1 if balance.findtext("c:CdtDbtInd", namespaces=NS) == "CRDT" else -1
            signed[balance.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=NS)] = sign * amount
        found[account.findtext("c:Acct/c:Tp/c:Prtry", namespaces=NS)] = (signed["OPBD"], signed["CLBD"])
    return found


def serial(credentials: TlsCredentials) -> str:
    return pki.serial_text(x509.load_pem_x509_certificate(credentials.certificate_pem))


def test_a_month_in_the_life_of_the_consortium(federation, tmp_path, capsys, channels):  # noqa: F811
    world = federation.world
    windows: list[int] = []

    # Week 1: bank-d joins by a signing request, with a small cap.
    join_by_signing_request(federation, tmp_path, "bank-d", cap="50.00", liquidity="100.00")
    for bank_id in ("bank-a", "bank-b", "bank-c", "bank-d"):
        federation.open_account(bank_id, "cust", deposit_minor=DEPOSIT_MINOR)
    assert pay(federation, "bank-a", "bank-d", 12_000) == "COMMITTED"
    assert pay(federation, "bank-d", "bank-b", 4_000) == "COMMITTED"
    refused, _ = federation.send("bank-d", "cust", "bank-c", "cust", 30_000)
    assert federation.wait_final("bank-d", refused).abort_reason == rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED
    assert pay(federation, "bank-c", "bank-a", 2_500) == "COMMITTED"
    windows.append(end_of_day(federation))

    # Week 2: the refusal looked up; bank-d pays in liquidity and its cap is raised.
    [mention] = [e for e in operator(world, capsys, "audit", "list", "--transfer", refused)["entries"]
                 if e["kind"] == "prepares"]
    assert {r["transfer_id"]: r["result"] for r in mention["body"]["results"]}[refused] == "NET_DEBIT_CAP_EXCEEDED"
    operator(world, capsys, "funds", "in", "bank-d", "400.00", "--id", "d-in-1", "--reference", "RTGS-D-1",
             *OPERATOR, "prefunding")
    operator(world, capsys, "participants", "set-cap", "bank-d", "500.00", *OPERATOR, "funds in received")
    assert pay(federation, "bank-d", "bank-c", 30_000) == "COMMITTED"
    assert pay(federation, "bank-b", "bank-d", 1_000) == "COMMITTED"
    windows.append(end_of_day(federation))

    # Week 3: bank-a takes liquidity out; bank-b's certificate is renewed, the old one revoked.
    before = world.participant("bank-a").liquidity_minor
    operator(world, capsys, "funds", "out", "bank-a", "250.00", "--id", "a-out-1", "--reference", "RTGS-A-9",
             *OPERATOR, "quarter end")
    operator(world, capsys, "funds", "commit", "a-out-1", *OPERATOR, "paid")
    assert world.participant("bank-a").liquidity_minor == before - 25_000
    old = world.banks["bank-b"].tls
    operator(world, capsys, "certificates", "renew", "bank", "bank-b", "--out", str(tmp_path / "b-renewed"))
    federation.stop_node("bank-b")
    assert node_cli.main(["install-certificate", "--home", str(world.banks["bank-b"].bundle),
                          "--from", str(tmp_path / "b-renewed")]) == 0
    federation.start_node("bank-b")
    assert serial(world.banks["bank-b"].tls) != serial(old)
    operator(world, capsys, "certificates", "revoke", serial(old), *OPERATOR, "replaced")
    wait_until(lambda: at_clearing(world.address, old, channels) == grpc.StatusCode.UNAUTHENTICATED.name, timeout_s=5)
    assert at_clearing(world.address, world.banks["bank-b"].tls, channels) == "OK"
    assert pay(federation, "bank-a", "bank-b", 7_000) == "COMMITTED"
    assert pay(federation, "bank-b", "bank-c", 1_500) == "COMMITTED"
    windows.append(end_of_day(federation))

    # Week 4: bank-c leaves: suspended, its liquidity paid out and listed, then gone.
    operator(world, capsys, "suspend", "bank-c")
    payout = world.participant("bank-c").liquidity_minor
    operator(world, capsys, "funds", "out", "bank-c", f"{Decimal(payout) / 100:.2f}", "--id", "c-out-1",
             "--reference", "RTGS-C-END", *OPERATOR, "wound up")
    operator(world, capsys, "funds", "commit", "c-out-1", *OPERATOR, "paid")
    assert pay(federation, "bank-d", "bank-a", 5_000) == "COMMITTED"
    windows.append(end_of_day(federation))
    wait_until(lambda: federation.applied_cursor("bank-c") == world.participant("bank-c").delivery_sequence)
    federation.stop_node("bank-c")
    assert operator(world, capsys, "participants", "leave", "bank-c", *OPERATOR, "wound up")["left"] is True
    assert pay(federation, "bank-b", "bank-d", 2_000) == "COMMITTED"
    windows.append(end_of_day(federation))

    windows.append(close_and_issue(world.clearing.windows))  # The month's last statement lists its last settlement.

    # Every statement chains: each account opens where the bank's last one closed.
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    last: dict[tuple[str, str], Decimal] = {}
    for window_id in windows:
        out_dir = tmp_path / f"exports-w{window_id}"
        exports.export_window(world.clearing.store, window_id, out_dir, created_at_ms=1)
        for path in sorted(out_dir.glob("camt053-*.xml")):
            statement = etree.parse(str(path)).getroot()
            schema.assertValid(statement)
            bank_id = path.name.removeprefix("camt053-").rsplit("-w", 1)[0]
            for account, (opening, closing) in balances(statement).items():
                assert opening == last.get((bank_id, account), Decimal("0.00")), (window_id, bank_id, account)
                last[bank_id, account] = closing
    for bank_id in ("bank-a", "bank-b", "bank-d"):
        assert last[bank_id, "LIQUIDITY"] == Decimal(world.participant(bank_id).liquidity_minor) / 100
        assert last[bank_id, "POSITION"] == 0   # Everything settled.
    assert (last["bank-c", "LIQUIDITY"], world.participant("bank-c").status) == (0, "left")
    listed = world.stub("bank-a").ListParticipants(clearing_pb2.ListParticipantsRequest()).participants
    assert {p.bank_id: p.status for p in listed}["bank-c"] == clearing_pb2.PARTICIPANT_STATUS_LEFT
