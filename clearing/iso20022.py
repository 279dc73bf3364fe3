"""ISO 20022 messages for a settlement window: pure functions, values in, XML bytes out.

- ``camt053_statement``: a ``camt.053.001.08`` BankToCustomerStatement of one member's
  accounts at the clearing for the window, per currency: its *position* account
  (``Acct/Tp/Prtry`` POSITION: what it owes or is owed through the clearing) and, from
  its signed statement, its *liquidity* account (LIQUIDITY: its prefunded settlement
  money).
- ``pacs008_transfer``: a ``pacs.008.001.08`` FIToFICustomerCreditTransfer for one
  committed transfer, settled through the clearing (SttlmMtd ``CLRG``): the customers as
  debtor and creditor (as far as the payer bank shared them), the banks as agents.
- ``pacs004_return``: a ``pacs.004.001.09`` PaymentReturn for a committed return (a
  transfer naming its original), referencing the original's pacs.008.
- ``pacs002_status_report``: a ``pacs.002.001.10`` FIToFIPaymentStatusReport of one member's
  transfers decided in the window: committed (ACSP, ACSC once settled) or rejected (RJCT).

All four are checked against the official schemas in tests/schemas (see its README);
docs/iso20022.md maps every element.

Signs. The clearing keeps a *position* per bank: positive means the bank owes the other
members. The statement shows the same thing from the account owner's side: a position
owed by the bank is a debit balance (``CdtDbtInd DBIT``), a position in its favour (or
zero) a credit balance (``CRDT``); the amount is always the absolute value, as ISO 20022
amounts cannot be negative. An outgoing transfer (the bank paid) is a ``DBIT`` entry, an
incoming one (the bank was paid) a ``CRDT`` entry. So, as signed balances with credit
positive:

    closing = opening + credits - debits     (= -(opening_position - net))

Chaining. Each account's opening balance is the closing balance of the member's previous
statement. The liquidity movements stamped with the window (clearing.movements) explain
every change between windows: funds in and out are entries on the liquidity account;
the settlement of an earlier window is an entry on both, moving the settled net from the
position account (which it brings back towards zero) to the liquidity account. They
carry proprietary bank transaction codes FUNDS_IN, FUNDS_OUT and SETTLEMENT (issuer
FEDMALL), the movement id as ``NtryRef`` and the payment they record in ``AddtlNtryInf``.

Identifiers. Transfer ids are 36-character UUIDs, one longer than ISO's ``Max35Text``,
so ``EndToEndId``, ``InstrId``, ``TxId`` and ``MsgId`` carry the UUID's 32 hex digits
without hyphens. ``UETR`` is the one the payer bank drew for the transfer (Prepare.uetr); a
transfer signed before UETRs gets its id when that is a version 4 UUID and none otherwise,
as the schema's ``UUIDv4Identifier`` pattern demands. A bank is identified as
``FinInstnId/Othr/Id`` = bank id with ``Issr`` FEDMALL, and its settlement account at the
clearing as ``Acct/Id/Othr/Id`` = bank id; a statement's ``Stmt/Id`` names member, window,
currency and account (``statement_id``). A bank id or account too long for ISO's fields
(35 and 34 characters) is refused with ``INVALID_FIELD`` rather than cut, since a shortened
id would name someone else.

Times are UTC: ``ISODateTime`` as ``2026-11-28T12:10:59.123+00:00``, dates (booking,
value, interbank settlement) are the UTC date of the commit.
"""
from __future__ import annotations

import datetime
import hashlib
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Callable, Sequence

from fedmall import identifiers, limits, money
from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc

CAMT053_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
PACS008_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"
PACS004_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pacs.004.001.09"
PACS002_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"
PACS008_MESSAGE_NAME = "pacs.008.001.08"
PACS004_MESSAGE_NAME = "pacs.004.001.09"
CLEARING_NAME = "Fedmall clearing"

# Issuer of the proprietary identifiers (bank ids, settlement accounts) and clearing system.
ISSUER = "FEDMALL"

# Field lengths of the ISO 20022 types used here.
max35_length = 35
max34_length = 34  # Max34Text: GenericAccountIdentification1/Id.
max105_length = 105
max140_length = 140
# ActiveOrHistoricCurrencyAndAmount and DecimalNumber: totalDigits 18. An amount of at
# most 18 digits in minor units has at most 18 digits as a decimal. fedmall.limits sizes
# every amount and total written here to fit (camt053_position_minor_max and
# camt053_liquidity_minor_max), so _decimal refusing one is a bug of ours or of those bounds.
amount_digits_max = 18
assert 10**amount_digits_max - 1 == limits.iso20022_amount_minor_max

