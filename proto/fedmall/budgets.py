"""Per-member budgets: what one member bank may ask of a server, per second, before it is refused.

Every call a member makes is paid for, before its servicer runs, from token buckets kept per
calling bank (the identity in its mTLS certificate, never a field it sends):

    requests        one token a call
    request bytes   the request's serialised size
    method extras   buckets for one method, paid from the request (a node's quote items) or
                    from the response, even into debt (a node's quote misses: the items it
                    answered with a refusal, which is what enumerating accounts produces)
    calls in flight at most so many of the member's calls running at once, so one member
                    cannot hold every server thread with slow calls

A bucket holds `burst` tokens, starts full and refills at `per_s`; a call is served only when
every bucket can pay it, and then pays them all (a refused call costs nothing). A request larger
than a bucket's burst can never be paid: it is refused for good (a server's byte burst is at
least the largest request it serves, so only malformed requests are).

Where it sits. MemberBudgets is a server interceptor, like fedmall.revocation.RefuseRevoked:
it wraps every method handler of the server (unary and streaming, reflection too) with a check
that runs in the call before the servicer, so no RPC can skip it and a refused call writes
nothing. Who is not metered is the server's business (`exempt`): the clearing's operator
certificate, a node's own bank. Health checks (grpc.health.v1.Health) are never metered, so no
member can make a server look down.

A refusal is gRPC RESOURCE_EXHAUSTED with a message naming the bank, the budget and when to try
again, and the trailing metadata `fedmall-result-code` (RESULT_CODE_RATE_LIMITED, as a number) and
`retry-after-ms`; refusal_code and retry_after_ms read them on the caller's side. Refusals are
logged at most once per member every REFUSAL_LOG_INTERVAL_S, with a count, so a flood cannot fill
the server's log instead.

Members are kept in memory for the life of the process: one entry per certificate identity the
consortium CA issued, so their number is bounded by the consortium's. Several clearing
processes behind a load balancer each keep their own buckets, so a member's budget across the
clearing is the per-process budget times the number of processes (docs/scale-out.md).
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import grpc

from fedmall.config_file import ConfigError, Section, TomlFile
from fedmall.interception import wrapped
from fedmall.pki import Identity
from fedmall.results import name_of
from fedmall.tls import peer_identity
from fedmall.v1 import result_pb2

log = logging.getLogger(__name__)

RESULT_CODE_KEY = "fedmall-result-code"
RETRY_AFTER_KEY = "retry-after-ms"
HEALTH_PREFIX = "/grpc.health.v1.Health/"
SECTION = "budget"
REFUSAL_LOG_INTERVAL_S = 10.0
IN_FLIGHT_RETRY_MS = 50
RATE_PER_S_MAX = 10**12


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket's size: refills at per_s tokens a second up to burst."""
    per_s: int
    burst: int

    def __post_init__(self) -> None:
        assert self.per_s >= 1 and self.burst >= 1, self


class TokenBucket:
    """Pure: the caller passes the time (seconds, monotonic) and holds any lock."""
    __slots__ = ("rate", "level", "updated_s")

    def __init__(self, rate: Rate, *, now_s: float) -> None:
        self.rate = rate
        self.level = float(rate.burst)
        self.updated_s = now_s

    def refill(self, now_s: float) -> None:
        if now_s > self.updated_s:
            self.level = min(float(self.rate.burst), self.level + (now_s - self.updated_s) * self.rate.per_s)
            self.updated_s = now_s

    def wait_s(self, cost: int) -> float:
        """After refill: 0 when cost can be paid now, else the seconds until it can (inf: never)."""
        if cost <= self.level:
            return 0.0
        if cost > self.rate.burst:
            return math.inf
        return (cost - self.level) / self.rate.per_s

    def pay(self, cost: int) -> None:
        """Take cost tokens; below zero too (a cost known only after the call is a debt)."""
        self.level -= cost


@dataclass(frozen=True, slots=True)
class MethodBudget:
    """An extra bucket for one method (its full gRPC name), paid from the request before the
    call or from the response after it (then a call needs one token left to start)."""
    method: str
    name: str                     # Said in the refusal: "quote items".
    rate: Rate
    cost_of_request: Callable[[object], int] | None = None
    cost_of_response: Callable[[object], int] | None = None

    def __post_init__(self) -> None:
        assert (self.cost_of_request is None) != (self.cost_of_response is None), self


@dataclass(frozen=True, slots=True)
class Budget:
    """What each calling member may use of one server."""
    requests: Rate
    request_bytes: Rate
    calls_in_flight_max: int
    methods: tuple[MethodBudget, ...] = ()

    def __post_init__(self) -> None:
        assert self.calls_in_flight_max >= 1, self


