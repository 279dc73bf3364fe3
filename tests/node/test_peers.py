"""The peer directory's cache of the clearing's registry: when it reads it again, what each
status means for a payee and for a caller, and a quote asked again where a payee moved.
(tests/acceptance/test_membership.py moves a real node.)"""
from __future__ import annotations

import grpc
import pytest

from fedmall import pki
from fedmall.v1 import clearing_pb2, node_pb2
from fedmall.v1 import result_pb2 as rc

from node import limits
from node.errors import Refused, Unavailable
from node.peers import PeerDirectory

S = clearing_pb2


class Registry:
    """The clearing's ListParticipants: what it answers now, and how often it was asked."""

    def __init__(self) -> None:
        self.participants = {"bank-b": ("127.0.0.1:7102", S.PARTICIPANT_STATUS_ACTIVE)}
        self.keys: dict[str, list] = {}
        self.reads = 0
        self.down = False

    def ListParticipants(self, request, timeout):
        self.reads += 1
        if self.down:
            raise Down()
        return S.ListParticipantsResponse(participants=[
            S.Participant(bank_id=bank_id, currency="EUR", node_address=address, status=status,
                          signing_keys=[S.ParticipantSigningKey(key_id=key.key_id, public_key=pki.public_key_raw(
                              key.private_key.public_key())) for key in self.keys.get(bank_id, [])])
            for bank_id, (address, status) in self.participants.items()])


class Down(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.UNAVAILABLE


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, ms: int) -> None:
        self.now_s += ms / 1000


class Quoting(PeerDirectory):
    """Quotes answered by whichever addresses are up."""

    def __init__(self, registry, clock, up: set[str]) -> None:
        super().__init__(registry, tls=None, clock=clock)
        self.up = up
        self.asked: list[str] = []

    def _quote_at(self, bank_id, address, items):
        self.asked.append(address)
        if address not in self.up:
            raise Down()
        return node_pb2.QuoteTransfersResponse(results=[node_pb2.QuoteResult(result=rc.RESULT_CODE_OK)
                                                        for _ in items])


@pytest.fixture
def registry():
    return Registry()


@pytest.fixture
def clock():
    return Clock()


def refusal(peers, bank_id: str) -> int:
    with pytest.raises(Refused) as refused:
        peers.participant(bank_id)
    return refused.value.code


def test_participant__an_active_bank_is_read_again_only_once_the_cache_is_old(registry, clock):
    peers = PeerDirectory(registry, tls=None, clock=clock)
    assert peers.participant("bank-b").node_address == "127.0.0.1:7102" and registry.reads == 1
    registry.participants["bank-b"] = ("127.0.0.1:7202", S.PARTICIPANT_STATUS_ACTIVE)   # It moved.
    clock.advance(limits.registry_age_ms_max - 1)
    assert peers.participant("bank-b").node_address == "127.0.0.1:7102" and registry.reads == 1
    clock.advance(1)
    assert peers.participant("bank-b").node_address == "127.0.0.1:7202" and registry.reads == 2


@pytest.mark.parametrize("status, code", [
    (S.PARTICIPANT_STATUS_SUSPENDED, rc.RESULT_CODE_PARTICIPANT_SUSPENDED),
    (S.PARTICIPANT_STATUS_ONBOARDING, rc.RESULT_CODE_PARTICIPANT_ONBOARDING),
    (S.PARTICIPANT_STATUS_LEFT, rc.RESULT_CODE_PARTICIPANT_LEFT),
    (99, rc.RESULT_CODE_PARTICIPANT_SUSPENDED),            # A status from a newer clearing: not payable.
])
def test_participant__a_payee_not_active_is_refused_and_read_again_at_most_every_refresh_interval(
        registry, clock, status, code):
    registry.participants["bank-b"] = ("127.0.0.1:7102", status)
    peers = PeerDirectory(registry, tls=None, clock=clock)
    assert refusal(peers, "bank-b") == code
    assert refusal(peers, "bank-b") == code and registry.reads == 1
    registry.participants["bank-b"] = ("127.0.0.1:7102", S.PARTICIPANT_STATUS_ACTIVE)
    clock.advance(limits.registry_refresh_ms_min)
    assert peers.participant("bank-b").status == S.PARTICIPANT_STATUS_ACTIVE and registry.reads == 2
    assert refusal(peers, "bank-zz") == rc.RESULT_CODE_UNKNOWN_PARTICIPANT


def test_participant__the_last_read_serves_while_the_clearing_is_down_but_not_a_miss(registry, clock):
    peers = PeerDirectory(registry, tls=None, clock=clock)
    peers.participant("bank-b")
    registry.down = True
    clock.advance(limits.registry_age_ms_max)
    assert peers.participant("bank-b").node_address == "127.0.0.1:7102"
    with pytest.raises(Unavailable):
        peers.participant("bank-c")


