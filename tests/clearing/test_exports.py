"""Settlement exports: camt.053, pacs.008 and pacs.004 valid against the official ISO 20022
schemas (tests/schemas), their numbers add up, and the CSV report nets to zero.

Most tests build the window directly in a temporary SQLite store: banks a, b, c and f in EUR
(f moved nothing), d and e in JPY; window 1 is PENDING_SETTLEMENT, and the store also
holds an aborted transfer of window 1 and a transfer of the open window 2, which no
export may show. The last test exports a window the running clearing netted itself.
"""
from __future__ import annotations

import csv
import hashlib
import io
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from lxml import etree

from fedmall.results import FedmallError
from fedmall.v1 import money_pb2, settlement_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import exports, iso20022, netting
from clearing.store import Store, participants, settlement_windows, transfers, window_nets
from tests.clearing.test_windows import close, commit

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
CAMT = "{urn:iso:std:iso:20022:tech:xsd:camt.053.001.08}"
PACS = "{urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08}"
NS_CAMT = {"c": CAMT[1:-1]}
NS_PACS = {"p": PACS[1:-1]}
NS_RETURN = {"r": "urn:iso:std:iso:20022:tech:xsd:pacs.004.001.09"}

OPENED_AT_MS = 1_795_000_000_000  # 2026-11-18T11:06:40Z
CLOSED_AT_MS = OPENED_AT_MS + 3_600_000
CREATED_AT_MS = CLOSED_AT_MS + 60_000
WINDOW = 1

# (name, payer, payee, amount_minor, currency, reference); committed in window 1 in this order.
TRANSFERS = [
    ("t1", "bank-a", "bank-b", 12_000, "EUR", "order 1"),
    ("t2", "bank-b", "bank-c", 3_050, "EUR", ""),
    ("t3", "bank-c", "bank-a", 1_000, "EUR", "order 3"),
    ("t4", "bank-a", "bank-c", 199, "EUR", "order 4"),
    ("t5", "bank-d", "bank-e", 1_500, "JPY", "jp order"),
]
# What the payer bank of t1 shared of its customer, and the name the payee bank quoted.
T1_PARTIES = dict(debtor_name="Alice Buyer", debtor_account="alice-1", creditor_name="Bob's Shop")
# Clearing positions before window 1 (positive: the bank owes); they sum to zero.
OPENING_POSITIONS = {"bank-a": 5_000, "bank-b": -2_000, "bank-c": -3_000, "bank-f": 0, "bank-d": 700, "bank-e": -700}
CURRENCIES = {"bank-a": "EUR", "bank-b": "EUR", "bank-c": "EUR", "bank-f": "EUR", "bank-d": "JPY", "bank-e": "JPY"}


@pytest.fixture(scope="module")
def camt_schema():
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "camt.053.001.08.xsd")))


@pytest.fixture(scope="module")
def pacs_schema():
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "pacs.008.001.08.xsd")))


@pytest.fixture(scope="module")
def return_schema():
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "pacs.004.001.09.xsd")))


