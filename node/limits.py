"""Bounds and timings of the node's own work. Protocol bounds live in fedmall.limits."""
from fedmall import limits as protocol

# Default expiry a payer sets on its prepares (overridable in fedmall.toml).
transfer_expiry_ms_default = 30_000

# Background workers.
worker_poll_ms = 500            # Wake up at least this often even without a signal.
retry_backoff_ms_min = 50
retry_backoff_ms_max = protocol.retry_backoff_ms_max
rpc_timeout_ms = 10_000         # Deadline of unary calls to the clearing and to peers.
stop_timeout_ms = 5_000         # How long stop() waits for a worker thread.

# Batches the node builds itself.
outbox_batch_max = protocol.prepares_per_batch_max
decision_batch_max = protocol.decisions_per_batch_max
send_many_max = 10_000          # Transfers in one in-process send_many call.

# Settlement: statements the clearing sends and the answers this node signs.
statement_pages_per_window_max = 10_000             # 20 million entries per bank and window.
statement_entries_per_page_max = protocol.notices_per_delivery_max
movement_id_length_max = protocol.movement_id_length_max  # "funds:" and the operator's id.
reconciliation_breaks_max = 1_000                   # Listed in one answer; break_count keeps the true number.
reconciliation_break_bytes_max = 1_600              # Two entries, each with a 140-character (560-byte) reference.
reconciliations_per_step_max = 16                   # Answers the submitter sends before looking again.

# Rejections of transfers this bank never quoted, waiting in memory per payer bank (node.bank.notices);
# beyond this the oldest is dropped and expires at the clearing. A full decision batch each.
unquoted_rejects_per_bank_max = decision_batch_max

# Money in a customer account (fedmall.limits derives the protocol's bounds). An account takes a
# deposit, or an interbank payment (quoted, then accepted), only while its balance stays within
# this; the payments accepted and not committed yet are all reserved at the clearing, within the
# bank's unsettled gross there, so no balance passes the sum of the two. Money moved inside the bank
# (an escrow released to a merchant, a refund, a loan) is money the bank already holds.
account_balance_minor_max = 10**16

# Registry cache (node.peers): read again at most this often, and at least this often while used
# (a bank's node may move: fedmall-clearing participants set-address).
registry_refresh_ms_min = 1_000
# The certificates the clearing refuses are fetched this often (node.revocation).
revocation_refresh_ms = 1_000
registry_age_ms_max = 30_000

# gRPC server threads.
server_threads = 16

# Per-member budgets on the peer services (fedmall.budgets; [budget] in fedmall.toml; this bank's
# own calls and health checks are not metered). scripts/bench has each payer bank quote about 300
# transfers a second at each payee bank in a few calls; the defaults leave several times that.
# Quotes have their own, tighter budget (a caller could otherwise enumerate this bank's accounts):
# quote items, and quote misses (items answered with a refusal, mostly an unknown account), which
# are paid after the call, so a caller probing for accounts is held to quote_misses_per_s.
budget_requests_per_s_default = 200
budget_requests_burst_default = 400
budget_request_bytes_per_s_default = 1024 * 1024
quote_item_bytes_max = 160                  # A transfer id (64), an account (34), an amount, with tags.
peer_request_bytes_max = 1024 * 1024        # A full quote; a PlaceOrder of items_per_order_max items.
budget_request_bytes_burst_default = 2 * peer_request_bytes_max
budget_calls_in_flight_max_default = 8      # Of server_threads.
budget_quote_items_per_s_default = 1_000
budget_quote_items_burst_default = protocol.quote_items_per_request_max
budget_quote_misses_per_s_default = 20
budget_quote_misses_burst_default = 200

# The marketplace: bounds on what customers and peers send.
merchant_name_length_max = protocol.merchant_name_length_max
merchant_contact_length_max = 200
product_title_length_max = protocol.product_title_length_max
product_description_length_max = protocol.product_description_length_max
product_stock_max = 1_000_000_000
items_per_order_max = 50
items_per_cart_max = 100
item_quantity_max = 10_000
search_query_length_max = protocol.search_query_length_max
search_words_max = 10
search_page_size_max = 100
search_page_size_default = 20
search_results_per_bank_max = 200           # Best matches one bank returns to a fan-out.
tracking_reference_length_max = protocol.tracking_reference_length_max
refund_reason_length_max = protocol.order_reason_length_max
decline_reason_length_max = protocol.order_reason_length_max  # The order_events.reason column.
orders_listed_max = 1_000                   # The most orders one page may list.
orders_page_size_default = 50               # Orders in one ListOrders page unless the caller asks.
orders_page_size_max = 1_000                # ... and at most (node.market.order_lists).
order_cursor_length_max = 200               # An opaque ListOrders cursor, as the caller sends it back.
reviews_per_step_max = 64                   # Undelivered reviews one worker pass sends.

# The catalogue (node.market.product_rows, node.market.product_import, node.market.local_search).
product_attributes_max = 20                 # Attributes of one product (brand, material, ...).
product_attribute_key_length_max = 40
product_attribute_value_length_max = 200
product_images_max = 8
product_image_ref_length_max = 500          # An https URL, or "sha256:" and 64 hex digits.
product_variant_value_length_max = 32       # A variant's size or colour.
import_rows_max = 1_000_000                 # Rows in one bulk import (one transaction).
import_rows_per_message_max = 2_000         # Rows in one ImportProducts stream message.
products_listed_max = 1_000               # A merchant's products on one page of its list.
import_problems_max = 100                   # Bad rows named in one refusal (all are counted).
search_counted_rows_max = 2_000             # Matches one bank counts for totals and facets (past it: "2000+").
search_sorted_matches_max = 5_000           # A match set (or relevance tier) this small is ordered whole...
search_walk_rows_max = 20_000               # ...a larger one walks a sort-order index, this many rows at most.
search_cursor_bytes_max = 8_192
search_cursor_banks_max = 256
# Lower bounds of the price bands facets count, in minor units (the last band has no upper bound).
search_price_bands_from_minor = (0, 1_000, 5_000, 10_000, 50_000, 100_000)

