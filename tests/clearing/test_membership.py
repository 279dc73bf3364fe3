"""A member's life at the clearing, over real gRPC and the operator's command line, on SQLite
and PostgreSQL: onboarding until its node first calls, a new node address and name, and
leaving, refused (changing nothing) for each condition unmet; what a bank that left can
no longer do. bank-a and bank-b have cap 1000.00 and liquidity 2000.00, bank-c liquidity 500.00."""
from __future__ import annotations

import json
import uuid

import grpc
import pytest
import sqlalchemy as sa

from fedmall.results import FedmallError
from fedmall.v1 import clearing_pb2, settlement_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import membership, rules
from clearing.cli import main
from clearing.operator import OperatorAction
from clearing.store import audit_log, participants, signing_keys, statement_pages

from tests.clearing.test_transfers import submit_prepares
from tests.clearing.test_windows import acknowledge_all, answer, close, commit, statement
from tests.support.federation import close_and_issue, make_prepare

OPERATOR = ("--operator", "olga", "--reason")


def cli(capsys, world, *args) -> tuple[int, dict | list | None, str]:
    """fedmall-clearing on the world's home (its database), --json: exit code, document, stderr."""
    code = main(["--home", str(world.home), *args, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


def status(world, bank_id: str) -> str:
    return world.participant(bank_id).status


def audit_entries(world, kind: str) -> list[dict]:
    with world.clearing.store.read() as connection:
        rows = connection.execute(sa.select(audit_log.c.party_id, audit_log.c.body)
                                  .where(audit_log.c.kind == kind).order_by(audit_log.c.sequence)).all()
    return [{"party_id": row.party_id, **json.loads(row.body)} for row in rows]


def listed(world, caller: str = "bank-a") -> dict[str, clearing_pb2.Participant]:
    response = world.stub(caller).ListParticipants(clearing_pb2.ListParticipantsRequest())
    return {participant.bank_id: participant for participant in response.participants}


def pay_out_liquidity(world, bank_id: str) -> None:
    """Funds out of all the bank's prefunded liquidity its position and reservations leave."""
    action = OperatorAction(operator="olga", reason="paid back")
    row = world.participant(bank_id)
    amount_minor = row.liquidity_minor - row.funds_out_reserved_minor - max(0, row.position_minor + row.reserved_minor)
    movement_id = f"payout-{uuid.uuid4().hex[:8]}"
    world.clearing.funds.reserve_funds_out(movement_id=movement_id, bank_id=bank_id, amount_minor=amount_minor,
                                           external_reference="RTGS-OUT", action=action)
    world.clearing.funds.commit_funds_out(movement_id, action=action)


def list_movements(world) -> None:
    """Issue the open window: its statements list the liquidity movements recorded so far."""
    close_and_issue(world.clearing.windows)


def leave(capsys, world, bank_id: str = "bank-c"):
    return cli(capsys, world, "participants", "leave", bank_id, *OPERATOR, "its owners wound it up")


def conditions(capsys, world, bank_id: str = "bank-c") -> list[str]:
    """The conditions a refused leave names; asserts it was refused and changed nothing."""
    before = world.participant(bank_id)
    code, document, _ = leave(capsys, world, bank_id)
    assert code == 1 and document["left"] is False and document["result"] == "PARTICIPANT_STATE_INVALID"
    assert world.participant(bank_id) == before and audit_entries(world, "participant.leave") == []
    return [problem["condition"] for problem in document["problems"]]


# Onboarding ----------------------------------------------------------------------------------

def test_onboarding__a_new_bank_neither_pays_nor_is_paid_until_its_node_first_calls(world, tmp_path, capsys):
    world.admit("bank-d", cap_minor=100_000, liquidity_minor=200_000, folder=tmp_path / "new", connect=False)
    assert status(world, "bank-d") == rules.ONBOARDING
    assert listed(world)["bank-d"].status == clearing_pb2.PARTICIPANT_STATUS_ONBOARDING
    code, document, _ = cli(capsys, world, "participants", "list")
    assert code == 0 and {p["bank_id"]: p["status"] for p in document}["bank-d"] == "onboarding"
    to_new = make_prepare("bank-a", "bank-d", 100, now_ms=world.clock())
    assert submit_prepares(world, "bank-a", to_new).results[0].result == rc.RESULT_CODE_PARTICIPANT_ONBOARDING
    code, _, err = cli(capsys, world, "suspend", "bank-d")
    assert code == 1 and "PARTICIPANT_ONBOARDING" in err and "not connected" in err
    assert conditions(capsys, world, "bank-d") == [membership.NOT_SUSPENDED, membership.LIQUIDITY,
                                                   membership.UNLISTED_MOVEMENT]   # Its admission funds in.
    window_id = close(world)   # A window closed while it is onboarding: no statement for it.
    assert "bank-d" not in {row.bank_id for row in world.clearing.windows.nets(window_id)}
    assert audit_entries(world, "participant.active")[-1]["bank_id"] == "bank-c"  # Only those that called.

    world.stub("bank-d").GetPosition(clearing_pb2.GetPositionRequest())       # Its node's first call.
    world.stub("bank-d").ListParticipants(clearing_pb2.ListParticipantsRequest())
    assert status(world, "bank-d") == rules.ACTIVE
    assert audit_entries(world, "participant.active")[-1] == {
        "party_id": "clearing", "bank_id": "bank-d", "reason": "its node connected"}
    assert [entry["bank_id"] for entry in audit_entries(world, "participant.active")].count("bank-d") == 1
    again = make_prepare("bank-a", "bank-d", 100, now_ms=world.clock())
    assert submit_prepares(world, "bank-a", again).results[0].result == rc.RESULT_CODE_OK


# A new address and name ------------------------------------------------------------------------

def test_set_address__other_banks_read_it_and_the_change_is_audited_with_who_and_why(world, capsys):
    code, document, _ = cli(capsys, world, "participants", "set-address", "bank-b", "127.0.0.1:7321", *OPERATOR,
                            "moved to the new rack")
    assert code == 0 and document["changed"] and not document["certificate_renewal_needed"]
    previous = document["previous"]
    assert listed(world, "bank-a")["bank-b"].node_address == "127.0.0.1:7321"
    assert audit_entries(world, "participant.address") == [{
        "party_id": "operator", "bank_id": "bank-b", "node_address": "127.0.0.1:7321", "previous": previous,
        "operator": "olga", "reason": "moved to the new rack"}]
    code, document, _ = cli(capsys, world, "participants", "set-address", "bank-b", "127.0.0.1:7321", *OPERATOR,
                            "again")
    assert code == 0 and not document["changed"] and len(audit_entries(world, "participant.address")) == 1
    code, document, _ = cli(capsys, world, "participants", "set-address", "bank-b", "node-b.bank.example:7101",
                            *OPERATOR, "own host")
    assert code == 0 and document["certificate_renewal_needed"]   # Its certificate names 127.0.0.1.
    code = main(["--home", str(world.home), "participants", "set-address", "bank-b", "node-c.bank.example:7101",
                 *OPERATOR, "other host"])
    assert code == 0 and "renew it for the new host" in capsys.readouterr().out


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.1:0", "bad host:7101", ":7101", "node:http"])
def test_set_address__not_host_port_is_bad_input_and_changes_nothing(world, capsys, address):
    before = world.participant("bank-b")
    code, _, err = cli(capsys, world, "participants", "set-address", "bank-b", address, *OPERATOR, "typo")
    assert code == 2 and "must be host:port" in err
    assert world.participant("bank-b") == before and audit_entries(world, "participant.address") == []


@pytest.mark.parametrize("action, value", [("set-address", "127.0.0.1:7321"), ("set-name", "Bank Z"), ("leave", None)])
def test_member_actions__an_unknown_bank_or_an_empty_reason_is_refused(world, capsys, action, value):
    code, _, err = cli(capsys, world, "participants", action, "bank-zz", *([value] if value else []), *OPERATOR, "x")
    assert code == 1 and "UNKNOWN_PARTICIPANT" in err
    code, _, err = cli(capsys, world, "participants", action, "bank-b", *([value] if value else []), *OPERATOR, " ")
    assert code == 1 and "INVALID_FIELD" in err and "reason" in err
    assert [row.status for row in world.clearing.registry.list()] == [rules.ACTIVE] * 3


def test_set_name__renames_and_refuses_an_empty_or_oversize_name(world, capsys):
    code, document, _ = cli(capsys, world, "participants", "set-name", "bank-b", "Bank B Cooperative", *OPERATOR,
                            "merger")
    assert code == 0 and (document["previous"], document["name"]) == ("Bank bank-b", "Bank B Cooperative")
    assert listed(world)["bank-b"].name == "Bank B Cooperative"
    assert audit_entries(world, "participant.name")[0]["reason"] == "merger"
    for name in (" ", "x" * (membership.NAME_LENGTH_MAX + 1)):
        code, _, err = cli(capsys, world, "participants", "set-name", "bank-b", name, *OPERATOR, "oops")
        assert code == 1 and "INVALID_FIELD" in err
    assert world.participant("bank-b").name == "Bank B Cooperative"


# Leaving -----------------------------------------------------------------------------------------

def test_leave__refused_while_active_holding_liquidity_or_its_movements_not_on_a_statement(world, capsys):
    assert conditions(capsys, world) == [membership.NOT_SUSPENDED, membership.LIQUIDITY,
                                         membership.UNLISTED_MOVEMENT]   # The funds in it was admitted with.
    pay_out_liquidity(world, "bank-c")
    assert conditions(capsys, world) == [membership.NOT_SUSPENDED, membership.UNLISTED_MOVEMENT]
    list_movements(world)
    assert conditions(capsys, world) == [membership.NOT_SUSPENDED]
    world.clearing.registry.set_status("bank-c", rules.SUSPENDED)
    pay_out_liquidity(world, "bank-a")
    world.clearing.registry.set_status("bank-a", rules.SUSPENDED)
    list_movements(world)
    with world.clearing.store.write() as connection:   # Liquidity only: nothing else keeps bank-a.
        connection.execute(sa.update(participants).where(participants.c.bank_id == "bank-a").values(
            liquidity_minor=1))
    assert conditions(capsys, world, "bank-a") == [membership.LIQUIDITY]


def test_leave__refused_with_a_position_and_its_window_unsettled_until_settled(world, capsys):
    pay_out_liquidity(world, "bank-c")
    world.clearing.registry.set_status("bank-c", rules.ACTIVE)
    commit(world, "bank-a", "bank-c", 300)       # Paid while active (its cap is 0 now, so it cannot pay).
    world.clearing.registry.set_status("bank-c", rules.SUSPENDED)
    assert conditions(capsys, world) == [membership.POSITION, membership.UNSETTLED_WINDOW,
                                         membership.UNLISTED_MOVEMENT]
    window_id = close(world)
    code, document, _ = leave(capsys, world)
    assert code == 1 and f"{window_id} (PENDING_SETTLEMENT)" in document["problems"][1]["detail"]
    acknowledge_all(world, window_id)
    world.clearing.windows.settle(window_id)    # bank-c is paid 3.00: pay that out too.
    assert conditions(capsys, world) == [membership.LIQUIDITY, membership.UNLISTED_MOVEMENT]
    pay_out_liquidity(world, "bank-c")
    list_movements(world)                       # The settlement and the payout, on its last statement.
    assert leave(capsys, world)[0] == 0


def test_leave__refused_while_an_unsettled_window_holds_its_transfers_even_netting_to_zero(world, capsys):
    commit(world, "bank-a", "bank-c", 300)
    commit(world, "bank-c", "bank-a", 300)
    pay_out_liquidity(world, "bank-c")
    world.clearing.registry.set_status("bank-c", rules.SUSPENDED)
    assert world.participant("bank-c").position_minor == 0
    assert conditions(capsys, world) == [membership.UNSETTLED_WINDOW,   # The open window needs its answer,
                                         membership.UNLISTED_MOVEMENT]  # and lists the payout once issued.


def test_leave__refused_while_its_own_transfer_is_reserved(world, capsys):
    outgoing = make_prepare("bank-c", "bank-a", 100, now_ms=world.clock(), expires_in_ms=2_000)
    assert submit_prepares(world, "bank-c", outgoing).results[0].result == rc.RESULT_CODE_OK
    pay_out_liquidity(world, "bank-c")          # All but the 1.00 the reservation needs.
    list_movements(world)
    world.clearing.registry.set_status("bank-c", rules.SUSPENDED)
    assert world.participant("bank-c").reserved_minor == 100
    assert conditions(capsys, world) == [membership.RESERVATION, membership.LIQUIDITY]
    world.clock.advance(ms=5_000)
    world.clearing.transfers.expire_due()
    pay_out_liquidity(world, "bank-c")
    list_movements(world)
    assert leave(capsys, world)[0] == 0


def test_leave__refused_while_an_incoming_transfer_awaits_its_decision(world, capsys):
    incoming = make_prepare("bank-b", "bank-c", 100, now_ms=world.clock(), expires_in_ms=2_000)
    assert submit_prepares(world, "bank-b", incoming).results[0].result == rc.RESULT_CODE_OK
    pay_out_liquidity(world, "bank-c")
    list_movements(world)
    world.clearing.registry.set_status("bank-c", rules.SUSPENDED)
    assert world.participant("bank-c").reserved_minor == 0        # The payer's reservation, not bank-c's.
    assert conditions(capsys, world) == [membership.RESERVATION]
    world.clock.advance(ms=5_000)
    world.clearing.transfers.expire_due()
    assert leave(capsys, world)[0] == 0


def test_leave__revokes_its_keys_and_it_can_no_longer_call_pay_be_paid_or_be_resumed(world, capsys):
    pay_out_liquidity(world, "bank-c")
    list_movements(world)
    world.clearing.registry.set_status("bank-c", rules.SUSPENDED)
    code, document, _ = leave(capsys, world)
    assert code == 0 and document == {"bank_id": "bank-c", "left": True, "status": "left",
                                      "revoked_key_ids": ["bank-c/k1"]}
    assert status(world, "bank-c") == rules.LEFT and world.clearing.registry.key_lookup("bank-c/k1") is None
    with world.clearing.store.read() as connection:
        assert connection.scalar(sa.select(signing_keys.c.status).where(signing_keys.c.owner == "bank-c")) == "revoked"
    [entry] = audit_entries(world, "participant.leave")
    assert entry == {"party_id": "operator", "bank_id": "bank-c", "revoked_key_ids": ["bank-c/k1"],
                     "operator": "olga", "reason": "its owners wound it up"}

    with pytest.raises(grpc.RpcError) as denied:               # Its node's calls.
        world.stub("bank-c").GetPosition(clearing_pb2.GetPositionRequest())
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED and "left" in denied.value.details()
    to_left = make_prepare("bank-a", "bank-c", 100, now_ms=world.clock())
    assert submit_prepares(world, "bank-a", to_left).results[0].result == rc.RESULT_CODE_PARTICIPANT_LEFT
    assert listed(world)["bank-c"].status == clearing_pb2.PARTICIPANT_STATUS_LEFT
    code, document, _ = cli(capsys, world, "participants", "list")
    assert {p["bank_id"]: p["status"] for p in document}["bank-c"] == "left"

    for command in (["resume", "bank-c"], ["suspend", "bank-c"], ["participants", "leave", "bank-c", *OPERATOR, "x"],
                    ["participants", "set-address", "bank-c", "127.0.0.1:1", *OPERATOR, "x"]):
        code, _, err = cli(capsys, world, *command)
        assert code == 1 and "PARTICIPANT_LEFT" in err, command
    admin = world.operator_stub().ResumeParticipant(clearing_pb2.ResumeParticipantRequest(bank_id="bank-c"))
    assert admin.result == rc.RESULT_CODE_PARTICIPANT_LEFT and status(world, "bank-c") == rules.LEFT

    commit(world, "bank-a", "bank-b", 100)                     # Later windows: no statement for it.
    window_id = close(world)
    with world.clearing.store.read() as connection:
        assert connection.scalars(sa.select(statement_pages.c.bank_id).distinct().where(
            statement_pages.c.window_id == window_id)).all() == ["bank-a", "bank-b"]


# Idle banks and settlement --------------------------------------------------------------------------

def test_settle__an_idle_bank_gets_a_statement_but_need_not_answer(world, capsys):
    commit(world, "bank-a", "bank-b", 500)
    window_id = close(world)
    assert [page.entry_count for page in statement(world, "bank-c", window_id)[1]] == [0]
    assert answer(world, "bank-a", window_id) == answer(world, "bank-b", window_id) == rc.RESULT_CODE_OK
    assert {a.bank_id: a.status for a in world.clearing.windows.answers(window_id)} == {
        "bank-a": "acknowledged", "bank-b": "acknowledged", "bank-c": "idle"}
    code, document, _ = cli(capsys, world, "reconcile", "--window", str(window_id))
    assert code == 0 and document["idle"] == ["bank-c"] and document["silent"] == []
    world.clearing.windows.settle(window_id)                                   # No override needed.
    assert world.clearing.windows.window(window_id).state == settlement_pb2.WINDOW_STATE_SETTLED
    assert world.clearing.windows.window(window_id).operator_reason is None


def test_settle__an_idle_bank_that_disputes_still_blocks(world):
    commit(world, "bank-a", "bank-b", 500)
    window_id = close(world)
    assert answer(world, "bank-a", window_id) == answer(world, "bank-b", window_id) == rc.RESULT_CODE_OK
    missing = settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_MISSING_AT_CLEARING, transfer_id="t")
    assert answer(world, "bank-c", window_id, breaks=[missing]) == rc.RESULT_CODE_OK
    with pytest.raises(FedmallError) as refused:
        world.clearing.windows.settle(window_id)
    assert refused.value.code == rc.RESULT_CODE_SETTLEMENT_DISPUTED and "bank-c disputed" in str(refused.value)


def test_settle__a_window_where_every_bank_was_idle_settles_without_answers(world):
    window_id = close(world)
    assert {a.status for a in world.clearing.windows.answers(window_id)} == {"idle"}
    world.clearing.windows.settle(window_id)
    assert world.clearing.windows.window(window_id).state == settlement_pb2.WINDOW_STATE_SETTLED
