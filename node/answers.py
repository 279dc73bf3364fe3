"""The servicers' two guards: who may call (own_bank_only), and the one place that turns a
service's FedmallError into a response's result code (answers_errors)."""
from __future__ import annotations

import functools
import logging

from fedmall import logs
from fedmall.results import FedmallError, name_of
from fedmall.tls import peer_identity
from fedmall.v1 import result_pb2

log = logging.getLogger(__name__)
DETAIL_LENGTH_MAX = 200
# A request's fields that name what a refusal was about, carried into its log line.
ID_FIELDS = ("transfer_id", "order_id", "window_id", "loan_id", "merchant_id", "account_id")


def _ids_of(request, context) -> dict:
    """The caller's bank (a peer's certificate) and the ids the request names, for the log line."""
    descriptor = getattr(request, "DESCRIPTOR", None)  # None: a client stream's iterator.
    present = descriptor.fields_by_name if descriptor is not None else {}
    ids = {name: getattr(request, name) for name in ID_FIELDS if name in present and getattr(request, name)}
    identity = peer_identity(context)
    return {**ids, **({"bank": identity.party_id} if identity is not None else {})}


def answers_errors(response_class):
    """Turn a FedmallError raised by a service into response_class(result=code[, detail][, field])."""
    has_detail = "detail" in response_class.DESCRIPTOR.fields_by_name
    has_field = "field" in response_class.DESCRIPTOR.fields_by_name

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, request, context):
            try:
                return method(self, request, context)
            except FedmallError as error:
                log.info("%s refused: %s", method.__name__, error,
                         extra=logs.fields(result=name_of(error.code), **_ids_of(request, context)))
                response = response_class(result=error.code)
                if has_detail:
                    response.detail = str(error)[:DETAIL_LENGTH_MAX]
                if has_field:
                    response.field = error.field
                return response
        return wrapper
    return decorate


def own_bank_only(response_class):
    """Refuse callers that do not hold this bank's certificate (FORBIDDEN); the servicer has _bank_id."""
    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, request, context):
            identity = peer_identity(context)
            if identity is None or identity.role != "bank" or identity.party_id != self._bank_id:
                return response_class(result=result_pb2.RESULT_CODE_FORBIDDEN)
            return method(self, request, context)
        return wrapper
    return decorate
