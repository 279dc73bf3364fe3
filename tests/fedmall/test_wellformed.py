"""The field checks of signed messages (fedmall.wellformed): what a node writes passes, what
breaks the contract's id and text rules does not."""
from __future__ import annotations

import uuid

from fedmall import limits, wellformed
from fedmall.v1 import money_pb2, settlement_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc


def entry(**changes) -> settlement_pb2.StatementEntry:
    fields = dict(transfer_id=str(uuid.uuid4()), direction=settlement_pb2.ENTRY_DIRECTION_DEBIT,
                  counterparty_bank_id="bank-b", amount=money_pb2.Money(amount_minor=1, currency="EUR"),
                  reference="order 7")
    return settlement_pb2.StatementEntry(**{**fields, **changes})


def dispute(*breaks) -> settlement_pb2.Reconciliation:
    return settlement_pb2.Reconciliation(window_id=3, bank_id="bank-a", statement_sha256=bytes(32), breaks=breaks)


def test_reconciliation__every_kind_of_break_a_node_writes_passes():
    node_movement = settlement_pb2.LiquidityMovement(   # A node's books name no bank on a movement.
        movement_id="funds:m-1", kind=settlement_pb2.LIQUIDITY_MOVEMENT_KIND_FUNDS_IN,
        amount=money_pb2.Money(amount_minor=1, currency="EUR"), external_reference="wire 42")
    answer = dispute(
        settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_MISSING_AT_NODE,
                                           transfer_id=str(uuid.uuid4()), clearing_entry=entry()),
        settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_AMOUNT_DIFFERS, transfer_id=str(uuid.uuid4()),
                                           clearing_entry=entry(), node_entry=entry(reference="")),
        settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_MISSING_AT_CLEARING,
                                           transfer_id="funds:m-1", node_movement=node_movement),
        settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_STATEMENT_INCONSISTENT,
                                           detail="entries net to 5, the statement says 4"))
    assert wellformed.reconciliation_problem(answer) is None
    assert wellformed.reconciliation_problem(dispute()) is None


def test_reconciliation__unprintable_or_unbounded_text_or_an_unknown_kind_is_a_problem():
    for found in (
        settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_STATEMENT_INCONSISTENT, detail="a\nb"),
        settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_STATEMENT_INCONSISTENT,
                                           detail="d" * (limits.break_detail_length_max + 1)),
        settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_MISSING_AT_NODE, transfer_id="t\u202e1"),
        settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_MISSING_AT_NODE,
                                           clearing_entry=entry(reference="\u2066x")),
        settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_MISSING_AT_NODE,
                                           node_entry=entry(transfer_id=str(uuid.uuid4()).upper())),
        settlement_pb2.ReconciliationBreak(kind=0),
        settlement_pb2.ReconciliationBreak(kind=99),
    ):
        assert wellformed.reconciliation_problem(dispute(found)) is not None, found
    assert wellformed.reconciliation_problem(settlement_pb2.Reconciliation(bank_id="bank-a")) is not None


def test_decisions__ids_reason_codes_and_reasons():
    transfer_id = str(uuid.uuid4())
    assert wellformed.decision_problem(transfer_pb2.Accept(transfer_id=transfer_id)) is None
    assert wellformed.decision_problem(transfer_pb2.Accept(transfer_id=transfer_id.upper())) is not None
    sound = transfer_pb2.Reject(transfer_id=transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN,
                                reason="r" * limits.reject_reason_length_max)
    assert wellformed.decision_problem(sound) is None
    for changes in (dict(reason="r" * (limits.reject_reason_length_max + 1)), dict(reason="\x07"),
                    dict(reason_code=rc.RESULT_CODE_OK), dict(reason_code=rc.RESULT_CODE_UNSPECIFIED),
                    dict(reason_code=10_000), dict(transfer_id=str(uuid.UUID(int=0)))):
        rejected = transfer_pb2.Reject()
        rejected.CopyFrom(sound)
        for name, value in changes.items():
            setattr(rejected, name, value)
        assert wellformed.decision_problem(rejected) is not None, changes


def test_statement_entries_and_movements__as_the_clearing_sends_them():
    assert wellformed.statement_entry_problem(entry()) is None
    assert wellformed.statement_entry_problem(entry(reference="\x1b[2J")) is not None
    assert wellformed.statement_entry_problem(entry(counterparty_bank_id="")) is not None
    movement = settlement_pb2.LiquidityMovement(movement_id="settlement:4", bank_id="bank-a")
    assert wellformed.movement_problem(movement) is None
    movement.bank_id = ""
    assert wellformed.movement_problem(movement) is not None


def test_problems__name_the_field_at_fault():
    transfer_id = "0b6e2f1c-3c1e-4a55-9d55-2a8f2d1f7c11"
    reject = transfer_pb2.Reject(transfer_id=transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN,
                                 reason="x" * (limits.reject_reason_length_max + 1))
    assert wellformed.decision_problem(reject).field == "reason"
    assert wellformed.decision_problem(reject).within("rejects[4]").field == "rejects[4].reason"
    change = transfer_pb2.SigningKeyChange(bank_id="bank-a", key_id="bank-b/k2", public_key=b"\x01" * 32)
    assert wellformed.key_change_problem(change).field == "key_id"
    answer = settlement_pb2.Reconciliation(bank_id="bank-a", statement_sha256=b"\x00" * 32, breaks=[
        settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_DUPLICATE, node_movement=settlement_pb2.
                                           LiquidityMovement(movement_id="funds:\u200bx"))])
    assert wellformed.reconciliation_problem(answer).field == "breaks[0].node_movement.movement_id"
