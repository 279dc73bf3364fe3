"""The clearing's pure rules (clearing/rules.py), each refusal at its own boundary and in the
order the rules are judged: the first problem wins, so a prepare with two is refused for
the earlier one. Fast, so the mutation run (scripts/mutants) can use them for every mutant."""
import uuid

import pytest

from fedmall import limits
from fedmall.v1 import result_pb2 as rc

from clearing import rules
from tests.support.federation import make_prepare

NOW_MS = 1_900_000_000_777  # Low bits set: now + a bound is not now | the bound.
ACTIVE_TERMS = {bank_id: rules.ParticipantTerms(bank_id, "EUR", rules.ACTIVE) for bank_id in ("bank-a", "bank-b")}


def problem(prepare, *, signer: str = "bank-a", participants=None) -> int:
    return rules.prepare_problem(prepare, signer=signer, participants=ACTIVE_TERMS if participants is None
                                 else participants, now_ms=NOW_MS)


def prepare(**changes):
    message = make_prepare("bank-a", "bank-b", 1_000, now_ms=NOW_MS)
    for name, value in changes.items():
        if name == "amount_minor":
            message.amount.amount_minor = value
        elif name == "currency":
            message.amount.currency = value
        else:
            setattr(message, name, value)
    return message


def test_prepare__a_sound_prepare_is_ok():
    assert problem(prepare()) == rc.RESULT_CODE_OK


@pytest.mark.parametrize("changes, code", [
    (dict(transfer_id="not-a-uuid"), rc.RESULT_CODE_INVALID_FIELD),
    (dict(transfer_id=str(uuid.uuid4()).replace("-", "")), rc.RESULT_CODE_INVALID_FIELD),
    (dict(transfer_id=str(uuid.uuid4()).upper()), rc.RESULT_CODE_INVALID_FIELD),
    (dict(transfer_id=str(uuid.UUID(int=0))), rc.RESULT_CODE_INVALID_FIELD),
    (dict(reference="order 1\nPAID IN FULL"), rc.RESULT_CODE_INVALID_FIELD),
    (dict(reference="invoice \u202egnp.exe"), rc.RESULT_CODE_INVALID_FIELD),
    (dict(payee_bank_id="bank b"), rc.RESULT_CODE_INVALID_FIELD),
    (dict(payee_account="bad account"), rc.RESULT_CODE_INVALID_FIELD),
    (dict(payee_account=""), rc.RESULT_CODE_INVALID_FIELD),
    (dict(reference="r" * (limits.reference_length_max + 1)), rc.RESULT_CODE_INVALID_FIELD),
    (dict(uetr=""), rc.RESULT_CODE_INVALID_FIELD),                                  # Every transfer has one.
    (dict(uetr=str(uuid.uuid1())), rc.RESULT_CODE_INVALID_FIELD),                   # Not version 4.
    (dict(uetr=str(uuid.uuid4()).upper()), rc.RESULT_CODE_INVALID_FIELD),
    (dict(uetr="0" * 8 + "-0000-4000-c000-" + "0" * 12), rc.RESULT_CODE_INVALID_FIELD),   # Not RFC 4122's variant.
    (dict(debtor_account="bad account"), rc.RESULT_CODE_INVALID_FIELD),
    (dict(debtor_name="d" * (limits.party_name_length_max + 1)), rc.RESULT_CODE_INVALID_FIELD),
    (dict(creditor_name="Bob\u200bShop"), rc.RESULT_CODE_INVALID_FIELD),
    (dict(original_transfer_id="not-a-uuid"), rc.RESULT_CODE_INVALID_FIELD),
    (dict(payer_bank_id="bank-b"), rc.RESULT_CODE_PAYER_NOT_SIGNER),
    (dict(payer_bank_id="bank-0"), rc.RESULT_CODE_PAYER_NOT_SIGNER),   # Before the signer in order, not only after.
    (dict(payee_bank_id="bank-z"), rc.RESULT_CODE_UNKNOWN_PARTICIPANT),
    (dict(payee_bank_id="bank-a"), rc.RESULT_CODE_PAYER_IS_PAYEE),
    (dict(currency="USD"), rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED),
    (dict(currency="XXX"), rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED),
    (dict(amount_minor=0), rc.RESULT_CODE_INVALID_AMOUNT),
    (dict(amount_minor=-1), rc.RESULT_CODE_INVALID_AMOUNT),
    (dict(condition=b"c" * 31), rc.RESULT_CODE_INVALID_CONDITION),
    (dict(condition=b"c" * 33), rc.RESULT_CODE_INVALID_CONDITION),
    (dict(expires_at_unix_ms=NOW_MS), rc.RESULT_CODE_INVALID_EXPIRY),
])
def test_prepare__each_problem_has_its_code(changes, code):
    assert problem(prepare(**changes)) == code


