"""Accounts, sending, notices and decisions on a real SQLite file, with a fake payee bank."""
import hashlib
import uuid

import pytest
import sqlalchemy as sa

from fedmall import delivery_kinds, identifiers
from fedmall import limits as protocol_limits
from fedmall.database import make_engine, migrate
from fedmall.pki import new_signing_key
from fedmall.results import FedmallError
from fedmall.v1 import clearing_pb2, money_pb2, node_pb2, result_pb2, transfer_pb2

from node.bank import ledger, store
from node.bank.accounts import AccountService
from node.bank.deliveries import DeliveryApplier, DeliveryConsumer, DeliveryRefused
from node.bank.fulfilment import FulfilmentKey
from node.bank.notices import NoticeService
from node.bank.settlement import SettlementService
from node.bank.settlement_credits import NoClaims
from node.bank.transfers import SendRequest, TransferService
from node import limits as node_limits
from node.errors import Unavailable
from tests.support.ids import uuid_of

R = result_pb2
NOW_S = 1_900_000_000.0
PAYEE_KEY = FulfilmentKey(b"p" * 32)


class FakeQuoter:
    """The payee bank bank-b: quotes with PAYEE_KEY for accounts it knows."""

    def __init__(self, known=("bob",), fail=False, creditor_name=""):
        self.known = set(known)
        self.fail = fail
        self.creditor_name = creditor_name
        self.calls = []

    def quote(self, payee_bank_id, items):
        self.calls.append((payee_bank_id, len(items)))
        if self.fail:
            raise Unavailable("down")
        return [node_pb2.QuoteResult(
            transfer_id=item.transfer_id,
            result=R.RESULT_CODE_OK if item.payee_account in self.known else R.RESULT_CODE_ACCOUNT_UNKNOWN,
            condition=PAYEE_KEY.condition(payer_bank_id="bank-a", transfer_id=item.transfer_id,
                                          payee_account=item.payee_account, amount_minor=item.amount.amount_minor,
                                          currency=item.amount.currency)
            if item.payee_account in self.known else b"", creditor_name=self.creditor_name)
            for item in items]


class Bank:
    def __init__(self, tmp_path, bank_id, quoter, *, database_url: str = "", share_party_names: bool = False):
        self.engine = make_engine(database_url or f"sqlite:///{tmp_path / (bank_id + '.db')}")
        migrate(self.engine, "node:migrations")
        with self.engine.begin() as connection:
            store.ensure_internal_accounts(connection, now_ms=int(NOW_S * 1000))
        clock = lambda: NOW_S  # noqa: E731
        key = FulfilmentKey(bank_id[-1].encode() * 32)
        self.accounts = AccountService(self.engine, clock=clock)
        self.woken = 0
        self.transfers = TransferService(self.engine, bank_id=bank_id, fulfilment_key=key, quoter=quoter,
                                         clock=clock, transfer_expiry_ms=30_000, on_outbox_written=self._wake,
                                         share_party_names=share_party_names)
        self.notices = NoticeService(self.engine, bank_id=bank_id, fulfilment_key=key, clock=clock,
                                     settlement_credit_hook=NoClaims())
        self.signing_key = new_signing_key(f"{bank_id}/k1")
        self.settlement = SettlementService(self.engine, bank_id=bank_id, signing_key=self.signing_key, clock=clock)
        self.applier = DeliveryApplier(self.engine, notices=self.notices, settlement=self.settlement, clock=clock)

    def _wake(self):
        self.woken += 1

    def balance(self, account_id):
        with self.engine.connect() as connection:
            return connection.scalar(sa.select(store.accounts.c.balance_minor)
                                     .where(store.accounts.c.account_id == account_id))

    def postings_count(self):
        with self.engine.connect() as connection:
            return connection.scalar(sa.select(sa.func.count()).select_from(store.postings))

    def books_problems(self):
        with self.engine.connect() as connection:
            return ledger.books_problems(store.read_books(connection))


OWED = ledger.internal_account_id(ledger.OWED_TO_CLEARING, "EUR")
CLEARING = ledger.internal_account_id(ledger.CLEARING, "EUR")
CASH = ledger.internal_account_id(ledger.CASH, "EUR")


