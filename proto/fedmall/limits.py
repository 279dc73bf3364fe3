"""Bounds on everything that crosses a process boundary. One place, related by asserts."""

# Envelopes and batches.
prepares_per_batch_max = 2_000
decisions_per_batch_max = 2_000
notices_per_delivery_max = 1_500  # Of notice_bytes_max each (a prepare, its UETR and parties, the payee's reason): under envelope_bytes_max.
deliveries_per_stream_message_max = 64
stream_message_bytes_max = 8 * 1024 * 1024
quote_items_per_request_max = 2_000
envelope_bytes_max = 4 * 1024 * 1024
grpc_message_bytes_max = 16 * 1024 * 1024

# Fields.
id_length_max = 64
# Bank and account ids travel in ISO 20022 exports, whose identifier fields hold at most
# 35 (Max35Text) and account ids 34 characters.
account_id_length_max = 34
bank_id_length_max = 34
iso20022_identifier_length_max = 35
uuid_length = 36                 # Every UUID id, lowercase and hyphenated (fedmall.identifiers).
reference_length_max = 140
holder_name_length_max = 140
reject_reason_length_max = 140   # A payee's words on a Reject, beside its reason code.
participant_name_length_max = 140
# Signing key ids are "<bank_id>/<key name>" (fedmall.identifiers.is_key_id).
key_name_length_max = 32
key_id_length_max = bank_id_length_max + 1 + key_name_length_max
# A reconciliation break names a transfer (a UUID) or a liquidity movement ("funds:<id>",
# "settlement:<window>"), and says in words what is wrong with a statement.
movement_id_length_max = 80
break_detail_length_max = 200
# The marketplace: text one bank's node sends another (fedmall.text on both sides).
merchant_name_length_max = 140
product_title_length_max = 140
product_description_length_max = 2_000
tracking_reference_length_max = 100
order_reason_length_max = 140    # Why an order was declined or refunded.
search_query_length_max = 200
# The debtor's and creditor's names a bank may share on a Prepare (ISO 20022 Dbtr/Cdtr Nm,
# and the Max70Text of an account's name).
party_name_length_max = 70
review_text_length_max = 1_000    # A buyer's words on a verified review (node.market.reviews).
review_rating_min, review_rating_max = 1, 5
# One serialised Prepare with every field at its max: ids and accounts (36 + 3 * 34), the
# amount (~16), condition (34), expiry (~11) and a reference of 140 characters of up to
# 4 UTF-8 bytes each (563), with tags: under 800; then the UETR and the original transfer id
# (2 * 38), the debtor account (36) and two names of 70 characters of up to 4 bytes (2 * 283):
# under 1,480. A larger one is refused at the clearing, as is one carrying fields the
# contract does not define.
prepare_bytes_max = 1536
# A Prepare plus state, result, fulfilment, times; and on a rejection the payee's reason code and
# words (up to 4 UTF-8 bytes a character, with tags).
notice_bytes_max = prepare_bytes_max + 64 + 4 * reject_reason_length_max + 8
statement_entry_bytes_max = 720  # Ids (36 + 34), amount, time and the reference (563), with tags.
audit_refusal_bytes_max = 64 * 1024  # Larger refused envelopes are logged by hash and size.

# Money. Every amount the system accepts or computes has a bound, chosen so that no sum can
# overflow: not an int64 on the wire (protobuf), not a BIGINT column (PostgreSQL), not an SQLite
# INTEGER, not SQLite's SUM (which raises on an int64 overflow even of a running sum that would
# come back down; PostgreSQL's SUM(bigint) is NUMERIC and never overflows, but fedmall.database
# sum_of casts it back to BIGINT), and not an ISO 20022 amount (at most 18 digits: camt.053,
# pacs.008). A breach is refused with a result code before anything is written.
int64_max = 2**63 - 1
iso20022_amount_minor_max = 10**18 - 1  # ActiveOrHistoricCurrencyAndAmount: totalDigits 18.