def test_prepare__the_longest_fields_and_the_smallest_amount_are_allowed():
    longest = prepare(reference="\U0001F600" * limits.reference_length_max, amount_minor=1,
                      payee_account="a" * limits.account_id_length_max)
    assert longest.ByteSize() > 256 and problem(longest) == rc.RESULT_CODE_OK   # Above the ints Python keeps cached.


@pytest.mark.parametrize("expires_in_ms, code", [
    (limits.expiry_ms_min - 1, rc.RESULT_CODE_INVALID_EXPIRY),
    (limits.expiry_ms_min, rc.RESULT_CODE_OK),
    (limits.expiry_ms_max, rc.RESULT_CODE_OK),
    (limits.expiry_ms_max + 1, rc.RESULT_CODE_INVALID_EXPIRY),
])
def test_prepare__expiry_exactly_at_its_bounds_is_allowed_one_past_is_not(expires_in_ms, code):
    assert problem(prepare(expires_at_unix_ms=NOW_MS + expires_in_ms)) == code


def test_prepare__the_parties_shared_are_optional_and_allowed_at_their_bounds():
    assert problem(prepare(debtor_name="", debtor_account="", creditor_name="")) == rc.RESULT_CODE_OK
    assert problem(prepare(debtor_name="\u5f20" * limits.party_name_length_max, creditor_name="Bob's Shop",
                           debtor_account="a" * limits.account_id_length_max,
                           original_transfer_id=str(uuid.uuid4()))) == rc.RESULT_CODE_OK


def test_prepare__every_field_at_its_bound_fits_under_the_byte_limit():
    """The byte bound is a second line: a prepare whose fields are all within their own bounds
    (ids, accounts, a reference of 140 four-byte characters, two names of 70, the largest
    amount) is under it."""
    payer, payee = "p" * limits.bank_id_length_max, "q" * limits.bank_id_length_max
    largest = make_prepare(payer, payee, limits.amount_minor_max, now_ms=NOW_MS, account="a" * limits.account_id_length_max,
                           expires_in_ms=limits.expiry_ms_max)
    largest.reference = "\U0001D11E" * limits.reference_length_max
    largest.debtor_name = largest.creditor_name = "\U0001D11E" * limits.party_name_length_max
    largest.debtor_account = "d" * limits.account_id_length_max
    largest.original_transfer_id = str(uuid.uuid4())
    assert largest.ByteSize() <= limits.prepare_bytes_max
    terms = {bank_id: rules.ParticipantTerms(bank_id, "EUR", rules.ACTIVE) for bank_id in (payer, payee)}
    assert problem(largest, signer=payer, participants=terms) == rc.RESULT_CODE_OK


def test_prepare__oversize_is_an_invalid_field():
    assert problem(prepare(reference="r" * limits.prepare_bytes_max)) == rc.RESULT_CODE_INVALID_FIELD
    sized = prepare(payer_bank_id="p" * limits.prepare_bytes_max)
    assert sized.ByteSize() > limits.prepare_bytes_max
    assert problem(sized, signer=sized.payer_bank_id) == rc.RESULT_CODE_INVALID_FIELD


@pytest.mark.parametrize("payer_status, payee_status", [(rules.SUSPENDED, rules.ACTIVE),
                                                        (rules.ACTIVE, rules.SUSPENDED)])
def test_prepare__a_suspended_payer_or_payee_is_refused(payer_status, payee_status):
    terms = {"bank-a": rules.ParticipantTerms("bank-a", "EUR", payer_status),
             "bank-b": rules.ParticipantTerms("bank-b", "EUR", payee_status)}
    assert problem(prepare(), participants=terms) == rc.RESULT_CODE_PARTICIPANT_SUSPENDED


@pytest.mark.parametrize("payer_currency, payee_currency, currency", [
    ("USD", "EUR", "EUR"), ("EUR", "USD", "EUR"), ("EUR", "USD", "USD"), ("USD", "EUR", "USD")])