class Window:
    """The store of the module docstring, and the ids it gave each named transfer."""

    def __init__(self, tmp_path: Path) -> None:
        self.store = Store.open(f"sqlite:///{tmp_path / 'c.db'}")
        self.ids: dict[str, str] = {}
        self.uetrs: dict[str, str] = {}  # By transfer id: what each payer generated.
        self.out_dir = tmp_path / "exports"
        with self.store.write() as connection:
            for bank_id, currency in CURRENCIES.items():
                connection.execute(sa.insert(participants).values(
                    bank_id=bank_id, name=f"Bank {bank_id[-1].upper()}", currency=currency, status="active",
                    node_address="127.0.0.1:1", net_debit_cap_minor=100_000, liquidity_minor=200_000,
                    position_minor=0, reserved_minor=0, delivery_sequence=0, admitted_at_ms=OPENED_AT_MS))
            connection.execute(sa.update(settlement_windows).where(settlement_windows.c.window_id == WINDOW).values(
                state=settlement_pb2.WINDOW_STATE_PENDING_SETTLEMENT, opened_at_ms=OPENED_AT_MS,
                closed_at_ms=CLOSED_AT_MS))
            connection.execute(sa.insert(settlement_windows).values(
                window_id=2, state=settlement_pb2.WINDOW_STATE_OPEN, opened_at_ms=CLOSED_AT_MS))
        for index, (name, payer, payee, amount_minor, currency, reference) in enumerate(TRANSFERS):
            self.ids[name] = self.add_transfer(payer, payee, amount_minor, currency, reference,
                                               committed_at_ms=OPENED_AT_MS + 1_000 * (index + 1),
                                               **(T1_PARTIES if name == "t1" else {}))
        self.ids["aborted"] = self.add_transfer("bank-a", "bank-b", 777, "EUR", "aborted",
                                                committed_at_ms=OPENED_AT_MS + 9_000,
                                                state=transfer_pb2.TRANSFER_STATE_ABORTED,
                                                result=rc.RESULT_CODE_PAYEE_REJECTED)
        self.ids["next-window"] = self.add_transfer("bank-b", "bank-a", 888, "EUR", "later",
                                                    committed_at_ms=CLOSED_AT_MS + 1, window_id=2)
        self.add_nets(WINDOW)

    def add_transfer(self, payer, payee, amount_minor, currency, reference, *, committed_at_ms,
                     state=transfer_pb2.TRANSFER_STATE_COMMITTED, window_id=WINDOW, transfer_id=None,
                     result=rc.RESULT_CODE_OK, **terms) -> str:
        """terms: other Prepare fields (the parties shared, original_transfer_id)."""
        transfer_id = transfer_id or str(uuid.uuid4())
        self.uetrs[transfer_id] = str(uuid.uuid4())
        prepare = transfer_pb2.Prepare(
            transfer_id=transfer_id, payer_bank_id=payer, payee_bank_id=payee, payee_account=f"acct-{payee[-1]}-1",
            amount=money_pb2.Money(amount_minor=amount_minor, currency=currency), condition=b"\x01" * 32,
            expires_at_unix_ms=committed_at_ms + 60_000, reference=reference, uetr=self.uetrs[transfer_id], **terms)
        prepare_bytes = prepare.SerializeToString(deterministic=True)
        with self.store.write() as connection:
            connection.execute(sa.insert(transfers).values(
                transfer_id=transfer_id, payer_bank_id=payer, payee_bank_id=payee, amount_minor=amount_minor,
                currency=currency, condition=b"\x01" * 32, expires_at_ms=committed_at_ms + 60_000,
                prepare_bytes=prepare_bytes, prepare_sha256=hashlib.sha256(prepare_bytes).digest(), state=state,
                result=result, created_at_ms=committed_at_ms - 100, decided_at_ms=committed_at_ms,
                window_id=window_id))
        return transfer_id

    def add_nets(self, window_id: int) -> None:
        """The window's nets as the report fixes them: from its committed transfers."""
        with self.store.write() as connection:
            connection.execute(sa.delete(window_nets).where(window_nets.c.window_id == window_id))
            rows = connection.execute(sa.select(transfers).where(
                transfers.c.window_id == window_id,
                transfers.c.state == transfer_pb2.TRANSFER_STATE_COMMITTED)).all()
            for bank_id, currency in CURRENCIES.items():
                debits = sum(r.amount_minor for r in rows if r.payer_bank_id == bank_id)
                credits = sum(r.amount_minor for r in rows if r.payee_bank_id == bank_id)
                connection.execute(sa.insert(window_nets).values(
                    window_id=window_id, bank_id=bank_id, currency=currency, debits_minor=debits,
                    credits_minor=credits, net_minor=credits - debits,
                    opening_position_minor=OPENING_POSITIONS[bank_id]))

    def export(self) -> list[Path]:
        return exports.export_window(self.store, WINDOW, self.out_dir, created_at_ms=CREATED_AT_MS)

    def camt(self, bank_id: str) -> etree._Element:
        return etree.parse(str(self.out_dir / f"camt053-{bank_id}-w{WINDOW}.xml")).getroot()

    def pacs(self, name: str) -> etree._Element:
        return etree.parse(str(self.out_dir / f"pacs008-{self.ids[name]}.xml")).getroot()

    def csv_rows(self) -> list[dict[str, str]]:
        text = (self.out_dir / f"settlement-w{WINDOW}.csv").read_text(encoding="utf-8")
        return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture
def window(tmp_path):
    built = Window(tmp_path)
    yield built
    built.store.close()


def signed_balance(statement: etree._Element, code: str) -> Decimal:
    """A Bal as a signed decimal, credit positive."""
    for balance in statement.iterfind("c:Bal", NS_CAMT):
        if balance.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=NS_CAMT) == code:
            amount = Decimal(balance.findtext("c:Amt", namespaces=NS_CAMT))
            return amount if balance.findtext("c:CdtDbtInd", namespaces=NS_CAMT) == "CRDT" else -amount
    raise AssertionError(f"no {code} balance")


def entries(statement: etree._Element) -> list[etree._Element]:
    return statement.findall("c:Ntry", NS_CAMT)


def entry_for(statement: etree._Element, transfer_id: str) -> etree._Element:
    for entry in entries(statement):
        if entry.findtext("c:NtryDtls/c:TxDtls/c:Refs/c:EndToEndId", namespaces=NS_CAMT) == uuid.UUID(transfer_id).hex:
            return entry
    raise AssertionError(f"no entry for {transfer_id}")


# --- schema validity ------------------------------------------------------------------


def test_camt053__validates_against_the_iso_schema(window, camt_schema):
    window.export()
    for bank_id in CURRENCIES:
        camt_schema.assertValid(window.camt(bank_id))


def test_pacs008__validates_against_the_iso_schema(window, pacs_schema):
    window.export()
    for name in [t[0] for t in TRANSFERS]:
        pacs_schema.assertValid(window.pacs(name))


def test_pacs008__signed_before_uetrs_a_non_v4_id_gets_no_uetr_and_still_validates(pacs_schema):
    transfer_id = str(uuid.uuid1())
    transfer = iso20022.Transfer(
        transfer_id=transfer_id, payer_bank_id="bank-a", payee_bank_id="bank-b", payee_account="acct-b-1",
        amount_minor=1, currency="EUR", reference="", committed_at_ms=OPENED_AT_MS)
    xml = iso20022.pacs008_transfer(transfer, payer=iso20022.Member("bank-a", "Bank A"),
                                    payee=iso20022.Member("bank-b", "Bank B"), created_at_ms=CREATED_AT_MS)
    root = etree.fromstring(xml)
    pacs_schema.assertValid(root)
    assert root.find(".//p:UETR", NS_PACS) is None
    assert root.findtext(".//p:EndToEndId", namespaces=NS_PACS) == uuid.UUID(transfer_id).hex


