"""What every server interceptor of ours does with a gRPC method handler: wrap its behaviour,
whichever of the four kinds it is, and check a streamed call again before each message.

fedmall.revocation, fedmall.gate and fedmall.budgets decide what to check; this module only
says how the check wraps the servicer.
"""
from __future__ import annotations

from typing import Callable, Iterator

import grpc

# wrap(behaviour, request_streamed) -> the behaviour to run instead.
Wrap = Callable[[Callable, bool], Callable]


def wrapped(handler: grpc.RpcMethodHandler, *, single: Wrap, streaming: Wrap) -> grpc.RpcMethodHandler:
    """handler with its behaviour wrapped: single for a call answered once, streaming for one
    answered with a stream of responses."""
    if handler.unary_unary is not None:
        return handler._replace(unary_unary=single(handler.unary_unary, False))
    if handler.unary_stream is not None:
        return handler._replace(unary_stream=streaming(handler.unary_stream, False))
    if handler.stream_unary is not None:
        return handler._replace(stream_unary=single(handler.stream_unary, True))
    return handler._replace(stream_stream=streaming(handler.stream_stream, True))


def checked_responses(responses: Iterator, check: Callable[[], None]) -> Iterator:
    """The servicer's responses, check() before each is sent (it aborts the call to refuse)."""
    try:
        for response in responses:
            check()
            yield response
    finally:  # A refusal or a cancelled call ends the servicer's stream now, not when collected.
        close = getattr(responses, "close", None)
        if close is not None:
            close()
