"""A payee bank returns money it was paid, from the command line, through real nodes and the
clearing: the return names its original, both banks keep the same UETR for each transfer, and
a return that does not go back along its original is refused and changes nothing."""
from __future__ import annotations

import json

from clearing import transfer_lookup
from node import cli as node_cli


def node(capsys, federation, bank_id: str, *args: str) -> tuple[int, dict]:
    try:
        code = node_cli.main([*args, "--json", "--home", str(federation.world.banks[bank_id].bundle)])
    except SystemExit as stopped:   # An ABORTED transfer exits 1 after printing it.
        code = stopped.code
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_send_returns__the_payee_bank_gives_money_back_naming_the_original(federation, capsys):
    federation.open_account("bank-a", "alice", deposit_minor=10_000)
    federation.open_account("bank-b", "bob", deposit_minor=5_000)  # Enough to try returning too much.
    original, _ = federation.send("bank-a", "alice", "bank-b", "bob", 2_500)
    assert federation.wait_final("bank-a", original).status == "COMMITTED"
    paid = federation.wait_final("bank-b", original)
    assert paid.uetr == federation.record("bank-a", original).uetr != original

    code, returned = node(capsys, federation, "bank-b", "send", "--from", "bob", "--to-bank", "bank-a",
                          "--to-account", "alice", "10.00", "--returns", original, "--wait", "15")
    assert code == 0 and returned["status"] == "COMMITTED"
    assert returned["original_transfer_id"] == original and returned["uetr"] not in ("", paid.uetr)
    code, seen = node(capsys, federation, "bank-a", "transfer", returned["transfer_id"])
    assert code == 0 and (seen["direction"], seen["uetr"], seen["original_transfer_id"]) == (
        "incoming", returned["uetr"], original)
    with federation.world.clearing.store.read() as connection:
        found = transfer_lookup.look_up(connection, returned["transfer_id"])
    assert (found.state, found.uetr, found.original_transfer_id) == ("COMMITTED", returned["uetr"], original)
    assert federation.balance("bank-a", "alice") == 10_000 - 2_500 + 1_000

    # Back to a bank that was not paid by it, or more than was paid: refused at the clearing.
    federation.open_account("bank-c", "carol", deposit_minor=5_000)
    before = federation.balance("bank-c", "carol")
    code, refused = node(capsys, federation, "bank-c", "send", "--from", "carol", "--to-bank", "bank-a",
                         "--to-account", "alice", "1.00", "--returns", original, "--wait", "15")
    assert code == 1 and (refused["status"], refused["abort_reason"]) == ("ABORTED", "RETURN_NOT_OF_ORIGINAL")
    assert federation.balance("bank-c", "carol") == before
    code, refused = node(capsys, federation, "bank-b", "send", "--from", "bob", "--to-bank", "bank-a",
                         "--to-account", "alice", "25.01", "--returns", original, "--wait", "15")
    assert code == 1 and refused["abort_reason"] == "RETURN_NOT_OF_ORIGINAL"
    federation.assert_invariants()