def read_rate(section: Section, name: str, *, default: Rate, burst_min: int = 1) -> Rate:
    """[budget].<name>_per_s and <name>_burst; ConfigError naming the key when out of range."""
    per_s = section.integer(f"{name}_per_s", default=default.per_s, low=1, high=RATE_PER_S_MAX)
    burst = section.integer(f"{name}_burst", default=default.burst, low=burst_min, high=RATE_PER_S_MAX)
    return Rate(per_s=per_s, burst=burst)


def budget_section(file: TomlFile) -> Section:
    """The optional [budget] section (empty: every default)."""
    values = file.document.get(SECTION, {})
    if not isinstance(values, dict):
        raise ConfigError(f"{file.path}: [{SECTION}] must be a table")
    return Section(path=file.path, name=SECTION, values=values)


def refusal_code(error: grpc.RpcError) -> int | None:
    """The result code a budget refusal carries (RESULT_CODE_RATE_LIMITED), else None."""
    value = _trailing(error, RESULT_CODE_KEY)
    return int(value) if value is not None and value.isdigit() else None


def retry_after_ms(error: grpc.RpcError) -> int | None:
    value = _trailing(error, RETRY_AFTER_KEY)
    return int(value) if value is not None and value.isdigit() else None


def _trailing(error: grpc.RpcError, key: str) -> str | None:
    trailing = getattr(error, "trailing_metadata", None)
    for name, value in (trailing() if callable(trailing) else None) or ():
        if name == key:
            return value if isinstance(value, str) else value.decode()
    return None


@dataclass(frozen=True, slots=True)
class _Cost:
    name: str                     # Said in a refusal: "request bytes".
    bucket: str                   # Its key in _Member.buckets.
    amount: int                   # Needed now.
    paid_now: bool = True         # False: only checked; the response pays (_settle).


REQUESTS, REQUEST_BYTES = "requests", "request bytes"


def _key(extra: MethodBudget) -> str:
    return f"{extra.method} {extra.name}"


@dataclass(frozen=True, slots=True)
class _Refusal:
    message: str
    retry_after_s: float          # inf: never.


@dataclass(slots=True)
class _Member:
    who: str                      # Its party id, as refusals name it.
    buckets: dict[str, TokenBucket]
    in_flight: int = 0
    refused: int = 0              # Since the last log line about it.
    refused_logged_at_s: float = -math.inf


