"""Settlement windows at the node: statements, reconciliation, settlement and aborts, via deliveries.

bank-a commits, in window 7: t1 (pays bank-b 25.00), t2 (pays bank-b 10.00) and t3
(is paid 7.00 by bank-c). Its net for the window is 7.00 - 35.00 = -28.00.
"""
import uuid
import grpc
import pytest
import sqlalchemy as sa

from fedmall.envelope import VerificationKey, open_envelope
from fedmall.pki import new_signing_key
from fedmall.results import FedmallError
from fedmall import delivery_kinds
from fedmall.v1 import clearing_pb2, envelope_pb2, money_pb2, result_pb2, settlement_pb2, transfer_pb2

from node.bank import ledger, reconcile, settlement, store
from node.bank.deliveries import DeliveryRefused
from node.bank.reconciliations import ClearingNotReady, ReconciliationSubmitter
from tests.node.bank.test_services import CLEARING_KEY, NOW_S, Bank, FakeQuoter, consumer, send
from tests.support.ids import uuid_of

R = result_pb2
S = settlement_pb2
CLEARING = ledger.internal_account_id(ledger.CLEARING, "EUR")
LIQUIDITY = ledger.internal_account_id(ledger.LIQUIDITY, "EUR")
WINDOW = 7


def eur(amount_minor):
    return money_pb2.Money(amount_minor=amount_minor, currency="EUR")


def entry(transfer_id, direction, counterparty, amount_minor):
    return S.StatementEntry(transfer_id=transfer_id, direction=direction, counterparty_bank_id=counterparty,
                            amount=eur(amount_minor), committed_at_unix_ms=int(NOW_S * 1000))


ENTRIES = [entry(uuid_of("t1"), reconcile.DEBIT, "bank-b", 2_500), entry(uuid_of("t2"), reconcile.DEBIT, "bank-b", 1_000),
           entry(uuid_of("t3"), reconcile.CREDIT, "bank-c", 700)]


def signed(sequence, message, key=CLEARING_KEY, *, kind: int | None = None):
    """A delivery of message signed by key, of its kind unless kind says otherwise."""
    if kind is None:
        return delivery_kinds.delivery(sequence, key.sign(message))
    return clearing_pb2.Delivery(sequence=sequence, envelope=key.sign(message), kind=kind)


def statement(entries, *, window_id=WINDOW, per_page=2, bank_id="bank-a", opening_minor=0):
    """The clearing's statement for bank_id, as Statement pages in page order."""
    chunks = [entries[i:i + per_page] for i in range(0, len(entries), per_page)] or [[]]
    net_minor = sum(e.amount.amount_minor if e.direction == reconcile.CREDIT else -e.amount.amount_minor
                    for e in entries)
    return [S.Statement(window_id=window_id, bank_id=bank_id, page_index=index, page_count=len(chunks),
                        entries=chunk, opening_position=eur(opening_minor),
                        closing_position=eur(opening_minor - net_minor), net=eur(net_minor),
                        entry_count=len(entries)) for index, chunk in enumerate(chunks)]


@pytest.fixture
def bank(tmp_path):
    """bank-a with the three commits of window 7 applied (delivery 1)."""
    bank = Bank(tmp_path, "bank-a", FakeQuoter())
    bank.accounts.open_account(account_id="alice", holder_name="Alice", currency="EUR")
    bank.accounts.deposit(deposit_id=uuid_of("d1"), account_id="alice", amount_minor=10_000, currency="EUR")
    bank.transfers.send_many([send(uuid_of("t1"), 2_500), send(uuid_of("t2"), 1_000)])
    prepares = bank.transfers.pending_prepares(limit=10)
    prepares.append(transfer_pb2.Prepare(
        transfer_id=uuid_of("t3"), payer_bank_id="bank-c", payee_bank_id="bank-a", payee_account="alice", amount=eur(700),
        condition=b"c" * 32, expires_at_unix_ms=int(NOW_S * 1000) + 30_000, uetr=str(uuid.uuid4())))
    notices = [transfer_pb2.TransferNotice(prepare=prepare, state=transfer_pb2.TRANSFER_STATE_COMMITTED,
                                           result=R.RESULT_CODE_OK, settlement_window_id=WINDOW)
               for prepare in prepares]
    assert handle(bank, signed(1, transfer_pb2.NoticeBatch(recipient_bank_id="bank-a", notices=notices)))
    yield bank
    bank.engine.dispose()