@pytest.fixture
def quoter():
    return FakeQuoter()


@pytest.fixture
def bank_a(tmp_path, quoter):
    bank = Bank(tmp_path, "bank-a", quoter)
    bank.accounts.open_account(account_id="alice", holder_name="Alice", currency="EUR")
    bank.accounts.deposit(deposit_id=uuid_of("d1"), account_id="alice", amount_minor=10_000, currency="EUR")
    yield bank
    bank.engine.dispose()


@pytest.fixture
def bank_b(tmp_path):
    bank = Bank(tmp_path, "bank-b", FakeQuoter())
    bank.accounts.open_account(account_id="bob", holder_name="Bob", currency="EUR")
    yield bank
    bank.engine.dispose()


def send(transfer_id=uuid_of("t1"), amount_minor=2_500, to_account="bob", **overrides):
    return SendRequest(**{**dict(transfer_id=transfer_id, from_account_id="alice", payee_bank_id="bank-b",
                                 payee_account_id=to_account, amount_minor=amount_minor, currency="EUR"),
                          **overrides})


# Accounts ---------------------------------------------------------------------------

def test_open_account__same_again_exists_other_details_modified(bank_a):
    assert bank_a.accounts.open_account(account_id="alice", holder_name="Alice", currency="EUR") == R.RESULT_CODE_EXISTS
    with pytest.raises(FedmallError) as refused:
        bank_a.accounts.open_account(account_id="alice", holder_name="Alicia", currency="EUR")
    assert refused.value.code == R.RESULT_CODE_MODIFIED_REQUEST


def test_open_account__bad_id_and_currency_are_refused(bank_a):
    with pytest.raises(FedmallError) as bad_id:
        bank_a.accounts.open_account(account_id="no spaces", holder_name="X", currency="EUR")
    assert bad_id.value.code == R.RESULT_CODE_INVALID_FIELD
    with pytest.raises(FedmallError) as bad_currency:
        bank_a.accounts.open_account(account_id="x", holder_name="X", currency="XXX")
    assert bad_currency.value.code == R.RESULT_CODE_CURRENCY_NOT_SUPPORTED


def test_deposit__is_idempotent_by_deposit_id(bank_a):
    code, account = bank_a.accounts.deposit(deposit_id=uuid_of("d1"), account_id="alice", amount_minor=10_000, currency="EUR")
    assert (code, account.balance_minor) == (R.RESULT_CODE_EXISTS, 10_000)
    with pytest.raises(FedmallError) as modified:
        bank_a.accounts.deposit(deposit_id=uuid_of("d1"), account_id="alice", amount_minor=1, currency="EUR")
    assert modified.value.code == R.RESULT_CODE_MODIFIED_REQUEST
    assert bank_a.balance(CASH) == -10_000
    assert bank_a.books_problems() == []


@pytest.mark.parametrize("account_id,amount_minor,currency,code", [
    ("nobody", 1, "EUR", R.RESULT_CODE_ACCOUNT_UNKNOWN),
    ("alice", 0, "EUR", R.RESULT_CODE_INVALID_AMOUNT),
    ("alice", 1, "USD", R.RESULT_CODE_CURRENCY_NOT_SUPPORTED),
])
def test_deposit__refusals_change_nothing(bank_a, account_id, amount_minor, currency, code):
    with pytest.raises(FedmallError) as refused:
        bank_a.accounts.deposit(deposit_id=uuid_of("d2"), account_id=account_id, amount_minor=amount_minor, currency=currency)
    assert refused.value.code == code
    assert bank_a.balance("alice") == 10_000


# Sending ----------------------------------------------------------------------------

def test_send__debits_customer_into_owed_to_clearing_and_writes_outbox(bank_a):
    outcome = bank_a.transfers.send(send())
    assert (outcome.result, outcome.status) == (R.RESULT_CODE_OK, "PENDING")
    assert bank_a.balance("alice") == 7_500
    assert bank_a.balance(OWED) == 2_500
    assert bank_a.woken == 1
    [prepare] = bank_a.transfers.pending_prepares(limit=10)
    assert prepare.payer_bank_id == "bank-a" and prepare.payee_account == "bob"
    assert prepare.expires_at_unix_ms == int(NOW_S * 1000) + 30_000
    assert len(prepare.condition) == 32
    assert bank_a.books_problems() == []


