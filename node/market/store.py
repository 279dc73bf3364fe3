"""The marketplace's tables (SQLAlchemy 2 Core), on node.store.metadata.

Seller side (orders for this bank's merchants): merchants, products, seller_orders,
seller_refunds, seller_cancelled_unplaced. Buyer side (orders of this bank's buyers): checkouts, buyer_orders,
buyer_refunds.
Both sides: order_events (the outbox of events for the other bank) and
received_order_events (events applied here, so a repeat changes nothing).

When buyer and merchant bank at the same node an order has a row on each side.
Items are kept as JSON text: [{"sku", "quantity", "unit_price_minor", "title"}].
"""
from __future__ import annotations

import sqlalchemy as sa

from node.store import metadata

ACTIVE, SUSPENDED = "ACTIVE", "SUSPENDED"

merchants = sa.Table(
    "merchants", metadata,
    sa.Column("merchant_id", sa.String(64), primary_key=True),
    sa.Column("legal_name", sa.String(140), nullable=False),
    sa.Column("contact", sa.String(200), nullable=False),
    sa.Column("settlement_account_id", sa.String(80), sa.ForeignKey("accounts.account_id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
)

products = sa.Table(
    "products", metadata,
    sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.merchant_id"), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("title", sa.String(140), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("price_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    # Available to order = stock_on_hand - stock_reserved, never negative.
    sa.Column("stock_on_hand", sa.BigInteger, nullable=False),
    sa.Column("stock_reserved", sa.BigInteger, nullable=False),
    sa.Column("updated_at_unix_ms", sa.BigInteger, nullable=False),
    sa.CheckConstraint("stock_reserved >= 0 AND stock_on_hand >= stock_reserved", name="ck_products_stock"),
    # The catalogue (node.market.product_rows). A variant is a row of its own (its SKU, price and
    # stock) whose product_id names the product it belongs to; product_id = sku without variants.
    sa.Column("product_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("size", sa.String(32), nullable=False, server_default=""),
    sa.Column("colour", sa.String(32), nullable=False, server_default=""),
    sa.Column("category_id", sa.String(64), nullable=False, server_default="other"),
    sa.Column("status", sa.String(16), nullable=False, server_default="LISTED"),
    sa.Column("attributes", sa.Text, nullable=False, server_default="{}"),   # JSON object of text
    sa.Column("image_refs", sa.Text, nullable=False, server_default="[]"),   # JSON list of text
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False, server_default="0"),
    # Search (node.market.search_text): the row's number in the full-text index (SQLite FTS5
    # products_fts's rowid), and its title, description and SKU as normalised words.
    sa.Column("product_number", sa.BigInteger, nullable=True),
    sa.Column("search_title", sa.Text, nullable=False, server_default=""),
    sa.Column("search_body", sa.Text, nullable=False, server_default=""),
    sa.Column("search_sku", sa.Text, nullable=False, server_default=""),
    # No index on status or category. A search reads its matches through the full-text index, or, for
    # a common word, walks one of the sort-order indexes below (node.market.search_plan, migration 0015).
    sa.Index("ix_products_product_number", "product_number", unique=True),
    sa.Index("ix_products_walk_price", "price_minor", "merchant_id", "sku"),
)
sa.Index("ix_products_walk_price_desc", products.c.price_minor.desc(), products.c.merchant_id, products.c.sku)
sa.Index("ix_products_walk_newest", products.c.created_at_unix_ms.desc(), products.c.merchant_id, products.c.sku)
LISTED, DRAFT, DELISTED = "LISTED", "DRAFT", "DELISTED"

# Orders for this bank's merchants: RESERVED -> SHIPPED -> COMPLETED -> REFUNDED, or RESERVED -> CANCELLED.
seller_orders = sa.Table(
    "seller_orders", metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("checkout_id", sa.String(64), nullable=False),
    sa.Column("buyer_bank_id", sa.String(64), nullable=False),
    sa.Column("buyer_account_id", sa.String(80), nullable=False),
    sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.merchant_id"), nullable=False, index=True),
    sa.Column("items", sa.Text, nullable=False),
    sa.Column("total_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("tracking_reference", sa.String(100), nullable=False),
    # Refunds approved so far, including those whose transfer is still on its way.
    sa.Column("refunded_minor", sa.BigInteger, nullable=False),
    sa.Column("placed_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_unix_ms", sa.BigInteger, nullable=False),
    # The buyer bank's signed EscrowStatement (a serialised Envelope) the stock was reserved on
    # (node.market.escrow_proofs); None for orders placed before statements were asked for.
    sa.Column("escrow_statement", sa.LargeBinary, nullable=True),
    # Units reserved (the sum of the items' quantities): bounded per buyer bank while RESERVED.
    sa.Column("units", sa.BigInteger, nullable=False, server_default="0"),
    # The incoming transfer that paid the merchant for it (COMPLETED orders of another bank's
    # buyers): each transfer pays one order.
    sa.Column("payment_transfer_id", sa.String(64), nullable=True, unique=True, index=True),
    sa.Index("ix_seller_orders_buyer_bank_id_state", "buyer_bank_id", "state"),
    sa.Index("ix_seller_orders_placed", "placed_at_unix_ms", "order_id"),
)

# Refunds the merchants approved. PENDING (an interbank transfer on its way) -> DONE | FAILED.
seller_refunds = sa.Table(
    "seller_refunds", metadata,
    sa.Column("refund_id", sa.String(64), primary_key=True),
    sa.Column("order_id", sa.String(64), sa.ForeignKey("seller_orders.order_id"), nullable=False, index=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reason", sa.String(140), nullable=False),
    sa.Column("transfer_id", sa.String(64), nullable=True, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
)

# CANCELLED events for orders this bank did not know when they came (PlaceOrder still on its
# way, or lost): a later PlaceOrder with that id from that bank is refused.
seller_cancelled_unplaced = sa.Table(
    "seller_cancelled_unplaced", metadata,
    sa.Column("buyer_bank_id", sa.String(64), primary_key=True),
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
)

checkouts = sa.Table(
    "checkouts", metadata,
    sa.Column("checkout_id", sa.String(64), primary_key=True),
    sa.Column("buyer_account_id", sa.String(80), nullable=False),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
)

# Orders of this bank's buyers: PLACING -> PAID -> SHIPPED -> RECEIVED -> COMPLETED -> REFUNDED,
# PAID -> CANCELLED, PLACING -> FAILED (see node.market.buyer_orders).
buyer_orders = sa.Table(
    "buyer_orders", metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("checkout_id", sa.String(64), sa.ForeignKey("checkouts.checkout_id"), nullable=False, index=True),
    sa.Column("buyer_account_id", sa.String(80), sa.ForeignKey("accounts.account_id"), nullable=False, index=True),
    sa.Column("seller_bank_id", sa.String(64), nullable=False),
    sa.Column("merchant_id", sa.String(64), nullable=False),
    sa.Column("items", sa.Text, nullable=False),
    sa.Column("total_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("tracking_reference", sa.String(100), nullable=False),
    sa.Column("refunded_minor", sa.BigInteger, nullable=False),
    sa.Column("problem", sa.Integer, nullable=False),
    sa.Column("problem_detail", sa.String(200), nullable=False),
    # The merchant's settlement account at the seller's bank (from PlaceOrder).
    sa.Column("settlement_account_id", sa.String(80), nullable=False),
    sa.Column("release_attempt", sa.Integer, nullable=False),
    sa.Column("release_transfer_id", sa.String(64), nullable=True, index=True),
    sa.Column("release_retry_at_unix_ms", sa.BigInteger, nullable=True),
    sa.Column("auto_confirm_at_unix_ms", sa.BigInteger, nullable=True),
    sa.Column("placed_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_unix_ms", sa.BigInteger, nullable=False),
    # 0: paid from the buyer's account. N: financed by this bank in N monthly instalments (a plan
    # of node.credit.instalments, written in the checkout's transaction).
    sa.Column("instalments", sa.Integer, nullable=False, server_default="0"),
    # Listing newest first, by buyer or by all (node.market.order_lists).
    sa.Index("ix_buyer_orders_placed", "placed_at_unix_ms", "order_id"),
)

# Return transfers counted as refunds of this bank's buyers' orders (node.market.buyer_orders):
# each incoming transfer counts once, for the one order and event that named it first.
buyer_refunds = sa.Table(
    "buyer_refunds", metadata,
    sa.Column("transfer_id", sa.String(64), primary_key=True),
    sa.Column("order_id", sa.String(64), sa.ForeignKey("buyer_orders.order_id"), nullable=False, index=True),
    sa.Column("sender_bank_id", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("counted_at_unix_ms", sa.BigInteger, nullable=False),
)

# Events for the other bank of an order, sent by node.market.order_events. sent is False until the
# other bank answered with a result code (gRPC errors are retried, each event not before
# next_attempt_at_unix_ms, with a backoff that grows with attempts).
order_events = sa.Table(
    "order_events", metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("recipient_bank_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.Integer, nullable=False),
    sa.Column("tracking_reference", sa.String(100), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("transfer_id", sa.String(64), nullable=False),
    # DECLINED: the merchant's reason, shown to the buyer.
    sa.Column("reason", sa.String(140), nullable=False, server_default=""),
    sa.Column("sent", sa.Boolean, nullable=False, index=True),
    sa.Column("answer_result", sa.Integer, nullable=False),
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at_unix_ms", sa.BigInteger, nullable=False, index=True),
)

# Keyed by (sender, event id): each bank names its own events.
received_order_events = sa.Table(
    "received_order_events", metadata,
    sa.Column("sender_bank_id", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.Integer, nullable=False),
    sa.Column("received_at_unix_ms", sa.BigInteger, nullable=False),
)


# Verified reviews (node.market.reviews). At the buyer's bank, the buyer's review of its order,
# signed by this bank, until the seller's bank accepted it (delivered); at the seller's bank,
# the reviews it accepted, and per product the running sum and count of their ratings (so search
# shows a rating without reading the reviews).
buyer_reviews = sa.Table(
    "buyer_reviews", metadata,
    sa.Column("order_id", sa.String(64), sa.ForeignKey("buyer_orders.order_id"), primary_key=True),
    sa.Column("rating", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("envelope", sa.LargeBinary, nullable=False),     # The signed OrderReview, as sent.
    sa.Column("delivered", sa.Boolean, nullable=False, index=True),
    sa.Column("answer_result", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("reviewed_at_unix_ms", sa.BigInteger, nullable=False),
)

seller_reviews = sa.Table(
    "seller_reviews", metadata,
    sa.Column("order_id", sa.String(64), sa.ForeignKey("seller_orders.order_id"), primary_key=True),
    sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.merchant_id"), nullable=False, index=True),
    sa.Column("buyer_bank_id", sa.String(64), nullable=False),
    sa.Column("rating", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("envelope", sa.LargeBinary, nullable=False),     # The buyer bank's signed OrderReview.
    sa.Column("received_at_unix_ms", sa.BigInteger, nullable=False),
)

product_ratings = sa.Table(
    "product_ratings", metadata,
    sa.Column("merchant_id", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("rating_sum", sa.BigInteger, nullable=False),
    sa.Column("rating_count", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(["merchant_id", "sku"], ["products.merchant_id", "products.sku"]),
)