# Bank transaction codes (ISO external code list): Payments / issued or received credit
# transfer / ACH transaction, the family for transfers cleared through a clearing house.
DOMAIN_PAYMENTS = "PMNT"
FAMILY_ISSUED_CREDIT_TRANSFER = "ICDT"
FAMILY_RECEIVED_CREDIT_TRANSFER = "RCDT"
SUBFAMILY_ACH_TRANSACTION = "ATXN"
SUBFAMILY_RETURN = "RRTN"  # Reversal due to payment return: a return's entry.
# A return's reason (RtrRsnInf/Rsn/Prtry): the payee bank gave the money back; its words, the
# return's reference, follow in AddtlInf.
RETURN_REASON = "RETURNED_BY_PAYEE_BANK"

CREDIT = "CRDT"
DEBIT = "DBIT"

# Kinds of liquidity movement, as proprietary bank transaction codes (issuer FEDMALL).
FUNDS_IN, FUNDS_OUT, SETTLEMENT = "FUNDS_IN", "FUNDS_OUT", "SETTLEMENT"


@dataclass(frozen=True, slots=True)
class Member:
    bank_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Window:
    window_id: int
    state: int
    opened_at_ms: int
    closed_at_ms: int
    settled_at_ms: int | None


@dataclass(frozen=True, slots=True)
class Net:
    """One bank's movement in one currency in a window (a row of window_nets)."""

    bank_id: str
    currency: str
    debits_minor: int
    credits_minor: int
    net_minor: int
    # The bank's clearing position before the window; positive: it owes.
    opening_position_minor: int

    @property
    def closing_position_minor(self) -> int:
        # Debits raise what the bank owes, credits lower it: opening + debits - credits.
        return self.opening_position_minor - self.net_minor


@dataclass(frozen=True, slots=True)
class Transfer:
    """A committed transfer with the terms the payer signed.

    The parties are what the payer bank chose to share (docs/architecture.md, "ISO 20022
    exports"): the debtor's name and account and the creditor's name may be empty; the
    creditor's account never is. uetr is empty only for a transfer signed before UETRs."""

    transfer_id: str
    payer_bank_id: str
    payee_bank_id: str
    payee_account: str
    amount_minor: int
    currency: str
    reference: str
    committed_at_ms: int
    uetr: str = ""
    debtor_name: str = ""
    debtor_account: str = ""
    creditor_name: str = ""
    # A return: the transfer it gives money back for ("" for an ordinary transfer).
    original_transfer_id: str = ""

    @property
    def is_return(self) -> bool:
        return bool(self.original_transfer_id)


# Transaction statuses of a pacs.002 (ExternalPaymentTransactionStatus1Code).
SETTLEMENT_IN_PROCESS = "ACSP"  # Committed at the clearing; its window not settled yet.
SETTLEMENT_COMPLETED = "ACSC"   # Committed, and its window settled against the members' liquidity.
REJECTED = "RJCT"               # Aborted: the payee bank rejected it, or it expired.


@dataclass(frozen=True, slots=True)
class TransferStatus:
    """How one transfer ended, for its pacs.002: COMMITTED (in a window settled or not) or
    ABORTED with the reason's name (a ResultCode without its prefix) and the time of the
    decision."""

    transfer: Transfer
    committed: bool
    reason: str
    decided_at_ms: int


@dataclass(frozen=True, slots=True)
class Movement:
    """A change of the bank's prefunded liquidity listed on its statement (clearing.movements)."""

    movement_id: str
    kind: str            # FUNDS_IN, FUNDS_OUT or SETTLEMENT
    change_minor: int    # What it did to the liquidity: positive, it went up.
    currency: str
    recorded_at_ms: int
    external_reference: str


@dataclass(frozen=True, slots=True)
class Liquidity:
    """The bank's liquidity account for the window, as its signed statement has it."""

    currency: str
    opening_minor: int
    closing_minor: int
    movements: tuple[Movement, ...]

    @property
    def settled_minor(self) -> int:
        return sum(m.change_minor for m in self.movements if m.kind == SETTLEMENT)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One Ntry: its signed effect on the account's balance, when, and how to write the rest."""

    amount_minor: int
    direction: str
    at_ms: int
    write: Callable[[ET.Element], None]


# --- camt.053 -------------------------------------------------------------------------


