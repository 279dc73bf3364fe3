"""A hostile member cannot hurt the others: over its budget of requests, request bytes, calls in
flight or quotes it is refused (RESOURCE_EXHAUSTED, RATE_LIMITED) before anything runs, nothing is
written, and every other bank, the operator and the health checks are served meanwhile."""
from __future__ import annotations

import re
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fedmall import budgets, pki, tls
from fedmall.config_file import ConfigError
from fedmall.v1 import clearing_pb2, marketplace_pb2, marketplace_pb2_grpc, money_pb2, node_pb2, node_pb2_grpc
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import transfer_pb2

from clearing import limits as clearing_limits
from clearing.config import ClearingConfig
from node import budgets as node_budgets
from node.config import load_config

from tests.adversarial.conftest import clearing_rows, node_rows, restart_with_budget
from tests.support.federation import CURRENCY, make_prepare, next_deliveries, wait_until

FROZEN_S = 0.0


def limit_clearing(world, **budget: int) -> None:
    """Restart the clearing with [budget] in its fedmall.toml, its buckets on a stopped clock (no
    refill during the test)."""
    restart_with_budget(world, **budget)
    world.clearing.budgets.clock_s = lambda: FROZEN_S


def refused(call) -> grpc.RpcError:
    """The call is refused over budget: RESOURCE_EXHAUSTED carrying RATE_LIMITED."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert budgets.refusal_code(error) == rc.RESULT_CODE_RATE_LIMITED
    assert error.details().startswith("RATE_LIMITED: ")
    return error


def submit(world, payer: str, payee: str, *, amount_minor: int = 1_000) -> clearing_pb2.SubmitPreparesResponse:
    envelope = world.banks[payer].signing_key.sign(transfer_pb2.PrepareBatch(
        prepares=[make_prepare(payer, payee, amount_minor, now_ms=world.clock())]))
    return world.stub(payer).SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))


def prepares_request(world, payer: str, count: int, *, reference_length: int) -> clearing_pb2.SubmitPreparesRequest:
    """A signed batch of prepares whose references are too long, so every item is refused."""
    now_ms = world.clock()
    prepares = []
    for _ in range(count):
        prepare = make_prepare(payer, "bank-b", 100, now_ms=now_ms)
        prepare.reference = "x" * reference_length
        prepares.append(prepare)
    envelope = world.banks[payer].signing_key.sign(transfer_pb2.PrepareBatch(prepares=prepares))
    return clearing_pb2.SubmitPreparesRequest(envelope=envelope)


def healthy(world, bank_id: str) -> bool:
    check = health_pb2_grpc.HealthStub(world.channel(world.banks[bank_id].tls)).Check(health_pb2.HealthCheckRequest())
    return check.status == health_pb2.HealthCheckResponse.SERVING


def operator_sets_the_same_cap(world, bank_id: str) -> int:
    cap_minor = world.participant(bank_id).net_debit_cap_minor
    return world.operator_stub().SetNetDebitCap(clearing_pb2.SetNetDebitCapRequest(
        bank_id=bank_id, cap=money_pb2.Money(amount_minor=cap_minor, currency=CURRENCY), reason="review")).result


# The clearing -----------------------------------------------------------------------------


def test_clearing__over_its_request_budget_a_member_is_refused_and_the_others_are_served(world):
    limit_clearing(world, requests_per_s=1, requests_burst=5)
    bank_a = world.stub("bank-a")
    for _ in range(5):
        bank_a.GetPosition(clearing_pb2.GetPositionRequest())
    before = clearing_rows(world)

    for _ in range(10):
        error = refused(lambda: submit(world, "bank-a", "bank-b"))
        assert "bank-a is over its requests budget at the clearing (1 requests per second, burst 5)" in error.details()
        assert budgets.retry_after_ms(error) == 1_000
    refused(lambda: bank_a.GetPosition(clearing_pb2.GetPositionRequest()))
    assert clearing_rows(world) == before  # Nothing written, not even an audit entry.

    # Meanwhile: another bank pays, the operator works, and bank-a's own health check answers.
    assert submit(world, "bank-b", "bank-c").results[0].result == rc.RESULT_CODE_OK
    assert [operator_sets_the_same_cap(world, "bank-a") for _ in range(10)] == [rc.RESULT_CODE_EXISTS] * 10
    assert all(healthy(world, "bank-a") for _ in range(10))


def test_clearing__over_its_byte_budget_a_member_is_refused_and_the_others_are_served(world):
    burst = clearing_limits.request_bytes_max
    limit_clearing(world, request_bytes_per_s=1, request_bytes_burst=burst)
    bank_a = world.stub("bank-a")
    large = prepares_request(world, "bank-a", 1_900, reference_length=2_000)
    assert 0.9 * burst < large.ByteSize() <= burst
    response = bank_a.SubmitPrepares(large)  # Served: the burst holds one request this large.
    assert {result.result for result in response.results} == {rc.RESULT_CODE_INVALID_FIELD}
    before = clearing_rows(world)

    for request in (large, prepares_request(world, "bank-a", 400, reference_length=2_000)):
        error = refused(lambda: bank_a.SubmitPrepares(request))
        assert "bank-a is over its request bytes budget at the clearing (1 request bytes per second" in error.details()
    assert clearing_rows(world) == before
    # What is left of the byte budget still pays for small calls: calls and bytes are separate budgets.
    assert bank_a.GetPosition(clearing_pb2.GetPositionRequest()).bank_id == "bank-a"

    assert submit(world, "bank-b", "bank-a").results[0].result == rc.RESULT_CODE_OK
    assert bank_a.GetPosition(clearing_pb2.GetPositionRequest()).reserved.amount_minor == 0
    assert healthy(world, "bank-a") and operator_sets_the_same_cap(world, "bank-a") == rc.RESULT_CODE_EXISTS


def test_clearing__a_request_larger_than_the_byte_burst_is_never_served_nor_audited(world):
    """The replayed 5 MB envelope of the issue: refused at once, for good, and not even logged."""
    limit_clearing(world)  # The defaults.
    before = clearing_rows(world)
    huge = prepares_request(world, "bank-a", 2_000, reference_length=2_600)
    assert huge.ByteSize() > clearing_limits.budget_request_bytes_burst_default
    for _ in range(3):
        error = refused(lambda: world.stub("bank-a").SubmitPrepares(huge))
        assert "is more than bank-a's request bytes burst at the clearing" in error.details()
        assert "can never be served" in error.details() and budgets.retry_after_ms(error) is None
    assert clearing_rows(world) == before
    assert submit(world, "bank-a", "bank-b").results[0].result == rc.RESULT_CODE_OK


def test_clearing__a_member_cannot_hold_more_calls_in_flight_than_its_budget(world):
    limit_clearing(world, calls_in_flight_max=1)
    assert submit(world, "bank-b", "bank-a").results[0].result == rc.RESULT_CODE_OK  # A delivery for bank-a.
    stream = world.stub("bank-a").StreamDeliveries(clearing_pb2.StreamDeliveriesRequest(after_sequence=0), timeout=30)
    try:
        assert next(stream).deliveries  # bank-a's one call in flight, held open.
        error = refused(lambda: world.stub("bank-a").GetPosition(clearing_pb2.GetPositionRequest()))
        assert "bank-a already has 1 calls in flight at the clearing, at most 1" in error.details()
        assert submit(world, "bank-b", "bank-c").results[0].result == rc.RESULT_CODE_OK
    finally:
        stream.cancel()

    def served() -> bool:
        try:
            return world.stub("bank-a").GetPosition(clearing_pb2.GetPositionRequest()).bank_id == "bank-a"
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            return False
    wait_until(served)


@pytest.mark.parametrize(("line", "named"), [
    ("request_bytes_burst = 1000", "[budget].request_bytes_burst must be an integer in 4259840.."),
    ("requests_per_s = 0", "[budget].requests_per_s must be an integer in 1.."),
    ("calls_in_flight = 3", "unknown key [budget].calls_in_flight"),
])
def test_clearing__budget_settings_out_of_range_are_refused_at_start(world, line, named):
    path = world.home / "fedmall.toml"
    path.write_text(path.read_text() + f"\n[budget]\n{line}\n")
    with pytest.raises(ConfigError, match=re.escape(named)):
        ClearingConfig.load(world.home)


# The nodes ------------------------------------------------------------------------------


def limit_node(federation, bank_id: str, **rates: budgets.Rate | int) -> None:
    """Restart the bank's node with a budget tighter than the default where rates say."""
    default = node_budgets.DEFAULT_BUDGET
    quote_items, quote_misses = default.methods
    budget = node_budgets.peer_budget(
        requests=rates.get("requests", default.requests), request_bytes=rates.get("request_bytes", default.request_bytes),
        calls_in_flight_max=rates.get("calls_in_flight_max", default.calls_in_flight_max),
        quote_items_rate=rates.get("quote_items", quote_items.rate),
        quote_misses_rate=rates.get("quote_misses", quote_misses.rate))
    federation.stop_node(bank_id)
    federation.start_node(bank_id, budget=budget)


