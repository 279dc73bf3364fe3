"""Pure rules of the clearing: is a prepare acceptable, does it fit under the payer's limits.

Outside input gets a result code from here, never an assertion.
"""
from __future__ import annotations

from dataclasses import dataclass

from fedmall import identifiers, limits, money, wellformed
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import transfer_pb2

# Participant statuses (clearing.membership draws their life cycle).
ACTIVE = "active"
SUSPENDED = "suspended"
ONBOARDING = "onboarding"    # Admitted; its node has not called the clearing yet.
LEFT = "left"                # Left the consortium; its row stays for its history.
CONDITION_BYTES = wellformed.CONDITION_BYTES
# participants set-threshold: the share of its cap at which a bank is flagged.
CAP_ALERT_PERCENT_MIN, CAP_ALERT_PERCENT_MAX = 1, 100

# Why a bank in each status other than ACTIVE may neither pay nor be paid.
NOT_ACTIVE_RESULTS = {SUSPENDED: rc.RESULT_CODE_PARTICIPANT_SUSPENDED,
                      ONBOARDING: rc.RESULT_CODE_PARTICIPANT_ONBOARDING,
                      LEFT: rc.RESULT_CODE_PARTICIPANT_LEFT}


# What a member may call on ClearingService in each status; clearing.servicer.MembershipGate
# applies it to every call before any servicer runs, and clearing.membership says why. An
# ONBOARDING bank's first call makes it ACTIVE (Registry.record_connected), so it is judged
# as ACTIVE. A LEFT bank, a bank that is no participant and any other role may call nothing.
# A method missing here is refused to every bank (tests/adversarial/test_membership.py
# checks the table against the service).
ACTIVE_ONLY = frozenset({ACTIVE})
ACTIVE_OR_SUSPENDED = frozenset({ACTIVE, SUSPENDED})
MEMBER_CALLS: dict[str, frozenset[str]] = {
    # New transfers: a suspended bank starts none (and is named in none: prepare_problem).
    "SubmitPrepares": ACTIVE_ONLY,
    # Its keys: a suspended bank adds none and revokes none (to be resumed, or to leave, which
    # revokes them all).
    "ChangeSigningKey": ACTIVE_ONLY,
    # Finishing what was started, so nothing waits on it: deciding the transfers reserved to it
    # before its suspension (none can be reserved since), its delivery stream, its statements
    # and their answers (a window it paid or was paid in needs its answer to settle).
    "SubmitDecisions": ACTIVE_OR_SUSPENDED,
    "StreamDeliveries": ACTIVE_OR_SUSPENDED,
    "GetStatement": ACTIVE_OR_SUSPENDED,
    "GetSettlementReport": ACTIVE_OR_SUSPENDED,
    "SubmitReconciliation": ACTIVE_OR_SUSPENDED,
    # What its node reads to run at all: its transfers, position, the registry (it learns of its
    # own suspension there) and the certificates to refuse.
    "GetTransfer": ACTIVE_OR_SUSPENDED,
    "GetPosition": ACTIVE_OR_SUSPENDED,
    "ListParticipants": ACTIVE_OR_SUSPENDED,
    "ListRevokedCertificates": ACTIVE_OR_SUSPENDED,
    "GetLimits": ACTIVE_OR_SUSPENDED,
}


def call_refusal(status: str, method: str) -> int:
    """OK, or why a member in status may not call method: its status's result code
    (PARTICIPANT_SUSPENDED...), FORBIDDEN for a method not in MEMBER_CALLS. Pure."""
    allowed = MEMBER_CALLS.get(method)
    if allowed is None:
        return rc.RESULT_CODE_FORBIDDEN
    if status in allowed:
        return rc.RESULT_CODE_OK
    return NOT_ACTIVE_RESULTS.get(status, rc.RESULT_CODE_FORBIDDEN)


@dataclass(frozen=True, slots=True)
class ParticipantTerms:
    bank_id: str
    currency: str
    status: str


is_uuid = identifiers.is_uuid
is_account_id = identifiers.is_account_id