def camt053_statement(
    *, window: Window, member: Member, nets: Sequence[Net], transfers: Sequence[Transfer], created_at_ms: int,
    liquidity: Sequence[Liquidity] = (),
) -> bytes:
    """The member's statement for the window: per currency, its position account and (when
    its signed statement lists one) its liquidity account.

    ``nets`` are the member's rows for the window, ``transfers`` every committed transfer
    of the window in which the member is payer or payee, ``liquidity`` its liquidity per
    currency from its signed statement.
    """
    assert all(net.bank_id == member.bank_id for net in nets)
    liquidity_by_currency = {account.currency: account for account in liquidity}
    document = ET.Element("Document", xmlns=CAMT053_NAMESPACE)
    message = _sub(document, "BkToCstmrStmt")
    header = _sub(message, "GrpHdr")
    _sub(header, "MsgId", _message_id("C053", f"W{window.window_id}", member.bank_id))
    _sub(header, "CreDtTm", iso_datetime(created_at_ms))
    for net in sorted(nets, key=lambda net: net.currency):
        in_currency = [t for t in transfers if t.currency == net.currency]
        account = liquidity_by_currency.get(net.currency)
        _position_statement(message, window=window, member=member, net=net, transfers=in_currency,
                            liquidity=account, created_at_ms=created_at_ms)
        if account is not None:
            _liquidity_statement(message, window=window, member=member, liquidity=account,
                                 created_at_ms=created_at_ms)
    return _serialise(document)


def _position_statement(
    parent: ET.Element, *, window: Window, member: Member, net: Net, transfers: Sequence[Transfer],
    liquidity: Liquidity | None, created_at_ms: int,
) -> None:
    """The position account: it opens where the last statement closed, then the settlements of
    earlier windows move it (the other side of each is on the liquidity account), then the
    window's transfers."""
    bank_id = member.bank_id
    ordered = sorted(transfers, key=lambda t: (t.committed_at_ms, t.transfer_id))
    debits = [t for t in ordered if t.payer_bank_id == bank_id]
    credits = [t for t in ordered if t.payee_bank_id == bank_id]
    # The window's fixed nets were computed from these same transfers: a difference is our bug.
    assert len(debits) + len(credits) == len(ordered), "a transfer on a statement not of its member"
    assert sum(t.amount_minor for t in debits) == net.debits_minor, (bank_id, net.currency, "debits")
    assert sum(t.amount_minor for t in credits) == net.credits_minor, (bank_id, net.currency, "credits")
    assert net.net_minor == net.credits_minor - net.debits_minor, (bank_id, net.currency, "net")

    settlements = [m for m in liquidity.movements if m.kind == SETTLEMENT] if liquidity else []
    settled_minor = sum(m.change_minor for m in settlements)
    entries = [_movement_entry(m, change_minor=-m.change_minor) for m in settlements] + [
        _Entry(t.amount_minor, CREDIT if t.payee_bank_id == bank_id else DEBIT, t.committed_at_ms,
               lambda element, t=t: _transfer_entry(element, t, incoming=t.payee_bank_id == bank_id))
        for t in ordered]
    # A position owed by the bank is a debit balance: balance = -position.
    _account_statement(parent, window=window, member=member, currency=net.currency, account_type="POSITION",
                       opening_minor=settled_minor - net.opening_position_minor,
                       closing_minor=-net.closing_position_minor, entries=entries, created_at_ms=created_at_ms)


def _liquidity_statement(parent: ET.Element, *, window: Window, member: Member, liquidity: Liquidity,
                         created_at_ms: int) -> None:
    """The liquidity account: funds in and out, and the settlements, as they changed it."""
    entries = [_movement_entry(m, change_minor=m.change_minor) for m in liquidity.movements]
    _account_statement(parent, window=window, member=member, currency=liquidity.currency, account_type="LIQUIDITY",
                       opening_minor=liquidity.opening_minor, closing_minor=liquidity.closing_minor,
                       entries=entries, created_at_ms=created_at_ms)


