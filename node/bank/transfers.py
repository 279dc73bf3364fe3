"""Outgoing transfers (send, the outbox rows), quotes for incoming ones, and records.

Sending is phase one of the two-phase transfer, as seen from the payer bank:
validate, ask the payee bank for a condition (a quote), then in ONE transaction debit
the customer into "owed to clearing" and write the outbox row the outbox submitter
signs and sends to the clearing. Nothing is written when anything before fails.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import sqlalchemy as sa

from fedmall.database import read_connection
from fedmall import identifiers, text
from fedmall import limits as protocol
from fedmall.results import FedmallError
from fedmall.v1 import money_pb2, node_pb2, result_pb2, transfer_pb2

from node import fields, limits
from node.bank import ledger, store
from node.bank.fulfilment import FulfilmentKey
from node.errors import InvalidRequest, Refused

OK = result_pb2.RESULT_CODE_OK
EXISTS = result_pb2.RESULT_CODE_EXISTS

PENDING, SUBMITTED, COMMITTED, ABORTED = "PENDING", "SUBMITTED", "COMMITTED", "ABORTED"
ACCEPTED, REJECTED = "ACCEPTED", "REJECTED"
CONDITION_BYTES = 32


class Quoter(Protocol):
    """Asks a payee bank's node for conditions (node.peers.PeerDirectory in production)."""

    def quote(self, payee_bank_id: str, items: list[node_pb2.QuoteItem]) -> list[node_pb2.QuoteResult]: ...


@dataclass(frozen=True, slots=True)
class SendRequest:
    transfer_id: str
    from_account_id: str
    payee_bank_id: str
    payee_account_id: str
    amount_minor: int
    currency: str
    reference: str = ""
    # Who the debtor is when it is not the account the money leaves (a marketplace release leaves
    # the escrow account for the buyer), and for a return the transfer it gives money back for.
    debtor_account_id: str = ""
    original_transfer_id: str = ""


@dataclass(frozen=True, slots=True)
class Quoted:
    """A payee bank's answer to one quote item: the condition, and the creditor's name if shared."""
    condition: bytes
    creditor_name: str


@dataclass(frozen=True, slots=True)
class SendOutcome:
    result: int      # A ResultCode: OK, EXISTS, or why nothing was written.
    status: str      # The outbox status when a row exists, else "".
    field: str = ""  # For INVALID_FIELD: the request field at fault.


@dataclass(frozen=True, slots=True)
class QuoteOutcome:
    transfer_id: str
    result: int
    condition: bytes
    field: str = ""  # For INVALID_FIELD: the QuoteItem field at fault.
    creditor_name: str = ""


@dataclass(frozen=True, slots=True)
class TransferRecord:
    transfer_id: str
    direction: str   # "outgoing" or "incoming"
    status: str
    amount_minor: int
    currency: str
    counterparty_bank_id: str
    abort_reason: int
    payee_reason_code: int = 0   # Why the payee bank rejected it, when it did: its code and words.
    payee_reason: str = ""
    uetr: str = ""
    original_transfer_id: str = ""


def payee_account_problem(account, currency: str) -> int:
    """Why a payee account cannot receive money in currency (a ResultCode), or OK."""
    if account is None or account.internal:
        return result_pb2.RESULT_CODE_ACCOUNT_UNKNOWN
    if account.closed:
        return result_pb2.RESULT_CODE_ACCOUNT_CLOSED
    if account.currency != currency:
        return result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED
    return OK


def credit_problem(account, amount_minor: int) -> int:
    """Would amount_minor more take a customer account past limits.account_balance_minor_max? A
    ResultCode (INVALID_AMOUNT), or OK."""
    if account.balance_minor + amount_minor > limits.account_balance_minor_max:
        return result_pb2.RESULT_CODE_INVALID_AMOUNT
    return OK