def test_send__the_prepare_carries_a_uetr_drawn_once_and_the_debtor_account_not_its_name(bank_a, quoter):
    quoter.creditor_name = "Bob Builder"   # The payee bank's choice: passed on as it quoted it.
    bank_a.transfers.send(send())
    [prepare] = bank_a.transfers.pending_prepares(limit=10)
    [again] = bank_a.transfers.pending_prepares(limit=10)    # A retry signs the very same terms.
    assert identifiers.is_uetr(prepare.uetr) and prepare.uetr != prepare.transfer_id
    assert again.SerializeToString(deterministic=True) == prepare.SerializeToString(deterministic=True)
    assert (prepare.debtor_account, prepare.debtor_name, prepare.creditor_name) == ("alice", "", "Bob Builder")
    assert prepare.original_transfer_id == ""
    assert bank_a.transfers.get_record(uuid_of("t1")).uetr == prepare.uetr
    assert bank_a.transfers.send(send()).result == R.RESULT_CODE_EXISTS
    assert bank_a.transfers.pending_prepares(limit=10)[0].uetr == prepare.uetr


def test_send__a_bank_that_shares_names_names_its_customer(tmp_path, quoter):
    bank = Bank(tmp_path, "bank-a", quoter, share_party_names=True)
    bank.accounts.open_account(account_id="alice", holder_name="Alice Liddell", currency="EUR")
    bank.accounts.deposit(deposit_id=uuid_of("d1"), account_id="alice", amount_minor=10_000, currency="EUR")
    bank.transfers.send(send())
    [prepare] = bank.transfers.pending_prepares(limit=10)
    assert (prepare.debtor_name, prepare.debtor_account) == ("Alice Liddell", "alice")
    bank.engine.dispose()


def test_send__a_creditor_name_the_contract_would_refuse_is_left_out(bank_a, quoter):
    quoter.creditor_name = "Bob\u202eShop"
    bank_a.transfers.send(send())
    assert bank_a.transfers.pending_prepares(limit=10)[0].creditor_name == ""


def test_send__a_return_names_its_original_and_a_malformed_one_is_refused(bank_a):
    original = uuid_of("paid-to-us")
    assert bank_a.transfers.send(send(original_transfer_id=original)).result == R.RESULT_CODE_OK
    assert bank_a.transfers.pending_prepares(limit=10)[0].original_transfer_id == original
    assert bank_a.transfers.get_record(uuid_of("t1")).original_transfer_id == original
    assert bank_a.transfers.send(send(original_transfer_id=uuid_of("other"))).result == \
        R.RESULT_CODE_MODIFIED_REQUEST
    refused = bank_a.transfers.send(send(uuid_of("t2"), original_transfer_id="not-a-uuid"))
    assert refused.result == R.RESULT_CODE_INVALID_FIELD and bank_a.balance("alice") == 7_500


def test_send__same_id_same_content_exists_other_content_modified(bank_a):
    bank_a.transfers.send(send())
    assert bank_a.transfers.send(send()).result == R.RESULT_CODE_EXISTS
    assert bank_a.transfers.send(send(amount_minor=1)).result == R.RESULT_CODE_MODIFIED_REQUEST
    assert bank_a.balance("alice") == 7_500


def test_send__exactly_the_balance_is_sent_one_minor_unit_more_is_not(bank_a):
    assert bank_a.transfers.send(send(uuid_of("t-all"), amount_minor=10_000)).result == R.RESULT_CODE_OK
    assert bank_a.balance("alice") == 0
    assert bank_a.transfers.send(send(uuid_of("t-one"), amount_minor=1)).result == R.RESULT_CODE_INSUFFICIENT_FUNDS
    assert bank_a.balance("alice") == 0 and bank_a.books_problems() == []


def test_send__insufficient_funds_changes_nothing(bank_a, quoter):
    outcome = bank_a.transfers.send(send(amount_minor=10_001))
    assert outcome.result == R.RESULT_CODE_INSUFFICIENT_FUNDS
    assert quoter.calls == []
    assert bank_a.balance("alice") == 10_000
    assert bank_a.transfers.pending_prepares(limit=10) == []


