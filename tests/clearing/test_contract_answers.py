"""What the contract promises a member in every answer, over real mTLS gRPC on SQLite and
PostgreSQL: an INVALID_FIELD names the field's path in the signed payload or the request, and
GetLimits serves exactly the bounds the clearing enforces. Each refusal changes nothing."""
from __future__ import annotations

from fedmall import limits, served_limits
from fedmall.v1 import clearing_pb2, settlement_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from tests.clearing.test_transfers import positions, reserve, submit_decisions, submit_prepares
from tests.support.federation import make_prepare


def test_prepare__invalid_field_names_its_path_in_the_batch(world):
    sound = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    bad_reference = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    bad_reference.reference = "pay\u202eme"
    bad_account = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock(), account="acct 1")
    bad_id = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock(), transfer_id="not-a-uuid")
    response = submit_prepares(world, "bank-a", sound, bad_reference, bad_account, bad_id)
    assert [(r.result, r.field) for r in response.results] == [
        (rc.RESULT_CODE_OK, ""), (rc.RESULT_CODE_INVALID_FIELD, "prepares[1].reference"),
        (rc.RESULT_CODE_INVALID_FIELD, "prepares[2].payee_account"),
        (rc.RESULT_CODE_INVALID_FIELD, "prepares[3].transfer_id")]
    assert positions(world)["bank-a"] == (0, 100)   # Only the sound one was reserved.


def test_prepare__over_its_byte_bound_names_the_field_that_made_it_so(world):
    big = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    big.reference = "x" * 2_000
    assert big.ByteSize() > limits.prepare_bytes_max
    [result] = submit_prepares(world, "bank-a", big).results
    assert (result.result, result.field) == (rc.RESULT_CODE_INVALID_FIELD, "prepares[0].reference")


def test_decisions__invalid_field_names_accepts_or_rejects_and_the_field(world):
    prepare = reserve(world)
    response = submit_decisions(world, "bank-b", accepts=[transfer_pb2.Accept(transfer_id="X", fulfilment=b"1")],
                                rejects=[transfer_pb2.Reject(transfer_id=prepare.transfer_id,
                                                             reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN,
                                                             reason="no\nsuch account"),
                                         transfer_pb2.Reject(transfer_id=prepare.transfer_id,
                                                             reason_code=rc.RESULT_CODE_OK)])
    assert [(r.result, r.field) for r in response.results] == [
        (rc.RESULT_CODE_INVALID_FIELD, "accepts[0].transfer_id"), (rc.RESULT_CODE_INVALID_FIELD, "rejects[0].reason"),
        (rc.RESULT_CODE_INVALID_FIELD, "rejects[1].reason_code")]
    assert positions(world)["bank-a"] == (0, 1_000)   # Still reserved: nothing was decided.


def test_reconciliation__invalid_field_names_the_break_and_its_field(world):
    from tests.clearing.test_windows import answer, close, commit
    commit(world, "bank-a", "bank-b", 500)
    window_id = close(world)
    broken = settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_STATEMENT_INCONSISTENT,
                                                detail="bad\x1b[2J")
    envelope_result = answer(world, "bank-a", window_id, breaks=[settlement_pb2.ReconciliationBreak(
        kind=settlement_pb2.BREAK_KIND_STATEMENT_INCONSISTENT, detail="fine"), broken])
    assert envelope_result == rc.RESULT_CODE_INVALID_FIELD
    digest = b"\x00" * 32
    reconciliation = settlement_pb2.Reconciliation(window_id=window_id, bank_id="bank-a", statement_sha256=digest,
                                                   breaks=[broken])
    response = world.stub("bank-a").SubmitReconciliation(clearing_pb2.SubmitReconciliationRequest(
        envelope=world.banks["bank-a"].signing_key.sign(reconciliation)))
    assert (response.result, response.field) == (rc.RESULT_CODE_INVALID_FIELD, "breaks[0].detail")


def test_get_transfer__a_malformed_id_names_the_field(world):
    response = world.stub("bank-a").GetTransfer(clearing_pb2.GetTransferRequest(transfer_id="nope"))
    assert (response.result, response.field) == (rc.RESULT_CODE_INVALID_FIELD, "transfer_id")


def test_get_limits__serves_every_bound_the_clearing_enforces(world):
    served = world.stub("bank-a").GetLimits(clearing_pb2.GetLimitsRequest()).limits
    assert served == served_limits.limits_message()
    assert (served.prepares_per_batch_max, served.envelope_bytes_max, served.expiry_ms_max) == (
        limits.prepares_per_batch_max, limits.envelope_bytes_max, limits.expiry_ms_max)


def test_admin__invalid_field_names_the_request_field(world):
    from fedmall.v1 import money_pb2
    admin = world.operator_stub()
    cap = admin.SetNetDebitCap(clearing_pb2.SetNetDebitCapRequest(
        bank_id="bank-a", cap=money_pb2.Money(amount_minor=5, currency="EUR"), reason=""))
    assert (cap.result, cap.field) == (rc.RESULT_CODE_INVALID_FIELD, "reason")
    terms = clearing_pb2.FundsMovementTerms(movement_id="no spaces", bank_id="bank-a", external_reference="RTGS-1",
                                            amount=money_pb2.Money(amount_minor=5, currency="EUR"))
    funds_in = admin.RecordFundsIn(clearing_pb2.RecordFundsInRequest(terms=terms, reason="top up"))
    assert (funds_in.result, funds_in.field) == (rc.RESULT_CODE_INVALID_FIELD, "terms.movement_id")
    assert world.participant("bank-a").net_debit_cap_minor != 5