def test_camt053__control_characters_in_a_reference_still_validate(window, camt_schema, pacs_schema):
    transfer_id = window.add_transfer("bank-a", "bank-b", 5, "EUR", "bell\x07 and nul\x00",
                                      committed_at_ms=OPENED_AT_MS + 20_000)
    window.add_nets(WINDOW)
    window.export()
    statement = window.camt("bank-a")
    camt_schema.assertValid(statement)
    pacs_schema.assertValid(etree.parse(str(window.out_dir / f"pacs008-{transfer_id}.xml")))
    entry = entry_for(statement.find("c:BkToCstmrStmt/c:Stmt", NS_CAMT), transfer_id)
    assert entry.findtext(".//c:RmtInf/c:Ustrd", namespaces=NS_CAMT) == "bell\ufffd and nul\ufffd"


# --- camt.053 numbers -----------------------------------------------------------------


@pytest.mark.parametrize("bank_id", sorted(CURRENCIES))
def test_camt053__closing_balance_is_opening_plus_the_windows_movement(window, bank_id):
    window.export()
    (statement,) = window.camt(bank_id).findall("c:BkToCstmrStmt/c:Stmt", NS_CAMT)
    mine = [t for t in TRANSFERS if bank_id in (t[1], t[2])]
    credits = sum(Decimal(t[3]) for t in mine if t[2] == bank_id)
    debits = sum(Decimal(t[3]) for t in mine if t[1] == bank_id)
    exponent = 0 if CURRENCIES[bank_id] == "JPY" else 2
    scale = Decimal(10) ** -exponent
    assert len(entries(statement)) == len(mine)
    assert signed_balance(statement, "OPBD") == -OPENING_POSITIONS[bank_id] * scale
    assert signed_balance(statement, "CLBD") == signed_balance(statement, "OPBD") + (credits - debits) * scale
    signed_entries = sum(
        Decimal(e.findtext("c:Amt", namespaces=NS_CAMT))
        * (1 if e.findtext("c:CdtDbtInd", namespaces=NS_CAMT) == "CRDT" else -1)
        for e in entries(statement))
    assert signed_balance(statement, "CLBD") - signed_balance(statement, "OPBD") == signed_entries


def test_camt053__summary_counts_and_sums_the_entries(window):
    window.export()
    statement = window.camt("bank-a").find("c:BkToCstmrStmt/c:Stmt", NS_CAMT)
    summary = statement.find("c:TxsSummry", NS_CAMT)
    text = lambda path: summary.findtext(path, namespaces=NS_CAMT)
    assert (text("c:TtlNtries/c:NbOfNtries"), text("c:TtlNtries/c:Sum")) == ("3", "131.99")
    assert (text("c:TtlCdtNtries/c:NbOfNtries"), text("c:TtlCdtNtries/c:Sum")) == ("1", "10.00")
    assert (text("c:TtlDbtNtries/c:NbOfNtries"), text("c:TtlDbtNtries/c:Sum")) == ("2", "121.99")
    assert (text("c:TtlNtries/c:TtlNetNtry/c:Amt"), text("c:TtlNtries/c:TtlNetNtry/c:CdtDbtInd")) == ("111.99", "DBIT")


def test_camt053__a_position_owed_is_a_debit_balance_and_one_in_favour_a_credit(window):
    window.export()
    bank_a = window.camt("bank-a").find("c:BkToCstmrStmt/c:Stmt", NS_CAMT)
    bank_b = window.camt("bank-b").find("c:BkToCstmrStmt/c:Stmt", NS_CAMT)
    assert signed_balance(bank_a, "OPBD") == Decimal("-50.00")  # bank-a owes 50.00: DBIT
    assert signed_balance(bank_a, "CLBD") == Decimal("-161.99")  # 50.00 + 121.99 - 10.00
    assert signed_balance(bank_b, "OPBD") == Decimal("20.00")  # in bank-b's favour: CRDT
    assert signed_balance(bank_b, "CLBD") == Decimal("109.50")  # 20.00 + 120.00 - 30.50


def test_camt053__header_and_statement_identify_window_and_account(window):
    window.export()
    root = window.camt("bank-b")
    statement = root.find("c:BkToCstmrStmt/c:Stmt", NS_CAMT)
    find = lambda element, path: element.findtext(path, namespaces=NS_CAMT)
    assert find(root, "c:BkToCstmrStmt/c:GrpHdr/c:MsgId") == "C053-W1-bank-b"
    assert find(root, "c:BkToCstmrStmt/c:GrpHdr/c:CreDtTm") == iso20022.iso_datetime(CREATED_AT_MS)
    assert find(statement, "c:ElctrncSeqNb") == "1"
    assert find(statement, "c:FrToDt/c:FrDtTm") == iso20022.iso_datetime(OPENED_AT_MS)
    assert find(statement, "c:FrToDt/c:ToDtTm") == iso20022.iso_datetime(CLOSED_AT_MS)
    assert find(statement, "c:Acct/c:Id/c:Othr/c:Id") == "bank-b"
    assert find(statement, "c:Acct/c:Ccy") == "EUR"
    assert find(statement, "c:Acct/c:Ownr/c:Nm") == "Bank B"
    assert find(statement, "c:Id") == "bank-b-W1-EUR-POS"


def test_camt053__every_member_window_and_account_has_its_own_statement_id(window):
    window.export()
    ids = [statement.findtext("c:Id", namespaces=NS_CAMT)
           for bank_id in CURRENCIES for statement in window.camt(bank_id).findall("c:BkToCstmrStmt/c:Stmt", NS_CAMT)]
    assert len(ids) == len(set(ids)) == len(CURRENCIES)
    long_bank = "b" * 34
    assert len(iso20022.statement_id(bank_id=long_bank, window_id=10**12, currency="EUR", account_type="LIQUIDITY")) \
        <= 35
    assert iso20022.statement_id(bank_id=long_bank, window_id=1, currency="EUR", account_type="POSITION") != \
        iso20022.statement_id(bank_id=long_bank, window_id=2, currency="EUR", account_type="POSITION")


