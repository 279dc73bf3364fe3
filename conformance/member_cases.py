"""The cases run against a member bank's node, as payee. The kit plays the clearing (its node
streams deliveries from the kit and sends its decisions and reconciliations there) and the
payer bank (it asks the node for quotes); docs/conformance.md lists what each case checks.

What a member booked is seen over the wire only through its answer to a statement, so the last
case, the reconciled window, settles the books of every other: the kit issues a statement
listing exactly the transfers it committed, and the member must acknowledge it. A break the
member reports fails the case whose transfer it names, too.
"""
from __future__ import annotations

import hashlib
import os
import time
import uuid

from fedmall.results import name_of
from fedmall.v1 import money_pb2, node_pb2, result_pb2 as rc, settlement_pb2, transfer_pb2

from conformance.cases import Case, CaseFailed, Verdict, expect, expect_equal, run_case, run_cases
from conformance.clearing_double import ClearingDouble, serve
from conformance.credentials import MemberBundle
from conformance.member_wire import PeerClient
from conformance.waiting import stays_absent, wait_for

RESERVED = transfer_pb2.TRANSFER_STATE_RESERVED
COMMITTED = transfer_pb2.TRANSFER_STATE_COMMITTED
ABORTED = transfer_pb2.TRANSFER_STATE_ABORTED
WINDOW_ID = 1                  # The window the kit commits into; a fresh member has seen none.
EXPIRES_IN_MS = 60_000
QUIET_S = 0.5                  # How long the kit watches for a decision that must not come.
UNKNOWN_ACCOUNT = "conformance-no-such-account"


def _code(code: int) -> str:
    return name_of(code)


