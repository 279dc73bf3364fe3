"""Bounds of the clearing's own work. Protocol bounds live in fedmall.limits."""

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