def test_camt053__an_entry_carries_direction_ids_counterparty_and_reference(window):
    window.export()
    transfer_id = window.ids["t1"]
    payer_entry = entry_for(window.camt("bank-a").find("c:BkToCstmrStmt/c:Stmt", NS_CAMT), transfer_id)
    payee_entry = entry_for(window.camt("bank-b").find("c:BkToCstmrStmt/c:Stmt", NS_CAMT), transfer_id)
    find = lambda path, entry=payer_entry: entry.findtext(path, namespaces=NS_CAMT)
    assert (find("c:CdtDbtInd"), find("c:CdtDbtInd", payee_entry)) == ("DBIT", "CRDT")
    assert (find("c:BkTxCd/c:Domn/c:Fmly/c:Cd"), find("c:BkTxCd/c:Domn/c:Fmly/c:Cd", payee_entry)) == ("ICDT", "RCDT")
    assert find("c:Amt") == "120.00"
    assert payer_entry.find("c:Amt", NS_CAMT).get("Ccy") == "EUR"
    assert find("c:Sts/c:Cd") == "BOOK"
    assert find("c:BookgDt/c:DtTm") == iso20022.iso_datetime(OPENED_AT_MS + 1_000)
    assert find("c:ValDt/c:Dt") == iso20022.iso_date(OPENED_AT_MS + 1_000)
    details = "c:NtryDtls/c:TxDtls/"
    assert find(details + "c:Refs/c:EndToEndId") == uuid.UUID(transfer_id).hex
    assert find(details + "c:Refs/c:UETR") == window.uetrs[transfer_id] != transfer_id
    assert find(details + "c:RltdAgts/c:DbtrAgt/c:FinInstnId/c:Othr/c:Id") == "bank-a"
    assert find(details + "c:RltdAgts/c:CdtrAgt/c:FinInstnId/c:Othr/c:Id") == "bank-b"
    assert find(details + "c:RltdPties/c:Dbtr/c:Pty/c:Nm") == "Alice Buyer"
    assert find(details + "c:RltdPties/c:DbtrAcct/c:Id/c:Othr/c:Id") == "alice-1"
    assert find(details + "c:RltdPties/c:Cdtr/c:Pty/c:Nm") == "Bob's Shop"
    assert find(details + "c:RltdPties/c:CdtrAcct/c:Id/c:Othr/c:Id") == "acct-b-1"
    assert find(details + "c:RmtInf/c:Ustrd") == "order 1"


def test_camt053__a_transfer_without_reference_has_no_remittance(window):
    window.export()
    entry = entry_for(window.camt("bank-b").find("c:BkToCstmrStmt/c:Stmt", NS_CAMT), window.ids["t2"])
    assert entry.find(".//c:RmtInf", NS_CAMT) is None


def test_camt053__a_bank_that_moved_nothing_gets_a_statement_without_entries(window, camt_schema):
    window.export()
    root = window.camt("bank-f")
    camt_schema.assertValid(root)
    statement = root.find("c:BkToCstmrStmt/c:Stmt", NS_CAMT)
    assert entries(statement) == []
    assert signed_balance(statement, "OPBD") == signed_balance(statement, "CLBD") == Decimal("0.00")


# --- pacs.008 -------------------------------------------------------------------------


def test_pacs008__carries_uetr_end_to_end_id_amount_date_and_clrg(window):
    window.export()
    root = window.pacs("t1")
    find = lambda path: root.findtext(path, namespaces=NS_PACS)
    transfer_id = window.ids["t1"]
    assert find("p:FIToFICstmrCdtTrf/p:GrpHdr/p:NbOfTxs") == "1"
    assert find("p:FIToFICstmrCdtTrf/p:GrpHdr/p:SttlmInf/p:SttlmMtd") == "CLRG"
    transaction = "p:FIToFICstmrCdtTrf/p:CdtTrfTxInf/"
    assert len(root.findall("p:FIToFICstmrCdtTrf/p:CdtTrfTxInf", NS_PACS)) == 1
    assert find(transaction + "p:PmtId/p:UETR") == window.uetrs[transfer_id]
    assert find(transaction + "p:PmtId/p:EndToEndId") == uuid.UUID(transfer_id).hex
    assert find(transaction + "p:PmtId/p:InstrId") == uuid.UUID(transfer_id).hex
    assert find(transaction + "p:IntrBkSttlmAmt") == "120.00"
    assert root.find(transaction + "p:IntrBkSttlmAmt", NS_PACS).get("Ccy") == "EUR"
    assert find(transaction + "p:IntrBkSttlmDt") == iso20022.iso_date(OPENED_AT_MS + 1_000)
    assert find(transaction + "p:ChrgBr") == "SLEV"
    assert find(transaction + "p:DbtrAgt/p:FinInstnId/p:Othr/p:Id") == "bank-a"
    assert find(transaction + "p:CdtrAgt/p:FinInstnId/p:Othr/p:Id") == "bank-b"
    assert find(transaction + "p:CdtrAcct/p:Id/p:Othr/p:Id") == "acct-b-1"
    assert find(transaction + "p:RmtInf/p:Ustrd") == "order 1"


