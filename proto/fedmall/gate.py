"""Who may call a service, decided in one place per server: CallerGate.

A server interceptor, like fedmall.revocation.RefuseRevoked: it wraps every method of the
services it guards, so a method added later is guarded too and no servicer can forget the
check. Before the servicer runs it asks the server's own policy (`refusal`) about the
caller; a streaming response is asked again before each message it sends, so a caller whose
standing changes mid-stream (a bank that leaves) gets nothing more.

A refusal is answered the way the method's contract can carry it: where the response has a
`ResultCode result` field and the refusal names a result code, as that response with the
code (and the reason in `detail`, where there is one), so a member's node can act on it;
otherwise the call ends in PERMISSION_DENIED (or the status the refusal names) with the
reason. Nothing else happens for a refused call: the servicer never runs.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Collection

import grpc
from google.protobuf import descriptor_pool, message_factory

from fedmall.interception import checked_responses, wrapped

RESULT_ENUM = "fedmall.v1.ResultCode"
DETAIL_LENGTH_MAX = 200


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    # Answered in the response's result field where it has one; 0: never (always the status below).
    result: int = 0
    status: grpc.StatusCode = grpc.StatusCode.PERMISSION_DENIED


# refusal(context, method) -> None to let the call through; method is the full name,
# "/fedmall.v1.ClearingService/SubmitPrepares".
Policy = Callable[[grpc.ServicerContext, str], "Refusal | None"]


def split_method(method: str) -> tuple[str, str]:
    """'/fedmall.v1.ClearingService/SubmitPrepares' -> ('fedmall.v1.ClearingService', 'SubmitPrepares')."""
    service, _, name = method.lstrip("/").partition("/")
    return service, name


@functools.lru_cache(maxsize=256)
def typed_response_class(method: str):
    """The response class of a method whose response carries a ResultCode `result`, else None."""
    service, name = split_method(method)
    try:
        descriptor = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
    except KeyError:
        return None
    result = descriptor.output_type.fields_by_name.get("result")
    if result is None or result.enum_type is None or result.enum_type.full_name != RESULT_ENUM:
        return None
    return message_factory.GetMessageClass(descriptor.output_type)


def _refused_response(method: str, refusal: Refusal):
    response_class = typed_response_class(method) if refusal.result else None
    if response_class is None:
        return None
    response = response_class(result=refusal.result)
    if "detail" in response_class.DESCRIPTOR.fields_by_name:
        response.detail = refusal.reason[:DETAIL_LENGTH_MAX]
    return response


class CallerGate(grpc.ServerInterceptor):
    """Every call of the guarded services (full names) passes policy first; other services'
    calls (health, reflection, the bank's own services) pass untouched."""

    def __init__(self, services: Collection[str], policy: Policy) -> None:
        self._services = frozenset(services)
        self._policy = policy

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or split_method(method)[0] not in self._services:
            return handler
        return wrapped(handler, single=lambda behaviour, _: self._single(behaviour, method),
                       streaming=lambda behaviour, _: self._streaming(behaviour, method))

    def _single(self, behaviour, method: str):
        def call(request_or_iterator, context):
            refusal = self._policy(context, method)
            if refusal is None:
                return behaviour(request_or_iterator, context)
            response = _refused_response(method, refusal)
            if response is None:
                context.abort(refusal.status, refusal.reason)
            return response
        return call

    def _streaming(self, behaviour, method: str):
        def call(request_or_iterator, context):
            self._check_stream(context, method)
            yield from checked_responses(behaviour(request_or_iterator, context),
                                         lambda: self._check_stream(context, method))
        return call

    def _check_stream(self, context, method: str) -> None:
        refusal = self._policy(context, method)
        if refusal is not None:
            context.abort(refusal.status, refusal.reason)