# The bounds the clearing checks (clearing.rules, clearing.funds, clearing.registry):
#
# - amount_minor_max: one transfer, funds in or out, liquidity at admission, net debit cap,
#   price, order total or loan. 10^15 minor units is 10 trillion EUR or USD (7 trillion USD in
#   JPY, 3 trillion in KWD): above any payment or prefunding a bank makes (TARGET2, the euro
#   area's RTGS, moves about 1.7 trillion EUR on a whole day).
# - unsettled_gross_minor_max, per bank: the gross of its transfers not yet settled, paid and
#   received: reserved, or committed in a window not settled yet. Checked for the payer and the
#   payee at every prepare (RESULT_CODE_UNSETTLED_GROSS_EXCEEDED; the column
#   participants.unsettled_gross_minor), released when a reservation aborts or its window
#   settles. Every transfer moves the payer's and the payee's position by its amount, so
#   whatever subset of its unsettled transfers is summed (its position, its debits, credits or
#   net in one window, its opening position at a statement, the settlements listed on one
#   statement, its reservations) is at most this, however many windows are open or unsettled
#   and however a window was filled. 10^16 is 100 trillion EUR between two settlements.
# - liquidity_ceiling_minor_max, per bank: liquidity + unsettled gross, the most its liquidity
#   could reach were everything it has not settled settled in its favour. Checked for the payee
#   of a prepare and at funds in (RESULT_CODE_LIQUIDITY_CEILING_EXCEEDED). Then what the bank
#   would hold were everything settled, liquidity - position, plus what is reserved to it, never
#   passes it (a prepare to it, a funds in: checked; a commit moves a reservation into it; an
#   abort, a funds out, a settlement, a payment it makes: no more). The position is within
#   +-unsettled gross, so liquidity stays within liquidity_minor_max below. Without it a
#   perpetual net receiver would pile liquidity up window after window.
# - funds_moved_per_statement_minor_max, per bank: the gross of the funds in and out listed on
#   one statement (committed into windows not issued, plus funds out reserved). Checked at funds
#   in and at reserving a funds out (RESULT_CODE_INVALID_AMOUNT); without it a loop of funds in
#   and out could make a camt.053 total too long for ISO 20022. (Aborting an issued window moves
#   its funds movements onto the next statement unchecked: only an operator's string of aborts
#   could pile them past it, and the camt.053 export then refuses with INVALID_AMOUNT.)
# - participants_max: every bank ever admitted (a row stays when it leaves). Checked at admit
#   (RESULT_CODE_FORBIDDEN); it bounds a window's gross. Two admissions racing in
#   two clearing processes could pass it by one: the relation below has room for that.
amount_minor_max = 10**15
net_debit_cap_minor_max = amount_minor_max
unsettled_gross_minor_max = 10**16
liquidity_ceiling_minor_max = 10**17
funds_moved_per_statement_minor_max = 10**16
participants_max = 1_000

# What follows from them (the proofs are in the comments above):
# |position|, |reserved|, one bank's debits, credits, net, opening and closing position in a
# window, the settled nets one statement lists:
position_minor_max = unsettled_gross_minor_max
# Liquidity is liquidity - position (0..ceiling) plus the position (+-unsettled gross); funds out
# reserved is within the liquidity.
liquidity_minor_max = liquidity_ceiling_minor_max + unsettled_gross_minor_max
liquidity_minor_min = -unsettled_gross_minor_max  # A settlement in order after a funds out can dip below 0.
# A window's gross (and its net total, at most the gross) in one currency: each transfer counts in
# the unsettled gross of two banks.
window_gross_minor_max = participants_max * unsettled_gross_minor_max // 2
# camt.053: a position account's balances and totals (settled nets listed, plus the window's debits
# and credits; the opening balance is those settled nets less the opening position), and a
# liquidity account's balances and totals (funds moved, plus the settled nets).
camt053_position_minor_max = 2 * position_minor_max
camt053_liquidity_minor_max = max(liquidity_minor_max, funds_moved_per_statement_minor_max + position_minor_max)

# Time.
expiry_ms_min = 1_000
expiry_ms_max = 24 * 3600 * 1000
clock_skew_ms_max = 5_000

# Streams and retries.
stream_idle_poll_ms = 200
retry_backoff_ms_max = 5_000

# Certificates (docs/certificates.md). Unexpired certificates the clearing refuses (revoked,
# or of a retired CA), all in one ListRevokedCertificates answer; past this, rotate the CA.
refused_certificates_max = 10_000
refused_certificate_bytes_max = 160        # Serial (40), SHA-256 (32), party id (64), expiry, tags.
certificate_request_bytes_max = 16 * 1024  # A PEM certificate signing request the operator reads.

assert envelope_bytes_max < grpc_message_bytes_max
assert prepares_per_batch_max * prepare_bytes_max <= envelope_bytes_max
assert notices_per_delivery_max * notice_bytes_max <= envelope_bytes_max
assert notices_per_delivery_max * statement_entry_bytes_max <= envelope_bytes_max
# A stream message is filled up to its byte budget, then always fits in one gRPC message.
assert stream_message_bytes_max + envelope_bytes_max <= grpc_message_bytes_max
assert expiry_ms_min < expiry_ms_max
assert refused_certificates_max * refused_certificate_bytes_max <= grpc_message_bytes_max
assert max(account_id_length_max, bank_id_length_max) < iso20022_identifier_length_max
assert uuid_length <= id_length_max and key_id_length_max <= id_length_max + bank_id_length_max
assert reject_reason_length_max <= reference_length_max
# Money: each bound holds what it must, and nothing computed from them outgrows its store.
assert 0 < amount_minor_max <= unsettled_gross_minor_max, "one transfer fits a bank's unsettled gross"
assert amount_minor_max <= funds_moved_per_statement_minor_max, "one funds movement fits a statement"
assert net_debit_cap_minor_max + unsettled_gross_minor_max <= liquidity_ceiling_minor_max, \
    "a bank can hold the liquidity behind its largest cap and still be paid"
assert max(camt053_position_minor_max, camt053_liquidity_minor_max) <= iso20022_amount_minor_max
assert -liquidity_minor_min <= liquidity_minor_max <= iso20022_amount_minor_max
assert window_gross_minor_max + unsettled_gross_minor_max <= int64_max, \
    "a window's gross fits an int64 in SettlementReport, with a bank to spare for racing admissions"
assert iso20022_amount_minor_max <= int64_max, "every bound above fits a BIGINT, an SQLite INTEGER and its SUM"