class MemberRun:
    def __init__(self, address: str, bundle: MemberBundle, *, account: str, listen: str, timeout_s: float,
                 connect_timeout_s: float) -> None:
        self.address = address
        self.bundle = bundle
        self.account = account
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.currency = bundle.currency
        self.payer_id = bundle.payer.party_id
        self.double = ClearingDouble(
            member_id=bundle.member_id, member_key=bundle.member_key, member_address=address,
            payer_id=self.payer_id, payer_key=bundle.payer.verification_key(),
            clearing_key=bundle.clearing.signing_key, currency=bundle.currency)
        self._server = serve(self.double, listen=listen, tls=bundle.clearing.tls)
        self.peer = PeerClient(address, bundle.payer, member_id=bundle.member_id)
        self.booked: dict[str, tuple[int, int]] = {}   # Transfer id -> (amount, committed at): on the statement.
        self.case_of: dict[str, str] = {}               # Transfer id -> the case that made it.
        self._case = ""
        self.breaks: list[settlement_pb2.ReconciliationBreak] = []  # What the member disputed at the window.

    def close(self) -> None:
        self.double.close()
        self._server.stop(1).wait()
        self.peer.close()

    def run(self) -> list[Verdict]:
        connected = run_case(Case("connect", "the member's node opens its delivery stream at the kit (its clearing)",
                                  self.connect))
        if not connected.passed:
            return [connected]
        cases = self.cases()
        verdicts = [connected]
        for case in cases:
            self._case = case.name
            verdicts += run_cases([case])
        self._blame_breaks(verdicts)
        return verdicts

    def cases(self) -> list[Case]:
        return [
            Case("quote", "a quote for an open account is OK with a 32-byte condition; the same quote again gives "
                          "the same condition", self.quote),
            Case("quote bad values", "an unknown account, a zero amount, another currency and a malformed id are "
                                     "each refused with their code and no condition", self.quote_bad_values),
            Case("be paid", "a RESERVED notice for a quoted transfer is accepted with the fulfilment of the "
                            "condition, signed by the member's key; the COMMITTED notice is booked",
                 self.be_paid),
            Case("decision retry", "an answer to the member's decision is lost: it sends the same decision again; "
                                   "a COMMITTED notice delivered twice is booked once", self.decision_retry),
            Case("modified duplicate", "a second RESERVED notice for an accepted transfer, with another amount, "
                                       "gets no other decision; the commit of the first terms is booked",
                 self.modified_duplicate),
            Case("reject", "a prepare the member never quoted is rejected CONDITION_MISMATCH, and not booked when "
                           "aborted", self.reject),
            Case("modified prepare", "a prepare whose amount differs from the quote, with the quoted condition, is "
                                     "rejected CONDITION_MISMATCH, never accepted", self.modified_prepare),
            Case("bad values", "a quoted prepare whose reference holds a control character is rejected INVALID_FIELD",
                 self.bad_values),
            Case("expiry", "the clearing answers the accept EXPIRED and aborts the transfer: not booked",
                 self.expiry),
            Case("bad signature", "a delivery whose clearing signature does not verify is not applied: the member "
                                  "resumes its stream before it and decides nothing", self.bad_signature),
            Case("wrong signer", "a delivery signed by a bank's key instead of the clearing's is not applied",
                 self.wrong_signer),
            Case("reconciled window", "the statement listing exactly the committed transfers is acknowledged: "
                                      "signed by the member, naming the statement's hash, no breaks, the same net",
                 self.reconciled_window),
        ]

    # Building --------------------------------------------------------------------------------

    def _item(self, amount_minor: int, *, transfer_id: str | None = None, account: str | None = None,
              currency: str | None = None) -> node_pb2.QuoteItem:
        return node_pb2.QuoteItem(transfer_id=transfer_id or str(uuid.uuid4()), payee_account=account or self.account,
                                  amount=money_pb2.Money(amount_minor=amount_minor, currency=currency or self.currency))

    def _quoted(self, amount_minor: int) -> tuple[node_pb2.QuoteItem, bytes]:
        item = self._item(amount_minor)
        results = self.peer.quote([item])
        expect_equal([(r.transfer_id, _code(r.result)) for r in results], [(item.transfer_id, "OK")],
                     "the quote")
        expect_equal(len(results[0].condition), 32, "the quoted condition's length")
        self.case_of[item.transfer_id] = self._case
        return item, results[0].condition

    def _prepare(self, item: node_pb2.QuoteItem, condition: bytes, **terms) -> transfer_pb2.Prepare:
        fields = dict(transfer_id=item.transfer_id, uetr=str(uuid.uuid4()), payer_bank_id=self.payer_id,
                      payee_bank_id=self.bundle.member_id,
                      payee_account=item.payee_account, amount=item.amount, condition=condition,
                      expires_at_unix_ms=int(time.time() * 1000) + EXPIRES_IN_MS, reference="conformance kit")
        fields.update(terms)
        self.case_of[fields["transfer_id"]] = self._case
        return transfer_pb2.Prepare(**fields)

    def _notices(self, state: int, prepare: transfer_pb2.Prepare, *, result: int = rc.RESULT_CODE_OK,
                 fulfilment: bytes = b"", window_id: int = 0) -> transfer_pb2.NoticeBatch:
        return transfer_pb2.NoticeBatch(recipient_bank_id=self.bundle.member_id, notices=[transfer_pb2.TransferNotice(
            prepare=prepare, state=state, result=result, fulfilment=fulfilment,
            decided_at_unix_ms=int(time.time() * 1000), settlement_window_id=window_id)])

    def _signed(self, message):
        return self.double.clearing_key.sign(message)

    def _decision(self, transfer_id: str, *, count: int = 1):
        """The member's count-th decision about transfer_id, checked to be in a batch it signed."""
        decisions = wait_for(lambda: (lambda found: found if len(found) >= count else None)(
            self.double.decisions_about(transfer_id)), timeout_s=self.timeout_s,
            waiting_for=f"decision about {transfer_id} from the member")
        result, decision = decisions[count - 1]
        expect_equal(_code(result), "OK", "the member's decision batch as the clearing verifies it "
                                                      "(signed by the member's registered key)")
        return decision

    def _accepted(self, prepare: transfer_pb2.Prepare) -> transfer_pb2.Accept:
        decision = self._decision(prepare.transfer_id)
        expect(isinstance(decision, transfer_pb2.Accept),
               f"the member rejected {prepare.transfer_id}: {_code(getattr(decision, 'reason_code', 0))} "
               f"{getattr(decision, 'reason', '')!r}")
        expect(hashlib.sha256(decision.fulfilment).digest() == prepare.condition,
               "the accept's fulfilment is not the preimage of the quoted condition")
        return decision

    def _reserve_rejected(self, prepare: transfer_pb2.Prepare, *, reason: str) -> None:
        """Deliver prepare as RESERVED; the member must reject it for reason; then it is aborted."""
        self.double.expect_decision(prepare)
        self.double.deliver(self._signed(self._notices(RESERVED, prepare)))
        decision = self._decision(prepare.transfer_id)
        expect(isinstance(decision, transfer_pb2.Reject), f"the member accepted {prepare.transfer_id}")
        expect_equal(_code(decision.reason_code), reason, "the reject's reason code")
        self._abort(prepare, rc.RESULT_CODE_PAYEE_REJECTED)

    def _commit(self, prepare: transfer_pb2.Prepare, fulfilment: bytes, *, times: int = 1) -> None:
        committed = self._notices(COMMITTED, prepare, fulfilment=fulfilment, window_id=WINDOW_ID)
        for _ in range(times):
            self.double.deliver(self._signed(committed))
        self.booked[prepare.transfer_id] = (prepare.amount.amount_minor, committed.notices[0].decided_at_unix_ms)

    def _abort(self, prepare: transfer_pb2.Prepare, reason: int) -> None:
        self.double.deliver(self._signed(self._notices(ABORTED, prepare, result=reason)))

    # The cases ---------------------------------------------------------------------------------

    def connect(self) -> None:
        wait_for(self.double.has_started, timeout_s=self.connect_timeout_s,
                 waiting_for="delivery stream from the member's node (is its clearing address the kit's?)")
        strangers = self.double.strangers()
        expect(not strangers, f"calls from parties other than the member: {strangers[:3]}")

    def quote(self) -> None:
        item, condition = self._quoted(201)
        again = self.peer.quote([item])
        expect_equal([(_code(r.result), r.condition) for r in again], [("OK", condition)],
                     "the same quote again (result, condition)")

    def quote_bad_values(self) -> None:
        other_currency = "USD" if self.currency != "USD" else "EUR"
        wanted = [(self._item(202, account=UNKNOWN_ACCOUNT), "ACCOUNT_UNKNOWN"),
                  (self._item(0), "INVALID_AMOUNT"),
                  (self._item(203, currency=other_currency), "CURRENCY_NOT_SUPPORTED"),
                  (self._item(204, transfer_id="NOT-A-UUID"), "INVALID_FIELD")]
        results = self.peer.quote([item for item, _ in wanted])
        expect_equal(len(results), len(wanted), "quote results")
        wrong = [f"{item.transfer_id} ({item.payee_account}, {item.amount.amount_minor} {item.amount.currency}): "
                 f"{_code(result.result)}{' with a condition' if result.condition else ''}, expected {code}"
                 for (item, code), result in zip(wanted, results)
                 if _code(result.result) != code or result.condition]
        expect(not wrong, "; ".join(wrong))

    def be_paid(self) -> None:
        item, condition = self._quoted(205)
        prepare = self._prepare(item, condition)
        self.double.expect_decision(prepare)
        self.double.deliver(self._signed(self._notices(RESERVED, prepare)))
        accept = self._accepted(prepare)
        self._commit(prepare, accept.fulfilment)

    def decision_retry(self) -> None:
        item, condition = self._quoted(206)
        prepare = self._prepare(item, condition)
        self.double.expect_decision(prepare, lose_first_answer=True)
        self.double.deliver(self._signed(self._notices(RESERVED, prepare)))
        first = self._accepted(prepare)
        again = self._decision(prepare.transfer_id, count=2)
        expect_equal(again, first, "the decision sent again after its answer was lost")
        self._commit(prepare, first.fulfilment, times=2)

    def modified_duplicate(self) -> None:
        item, condition = self._quoted(212)
        prepare = self._prepare(item, condition)
        self.double.expect_decision(prepare)
        self.double.deliver(self._signed(self._notices(RESERVED, prepare)))
        first = self._accepted(prepare)
        modified = transfer_pb2.Prepare()
        modified.CopyFrom(prepare)
        modified.amount.amount_minor += 1
        self.double.deliver(self._signed(self._notices(RESERVED, modified)))
        other = stays_absent(lambda: [d for _, d in self.double.decisions_about(prepare.transfer_id) if d != first],
                             for_s=QUIET_S)
        expect(not other, f"the member decided {prepare.transfer_id} again, otherwise, on a modified duplicate: "
                          f"{type(other[0]).__name__ if other else ''}")
        self._commit(prepare, first.fulfilment)

    def reject(self) -> None:
        item = self._item(207)
        prepare = self._prepare(item, os.urandom(32))
        self._reserve_rejected(prepare, reason="CONDITION_MISMATCH")

    def modified_prepare(self) -> None:
        item, condition = self._quoted(208)
        modified = node_pb2.QuoteItem()
        modified.CopyFrom(item)
        modified.amount.amount_minor += 1
        prepare = self._prepare(modified, condition)
        self._reserve_rejected(prepare, reason="CONDITION_MISMATCH")

    def bad_values(self) -> None:
        item, condition = self._quoted(209)
        prepare = self._prepare(item, condition, reference="conformance \x07 kit")
        self._reserve_rejected(prepare, reason="INVALID_FIELD")

    def expiry(self) -> None:
        item, condition = self._quoted(210)
        prepare = self._prepare(item, condition)
        self.double.expect_decision(prepare, answer=(rc.RESULT_CODE_EXPIRED, ABORTED))
        self.double.deliver(self._signed(self._notices(RESERVED, prepare)))
        self._accepted(prepare)
        self._abort(prepare, rc.RESULT_CODE_EXPIRED)

    def bad_signature(self) -> None:
        def corrupted(envelope):
            envelope.signature = envelope.signature[:-1] + bytes([envelope.signature[-1] ^ 1])
            return envelope
        self._refused_delivery(corrupted, what="a bad signature")

    def wrong_signer(self) -> None:
        payer_key = self.bundle.payer.signing_key
        self._refused_delivery(lambda envelope: payer_key.sign(transfer_pb2.NoticeBatch.FromString(envelope.payload)),
                               what=f"a signature by {payer_key.key_id}")

    def _refused_delivery(self, spoil, *, what: str) -> None:
        """A RESERVED notice for a quoted transfer, spoiled: the member must refuse the delivery
        (resume its stream before it) and decide nothing; then a sound ABORTED takes its place."""
        item, condition = self._quoted(211)
        prepare = self._prepare(item, condition)
        self.double.expect_decision(prepare)
        spoiled = spoil(self._signed(self._notices(RESERVED, prepare)))
        sequence = self.double.deliver(spoiled, after_refusal=self._signed(
            self._notices(ABORTED, prepare, result=rc.RESULT_CODE_EXPIRED)))
        deadline = time.monotonic() + self.timeout_s
        while not self.double.resumed_before(sequence):
            decided = self.double.decisions_about(prepare.transfer_id)
            expect(not decided, f"the member decided {prepare.transfer_id} from a delivery with {what}")
            if time.monotonic() >= deadline:
                raise CaseFailed(f"the member did not resume its stream before delivery {sequence} (with {what}) "
                                 f"within {self.timeout_s:g} s: it applied it, or stopped")
            time.sleep(0.02)
        decided = stays_absent(lambda: self.double.decisions_about(prepare.transfer_id), for_s=QUIET_S)
        expect(not decided, f"the member decided {prepare.transfer_id} from a delivery with {what}")

    def reconciled_window(self) -> None:
        entries = [settlement_pb2.StatementEntry(
            transfer_id=transfer_id, direction=settlement_pb2.ENTRY_DIRECTION_CREDIT,
            counterparty_bank_id=self.payer_id, amount=money_pb2.Money(amount_minor=amount, currency=self.currency),
            reference="conformance kit", committed_at_unix_ms=committed_at)
            for transfer_id, (amount, committed_at) in self.booked.items()]
        expect(bool(entries), "no transfer was committed in this run (be paid failed): nothing to reconcile")
        net = sum(entry.amount.amount_minor for entry in entries)

        def money(amount_minor: int) -> money_pb2.Money:
            return money_pb2.Money(amount_minor=amount_minor, currency=self.currency)
        statement = settlement_pb2.Statement(
            window_id=WINDOW_ID, bank_id=self.bundle.member_id, page_index=0, page_count=1, entries=entries,
            opening_position=money(0), closing_position=money(-net), net=money(net), entry_count=len(entries),
            audit_head=settlement_pb2.AuditHead(sequence=1, entry_hash=hashlib.sha256(b"conformance").digest()),
            movement_count=0, opening_liquidity=money(0), closing_liquidity=money(0))
        page = self._signed(statement)
        self.double.keep_statement(WINDOW_ID, [page])
        self.double.deliver(page)
        result, answer = wait_for(lambda: next(iter(self.double.reconciliations()), None), timeout_s=self.timeout_s,
                                  waiting_for=f"reconciliation of window {WINDOW_ID} from the member")
        expect_equal(_code(result), "OK", "the reconciliation as the clearing verifies it")
        expect_equal((answer.window_id, answer.bank_id), (WINDOW_ID, self.bundle.member_id), "the answer's window, bank")
        expect_equal(answer.statement_sha256, hashlib.sha256(page.payload).digest(), "the answer's statement hash")
        self.breaks = list(answer.breaks)
        expect(not answer.breaks, "the member disputes the statement: " + "; ".join(
            _describe(b, self.case_of) for b in answer.breaks[:5]))
        expect_equal(answer.node_net.amount_minor, net, "the member's own net for the window")

    def _blame_breaks(self, verdicts: list[Verdict]) -> None:
        """A break naming a transfer fails the case that made it too."""
        by_name = {verdict.name: verdict for verdict in verdicts}
        for found in self.breaks:
            case = self.case_of.get(found.transfer_id)
            if case in by_name:
                by_name[case].failed_later(f"its books at the window: {_describe(found, self.case_of)}")


def _describe(found: settlement_pb2.ReconciliationBreak, case_of: dict[str, str]) -> str:
    case = case_of.get(found.transfer_id)
    return (settlement_pb2.BreakKind.Name(found.kind).removeprefix("BREAK_KIND_") + " " + (found.transfer_id or "")
            + (f" (case {case})" if case else "") + (f" {found.detail}" if found.detail else "")).strip()
