"""fedmall-clearing audit list and audit show: the log filtered and paged, each body kind decoded,
the exact bytes on request. On SQLite and PostgreSQL, over a clearing that wrote every kind of
entry through real gRPC; then clearing.audit_reading on crafted entries (window numbers, byte
patterns that only look like a window, the page budgets)."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import pytest

from fedmall import pki
from fedmall.envelope import Envelope
from fedmall.v1 import clearing_pb2, settlement_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import audit, audit_reading, limits, operator, rules
from clearing.cli import _parse_time, main
from clearing.store import Store, audit_log
from tests.clearing.test_transfers import submit_prepares
from tests.clearing.test_windows import acknowledge_all, answer, close, commit
from tests.support.federation import make_prepare


def run(capsys, world, *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(world.home), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def listed(capsys, world, *flags: str) -> list[tuple[int, str]]:
    code, out, err = run(capsys, world, "audit", "list", "--limit", "1000", *flags, "--json")
    assert code == 0, err
    return [(entry["sequence"], entry["kind"]) for entry in json.loads(out)["entries"]]


def shown(capsys, world, sequence: int) -> dict:
    code, out, err = run(capsys, world, "audit", "show", str(sequence), "--json")
    assert code == 0, err
    return json.loads(out)


def build_history(world) -> dict:
    """Every kind of entry the clearing writes, each through the path that writes it."""
    made = {"committed": commit(world, "bank-a", "bank-b", 1_000)}
    expiring = make_prepare("bank-a", "bank-c", 200, now_ms=world.clock(), expires_in_ms=2_000)
    submit_prepares(world, "bank-a", expiring)
    made["expiring"] = expiring.transfer_id
    world.clock.advance(ms=3_000)
    world.clearing.transfers.expire_due()           # Or the clearing's sweeper did: one entry either way.
    signed_by_another = submit_prepares(world, "bank-a", make_prepare("bank-a", "bank-b", 10, now_ms=world.clock()),
                                        key=world.banks["bank-b"].signing_key)
    made["refused_code"] = signed_by_another.result
    new_key = pki.new_signing_key("bank-a/k2")
    change = transfer_pb2.SigningKeyChange(bank_id="bank-a", key_id="bank-a/k2",
                                           public_key=pki.public_key_raw(new_key.private_key.public_key()))
    assert world.stub("bank-a").ChangeSigningKey(clearing_pb2.ChangeSigningKeyRequest(
        envelope=world.banks["bank-a"].signing_key.sign(change))).result == rc.RESULT_CODE_OK
    world.clearing.registry.set_status("bank-c", rules.SUSPENDED)
    world.clearing.registry.set_status("bank-c", rules.ACTIVE)
    made["settled"] = close(world)
    acknowledge_all(world, made["settled"])
    assert answer(world, "bank-a", made["settled"], withdraws_previous=True) == rc.RESULT_CODE_OK   # Replaces it.
    world.clearing.windows.settle(made["settled"])
    commit(world, "bank-b", "bank-a", 300)
    made["aborted"] = close(world)
    world.clearing.windows.abort(made["aborted"], reason="test abort")
    world.clearing.registry.set_net_debit_cap("bank-a", cap_minor=90_000, currency="EUR",
                                              action=operator.checked("alice", "review"))
    with world.clearing.store.read() as connection:
        made["rows"] = connection.execute(audit_log.select().order_by(audit_log.c.sequence)).all()
    made["kinds"] = {}
    for row in made["rows"]:
        made["kinds"].setdefault(row.kind, []).append(row.sequence)
    return made


@pytest.fixture
def history(world):
    return build_history(world)


def test_audit_list__every_kind_oldest_first(world, capsys, history):
    assert listed(capsys, world) == [(row.sequence, row.kind) for row in history["rows"]]
    assert set(history["kinds"]) == {
        "admit", "prepares", "decisions", "expired", "refused", "key.add", "status.suspended", "status.active",
        "window.close", "window.issue", "reconciliation", "reconciliation.replace", "window.settle", "window.abort",
        "participant.cap", "participant.active"}
    code, out, _ = run(capsys, world, "audit", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["seq", "recorded", "kind", "by", "what"]
    assert any("prepares" in line and "bank-a" in line and "1 items: OK 1" in line for line in lines)
    assert any("participant.cap" in line and "new_net_debit_cap_minor=90000" in line for line in lines)


def test_audit_list__each_filter(world, capsys, history):
    kinds = history["kinds"]
    settled, aborted = history["settled"], history["aborted"]

    def sequences(*flags: str) -> list[int]:
        return [sequence for sequence, _ in listed(capsys, world, *flags)]

    assert sequences("--kind", "prepares") == kinds["prepares"]
    assert sequences("--kind", "window.") == sorted(
        kinds["window.close"] + kinds["window.issue"] + kinds["window.settle"] + kinds["window.abort"])
    assert sequences("--kind", "reconciliation*") == sorted(kinds["reconciliation"] + kinds["reconciliation.replace"])
    assert sequences("--kind", "reconciliation") == kinds["reconciliation"]          # Exact without . or *.
    assert sequences("--kind", "window") == []
    assert sequences("--party", "bank-b") == [row.sequence for row in history["rows"] if row.party_id == "bank-b"]
    assert {kind for _, kind in listed(capsys, world, "--party", "operator")} == {
        "admit", "status.suspended", "status.active", "window.close", "window.settle", "window.abort", "participant.cap"}

    middle = history["rows"][len(history["rows"]) // 2].recorded_at_ms
    since = dt.datetime.fromtimestamp(middle / 1000, dt.timezone.utc).isoformat(timespec="milliseconds")
    at_ms = _parse_time(since, "--since")
    assert sequences("--since", since) == [row.sequence for row in history["rows"] if row.recorded_at_ms >= at_ms]
    assert sequences("--until", since) == [row.sequence for row in history["rows"] if row.recorded_at_ms < at_ms]

    close_of_settled, close_of_aborted = kinds["window.close"]
    issue_of_settled, issue_of_aborted = kinds["window.issue"]
    assert sequences("--window", str(settled)) == sorted(
        [close_of_settled, issue_of_settled, *kinds["reconciliation"], *kinds["reconciliation.replace"],
         *kinds["window.settle"]])
    # Its close opened it; the abort moved its transfers on to the window after it.
    assert sequences("--window", str(aborted)) == [close_of_settled, close_of_aborted, issue_of_aborted,
                                                   *kinds["window.abort"]]
    assert sequences("--window", str(aborted + 1)) == [close_of_aborted, *kinds["window.abort"]]
    assert sequences("--window", "99") == []
    assert sequences("--window", str(settled), "--kind", "reconciliation", "--party", "bank-b") == [
        next(row.sequence for row in history["rows"] if row.kind == "reconciliation" and row.party_id == "bank-b")]

    assert listed(capsys, world, "--transfer", history["committed"]) == [
        (kinds["prepares"][0], "prepares"), (kinds["decisions"][0], "decisions")]
    assert listed(capsys, world, "--transfer", history["expiring"]) == [
        (kinds["prepares"][1], "prepares"), (kinds["expired"][0], "expired")]
    assert listed(capsys, world, "--transfer", history["committed"], "--kind", "decisions") == [
        (kinds["decisions"][0], "decisions")]
    assert listed(capsys, world, "--transfer", "6f1c1a52-1b0f-4c55-9a3e-0d6d3c2b1a00") == []


def test_audit_list__pages_oldest_first_by_cursor_and_entries_arriving_do_not_shift_them(world, capsys):
    # Entries 1..6: three admissions, each bank's first connection; 7 this.
    world.clearing.registry.set_status("bank-c", rules.SUSPENDED)
    seen, after, pages = [], "0", 0
    while after is not None:
        code, out, _ = run(capsys, world, "audit", "list", "--limit", "3", "--after", str(after), "--json")
        page = json.loads(out)
        seen += [entry["sequence"] for entry in page["entries"]]
        after, pages = page["next_after"], pages + 1
        if pages == 1:
            world.clearing.registry.set_status("bank-c", rules.ACTIVE)  # Arrives while the operator pages.
    assert (seen, pages) == ([1, 2, 3, 4, 5, 6, 7, 8], 3)
    code, out, _ = run(capsys, world, "audit", "list", "--limit", "2", "--after", "1")
    assert code == 0 and out.rstrip().endswith("more: --after 3")
    assert run(capsys, world, "audit", "list", "--after", "8")[1].strip() == "no audit entries"


def test_audit_show__decodes_each_body_kind(world, capsys, history):
    kinds = history["kinds"]

    def body(kind: str, index: int = 0) -> dict:
        entry = shown(capsys, world, kinds[kind][index])
        assert entry["kind"] == kind
        return entry["body"]

    assert body("admit")["bank_id"] == "bank-a" and body("admit")["net_debit_cap_minor"] == 100_000
    prepares = body("prepares")
    assert prepares["results"] == [{"transfer_id": history["committed"], "result": "OK"}]
    assert prepares["envelope"]["payload_type"] == "fedmall.v1.PrepareBatch"
    assert prepares["envelope"]["key_id"] == "bank-a/k1"
    assert prepares["envelope"]["payload"]["prepares"][0]["transfer_id"] == history["committed"]
    assert prepares["envelope"]["payload"]["prepares"][0]["amount"] == {"amount_minor": "1000", "currency": "EUR"}
    decisions = body("decisions")
    assert decisions["envelope"]["payload"]["accepts"][0]["transfer_id"] == history["committed"]
    assert decisions["results"] == [{"transfer_id": history["committed"], "result": "OK"}]
    assert body("expired") == {"transfer_ids": [history["expiring"]]}
    refused = body("refused")
    assert refused["result"] == rc.ResultCode.Name(history["refused_code"]).removeprefix("RESULT_CODE_")
    assert refused["envelope"]["key_id"] == "bank-b/k1"
    assert refused["envelope"]["payload"]["prepares"][0]["payer_bank_id"] == "bank-a"
    key_change = body("key.add")["envelope"]
    assert (key_change["payload_type"], key_change["payload"]["key_id"]) == ("fedmall.v1.SigningKeyChange", "bank-a/k2")
    assert body("status.suspended") == {"bank_id": "bank-c"}
    assert body("window.close") == {"closed": history["settled"], "opened": history["settled"] + 1}
    assert body("window.issue")["window_id"] == history["settled"]
    reconciliation = body("reconciliation")["envelope"]
    assert reconciliation["payload_type"] == "fedmall.v1.Reconciliation"
    assert reconciliation["payload"]["window_id"] == str(history["settled"])   # An int64 in protobuf JSON.
    assert body("reconciliation.replace")["envelope"]["payload"]["withdraws_previous"] is True
    assert body("window.settle")["window_id"] == history["settled"]
    assert body("window.abort") == {"window_id": history["aborted"], "moved_to": history["aborted"] + 1,
                                    "reason": "test abort"}
    assert body("participant.cap") == {"bank_id": "bank-a", "currency": "EUR", "old_net_debit_cap_minor": 100_000,
                                       "new_net_debit_cap_minor": 90_000, "operator": "alice", "reason": "review"}

    code, out, _ = run(capsys, world, "audit", "show", str(kinds["key.add"][0]))
    assert code == 0 and out.startswith(f"audit entry {kinds['key.add'][0]}: key.add by bank-a at ")
    assert '"payload_type": "fedmall.v1.SigningKeyChange"' in out


def test_audit_show__json_and_raw_give_the_stored_bytes_and_hashes(world, capsysbinary, history):
    for row in history["rows"]:
        entry = shown(capsysbinary, world, row.sequence)
        assert base64.b64decode(entry["body_base64"]) == row.body
        assert entry["body_sha256"] == hashlib.sha256(row.body).hexdigest()
        assert (entry["entry_hash"], entry["previous_hash"]) == (row.entry_hash.hex(), row.previous_hash.hex())
        assert bytes.fromhex(entry["entry_hash"]) == audit.entry_hash(
            previous_hash=bytes.fromhex(entry["previous_hash"]), sequence=entry["sequence"],
            recorded_at_ms=entry["recorded_at_ms"], kind=entry["kind"], party_id=entry["party_id"], body=row.body)
    for kind in ("prepares", "key.add", "reconciliation", "refused"):
        sequence = history["kinds"][kind][0]
        assert main(["--home", str(world.home), "audit", "show", str(sequence), "--raw"]) == 0
        raw = capsysbinary.readouterr().out
        assert raw == history["rows"][sequence - 1].body
    key_change = Envelope.FromString(history["rows"][history["kinds"]["key.add"][0] - 1].body)
    assert key_change.payload_type == "fedmall.v1.SigningKeyChange"


@pytest.mark.parametrize("args, message", [
    (("list", "--limit", "0"), "a page holds 1 to"),
    (("list", "--limit", str(limits.audit_page_entries_max + 1)), "a page holds 1 to"),
    (("list", "--after", "-1"), "cursor"),
    (("list", "--window", "0"), "windows are numbered from 1"),
    (("list", "--transfer", "not-a-uuid"), "not a transfer id"),
    (("list", "--kind", "k" * 33), "kind is at most 32"),
    (("list", "--since", "yesterday"), "a time like"),
    (("list", "--until", "2026-11-29T10:00:00"), "time zone"),
    (("show", "99"), "no audit entry 99: the log holds entries 1..6"),
])
def test_audit__bad_input_is_refused_and_prints_nothing(world, capsys, args, message):
    code, out, err = run(capsys, world, "audit", *args)
    assert code in (1, 2) and out == "" and message in err


def test_audit__every_action_has_help(world, capsys):
    for action in ("list", "show"):
        with pytest.raises(SystemExit):
            run(capsys, world, "audit", action, "--help")
        assert capsys.readouterr().out.startswith("usage:")


# clearing.audit_reading on crafted entries -------------------------------------------------


@pytest.fixture
def store(database_url):
    opened = Store.open(database_url)
    yield opened
    opened.close()


def append(store: Store, kind: str, body: bytes) -> int:
    with store.write() as connection:
        return audit.append(connection, kind=kind, party_id="bank-a", body=body, now_ms=1_000).sequence


def reconciliation_body(window_id: int, *, noise: bytes = b"") -> bytes:
    """A reconciliation envelope whose hash and signature are noise (nothing here verifies them)."""
    answer_ = settlement_pb2.Reconciliation(window_id=window_id, bank_id="bank-a", statement_sha256=noise or bytes(32))
    return Envelope(payload_type="fedmall.v1.Reconciliation", payload=answer_.SerializeToString(), key_id="bank-a/k1",
                    signature=noise or bytes(64)).SerializeToString()


def in_window(store: Store, window_id: int, **page) -> audit_reading.AuditPage:
    with store.read() as connection:
        return audit_reading.list_entries(connection, audit_reading.AuditFilter(window_id=window_id),
                                          page_size=page.get("page_size", 100), after_sequence=page.get("after", 0))


def sequences_of(page: audit_reading.AuditPage) -> list[int]:
    return [entry.sequence for entry in page.entries]


def test_list_entries__window_numbers_match_whole(store):
    first = append(store, "window.close", audit.json_body({"closed": 1, "opened": 2}))
    tenth = append(store, "window.close", audit.json_body({"closed": 10, "opened": 11}))
    settled = append(store, "window.settle", audit.json_body({"window_id": 1, "nets": {"bank-a/EUR": 10},
                                                              "override_reason": None}))
    answered = append(store, "reconciliation", reconciliation_body(300))     # 300 is a two-byte varint.
    assert sequences_of(in_window(store, 1)) == [first, settled]
    assert sequences_of(in_window(store, 10)) == [tenth]
    assert sequences_of(in_window(store, 11)) == [tenth]
    assert sequences_of(in_window(store, 300)) == [answered]
    assert sequences_of(in_window(store, 2)) == [first]
    assert sequences_of(in_window(store, 44)) == []     # 300's low seven bits, without the continuation bit.


def test_list_entries__bytes_that_only_look_like_the_window_are_dropped_on_decoding(store):
    look_alike = b"\x08\x07" * 32   # Tag and varint of window 7, all over the hash and signature.
    decoys = [append(store, "reconciliation", reconciliation_body(8, noise=look_alike)) for _ in range(5)]
    real = append(store, "reconciliation.replace", reconciliation_body(7))
    garbage = append(store, "reconciliation", b"\x08\x07 not an envelope")
    assert decoys and garbage and sequences_of(in_window(store, 7)) == [real]
    assert in_window(store, 7).next_after is None


def test_list_entries__a_page_ends_at_its_scan_budget_with_a_cursor_to_go_on(store, monkeypatch):
    decoys = [append(store, "reconciliation", reconciliation_body(8, noise=b"\x08\x07" * 32)) for _ in range(5)]
    real = append(store, "reconciliation", reconciliation_body(7))
    monkeypatch.setattr(limits, "audit_scan_entries_max", 3)
    page = in_window(store, 7)
    assert (page.entries, page.next_after) == ((), decoys[2])
    page = in_window(store, 7, after=page.next_after)
    assert (sequences_of(page), page.next_after) == ([real], None)


def test_list_entries__a_page_ends_past_its_body_budget_with_a_cursor(store, monkeypatch):
    closes = [append(store, "window.close", audit.json_body({"closed": n, "opened": n + 1})) for n in range(1, 4)]
    monkeypatch.setattr(limits, "audit_page_body_bytes_max", 1)
    with store.read() as connection:
        page = audit_reading.list_entries(connection, audit_reading.AuditFilter(), page_size=10)
        assert (sequences_of(page), page.next_after) == ([closes[0]], closes[0])
        assert audit_reading.every_entry(connection, audit_reading.AuditFilter(kind="window.")) == [
            audit_reading.get_entry(connection, sequence) for sequence in closes]


def test_decode_body__never_raises_and_keeps_what_it_cannot_read():
    assert audit_reading.decode_body("key.add", b"\xff\xff")["envelope"]["problem"].startswith("not an envelope")
    unknown = Envelope(payload_type="other.Thing", payload=b"\x01", key_id="k").SerializeToString()
    decoded = audit_reading.decode_body("reconciliation", unknown)["envelope"]
    assert decoded["problem"] == "unknown payload type 'other.Thing'" and decoded["payload_base64"] == "AQ=="
    assert audit_reading.decode_body("admit", b"\x00binary") == {"undecoded_base64": "AGJpbmFyeQ=="}
    refused = audit_reading.decode_body("refused", audit.json_body({"result": 4, "envelope": "%%%"}))
    assert refused == {"result": "INVALID_SIGNATURE", "envelope": "%%%"}
    assert audit_reading.summary("participant.cap", audit.json_body({"reason": "x" * 500})).endswith("…")
