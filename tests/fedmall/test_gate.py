"""fedmall.gate.CallerGate on a real gRPC server: the policy runs before every call of the guarded
services, again before each message of a stream, and a refusal is typed where the response
can carry it."""
from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from fedmall.gate import CallerGate, Refusal, typed_response_class
from fedmall.v1 import clearing_pb2, marketplace_pb2

HEALTH = "grpc.health.v1.Health"


class Policy:
    def __init__(self) -> None:
        self.refusal: Refusal | None = None
        self.asked: list[str] = []

    def __call__(self, context, method: str) -> Refusal | None:
        self.asked.append(method)
        return self.refusal


@pytest.fixture
def served():
    policy = Policy()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[CallerGate([HEALTH], policy)])
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield policy, servicer, health_pb2_grpc.HealthStub(channel)
    channel.close()
    server.stop(0)


def test_gate__a_refused_call_never_reaches_the_servicer(served):
    policy, servicer, stub = served
    assert stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
    policy.refusal = Refusal("no")
    with pytest.raises(grpc.RpcError) as refused:
        stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert (refused.value.code(), refused.value.details()) == (grpc.StatusCode.PERMISSION_DENIED, "no")
    policy.refusal = Refusal("later", status=grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(grpc.RpcError) as refused:
        stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert policy.asked == ["/grpc.health.v1.Health/Check"] * 3


def test_gate__a_stream_is_judged_again_before_each_message(served):
    policy, servicer, stub = served
    servicer.set("a", health_pb2.HealthCheckResponse.SERVING)
    call = stub.Watch(health_pb2.HealthCheckRequest(service="a"), timeout=10)
    assert next(call).status == health_pb2.HealthCheckResponse.SERVING
    policy.refusal = Refusal("gone")
    servicer.set("a", health_pb2.HealthCheckResponse.NOT_SERVING)
    with pytest.raises(grpc.RpcError) as refused:
        next(call)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_gate__services_not_guarded_pass_untouched():
    policy = Policy()
    gate = CallerGate(["fedmall.v1.Other"], policy)

    class Details:
        method = "/grpc.health.v1.Health/Check"

    handler = object()
    assert gate.intercept_service(lambda details: handler, Details()) is handler and policy.asked == []


def test_typed_response_class__only_responses_with_a_result_code():
    assert typed_response_class("/fedmall.v1.ClearingService/SubmitPrepares") is clearing_pb2.SubmitPreparesResponse
    assert typed_response_class("/fedmall.v1.MarketplacePeerService/PlaceOrder") is marketplace_pb2.PlaceOrderResponse
    assert typed_response_class("/fedmall.v1.ClearingService/ListParticipants") is None
    assert typed_response_class("/fedmall.v1.MarketplacePeerService/SearchCatalogue") is None
    assert typed_response_class("/fedmall.v1.NoSuchService/Call") is None
