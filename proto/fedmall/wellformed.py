"""Are the fields of a contract message well formed? One check per message, for both sides.

The clearing applies these to every signed payload it accepts, and a node to what the
clearing sends it, so an id, an account or a text the clearing lets through is one the
payee's node takes too, and the other way round. Each function is pure and returns the
first Problem (the field's path inside the message and what is wrong, in words), or None;
the caller turns it into INVALID_FIELD and puts the path, prefixed with where the message
sits in its request ("prepares[2]."), in the response's field.

Ids: UUID ids by fedmall.identifiers.is_uuid (one spelling per UUID, never nil), bank and
account ids by their patterns there. Text: fedmall.text, with the bounds of fedmall.limits.
Rules of the business (is the payee a participant, is the amount within the cap) are not
here: they belong to the side that owns them.
"""
from __future__ import annotations

from dataclasses import dataclass

from fedmall import ed25519, identifiers, limits, text
from fedmall.v1 import result_pb2, settlement_pb2, transfer_pb2

CONDITION_BYTES = 32
SHA256_BYTES = 32
_RESULT_CODES = frozenset(result_pb2.ResultCode.values())
_BREAK_KINDS = frozenset(settlement_pb2.BreakKind.values()) - {settlement_pb2.BREAK_KIND_UNSPECIFIED}
_NOT_A_UUID = "is not a lowercase hyphenated UUID (nor nil)"


@dataclass(frozen=True, slots=True)
class Problem:
    field: str   # Its path inside the message checked: "reference", "breaks[2].detail".
    text: str    # What is wrong, in words, naming the field.

    def __str__(self) -> str:
        return self.text

    def within(self, prefix: str) -> Problem:
        """The same problem, its path prefixed with where the message sits: "prepares[3]"."""
        return Problem(f"{prefix}.{self.field}" if self.field else prefix, self.text)


def _text(value: str, field: str, *, length_max: int, required: bool = False) -> Problem | None:
    problem = text.text_problem(value, length_max=length_max, what=field, required=required)
    return None if problem is None else Problem(field, problem)


def _uuid(value: str, field: str) -> Problem | None:
    return None if identifiers.is_uuid(value) else Problem(field, f"{field} {_NOT_A_UUID}")


def _bank_id(value: str, field: str) -> Problem | None:
    return None if identifiers.is_bank_id(value) else Problem(field, f"{field} is not a bank id")


def _account_id(value: str, field: str) -> Problem | None:
    return None if identifiers.is_account_id(value) else Problem(field, f"{field} is not an account id")


def prepare_problem(prepare: transfer_pb2.Prepare) -> Problem | None:
    return (_uuid(prepare.transfer_id, "transfer_id")
            or _bank_id(prepare.payer_bank_id, "payer_bank_id") or _bank_id(prepare.payee_bank_id, "payee_bank_id")
            or _account_id(prepare.payee_account, "payee_account")
            or (None if identifiers.is_uetr(prepare.uetr)
                else Problem("uetr", "uetr is not a lowercase hyphenated version 4 UUID"))
            or (_account_id(prepare.debtor_account, "debtor_account") if prepare.debtor_account else None)
            or (_uuid(prepare.original_transfer_id, "original_transfer_id") if prepare.original_transfer_id else None)
            or _text(prepare.reference, "reference", length_max=limits.reference_length_max)
            or _text(prepare.debtor_name, "debtor_name", length_max=limits.party_name_length_max)
            or _text(prepare.creditor_name, "creditor_name", length_max=limits.party_name_length_max))


def accept_problem(accept: transfer_pb2.Accept) -> Problem | None:
    return _uuid(accept.transfer_id, "transfer_id")


def reject_problem(reject: transfer_pb2.Reject) -> Problem | None:
    problem = _uuid(reject.transfer_id, "transfer_id")
    if problem is None and (reject.reason_code not in _RESULT_CODES or reject.reason_code in (
            result_pb2.RESULT_CODE_UNSPECIFIED, result_pb2.RESULT_CODE_OK)):
        problem = Problem("reason_code", f"reason_code {reject.reason_code} is not a refusal the contract defines")
    return problem or _text(reject.reason, "reason", length_max=limits.reject_reason_length_max)