def _account_statement(
    parent: ET.Element, *, window: Window, member: Member, currency: str, account_type: str, opening_minor: int,
    closing_minor: int, entries: Sequence[_Entry], created_at_ms: int,
) -> None:
    """One Stmt: balances as signed amounts (credit positive), the summary, the entries."""
    signed = [entry.amount_minor if entry.direction == CREDIT else -entry.amount_minor for entry in entries]
    assert opening_minor + sum(signed) == closing_minor, (member.bank_id, currency, account_type)
    bank_id = member.bank_id
    statement = _sub(parent, "Stmt")
    # Unique across members, windows, currencies and accounts (every member's used to be the same).
    _sub(statement, "Id", statement_id(bank_id=bank_id, window_id=window.window_id, currency=currency,
                                       account_type=account_type))
    _sub(statement, "ElctrncSeqNb", str(window.window_id))
    _sub(statement, "CreDtTm", iso_datetime(created_at_ms))
    period = _sub(statement, "FrToDt")
    _sub(period, "FrDtTm", iso_datetime(window.opened_at_ms))
    _sub(period, "ToDtTm", iso_datetime(window.closed_at_ms))
    account = _sub(statement, "Acct")
    _account_id(account, bank_id)
    _sub(_sub(account, "Tp"), "Prtry", account_type)
    _sub(account, "Ccy", currency)
    owner = _sub(account, "Ownr")
    _optional_text(owner, "Nm", member.name, max140_length)
    _organisation_id(owner, bank_id)
    servicer = _sub(_sub(account, "Svcr"), "FinInstnId")
    _sub(servicer, "Nm", "Fedmall clearing")

    _balance(statement, "OPBD", opening_minor, currency, window.opened_at_ms)
    _balance(statement, "CLBD", closing_minor, currency, window.closed_at_ms)

    summary = _sub(statement, "TxsSummry")
    total = _sub(summary, "TtlNtries")
    _sub(total, "NbOfNtries", str(len(entries)))
    _sub(total, "Sum", _decimal(sum(entry.amount_minor for entry in entries), currency))
    total_net = _sub(total, "TtlNetNtry")
    _sub(total_net, "Amt", _decimal(abs(sum(signed)), currency))
    _sub(total_net, "CdtDbtInd", CREDIT if sum(signed) >= 0 else DEBIT)
    for tag, direction in (("TtlCdtNtries", CREDIT), ("TtlDbtNtries", DEBIT)):
        items = [entry for entry in entries if entry.direction == direction]
        totals = _sub(summary, tag)
        _sub(totals, "NbOfNtries", str(len(items)))
        _sub(totals, "Sum", _decimal(sum(entry.amount_minor for entry in items), currency))

    for entry in entries:
        element = _sub(statement, "Ntry")
        entry.write(element)


def statement_id(*, bank_id: str, window_id: int, currency: str, account_type: str) -> str:
    """The Stmt/Id of one member's account for one window: "<bank>-W<window>-<currency>-POS" or
    "-LIQ", or when that is longer than Max35Text its head and a hash of the whole."""
    return _message_id(bank_id, f"W{window_id}", currency, account_type[:3])


def _movement_entry(movement: Movement, *, change_minor: int) -> _Entry:
    """A liquidity movement as an entry that changed an account's balance by change_minor."""
    direction = CREDIT if change_minor > 0 else DEBIT

    def write(entry: ET.Element) -> None:
        reference = _message_id(*movement.movement_id.split(":"))
        _sub(entry, "NtryRef", reference)
        _amount(entry, "Amt", abs(change_minor), movement.currency)
        _sub(entry, "CdtDbtInd", direction)
        _sub(_sub(entry, "Sts"), "Cd", "BOOK")
        _sub(_sub(entry, "BookgDt"), "DtTm", iso_datetime(movement.recorded_at_ms))
        _sub(_sub(entry, "ValDt"), "Dt", iso_date(movement.recorded_at_ms))
        _sub(entry, "AcctSvcrRef", reference)
        code = _sub(_sub(entry, "BkTxCd"), "Prtry")
        _sub(code, "Cd", movement.kind)
        _sub(code, "Issr", ISSUER)
        _optional_text(entry, "AddtlNtryInf", movement.external_reference, max140_length)

    return _Entry(abs(change_minor), direction, movement.recorded_at_ms, write)


def _balance(parent: ET.Element, code: str, balance_minor: int, currency: str, at_ms: int) -> None:
    balance = _sub(parent, "Bal")
    _sub(_sub(_sub(balance, "Tp"), "CdOrPrtry"), "Cd", code)
    _amount(balance, "Amt", abs(balance_minor), currency)
    _sub(balance, "CdtDbtInd", CREDIT if balance_minor >= 0 else DEBIT)
    _sub(_sub(balance, "Dt"), "DtTm", iso_datetime(at_ms))


