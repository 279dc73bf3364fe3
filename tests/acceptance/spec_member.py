"""A member bank written from docs/protocol.md and the .proto files alone.

It imports none of Fedmall's own code: only the code protoc generates from the contract
(fedmall.v1.*_pb2), grpcio, cryptography and the standard library. Each step cites the
section of docs/protocol.md it follows, so tests/acceptance/test_spec_member.py shows the
document is enough to pay and be paid by the Python banks. Its books are a dictionary: it is
a check of the wire contract, not a bank.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
import time
import tomllib
import uuid
from concurrent import futures
from pathlib import Path

import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, envelope_pb2, money_pb2, node_pb2, node_pb2_grpc
from fedmall.v1 import result_pb2, settlement_pb2, transfer_pb2

# Section 7: what each delivery kind carries.
PAYLOAD_TYPES = {
    clearing_pb2.DELIVERY_KIND_NOTICE_BATCH: transfer_pb2.NoticeBatch,
    clearing_pb2.DELIVERY_KIND_STATEMENT: settlement_pb2.Statement,
    clearing_pb2.DELIVERY_KIND_SETTLEMENT_REPORT: settlement_pb2.SettlementReport,
    clearing_pb2.DELIVERY_KIND_WINDOW_SETTLED: settlement_pb2.WindowSettled,
    clearing_pb2.DELIVERY_KIND_WINDOW_ABORTED: settlement_pb2.WindowAborted,
    clearing_pb2.DELIVERY_KIND_LIQUIDITY_MOVEMENT: settlement_pb2.LiquidityMovement,
}
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def party_name(bank_id: str) -> str:
    """Section 1: the DNS name a bank's certificate carries."""
    if _LABEL.fullmatch(bank_id) and "--" not in bank_id:
        return f"{bank_id}.bank.fedmall"
    return "x--" + base64.b32encode(bank_id.encode()).decode().lower().rstrip("=") + ".bank.fedmall"


def pae(payload_type: str, payload: bytes) -> bytes:
    """Section 3."""
    type_bytes = payload_type.encode()
    return b"DSSEv1 " + str(len(type_bytes)).encode() + b" " + type_bytes + b" " + str(len(payload)).encode() \
        + b" " + payload


