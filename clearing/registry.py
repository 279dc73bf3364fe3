"""The participant registry: admission, status, caps, and members' signing keys."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fedmall import ed25519, identifiers, limits, money, text, wellformed
from fedmall.envelope import Envelope, VerificationKey, open_envelope
from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import transfer_pb2

from clearing import audit, audit_envelopes, movements, rules
from clearing.funds import FundsService
from clearing.operator import OperatorAction, named_operator
from clearing.store import Store, lock_participants, participants, retry_on_conflict, signing_keys

KEY_ACTIVE = "active"
KEY_REVOKED = "revoked"
RESERVED_IDS = ("clearing", "operator")


@dataclass(frozen=True, slots=True)
class SettingChange:
    """An operator's change of one participant setting."""
    participant: sa.Row            # The row as it now stands.
    old_value: int                 # The setting before: the same as now when nothing changed.
    audit_sequence: int | None     # The entry that records the change; None when unchanged.


def _check_public_key_unused(connection: sa.Connection, public_key: bytes) -> None:
    """One public key, one key id: under a second id (another bank's, above all) an envelope
    signed by one holder could be presented as signed by the other; a revoked key stays revoked."""
    holder = connection.execute(sa.select(signing_keys.c.key_id, signing_keys.c.status).where(
        signing_keys.c.public_key == public_key)).first()
    if holder is None:
        return
    if holder.status == KEY_REVOKED:
        raise FedmallError(rc.RESULT_CODE_KEY_REVOKED, "this public key was revoked; make a new key")
    raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, "this public key is already registered under another key id")


def check_cap(cap_minor: int, currency: str) -> None:
    if not 0 <= cap_minor <= limits.net_debit_cap_minor_max:
        shown = money.format_money(limits.net_debit_cap_minor_max, currency) if currency in money.CURRENCY_EXPONENTS \
            else f"{limits.net_debit_cap_minor_max} minor units"
        raise FedmallError(rc.RESULT_CODE_INVALID_AMOUNT, f"a net debit cap is 0..{shown}, not {cap_minor} minor units")