def test_pacs008__debtor_and_creditor_are_the_customers_and_the_agents_the_banks(window):
    window.export()
    transaction = window.pacs("t1").find("p:FIToFICstmrCdtTrf/p:CdtTrfTxInf", NS_PACS)
    find = lambda path: transaction.findtext(path, namespaces=NS_PACS)
    assert find("p:Dbtr/p:Nm") == "Alice Buyer"
    assert transaction.find("p:Dbtr/p:Id", NS_PACS) is None  # No longer the payer bank's id.
    assert find("p:DbtrAcct/p:Id/p:Othr/p:Id") == "alice-1"
    assert find("p:Cdtr/p:Nm") == "Bob's Shop"
    assert find("p:CdtrAcct/p:Id/p:Othr/p:Id") == "acct-b-1"
    assert (find("p:InstgAgt/p:FinInstnId/p:Othr/p:Id"), find("p:InstdAgt/p:FinInstnId/p:Othr/p:Id")) == (
        "bank-a", "bank-b")
    assert (find("p:DbtrAgt/p:FinInstnId/p:Nm"), find("p:CdtrAgt/p:FinInstnId/p:Nm")) == ("Bank A", "Bank B")


def test_pacs008__a_payer_that_shared_nothing_leaves_debtor_and_creditor_unnamed(window, pacs_schema):
    window.export()
    root = window.pacs("t3")
    pacs_schema.assertValid(root)
    transaction = root.find("p:FIToFICstmrCdtTrf/p:CdtTrfTxInf", NS_PACS)
    assert len(transaction.find("p:Dbtr", NS_PACS)) == 0 and len(transaction.find("p:Cdtr", NS_PACS)) == 0
    assert transaction.find("p:DbtrAcct", NS_PACS) is None
    assert transaction.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=NS_PACS) == "acct-a-1"
    assert transaction.findtext("p:PmtId/p:UETR", namespaces=NS_PACS) == window.uetrs[window.ids["t3"]]


# --- pacs.002 -------------------------------------------------------------------------

NS_STATUS = {"s": iso20022.PACS002_NAMESPACE}


@pytest.fixture(scope="module")
def status_schema():
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "pacs.002.001.10.xsd")))


def statuses(window, bank_id: str) -> dict[str, etree._Element]:
    root = etree.parse(str(window.out_dir / f"pacs002-{bank_id}-w{WINDOW}.xml")).getroot()
    return {item.findtext("s:OrgnlUETR", namespaces=NS_STATUS): item
            for item in root.findall("s:FIToFIPmtStsRpt/s:TxInfAndSts", NS_STATUS)}


def test_pacs002__each_member_reports_its_committed_and_rejected_transfers_and_validates(window, status_schema):
    expired = window.add_transfer("bank-c", "bank-a", 5, "EUR", "", committed_at_ms=OPENED_AT_MS + 30_000,
                                  state=transfer_pb2.TRANSFER_STATE_ABORTED, result=rc.RESULT_CODE_EXPIRED)
    window.export()
    for bank_id in set(CURRENCIES) - {"bank-f"}:
        status_schema.assertValid(etree.parse(str(window.out_dir / f"pacs002-{bank_id}-w1.xml")))
    assert not (window.out_dir / "pacs002-bank-f-w1.xml").exists()
    bank_a = statuses(window, "bank-a")
    uetr = lambda name: window.uetrs[window.ids[name]]  # noqa: E731
    assert set(bank_a) == {uetr("t1"), uetr("t3"), uetr("t4"), uetr("aborted"), window.uetrs[expired]}
    find = lambda item, path: item.findtext(path, namespaces=NS_STATUS)  # noqa: E731
    paid = bank_a[uetr("t1")]
    assert (find(paid, "s:TxSts"), find(paid, "s:OrgnlEndToEndId")) == ("ACSP", uuid.UUID(window.ids["t1"]).hex)
    assert find(paid, "s:OrgnlGrpInf/s:OrgnlMsgNmId") == "pacs.008.001.08"
    assert find(paid, "s:AccptncDtTm") == iso20022.iso_datetime(OPENED_AT_MS + 1_000)
    assert paid.find("s:FctvIntrBkSttlmDt", NS_STATUS) is None      # Not settled yet.
    rejected = bank_a[uetr("aborted")]
    assert (find(rejected, "s:TxSts"), find(rejected, "s:StsRsnInf/s:Rsn/s:Prtry"),
            find(rejected, "s:StsRsnInf/s:Orgtr/s:Nm")) == ("RJCT", "PAYEE_REJECTED", "Bank B")
    timed_out = bank_a[window.uetrs[expired]]
    assert (find(timed_out, "s:TxSts"), find(timed_out, "s:StsRsnInf/s:Rsn/s:Prtry"),
            find(timed_out, "s:StsRsnInf/s:Orgtr/s:Nm")) == ("RJCT", "EXPIRED", "Fedmall clearing")
    assert uetr("next-window") not in statuses(window, "bank-b")


def test_pacs002__once_the_window_settled_a_committed_transfer_is_acsc_with_its_settlement_date(window):
    settled_at_ms = CLOSED_AT_MS + 86_400_000
    with window.store.write() as connection:
        connection.execute(sa.update(settlement_windows).where(settlement_windows.c.window_id == WINDOW).values(
            state=settlement_pb2.WINDOW_STATE_SETTLED, settled_at_ms=settled_at_ms))
    window.export()
    paid = statuses(window, "bank-b")[window.uetrs[window.ids["t1"]]]
    assert paid.findtext("s:TxSts", namespaces=NS_STATUS) == "ACSC"
    assert paid.findtext("s:FctvIntrBkSttlmDt/s:Dt", namespaces=NS_STATUS) == iso20022.iso_date(settled_at_ms)


# --- pacs.004 -------------------------------------------------------------------------


