"""The cases run against a clearing. The kit plays two test members (A pays B, B pays A) and,
for the window, the operator; docs/conformance.md lists what each case checks.

Every transfer a case commits is remembered with the window its COMMITTED notice names, so
the window case can find it on both banks' statements. Amounts are a few minor units: a run
leaves the banks' positions where they were once its window is settled.
"""
from __future__ import annotations

import hashlib
import os
import time
import uuid
from dataclasses import dataclass

from fedmall.money import CURRENCY_EXPONENTS
from fedmall.results import name_of
from fedmall.v1 import clearing_pb2, money_pb2, result_pb2 as rc, settlement_pb2, transfer_pb2

from conformance.cases import Case, CaseFailed, expect, expect_equal
from conformance.clearing_wire import BankClient, DeliveryStream, OperatorClient
from conformance.credentials import ClearingBundle
from conformance.waiting import wait_for

RESERVED = transfer_pb2.TRANSFER_STATE_RESERVED
COMMITTED = transfer_pb2.TRANSFER_STATE_COMMITTED
ABORTED = transfer_pb2.TRANSFER_STATE_ABORTED
EXPIRES_IN_MS = 60_000
SHORT_EXPIRY_MS = 1_500          # Just above the contract's shortest expiry (fedmall.limits.expiry_ms_min).
UNKNOWN_BANK_ID = "conformance-nobody"


def _code(code: int) -> str:
    return name_of(code)


def _state(state: int) -> str:
    return transfer_pb2.TransferState.Name(state)


@dataclass(frozen=True, slots=True)
class Committed:
    transfer_id: str
    payer: str
    payee: str
    amount_minor: int
    window_id: int


@dataclass(frozen=True, slots=True)
class Member:
    client: BankClient
    stream: DeliveryStream

    @property
    def bank_id(self) -> str:
        return self.client.bank_id