def prepare_problem(
    prepare: transfer_pb2.Prepare,
    *,
    signer: str,
    participants: dict[str, ParticipantTerms],
    now_ms: int,
) -> int:
    """The first problem with a prepare as a result code, or RESULT_CODE_OK. Unknown fields and
    non-canonical bytes never get here: fedmall.envelope refuses the whole envelope."""
    if prepare.ByteSize() > limits.prepare_bytes_max or wellformed.prepare_problem(prepare) is not None:
        return rc.RESULT_CODE_INVALID_FIELD
    if prepare.payer_bank_id != signer:
        return rc.RESULT_CODE_PAYER_NOT_SIGNER
    payer = participants.get(prepare.payer_bank_id)
    payee = participants.get(prepare.payee_bank_id)
    if payer is None or payee is None:
        return rc.RESULT_CODE_UNKNOWN_PARTICIPANT
    for status in (payer.status, payee.status):
        if status != ACTIVE:
            return NOT_ACTIVE_RESULTS[status]
    if payer.bank_id == payee.bank_id:
        return rc.RESULT_CODE_PAYER_IS_PAYEE
    currency = prepare.amount.currency
    if currency not in money.CURRENCY_EXPONENTS or currency != payer.currency or currency != payee.currency:
        return rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED
    if not money.is_valid_amount(prepare.amount.amount_minor):
        return rc.RESULT_CODE_INVALID_AMOUNT
    if len(prepare.condition) != CONDITION_BYTES:
        return rc.RESULT_CODE_INVALID_CONDITION
    if not now_ms + limits.expiry_ms_min <= prepare.expires_at_unix_ms <= now_ms + limits.expiry_ms_max:
        return rc.RESULT_CODE_INVALID_EXPIRY
    return rc.RESULT_CODE_OK


@dataclass(frozen=True, slots=True)
class OriginalTransfer:
    """The transfer a return names, as the clearing holds it."""
    payer_bank_id: str
    payee_bank_id: str
    amount_minor: int
    currency: str
    committed: bool


def return_problem(prepare: transfer_pb2.Prepare, original: OriginalTransfer | None) -> int:
    """A return (prepare.original_transfer_id set) gives money back along the original's path:
    the original committed, went the other way between the same two banks, in the same
    currency, for at least this amount. RETURN_NOT_OF_ORIGINAL otherwise, so a pacs.004 never
    names a payment that did not happen or that other banks made. Several partial returns of
    one original are each checked against the original's amount, not their sum: a payee bank
    that returns more than it was paid over several returns pays it from its own position."""
    if original is None or not original.committed:
        return rc.RESULT_CODE_RETURN_NOT_OF_ORIGINAL
    if (original.payer_bank_id, original.payee_bank_id) != (prepare.payee_bank_id, prepare.payer_bank_id):
        return rc.RESULT_CODE_RETURN_NOT_OF_ORIGINAL
    if original.currency != prepare.amount.currency or prepare.amount.amount_minor > original.amount_minor:
        return rc.RESULT_CODE_RETURN_NOT_OF_ORIGINAL
    return rc.RESULT_CODE_OK


def headroom_problem(
    *, position_minor: int, reserved_minor: int, amount_minor: int,
    net_debit_cap_minor: int, liquidity_minor: int,
) -> int:
    """Would reserving amount_minor more take the payer past its cap or its liquidity?

    Exposure is what the payer would owe if every reserved transfer committed:
    position + reserved + amount. It may exceed neither the net debit cap the operator
    set (NET_DEBIT_CAP_EXCEEDED) nor the prefunded liquidity behind it
    (INSUFFICIENT_LIQUIDITY, which binds only where the cap was set above the
    liquidity, for example after liquidity was drawn down). The amount is within
    limits.amount_minor_max (prepare_problem), and bounds_problem keeps what the payer and
    the payee add up to in range after this.

    What the cap bounds across settlement: the position counts every committed transfer
    of the windows not settled yet, credits included, so a bank may spend what it was
    paid before that is settled. Final settlement adds a window's net to the position
    and to the liquidity alike; position - liquidity never changes there, so exposure
    stays within the liquidity, but a bank that was a net receiver can stand above its
    cap afterwards, by at most what it was paid. Its headroom (headroom_minor) is then
    negative and it reserves nothing new until its position comes down.
    """
    exposure_minor = position_minor + reserved_minor + amount_minor
    if exposure_minor > net_debit_cap_minor:
        return rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED
    if exposure_minor > liquidity_minor:
        return rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY
    return rc.RESULT_CODE_OK