# The marketplace: timings (config keys in [node] override the first two).
search_deadline_ms_default = 800
auto_confirm_after_s_default = 7 * 24 * 3600
place_order_timeout_ms = 5_000              # Deadline of the PlaceOrder calls of one checkout.
order_recovery_age_ms = 15_000              # A PLACING order older than this was left by a crash.
release_retry_pause_ms = 2_000              # Pause before a refused release is tried again.
refund_abandon_age_ms = 60_000              # A refund with no transfer after this was left by a crash.
order_events_per_step_max = 64
# Cancellations of orders this seller bank does not know (their PlaceOrder overtaken or lost) it
# remembers per buyer bank ([node].cancelled_unplaced_per_bank_max overrides); beyond, the oldest
# is forgotten (node.market.seller_orders).
cancelled_unplaced_per_bank_max_default = 1_000
cancelled_unplaced_per_bank_max_max = 1_000_000
order_event_retry_ms_min = 500              # First pause after a recipient did not answer; doubles per attempt
order_event_retry_ms_max = 60_000           # up to this.
orders_per_step_max = 64

# The marketplace at the seller's bank: what one buyer bank may hold reserved, and for how long
# (config keys in [node] override them: node.config).
reservation_hold_s_default = 3 * 24 * 3600          # Not shipped by then: the reservation expires.
reservations_per_buyer_bank_max_default = 1_000     # Open (RESERVED) orders of one buyer bank.
reserved_units_per_buyer_bank_max_default = 1_000_000   # Units those orders hold.

# Merchant credit.
trade_orders_read_max = 200_000             # Orders of one merchant read to score it (180 days).
ids_per_query_max = 500                     # Ids in one IN (...) list.
loans_listed_max = 100                      # A merchant's loans, newest first.
loan_book_listed_max = 10_000               # Loans listed in the bank's loan book, newest first.
loan_statement_lines_max = 1_000            # Newest lines of one loan's statement.
loan_bytes_max = 1_000                      # One Loan message without its schedule: 4 ids, 6 amounts, times.
loans_reviewed_per_step_max = 500           # Loans the review worker judges in one transaction.
loan_review_poll_ms = 60_000                # The review worker looks at the loans this often.

# Consumer instalments (node.credit.instalments).
instalment_plans_listed_max = 100           # A buyer's plans, newest first.
instalment_book_listed_max = 5_000          # Plans listed in the bank's instalment book, newest first.
instalment_plan_bytes_max = 1_500           # One InstalmentPlan message without its schedule.
instalments_collected_per_step_max = 200    # Instalments the collection worker tries in one pass.
instalment_collection_poll_ms = 60_000      # The collection worker looks for due instalments this often.
instalments_per_plan_max = 60               # The longest term a policy may offer, in months.

assert retry_backoff_ms_min < retry_backoff_ms_max
assert registry_refresh_ms_min < registry_age_ms_max
assert items_per_order_max <= items_per_cart_max
assert search_page_size_default <= search_page_size_max <= search_results_per_bank_max
assert place_order_timeout_ms < order_recovery_age_ms
assert 0 < cancelled_unplaced_per_bank_max_default <= cancelled_unplaced_per_bank_max_max
assert 0 < order_event_retry_ms_min < order_event_retry_ms_max
assert search_words_max <= search_query_length_max
assert import_problems_max <= import_rows_per_message_max <= import_rows_max
assert list(search_price_bands_from_minor) == sorted(set(search_price_bands_from_minor))
assert item_quantity_max * items_per_cart_max <= product_stock_max
assert item_quantity_max * items_per_order_max <= reserved_units_per_buyer_bank_max_default  # One order fits.
assert reservations_per_buyer_bank_max_default * items_per_order_max * item_quantity_max <= 2 ** 63 - 1
assert protocol.expiry_ms_min <= transfer_expiry_ms_default <= protocol.expiry_ms_max
assert outbox_batch_max <= protocol.prepares_per_batch_max
assert decision_batch_max <= protocol.decisions_per_batch_max
assert reconciliation_breaks_max * reconciliation_break_bytes_max <= protocol.envelope_bytes_max
assert protocol.reference_length_max * 4 * 2 < reconciliation_break_bytes_max
assert loan_book_listed_max * loan_bytes_max <= protocol.grpc_message_bytes_max
assert instalment_book_listed_max * instalment_plan_bytes_max <= protocol.grpc_message_bytes_max
assert 0 < orders_page_size_default <= orders_page_size_max <= orders_listed_max
assert protocol.quote_items_per_request_max * quote_item_bytes_max <= peer_request_bytes_max
assert budget_request_bytes_burst_default >= peer_request_bytes_max
assert budget_quote_items_burst_default >= protocol.quote_items_per_request_max
assert budget_calls_in_flight_max_default < server_threads
assert protocol.amount_minor_max <= account_balance_minor_max
assert account_balance_minor_max + protocol.unsettled_gross_minor_max <= protocol.iso20022_amount_minor_max