def _same_terms(row, request: SendRequest) -> bool:
    return (row.from_account_id, row.payee_bank_id, row.payee_account_id, row.amount_minor, row.currency,
            row.reference, row.original_transfer_id) == (
        request.from_account_id, request.payee_bank_id, request.payee_account_id, request.amount_minor,
        request.currency, request.reference, request.original_transfer_id)


def shared_name(holder_name: str) -> str:
    """A holder name as it may go on a prepare or quote: cut to party_name_length_max, or "" when
    it is not text the contract allows (then the clearing would refuse the whole prepare)."""
    name = holder_name.strip()[:protocol.party_name_length_max].strip()
    return name if text.is_text(name, length_max=protocol.party_name_length_max) else ""


def _replay(row, request: SendRequest) -> SendOutcome:
    if _same_terms(row, request):
        return SendOutcome(result=EXISTS, status=row.status)
    return SendOutcome(result=result_pb2.RESULT_CODE_MODIFIED_REQUEST, status="")


def _accounts_by_id(connection: sa.Connection, account_ids: set[str], *, for_update: bool = False) -> dict:
    if not account_ids:
        return {}
    query = sa.select(store.accounts).where(store.accounts.c.account_id.in_(sorted(account_ids)))
    if for_update:
        query = store.locking_accounts_in_order(connection, query)
    return {row.account_id: row for row in connection.execute(query)}


def _outgoing_by_id(connection: sa.Connection, transfer_ids: set[str]) -> dict:
    if not transfer_ids:
        return {}
    return {row.transfer_id: row for row in connection.execute(
        sa.select(store.outgoing_transfers).where(store.outgoing_transfers.c.transfer_id.in_(sorted(transfer_ids))))}