@dataclass
class MemberBudgets(grpc.ServerInterceptor):
    """The interceptor (module docstring). exempt(identity) says who is not metered; server
    names this server in refusals ("the clearing", "bank-a's node")."""
    budget: Budget
    server: str
    exempt: Callable[[Identity | None], bool]
    clock_s: Callable[[], float] = time.monotonic
    _members: dict[tuple[str, str], _Member] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._extras: dict[str, list[MethodBudget]] = {}
        for extra in self.budget.methods:
            self._extras.setdefault(extra.method, []).append(extra)

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(HEALTH_PREFIX):
            return handler
        return wrapped(handler, single=lambda behaviour, streamed: self._unary(behaviour, method, streamed=streamed),
                       streaming=lambda behaviour, streamed: self._streaming(behaviour, method, streamed=streamed))

    # The calls ---------------------------------------------------------------------------

    def _unary(self, behaviour, method: str, *, streamed: bool = False):
        def call(request, context):
            member = self._admit(context, method, request, streamed=streamed)
            if member is None:
                return behaviour(request, context)
            if streamed:
                request = self._metered(request, context, member)
            try:
                response = behaviour(request, context)
            finally:
                self._release(member)
            self._settle(member, method, response)
            return response
        return call

    def _streaming(self, behaviour, method: str, *, streamed: bool = False):
        def call(request, context):
            member = self._admit(context, method, request, streamed=streamed)
            if member is None:
                yield from behaviour(request, context)
                return
            if streamed:
                request = self._metered(request, context, member)
            try:
                yield from behaviour(request, context)
            finally:
                self._release(member)
        return call

    def _metered(self, requests, context: grpc.ServicerContext, member: _Member):
        """A streamed request pays for each message's bytes as the servicer reads it."""
        for request in requests:
            with self._lock:
                refusal = self._pay(member, [_Cost(REQUEST_BYTES, REQUEST_BYTES, request.ByteSize())])
            if refusal is not None:
                self._refuse(context, member, refusal)
            yield request

    # Paying ------------------------------------------------------------------------------

    def _admit(self, context: grpc.ServicerContext, method: str, request, *, streamed: bool) -> _Member | None:
        """The member's state once the call is paid for; None when the caller is exempt. Aborts
        the call with RESOURCE_EXHAUSTED when it is not."""
        identity = peer_identity(context)
        if self.exempt(identity):
            return None
        extras = self._extras.get(method, ())
        costs = [_Cost(REQUESTS, REQUESTS, 1)]
        if not streamed:
            costs.append(_Cost(REQUEST_BYTES, REQUEST_BYTES, request.ByteSize()))
        for extra in extras:
            if extra.cost_of_request is not None:
                costs.append(_Cost(extra.name, _key(extra), extra.cost_of_request(request)))
            else:  # The response pays; one token must be left to start the call.
                costs.append(_Cost(extra.name, _key(extra), 1, paid_now=False))
        with self._lock:
            member = self._member(identity)
            if member.in_flight >= self.budget.calls_in_flight_max:
                refusal = _Refusal(f"{member.who} already has {member.in_flight} calls in flight at {self.server}, "
                                   f"at most {self.budget.calls_in_flight_max}", retry_after_s=IN_FLIGHT_RETRY_MS / 1000)
            else:
                refusal = self._pay(member, costs)
            if refusal is None:
                member.in_flight += 1
                return member
        self._refuse(context, member, refusal)

    def _pay(self, member: _Member, costs: list[_Cost]) -> _Refusal | None:
        """Every bucket pays its cost, or none does and the first that cannot says why (the caller
        holds the lock)."""
        now_s = self.clock_s()
        for cost in costs:
            bucket = member.buckets[cost.bucket]
            bucket.refill(now_s)
            wait_s = bucket.wait_s(cost.amount)
            if wait_s == math.inf:
                return _Refusal(f"a request of {cost.amount} {cost.name} is more than {member.who}'s {cost.name} "
                                f"burst at {self.server} ({bucket.rate.burst}); it can never be served",
                                retry_after_s=math.inf)
            if wait_s > 0:
                return _Refusal(f"{member.who} is over its {cost.name} budget at {self.server} ({bucket.rate.per_s} "
                                f"{cost.name} per second, burst {bucket.rate.burst}); retry in "
                                f"{math.ceil(wait_s * 1000)} ms", retry_after_s=wait_s)
        for cost in costs:
            if cost.paid_now:
                member.buckets[cost.bucket].pay(cost.amount)
        return None

    def _settle(self, member: _Member, method: str, response) -> None:
        """Pay what the response costs (a debt when the bucket is short)."""
        for extra in self._extras.get(method, ()):
            if extra.cost_of_response is not None:
                cost = extra.cost_of_response(response)
                with self._lock:
                    bucket = member.buckets[_key(extra)]
                    bucket.refill(self.clock_s())
                    bucket.pay(cost)

    def _release(self, member: _Member) -> None:
        with self._lock:
            member.in_flight -= 1
            assert member.in_flight >= 0, member.in_flight

    def _member(self, identity: Identity | None) -> _Member:
        key = (identity.role, identity.party_id) if identity is not None else ("", "")
        member = self._members.get(key)
        if member is None:
            now_s = self.clock_s()
            buckets = {REQUESTS: TokenBucket(self.budget.requests, now_s=now_s),
                       REQUEST_BYTES: TokenBucket(self.budget.request_bytes, now_s=now_s)}
            buckets.update((_key(extra), TokenBucket(extra.rate, now_s=now_s)) for extra in self.budget.methods)
            who = identity.party_id if identity is not None else "a caller without a consortium identity"
            member = self._members[key] = _Member(who=who, buckets=buckets)
        return member

    # Refusing ----------------------------------------------------------------------------

    def _refuse(self, context: grpc.ServicerContext, member: _Member, refusal: _Refusal) -> None:
        now_s = self.clock_s()
        with self._lock:
            member.refused += 1
            if now_s - member.refused_logged_at_s >= REFUSAL_LOG_INTERVAL_S:
                count, member.refused, member.refused_logged_at_s = member.refused, 0, now_s
            else:
                count = 0
        if count:
            log.warning("%d call(s) of %s refused over budget since the last report; the latest: %s", count,
                        member.who, refusal.message)
        metadata = [(RESULT_CODE_KEY, str(result_pb2.RESULT_CODE_RATE_LIMITED))]
        if not math.isinf(refusal.retry_after_s):
            metadata.append((RETRY_AFTER_KEY, str(math.ceil(refusal.retry_after_s * 1000))))
        context.set_trailing_metadata(metadata)
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                      f"{name_of(result_pb2.RESULT_CODE_RATE_LIMITED)}: {refusal.message}")