def decision_problem(decision: transfer_pb2.Accept | transfer_pb2.Reject) -> Problem | None:
    if isinstance(decision, transfer_pb2.Accept):
        return accept_problem(decision)
    return reject_problem(decision)


def notice_problem(notice: transfer_pb2.TransferNotice) -> Problem | None:
    """The payee's words a notice carries to the payer (its prepare is checked apart)."""
    return _text(notice.payee_reason, "payee_reason", length_max=limits.reject_reason_length_max)


def statement_entry_problem(entry: settlement_pb2.StatementEntry) -> Problem | None:
    return (_uuid(entry.transfer_id, "transfer_id") or _bank_id(entry.counterparty_bank_id, "counterparty_bank_id")
            or _text(entry.reference, "reference", length_max=limits.reference_length_max))


def movement_problem(movement: settlement_pb2.LiquidityMovement) -> Problem | None:
    """A movement as the clearing sends it: its bank named."""
    return _bank_id(movement.bank_id, "bank_id") or _movement_text_problem(movement)


def _movement_text_problem(movement: settlement_pb2.LiquidityMovement) -> Problem | None:
    return (_text(movement.movement_id, "movement_id", length_max=limits.movement_id_length_max, required=True)
            or _text(movement.external_reference, "external_reference", length_max=limits.reference_length_max))


def reconciliation_problem(answer: settlement_pb2.Reconciliation) -> Problem | None:
    problem = _bank_id(answer.bank_id, "bank_id")
    if problem is None and len(answer.statement_sha256) != SHA256_BYTES:
        problem = Problem("statement_sha256", f"statement_sha256 is {SHA256_BYTES} bytes")
    for index, found in enumerate(answer.breaks):
        if problem is not None:
            break
        problem = _break_problem(found)
        if problem is not None:
            problem = Problem(f"breaks[{index}].{problem.field}", f"break {index}: {problem.text}")
    return problem


def _break_problem(found: settlement_pb2.ReconciliationBreak) -> Problem | None:
    if found.kind not in _BREAK_KINDS:
        return Problem("kind", f"kind {found.kind} is not a break the contract defines")
    # A transfer id (a UUID) or a liquidity movement's id.
    problem = (_text(found.transfer_id, "transfer_id", length_max=limits.movement_id_length_max)
               or _text(found.detail, "detail", length_max=limits.break_detail_length_max))
    for name in ("clearing_entry", "node_entry"):
        if problem is None and found.HasField(name):
            entry = getattr(found, name)
            problem = _text(entry.reference, f"{name}.reference", length_max=limits.reference_length_max)
            if problem is None and entry.transfer_id and not identifiers.is_uuid(entry.transfer_id):
                problem = Problem(f"{name}.transfer_id", f"{name}.transfer_id is not a lowercase hyphenated UUID")
    for name in ("clearing_movement", "node_movement"):  # A node's own movement names no bank.
        if problem is None and found.HasField(name):
            inner = _movement_text_problem(getattr(found, name))
            problem = None if inner is None else inner.within(name)
    return problem


def key_change_problem(change: transfer_pb2.SigningKeyChange) -> Problem | None:
    problem = _bank_id(change.bank_id, "bank_id")
    if problem is None and not identifiers.is_key_id(change.key_id, owner=change.bank_id):
        problem = Problem("key_id", f"key_id is '<bank_id>/<name>', the name 1-{limits.key_name_length_max} letters, "
                                    f"digits, '-', '_' or '.', at most {limits.key_id_length_max} characters in all")
    if problem is not None:
        return problem
    if change.revoke:
        return Problem("public_key", "a revocation carries no public key") if change.public_key else None
    key_problem = ed25519.public_key_problem(change.public_key)
    return None if key_problem is None else Problem("public_key", key_problem)