def _transfer_entry(entry: ET.Element, transfer: Transfer, *, incoming: bool) -> None:
    direction = CREDIT if incoming else DEBIT
    compact_id = compact_transfer_id(transfer.transfer_id)
    _sub(entry, "NtryRef", compact_id)
    _amount(entry, "Amt", transfer.amount_minor, transfer.currency)
    _sub(entry, "CdtDbtInd", direction)
    _sub(_sub(entry, "Sts"), "Cd", "BOOK")
    _sub(_sub(entry, "BookgDt"), "DtTm", iso_datetime(transfer.committed_at_ms))
    _sub(_sub(entry, "ValDt"), "Dt", iso_date(transfer.committed_at_ms))
    _sub(entry, "AcctSvcrRef", compact_id)
    domain = _sub(_sub(entry, "BkTxCd"), "Domn")
    _sub(domain, "Cd", DOMAIN_PAYMENTS)
    family = _sub(domain, "Fmly")
    _sub(family, "Cd", FAMILY_RECEIVED_CREDIT_TRANSFER if incoming else FAMILY_ISSUED_CREDIT_TRANSFER)
    _sub(family, "SubFmlyCd", SUBFAMILY_RETURN if transfer.is_return else SUBFAMILY_ACH_TRANSACTION)

    details = _sub(_sub(entry, "NtryDtls"), "TxDtls")
    _references(_sub(details, "Refs"), transfer)
    _amount(details, "Amt", transfer.amount_minor, transfer.currency)
    _sub(details, "CdtDbtInd", direction)
    parties = _sub(details, "RltdPties")
    if transfer.debtor_name:
        _party_name(_sub(_sub(parties, "Dbtr"), "Pty"), transfer.debtor_name)
    if transfer.debtor_account:
        _account_id(_sub(parties, "DbtrAcct"), transfer.debtor_account)
    if transfer.creditor_name:
        _party_name(_sub(_sub(parties, "Cdtr"), "Pty"), transfer.creditor_name)
    creditor_account = _sub(parties, "CdtrAcct")
    _account_id(creditor_account, transfer.payee_account)
    agents = _sub(details, "RltdAgts")
    _agent(agents, "DbtrAgt", transfer.payer_bank_id)
    _agent(agents, "CdtrAgt", transfer.payee_bank_id)
    _remittance(details, transfer.reference)


def _references(refs: ET.Element, transfer: Transfer) -> None:
    compact_id = compact_transfer_id(transfer.transfer_id)
    _sub(refs, "InstrId", compact_id)
    _sub(refs, "EndToEndId", compact_id)
    uetr = uetr_of(transfer)
    if uetr is not None:
        _sub(refs, "UETR", uetr)
    _sub(refs, "TxId", compact_id)


# --- pacs.008 -------------------------------------------------------------------------


def pacs008_transfer(transfer: Transfer, *, payer: Member, payee: Member, created_at_ms: int) -> bytes:
    """One committed transfer as the credit transfer the clearing settled (method CLRG).

    Debtor and creditor are the customers, as far as the payer bank shared them: Dbtr/Nm
    and DbtrAcct from the Prepare's debtor fields, Cdtr/Nm from the name the payee bank
    quoted, CdtrAcct the payee account; the banks are the agents (DbtrAgt, CdtrAgt, and the
    instructing and instructed agents). A party nothing was shared of is an empty Dbtr or
    Cdtr, which the schema allows: it is known by its account at its agent.
    """
    assert payer.bank_id == transfer.payer_bank_id and payee.bank_id == transfer.payee_bank_id
    compact_id = compact_transfer_id(transfer.transfer_id)
    document, message = _settled_message(PACS008_NAMESPACE, "FIToFICstmrCdtTrf", compact_id, created_at_ms)
    transaction = _sub(message, "CdtTrfTxInf")
    _transaction_ids(_sub(transaction, "PmtId"), transfer)
    _amount(transaction, "IntrBkSttlmAmt", transfer.amount_minor, transfer.currency)
    _sub(transaction, "IntrBkSttlmDt", iso_date(transfer.committed_at_ms))
    _sub(transaction, "AccptncDtTm", iso_datetime(transfer.committed_at_ms))
    _sub(transaction, "ChrgBr", "SLEV")
    _agent(transaction, "InstgAgt", payer.bank_id)
    _agent(transaction, "InstdAgt", payee.bank_id)
    _party_name(_sub(transaction, "Dbtr"), transfer.debtor_name)
    if transfer.debtor_account:
        _account_id(_sub(transaction, "DbtrAcct"), transfer.debtor_account)
    _agent(transaction, "DbtrAgt", payer.bank_id, name=payer.name)
    _agent(transaction, "CdtrAgt", payee.bank_id, name=payee.name)
    _party_name(_sub(transaction, "Cdtr"), transfer.creditor_name)
    _account_id(_sub(transaction, "CdtrAcct"), transfer.payee_account)
    _remittance(transaction, transfer.reference)
    return _serialise(document)


