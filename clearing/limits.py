"""Bounds of the clearing's own work. Protocol bounds live in fedmall.limits."""

from fedmall import limits as protocol_limits

# A write the database ends as a deadlock victim or a serialization failure runs again
# (clearing.store.retry_on_conflict), at most this many times in all, after a random
# pause of up to conflict_backoff_ms_max x the attempt number.
conflict_attempts_max = 5
conflict_backoff_ms_max = 20

# Certificates (clearing.certificates): a revoked certificate keeps working at most this long
# after the revocation is committed (each process reads the registry again after it), and
# the clearing's log repeats its expiry warnings this often while it serves.
refused_certificates_cache_ms = 1_000
certificate_check_interval_s = 24 * 3600

assert conflict_attempts_max >= 2, "one retry at least, or a conflict always reaches the member"

# fedmall-clearing audit list (clearing.audit_reading): entries on a page; the body bytes after
# which a page ends early (a prepares entry holds a whole envelope, base64); candidate rows one
# page examines at most when --window or --transfer is checked on the decoded body.
audit_page_entries_max = 1_000
audit_page_body_bytes_max = 32 * 1024 * 1024
audit_scan_entries_max = 10_000

assert audit_scan_entries_max >= audit_page_entries_max, "a full page must be reachable in one scan"
# Room on a page for a few of the largest bodies (a base64 envelope is 4/3 of its bytes).
assert audit_page_body_bytes_max >= 2 * protocol_limits.envelope_bytes_max

# Per-member budgets at the clearing (fedmall.budgets; [budget] in fedmall.toml; the operator's
# certificate and health checks are not metered). scripts/bench on this 2-core machine, at its top
# speed of about 1,600 transfers a second across 3 banks, has each bank send about 15 calls and
# 140 KB a second; the defaults leave 13 and 7 times that, and a burst of two seconds' worth of
# calls. They bound what one member can make the clearing do and write (clearing.audit_growth,
# docs/architecture.md "Limits").
budget_requests_per_s_default = 200
budget_requests_burst_default = 400
budget_request_bytes_per_s_default = 1024 * 1024
# The largest request a member needs to send: one envelope at its bound, with the request's
# framing; the byte burst may not be below it, or a full batch could never be served.
request_bytes_max = protocol_limits.envelope_bytes_max + 64 * 1024
budget_request_bytes_burst_default = request_bytes_max
# Of the server's 64 threads (clearing.server.SERVER_THREADS); a node uses about 6 at once.
budget_calls_in_flight_max_default = 32

assert budget_requests_burst_default >= budget_requests_per_s_default
assert budget_request_bytes_burst_default >= request_bytes_max >= budget_request_bytes_per_s_default

# The operator's web console (clearing.console): its sessions live in the clearing process's
# memory; a request's body (a form) and its headers are bounded, a connection that sends
# nothing for console_socket_timeout_s is dropped, and at most console_connections_max are
# served at once (one operator's browser opens a handful).
console_sessions_max = 64
console_request_body_bytes_max = 64 * 1024
console_socket_timeout_s = 10
console_connections_max = 16
console_page_rows_max = 200