def bounds_problem(*, amount_minor: int, payer_unsettled_gross_minor: int, payee_unsettled_gross_minor: int,
                   payee_liquidity_minor: int) -> int:
    """Would reserving amount_minor take the payer or the payee past a bound that keeps every sum
    of money in range (fedmall.limits, where the bounds are derived)?

    Each bank's unsettled gross (its transfers reserved, or committed in a window not settled,
    paid and received) grows by the amount on both sides: neither may pass
    unsettled_gross_minor_max (UNSETTLED_GROSS_EXCEEDED). That bounds the payee's position and
    every window sum however many windows are unsettled, which a net debit cap alone does not:
    two banks paying each other back and forth stay under their caps while the gross and the
    receiver's position grow without end. The payee's liquidity plus its unsettled gross, the
    most its liquidity could reach, may not pass liquidity_ceiling_minor_max
    (LIQUIDITY_CEILING_EXCEEDED): a bank paid window after window would otherwise pile up
    liquidity without end. Python ints do not overflow, so the sums here are exact."""
    if max(payer_unsettled_gross_minor, payee_unsettled_gross_minor) + amount_minor > limits.unsettled_gross_minor_max:
        return rc.RESULT_CODE_UNSETTLED_GROSS_EXCEEDED
    if liquidity_ceiling_problem(liquidity_minor=payee_liquidity_minor,
                                 unsettled_gross_minor=payee_unsettled_gross_minor, amount_minor=amount_minor):
        return rc.RESULT_CODE_LIQUIDITY_CEILING_EXCEEDED
    return rc.RESULT_CODE_OK


def liquidity_ceiling_problem(*, liquidity_minor: int, unsettled_gross_minor: int, amount_minor: int) -> bool:
    """Would amount_minor more (paid to the bank, or funds in) take its liquidity plus unsettled
    gross past limits.liquidity_ceiling_minor_max?"""
    return liquidity_minor + unsettled_gross_minor + amount_minor > limits.liquidity_ceiling_minor_max


def headroom_minor(*, position_minor: int, reserved_minor: int, net_debit_cap_minor: int,
                   liquidity_minor: int) -> int:
    """What the bank may still reserve: the lower of cap and liquidity, less its exposure
    (negative after a settlement left it above its cap; see headroom_problem)."""
    return min(net_debit_cap_minor, liquidity_minor) - position_minor - reserved_minor


def available_liquidity_minor(participant) -> int:
    """The liquidity that backs new transfers: less the funds out reserved and not yet
    committed or aborted (clearing.funds), which are on their way out."""
    return participant.liquidity_minor - participant.funds_out_reserved_minor


def cap_used_percent(*, position_minor: int, reserved_minor: int, net_debit_cap_minor: int) -> int | None:
    """How much of its net debit cap the bank's exposure (position + reserved) uses, in whole
    percent rounded down; 0 for a bank that is owed, above 100 when the operator lowered the cap
    under its exposure (or a settlement paid it more; see headroom_problem). None for a cap of
    zero: there is nothing to take a share of."""
    if net_debit_cap_minor == 0:
        return None
    return max(0, position_minor + reserved_minor) * 100 // net_debit_cap_minor


def over_threshold(*, position_minor: int, reserved_minor: int, net_debit_cap_minor: int,
                   alert_percent: int) -> bool:
    """Is the exposure at or above alert_percent of the cap? Compared in integers, so it agrees
    with cap_used_percent >= alert_percent. A cap of zero is always over: the bank can reserve
    nothing at all."""
    exposure_minor = max(0, position_minor + reserved_minor)
    return exposure_minor * 100 >= alert_percent * net_debit_cap_minor