def test_prepare__a_currency_either_bank_does_not_hold_is_refused(payer_currency, payee_currency, currency):
    terms = {"bank-a": rules.ParticipantTerms("bank-a", payer_currency, rules.ACTIVE),
             "bank-b": rules.ParticipantTerms("bank-b", payee_currency, rules.ACTIVE)}
    assert problem(prepare(currency=currency), participants=terms) == rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED


def test_prepare__a_payer_after_its_payee_in_order_pays_it():
    message = make_prepare("bank-b", "bank-a", 1_000, now_ms=NOW_MS)
    assert problem(message, signer="bank-b") == rc.RESULT_CODE_OK


def test_prepare__an_unknown_payer_is_refused():
    assert problem(prepare(), participants={"bank-b": ACTIVE_TERMS["bank-b"]}) == rc.RESULT_CODE_UNKNOWN_PARTICIPANT


def test_prepare__the_first_problem_wins():
    assert problem(prepare(payer_bank_id="bank-b", amount_minor=0)) == rc.RESULT_CODE_PAYER_NOT_SIGNER
    assert problem(prepare(amount_minor=0, condition=b"")) == rc.RESULT_CODE_INVALID_AMOUNT
    assert problem(prepare(condition=b"", expires_at_unix_ms=0)) == rc.RESULT_CODE_INVALID_CONDITION


@pytest.mark.parametrize("position, reserved, cap, liquidity, headroom", [
    (0, 0, 1_000, 2_000, 1_000),        # The cap binds.
    (0, 0, 2_000, 1_000, 1_000),        # The liquidity binds.
    (400, 100, 1_000, 2_000, 500),      # Position and reservations both use it up.
    (-300, 0, 1_000, 2_000, 1_300),     # Being owed adds to it.
    (1_200, 0, 1_000, 2_000, -200),     # Above the cap after a settlement: negative.
])
def test_headroom__is_the_lower_limit_less_the_exposure(position, reserved, cap, liquidity, headroom):
    assert rules.headroom_minor(position_minor=position, reserved_minor=reserved, net_debit_cap_minor=cap,
                                liquidity_minor=liquidity) == headroom
    problem = rules.headroom_problem(position_minor=position, reserved_minor=reserved, amount_minor=1,
                                     net_debit_cap_minor=cap, liquidity_minor=liquidity)
    assert (problem == rc.RESULT_CODE_OK) == (headroom >= 1)


def test_is_uuid__only_the_lowercase_hyphenated_form_and_never_nil():
    text = "12345678-1234-4234-9234-123456789abc"
    assert rules.is_uuid(text)
    # The same UUID written otherwise: hyphens moved (either way in sort order), braces, none, a URN.
    others = ("1234567-81234-4234-9234-123456789abc", "123456781-234-4234-9234-123456789abc", "{" + text + "}",
              text.replace("-", ""), "urn:uuid:" + text, "", "x", text.upper(), text + "\n",
              "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff")
    assert [rules.is_uuid(other) for other in others] == [False] * len(others)


# How much of its cap a bank uses, and its alert ------------------------------------------------


@pytest.mark.parametrize("position_minor, reserved_minor, cap_minor, percent", [
    (0, 0, 1_000, 0), (700, 99, 1_000, 79), (700, 100, 1_000, 80), (1_000, 0, 1_000, 100),
    (900, 600, 1_000, 150),           # The operator lowered the cap below what the bank had reserved.
    (-5_000, 1_000, 1_000, 0),        # A bank that is owed uses none of it.
    (limits.amount_minor_max, limits.amount_minor_max, limits.amount_minor_max, 200),
    (0, 0, 0, None), (10, 0, 0, None),
])
def test_cap_used_percent__whole_percent_rounded_down(position_minor, reserved_minor, cap_minor, percent):
    assert rules.cap_used_percent(position_minor=position_minor, reserved_minor=reserved_minor,
                                  net_debit_cap_minor=cap_minor) == percent


