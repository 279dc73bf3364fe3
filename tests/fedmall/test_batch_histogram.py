"""fedmall.batch_histogram exports what prometheus_client's own Histogram would, for the same values."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from fedmall.batch_histogram import BatchHistogram

BUCKETS = (0.1, 0.5, 1.0, 5.0)
VALUES = [0.0, 0.1, 0.1000001, 0.5, 0.7, 1.0, 4.9, 5.0, 5.1, 300.0]


def series(registry: CollectorRegistry) -> list[str]:
    return sorted(line for line in generate_latest(registry).decode().splitlines()
                  if not line.startswith("#") and "_created" not in line)


def test_batch_histogram__same_series_as_one_observation_at_a_time():
    own, reference = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("t_seconds", "t", ["state"], buckets=BUCKETS, registry=own)
    single = Histogram("t_seconds", "t", ["state"], buckets=BUCKETS, registry=reference)
    batch.observe_many(("COMMITTED",), VALUES[:4])
    batch.observe_many(("COMMITTED",), VALUES[4:])
    batch.observe_many(("ABORTED",), [2.0])
    for value in VALUES:
        single.labels("COMMITTED").observe(value)
    single.labels("ABORTED").observe(2.0)
    assert series(own) == series(reference)
    assert 't_seconds_bucket{le="0.1",state="COMMITTED"} 2.0' in series(own)  # A bound is inclusive.