class Registry:
    def __init__(self, store: Store, *, clock_ms: Callable[[], int]) -> None:
        self._store = store
        self._clock_ms = clock_ms

    @retry_on_conflict
    def admit(
        self, *, bank_id: str, name: str, currency: str, net_debit_cap_minor: int, liquidity_minor: int,
        node_address: str, signing_key_id: str, signing_public_key: bytes, funds: FundsService,
    ) -> None:
        """Register a bank; its liquidity is recorded as its first funds in (funds)."""
        if not identifiers.is_bank_id(bank_id) or bank_id in RESERVED_IDS:
            raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, f"{bank_id!r} is not a usable bank id")
        problem = text.text_problem(name, length_max=limits.participant_name_length_max, what="a bank's name",
                                    required=True)
        if problem is not None:
            raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, problem)
        if currency not in money.CURRENCY_EXPONENTS:
            raise FedmallError(rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED, f"unknown currency {currency!r}")
        check_cap(net_debit_cap_minor, currency)
        if not 0 <= liquidity_minor <= limits.amount_minor_max:  # Its first funds in (clearing.funds).
            raise FedmallError(rc.RESULT_CODE_INVALID_AMOUNT, (
                f"liquidity at admission is 0..{money.format_money(limits.amount_minor_max, currency)}, not "
                f"{liquidity_minor} minor units; add more by funds in"))
        if not identifiers.is_key_id(signing_key_id, owner=bank_id):
            raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, f"signing key id must be '<bank_id>/<name>', the name "
                                                             f"1-{limits.key_name_length_max} letters, digits, '-', "
                                                             f"'_' or '.'")
        problem = ed25519.public_key_problem(signing_public_key)
        if problem is not None:
            raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, f"signing public key: {problem}")
        now_ms = self._clock_ms()
        with self._store.write() as connection:
            window_id = movements.statement_window_id(connection)  # The admission's funds in: locked first.
            if connection.execute(sa.select(participants.c.bank_id).where(participants.c.bank_id == bank_id)).first():
                raise FedmallError(rc.RESULT_CODE_EXISTS, f"{bank_id} is already a participant")
            if connection.scalar(sa.select(sa.func.count()).select_from(participants)) >= limits.participants_max:
                raise FedmallError(rc.RESULT_CODE_FORBIDDEN, (
                    f"the consortium has admitted {limits.participants_max} banks, the most a window's sums are "
                    "sized for (fedmall.limits.participants_max)"))
            connection.execute(sa.insert(participants).values(
                bank_id=bank_id, name=name, currency=currency, status=rules.ONBOARDING, node_address=node_address,
                net_debit_cap_minor=net_debit_cap_minor, liquidity_minor=0,
                position_minor=0, reserved_minor=0, delivery_sequence=0, admitted_at_ms=now_ms))
            _check_public_key_unused(connection, signing_public_key)
            connection.execute(sa.insert(signing_keys).values(
                key_id=signing_key_id, owner=bank_id, public_key=signing_public_key,
                status=KEY_ACTIVE, created_at_ms=now_ms))
            if liquidity_minor:
                funds.record_admission(connection, bank_id=bank_id, currency=currency, amount_minor=liquidity_minor,
                                       window_id=window_id, now_ms=now_ms)
            audit.append(connection, kind="admit", party_id="operator", now_ms=now_ms, body=audit.json_body({
                "bank_id": bank_id, "name": name, "currency": currency, "node_address": node_address,
                "net_debit_cap_minor": net_debit_cap_minor, "liquidity_minor": liquidity_minor,
                "signing_key_id": signing_key_id, "signing_public_key": signing_public_key.hex()}))

    @retry_on_conflict
    def set_status(self, bank_id: str, status: str, *, operator: str = "") -> None:
        """operator: who did it, recorded in the audit entry when named (the web console names
        its logged-in operator)."""
        assert status in (rules.ACTIVE, rules.SUSPENDED)
        now_ms = self._clock_ms()
        with self._store.write() as connection:
            row = lock_participants(connection, [bank_id]).get(bank_id)
            if row is None:
                raise FedmallError(rc.RESULT_CODE_UNKNOWN_PARTICIPANT, f"no participant {bank_id!r}")
            if row.status == rules.ONBOARDING:
                raise FedmallError(rc.RESULT_CODE_PARTICIPANT_ONBOARDING,
                                   f"{bank_id} is onboarding: its node has not connected to the clearing yet, so it "
                                   "neither pays nor is paid; there is nothing to suspend or resume")
            if row.status == rules.LEFT:
                raise FedmallError(rc.RESULT_CODE_PARTICIPANT_LEFT,
                                   f"{bank_id} left the consortium; it can be neither suspended nor resumed")
            connection.execute(sa.update(participants).where(participants.c.bank_id == bank_id).values(status=status))
            audit.append(connection, kind=f"status.{status}", party_id="operator", now_ms=now_ms,
                         body=audit.json_body({"bank_id": bank_id, **named_operator(operator)}))

    @retry_on_conflict
    def set_net_debit_cap(self, bank_id: str, *, cap_minor: int, currency: str,
                          action: OperatorAction) -> SettingChange:
        """A new cap binds the next reservation at once: reservations read it under this row's
        lock (clearing.transfers). Those already made stand and may commit, so a cap below
        position + reserved is allowed; the bank then reserves nothing more until its exposure
        comes under it. The same cap again records nothing (audit_sequence None)."""
        check_cap(cap_minor, currency)

        def same_currency(row: sa.Row) -> None:
            if row.currency != currency:
                raise FedmallError(rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED,
                                   f"{bank_id} holds {row.currency}; its cap cannot be in {currency!r}")

        return self._change_setting(bank_id, "net_debit_cap_minor", cap_minor, kind="participant.cap",
                                    action=action, check=same_currency)

    @retry_on_conflict
    def set_cap_alert_percent(self, bank_id: str, *, percent: int, action: OperatorAction) -> SettingChange:
        """The share of its cap at which the operator's views flag the bank (rules.over_threshold)."""
        if not rules.CAP_ALERT_PERCENT_MIN <= percent <= rules.CAP_ALERT_PERCENT_MAX:
            raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, f"a cap alert is {rules.CAP_ALERT_PERCENT_MIN}.."
                                                              f"{rules.CAP_ALERT_PERCENT_MAX} percent, not {percent}")
        return self._change_setting(bank_id, "cap_alert_percent", percent, kind="participant.threshold",
                                    action=action, check=lambda row: None)

    def _change_setting(self, bank_id: str, column: str, value: int, *, kind: str, action: OperatorAction,
                        check: Callable[[sa.Row], None]) -> SettingChange:
        """Set one column of one participant under its row lock, with an audit entry saying who,
        why, and the value before and after; a refusal or the same value changes nothing."""
        now_ms = self._clock_ms()
        with self._store.write() as connection:
            row = lock_participants(connection, [bank_id]).get(bank_id)
            if row is None:
                raise FedmallError(rc.RESULT_CODE_UNKNOWN_PARTICIPANT, f"no participant {bank_id!r}")
            check(row)
            old_value = getattr(row, column)
            if old_value == value:
                return SettingChange(participant=row, old_value=old_value, audit_sequence=None)
            connection.execute(sa.update(participants).where(participants.c.bank_id == bank_id).values({column: value}))
            head = audit.append(connection, kind=kind, party_id="operator", now_ms=now_ms, body=audit.json_body({
                "bank_id": bank_id, "currency": row.currency, f"old_{column}": old_value, f"new_{column}": value,
                **action.audit_fields()}))
            changed = connection.execute(sa.select(participants).where(participants.c.bank_id == bank_id)).one()
        return SettingChange(participant=changed, old_value=old_value, audit_sequence=head.sequence)

    def record_connected(self, bank_id: str) -> bool:
        """The bank's node made its first authenticated call: ONBOARDING becomes ACTIVE, once,
        in the audit log by the clearing. True when this call made it so."""
        with self._store.write() as connection:
            row = lock_participants(connection, [bank_id]).get(bank_id)
            if row is None or row.status != rules.ONBOARDING:
                return False  # Another call (or another clearing process) was first.
            connection.execute(sa.update(participants).where(participants.c.bank_id == bank_id)
                               .values(status=rules.ACTIVE))
            audit.append(connection, kind="participant.active", party_id="clearing", now_ms=self._clock_ms(),
                         body=audit.json_body({"bank_id": bank_id, "reason": "its node connected"}))
        return True

    def record_acknowledged(self, bank_id: str, sequence: int) -> None:
        """The bank's node resumed its stream after sequence: it had applied that much. Never
        lowered (a node that lost data asks from further back), never above what was issued."""
        with self._store.write() as connection:
            connection.execute(sa.update(participants).where(
                participants.c.bank_id == bank_id, participants.c.acknowledged_sequence < sequence).values(
                acknowledged_sequence=sa.case((participants.c.delivery_sequence < sequence,
                                               participants.c.delivery_sequence), else_=sequence)))

    def list(self) -> list[sa.Row]:
        with self._store.read() as connection:
            return connection.execute(sa.select(participants).order_by(participants.c.bank_id)).all()

    def active_signing_keys(self) -> dict[str, list[sa.Row]]:
        """Every member's active signing keys (key_id, owner, public_key), by owner, in key id order:
        published with the registry so members verify what other members sign."""
        with self._store.read() as connection:
            rows = connection.execute(sa.select(signing_keys.c.key_id, signing_keys.c.owner, signing_keys.c.public_key)
                                      .where(signing_keys.c.status == KEY_ACTIVE)
                                      .order_by(signing_keys.c.owner, signing_keys.c.key_id)).all()
        keys: dict[str, list[sa.Row]] = {}
        for row in rows:
            keys.setdefault(row.owner, []).append(row)
        return keys

    def get(self, bank_id: str) -> sa.Row | None:
        with self._store.read() as connection:
            return connection.execute(sa.select(participants).where(participants.c.bank_id == bank_id)).first()

    def key_lookup(self, key_id: str) -> VerificationKey | None:
        """An active member signing key, read from the database so every process agrees."""
        with self._store.read() as connection:
            row = connection.execute(sa.select(signing_keys).where(
                signing_keys.c.key_id == key_id, signing_keys.c.status == KEY_ACTIVE)).first()
        if row is None:
            return None
        return VerificationKey(key_id=row.key_id, owner=row.owner,
                               public_key=Ed25519PublicKey.from_public_bytes(row.public_key))

    def change_signing_key(self, envelope: Envelope, *, peer: str) -> int:
        """Add or revoke one of the peer's keys, on an envelope signed by another active key.

        OK when changed, EXISTS for the same change again. Every refusal (raised as FedmallError,
        or MODIFIED_REQUEST returned) leaves one bounded audit entry (audit_envelopes.record_refusal) and
        changes nothing else."""
        try:
            result = self._change_signing_key(envelope, peer=peer)
        except FedmallError as error:
            self._audit_refusal(envelope, peer=peer, code=error.code)
            raise
        if result not in (rc.RESULT_CODE_OK, rc.RESULT_CODE_EXISTS):
            self._audit_refusal(envelope, peer=peer, code=result)
        return result

    @retry_on_conflict
    def _audit_refusal(self, envelope: Envelope, *, peer: str, code: int) -> None:
        with self._store.write() as connection:
            audit_envelopes.record_refusal(connection, envelope.SerializeToString(), peer=peer, code=code,
                                 now_ms=self._clock_ms())

    @retry_on_conflict
    def _change_signing_key(self, envelope: Envelope, *, peer: str) -> int:
        change = open_envelope(envelope, transfer_pb2.SigningKeyChange, expected_signer=peer, keys=self.key_lookup)
        if change.bank_id != peer or not change.key_id.startswith(peer + "/"):
            raise FedmallError(rc.RESULT_CODE_FORBIDDEN, "a bank may change only its own keys")
        problem = wellformed.key_change_problem(change)
        if problem is not None:
            raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, problem.text, field=problem.field)
        now_ms = self._clock_ms()
        with self._store.write() as connection:
            lock_participants(connection, [peer])
            existing = connection.execute(sa.select(signing_keys).where(signing_keys.c.key_id == change.key_id)).first()
            if change.revoke:
                result = self._revoke(connection, existing, change, signed_with=envelope.key_id)
            else:
                result = self._add(connection, existing, change, now_ms=now_ms)
            if result == rc.RESULT_CODE_OK:
                audit.append(connection, kind="key.revoke" if change.revoke else "key.add", party_id=peer,
                             now_ms=now_ms, body=envelope.SerializeToString())
        return result

    @staticmethod
    def _add(connection: sa.Connection, existing: sa.Row | None, change, *, now_ms: int) -> int:
        if existing is not None:
            if existing.status == KEY_REVOKED:  # A revoked key id never signs again, whatever its key.
                raise FedmallError(rc.RESULT_CODE_KEY_REVOKED, f"{change.key_id} was revoked; add a key under a new id")
            same = existing.public_key == change.public_key and existing.owner == change.bank_id
            return rc.RESULT_CODE_EXISTS if same else rc.RESULT_CODE_MODIFIED_REQUEST
        _check_public_key_unused(connection, change.public_key)
        connection.execute(sa.insert(signing_keys).values(
            key_id=change.key_id, owner=change.bank_id, public_key=change.public_key,
            status=KEY_ACTIVE, created_at_ms=now_ms))
        return rc.RESULT_CODE_OK

    @staticmethod
    def _revoke(connection: sa.Connection, existing: sa.Row | None, change, *, signed_with: str) -> int:
        if existing is None or existing.owner != change.bank_id:
            raise FedmallError(rc.RESULT_CODE_UNKNOWN_KEY, f"no key {change.key_id!r}")
        if existing.status == KEY_REVOKED:
            return rc.RESULT_CODE_EXISTS
        if change.key_id == signed_with:
            raise FedmallError(rc.RESULT_CODE_FORBIDDEN, "a key cannot revoke itself; sign with the new key")
        connection.execute(sa.update(signing_keys).where(signing_keys.c.key_id == change.key_id)
                           .values(status=KEY_REVOKED))
        return rc.RESULT_CODE_OK