class SpecMember(node_pb2_grpc.PeerServiceServicer):
    def __init__(self, bundle: Path, *, accounts: set[str], currency: str) -> None:
        config = tomllib.loads((bundle / "fedmall.toml").read_text())       # Section 4, the bundle.
        self.bank_id = config["identity"]["party_id"]
        self._key_id = config["identity"]["signing_key_id"]
        self._clearing_key_id = config["clearing"]["signing_key_id"]
        self._listen_address = config["node"]["listen_address"]
        self._signing_key = serialization.load_pem_private_key((bundle / "signing.key").read_bytes(), None)
        self._clearing_key = serialization.load_pem_public_key((bundle / "clearing.pub").read_bytes())
        ca, certificate, key = ((bundle / name).read_bytes() for name in ("ca.pem", "tls.crt", "tls.key"))
        self._client_credentials = grpc.ssl_channel_credentials(ca, key, certificate)
        self._server_credentials = grpc.ssl_server_credentials([(key, certificate)], ca, require_client_auth=True)
        self.clearing = clearing_pb2_grpc.ClearingServiceStub(
            self._channel(config["clearing"]["address"], "clearing.fedmall"))
        self.accounts = set(accounts)
        self.currency = currency
        self.rejections: dict[str, tuple[int, str]] = {}   # Accounts this bank now refuses, and why.
        self.quoted: dict[str, tuple[tuple, bytes]] = {}   # Section 5: the terms and the fulfilment kept.
        self.notices: dict[str, transfer_pb2.TransferNotice] = {}
        self.cursor = 0
        self._lock = threading.Condition()
        self._server = None
        self._stream = None
        self._stopped = False

    # Plumbing ---------------------------------------------------------------------------

    def _channel(self, address: str, name: str) -> grpc.Channel:
        """Section 1: demand the party we mean to call, whatever the address."""
        return grpc.secure_channel(address, self._client_credentials,
                                   options=[("grpc.ssl_target_name_override", name)])

    def sign(self, message) -> envelope_pb2.Envelope:
        """Section 3: canonical bytes, Ed25519 over PAE."""
        payload = message.SerializeToString(deterministic=True)
        payload_type = message.DESCRIPTOR.full_name
        return envelope_pb2.Envelope(payload_type=payload_type, payload=payload, key_id=self._key_id,
                                     signature=self._signing_key.sign(pae(payload_type, payload)))

    def open_delivery(self, delivery: clearing_pb2.Delivery):
        """Sections 3 and 7: kind, signer, signature, then parse canonical bytes."""
        envelope = delivery.envelope
        message_class = PAYLOAD_TYPES.get(delivery.kind)
        if message_class is None:
            raise ValueError(f"delivery {delivery.sequence}: kind {delivery.kind} unknown here")
        if envelope.payload_type != message_class.DESCRIPTOR.full_name or envelope.key_id != self._clearing_key_id:
            raise ValueError(f"delivery {delivery.sequence}: kind, type or signer wrong")
        self._clearing_key.verify(envelope.signature, pae(envelope.payload_type, envelope.payload))
        message = message_class.FromString(envelope.payload)
        if message.SerializeToString(deterministic=True) != envelope.payload:
            raise ValueError(f"delivery {delivery.sequence}: not canonical")
        return message

    def start(self) -> None:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        node_pb2_grpc.add_PeerServiceServicer_to_server(self, self._server)
        self._server.add_secure_port(self._listen_address, self._server_credentials)  # Section 1: a server.
        self._server.start()
        threading.Thread(target=self._follow, name=f"{self.bank_id}-stream", daemon=True).start()

    def stop(self) -> None:
        self._stopped = True
        if self._stream is not None:
            self._stream.cancel()
        self._server.stop(0)

    # Being paid: PeerService (sections 5 and 6) ------------------------------------------

    def QuoteTransfers(self, request, context):
        payer = dict(context.auth_context())["x509_common_name"][0].decode()   # Section 1: the caller.
        results = []
        for item in request.items:
            if item.payee_account not in self.accounts:
                results.append(node_pb2.QuoteResult(transfer_id=item.transfer_id,
                                                    result=result_pb2.RESULT_CODE_ACCOUNT_UNKNOWN))
                continue
            terms = (payer, item.transfer_id, item.payee_account, item.amount.amount_minor, item.amount.currency)
            with self._lock:
                kept = self.quoted.get(item.transfer_id)
                fulfilment = kept[1] if kept and kept[0] == terms else os.urandom(32)
                self.quoted[item.transfer_id] = (terms, fulfilment)
            results.append(node_pb2.QuoteResult(transfer_id=item.transfer_id, result=result_pb2.RESULT_CODE_OK,
                                                condition=hashlib.sha256(fulfilment).digest()))
        return node_pb2.QuoteTransfersResponse(results=results)

    def GetLimits(self, request, context):
        return node_pb2.PeerServiceGetLimitsResponse(
            limits=self.clearing.GetLimits(clearing_pb2.GetLimitsRequest(), timeout=5).limits)

    def _decide(self, prepare: transfer_pb2.Prepare):
        """Section 5, step 3: accept what was quoted, unchanged; else reject with the reason."""
        terms = (prepare.payer_bank_id, prepare.transfer_id, prepare.payee_account, prepare.amount.amount_minor,
                 prepare.amount.currency)
        with self._lock:
            kept = self.quoted.get(prepare.transfer_id)
        if kept is None or kept[0] != terms or hashlib.sha256(kept[1]).digest() != prepare.condition:
            return transfer_pb2.Reject(transfer_id=prepare.transfer_id,
                                       reason_code=result_pb2.RESULT_CODE_CONDITION_MISMATCH,
                                       reason="not quoted by this bank")
        if prepare.payee_account in self.rejections:
            code, words = self.rejections[prepare.payee_account]
            return transfer_pb2.Reject(transfer_id=prepare.transfer_id, reason_code=code, reason=words)
        return transfer_pb2.Accept(transfer_id=prepare.transfer_id, fulfilment=kept[1])

    # The stream (section 7) -------------------------------------------------------------

    def _follow(self) -> None:
        while not self._stopped:
            try:
                self._stream = self.clearing.StreamDeliveries(
                    clearing_pb2.StreamDeliveriesRequest(after_sequence=self.cursor))
                for response in self._stream:
                    for delivery in response.deliveries:
                        self._apply(delivery.sequence, self.open_delivery(delivery))
            except (grpc.RpcError, InvalidSignature, ValueError):
                time.sleep(0.2)

    def _apply(self, sequence: int, message) -> None:
        if sequence <= self.cursor:
            return
        if isinstance(message, transfer_pb2.NoticeBatch):
            assert message.recipient_bank_id == self.bank_id
            decisions = transfer_pb2.DecisionBatch()
            for notice in message.notices:
                prepare = notice.prepare
                if notice.state == transfer_pb2.TRANSFER_STATE_RESERVED and prepare.payee_bank_id == self.bank_id:
                    decision = self._decide(prepare)
                    (decisions.accepts if isinstance(decision, transfer_pb2.Accept) else decisions.rejects).append(
                        decision)
                with self._lock:
                    self.notices[prepare.transfer_id] = notice
                    self._lock.notify_all()
            if decisions.accepts or decisions.rejects:
                response = self.clearing.SubmitDecisions(
                    clearing_pb2.SubmitDecisionsRequest(envelope=self.sign(decisions)), timeout=10)
                assert response.result == result_pb2.RESULT_CODE_OK, response
        self.cursor = sequence

    def final_notice(self, transfer_id: str, *, timeout_s: float = 15.0) -> transfer_pb2.TransferNotice:
        final = (transfer_pb2.TRANSFER_STATE_COMMITTED, transfer_pb2.TRANSFER_STATE_ABORTED)
        with self._lock:
            self._lock.wait_for(lambda: transfer_id in self.notices and self.notices[transfer_id].state in final,
                                timeout=timeout_s)
            return self.notices[transfer_id]

    # Paying (section 5, steps 1 and 2) --------------------------------------------------

    def pay(self, payee_bank_id: str, account: str, amount_minor: int, *, now_ms: int,
            expires_in_ms: int = 30_000) -> tuple[transfer_pb2.Prepare, clearing_pb2.TransferResult]:
        participants = self.clearing.ListParticipants(clearing_pb2.ListParticipantsRequest(), timeout=5).participants
        payee = next(p for p in participants if p.bank_id == payee_bank_id)
        transfer_id = str(uuid.uuid4())
        amount = money_pb2.Money(amount_minor=amount_minor, currency=self.currency)
        with self._channel(payee.node_address, party_name(payee_bank_id)) as channel:
            [quote] = node_pb2_grpc.PeerServiceStub(channel).QuoteTransfers(node_pb2.QuoteTransfersRequest(
                items=[node_pb2.QuoteItem(transfer_id=transfer_id, payee_account=account, amount=amount)]),
                timeout=5).results
        assert quote.result == result_pb2.RESULT_CODE_OK, quote
        prepare = transfer_pb2.Prepare(
            transfer_id=transfer_id, payer_bank_id=self.bank_id, payee_bank_id=payee_bank_id, payee_account=account,
            amount=amount, condition=quote.condition, expires_at_unix_ms=now_ms + expires_in_ms,
            reference="paid by a member written from the spec", uetr=str(uuid.uuid4()),
            creditor_name=quote.creditor_name)   # Section 5 step 2: uetr is required.
        response = self.clearing.SubmitPrepares(clearing_pb2.SubmitPreparesRequest(
            envelope=self.sign(transfer_pb2.PrepareBatch(prepares=[prepare]))), timeout=10)
        assert response.result == result_pb2.RESULT_CODE_OK, response
        return prepare, response.results[0]