def handle(bank, delivery):
    return consumer(bank, "bank-a").handle(delivery)


def answers(bank):
    with bank.engine.connect() as connection:
        return connection.execute(sa.select(store.reconciliations)).all()


def windows(bank):
    with bank.engine.connect() as connection:
        return settlement.read_windows(connection)


def deliver_statement(bank, entries, *, first_sequence=2, **options):
    for offset, page in enumerate(statement(entries, **options)):
        handle(bank, signed(first_sequence + offset, page))
    return first_sequence + len(statement(entries, **options))


def opened(bank, row) -> S.Reconciliation:
    key = VerificationKey("bank-a/k1", "bank-a", bank.signing_key.private_key.public_key())
    return open_envelope(envelope_pb2.Envelope.FromString(row.envelope), S.Reconciliation, expected_signer="bank-a",
                         keys=lambda key_id: key if key_id == key.key_id else None)


class FakeClearingStub:
    def __init__(self, *codes):
        self.codes = list(codes)
        self.sent = []

    def SubmitReconciliation(self, request, timeout):
        self.sent.append(request.envelope)
        code = self.codes.pop(0) if self.codes else R.RESULT_CODE_OK
        if isinstance(code, Exception):
            raise code
        return clearing_pb2.SubmitReconciliationResponse(result=code)


# Window ids on commits --------------------------------------------------------------------

def test_commit_notice__records_the_window_on_outgoing_and_incoming_rows(bank):
    with bank.engine.connect() as connection:
        outgoing = dict(connection.execute(sa.select(store.outgoing_transfers.c.transfer_id,
                                                     store.outgoing_transfers.c.window_id)).all())
        incoming = dict(connection.execute(sa.select(store.incoming_transfers.c.transfer_id,
                                                     store.incoming_transfers.c.window_id)).all())
    assert (outgoing, incoming) == ({uuid_of("t1"): WINDOW, uuid_of("t2"): WINDOW}, {uuid_of("t3"): WINDOW})
    assert bank.balance(CLEARING) == 2_800


def test_read_window_books__one_entry_per_commit_with_direction_and_counterparty(bank):
    with bank.engine.connect() as connection:
        books = settlement.read_window_books(connection, WINDOW)
        assert settlement.read_window_books(connection, WINDOW + 1) == []
    assert [e.as_statement_entry() for e in sorted(books, key=lambda e: e.transfer_id)] == ENTRIES


# Statements and reconciliation ----------------------------------------------------------------

def test_statement__two_pages_reconcile_once_with_no_breaks_and_are_submitted(bank):
    pages = statement(ENTRIES)
    assert len(pages) == 2
    handle(bank, signed(2, pages[0]))
    assert answers(bank) == []
    [waiting] = windows(bank)
    assert (waiting.pages_held, waiting.pages_expected, waiting.answer) == (1, 2, settlement.WAITING)

    handle(bank, signed(3, pages[1]))
    [row] = answers(bank)
    answer = opened(bank, row)
    assert (row.window_id, row.break_count, row.sent) == (WINDOW, 0, False)
    assert (answer.window_id, answer.bank_id, list(answer.breaks)) == (WINDOW, "bank-a", [])
    assert answer.node_net == eur(-2_800)
    assert answer.statement_sha256 == reconcile.statement_sha256(
        [p.SerializeToString(deterministic=True) for p in pages])

    clearing = FakeClearingStub()
    assert ReconciliationSubmitter(bank.settlement, clearing).step() is False
    assert ReconciliationSubmitter(bank.settlement, clearing).step() is False
    assert len(clearing.sent) == 1 and opened(bank, answers(bank)[0]) == answer
    [done] = windows(bank)
    assert (done.answer, done.sent, done.statement_net_minor, done.node_net_minor) == (
        settlement.ACKNOWLEDGED, True, -2_800, -2_800)


