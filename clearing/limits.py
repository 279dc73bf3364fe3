"""Bounds of the clearing's own work. Protocol bounds live in fedmall.limits."""

# A write the database ends as a deadlock victim or a serialization failure runs again
# (clearing.store.retry_on_conflict), at most this many times in all, after a random
# pause of up to conflict_backoff_ms_max x the attempt number.
conflict_attempts_max = 5
conflict_backoff_ms_max = 20

assert conflict_attempts_max >= 2, "one retry at least, or a conflict always reaches the member"
