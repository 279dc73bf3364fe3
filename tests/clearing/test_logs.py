"""The clearing's log lines in JSON carry their ids: a batch names its transfer ids and bank, a
refused transfer its id and result code, an operator action (over the admin gRPC or by a
command with --log-format json --log-file) the operator, the bank and the result."""
from __future__ import annotations

import json

from fedmall import logs
from fedmall.v1 import clearing_pb2, money_pb2

from clearing.cli import main
from tests.clearing.test_transfers import submit_prepares
from tests.fedmall.test_logs import restored_logging
from tests.support.federation import make_prepare


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_json_lines__batches_refusals_and_operator_actions_carry_their_ids(world, tmp_path):
    log_file = tmp_path / "clearing.log"
    ok = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    over = make_prepare("bank-c", "bank-a", 60_000, now_ms=world.clock())  # Over c's liquidity of 500.00.
    with restored_logging():
        logs.configure(logs.LogSettings("info", "json", log_file, True), serving=True)
        assert submit_prepares(world, "bank-a", ok).results[0].result == 1
        submit_prepares(world, "bank-c", over)
        answer = world.operator_stub().SetNetDebitCap(clearing_pb2.SetNetDebitCapRequest(
            bank_id="bank-b", cap=money_pb2.Money(amount_minor=500_000, currency="EUR"), reason="risk review"))
        assert answer.result == 1
        world.operator_stub().RecordFundsIn(clearing_pb2.RecordFundsInRequest(terms=clearing_pb2.FundsMovementTerms(
            movement_id="wire-1", bank_id="nobody", amount=money_pb2.Money(amount_minor=1, currency="EUR"),
            external_reference="wire 1"), reason="top-up"))
    lines = read_lines(log_file)
    batch = next(line for line in lines if line["message"].startswith("prepare batch from bank-a"))
    assert (batch["bank"], batch["transfers"], batch["transfer_ids"]) == ("bank-a", 1, [ok.transfer_id])
    assert batch["level"] == "INFO" and batch["logger"] == "fedmall.clearing"
    refused = next(line for line in lines if line.get("transfer_id") == over.transfer_id)
    assert refused["bank"] == "bank-c" and refused["result"] == "INSUFFICIENT_LIQUIDITY", refused
    cap = next(line for line in lines if line.get("action") == "SetNetDebitCap")
    assert (cap["bank"], cap["result"], cap["cap"], cap["reason"]) == ("bank-b", "OK", "5000.00 EUR", "risk review")
    assert cap["operator"] and cap["logger"] == "fedmall.clearing.operator"
    funds = next(line for line in lines if line.get("action") == "RecordFundsIn")
    assert funds["bank"] == "nobody" and funds["result"] == "UNKNOWN_PARTICIPANT", funds


def test_json_lines__a_command_logs_the_operator_action_to_the_log_file(world, tmp_path, capsys):
    log_file = tmp_path / "operator.log"
    with restored_logging():
        assert main(["--home", str(world.home), "participants", "set-threshold", "bank-a", "90", "--reason",
                     "closer watch", "--operator", "alice", "--log-format", "json", "--log-file", str(log_file)]) == 0
        assert main(["--log-format", "json", "--log-file", str(log_file), "--home", str(world.home), "suspend",
                     "bank-zz"]) == 1
    assert "alice" not in capsys.readouterr().err  # The terminal shows the command's own output only.
    done, refused = [line for line in read_lines(log_file) if line["logger"] == "fedmall.clearing.operator"]
    assert {key: done[key] for key in ("operator", "action", "result", "reason", "bank")} == {
        "operator": "alice", "action": "participants set-threshold", "result": "done", "reason": "closer watch",
        "bank": "bank-a"}
    assert (refused["action"], refused["result"], refused["bank"]) == ("suspend", "refused", "bank-zz")
    assert "UNKNOWN_PARTICIPANT" in refused["message"]