def test_send__quote_failure_changes_nothing(bank_a, quoter):
    quoter.fail = True
    assert bank_a.transfers.send(send()).result == R.RESULT_CODE_UNAVAILABLE
    assert bank_a.balance("alice") == 10_000
    assert bank_a.postings_count() == 2


def test_send__payee_refusal_is_returned_and_changes_nothing(bank_a):
    assert bank_a.transfers.send(send(to_account="carol")).result == R.RESULT_CODE_ACCOUNT_UNKNOWN
    assert bank_a.balance("alice") == 10_000


@pytest.mark.parametrize("overrides,code", [
    (dict(payee_bank_id="bank-a"), R.RESULT_CODE_PAYER_IS_PAYEE),
    (dict(transfer_id=""), R.RESULT_CODE_INVALID_FIELD),
    (dict(amount_minor=-5), R.RESULT_CODE_INVALID_AMOUNT),
    (dict(from_account_id="nobody"), R.RESULT_CODE_ACCOUNT_UNKNOWN),
    (dict(currency="USD"), R.RESULT_CODE_CURRENCY_NOT_SUPPORTED),
    (dict(reference="x" * 141), R.RESULT_CODE_INVALID_FIELD),
])
def test_send__invalid_requests_change_nothing(bank_a, quoter, overrides, code):
    assert bank_a.transfers.send(send(**overrides)).result == code
    assert quoter.calls == []
    assert bank_a.balance("alice") == 10_000


@pytest.mark.parametrize("overrides,field", [
    (dict(transfer_id="T1"), "transfer_id"), (dict(from_account_id="a b"), "from_account_id"),
    (dict(payee_bank_id="bank b"), "payee_bank_id"), (dict(to_account="bob\n"), "payee_account_id"),
    (dict(reference="x\u202e"), "reference"),
])
def test_send__invalid_field_names_the_request_field(bank_a, quoter, overrides, field):
    outcome = bank_a.transfers.send(send(**overrides))
    assert (outcome.result, outcome.field) == (R.RESULT_CODE_INVALID_FIELD, field)
    assert bank_a.balance("alice") == 10_000


def test_send_many__one_quote_call_per_bank_and_running_balance(bank_a, quoter):
    requests = [send(transfer_id=uuid_of(f"t{i}"), amount_minor=3_000) for i in range(4)] + [send(transfer_id=uuid_of("t0"))]
    outcomes = bank_a.transfers.send_many(requests)
    assert [o.result for o in outcomes] == [R.RESULT_CODE_OK] * 3 + [R.RESULT_CODE_INSUFFICIENT_FUNDS,
                                                                      R.RESULT_CODE_MODIFIED_REQUEST]
    assert quoter.calls == [("bank-b", 5)]
    assert bank_a.balance("alice") == 1_000
    assert bank_a.woken == 1


def test_prepare_results__refusal_aborts_and_reverses_once(bank_a):
    bank_a.transfers.send_many([send(uuid_of("t1")), send(uuid_of("t2"))])
    bank_a.transfers.record_prepare_results([(uuid_of("t1"), R.RESULT_CODE_OK), (uuid_of("t2"), R.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED)])
    bank_a.transfers.record_prepare_results([(uuid_of("t2"), R.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED)])
    assert bank_a.transfers.get_record(uuid_of("t1")).status == "SUBMITTED"
    record = bank_a.transfers.get_record(uuid_of("t2"))
    assert (record.status, record.abort_reason) == ("ABORTED", R.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED)
    assert bank_a.balance("alice") == 7_500
    assert bank_a.transfers.pending_prepares(limit=10) == []
    assert bank_a.books_problems() == []


# Notices ----------------------------------------------------------------------------

CLEARING_KEY = new_signing_key("clearing/k1")


def clearing_keys(key_id):
    from fedmall.envelope import VerificationKey
    return VerificationKey(key_id, "clearing", CLEARING_KEY.private_key.public_key()) if key_id == "clearing/k1" else None


def delivery(sequence, recipient, notices, key=CLEARING_KEY):
    envelope = key.sign(transfer_pb2.NoticeBatch(recipient_bank_id=recipient, notices=notices))
    return delivery_kinds.delivery(sequence, envelope)


