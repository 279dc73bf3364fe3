"""Bounds on everything that crosses a process boundary. One place, related by asserts."""

# Envelopes and batches.
prepares_per_batch_max = 2_000
decisions_per_batch_max = 2_000
notices_per_delivery_max = 2_000
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
# One serialised Prepare with every field at its max: ids and accounts (36 + 3 * 34), the
# amount (~16), condition (34), expiry (~11) and a reference of 140 characters of up to
# 4 UTF-8 bytes each (563), with tags: under 800. A larger one is refused at the clearing,
# as is one carrying fields the contract does not define.
prepare_bytes_max = 1024
notice_bytes_max = prepare_bytes_max + 64  # A Prepare plus state, result, fulfilment, times.
statement_entry_bytes_max = 720  # Ids (36 + 34), amount, time and the reference (563), with tags.
audit_refusal_bytes_max = 64 * 1024  # Larger refused envelopes are logged by hash and size.

# Money: an int64 on the wire, and no single amount above this.
amount_minor_max = 2**63 - 1

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
