"""How long each gRPC method takes to answer, and how often it fails, as Prometheus families.

The label is the method's short name (SubmitPrepares, Send, Search...): a fixed set per
server, never anything a caller chooses. A streamed call is timed to its end; its
responses are not counted.
"""
from __future__ import annotations

import contextlib
import time

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from fedmall.interception import wrapped

# Seconds: from a cache-hot read (~1 ms) to a batch waiting on the database (~seconds).
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RpcMetrics(grpc.ServerInterceptor):
    """<prefix>_rpc_seconds{method} and <prefix>_rpc_failures_total{method, code}."""

    def __init__(self, registry: CollectorRegistry, *, prefix: str) -> None:
        self._seconds = Histogram(f"{prefix}_rpc_seconds", "Time to answer a gRPC call, by method",
                                  ["method"], buckets=LATENCY_BUCKETS_S, registry=registry)
        self._failures = Counter(f"{prefix}_rpc_failures_total",
                                 "gRPC calls that ended with a status other than OK, by method and status",
                                 ["method", "code"], registry=registry)

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]

        @contextlib.contextmanager
        def timed(context: grpc.ServicerContext):
            started = time.perf_counter()
            try:
                yield
            except Exception:
                self._failures.labels(method, _code_name(context)).inc()
                raise
            finally:
                self._seconds.labels(method).observe(time.perf_counter() - started)

        def single(behaviour, _streamed):
            def answer(request, context):
                with timed(context):
                    return behaviour(request, context)
            return answer

        def streaming(behaviour, _streamed):
            def answers(request, context):
                with timed(context):
                    yield from behaviour(request, context)
            return answers

        return wrapped(handler, single=single, streaming=streaming)


def _code_name(context: grpc.ServicerContext) -> str:
    code = context.code() if hasattr(context, "code") else None
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