def notice(prepare, state, result=R.RESULT_CODE_OK, fulfilment=b""):
    return transfer_pb2.TransferNotice(prepare=prepare, state=state, result=result, fulfilment=fulfilment,
                                       decided_at_unix_ms=int(NOW_S * 1000))


def consumer(bank, bank_id):
    return DeliveryConsumer(bank.applier, clearing=None, bank_id=bank_id, keys=clearing_keys)


def test_payer_commit__replayed_delivery_posts_once(bank_a):
    bank_a.transfers.send(send())
    [prepare] = bank_a.transfers.pending_prepares(limit=10)
    committed = delivery(1, "bank-a", [notice(prepare, transfer_pb2.TRANSFER_STATE_COMMITTED)])
    assert consumer(bank_a, "bank-a").handle(committed) is True
    assert consumer(bank_a, "bank-a").handle(committed) is False
    assert bank_a.notices.cursor() == 1
    assert (bank_a.balance(OWED), bank_a.balance(CLEARING), bank_a.balance("alice")) == (0, 2_500, 7_500)
    assert bank_a.postings_count() == 6
    # The same notice again under a new sequence has no effect either.
    consumer(bank_a, "bank-a").handle(delivery(2, "bank-a", [notice(prepare, transfer_pb2.TRANSFER_STATE_COMMITTED)]))
    assert bank_a.postings_count() == 6
    assert bank_a.transfers.get_record(uuid_of("t1")).status == "COMMITTED"
    assert bank_a.books_problems() == []


def test_payer_abort__reverses_to_customer_with_reason(bank_a):
    bank_a.transfers.send(send())
    [prepare] = bank_a.transfers.pending_prepares(limit=10)
    aborted = notice(prepare, transfer_pb2.TRANSFER_STATE_ABORTED, result=R.RESULT_CODE_PAYEE_REJECTED)
    consumer(bank_a, "bank-a").handle(delivery(1, "bank-a", [aborted, aborted]))
    record = bank_a.transfers.get_record(uuid_of("t1"))
    assert (record.status, record.abort_reason) == ("ABORTED", R.RESULT_CODE_PAYEE_REJECTED)
    assert (bank_a.balance("alice"), bank_a.balance(OWED)) == (10_000, 0)
    assert bank_a.books_problems() == []


def test_tampered_delivery__is_refused_and_cursor_does_not_move(bank_a):
    bank_a.transfers.send(send())
    [prepare] = bank_a.transfers.pending_prepares(limit=10)
    good = delivery(1, "bank-a", [notice(prepare, transfer_pb2.TRANSFER_STATE_COMMITTED)])
    tampered = clearing_pb2.Delivery()
    tampered.CopyFrom(good)
    tampered.envelope.payload = tampered.envelope.payload.replace(b"bank-a", b"bank-x", 1)
    with pytest.raises(DeliveryRefused):
        consumer(bank_a, "bank-a").handle(tampered)
    forged = delivery(1, "bank-a", [notice(prepare, transfer_pb2.TRANSFER_STATE_COMMITTED)],
                      key=new_signing_key("clearing/k1"))
    with pytest.raises(DeliveryRefused):
        consumer(bank_a, "bank-a").handle(forged)
    with pytest.raises(DeliveryRefused):
        consumer(bank_a, "bank-a").handle(delivery(1, "bank-b", []))
    assert bank_a.notices.cursor() == 0
    assert bank_a.balance(OWED) == 2_500


def incoming_prepare(bank_a, transfer_id=uuid_of("t1"), payee_account="bob", amount_minor=2_500):
    """A prepare bank-a would sign for bank-b, with the condition bank-b quoted."""
    condition = bank_b_condition(transfer_id, payee_account, amount_minor)
    return transfer_pb2.Prepare(
        transfer_id=transfer_id, payer_bank_id="bank-a", payee_bank_id="bank-b", payee_account=payee_account,
        amount=money_pb2.Money(amount_minor=amount_minor, currency="EUR"), condition=condition,
        expires_at_unix_ms=int(NOW_S * 1000) + 30_000, uetr=str(uuid.uuid4()))