def peer_channel(federation, caller: str, callee: str) -> grpc.Channel:
    """A channel to callee's node with caller's certificate: what a hostile member's code can do."""
    channel = tls.secure_channel(f"127.0.0.1:{federation.world.banks[callee].node_port}",
                                 federation.world.banks[caller].tls, server=pki.Identity(callee, "bank"))
    federation.world._channels.append(channel)
    return channel


def quote(account: str) -> node_pb2.QuoteItem:
    return node_pb2.QuoteItem(transfer_id=str(uuid.uuid4()), payee_account=account,
                              amount=money_pb2.Money(amount_minor=100, currency=CURRENCY))


def pays(federation, payer: str, payee: str) -> str:
    transfer_id, response = federation.send(payer, "cust", payee, "cust", 1_000)
    assert response.result == rc.RESULT_CODE_OK, response
    return federation.wait_final(payer, transfer_id).status


def test_node__a_bank_probing_accounts_by_quotes_is_cut_off_and_the_others_still_pay(federation):
    limit_node(federation, "bank-b", quote_misses=budgets.Rate(per_s=1, burst=5))
    for bank_id in ("bank-a", "bank-b", "bank-c"):
        federation.open_account(bank_id, "cust", deposit_minor=100_000)
    prober = node_pb2_grpc.PeerServiceStub(peer_channel(federation, "bank-a", "bank-b"))
    guesses = prober.QuoteTransfers(node_pb2.QuoteTransfersRequest(items=[quote(f"guess-{n}") for n in range(50)]))
    assert {result.result for result in guesses.results} == {rc.RESULT_CODE_ACCOUNT_UNKNOWN}
    before = node_rows(federation, "bank-b")

    # 50 misses against a burst of 5 at 1 a second: no quote for bank-a for the next 45 seconds,
    # not even of a real account, so probing goes no further.
    for items in ([quote("guess-50")], [quote("cust")]):
        error = refused(lambda: prober.QuoteTransfers(node_pb2.QuoteTransfersRequest(items=items)))
        assert "bank-a is over its quote misses budget at bank-b's node (1 quote misses per second" in error.details()
    assert node_rows(federation, "bank-b") == before

    assert pays(federation, "bank-c", "bank-b") == "COMMITTED"  # Another bank's quotes still work.
    # bank-a's own customers cannot pay bank-b meanwhile: refused at bank-a, nothing written there.
    balance_minor = federation.balance("bank-a", "cust")
    transfer_id, response = federation.send("bank-a", "cust", "bank-b", "cust", 1_000)
    assert response.result == rc.RESULT_CODE_RATE_LIMITED
    assert federation.record("bank-a", transfer_id).result == rc.RESULT_CODE_TRANSFER_NOT_FOUND
    assert federation.balance("bank-a", "cust") == balance_minor
    assert pays(federation, "bank-a", "bank-c") == "COMMITTED"  # Its budget at bank-c is its own.