def test_statement__deleted_posting_is_exactly_one_missing_at_node_break(bank):
    with bank.engine.begin() as connection:
        connection.execute(store.postings.delete().where(store.postings.c.entry_id == "settle:" + uuid_of("t2")))
        connection.execute(store.journal_entries.delete().where(store.journal_entries.c.entry_id == "settle:" + uuid_of("t2")))
    deliver_statement(bank, ENTRIES)
    [row] = answers(bank)
    [found] = opened(bank, row).breaks
    assert (row.break_count, found.kind, found.transfer_id) == (1, reconcile.MISSING_AT_NODE, uuid_of("t2"))
    assert found.clearing_entry == ENTRIES[1]
    assert windows(bank)[0].answer == settlement.DISPUTED


def test_statement__transfer_the_clearing_left_out_is_missing_at_clearing(bank):
    deliver_statement(bank, ENTRIES[:2])
    [found] = opened(bank, answers(bank)[0]).breaks
    assert (found.kind, found.transfer_id, found.node_entry) == (reconcile.MISSING_AT_CLEARING, uuid_of("t3"), ENTRIES[2])


def test_statement__tampered_or_forged_page_is_refused_and_cursor_does_not_move(bank):
    [page] = statement(ENTRIES, per_page=3)
    tampered = signed(2, page)
    changed = S.Statement.FromString(tampered.envelope.payload)
    changed.entries[0].amount.amount_minor = 1
    tampered.envelope.payload = changed.SerializeToString(deterministic=True)
    forged = signed(2, page, key=new_signing_key("clearing/k1"))
    other_bank = signed(2, statement(ENTRIES, bank_id="bank-b")[0])
    for delivery in (tampered, forged, other_bank):
        with pytest.raises(DeliveryRefused):
            handle(bank, delivery)
    assert bank.applier.cursor() == 1
    assert windows(bank) == [] and answers(bank) == []


@pytest.mark.parametrize("change", [
    dict(page_index=2), dict(page_count=0), dict(window_id=0), dict(page_count=10_001, page_index=0)])
def test_statement__malformed_page_is_refused(bank, change):
    page = statement(ENTRIES, per_page=3)[0]
    for field, value in change.items():
        setattr(page, field, value)
    with pytest.raises(DeliveryRefused):
        handle(bank, signed(2, page))
    assert bank.applier.cursor() == 1


def test_statement__replayed_delivery_changes_nothing(bank):
    pages = statement(ENTRIES)
    deliveries = [signed(2, pages[0]), signed(3, pages[1])]
    for delivery in deliveries:
        handle(bank, delivery)
    before = answers(bank)
    assert [handle(bank, delivery) for delivery in deliveries] == [False, False]
    # The same page again under a new sequence (the clearing fetched it again) is kept once.
    assert handle(bank, signed(4, pages[1])) is True
    assert answers(bank) == before
    assert (bank.applier.cursor(), windows(bank)[0].pages_held) == (4, 2)


# Final settlement and aborted windows -----------------------------------------------------------

def test_window_settled__posts_once_and_books_stay_balanced(bank):
    settled = S.WindowSettled(window_id=WINDOW, bank_id="bank-a", net=eur(-2_800), settled_at_unix_ms=1,
                              statement_window_id=WINDOW + 1)
    assert handle(bank, signed(2, settled))
    assert handle(bank, signed(2, settled)) is False
    assert handle(bank, signed(3, settled)) is True  # Sent again: the entry id names the window.
    assert (bank.balance(CLEARING), bank.balance(LIQUIDITY)) == (0, 2_800)
    with bank.engine.connect() as connection:
        postings = connection.execute(sa.select(store.postings.c.account_id, store.postings.c.amount_minor)
                                      .where(store.postings.c.entry_id == f"settlement:{WINDOW}")).all()
    assert sorted(postings) == [(CLEARING, -2_800), (LIQUIDITY, 2_800)]
    assert bank.books_problems() == []


@pytest.mark.parametrize("bank_id,net", [
    ("bank-b", eur(-2_800)), ("bank-a", money_pb2.Money(amount_minor=-2_800, currency="XXX"))])
def test_window_settled__for_another_bank_or_currency_is_refused(bank, bank_id, net):
    settled = S.WindowSettled(window_id=WINDOW, bank_id=bank_id, net=net, statement_window_id=WINDOW + 1)
    with pytest.raises(DeliveryRefused):
        handle(bank, signed(2, settled))
    assert bank.balance(LIQUIDITY) == 0