class TransferService:
    def __init__(
        self,
        engine: sa.Engine,
        *,
        bank_id: str,
        fulfilment_key: FulfilmentKey,
        quoter: Quoter,
        clock: Callable[[], float],
        transfer_expiry_ms: int,
        on_outbox_written: Callable[[], None] = lambda: None,
        share_party_names: bool = False,
    ) -> None:
        assert protocol.expiry_ms_min <= transfer_expiry_ms <= protocol.expiry_ms_max
        self._engine = engine
        self._bank_id = bank_id
        self._fulfilment_key = fulfilment_key
        self._quoter = quoter
        self._clock = clock
        self._transfer_expiry_ms = transfer_expiry_ms
        self._on_outbox_written = on_outbox_written
        self._share_party_names = share_party_names

    @property
    def bank_id(self) -> str:
        return self._bank_id

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # Sending -------------------------------------------------------------------------

    def send(self, request: SendRequest) -> SendOutcome:
        return self.send_many([request])[0]

    def send_system(self, request: SendRequest, *, internal_source: bool) -> SendOutcome:
        """A transfer the node itself starts (marketplace releases and refunds).

        With internal_source the money may leave an internal account (@escrow/<cur>);
        everything else is the ordinary send path: quote, outbox, prepare.
        """
        return self.send_many([request], internal_source=internal_source)[0]

    def send_many(self, requests: Sequence[SendRequest], *, internal_source: bool = False) -> list[SendOutcome]:
        """Send transfers: one quote call per payee bank, one transaction for all outbox rows.

        One outcome per request, in order. A request refused before the transaction
        changes nothing; its outcome says why. internal_source: see send_system.
        """
        if len(requests) > limits.send_many_max:
            raise InvalidRequest(result_pb2.RESULT_CODE_BATCH_TOO_LARGE, f"at most {limits.send_many_max} transfers")
        outcomes: list[SendOutcome | None] = [None] * len(requests)
        for index, request in enumerate(requests):
            try:
                self._check_fields(request, internal_source=internal_source)
            except FedmallError as error:
                outcomes[index] = SendOutcome(result=error.code, status="", field=error.field)
        self._precheck(requests, outcomes, internal_source=internal_source)
        conditions = self._quote_all(requests, outcomes)
        if conditions:
            self._write_outbox(requests, outcomes, conditions, internal_source=internal_source)
            self._on_outbox_written()
        assert all(outcome is not None for outcome in outcomes)
        return outcomes  # type: ignore[return-value]

    def _check_fields(self, request: SendRequest, *, internal_source: bool = False) -> None:
        # Field names of node.v1 SendTransferRequest, which the response's field names.
        fields.check_uuid(request.transfer_id, "transfer id", field="transfer_id")
        if not (internal_source and request.from_account_id.startswith("@")):
            fields.check_account_id(request.from_account_id, field="from_account_id")
        fields.check_id(request.payee_bank_id, "payee bank id", field="payee_bank_id")
        fields.check_account_id(request.payee_account_id, field="payee_account_id")
        fields.check_amount(request.amount_minor)
        fields.check_currency(request.currency)
        fields.check_text(request.reference, "reference", length_max=protocol.reference_length_max, field="reference")
        if request.debtor_account_id:
            fields.check_account_id(request.debtor_account_id, field="debtor_account_id")
        if request.original_transfer_id:
            fields.check_uuid(request.original_transfer_id, "original transfer id", field="original_transfer_id")
        if request.payee_bank_id == self._bank_id:
            raise Refused(result_pb2.RESULT_CODE_PAYER_IS_PAYEE, "the payee bank is this bank")

    def _precheck(self, requests: Sequence[SendRequest], outcomes: list[SendOutcome | None], *,
                  internal_source: bool = False) -> None:
        """Replays and account checks, before asking anyone for a quote."""
        open_indexes = [index for index, outcome in enumerate(outcomes) if outcome is None]
        with read_connection(self._engine) as connection:
            existing = _outgoing_by_id(connection, {requests[index].transfer_id for index in open_indexes})
            accounts = _accounts_by_id(connection, {requests[index].from_account_id for index in open_indexes})
        for index in open_indexes:
            request = requests[index]
            if request.transfer_id in existing:
                outcomes[index] = _replay(existing[request.transfer_id], request)
                continue
            code = self._payer_account_problem(accounts.get(request.from_account_id), request,
                                               internal_source=internal_source)
            if code != OK:
                outcomes[index] = SendOutcome(result=code, status="")

    @staticmethod
    def _payer_account_problem(account, request: SendRequest, balance_minor: int | None = None, *,
                               internal_source: bool = False) -> int:
        if internal_source and account is not None and account.internal:
            code = OK if account.currency == request.currency else result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED
        else:
            code = payee_account_problem(account, request.currency)
        if code != OK:
            return code
        balance = account.balance_minor if balance_minor is None else balance_minor
        if balance < request.amount_minor:
            return result_pb2.RESULT_CODE_INSUFFICIENT_FUNDS
        return OK

    def _quote_all(self, requests: Sequence[SendRequest], outcomes: list[SendOutcome | None]) -> dict[int, Quoted]:
        """Ask each payee bank once (per chunk) for conditions; index -> its answer."""
        by_bank: dict[str, list[int]] = defaultdict(list)
        for index, outcome in enumerate(outcomes):
            if outcome is None:
                by_bank[requests[index].payee_bank_id].append(index)
        conditions: dict[int, Quoted] = {}
        step = protocol.quote_items_per_request_max
        for bank_id, indexes in sorted(by_bank.items()):
            for start in range(0, len(indexes), step):
                chunk = indexes[start:start + step]
                conditions.update(self._quote_chunk(bank_id, chunk, requests, outcomes))
        return conditions

    def _quote_chunk(self, bank_id: str, chunk: list[int], requests: Sequence[SendRequest],
                     outcomes: list[SendOutcome | None]) -> dict[int, Quoted]:
        items = [node_pb2.QuoteItem(
            transfer_id=requests[index].transfer_id, payee_account=requests[index].payee_account_id,
            amount=money_pb2.Money(amount_minor=requests[index].amount_minor, currency=requests[index].currency))
            for index in chunk]
        try:
            results = self._quoter.quote(bank_id, items)
        except FedmallError as error:
            for index in chunk:
                outcomes[index] = SendOutcome(result=error.code, status="")
            return {}
        by_id = {result.transfer_id: result for result in results}
        conditions = {}
        for index in chunk:
            result = by_id.get(requests[index].transfer_id)
            if result is None:
                outcomes[index] = SendOutcome(result=result_pb2.RESULT_CODE_UNAVAILABLE, status="")
            elif result.result != OK:
                outcomes[index] = SendOutcome(result=result.result, status="")
            elif len(result.condition) != CONDITION_BYTES:
                outcomes[index] = SendOutcome(result=result_pb2.RESULT_CODE_INVALID_CONDITION, status="")
            else:
                # A name the contract would refuse is left out, not passed on to fail the prepare.
                conditions[index] = Quoted(result.condition, shared_name(result.creditor_name))
        return conditions

    def _write_outbox(self, requests: Sequence[SendRequest], outcomes: list[SendOutcome | None],
                      conditions: dict[int, Quoted], *, internal_source: bool = False) -> None:
        now_ms = self._now_ms()
        rows, entries = [], []
        with self._engine.begin() as connection:
            # Read again inside the transaction: another call may have written meanwhile.
            existing = _outgoing_by_id(connection, {requests[index].transfer_id for index in conditions})
            accounts = _accounts_by_id(  # Locked before the internal accounts (store.lock_order).
                connection, {requests[index].from_account_id for index in conditions}, for_update=True)
            debtors = _accounts_by_id(connection, {requests[index].debtor_account_id for index in conditions
                                                   if requests[index].debtor_account_id})
            balances = {account_id: row.balance_minor for account_id, row in accounts.items()}
            for index in sorted(conditions):
                request = requests[index]
                if request.transfer_id in existing:
                    outcomes[index] = _replay(existing[request.transfer_id], request)
                    continue
                account = accounts.get(request.from_account_id)
                code = self._payer_account_problem(account, request, balances.get(request.from_account_id, 0),
                                                   internal_source=internal_source)
                if code != OK:
                    outcomes[index] = SendOutcome(result=code, status="")
                    continue
                balances[request.from_account_id] -= request.amount_minor
                debtor = debtors.get(request.debtor_account_id) if request.debtor_account_id else account
                row = self._outbox_row(request, conditions[index], self._debtor_terms(debtor), now_ms)
                existing[request.transfer_id] = _RowView(**row)
                rows.append(row)
                entries.append(ledger.move(
                    f"send:{request.transfer_id}", "send", source=request.from_account_id,
                    destination=ledger.internal_account_id(ledger.OWED_TO_CLEARING, request.currency),
                    amount_minor=request.amount_minor, currency=request.currency))
                outcomes[index] = SendOutcome(result=OK, status=PENDING)
            if rows:
                connection.execute(store.outgoing_transfers.insert(), rows)
                store.write_entries(connection, entries, now_ms=now_ms)

    def _debtor_terms(self, debtor) -> dict:
        """The debtor this bank shares on the prepare: a customer account's id (where a return
        would go), and its holder's name only when the bank shares names. An internal account
        (escrow) names no customer, so nothing is shared for it."""
        if debtor is None or debtor.internal or not identifiers.is_account_id(debtor.account_id):
            return dict(debtor_account_id="", debtor_name="")
        return dict(debtor_account_id=debtor.account_id,
                    debtor_name=shared_name(debtor.holder_name) if self._share_party_names else "")

    def _outbox_row(self, request: SendRequest, quoted: Quoted, debtor: dict, now_ms: int) -> dict:
        # The UETR is drawn once, here: every later retry of the prepare signs this same row.
        return dict(
            transfer_id=request.transfer_id, from_account_id=request.from_account_id,
            payee_bank_id=request.payee_bank_id, payee_account_id=request.payee_account_id,
            amount_minor=request.amount_minor, currency=request.currency, reference=request.reference,
            condition=quoted.condition, expires_at_unix_ms=now_ms + self._transfer_expiry_ms, status=PENDING,
            abort_reason=result_pb2.RESULT_CODE_UNSPECIFIED, created_at_unix_ms=now_ms, updated_at_unix_ms=now_ms,
            uetr=str(uuid.uuid4()), creditor_name=quoted.creditor_name,
            original_transfer_id=request.original_transfer_id, **debtor)

    # The outbox, as the submitter sees it --------------------------------------------

    def pending_prepares(self, *, limit: int) -> list[transfer_pb2.Prepare]:
        """The oldest PENDING outbox rows, as the prepares to sign."""
        assert 0 < limit <= protocol.prepares_per_batch_max
        table = store.outgoing_transfers
        with read_connection(self._engine) as connection:
            rows = connection.execute(sa.select(table).where(table.c.status == PENDING)
                                      .order_by(table.c.created_at_unix_ms, table.c.transfer_id).limit(limit)).all()
        return [transfer_pb2.Prepare(
            transfer_id=row.transfer_id, payer_bank_id=self._bank_id, payee_bank_id=row.payee_bank_id,
            payee_account=row.payee_account_id,
            amount=money_pb2.Money(amount_minor=row.amount_minor, currency=row.currency),
            condition=row.condition, expires_at_unix_ms=row.expires_at_unix_ms, reference=row.reference,
            uetr=row.uetr, debtor_name=row.debtor_name, debtor_account=row.debtor_account_id,
            creditor_name=row.creditor_name, original_transfer_id=row.original_transfer_id)
            for row in rows]

    def record_prepare_results(self, results: Sequence[tuple[str, int]]) -> None:
        """The clearing's answer per prepare: OK/EXISTS -> SUBMITTED; a refusal -> ABORTED and reversed.

        Only PENDING rows move: a notice may already have committed or aborted the transfer.
        """
        table = store.outgoing_transfers
        now_ms = self._now_ms()
        accepted = [transfer_id for transfer_id, code in results if code in (OK, EXISTS)]
        refused = {transfer_id: code for transfer_id, code in results if code not in (OK, EXISTS)}
        with self._engine.begin() as connection:
            if accepted:
                connection.execute(
                    table.update().where(table.c.transfer_id == sa.bindparam("target"), table.c.status == PENDING)
                    .values(status=SUBMITTED, updated_at_unix_ms=now_ms),
                    [dict(target=transfer_id) for transfer_id in accepted])
            if refused:
                rows = connection.execute(sa.select(table).where(
                    table.c.transfer_id.in_(sorted(refused)), table.c.status == PENDING)).all()
                abort_outgoing(connection, [(row, refused[row.transfer_id]) for row in rows], now_ms=now_ms)

    # Quotes, as the payee bank --------------------------------------------------------

    def quote(self, *, payer_bank_id: str, items: Sequence[node_pb2.QuoteItem]) -> list[QuoteOutcome]:
        """Check each payee account here and return the condition of its fulfilment."""
        if len(items) > protocol.quote_items_per_request_max:
            raise InvalidRequest(result_pb2.RESULT_CODE_BATCH_TOO_LARGE,
                                 f"at most {protocol.quote_items_per_request_max} items")
        with read_connection(self._engine) as connection:
            accounts = _accounts_by_id(connection, {item.payee_account for item in items
                                                    if ledger.is_valid_account_id(item.payee_account)})
        outcomes = []
        for item in items:
            field = ""
            try:
                fields.check_uuid(item.transfer_id, "transfer id", field="transfer_id")
                fields.check_account_id(item.payee_account, field="payee_account")
                fields.check_amount(item.amount.amount_minor)
                fields.check_currency(item.amount.currency)
                code = payee_account_problem(accounts.get(item.payee_account), item.amount.currency)
                if code == OK:
                    code = credit_problem(accounts[item.payee_account], item.amount.amount_minor)
            except FedmallError as error:
                code, field = error.code, error.field
            condition, creditor_name = b"", ""
            if code == OK:
                condition = self._fulfilment_key.condition(
                    payer_bank_id=payer_bank_id, transfer_id=item.transfer_id, payee_account=item.payee_account,
                    amount_minor=item.amount.amount_minor, currency=item.amount.currency)
                if self._share_party_names:
                    creditor_name = shared_name(accounts[item.payee_account].holder_name)
            outcomes.append(QuoteOutcome(transfer_id=item.transfer_id, result=code, condition=condition, field=field,
                                         creditor_name=creditor_name))
        return outcomes

    # Records --------------------------------------------------------------------------

    def get_record(self, transfer_id: str) -> TransferRecord:
        fields.check_uuid(transfer_id, "transfer id", field="transfer_id")
        with read_connection(self._engine) as connection:
            row = connection.execute(sa.select(store.outgoing_transfers)
                                     .where(store.outgoing_transfers.c.transfer_id == transfer_id)).first()
            if row is not None:
                return TransferRecord(
                    transfer_id=transfer_id, direction="outgoing", status=row.status, amount_minor=row.amount_minor,
                    currency=row.currency, counterparty_bank_id=row.payee_bank_id, abort_reason=row.abort_reason,
                    payee_reason_code=row.payee_reason_code, payee_reason=row.payee_reason,
                    uetr=row.uetr or "", original_transfer_id=row.original_transfer_id)
            row = connection.execute(sa.select(store.incoming_transfers)
                                     .where(store.incoming_transfers.c.transfer_id == transfer_id)).first()
        if row is None:
            raise Refused(result_pb2.RESULT_CODE_TRANSFER_NOT_FOUND, f"no transfer {transfer_id!r}")
        return TransferRecord(
            transfer_id=transfer_id, direction="incoming", status=row.status, amount_minor=row.amount_minor,
            currency=row.currency, counterparty_bank_id=row.payer_bank_id,
            abort_reason=row.abort_reason or row.reject_reason, uetr=row.uetr or "",
            original_transfer_id=row.original_transfer_id)


