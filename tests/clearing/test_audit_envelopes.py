"""What the audit log keeps of the envelopes members send (clearing.audit_envelopes): a batch that
changed state keeps its envelope; one that changed nothing keeps its hash, size and results; a
byte-identical replay of any envelope is a reference to the first entry. Through real gRPC, on
SQLite and PostgreSQL; audit list, audit show and transfers show read every shape."""
from __future__ import annotations

import hashlib
import json

from fedmall.v1 import clearing_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import audit, audit_envelopes, operator
from clearing.cli import main
from tests.support.federation import make_prepare


def send(world, payer: str, envelope) -> clearing_pb2.SubmitPreparesResponse:
    return world.stub(payer).SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))


def cli(capsys, world, *args: str):
    assert main(["--home", str(world.home), *args]) == 0
    out = capsys.readouterr().out
    return json.loads(out) if "--json" in args else out


def entry(capsys, world, sequence: int) -> dict:
    return cli(capsys, world, "audit", "show", str(sequence), "--json")


def newest(world) -> int:
    with world.clearing.store.read() as connection:
        return audit.head(connection).sequence


def refused_batch(world, count: int = 3):
    """bank-a's batch of prepares to bank-b, each for more than bank-a's cap of 1000.00: all refused."""
    prepares = [make_prepare("bank-a", "bank-b", 200_000, now_ms=world.clock()) for _ in range(count)]
    return world.banks["bank-a"].signing_key.sign(transfer_pb2.PrepareBatch(prepares=prepares)), prepares


def test_a_batch_that_changed_nothing_is_logged_by_hash_size_and_results(world, capsys):
    envelope, prepares = refused_batch(world)
    response = send(world, "bank-a", envelope)
    assert {result.result for result in response.results} == {rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED}
    shown = entry(capsys, world, newest(world))
    serialised = envelope.SerializeToString()
    assert shown["kind"] == "prepares" and "envelope" not in shown["body"]
    assert shown["body"]["envelope_sha256"] == hashlib.sha256(serialised).hexdigest()
    assert shown["body"]["envelope_bytes"] == len(serialised)
    assert shown["body"]["results"] == [{"transfer_id": p.transfer_id, "result": "NET_DEBIT_CAP_EXCEEDED"}
                                        for p in prepares]
    # The operator still finds the refused transfer by its id.
    mentions = cli(capsys, world, "audit", "list", "--transfer", prepares[1].transfer_id, "--json")["entries"]
    assert [mention["sequence"] for mention in mentions] == [shown["sequence"]]


def test_a_batch_that_changed_state_keeps_its_envelope(world, capsys):
    accepted = make_prepare("bank-a", "bank-b", 1_000, now_ms=world.clock())
    refused = make_prepare("bank-a", "bank-b", 200_000, now_ms=world.clock())
    envelope = world.banks["bank-a"].signing_key.sign(transfer_pb2.PrepareBatch(prepares=[accepted, refused]))
    assert [r.result for r in send(world, "bank-a", envelope).results] == [
        rc.RESULT_CODE_OK, rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED]
    body = entry(capsys, world, newest(world))["body"]
    assert body["envelope"]["payload"]["prepares"][0]["transfer_id"] == accepted.transfer_id
    assert [r["result"] for r in body["results"]] == ["OK", "NET_DEBIT_CAP_EXCEEDED"]


def test_a_replay_is_a_reference_to_the_first_entry(world, capsys):
    envelope, prepares = refused_batch(world, count=50)
    send(world, "bank-a", envelope)
    first = newest(world)
    for _ in range(3):
        send(world, "bank-a", envelope)
    replays = [entry(capsys, world, first + n) for n in (1, 2, 3)]
    for replay in replays:
        assert replay["body"]["same_envelope_as"] == first and replay["body"]["results_as_in"] == first
        assert "results" not in replay["body"] and "envelope" not in replay["body"]
        assert len(json.dumps(replay["body"])) < 250
    out = cli(capsys, world, "audit", "show", str(first + 1))
    assert f"the same envelope as entry {first}" in out and f"as listed in entry {first}" in out
    listing = cli(capsys, world, "audit", "list", "--kind", "prepares")
    assert f"replay of entry {first}, results as in entry {first}" in listing