def test_window_aborted__moves_transfers_and_forgets_the_statement(bank):
    sequence = deliver_statement(bank, ENTRIES)
    assert len(answers(bank)) == 1
    handle(bank, signed(sequence, S.WindowAborted(window_id=WINDOW, moved_to_window_id=WINDOW + 1)))
    with bank.engine.connect() as connection:
        assert settlement.read_window_books(connection, WINDOW) == []
        assert len(settlement.read_window_books(connection, WINDOW + 1)) == 3
    assert (windows(bank), answers(bank)) == ([], [])
    deliver_statement(bank, ENTRIES, window_id=WINDOW + 1, first_sequence=sequence + 1)
    [row] = answers(bank)
    assert (row.window_id, row.break_count) == (WINDOW + 1, 0)


# Other payload types ------------------------------------------------------------------------------

NEWER_KIND = 99  # A DeliveryKind this contract does not define yet.


@pytest.mark.parametrize("kind", [clearing_pb2.DELIVERY_KIND_UNSPECIFIED, clearing_pb2.DELIVERY_KIND_STATEMENT,
                                  NEWER_KIND])
def test_delivery_kind__that_disagrees_with_the_payload_type_is_refused_and_the_cursor_stays(bank, kind):
    report = S.SettlementReport(window_id=WINDOW, transfer_count=3)
    with pytest.raises(DeliveryRefused):
        handle(bank, signed(2, report, kind=kind))
    assert bank.applier.cursor() == 1


def test_settlement_report_and_unknown_types__are_kept_and_the_cursor_moves(bank):
    report = S.SettlementReport(window_id=WINDOW, transfer_count=3)
    unknown = S.NetPosition(bank_id="bank-a")  # Not a payload type of the stream (yet): a newer kind.
    assert handle(bank, signed(2, report)) and handle(bank, signed(3, unknown, kind=NEWER_KIND))
    with pytest.raises(DeliveryRefused):
        handle(bank, signed(4, unknown, key=new_signing_key("clearing/k1"), kind=NEWER_KIND))
    with bank.engine.connect() as connection:
        kept = connection.execute(sa.select(store.received_deliveries.c.payload_type)
                                  .order_by(store.received_deliveries.c.sequence)).scalars().all()
    assert kept == ["fedmall.v1.NoticeBatch", "fedmall.v1.SettlementReport", unknown.DESCRIPTOR.full_name]
    assert bank.applier.cursor() == 3


# The submitter ------------------------------------------------------------------------------------

def test_submitter__refusal_is_definitive_unavailable_and_grpc_errors_retry(bank):
    deliver_statement(bank, ENTRIES)

    class Down(grpc.RpcError):
        pass

    clearing = FakeClearingStub(Down(), R.RESULT_CODE_UNAVAILABLE, R.RESULT_CODE_STATEMENT_MISMATCH)
    submitter = ReconciliationSubmitter(bank.settlement, clearing)
    with pytest.raises(Down):
        submitter.step()
    with pytest.raises(ClearingNotReady):
        submitter.step()
    assert answers(bank)[0].sent is False
    submitter.step()
    assert (answers(bank)[0].sent, answers(bank)[0].answer_result) == (True, R.RESULT_CODE_STATEMENT_MISMATCH)
    submitter.step()
    assert len(clearing.sent) == 3


def test_submitter__an_idle_statement_answered_after_settlement_is_expected_not_an_error(bank, caplog):
    """Window 8 held none of bank-a's transfers: the clearing may settle it before the answer arrives."""
    deliver_statement(bank, [], window_id=WINDOW + 1, opening_minor=2_800)  # Window 7 is not settled yet.
    assert not settlement.needs_answer(statement([], window_id=WINDOW + 1)[0])
    submitter = ReconciliationSubmitter(bank.settlement, FakeClearingStub(R.RESULT_CODE_WINDOW_STATE_INVALID))
    with caplog.at_level("INFO", logger="node.bank.reconciliations"):
        submitter.step()
    assert (answers(bank)[0].sent, answers(bank)[0].answer_result) == (True, R.RESULT_CODE_WINDOW_STATE_INVALID)
    assert [r.levelname for r in caplog.records] == ["INFO"] and "none was needed" in caplog.text