@pytest.mark.parametrize("status, code", [
    (S.PARTICIPANT_STATUS_ACTIVE, rc.RESULT_CODE_OK),
    (S.PARTICIPANT_STATUS_SUSPENDED, rc.RESULT_CODE_PARTICIPANT_SUSPENDED),
    (S.PARTICIPANT_STATUS_LEFT, rc.RESULT_CODE_PARTICIPANT_LEFT),
    (S.PARTICIPANT_STATUS_ONBOARDING, rc.RESULT_CODE_PARTICIPANT_ONBOARDING),
    (99, rc.RESULT_CODE_PARTICIPANT_SUSPENDED),            # A status from a newer clearing: not served.
])
def test_caller_refusal__only_active_banks_may_call(registry, clock, status, code):
    registry.participants["bank-c"] = ("127.0.0.1:7103", status)
    peers = PeerDirectory(registry, tls=None, clock=clock)
    assert peers.caller_refusal("bank-c") == code
    assert peers.caller_refusal("bank-new") == rc.RESULT_CODE_UNKNOWN_PARTICIPANT   # Not in the registry read.
    registry.participants["bank-new"] = ("127.0.0.1:7104", S.PARTICIPANT_STATUS_ACTIVE)
    assert peers.caller_refusal("bank-new") == rc.RESULT_CODE_UNKNOWN_PARTICIPANT   # Read again at most...
    clock.advance(limits.registry_refresh_ms_min)
    assert peers.caller_refusal("bank-new") == rc.RESULT_CODE_OK                    # ...every refresh interval.
    assert registry.reads == 2


def test_caller_refusal__the_last_read_serves_while_the_clearing_is_down_and_none_is_unavailable(registry, clock):
    peers = PeerDirectory(registry, tls=None, clock=clock)
    registry.down = True
    assert peers.caller_refusal("bank-b") == rc.RESULT_CODE_UNAVAILABLE   # Never read: cannot tell.
    registry.down = False
    clock.advance(limits.registry_refresh_ms_min)
    assert peers.caller_refusal("bank-b") == rc.RESULT_CODE_OK
    registry.down = True
    peers.call_failed()
    clock.advance(limits.registry_age_ms_max)
    assert peers.caller_refusal("bank-b") == rc.RESULT_CODE_OK            # The last read stands.
    assert peers.caller_refusal("bank-zz") == rc.RESULT_CODE_UNKNOWN_PARTICIPANT


def test_quote__a_payee_that_moved_is_asked_again_at_once_at_its_new_address(registry, clock):
    peers = Quoting(registry, clock, up={"127.0.0.1:7102"})
    items = [node_pb2.QuoteItem(transfer_id="t1")]
    assert len(peers.quote("bank-b", items)) == 1
    registry.participants["bank-b"] = ("127.0.0.1:7202", S.PARTICIPANT_STATUS_ACTIVE)
    peers.up = {"127.0.0.1:7202"}
    assert len(peers.quote("bank-b", items)) == 1                      # The cache is fresh, the call fails...
    assert peers.asked == ["127.0.0.1:7102", "127.0.0.1:7102", "127.0.0.1:7202"]   # ...so it reads and asks again.


def test_quote__a_payee_down_where_it_was_is_unavailable_and_asked_once(registry, clock):
    peers = Quoting(registry, clock, up=set())
    with pytest.raises(Unavailable):
        peers.quote("bank-b", [node_pb2.QuoteItem(transfer_id="t1")])
    assert peers.asked == ["127.0.0.1:7102"] and registry.reads == 2   # Read again after the failure.


def test_signing_key__is_the_one_the_registry_lists_under_its_bank_and_a_new_one_is_looked_for(registry, clock):
    peers = PeerDirectory(registry, tls=None, clock=clock)
    first, other = pki.new_signing_key("bank-b/k1"), pki.new_signing_key("bank-b/k2")
    registry.keys = {"bank-b": [first]}
    key = peers.signing_key("bank-b/k1")
    assert (key.key_id, key.owner) == ("bank-b/k1", "bank-b")
    assert pki.public_key_raw(key.public_key) == pki.public_key_raw(first.private_key.public_key())
    # A key not in the last read: read again, at most every registry_refresh_ms_min.
    registry.keys = {"bank-b": [first, other]}
    assert peers.signing_key("bank-b/k2") is None
    clock.advance(limits.registry_refresh_ms_min)
    assert peers.signing_key("bank-b/k2").owner == "bank-b"
    # A key listed under another bank than its id names is nobody's; one no longer listed is gone.
    registry.participants["bank-c"] = ("127.0.0.1:7103", S.PARTICIPANT_STATUS_ACTIVE)
    registry.keys = {"bank-c": [pki.new_signing_key("bank-b/k3")]}
    clock.advance(limits.registry_refresh_ms_min)
    assert peers.signing_key("bank-b/k3") is None
    assert peers.signing_key("bank-b/k1") is None
    # The last read serves while the clearing does not answer.
    registry.keys, registry.down = {"bank-b": [first]}, False
    clock.advance(limits.registry_refresh_ms_min)
    assert peers.signing_key("bank-b/k1") is not None
    registry.down = True
    clock.advance(limits.registry_refresh_ms_min)
    assert peers.signing_key("bank-b/k1") is not None


class Denied(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.PERMISSION_DENIED

    def details(self):
        return "'bank-a' may not call: RESULT_CODE_PARTICIPANT_SUSPENDED"


def test_quote__a_payee_that_serves_this_bank_nothing_is_forbidden_and_not_asked_again(registry, clock):
    class Refusing(Quoting):
        def _quote_at(self, bank_id, address, items):
            self.asked.append(address)
            raise Denied()

    peers = Refusing(registry, clock, up=set())
    with pytest.raises(Refused) as refused:
        peers.quote("bank-b", [node_pb2.QuoteItem(transfer_id="t1")])
    assert refused.value.code == rc.RESULT_CODE_FORBIDDEN and "SUSPENDED" in str(refused.value)
    assert peers.asked == ["127.0.0.1:7102"] and registry.reads == 1