def test_node__a_flood_of_quotes_is_cut_by_the_quote_item_budget(federation):
    limit_node(federation, "bank-b", quote_items=budgets.Rate(per_s=1, burst=2_000))
    for bank_id in ("bank-b", "bank-c"):
        federation.open_account(bank_id, "cust", deposit_minor=100_000)
    flood = node_pb2_grpc.PeerServiceStub(peer_channel(federation, "bank-a", "bank-b"))
    full = flood.QuoteTransfers(node_pb2.QuoteTransfersRequest(items=[quote("cust") for _ in range(2_000)]))
    assert {result.result for result in full.results} == {rc.RESULT_CODE_OK}
    before = node_rows(federation, "bank-b")
    for _ in range(5):
        error = refused(lambda: flood.QuoteTransfers(node_pb2.QuoteTransfersRequest(items=[quote("cust")] * 10)))
        assert "bank-a is over its quote items budget at bank-b's node (1 quote items per second, burst 2000)" \
            in error.details()
    assert node_rows(federation, "bank-b") == before
    assert pays(federation, "bank-c", "bank-b") == "COMMITTED"


def test_node__marketplace_peer_calls_over_the_request_budget_are_refused(federation):
    limit_node(federation, "bank-b", requests=budgets.Rate(per_s=1, burst=3))
    market_of = {caller: marketplace_pb2_grpc.MarketplacePeerServiceStub(peer_channel(federation, caller, "bank-b"))
                 for caller in ("bank-a", "bank-b", "bank-c")}
    search = marketplace_pb2.SearchCatalogueRequest(query="anything", limit=5)
    for _ in range(3):
        market_of["bank-a"].SearchCatalogue(search)
    before = node_rows(federation, "bank-b")
    error = refused(lambda: market_of["bank-a"].SearchCatalogue(search))
    assert "bank-a is over its requests budget at bank-b's node" in error.details()
    # A response with a result code is refused the same way: the code travels in trailing metadata.
    refused(lambda: market_of["bank-a"].PlaceOrder(marketplace_pb2.PlaceOrderRequest(order_id=str(uuid.uuid4()))))
    assert node_rows(federation, "bank-b") == before

    market_of["bank-c"].SearchCatalogue(search)  # Another bank is served...
    for _ in range(10):  # ... and bank-b's own certificate is not metered.
        market_of["bank-b"].SearchCatalogue(search)
    health = health_pb2_grpc.HealthStub(peer_channel(federation, "bank-a", "bank-b"))
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING


def test_node__budget_settings_come_from_fedmall_toml(world):
    home = world.banks["bank-a"].bundle
    assert load_config(home).budget == node_budgets.DEFAULT_BUDGET
    path = home / "fedmall.toml"
    path.write_text(path.read_text() + "\n[budget]\nquote_misses_per_s = 3\nquote_items_burst = 5000\n")
    budget = load_config(home).budget
    assert [(extra.name, extra.rate) for extra in budget.methods] == [
        ("quote items", budgets.Rate(per_s=1_000, burst=5_000)), ("quote misses", budgets.Rate(per_s=3, burst=200))]
    for line, named in (("quote_items_burst_typo = 1", "unknown key [budget].quote_items_burst_typo"),
                        ("quote_items_burst = 10", "[budget].quote_items_burst must be an integer in 2000..")):
        text = path.read_text()
        path.write_text(text.replace("quote_items_burst = 5000\n", "") + line + "\n")
        with pytest.raises(ConfigError, match=re.escape(named)):
            load_config(home)
        path.write_text(text)