def test_submitter__a_statement_with_transfers_refused_as_settled_is_logged_for_the_operator(bank, caplog):
    deliver_statement(bank, ENTRIES)
    assert settlement.needs_answer(statement(ENTRIES)[0])
    with caplog.at_level("INFO", logger="node.bank.reconciliations"):
        ReconciliationSubmitter(bank.settlement, FakeClearingStub(R.RESULT_CODE_WINDOW_STATE_INVALID)).step()
    assert [r.levelname for r in caplog.records] == ["ERROR"] and "REFUSED" in caplog.text


def test_reconcile_again__answers_from_the_restored_books_and_withdraws_the_first(bank):
    with bank.engine.begin() as connection:   # The books lose settle:t2 before the statement comes...
        journal = connection.execute(sa.select(store.journal_entries).where(
            store.journal_entries.c.entry_id == "settle:" + uuid_of("t2"))).one()
        postings = connection.execute(sa.select(store.postings).where(
            store.postings.c.entry_id == "settle:" + uuid_of("t2"))).all()
        connection.execute(store.postings.delete().where(store.postings.c.entry_id == "settle:" + uuid_of("t2")))
        connection.execute(store.journal_entries.delete().where(store.journal_entries.c.entry_id == "settle:" + uuid_of("t2")))
    deliver_statement(bank, ENTRIES)
    bank.settlement.mark_reconciliation_sent(WINDOW, R.RESULT_CODE_OK)
    assert (answers(bank)[0].break_count, opened(bank, answers(bank)[0]).withdraws_previous) == (1, False)
    with bank.engine.begin() as connection:   # ...and an operator restores them.
        connection.execute(store.journal_entries.insert().values(journal._asdict()))
        connection.execute(store.postings.insert(), [row._asdict() for row in postings])

    assert bank.settlement.reconcile_again(WINDOW) == 0
    [row] = answers(bank)
    assert (row.break_count, row.sent, opened(bank, row).withdraws_previous) == (0, False, True)
    assert [window_id for window_id, _ in bank.settlement.pending_reconciliations(limit=1)] == [WINDOW]


def test_reconcile_again__without_a_whole_statement_is_refused(bank):
    with pytest.raises(FedmallError) as unknown:
        bank.settlement.reconcile_again(99)
    assert unknown.value.code == R.RESULT_CODE_WINDOW_NOT_FOUND
    handle(bank, signed(2, statement(ENTRIES)[0]))   # One page of two.
    with pytest.raises(FedmallError) as partial:
        bank.settlement.reconcile_again(WINDOW)
    assert partial.value.code == R.RESULT_CODE_WINDOW_STATE_INVALID and answers(bank) == []


def test_statement__an_opening_position_the_books_do_not_show_is_a_break(bank):
    deliver_statement(bank, ENTRIES, opening_minor=500)   # Nothing was owed before window 7 in these books.
    [found] = opened(bank, answers(bank)[0]).breaks
    assert (found.kind, found.clearing_position.amount_minor, found.node_position.amount_minor) == (
        reconcile.OPENING_POSITION_DIFFERS, 500, 0)
    assert windows(bank)[0].answer == settlement.DISPUTED


def test_opening_position__counts_earlier_unsettled_windows_not_later_or_settled_ones(bank):
    with bank.engine.begin() as connection:   # Window 7's three commits net to 2 800 owed.
        assert settlement.read_opening_position(connection, WINDOW, "EUR") == 0
        assert settlement.read_opening_position(connection, WINDOW + 1, "EUR") == 2_500 + 1_000 - 700
        bank.settlement.apply_window_settled(connection, S.WindowSettled(window_id=WINDOW, bank_id="bank-a",
                                                                         net=eur(700 - 3_500),
                                                                         statement_window_id=WINDOW + 1), now_ms=1)
        assert settlement.read_opening_position(connection, WINDOW + 1, "EUR") == 0   # Settled: owed nothing.


# Liquidity movements -------------------------------------------------------------------------

RESERVES = ledger.internal_account_id(ledger.RESERVES, "EUR")