def bank_b_condition(transfer_id, payee_account, amount_minor):
    return FulfilmentKey(b"b" * 32).condition(payer_bank_id="bank-a", transfer_id=transfer_id,
                                             payee_account=payee_account, amount_minor=amount_minor, currency="EUR")


def test_payee__accepts_then_credits_on_commit_once(bank_b):
    prepare = incoming_prepare(None)
    handler = consumer(bank_b, "bank-b")
    handler.handle(delivery(1, "bank-b", [notice(prepare, transfer_pb2.TRANSFER_STATE_RESERVED)]))
    handler.handle(delivery(1, "bank-b", [notice(prepare, transfer_pb2.TRANSFER_STATE_RESERVED)]))
    decisions = bank_b.notices.pending_decisions(limit=10)
    [accept] = decisions.accepts
    assert hashlib.sha256(accept.fulfilment).digest() == prepare.condition and not decisions.rejects
    bank_b.notices.mark_decisions_sent([uuid_of("t1")])
    assert len(bank_b.notices.pending_decisions(limit=10).accepts) == 0
    commit = delivery(2, "bank-b", [notice(prepare, transfer_pb2.TRANSFER_STATE_COMMITTED, fulfilment=accept.fulfilment)])
    handler.handle(commit)
    handler.handle(delivery(3, "bank-b", list(transfer_pb2.NoticeBatch.FromString(commit.envelope.payload).notices)))
    assert (bank_b.balance("bob"), bank_b.balance(CLEARING)) == (2_500, -2_500)
    record = bank_b.transfers.get_record(uuid_of("t1"))
    assert (record.status, record.uetr) == ("COMMITTED", prepare.uetr)
    assert bank_b.books_problems() == []


def test_payee__rejects_a_quoted_transfer_to_an_account_closed_since(bank_b):
    prepare = incoming_prepare(None)
    with bank_b.engine.begin() as connection:
        connection.execute(store.accounts.update().where(store.accounts.c.account_id == "bob").values(closed=True))
    consumer(bank_b, "bank-b").handle(delivery(1, "bank-b", [notice(prepare, transfer_pb2.TRANSFER_STATE_RESERVED)]))
    [reject] = bank_b.notices.pending_decisions(limit=10).rejects
    assert reject.reason_code == R.RESULT_CODE_ACCOUNT_CLOSED
    consumer(bank_b, "bank-b").handle(delivery(2, "bank-b", [
        notice(prepare, transfer_pb2.TRANSFER_STATE_ABORTED, result=R.RESULT_CODE_PAYEE_REJECTED)]))
    assert bank_b.transfers.get_record(uuid_of("t1")).status == "ABORTED"
    assert bank_b.balance("bob") == 0


def node_rows(bank) -> dict[str, list]:
    with bank.engine.connect() as connection:
        return {table.name: connection.execute(sa.select(table)).all() for table in (
            store.incoming_transfers, store.received_deliveries, store.journal_entries, store.accounts)}


@pytest.mark.parametrize("change", [dict(payee_account="carol"), dict(amount_minor=2_501),
                                    dict(condition=b"\x07" * 32)])
def test_payee__rejects_a_transfer_it_never_quoted_without_keeping_a_row(bank_b, change):
    prepare = incoming_prepare(None)
    for field, value in change.items():
        if field == "amount_minor":
            prepare.amount.amount_minor = value
        else:
            setattr(prepare, field, value)
    before = node_rows(bank_b)
    consumer(bank_b, "bank-b").handle(delivery(1, "bank-b", [notice(prepare, transfer_pb2.TRANSFER_STATE_RESERVED)]))
    decisions = bank_b.notices.pending_decisions(limit=10)
    assert [(r.transfer_id, r.reason_code) for r in decisions.rejects] == [(prepare.transfer_id, R.RESULT_CODE_CONDITION_MISMATCH)]
    assert not decisions.accepts
    bank_b.notices.mark_decisions_sent([prepare.transfer_id])
    assert not bank_b.notices.pending_decisions(limit=10).rejects
    consumer(bank_b, "bank-b").handle(delivery(2, "bank-b", [
        notice(prepare, transfer_pb2.TRANSFER_STATE_ABORTED, result=R.RESULT_CODE_PAYEE_REJECTED)]))
    assert node_rows(bank_b) == before          # No row, no entry, the deliveries not kept...
    assert bank_b.notices.cursor() == 2         # ...only the cursor moved.
    with pytest.raises(FedmallError):
        bank_b.transfers.get_record("t1")