# --- pacs.004 -------------------------------------------------------------------------


def pacs004_return(transfer: Transfer, *, original: Transfer, payer: Member, payee: Member,
                   created_at_ms: int) -> bytes:
    """A committed return as the PaymentReturn of the original credit transfer (method CLRG).

    The original is named as its pacs.008 names it: OrgnlGrpInf (its MsgId and message
    name), OrgnlInstrId, OrgnlEndToEndId, OrgnlTxId, OrgnlUETR, its amount and settlement
    date; OrgnlTxRef repeats its parties and remittance. RtrChain carries the return's own
    parties: its debtor is the original creditor, its creditor the original debtor.
    """
    assert transfer.original_transfer_id == original.transfer_id, (transfer.transfer_id, original.transfer_id)
    assert (original.payer_bank_id, original.payee_bank_id) == (transfer.payee_bank_id, transfer.payer_bank_id)
    assert payer.bank_id == transfer.payer_bank_id and payee.bank_id == transfer.payee_bank_id
    compact_id = compact_transfer_id(transfer.transfer_id)
    document, message = _settled_message(PACS004_NAMESPACE, "PmtRtr", compact_id, created_at_ms)
    returned = _sub(message, "TxInf")
    _sub(returned, "RtrId", compact_id)
    _original_ids(returned, original)
    _amount(returned, "OrgnlIntrBkSttlmAmt", original.amount_minor, original.currency)
    _sub(returned, "OrgnlIntrBkSttlmDt", iso_date(original.committed_at_ms))
    _amount(returned, "RtrdIntrBkSttlmAmt", transfer.amount_minor, transfer.currency)
    _sub(returned, "IntrBkSttlmDt", iso_date(transfer.committed_at_ms))
    _sub(returned, "ChrgBr", "SLEV")
    _agent(returned, "InstgAgt", payer.bank_id)
    _agent(returned, "InstdAgt", payee.bank_id)
    chain = _sub(returned, "RtrChain")
    _party_name(_sub(_sub(chain, "Dbtr"), "Pty"), transfer.debtor_name)
    _agent(chain, "DbtrAgt", payer.bank_id, name=payer.name)
    _agent(chain, "CdtrAgt", payee.bank_id, name=payee.name)
    _party_name(_sub(_sub(chain, "Cdtr"), "Pty"), transfer.creditor_name)
    reason = _sub(returned, "RtrRsnInf")
    _sub(_sub(reason, "Rsn"), "Prtry", RETURN_REASON)
    _optional_text(reason, "AddtlInf", transfer.reference, max105_length)

    reference = _sub(returned, "OrgnlTxRef")
    _amount(reference, "IntrBkSttlmAmt", original.amount_minor, original.currency)
    _sub(reference, "IntrBkSttlmDt", iso_date(original.committed_at_ms))
    _remittance(reference, original.reference)
    if original.debtor_name:
        _party_name(_sub(_sub(reference, "Dbtr"), "Pty"), original.debtor_name)
    if original.debtor_account:
        _account_id(_sub(reference, "DbtrAcct"), original.debtor_account)
    _agent(reference, "DbtrAgt", original.payer_bank_id)
    _agent(reference, "CdtrAgt", original.payee_bank_id)
    if original.creditor_name:
        _party_name(_sub(_sub(reference, "Cdtr"), "Pty"), original.creditor_name)
    _account_id(_sub(reference, "CdtrAcct"), original.payee_account)
    return _serialise(document)


# --- pacs.002 -------------------------------------------------------------------------


def pacs002_status_report(*, window: Window, member: Member, statuses: Sequence[TransferStatus],
                          members: dict[str, Member], created_at_ms: int) -> bytes:
    """The member's status report for the window: one TxInfAndSts per transfer it paid or was
    paid that was decided while the window was open. Committed: ACSP, or ACSC once the window
    settled (with the settlement date); aborted: RJCT with the reason as a proprietary code
    (PAYEE_REJECTED from the payee bank, EXPIRED from the clearing). Each names its original
    message (the pacs.008, or for a return the pacs.004) by the ids those carry."""
    assert all(member.bank_id in (s.transfer.payer_bank_id, s.transfer.payee_bank_id) for s in statuses)
    document = ET.Element("Document", xmlns=PACS002_NAMESPACE)
    message = _sub(document, "FIToFIPmtStsRpt")
    header = _sub(message, "GrpHdr")
    _sub(header, "MsgId", _message_id("P002", f"W{window.window_id}", member.bank_id))
    _sub(header, "CreDtTm", iso_datetime(created_at_ms))
    _sub(_sub(_sub(header, "InstgAgt"), "FinInstnId"), "Nm", CLEARING_NAME)
    _agent(header, "InstdAgt", member.bank_id, name=member.name)
    for status in sorted(statuses, key=lambda s: (s.decided_at_ms, s.transfer.transfer_id)):
        _transaction_status(message, status, window=window, members=members)
    return _serialise(document)