def funds(movement_id="funds:in-1", *, kind=S.LIQUIDITY_MOVEMENT_KIND_FUNDS_IN, direction=reconcile.CREDIT,
          amount_minor=5_000, window_id=WINDOW, bank_id="bank-a"):
    return S.LiquidityMovement(movement_id=movement_id, bank_id=bank_id, kind=kind, direction=direction,
                               amount=eur(amount_minor), window_id=window_id, external_reference="RTGS-1",
                               recorded_at_unix_ms=1)


def test_liquidity_movement__funds_in_and_out_post_once_against_reserves(bank):
    assert handle(bank, signed(2, funds()))
    assert not handle(bank, signed(2, funds()))           # A replay of the same delivery.
    handle(bank, signed(3, funds("funds:out-1", kind=S.LIQUIDITY_MOVEMENT_KIND_FUNDS_OUT, direction=reconcile.DEBIT,
                                 amount_minor=1_500)))
    assert (bank.balance(LIQUIDITY), bank.balance(RESERVES)) == (-3_500, 3_500)
    with bank.engine.connect() as connection:
        assert [m.movement_id for m in settlement.read_window_movements(connection, WINDOW)] == [
            "funds:in-1", "funds:out-1"]
        assert settlement.read_opening_liquidity(connection, WINDOW, "EUR") == 0
        # No statement of window 7 held: window 8's lists its movements, and opens before them.
        assert settlement.read_opening_liquidity(connection, WINDOW + 1, "EUR") == 0
        assert len(settlement.read_window_movements(connection, WINDOW + 1)) == 2
    deliver_statement(bank, ENTRIES, first_sequence=4)
    with bank.engine.connect() as connection:
        assert settlement.read_opening_liquidity(connection, WINDOW + 1, "EUR") == 3_500
        assert settlement.read_window_movements(connection, WINDOW + 1) == []
    assert bank.books_problems() == []


@pytest.mark.parametrize("movement", [
    funds(bank_id="bank-b"), funds(kind=S.LIQUIDITY_MOVEMENT_KIND_SETTLEMENT), funds(direction=reconcile.DEBIT),
    funds(amount_minor=0), funds("settlement:3"), funds(window_id=0), funds("funds:" + "x" * 80)])
def test_liquidity_movement__one_that_is_not_this_banks_funds_in_or_out_is_refused(bank, movement):
    with pytest.raises(DeliveryRefused):
        handle(bank, signed(2, movement))
    assert bank.balance(LIQUIDITY) == 0


def test_window_settled__is_a_movement_on_the_statement_it_names(bank):
    handle(bank, signed(2, S.WindowSettled(window_id=WINDOW, bank_id="bank-a", net=eur(-2_800), settled_at_unix_ms=1,
                                           statement_window_id=WINDOW + 2)))
    with bank.engine.connect() as connection:
        [moved] = settlement.read_window_movements(connection, WINDOW + 2)
    assert (moved.movement_id, moved.kind, moved.direction, moved.amount.amount_minor, moved.settled_window_id) == (
        f"settlement:{WINDOW}", S.LIQUIDITY_MOVEMENT_KIND_SETTLEMENT, reconcile.DEBIT, 2_800, WINDOW)


def test_statement__movements_the_books_agree_with_are_acknowledged_and_others_are_breaks(bank):
    handle(bank, signed(2, funds()))
    pages = statement(ENTRIES, per_page=3)
    pages[0].movements.extend([funds(), funds("funds:in-2", amount_minor=100)])
    pages[0].movement_count = 2
    pages[0].opening_liquidity.CopyFrom(eur(0))
    pages[0].closing_liquidity.CopyFrom(eur(5_100))
    handle(bank, signed(3, pages[0]))
    [row] = answers(bank)
    breaks = opened(bank, row).breaks
    assert [(b.kind, b.transfer_id) for b in breaks] == [(reconcile.MISSING_AT_NODE, "funds:in-2")]


def test_window_aborted__its_movements_move_to_the_next_window(bank):
    handle(bank, signed(2, funds()))
    handle(bank, signed(3, S.WindowAborted(window_id=WINDOW, moved_to_window_id=WINDOW + 3)))
    with bank.engine.connect() as connection:
        assert [m.movement_id for m in settlement.read_window_movements(connection, WINDOW + 1)] == ["funds:in-1"]