def test_payee__unquoted_rejections_wait_in_memory_at_most_a_bound_per_payer_bank(tmp_path):
    bank = Bank(tmp_path, "bank-b", FakeQuoter())
    bank.notices = NoticeService(bank.engine, bank_id="bank-b", fulfilment_key=FulfilmentKey(b"b" * 32),
                                 clock=lambda: NOW_S, settlement_credit_hook=NoClaims(),
                                 unquoted_rejects_per_bank_max=3)
    bank.applier = DeliveryApplier(bank.engine, notices=bank.notices, settlement=bank.settlement, clock=lambda: NOW_S)
    flood = []
    for index in range(5):
        prepare = incoming_prepare(None, transfer_id=f"t{index}")
        prepare.condition = b"\x07" * 32
        flood.append(notice(prepare, transfer_pb2.TRANSFER_STATE_RESERVED))
    from_c = incoming_prepare(None, transfer_id="c1")
    from_c.payer_bank_id, from_c.condition = "bank-c", b"\x07" * 32
    consumer(bank, "bank-b").handle(delivery(1, "bank-b", [notice(from_c, transfer_pb2.TRANSFER_STATE_RESERVED)]))
    consumer(bank, "bank-b").handle(delivery(2, "bank-b", flood))
    # bank-a's flood pushed out only its own oldest; bank-c's rejection still waits.
    assert sorted(r.transfer_id for r in bank.notices.pending_decisions(limit=10).rejects) == ["c1", "t2", "t3", "t4"]
    assert [r.transfer_id for r in bank.notices.pending_decisions(limit=2).rejects] == ["c1", "t2"]
    bank.engine.dispose()


def test_quote__checks_accounts_and_matches_decision(bank_b):
    items = [node_pb2.QuoteItem(transfer_id=uuid_of("t1"), payee_account="bob",
                                amount=money_pb2.Money(amount_minor=2_500, currency="EUR")),
             node_pb2.QuoteItem(transfer_id=uuid_of("t2"), payee_account="bob",
                                amount=money_pb2.Money(amount_minor=1, currency="USD")),
             node_pb2.QuoteItem(transfer_id=uuid_of("t3"), payee_account="zed",
                                amount=money_pb2.Money(amount_minor=1, currency="EUR"))]
    outcomes = bank_b.transfers.quote(payer_bank_id="bank-a", items=items)
    assert [o.result for o in outcomes] == [R.RESULT_CODE_OK, R.RESULT_CODE_CURRENCY_NOT_SUPPORTED,
                                            R.RESULT_CODE_ACCOUNT_UNKNOWN]
    assert outcomes[0].condition == bank_b_condition(uuid_of("t1"), "bob", 2_500)
    assert outcomes[0].creditor_name == ""    # bank-b does not share names.


@pytest.mark.parametrize("creditor_name, accepted", [("", True), ("Bob", True), ("Robert Forged", False)])
def test_payee__takes_only_its_own_customers_name_as_the_creditor(bank_b, creditor_name, accepted):
    prepare = incoming_prepare(None)
    prepare.creditor_name = creditor_name
    consumer(bank_b, "bank-b").handle(delivery(1, "bank-b", [notice(prepare, transfer_pb2.TRANSFER_STATE_RESERVED)]))
    decisions = bank_b.notices.pending_decisions(limit=10)
    assert (len(decisions.accepts), len(decisions.rejects)) == ((1, 0) if accepted else (0, 1))
    if not accepted:
        assert decisions.rejects[0].reason_code == R.RESULT_CODE_INVALID_FIELD


def test_quote__a_bank_that_shares_names_names_the_creditor(tmp_path):
    bank = Bank(tmp_path, "bank-b", FakeQuoter(), share_party_names=True)
    bank.accounts.open_account(account_id="bob", holder_name="Bob's Bikes", currency="EUR")
    item = node_pb2.QuoteItem(transfer_id=uuid_of("t1"), payee_account="bob",
                              amount=money_pb2.Money(amount_minor=2_500, currency="EUR"))
    [outcome] = bank.transfers.quote(payer_bank_id="bank-a", items=[item])
    assert (outcome.result, outcome.creditor_name) == (R.RESULT_CODE_OK, "Bob's Bikes")
    bank.engine.dispose()