def test_a_replay_that_changes_state_keeps_the_envelope_the_first_entry_did_not(world, capsys):
    prepare = make_prepare("bank-a", "bank-b", 150_000, now_ms=world.clock())  # Over the cap, within liquidity.
    envelope = world.banks["bank-a"].signing_key.sign(transfer_pb2.PrepareBatch(prepares=[prepare]))
    assert send(world, "bank-a", envelope).results[0].result == rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED
    first = newest(world)
    world.clearing.registry.set_net_debit_cap("bank-a", cap_minor=200_000, currency="EUR",
                                              action=operator.checked("alice", "raised for the test"))
    assert send(world, "bank-a", envelope).results[0].result == rc.RESULT_CODE_OK
    accepted = entry(capsys, world, newest(world))["body"]
    assert accepted["same_envelope_as"] == first and accepted["envelope"]["key_id"] == "bank-a/k1"
    assert accepted["results"] == [{"transfer_id": prepare.transfer_id, "result": "OK"}]
    assert send(world, "bank-a", envelope).results[0].result == rc.RESULT_CODE_EXISTS
    again = entry(capsys, world, newest(world))["body"]
    assert again["same_envelope_as"] == first and "envelope" not in again
    assert again["results"] == [{"transfer_id": prepare.transfer_id, "result": "EXISTS"}]
    assert [m["result"] for m in cli(capsys, world, "transfer", prepare.transfer_id, "--json")["audit"]] == [
        "NET_DEBIT_CAP_EXCEEDED", "OK", "EXISTS"]


def test_items_without_a_transfer_id_are_counted_not_copied(world, capsys):
    junk = transfer_pb2.Prepare(transfer_id="x" * 60, payer_bank_id="bank-a", payee_bank_id="bank-b")
    named = make_prepare("bank-a", "bank-b", 200_000, now_ms=world.clock())
    envelope = world.banks["bank-a"].signing_key.sign(transfer_pb2.PrepareBatch(
        prepares=[junk, transfer_pb2.Prepare(), named, junk]))
    send(world, "bank-a", envelope)
    shown = entry(capsys, world, newest(world))
    assert "x" * 60 not in json.dumps(shown)
    assert shown["body"]["results"] == [{"transfer_id": named.transfer_id, "result": "NET_DEBIT_CAP_EXCEEDED"}]
    assert shown["body"]["unnamed"] == [{"result": "INVALID_FIELD", "items": 3}]
    assert "4 items: INVALID_FIELD 3, NET_DEBIT_CAP_EXCEEDED 1" in cli(capsys, world, "audit", "list")


def test_a_replayed_refused_envelope_is_a_reference(world, capsys):
    prepare = make_prepare("bank-a", "bank-b", 10, now_ms=world.clock())
    envelope = world.banks["bank-b"].signing_key.sign(transfer_pb2.PrepareBatch(prepares=[prepare]))
    assert send(world, "bank-a", envelope).result == rc.RESULT_CODE_SIGNER_NOT_PEER
    first = newest(world)
    assert "envelope" in entry(capsys, world, first)["body"]
    assert send(world, "bank-a", envelope).result == rc.RESULT_CODE_SIGNER_NOT_PEER
    replay = entry(capsys, world, first + 1)
    assert replay["kind"] == "refused" and replay["body"]["same_envelope_as"] == first
    assert replay["body"]["result"] == "SIGNER_NOT_PEER" and "envelope" not in replay["body"]
    with world.clearing.store.read() as connection:
        assert audit_envelopes.first_entry(connection, hashlib.sha256(envelope.SerializeToString()).digest()) == first
        assert not audit.verify_chain(connection).problems