def add_return(window, *, of: str, amount_minor: int, committed_at_ms: int, window_id: int = WINDOW) -> str:
    """bank-b gives back amount_minor of t1 (bank-a paid it 120.00) to Alice's account."""
    assert of == window.ids["t1"]
    return window.add_transfer("bank-b", "bank-a", amount_minor, "EUR", "refund order 1",
                               committed_at_ms=committed_at_ms, window_id=window_id, original_transfer_id=of,
                               debtor_name="Bob's Shop", debtor_account="acct-b-1", creditor_name="Alice Buyer")


def test_pacs004__a_return_references_the_original_transfer_and_validates(window, return_schema):
    original = window.ids["t1"]
    returned = add_return(window, of=original, amount_minor=5_000, committed_at_ms=OPENED_AT_MS + 50_000)
    window.add_nets(WINDOW)
    window.export()
    assert not (window.out_dir / f"pacs008-{returned}.xml").exists()
    root = etree.parse(str(window.out_dir / f"pacs004-{returned}.xml")).getroot()
    return_schema.assertValid(root)
    transaction = root.find("r:PmtRtr/r:TxInf", NS_RETURN)
    find = lambda path: transaction.findtext(path, namespaces=NS_RETURN)
    assert find("r:RtrId") == uuid.UUID(returned).hex
    assert (find("r:OrgnlGrpInf/r:OrgnlMsgId"), find("r:OrgnlGrpInf/r:OrgnlMsgNmId")) == (
        uuid.UUID(original).hex, "pacs.008.001.08")
    assert find("r:OrgnlEndToEndId") == find("r:OrgnlTxId") == uuid.UUID(original).hex
    assert find("r:OrgnlUETR") == window.uetrs[original]
    assert (find("r:OrgnlIntrBkSttlmAmt"), find("r:RtrdIntrBkSttlmAmt")) == ("120.00", "50.00")
    assert find("r:OrgnlIntrBkSttlmDt") == iso20022.iso_date(OPENED_AT_MS + 1_000)
    assert (find("r:InstgAgt/r:FinInstnId/r:Othr/r:Id"), find("r:InstdAgt/r:FinInstnId/r:Othr/r:Id")) == (
        "bank-b", "bank-a")
    assert (find("r:RtrChain/r:Dbtr/r:Pty/r:Nm"), find("r:RtrChain/r:Cdtr/r:Pty/r:Nm")) == ("Bob's Shop",
                                                                                          "Alice Buyer")
    assert find("r:RtrRsnInf/r:Rsn/r:Prtry") == iso20022.RETURN_REASON
    assert find("r:RtrRsnInf/r:AddtlInf") == "refund order 1"
    assert find("r:OrgnlTxRef/r:DbtrAcct/r:Id/r:Othr/r:Id") == "alice-1"
    assert find("r:OrgnlTxRef/r:CdtrAcct/r:Id/r:Othr/r:Id") == "acct-b-1"
    assert find("r:OrgnlTxRef/r:RmtInf/r:Ustrd") == "order 1"
    status = statuses(window, "bank-a")[window.uetrs[returned]]
    assert status.findtext("s:OrgnlGrpInf/s:OrgnlMsgNmId", namespaces=NS_STATUS) == "pacs.004.001.09"


def test_pacs004__the_return_is_a_return_entry_on_both_statements(window, camt_schema):
    returned = add_return(window, of=window.ids["t1"], amount_minor=5_000, committed_at_ms=OPENED_AT_MS + 50_000)
    window.add_nets(WINDOW)
    window.export()
    for bank_id, direction in (("bank-b", "DBIT"), ("bank-a", "CRDT")):
        root = window.camt(bank_id)
        camt_schema.assertValid(root)
        entry = entry_for(root.find("c:BkToCstmrStmt/c:Stmt", NS_CAMT), returned)
        assert entry.findtext("c:CdtDbtInd", namespaces=NS_CAMT) == direction
        assert entry.findtext("c:BkTxCd/c:Domn/c:Fmly/c:SubFmlyCd", namespaces=NS_CAMT) == "RRTN"
        assert entry.findtext("c:NtryDtls/c:TxDtls/c:Refs/c:UETR", namespaces=NS_CAMT) == window.uetrs[returned]


def test_pacs004__an_original_of_an_earlier_window_is_still_referenced(window, return_schema):
    """Window 2's return of window 1's t1: window 2 exports it with the original's terms."""
    returned = add_return(window, of=window.ids["t1"], amount_minor=1_000, committed_at_ms=CLOSED_AT_MS + 5,
                          window_id=2)
    with window.store.write() as connection:
        connection.execute(sa.update(settlement_windows).where(settlement_windows.c.window_id == 2).values(
            state=settlement_pb2.WINDOW_STATE_PENDING_SETTLEMENT, closed_at_ms=CLOSED_AT_MS + 3_600_000))
    window.add_nets(2)
    exports.export_window(window.store, 2, window.out_dir, created_at_ms=CREATED_AT_MS)
    root = etree.parse(str(window.out_dir / f"pacs004-{returned}.xml")).getroot()
    return_schema.assertValid(root)
    assert root.findtext("r:PmtRtr/r:TxInf/r:OrgnlUETR", namespaces=NS_RETURN) == window.uetrs[window.ids["t1"]]


def test_pacs008__a_transfer_without_reference_has_no_remittance(window):
    window.export()
    assert window.pacs("t2").find(".//p:RmtInf", NS_PACS) is None


def test_exports__a_jpy_amount_has_no_decimals(window):
    window.export()
    assert window.pacs("t5").findtext(".//p:IntrBkSttlmAmt", namespaces=NS_PACS) == "1500"
    entry = entry_for(window.camt("bank-e").find("c:BkToCstmrStmt/c:Stmt", NS_CAMT), window.ids["t5"])
    assert entry.findtext("c:Amt", namespaces=NS_CAMT) == "1500"
    (bank_d,) = [row for row in window.csv_rows() if row["bank_id"] == "bank-d"]
    assert (bank_d["debits"], bank_d["opening_position"], bank_d["closing_position"]) == ("1500", "700", "2200")