def _transaction_status(parent: ET.Element, status: TransferStatus, *, window: Window,
                        members: dict[str, Member]) -> None:
    transfer = status.transfer
    compact_id = compact_transfer_id(transfer.transfer_id)
    item = _sub(parent, "TxInfAndSts")
    _sub(item, "StsId", compact_id)
    _original_ids(item, transfer)
    settled = status.committed and window.settled_at_ms is not None
    if not status.committed:
        _sub(item, "TxSts", REJECTED)
        reason = _sub(item, "StsRsnInf")
        by_payee = status.reason == "PAYEE_REJECTED"
        _optional_text(_sub(reason, "Orgtr"), "Nm",
                       members[transfer.payee_bank_id].name if by_payee else CLEARING_NAME, max140_length)
        _sub(_sub(reason, "Rsn"), "Prtry", _checked_id(status.reason, max35_length, "result code"))
    else:
        _sub(item, "TxSts", SETTLEMENT_COMPLETED if settled else SETTLEMENT_IN_PROCESS)
        _sub(item, "AccptncDtTm", iso_datetime(status.decided_at_ms))
        if settled:
            _sub(_sub(item, "FctvIntrBkSttlmDt"), "Dt", iso_date(window.settled_at_ms))
    _sub(item, "ClrSysRef", compact_id)
    _agent(item, "InstgAgt", transfer.payer_bank_id)
    _agent(item, "InstdAgt", transfer.payee_bank_id)
    reference = _sub(item, "OrgnlTxRef")
    _amount(reference, "IntrBkSttlmAmt", transfer.amount_minor, transfer.currency)
    if status.committed:
        _sub(reference, "IntrBkSttlmDt", iso_date(status.decided_at_ms))
    _remittance(reference, transfer.reference)
    if transfer.debtor_account:
        _account_id(_sub(reference, "DbtrAcct"), transfer.debtor_account)
    _agent(reference, "DbtrAgt", transfer.payer_bank_id)
    _agent(reference, "CdtrAgt", transfer.payee_bank_id)
    _account_id(_sub(reference, "CdtrAcct"), transfer.payee_account)


def _settled_message(namespace: str, tag: str, compact_id: str, created_at_ms: int) -> tuple[ET.Element, ET.Element]:
    """A Document of one transaction settled through the clearing: its message element, with the
    group header written (MsgId the compact transfer id, SttlmMtd CLRG, ClrSys FEDMALL)."""
    document = ET.Element("Document", xmlns=namespace)
    message = _sub(document, tag)
    header = _sub(message, "GrpHdr")
    _sub(header, "MsgId", compact_id)
    _sub(header, "CreDtTm", iso_datetime(created_at_ms))
    _sub(header, "NbOfTxs", "1")
    settlement = _sub(header, "SttlmInf")
    _sub(settlement, "SttlmMtd", "CLRG")
    _sub(_sub(settlement, "ClrSys"), "Prtry", ISSUER)
    return document, message


def _original_ids(parent: ET.Element, original: Transfer) -> None:
    """Names the message that carried a transfer (its pacs.008, or its pacs.004 for a return) by
    the ids that message carries: OrgnlGrpInf, OrgnlInstrId, OrgnlEndToEndId, OrgnlTxId, OrgnlUETR."""
    group = _sub(parent, "OrgnlGrpInf")
    _sub(group, "OrgnlMsgId", compact_transfer_id(original.transfer_id))
    _sub(group, "OrgnlMsgNmId", PACS004_MESSAGE_NAME if original.is_return else PACS008_MESSAGE_NAME)
    _transaction_ids(parent, original, prefix="Orgnl")


def _transaction_ids(parent: ET.Element, transfer: Transfer, *, prefix: str = "") -> None:
    """InstrId, EndToEndId, TxId (the compact id) and the UETR, in the pacs order; prefix "Orgnl"
    for the same ids naming an original."""
    compact_id = compact_transfer_id(transfer.transfer_id)
    for tag in ("InstrId", "EndToEndId", "TxId"):
        _sub(parent, prefix + tag, compact_id)
    uetr = uetr_of(transfer)
    if uetr is not None:
        _sub(parent, prefix + "UETR", uetr)