def test_quote__invalid_field_names_the_item_field(bank_b):
    amount = money_pb2.Money(amount_minor=1, currency="EUR")
    items = [node_pb2.QuoteItem(transfer_id="not-a-uuid", payee_account="bob", amount=amount),
             node_pb2.QuoteItem(transfer_id=uuid_of("t2"), payee_account="bob/../x", amount=amount)]
    outcomes = bank_b.transfers.quote(payer_bank_id="bank-a", items=items)
    assert [(o.result, o.field, o.condition) for o in outcomes] == [
        (R.RESULT_CODE_INVALID_FIELD, "transfer_id", b""), (R.RESULT_CODE_INVALID_FIELD, "payee_account", b"")]


# Bounds on amounts (fedmall.limits, node.limits) -------------------------------------

def _set_balance(bank, account_id, balance_minor):
    """Put a balance where a hundred deposits would take it (its postings then disagree: only the bound is tested)."""
    with bank.engine.begin() as connection:
        connection.execute(sa.update(store.accounts).where(store.accounts.c.account_id == account_id)
                           .values(balance_minor=balance_minor))


@pytest.mark.parametrize("amount_minor", [protocol_limits.amount_minor_max + 1, 2**63 - 1])
def test_deposit_and_send__past_the_largest_amount_are_invalid_amount_and_change_nothing(bank_a, amount_minor):
    with pytest.raises(FedmallError) as refused:
        bank_a.accounts.deposit(deposit_id=uuid_of("d2"), account_id="alice", amount_minor=amount_minor, currency="EUR")
    assert refused.value.code == R.RESULT_CODE_INVALID_AMOUNT
    assert bank_a.transfers.send(send(amount_minor=amount_minor)).result == R.RESULT_CODE_INVALID_AMOUNT
    assert (bank_a.balance("alice"), bank_a.postings_count()) == (10_000, 2)


def test_deposit__past_the_account_balance_bound_is_invalid_amount_and_changes_nothing(bank_a):
    _set_balance(bank_a, "alice", node_limits.account_balance_minor_max - 100)
    with pytest.raises(FedmallError) as refused:
        bank_a.accounts.deposit(deposit_id=uuid_of("d2"), account_id="alice", amount_minor=101, currency="EUR")
    assert refused.value.code == R.RESULT_CODE_INVALID_AMOUNT and "would hold more than" in str(refused.value)
    assert (bank_a.balance("alice"), bank_a.postings_count()) == (node_limits.account_balance_minor_max - 100, 2)
    code, account = bank_a.accounts.deposit(deposit_id=uuid_of("d2"), account_id="alice", amount_minor=100, currency="EUR")
    assert (code, account.balance_minor) == (R.RESULT_CODE_OK, node_limits.account_balance_minor_max)


def test_payee__past_the_account_balance_bound_is_not_quoted_and_is_rejected(bank_b):
    _set_balance(bank_b, "bob", node_limits.account_balance_minor_max - 2_000)
    quoted = bank_b.transfers.quote(payer_bank_id="bank-a", items=[node_pb2.QuoteItem(
        transfer_id=uuid_of("t1"), payee_account="bob", amount=money_pb2.Money(amount_minor=2_500, currency="EUR"))])
    assert [(o.result, o.condition) for o in quoted] == [(R.RESULT_CODE_INVALID_AMOUNT, b"")]
    prepare = incoming_prepare(None)  # A payer that did not ask, or asked before the balance grew.
    consumer(bank_b, "bank-b").handle(delivery(1, "bank-b", [notice(prepare, transfer_pb2.TRANSFER_STATE_RESERVED)]))
    [reject] = bank_b.notices.pending_decisions(limit=10).rejects
    assert reject.reason_code == R.RESULT_CODE_INVALID_AMOUNT
    assert bank_b.balance("bob") == node_limits.account_balance_minor_max - 2_000
