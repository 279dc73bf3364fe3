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
reconciliation_breaks_max = 1_000                   # Listed in one answer; break_count keeps the true number.
reconciliation_break_bytes_max = 1_600              # Two entries, each with a 140-character (560-byte) reference.
reconciliations_per_step_max = 16                   # Answers the submitter sends before looking again.

# Registry cache: refreshed on a miss, and at most this often.
registry_refresh_ms_min = 1_000

# gRPC server threads.
server_threads = 16

assert retry_backoff_ms_min < retry_backoff_ms_max
assert protocol.expiry_ms_min <= transfer_expiry_ms_default <= protocol.expiry_ms_max
assert outbox_batch_max <= protocol.prepares_per_batch_max
assert decision_batch_max <= protocol.decisions_per_batch_max
assert reconciliation_breaks_max * reconciliation_break_bytes_max <= protocol.envelope_bytes_max
assert protocol.reference_length_max * 4 * 2 < reconciliation_break_bytes_max
