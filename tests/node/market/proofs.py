"""What the marketplace services need to believe the other bank, for tests that drive them
directly: the banks' signing keys (as a registry would publish them), escrow statements signed
with them, reservation rules, and incoming transfers written into a node's books."""
from __future__ import annotations

import dataclasses

from fedmall import pki
from fedmall.envelope import SigningKey, VerificationKey

from node.bank import store
from node.market import escrow_proofs
from node.market.seller_orders import PlaceOrder, ReservationRules

BANKS = ("bank-a", "bank-b", "bank-c", "bank-x", "bank-up", "bank-down", "bank-other")
SIGNING_KEYS: dict[str, SigningKey] = {bank_id: pki.new_signing_key(f"{bank_id}/k1") for bank_id in BANKS}
RULES = ReservationRules(hold_s=3_600, per_buyer_bank_max=1_000, units_per_buyer_bank_max=1_000_000)


def keys(key_id: str) -> VerificationKey | None:
    """The registry's view of every test bank's key."""
    for bank_id, key in SIGNING_KEYS.items():
        if key.key_id == key_id:
            return VerificationKey(key_id=key_id, owner=bank_id, public_key=key.private_key.public_key())
    return None


def proved(order: PlaceOrder, *, buyer_bank_id: str, seller_bank_id: str, escrowed_at_unix_ms: int = 1,
           signer: SigningKey | None = None, **changes) -> PlaceOrder:
    """The order with the buyer bank's signed escrow statement for it; changes alter the statement."""
    terms = dict(order_id=order.order_id, buyer_bank_id=buyer_bank_id, seller_bank_id=seller_bank_id,
                 merchant_id=order.merchant_id, amount_minor=order.total_minor, currency=order.currency,
                 escrowed_at_unix_ms=escrowed_at_unix_ms) | changes
    statement = escrow_proofs.statement_of(**terms)
    return dataclasses.replace(order, escrow_statement=(signer or SIGNING_KEYS[buyer_bank_id]).sign(statement))


def received(engine, *, transfer_id: str, payer_bank_id: str, payee_account_id: str, amount_minor: int,
             reference: str, status: str = "COMMITTED", currency: str = "EUR") -> None:
    """An incoming transfer in the node's books, as its stream would have left it (the money
    itself is not booked: the services under test only read the transfer)."""
    with engine.begin() as connection:
        connection.execute(store.incoming_transfers.insert().values(
            transfer_id=transfer_id, payer_bank_id=payer_bank_id, payee_account_id=payee_account_id,
            amount_minor=amount_minor, currency=currency, reference=reference, status=status, reject_reason=0,
            abort_reason=0, fulfilment=None, decision_sent=True, created_at_unix_ms=1, updated_at_unix_ms=1,
            window_id=None))