@pytest.mark.parametrize("exposure_minor, cap_minor, alert_percent, over", [
    (799, 1_000, 80, False), (800, 1_000, 80, True), (1_000, 1_000, 100, True), (999, 1_000, 100, False),
    (1, 3, 34, False), (2, 3, 66, True),   # 33.3 % and 66.7 %: the comparison is exact, not rounded.
    (-500, 1_000, 1, False), (0, 0, 80, True), (0, 1, 1, False),
])
def test_over_threshold__at_or_above_the_alert_and_a_zero_cap_always(exposure_minor, cap_minor, alert_percent, over):
    assert rules.over_threshold(position_minor=exposure_minor, reserved_minor=0, net_debit_cap_minor=cap_minor,
                                alert_percent=alert_percent) is over
    used = rules.cap_used_percent(position_minor=exposure_minor, reserved_minor=0, net_debit_cap_minor=cap_minor)
    assert used is None or (used >= alert_percent) is over   # The list's percent and its flag agree.


# Bounds that keep every sum in range (fedmall.limits) -------------------------------------------

GROSS_MAX, CEILING = limits.unsettled_gross_minor_max, limits.liquidity_ceiling_minor_max


@pytest.mark.parametrize("payer_gross, payee_gross, payee_liquidity, amount, code", [
    (GROSS_MAX - 100, 0, 0, 100, rc.RESULT_CODE_OK),                                  # Exactly up to it.
    (GROSS_MAX - 100, 0, 0, 101, rc.RESULT_CODE_UNSETTLED_GROSS_EXCEEDED),            # The payer's.
    (0, GROSS_MAX - 100, 0, 101, rc.RESULT_CODE_UNSETTLED_GROSS_EXCEEDED),            # The payee's.
    (0, 0, CEILING - 100, 100, rc.RESULT_CODE_OK),
    (0, 10, CEILING - 100, 91, rc.RESULT_CODE_LIQUIDITY_CEILING_EXCEEDED),            # Liquidity + gross + amount.
    (0, 10, CEILING - 100, 90, rc.RESULT_CODE_OK),
    (CEILING, 0, 0, 1, rc.RESULT_CODE_UNSETTLED_GROSS_EXCEEDED),
    (0, 0, -GROSS_MAX, 1, rc.RESULT_CODE_OK),                                          # Below zero after a settlement.
])
def test_bounds_problem__each_bank_within_its_unsettled_gross_and_the_payee_its_ceiling(
        payer_gross, payee_gross, payee_liquidity, amount, code):
    assert rules.bounds_problem(amount_minor=amount, payer_unsettled_gross_minor=payer_gross,
                                payee_unsettled_gross_minor=payee_gross, payee_liquidity_minor=payee_liquidity) == code


@pytest.mark.parametrize("liquidity, gross, amount, over", [
    (CEILING - 10, 5, 5, False), (CEILING - 10, 5, 6, True), (CEILING, 0, 0, False), (0, 0, CEILING + 1, True)])
def test_liquidity_ceiling_problem__liquidity_plus_unsettled_gross_plus_amount(liquidity, gross, amount, over):
    assert rules.liquidity_ceiling_problem(liquidity_minor=liquidity, unsettled_gross_minor=gross,
                                           amount_minor=amount) is over


# --- returns ----------------------------------------------------------------------------

ORIGINAL = rules.OriginalTransfer(payer_bank_id="bank-b", payee_bank_id="bank-a", amount_minor=1_000, currency="EUR",
                                  committed=True)


def test_return__back_along_a_committed_original_up_to_its_amount_is_ok():
    assert rules.return_problem(prepare(amount_minor=1_000), ORIGINAL) == rc.RESULT_CODE_OK
    assert rules.return_problem(prepare(amount_minor=1), ORIGINAL) == rc.RESULT_CODE_OK


@pytest.mark.parametrize("original, amount_minor", [
    (None, 1_000),                                                             # Unknown to the clearing.
    (rules.OriginalTransfer("bank-b", "bank-a", 1_000, "EUR", committed=False), 1_000),   # Reserved or aborted.
    (rules.OriginalTransfer("bank-a", "bank-b", 1_000, "EUR", committed=True), 1_000),    # The same way round.
    (rules.OriginalTransfer("bank-c", "bank-a", 1_000, "EUR", committed=True), 1_000),    # Another bank's.
    (rules.OriginalTransfer("bank-b", "bank-c", 1_000, "EUR", committed=True), 1_000),
    (rules.OriginalTransfer("bank-b", "bank-a", 1_000, "USD", committed=True), 1_000),
    (ORIGINAL, 1_001),                                                         # More than was paid.
])
def test_return__not_back_along_its_original_is_refused(original, amount_minor):
    assert rules.return_problem(prepare(amount_minor=amount_minor), original) == \
        rc.RESULT_CODE_RETURN_NOT_OF_ORIGINAL