@dataclass(frozen=True, slots=True)
class _RowView:
    """An outbox row written in this transaction, seen like a fetched one (for replays)."""
    transfer_id: str
    from_account_id: str
    payee_bank_id: str
    payee_account_id: str
    amount_minor: int
    currency: str
    reference: str
    condition: bytes
    expires_at_unix_ms: int
    status: str
    abort_reason: int
    created_at_unix_ms: int
    updated_at_unix_ms: int
    uetr: str
    creditor_name: str
    original_transfer_id: str
    debtor_account_id: str
    debtor_name: str


def abort_outgoing(connection: sa.Connection, rows_and_reasons: Sequence[tuple[object, int]], *, now_ms: int) -> None:
    """Abort outbox rows and give the money back: owed-to-clearing -x, customer +x."""
    store.write_entries(connection, aborting_outgoing(connection, rows_and_reasons, now_ms=now_ms), now_ms=now_ms)


def aborting_outgoing(connection: sa.Connection, rows_and_reasons: Sequence[tuple[object, int]], *,
                      now_ms: int) -> list[ledger.Entry]:
    """Abort outbox rows; the reversal entries the caller writes with the rest of its entries.

    The reversal's entry id is the same whichever path aborts, so it is written once.
    """
    if not rows_and_reasons:
        return []
    table = store.outgoing_transfers
    done = store.existing_entry_ids(connection, [f"reverse:{row.transfer_id}" for row, _ in rows_and_reasons])
    entries = [ledger.move(
        f"reverse:{row.transfer_id}", "reverse",
        source=ledger.internal_account_id(ledger.OWED_TO_CLEARING, row.currency),
        destination=row.from_account_id, amount_minor=row.amount_minor, currency=row.currency)
        for row, _ in rows_and_reasons if f"reverse:{row.transfer_id}" not in done]
    connection.execute(
        table.update().where(table.c.transfer_id == sa.bindparam("target"))
        .values(status=ABORTED, abort_reason=sa.bindparam("reason"), updated_at_unix_ms=now_ms),
        [dict(target=row.transfer_id, reason=reason) for row, reason in rows_and_reasons])
    return entries