class ClearingRun:
    """One run against the clearing at address: connections, streams and what the cases did."""

    def __init__(self, address: str, bundle: ClearingBundle, *, timeout_s: float) -> None:
        self.address = address
        self.timeout_s = timeout_s
        clients = [BankClient(address, bank) for bank in bundle.banks[:2]]
        # Each stream starts after what the bank was already sent: earlier runs are not this one's.
        self.a, self.b = (Member(client, DeliveryStream(client, after_sequence=client.get_position()
                                                        .delivery_sequence_issued)) for client in clients)
        self.operator = OperatorClient(address, bundle.operator) if bundle.operator is not None else None
        self.currency = ""
        self.committed: list[Committed] = []

    def close(self) -> None:
        for member in (self.a, self.b):
            member.stream.stop()
            member.client.close()
        if self.operator is not None:
            self.operator.close()

    def cases(self) -> list[Case]:
        return [
            Case("registry", "both test members are listed ACTIVE with the signing keys of the bundle, in one currency",
                 self.registry),
            Case("pay", "A pays B: reserved, B told, B accepts, committed, both told with the fulfilment, positions "
                        "move by the amount", lambda: self.pay(self.a, self.b)),
            Case("be paid", "B pays A, the same the other way", lambda: self.pay(self.b, self.a)),
            Case("reject", "B rejects: ABORTED, A told PAYEE_REJECTED, A's reservation released", self.reject),
            Case("expiry", "nobody decides: ABORTED EXPIRED at expiry, both told, a late accept refused EXPIRED",
                 self.expiry),
            Case("idempotent retries", "the same prepare and the same accept again answer EXISTS and move nothing",
                 self.idempotent_retries),
            Case("modified duplicate", "the same transfer id with another amount is MODIFIED_REQUEST; the first "
                                       "terms stand", self.modified_duplicate),
            Case("bad signature", "a prepare batch whose signature does not verify is INVALID_SIGNATURE, nothing "
                                  "stored", self.bad_signature),
            Case("wrong signer", "a batch signed with another bank's key is SIGNER_NOT_PEER; a prepare naming "
                                 "another payer is PAYER_NOT_SIGNER", self.wrong_signer),
            Case("bad values", "zero and negative amounts, another currency, a short condition, a past expiry, "
                               "payer = payee, a malformed id: each its own result code, nothing stored",
                 self.bad_values),
            Case("bad decisions", "a wrong fulfilment is INVALID_FULFILMENT and the transfer stays RESERVED; the "
                                  "payer deciding is NOT_PAYEE", self.bad_decisions),
            Case("unknown participant", "a payee that is not a participant is UNKNOWN_PARTICIPANT",
                 self.unknown_participant),
            Case("window", "the operator closes the window: signed statements list every committed transfer, "
                           "the report's nets sum to zero, acknowledgements are OK then EXISTS, another answer "
                           "MODIFIED_REQUEST, the window settles and each bank is told its net", self.window),
            Case("deliveries signed", "every delivery on both streams verified with the clearing's key, in "
                                      "sequence", self.deliveries_signed),
        ]

    # Building and sending ------------------------------------------------------------------

    def _prepare(self, payer: Member, payee: Member, amount_minor: int, *, expires_in_ms: int = EXPIRES_IN_MS,
                 **terms) -> tuple[transfer_pb2.Prepare, bytes]:
        fulfilment = os.urandom(32)
        fields = dict(transfer_id=str(uuid.uuid4()), uetr=str(uuid.uuid4()), payer_bank_id=payer.bank_id,
                      payee_bank_id=payee.bank_id,
                      payee_account="conformance", amount=money_pb2.Money(amount_minor=amount_minor,
                                                                          currency=self.currency),
                      condition=hashlib.sha256(fulfilment).digest(),
                      expires_at_unix_ms=int(time.time() * 1000) + expires_in_ms, reference="conformance kit")
        fields.update(terms)
        return transfer_pb2.Prepare(**fields), fulfilment

    @staticmethod
    def _submit(payer: Member, *prepares: transfer_pb2.Prepare, signer: Member | None = None
                ) -> list[clearing_pb2.TransferResult]:
        key = (signer or payer).client.bank.signing_key
        response = payer.client.submit_prepares(key.sign(transfer_pb2.PrepareBatch(prepares=prepares)))
        expect_equal(_code(response.result), "OK", "the prepare batch's result")
        expect_equal(len(response.results), len(prepares), "results in the answer")
        for result, prepare in zip(response.results, prepares):
            expect_equal(result.transfer_id, prepare.transfer_id, "results in order: transfer id")
        return list(response.results)

    def _submit_one(self, payer: Member, prepare: transfer_pb2.Prepare, *, result: str, state: int
                    ) -> clearing_pb2.TransferResult:
        answer = self._submit(payer, prepare)[0]
        expect_equal(_code(answer.result), result, f"prepare {prepare.transfer_id}")
        expect_equal(_state(answer.state), _state(state), f"prepare {prepare.transfer_id}: state")
        return answer

    @staticmethod
    def _decide(payee: Member, *, accepts=(), rejects=()) -> list[clearing_pb2.TransferResult]:
        batch = transfer_pb2.DecisionBatch(accepts=list(accepts), rejects=list(rejects))
        response = payee.client.submit_decisions(payee.client.bank.signing_key.sign(batch))
        expect_equal(_code(response.result), "OK", "the decision batch's result")
        expect_equal(len(response.results), len(accepts) + len(rejects), "results in the answer")
        return list(response.results)

    def _accept(self, payee: Member, transfer_id: str, fulfilment: bytes) -> clearing_pb2.TransferResult:
        return self._decide(payee, accepts=[transfer_pb2.Accept(transfer_id=transfer_id, fulfilment=fulfilment)])[0]

    def _reject(self, payee: Member, transfer_id: str) -> clearing_pb2.TransferResult:
        return self._decide(payee, rejects=[transfer_pb2.Reject(
            transfer_id=transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN, reason="no such account")])[0]

    def _notice(self, member: Member, transfer_id: str, state: int) -> transfer_pb2.TransferNotice:
        return wait_for(lambda: member.stream.notice_in(transfer_id, state), timeout_s=self.timeout_s,
                        waiting_for=f"{_state(state)} notice of {transfer_id} on {member.bank_id}'s stream")

    def _not_stored(self, member: Member, transfer_id: str) -> None:
        found = member.client.get_transfer(transfer_id)
        expect_equal(_code(found.result), "TRANSFER_NOT_FOUND", f"GetTransfer {transfer_id!r}")

    @staticmethod
    def _exposure(member: Member) -> tuple[int, int]:
        position = member.client.get_position()
        return position.position.amount_minor, position.reserved.amount_minor

    # The cases -------------------------------------------------------------------------------

    def registry(self) -> None:
        listed = {participant.bank_id: participant for participant in self.a.client.list_participants()}
        for member in (self.a, self.b):
            participant = listed.get(member.bank_id)
            expect(participant is not None, f"{member.bank_id} is not in ListParticipants")
            expect_equal(clearing_pb2.ParticipantStatus.Name(participant.status), "PARTICIPANT_STATUS_ACTIVE",
                         f"{member.bank_id}'s status")
            key = member.client.bank.verification_key()
            raw = key.public_key.public_bytes_raw()
            expect(any(k.key_id == key.key_id and k.public_key == raw for k in participant.signing_keys),
                   f"{member.bank_id}'s signing key {key.key_id} is not among its listed keys")
            expect_equal(member.client.get_position().bank_id, member.bank_id, "GetPosition's bank")
        currencies = {listed[self.a.bank_id].currency, listed[self.b.bank_id].currency}
        expect(len(currencies) == 1 and next(iter(currencies)) in CURRENCY_EXPONENTS,
               f"the test members' currencies {sorted(currencies)}: the kit needs one known currency")
        self.currency = currencies.pop()

    def pay(self, payer: Member, payee: Member) -> None:
        payer_before, payee_before = self._exposure(payer), self._exposure(payee)
        prepare, fulfilment = self._prepare(payer, payee, 101)
        self._submit_one(payer, prepare, result="OK", state=RESERVED)
        expect_equal(self._exposure(payer), (payer_before[0], payer_before[1] + 101), "payer (position, reserved)")
        told = self._notice(payee, prepare.transfer_id, RESERVED)
        expect_equal(told.prepare, prepare, "the prepare the payee was told (the terms as the payer signed them)")
        answer = self._accept(payee, prepare.transfer_id, fulfilment)
        expect_equal((_code(answer.result), _state(answer.state)), ("OK", _state(COMMITTED)), "accept")
        windows = set()
        for member in (payer, payee):
            notice = self._notice(member, prepare.transfer_id, COMMITTED)
            expect_equal(notice.fulfilment, fulfilment, f"fulfilment on {member.bank_id}'s COMMITTED notice")
            expect(notice.settlement_window_id > 0, f"{member.bank_id}'s COMMITTED notice names no window")
            windows.add(notice.settlement_window_id)
        expect(len(windows) == 1, f"the two COMMITTED notices name different windows {sorted(windows)}")
        found = payer.client.get_transfer(prepare.transfer_id)
        expect_equal(_state(found.state), _state(COMMITTED), "GetTransfer state")
        expect_equal(self._exposure(payer), (payer_before[0] + 101, payer_before[1]), "payer (position, reserved)")
        expect_equal(self._exposure(payee)[0], payee_before[0] - 101, "payee position")
        self.committed.append(Committed(prepare.transfer_id, payer.bank_id, payee.bank_id, 101, windows.pop()))

    def reject(self) -> None:
        before = self._exposure(self.a)
        prepare, _ = self._prepare(self.a, self.b, 102)
        self._submit_one(self.a, prepare, result="OK", state=RESERVED)
        self._notice(self.b, prepare.transfer_id, RESERVED)
        answer = self._reject(self.b, prepare.transfer_id)
        expect_equal((_code(answer.result), _state(answer.state)), ("OK", _state(ABORTED)), "reject")
        notice = self._notice(self.a, prepare.transfer_id, ABORTED)
        expect_equal(_code(notice.result), "PAYEE_REJECTED", "why the payer was told it aborted")
        expect_equal((_code(notice.payee_reason_code), notice.payee_reason), ("ACCOUNT_UNKNOWN", "no such account"),
                     "the payee's reason, carried to the payer")
        found = self.a.client.get_transfer(prepare.transfer_id)
        expect_equal(_code(found.abort_reason), "PAYEE_REJECTED", "GetTransfer abort reason")
        expect_equal((_code(found.payee_reason_code), found.payee_reason), ("ACCOUNT_UNKNOWN", "no such account"),
                     "GetTransfer payee reason")
        expect_equal(self._exposure(self.a), before, "payer (position, reserved) after the reject")

    def expiry(self) -> None:
        before = self._exposure(self.a)
        prepare, fulfilment = self._prepare(self.a, self.b, 103, expires_in_ms=SHORT_EXPIRY_MS)
        self._submit_one(self.a, prepare, result="OK", state=RESERVED)
        for member in (self.a, self.b):
            notice = self._notice(member, prepare.transfer_id, ABORTED)
            expect_equal(_code(notice.result), "EXPIRED", f"why {member.bank_id} was told it aborted")
        late = self._accept(self.b, prepare.transfer_id, fulfilment)
        expect_equal((_code(late.result), _state(late.state)), ("EXPIRED", _state(ABORTED)),
                     "an accept after expiry")
        found = self.a.client.get_transfer(prepare.transfer_id)
        expect_equal((_state(found.state), _code(found.abort_reason)), (_state(ABORTED), "EXPIRED"),
                     "GetTransfer")
        expect_equal(self._exposure(self.a), before, "payer (position, reserved) after expiry")

    def idempotent_retries(self) -> None:
        before = self._exposure(self.a)
        prepare, fulfilment = self._prepare(self.a, self.b, 104)
        envelope = self.a.client.bank.signing_key.sign(transfer_pb2.PrepareBatch(prepares=[prepare]))
        first = self.a.client.submit_prepares(envelope)
        again = self.a.client.submit_prepares(envelope)
        expect_equal([(_code(r.result), _state(r.state)) for r in first.results],
                     [("OK", _state(RESERVED))], "the first prepare")
        expect_equal([(_code(r.result), _state(r.state)) for r in again.results],
                     [("EXISTS", _state(RESERVED))], "the same prepare again")
        expect_equal(self._exposure(self.a), (before[0], before[1] + 104), "payer (position, reserved): reserved once")
        self._notice(self.b, prepare.transfer_id, RESERVED)
        accept = transfer_pb2.Accept(transfer_id=prepare.transfer_id, fulfilment=fulfilment)
        results = [self._decide(self.b, accepts=[accept])[0] for _ in range(2)]
        expect_equal([(_code(r.result), _state(r.state)) for r in results],
                     [("OK", _state(COMMITTED)), ("EXISTS", _state(COMMITTED))],
                     "the accept, then the same accept again")
        retried = self.a.client.submit_prepares(envelope).results
        expect_equal([(_code(r.result), _state(r.state)) for r in retried], [("EXISTS", _state(COMMITTED))],
                     "the prepare again after commit")
        expect_equal(self._exposure(self.a), (before[0] + 104, before[1]), "payer (position, reserved): paid once")
        notice = self._notice(self.a, prepare.transfer_id, COMMITTED)
        self.committed.append(Committed(prepare.transfer_id, self.a.bank_id, self.b.bank_id, 104,
                                        notice.settlement_window_id))

    def modified_duplicate(self) -> None:
        prepare, _ = self._prepare(self.a, self.b, 105)
        self._submit_one(self.a, prepare, result="OK", state=RESERVED)
        modified = transfer_pb2.Prepare()
        modified.CopyFrom(prepare)
        modified.amount.amount_minor = 106
        answer = self._submit(self.a, modified)[0]
        expect_equal(_code(answer.result), "MODIFIED_REQUEST", "the same id with another amount")
        found = self.a.client.get_transfer(prepare.transfer_id)
        expect_equal(found.prepare, prepare, "the transfer's terms after the modified duplicate")
        self._notice(self.b, prepare.transfer_id, RESERVED)
        self._reject(self.b, prepare.transfer_id)  # Releases the reservation.

    def bad_signature(self) -> None:
        before = self._exposure(self.a)
        prepare, _ = self._prepare(self.a, self.b, 107)
        envelope = self.a.client.bank.signing_key.sign(transfer_pb2.PrepareBatch(prepares=[prepare]))
        envelope.signature = envelope.signature[:-1] + bytes([envelope.signature[-1] ^ 1])
        response = self.a.client.submit_prepares(envelope)
        expect_equal((_code(response.result), len(response.results)), ("INVALID_SIGNATURE", 0),
                     "a batch with a bad signature (result, items answered)")
        self._not_stored(self.a, prepare.transfer_id)
        expect_equal(self._exposure(self.a), before, "payer (position, reserved)")

    def wrong_signer(self) -> None:
        prepare, _ = self._prepare(self.b, self.a, 108)  # B's own prepare, signed by B, sent on A's connection.
        envelope = self.b.client.bank.signing_key.sign(transfer_pb2.PrepareBatch(prepares=[prepare]))
        response = self.a.client.submit_prepares(envelope)
        expect_equal((_code(response.result), len(response.results)), ("SIGNER_NOT_PEER", 0),
                     "a batch signed by another bank (result, items answered)")
        self._not_stored(self.b, prepare.transfer_id)
        answer = self._submit(self.a, prepare)[0]  # Signed by A, naming B as the payer.
        expect_equal(_code(answer.result), "PAYER_NOT_SIGNER", "a prepare naming another payer")
        self._not_stored(self.b, prepare.transfer_id)

    def bad_values(self) -> None:
        before = self._exposure(self.a)
        other_currency = "USD" if self.currency != "USD" else "EUR"
        now_ms = int(time.time() * 1000)
        cases = {
            "INVALID_AMOUNT": [self._prepare(self.a, self.b, 0)[0], self._prepare(self.a, self.b, -5)[0]],
            "CURRENCY_NOT_SUPPORTED": [self._prepare(self.a, self.b, 109, amount=money_pb2.Money(
                amount_minor=109, currency=other_currency))[0]],
            "INVALID_CONDITION": [self._prepare(self.a, self.b, 110, condition=os.urandom(31))[0]],
            "INVALID_EXPIRY": [self._prepare(self.a, self.b, 111, expires_at_unix_ms=now_ms - 1000)[0]],
            "PAYER_IS_PAYEE": [self._prepare(self.a, self.a, 112)[0]],
            "INVALID_FIELD": [self._prepare(self.a, self.b, 113, transfer_id="NOT-A-UUID")[0]],
        }
        prepares = [prepare for group in cases.values() for prepare in group]
        wanted = [code for code, group in cases.items() for _ in group]
        answers = self._submit(self.a, *prepares)
        wrong = [f"{prepare.transfer_id}: {_code(answer.result)}, expected {code}"
                 for prepare, answer, code in zip(prepares, answers, wanted) if _code(answer.result) != code]
        expect(not wrong, "; ".join(wrong))
        for prepare in prepares:
            if prepare.transfer_id != "NOT-A-UUID":
                self._not_stored(self.a, prepare.transfer_id)
        expect_equal(self._exposure(self.a), before, "payer (position, reserved)")

    def bad_decisions(self) -> None:
        prepare, fulfilment = self._prepare(self.a, self.b, 114)
        self._submit_one(self.a, prepare, result="OK", state=RESERVED)
        self._notice(self.b, prepare.transfer_id, RESERVED)
        wrong = self._accept(self.b, prepare.transfer_id, bytes(32))
        expect_equal((_code(wrong.result), _state(wrong.state)), ("INVALID_FULFILMENT", _state(RESERVED)),
                     "an accept whose fulfilment is not the condition's preimage")
        by_payer = self._accept(self.a, prepare.transfer_id, fulfilment)
        expect_equal(_code(by_payer.result), "NOT_PAYEE", "the payer accepting its own transfer")
        expect_equal(_state(self.a.client.get_transfer(prepare.transfer_id).state), _state(RESERVED),
                     "GetTransfer after both")
        self._reject(self.b, prepare.transfer_id)

    def unknown_participant(self) -> None:
        prepare, _ = self._prepare(self.a, self.b, 115, payee_bank_id=UNKNOWN_BANK_ID)
        answer = self._submit(self.a, prepare)[0]
        expect_equal(_code(answer.result), "UNKNOWN_PARTICIPANT", f"a payee {UNKNOWN_BANK_ID!r}")
        self._not_stored(self.a, prepare.transfer_id)

    def window(self) -> None:
        if self.operator is None:
            raise CaseFailed("the bundle holds no operator folder: the kit cannot close and settle a window")
        expect(bool(self.committed), "no transfer committed in this run (pay failed): nothing to reconcile")
        closed = self.operator.close_window()
        expect_equal(_code(closed.result), "OK", "CloseWindow")
        window_id = closed.closed_window_id
        mine = [c for c in self.committed if c.window_id == window_id]
        expect(len(mine) == len(self.committed), f"transfers committed in windows {sorted({c.window_id for c in self.committed})}, "
                                                 f"the operator closed window {window_id}")
        nets = {}
        for member in (self.a, self.b):
            pages, statement = self._statement(member, window_id)
            nets[member.bank_id] = self._check_statement(member, statement, mine)
            fetched = member.client.get_statement(window_id)
            expect_equal((_code(fetched.result), list(fetched.pages)), ("OK", pages),
                         f"{member.bank_id}'s GetStatement against the pages its stream brought")
            self._reconcile(member, window_id, pages, statement)
        report = wait_for(lambda: self.a.stream.report(window_id), timeout_s=self.timeout_s,
                          waiting_for=f"settlement report of window {window_id}")
        self._check_nets(report.net_positions, nets, what="the report")
        settled = self.operator.settle_window(window_id)
        expect_equal(_code(settled.result), "OK", f"SettleWindow {window_id}")
        self._check_nets(settled.nets, nets, what="SettleWindow's nets")
        for member in (self.a, self.b):
            told = wait_for(lambda: member.stream.settled(window_id), timeout_s=self.timeout_s,
                            waiting_for=f"WindowSettled of window {window_id} on {member.bank_id}'s stream")
            expect_equal(told.net.amount_minor, nets[member.bank_id], f"{member.bank_id}'s settled net")
        state = self.a.client.get_settlement_report(window_id).state
        expect_equal(settlement_pb2.WindowState.Name(state), "WINDOW_STATE_SETTLED", f"window {window_id}'s state")

    def _statement(self, member: Member, window_id: int):
        def complete():
            pages = member.stream.statement_pages(window_id)
            if not pages:
                return None
            parsed = [settlement_pb2.Statement.FromString(page.payload) for page in pages]
            return (pages, parsed) if len(pages) >= parsed[0].page_count else None
        pages, parsed = wait_for(complete, timeout_s=self.timeout_s,
                                 waiting_for=f"every statement page of window {window_id} on {member.bank_id}'s stream")
        order = sorted(range(len(pages)), key=lambda index: parsed[index].page_index)
        expect_equal([parsed[i].page_index for i in order], list(range(parsed[0].page_count)), "statement pages")
        return [pages[i] for i in order], [parsed[i] for i in order]

    def _check_statement(self, member: Member, statement: list, mine: list[Committed]) -> int:
        """The bank's net for the window, once its statement is found to list every transfer of this run."""
        entries = {entry.transfer_id: entry for page in statement for entry in page.entries}
        for committed in mine:
            if member.bank_id not in (committed.payer, committed.payee):
                continue
            entry = entries.get(committed.transfer_id)
            expect(entry is not None, f"{member.bank_id}'s statement does not list {committed.transfer_id}")
            direction = "ENTRY_DIRECTION_DEBIT" if committed.payer == member.bank_id else "ENTRY_DIRECTION_CREDIT"
            expect_equal((settlement_pb2.EntryDirection.Name(entry.direction), entry.amount.amount_minor),
                         (direction, committed.amount_minor), f"{member.bank_id}'s entry for {committed.transfer_id}")
        signed = sum(e.amount.amount_minor * (1 if e.direction == settlement_pb2.ENTRY_DIRECTION_CREDIT else -1)
                     for e in entries.values())
        first = statement[0]
        expect_equal(first.net.amount_minor, signed, f"{member.bank_id}'s statement net against its entries")
        expect_equal(first.entry_count, len(entries), f"{member.bank_id}'s statement entry count")
        expect_equal(first.closing_position.amount_minor, first.opening_position.amount_minor - signed,
                     f"{member.bank_id}'s closing position (opening - net)")
        return signed

    def _reconcile(self, member: Member, window_id: int, pages: list, statement: list) -> None:
        digest = hashlib.sha256(b"".join(page.payload for page in pages)).digest()
        net = statement[0].net
        key = member.client.bank.signing_key
        answer = settlement_pb2.Reconciliation(window_id=window_id, bank_id=member.bank_id, statement_sha256=digest,
                                               node_net=net)
        wrong = settlement_pb2.Reconciliation(window_id=window_id, bank_id=member.bank_id,
                                              statement_sha256=hashlib.sha256(b"another").digest(), node_net=net)
        expect_equal(_code(member.client.submit_reconciliation(key.sign(wrong))), "STATEMENT_MISMATCH",
                     f"{member.bank_id}'s answer naming another statement")
        results = [_code(member.client.submit_reconciliation(key.sign(answer))) for _ in range(2)]
        expect_equal(results, ["OK", "EXISTS"], f"{member.bank_id}'s acknowledgement, twice")
        dispute = settlement_pb2.Reconciliation()
        dispute.CopyFrom(answer)
        dispute.breaks.add(kind=settlement_pb2.BREAK_KIND_STATEMENT_INCONSISTENT, detail="conformance kit")
        expect_equal(_code(member.client.submit_reconciliation(key.sign(dispute))), "MODIFIED_REQUEST",
                     f"{member.bank_id}'s different answer after the first")

    def _check_nets(self, positions, nets: dict[str, int], *, what: str) -> None:
        by_currency: dict[str, int] = {}
        for position in positions:
            by_currency[position.net.currency] = by_currency.get(position.net.currency, 0) + position.net.amount_minor
            expect_equal(position.net.amount_minor, position.credits.amount_minor - position.debits.amount_minor,
                         f"{what}: {position.bank_id}'s net against its credits and debits")
            if position.bank_id in nets:
                expect_equal(position.net.amount_minor, nets[position.bank_id], f"{what}: {position.bank_id}'s net")
        expect(all(total == 0 for total in by_currency.values()), f"{what}: nets do not sum to zero: {by_currency}")
        expect(set(nets) <= {p.bank_id for p in positions}, f"{what} leaves out a test member")

    def deliveries_signed(self) -> None:
        for member in (self.a, self.b):
            refused = member.stream.refused()
            expect(not refused, f"{member.bank_id}: " + "; ".join(refused[:3]))
            expect(member.stream.delivered() > 0, f"{member.bank_id}'s stream brought nothing in this run")
