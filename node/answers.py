"""The one place that turns a service's FedmallError into a response's result code."""
from __future__ import annotations

import functools
import logging

from fedmall.results import FedmallError

log = logging.getLogger(__name__)
DETAIL_LENGTH_MAX = 200


def answers_errors(response_class):
    """Turn a FedmallError raised by a service into response_class(result=code[, detail])."""
    has_detail = "detail" in response_class.DESCRIPTOR.fields_by_name

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, request, context):
            try:
                return method(self, request, context)
            except FedmallError as error:
                log.info("%s refused: %s", method.__name__, error)
                response = response_class(result=error.code)
                if has_detail:
                    response.detail = str(error)[:DETAIL_LENGTH_MAX]
                return response
        return wrapper
    return decorate
