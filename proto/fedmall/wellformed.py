"""Are the fields of a contract message well formed? One check per message, for both sides.

The clearing applies these to every signed payload it accepts, and a node to what the
clearing sends it, so an id, an account or a text the clearing lets through is one the
payee's node takes too, and the other way round. Each function is pure and returns the
first problem in words, or None; the caller turns it into INVALID_FIELD.

Ids: UUID ids by fedmall.identifiers.is_uuid (one spelling per UUID, never nil), bank and
account ids by their patterns there. Text: fedmall.text, with the bounds of fedmall.limits.
Rules of the business (is the payee a participant, is the amount within the cap) are not
here: they belong to the side that owns them.
"""
from __future__ import annotations

from fedmall import ed25519, identifiers, limits, text
from fedmall.v1 import result_pb2, settlement_pb2, transfer_pb2

CONDITION_BYTES = 32
SHA256_BYTES = 32
_RESULT_CODES = frozenset(result_pb2.ResultCode.values())
_BREAK_KINDS = frozenset(settlement_pb2.BreakKind.values()) - {settlement_pb2.BREAK_KIND_UNSPECIFIED}


def prepare_problem(prepare: transfer_pb2.Prepare) -> str | None:
    if not identifiers.is_uuid(prepare.transfer_id):
        return "transfer_id is not a lowercase hyphenated UUID (nor nil)"
    if not identifiers.is_bank_id(prepare.payer_bank_id) or not identifiers.is_bank_id(prepare.payee_bank_id):
        return "payer_bank_id or payee_bank_id is not a bank id"
    if not identifiers.is_account_id(prepare.payee_account):
        return "payee_account is not an account id"
    if not identifiers.is_uetr(prepare.uetr):
        return "uetr is not a lowercase hyphenated version 4 UUID"
    if prepare.debtor_account and not identifiers.is_account_id(prepare.debtor_account):
        return "debtor_account is not an account id"
    if prepare.original_transfer_id and not identifiers.is_uuid(prepare.original_transfer_id):
        return "original_transfer_id is not a lowercase hyphenated UUID"
    return (text.text_problem(prepare.reference, length_max=limits.reference_length_max, what="reference")
            or text.text_problem(prepare.debtor_name, length_max=limits.party_name_length_max, what="debtor_name")
            or text.text_problem(prepare.creditor_name, length_max=limits.party_name_length_max,
                                 what="creditor_name"))


def accept_problem(accept: transfer_pb2.Accept) -> str | None:
    if not identifiers.is_uuid(accept.transfer_id):
        return "transfer_id is not a lowercase hyphenated UUID (nor nil)"
    return None


def reject_problem(reject: transfer_pb2.Reject) -> str | None:
    if not identifiers.is_uuid(reject.transfer_id):
        return "transfer_id is not a lowercase hyphenated UUID (nor nil)"
    if reject.reason_code not in _RESULT_CODES or reject.reason_code in (result_pb2.RESULT_CODE_UNSPECIFIED,
                                                                          result_pb2.RESULT_CODE_OK):
        return f"reason_code {reject.reason_code} is not a refusal the contract defines"
    return text.text_problem(reject.reason, length_max=limits.reject_reason_length_max, what="reason")


def decision_problem(decision: transfer_pb2.Accept | transfer_pb2.Reject) -> str | None:
    if isinstance(decision, transfer_pb2.Accept):
        return accept_problem(decision)
    return reject_problem(decision)


def statement_entry_problem(entry: settlement_pb2.StatementEntry) -> str | None:
    if not identifiers.is_uuid(entry.transfer_id):
        return "statement entry: transfer_id is not a lowercase hyphenated UUID"
    if not identifiers.is_bank_id(entry.counterparty_bank_id):
        return "statement entry: counterparty_bank_id is not a bank id"
    return text.text_problem(entry.reference, length_max=limits.reference_length_max, what="statement entry reference")


def movement_problem(movement: settlement_pb2.LiquidityMovement) -> str | None:
    """A movement as the clearing sends it: its bank named."""
    if not identifiers.is_bank_id(movement.bank_id):
        return "movement: bank_id is not a bank id"
    return _movement_text_problem(movement)


def _movement_text_problem(movement: settlement_pb2.LiquidityMovement) -> str | None:
    problem = text.text_problem(movement.movement_id, length_max=limits.movement_id_length_max, what="movement_id",
                                required=True)
    return problem or text.text_problem(movement.external_reference, length_max=limits.reference_length_max,
                                        what="external_reference")


def reconciliation_problem(answer: settlement_pb2.Reconciliation) -> str | None:
    if not identifiers.is_bank_id(answer.bank_id):
        return "bank_id is not a bank id"
    if len(answer.statement_sha256) != SHA256_BYTES:
        return f"statement_sha256 is {SHA256_BYTES} bytes"
    for index, found in enumerate(answer.breaks):
        problem = _break_problem(found)
        if problem is not None:
            return f"break {index}: {problem}"
    return None


def _break_problem(found: settlement_pb2.ReconciliationBreak) -> str | None:
    if found.kind not in _BREAK_KINDS:
        return f"kind {found.kind} is not a break the contract defines"
    # A transfer id (a UUID) or a liquidity movement's id.
    problem = text.text_problem(found.transfer_id, length_max=limits.movement_id_length_max, what="transfer_id")
    problem = problem or text.text_problem(found.detail, length_max=limits.break_detail_length_max, what="detail")
    for name in ("clearing_entry", "node_entry"):
        if problem is None and found.HasField(name):
            entry = getattr(found, name)
            problem = text.text_problem(entry.reference, length_max=limits.reference_length_max,
                                        what=f"{name}.reference")
            if problem is None and entry.transfer_id and not identifiers.is_uuid(entry.transfer_id):
                problem = f"{name}.transfer_id is not a lowercase hyphenated UUID"
    for name in ("clearing_movement", "node_movement"):  # A node's own movement names no bank.
        if problem is None and found.HasField(name):
            problem = _movement_text_problem(getattr(found, name))
    return problem


def key_change_problem(change: transfer_pb2.SigningKeyChange) -> str | None:
    if not identifiers.is_bank_id(change.bank_id):
        return "bank_id is not a bank id"
    if not identifiers.is_key_id(change.key_id, owner=change.bank_id):
        return (f"key_id is '<bank_id>/<name>', the name 1-{limits.key_name_length_max} letters, digits, '-', '_' "
                f"or '.', at most {limits.key_id_length_max} characters in all")
    if change.revoke:
        return "a revocation carries no public key" if change.public_key else None
    return ed25519.public_key_problem(change.public_key)