# --- the CSV report -------------------------------------------------------------------


def test_settlement_csv__one_row_per_bank_and_nets_sum_to_zero(window):
    window.export()
    rows = window.csv_rows()
    bank_rows = [row for row in rows if row["row"] == "bank"]
    assert sorted(row["bank_id"] for row in bank_rows) == sorted(CURRENCIES)
    for currency in ("EUR", "JPY"):
        assert sum(int(row["net_minor"]) for row in bank_rows if row["currency"] == currency) == 0
    for row in bank_rows:
        assert int(row["net_minor"]) == int(row["credits_minor"]) - int(row["debits_minor"])
        assert int(row["closing_position_minor"]) == int(row["opening_position_minor"]) - int(row["net_minor"])
        assert row["window_id"] == "1"
    (bank_a,) = [row for row in bank_rows if row["bank_id"] == "bank-a"]
    assert (bank_a["debits"], bank_a["credits"], bank_a["net"], bank_a["net_minor"]) == (
        "121.99", "10.00", "-111.99", "-11199")
    assert (bank_a["opening_position"], bank_a["closing_position"]) == ("50.00", "161.99")


def test_settlement_csv__totals_give_gross_net_and_liquidity_saving(window):
    window.export()
    totals = {row["currency"]: row for row in window.csv_rows() if row["row"] == "total"}
    eur = totals["EUR"]
    # Gross 162.49; positive nets: bank-b 89.50 + bank-c 22.49 = 111.99; saving 50.50 / 162.49.
    assert (eur["gross"], eur["gross_minor"], eur["net_total"], eur["net_total_minor"]) == (
        "162.49", "16249", "111.99", "11199")
    assert (eur["debits_minor"], eur["credits_minor"], eur["net_minor"]) == ("16249", "16249", "0")
    assert eur["liquidity_saving_pct"] == "31.08"
    assert (totals["JPY"]["gross"], totals["JPY"]["liquidity_saving_pct"]) == ("1500", "0.00")


def test_liquidity_saving_pct__an_empty_window_saves_nothing():
    assert str(netting.liquidity_saving_pct(gross_minor=0, net_total_minor=0)) == "0.00"
    assert str(netting.liquidity_saving_pct(gross_minor=3, net_total_minor=1)) == "66.67"


# --- export_window --------------------------------------------------------------------


def test_export_window__writes_the_files_and_returns_their_paths(window):
    paths = window.export()
    committed = [window.ids[t[0]] for t in TRANSFERS]
    moved = set(CURRENCIES) - {"bank-f"}   # bank-f paid and was paid nothing: no status report.
    expected = ({window.out_dir / f"camt053-{bank_id}-w1.xml" for bank_id in CURRENCIES}
                | {window.out_dir / f"pacs008-{transfer_id}.xml" for transfer_id in committed}
                | {window.out_dir / f"pacs002-{bank_id}-w1.xml" for bank_id in moved}
                | {window.out_dir / "settlement-w1.csv"})
    assert len(paths) == len(expected) and set(paths) == expected
    assert set(window.out_dir.iterdir()) == expected  # No partial files left behind.


def test_export_window__leaves_out_aborted_transfers_and_other_windows(window):
    window.export()
    for name in ("aborted", "next-window"):
        assert not (window.out_dir / f"pacs008-{window.ids[name]}.xml").exists()
        for bank_id in ("bank-a", "bank-b"):
            assert window.ids[name] not in (window.out_dir / f"camt053-{bank_id}-w1.xml").read_text()


def test_export_window__the_same_window_exports_the_same_bytes(window, tmp_path):
    window.export()
    first = {path.name: path.read_bytes() for path in window.out_dir.iterdir()}
    again = exports.export_window(window.store, WINDOW, tmp_path / "again", created_at_ms=CREATED_AT_MS)
    assert {path.name: path.read_bytes() for path in again} == first


@pytest.mark.parametrize("window_id, code", [
    (2, rc.RESULT_CODE_WINDOW_STATE_INVALID),  # Still open: no report, no fixed nets.
    (99, rc.RESULT_CODE_WINDOW_NOT_FOUND),
])
def test_export_window__a_window_without_a_report_is_refused(window, window_id, code):
    with pytest.raises(FedmallError) as raised:
        exports.export_window(window.store, window_id, window.out_dir, created_at_ms=CREATED_AT_MS)
    assert raised.value.code == code
    assert not window.out_dir.exists()


def test_export_window__an_account_too_long_for_iso_is_refused_before_any_file(window):
    long_account = "x" * 35  # Our limit is 64; ISO's Max34Text is 34.
    transfer_id = window.add_transfer("bank-a", "bank-b", 5, "EUR", "", committed_at_ms=OPENED_AT_MS + 30_000)
    with window.store.write() as connection:
        stored = sa.select(transfers.c.prepare_bytes).where(transfers.c.transfer_id == transfer_id)
        prepare = transfer_pb2.Prepare.FromString(connection.execute(stored).scalar_one())
        prepare.payee_account = long_account
        connection.execute(sa.update(transfers).where(transfers.c.transfer_id == transfer_id).values(
            prepare_bytes=prepare.SerializeToString(deterministic=True)))
    window.add_nets(WINDOW)
    with pytest.raises(FedmallError) as raised:
        window.export()
    assert raised.value.code == rc.RESULT_CODE_INVALID_FIELD
    assert long_account in str(raised.value)
    assert not window.out_dir.exists()