# --- identifiers, amounts, times ------------------------------------------------------


def compact_transfer_id(transfer_id: str) -> str:
    """A transfer id that fits Max35Text: a UUID's 32 hex digits, else the id as it is."""
    try:
        return uuid.UUID(transfer_id).hex
    except ValueError:
        return _checked_id(transfer_id, max35_length, "transfer id")


def uetr_of(transfer: Transfer) -> str | None:
    """The transfer's UETR: the one its payer bank generated (Prepare.uetr). A transfer signed
    before UETRs has none; then its id serves when it is a version 4 UUID, else it gets no
    UETR (the schema's UUIDv4Identifier admits nothing else)."""
    if identifiers.is_uetr(transfer.uetr):
        return transfer.uetr
    return transfer.transfer_id if identifiers.is_uetr(transfer.transfer_id) else None


def iso_datetime(at_ms: int) -> str:
    """Unix milliseconds -> '2026-11-28T12:10:59.123+00:00' (ISODateTime, UTC)."""
    seconds, milliseconds = divmod(at_ms, 1000)
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{milliseconds:03d}+00:00"


def iso_date(at_ms: int) -> str:
    """Unix milliseconds -> the UTC date, '2026-11-28' (ISODate)."""
    return datetime.datetime.fromtimestamp(at_ms // 1000, tz=datetime.timezone.utc).date().isoformat()


def _decimal(amount_minor: int, currency: str) -> str:
    if len(str(abs(amount_minor))) > amount_digits_max:
        raise FedmallError(rc.RESULT_CODE_INVALID_AMOUNT,
                           f"{amount_minor} {currency} minor units has more than {amount_digits_max} digits")
    return money.format_amount(amount_minor, currency)


def _amount(parent: ET.Element, tag: str, amount_minor: int, currency: str) -> None:
    assert amount_minor >= 0, "ISO 20022 amounts are not negative; the sign goes in CdtDbtInd"
    _sub(parent, tag, _decimal(amount_minor, currency)).set("Ccy", currency)


def _checked_id(text: str, length_max: int, what: str) -> str:
    if not 0 < len(text) <= length_max or _XML_ILLEGAL.search(text):
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD,
                           f"{what} {text!r} does not fit ISO 20022 ({length_max} characters at most)")
    return text


def _message_id(*parts: str) -> str:
    """A Max35Text message id: the parts joined, or when too long a prefix and a hash."""
    text = "-".join(parts)
    if len(text) <= max35_length:
        return text
    return f"{text[:22]}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


# --- elements -------------------------------------------------------------------------


def _agent(parent: ET.Element, tag: str, bank_id: str, *, name: str = "") -> None:
    institution = _sub(_sub(parent, tag), "FinInstnId")
    _optional_text(institution, "Nm", name, max140_length)
    other = _sub(institution, "Othr")
    _sub(other, "Id", _checked_id(bank_id, max35_length, "bank id"))
    _sub(other, "Issr", ISSUER)


def _party_name(party: ET.Element, name: str) -> None:
    """A customer as a party: its name when its bank shared one, else the element stays empty."""
    _optional_text(party, "Nm", name, max140_length)


def _organisation_id(party: ET.Element, bank_id: str) -> None:
    other = _sub(_sub(_sub(party, "Id"), "OrgId"), "Othr")
    _sub(other, "Id", _checked_id(bank_id, max35_length, "bank id"))
    _sub(other, "Issr", ISSUER)


def _account_id(account: ET.Element, account_id: str) -> None:
    other = _sub(_sub(account, "Id"), "Othr")
    _sub(other, "Id", _checked_id(account_id, max34_length, "account id"))


def _remittance(parent: ET.Element, reference: str) -> None:
    if reference:
        _sub(_sub(parent, "RmtInf"), "Ustrd", _xml_text(reference)[:max140_length])


def _optional_text(parent: ET.Element, tag: str, text: str, length_max: int) -> None:
    if text.strip():
        _sub(parent, tag, _xml_text(text)[:length_max])


# Characters XML 1.0 cannot carry at all (control characters other than tab, CR, LF; and
# U+FFFE/U+FFFF). A signed reference may hold them; they become U+FFFD in the export.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _serialise(document: ET.Element) -> bytes:
    ET.indent(document)
    return ET.tostring(document, encoding="UTF-8", xml_declaration=True) + b"\n"