def test_iso_datetime__utc_with_milliseconds():
    assert iso20022.iso_datetime(1_795_000_000_123) == "2026-11-18T11:06:40.123+00:00"
    assert iso20022.iso_date(1_795_000_000_123) == "2026-11-18"
    last_ms_of_the_day = 1_795_046_400_000 - 1
    assert iso20022.iso_date(last_ms_of_the_day) == "2026-11-18"
    assert iso20022.iso_date(last_ms_of_the_day + 1) == "2026-11-19"


def test_pacs008__the_schema_refuses_the_36_character_id_so_ids_are_compacted(window, pacs_schema):
    """Why EndToEndId is the UUID's 32 hex digits: the id as stored breaks Max35Text."""
    window.export()
    root = window.pacs("t1")
    root.find(".//p:EndToEndId", NS_PACS).text = window.ids["t1"]
    assert not pacs_schema.validate(root)


def test_camt053__a_member_in_two_currencies_gets_one_statement_per_currency(camt_schema):
    window = iso20022.Window(window_id=7, state=settlement_pb2.WINDOW_STATE_PENDING_SETTLEMENT,
                             opened_at_ms=OPENED_AT_MS, closed_at_ms=CLOSED_AT_MS, settled_at_ms=None)
    euro = iso20022.Transfer(transfer_id=str(uuid.uuid4()), payer_bank_id="bank-a", payee_bank_id="bank-b",
                             payee_account="acct-b-1", amount_minor=250, currency="EUR", reference="",
                             committed_at_ms=OPENED_AT_MS + 1)
    yen = iso20022.Transfer(transfer_id=str(uuid.uuid4()), payer_bank_id="bank-b", payee_bank_id="bank-a",
                            payee_account="acct-a-1", amount_minor=90, currency="JPY", reference="yen",
                            committed_at_ms=OPENED_AT_MS + 2)
    nets = [iso20022.Net("bank-a", "JPY", debits_minor=0, credits_minor=90, net_minor=90, opening_position_minor=0),
            iso20022.Net("bank-a", "EUR", debits_minor=250, credits_minor=0, net_minor=-250, opening_position_minor=0)]
    root = etree.fromstring(iso20022.camt053_statement(
        window=window, member=iso20022.Member("bank-a", "Bank A"), nets=nets, transfers=[euro, yen],
        created_at_ms=CREATED_AT_MS))
    camt_schema.assertValid(root)
    statements = root.findall("c:BkToCstmrStmt/c:Stmt", NS_CAMT)
    assert [s.findtext("c:Acct/c:Ccy", namespaces=NS_CAMT) for s in statements] == ["EUR", "JPY"]
    assert [len(entries(s)) for s in statements] == [1, 1]
    assert [signed_balance(s, "CLBD") for s in statements] == [Decimal("-2.50"), Decimal("90")]


# --- a window the clearing netted itself ----------------------------------------------


def test_exports__of_a_window_the_clearing_netted_itself_agree_with_its_transfers(world, tmp_path, camt_schema,
                                                                                   pacs_schema, status_schema):
    paid = [("bank-a", "bank-b", 12_000), ("bank-b", "bank-c", 3_050), ("bank-c", "bank-a", 1_000),
            ("bank-a", "bank-c", 199), ("bank-b", "bank-a", 5)]
    ids = [commit(world, payer, payee, amount_minor) for payer, payee, amount_minor in paid]
    window_id = close(world)
    commit(world, "bank-a", "bank-b", 777)   # In the next window: in no export of this one.
    out_dir = tmp_path / "exports"
    exports.export_window(world.clearing.store, window_id, out_dir, created_at_ms=CREATED_AT_MS)

    expected: dict[str, list[int]] = {bank_id: [0, 0] for bank_id in ("bank-a", "bank-b", "bank-c")}
    for payer, payee, amount_minor in paid:
        expected[payer][0] += amount_minor
        expected[payee][1] += amount_minor
    rows = list(csv.DictReader(io.StringIO((out_dir / f"settlement-w{window_id}.csv").read_text(), newline="")))
    by_bank = {row["bank_id"]: row for row in rows if row["row"] == "bank"}
    assert {bank_id: [int(row["debits_minor"]), int(row["credits_minor"])] for bank_id, row in by_bank.items()} \
        == expected
    assert {bank_id: int(row["net_minor"]) for bank_id, row in by_bank.items()} == {
        bank_id: credits - debits for bank_id, (debits, credits) in expected.items()}
    assert sum(int(row["net_minor"]) for row in by_bank.values()) == 0
    assert sorted(path.name for path in out_dir.glob("pacs008-*.xml")) == sorted(
        f"pacs008-{transfer_id}.xml" for transfer_id in ids)
    for bank_id, (debits, credits) in expected.items():
        statement = etree.parse(str(out_dir / f"camt053-{bank_id}-w{window_id}.xml")).getroot()
        camt_schema.assertValid(statement)
        booked = statement.find(f"{CAMT}BkToCstmrStmt/{CAMT}Stmt")
        moved = sum(1 for payer, payee, _ in paid if bank_id in (payer, payee))
        assert len(entries(booked)) == moved
        assert signed_balance(booked, "CLBD") - signed_balance(booked, "OPBD") == Decimal(credits - debits) / 100
    for path in out_dir.glob("pacs008-*.xml"):
        pacs_schema.assertValid(etree.parse(str(path)))
    reports = sorted(out_dir.glob("pacs002-*.xml"))
    assert [path.name for path in reports] == [f"pacs002-{bank_id}-w{window_id}.xml" for bank_id in sorted(expected)]
    for path in reports:
        status_schema.assertValid(etree.parse(str(path)))
