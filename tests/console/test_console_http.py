"""The web console over plain HTTP against a real clearing: who gets in, which posts may act,
and every action's refusals, each leaving the clearing as it was; what is done is audited
under the logged-in operator's name."""
from __future__ import annotations

import json
import ssl

import pytest
import sqlalchemy as sa

from fedmall.v1 import settlement_pb2

from clearing import audit, audit_reading, rules
from clearing.cli import main
from clearing.console import settings as console_settings
from clearing.store import console_logins

from tests.console.client import ConsoleClient

PENDING = settlement_pb2.WINDOW_STATE_PENDING_SETTLEMENT
SETTLED = settlement_pb2.WINDOW_STATE_SETTLED


def logged_in(console, operator_name: str = "alice") -> ConsoleClient:
    client = ConsoleClient(console.address)
    answer = client.log_in(console.login_link(operator_name))
    assert answer.status == 303 and answer.headers["location"] == "/participants"
    assert client.get("/participants").status == 200
    return client


def entries(console, kind: str) -> list[dict]:
    with console.world.clearing.store.read() as connection:
        page = audit_reading.list_entries(connection, audit_reading.AuditFilter(kind=kind), page_size=100)
    return [json.loads(entry.body) for entry in page.entries]


def snapshot(console) -> tuple:
    """Everything an action could change: every participant row, every window, the audit head."""
    clearing = console.world.clearing
    with clearing.store.read() as connection:
        head = audit.head(connection)
    return (tuple(tuple(row) for row in clearing.registry.list()),
            tuple(tuple(row) for row in clearing.windows.windows()), head)


# Who gets in ----------------------------------------------------------------------------------


def test_login__a_token_logs_in_once_as_its_operator_and_both_steps_are_audited(console):
    link = console.login_link("alice")
    client = ConsoleClient(console.address)
    assert client.log_in(link).status == 303
    page = client.get("/participants")
    assert page.status == 200 and 'id="operator">alice<' in page.text and "bank-a" in page.text
    [issued] = entries(console, "console.token")
    [login] = entries(console, "console.login")
    assert issued["operator"] == login["operator"] == "alice" and login["method"] == "token"
    with console.world.clearing.store.read() as connection:  # Only the hash is kept.
        stored = connection.execute(sa.select(console_logins)).one()
    assert link.split("token=")[1].encode() not in bytes(stored.token_sha256) and stored.used_at_ms is not None

    again = ConsoleClient(console.address).log_in(link)
    assert again.status == 403 and "used already" in again.text
    assert len(entries(console, "console.login")) == 1


def test_login__unknown_or_expired_tokens_are_refused(console):
    client = ConsoleClient(console.address)
    assert "unknown login token" in client.post("/login", {"token": "not-a-token"}, csrf=None).text
    link = console.login_link()
    console.world.clock.advance(ms=601_000)
    answer = client.log_in(link)
    assert answer.status == 403 and "expired" in answer.text
    assert client.get("/participants").status == 303  # Still not logged in.


def test_session_cookie__is_signed_httponly_and_samesite_strict(console):
    client = ConsoleClient(console.address)
    answer = client.log_in(console.login_link())
    [cookie] = answer.set_cookies
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie  # Plain HTTP on loopback.
    session_id, signature = client.cookie.split("=", 1)[1].split(".")
    forged = ConsoleClient(console.address, cookie=f"fedmall_console={session_id}.{'0' * len(signature)}")
    assert forged.get("/participants").status == 303


def test_unauthenticated__pages_redirect_to_login_and_posts_change_nothing(console):
    client = ConsoleClient(console.address)
    for path in ("/participants", f"/windows/{console.window_id}", "/audit", f"/transfers/{console.broken_transfer_id}"):
        answer = client.get(path)
        assert answer.status == 303 and answer.headers["location"] == "/login"
    before = snapshot(console)
    answer = client.post("/actions/settle", {"window_id": str(console.window_id), "override_reason": "x",
                                             "confirmed": "yes"}, csrf="anything")
    assert answer.status == 403 and "not logged in" in answer.text
    assert snapshot(console) == before


def test_logout__ends_the_session(console):
    client = logged_in(console)
    cookie = client.cookie
    assert client.post("/logout", {}).status == 303
    assert ConsoleClient(console.address, cookie=cookie).get("/participants").status == 303


def test_host__a_loopback_console_refuses_other_host_names(console):
    answer = ConsoleClient(console.address).get("/login", headers={"Host": f"rebound.example:{console.address.rsplit(':')[-1]}"})
    assert answer.status == 400 and "loopback" in answer.text


# Forged posts -------------------------------------------------------------------------------


@pytest.mark.parametrize("origin, csrf, why", [
    ("own", None, "CSRF token"),
    ("own", "a-guessed-token", "CSRF token"),
    ("http://evil.example", "own", "not from this console"),
    ("null", "own", "where it comes from"),
    (None, "own", "where it comes from"),
])
def test_forged_post__without_the_session_token_or_from_another_origin_is_refused(console, origin, csrf, why):
    client = logged_in(console)
    before = snapshot(console)
    answer = client.post("/actions/suspend", {"bank_id": "bank-a", "confirmed": "yes"}, origin=origin, csrf=csrf)
    assert answer.status == 403 and why in answer.text and "Nothing was changed" in answer.text
    assert snapshot(console) == before


def test_forged_post__a_referer_of_another_site_is_refused_and_one_of_the_console_is_taken(console):
    client = logged_in(console)
    before = snapshot(console)
    refused = client.post("/actions/suspend", {"bank_id": "bank-a", "confirmed": "yes"}, origin=None,
                          headers={"Referer": "http://evil.example/page"})
    assert refused.status == 403 and snapshot(console) == before
    taken = client.post("/actions/suspend", {"bank_id": "bank-a", "confirmed": "yes"}, origin=None,
                        headers={"Referer": f"{console.address}/participants/bank-a"})
    assert taken.status == 200 and console.world.participant("bank-a").status == rules.SUSPENDED


def test_forged_post__a_login_from_another_origin_is_refused(console):
    link = console.login_link()
    answer = ConsoleClient(console.address).post("/login", {"token": link.split("token=")[1]}, csrf=None,
                                                 origin="http://evil.example")
    assert answer.status == 403
    assert ConsoleClient(console.address).log_in(link).status == 303  # The token was not spent.


# Actions: the confirmation, the audit, the refusals --------------------------------------------


def test_action__needs_a_confirmation_then_is_audited_under_the_operator(console):
    client = logged_in(console, "alice")
    before = snapshot(console)
    confirm = client.post("/actions/suspend", {"bank_id": "bank-c"})
    assert confirm.status == 200 and "Confirm: Suspend bank-c" in confirm.text and 'name="confirmed" value="yes"' in confirm.text
    assert snapshot(console) == before
    done = client.act("suspend", {"bank_id": "bank-c"})
    assert done.status == 200 and "bank-c is now suspended" in done.text
    assert entries(console, "status.suspended") == [{"bank_id": "bank-c", "operator": "alice"}]
    assert client.act("resume", {"bank_id": "bank-c"}).status == 200
    assert console.world.participant("bank-c").status == rules.ACTIVE
    assert entries(console, "status.active") == [{"bank_id": "bank-c", "operator": "alice"}]


def test_suspend__unknown_or_onboarding_bank_is_refused(console):
    client = logged_in(console)
    console.world.admit("bank-d", cap_minor=1_000, liquidity_minor=1_000, folder=console.world.home.parent / "banks",
                        connect=False)
    before = snapshot(console)
    unknown = client.act("suspend", {"bank_id": "bank-zz"})
    assert unknown.status == 404 and "UNKNOWN_PARTICIPANT" in unknown.text
    onboarding = client.act("suspend", {"bank_id": "bank-d"})
    assert onboarding.status == 409 and "PARTICIPANT_ONBOARDING" in onboarding.text
    assert snapshot(console) == before


def test_set_cap__changes_the_cap_with_its_reason_and_refuses_bad_input(console):
    client = logged_in(console, "alice")
    before = snapshot(console)
    for form, status, text in (
            ({"bank_id": "bank-a", "amount": "500.00", "reason": ""}, 400, "INVALID_FIELD"),
            ({"bank_id": "bank-a", "amount": "five", "reason": "r"}, 400, "five"),
            ({"bank_id": "bank-a", "amount": "-1", "reason": "r"}, 400, ""),
            ({"bank_id": "bank-a", "amount": "0.001", "reason": "r"}, 400, ""),
            ({"bank_id": "bank-a", "amount": "99999999999999999999", "reason": "r"}, 400, ""),
            ({"bank_id": "bank-zz", "amount": "5.00", "reason": "r"}, 404, "UNKNOWN_PARTICIPANT")):
        answer = client.act("set-cap", form)
        assert answer.status == status and text in answer.text, (form, answer.text)
        assert client.post("/actions/set-cap", form).status == status  # The confirmation step refuses it too.
    assert snapshot(console) == before
    done = client.act("set-cap", {"bank_id": "bank-a", "amount": "500.00", "reason": "ticket 7"})
    assert "net debit cap 1000.00 EUR -&gt; 500.00 EUR" in done.text
    assert console.world.participant("bank-a").net_debit_cap_minor == 50_000
    [entry] = entries(console, "participant.cap")
    assert (entry["operator"], entry["reason"], entry["new_net_debit_cap_minor"]) == ("alice", "ticket 7", 50_000)
    unchanged = client.act("set-cap", {"bank_id": "bank-a", "amount": "500.00", "reason": "again"})
    assert "unchanged, nothing recorded" in unchanged.text and len(entries(console, "participant.cap")) == 1


def test_close_window__refuses_a_window_that_is_not_open_and_closes_the_open_one(console):
    client = logged_in(console)
    before = snapshot(console)
    not_open = client.act("close-window", {"window_id": str(console.window_id)})
    assert not_open.status == 409 and "WINDOW_STATE_INVALID" in not_open.text
    missing = client.act("close-window", {"window_id": "99"})
    assert missing.status == 404 and "WINDOW_NOT_FOUND" in missing.text
    assert client.act("close-window", {"window_id": "two"}).status == 400
    assert snapshot(console) == before
    open_id = console.window_id + 1
    done = client.act("close-window", {"window_id": str(open_id)})
    assert done.status == 200 and f"closed window {open_id}" in done.text
    assert console.world.clearing.windows.window(open_id).state == PENDING
    assert entries(console, "window.close")[-1] == {"closed": open_id, "opened": open_id + 1, "operator": "alice"}


def test_settle__a_disputed_window_needs_an_override_reason_which_is_recorded(console):
    client = logged_in(console)
    before = snapshot(console)
    disputed = client.act("settle", {"window_id": str(console.window_id)})
    assert disputed.status == 409 and "SETTLEMENT_DISPUTED" in disputed.text and "bank-b disputed" in disputed.text
    still_open = client.act("settle", {"window_id": str(console.window_id + 1), "override_reason": "x"})
    assert still_open.status == 409 and "WINDOW_STATE_INVALID" in still_open.text
    assert snapshot(console) == before
    liquidity_before = {bank: console.world.participant(bank).liquidity_minor for bank in ("bank-a", "bank-b", "bank-c")}
    done = client.act("settle", {"window_id": str(console.window_id), "override_reason": "bank-b's break explained"})
    assert done.status == 200 and f"window {console.window_id} settled" in done.text
    assert console.world.clearing.windows.window(console.window_id).state == SETTLED
    moved = {bank: console.world.participant(bank).liquidity_minor - liquidity_before[bank] for bank in liquidity_before}
    assert moved == {"bank-a": -600, "bank-b": 500, "bank-c": 100} and sum(moved.values()) == 0
    [entry] = entries(console, "window.settle")
    assert (entry["operator"], entry["override_reason"]) == ("alice", "bank-b's break explained")
    again = client.act("settle", {"window_id": str(console.window_id), "override_reason": "again"})
    assert again.status == 409 and "WINDOW_STATE_INVALID" in again.text


def test_funds__in_out_commit_abort_with_their_checks_and_safe_retries(console):
    client = logged_in(console)
    form = {"bank_id": "bank-a", "amount": "100.00", "movement_id": "rtgs-1", "reference": "RTGS 1", "reason": "topup"}
    before = snapshot(console)
    for bad, status in (({"movement_id": "has space"}, 400), ({"reference": ""}, 400), ({"reason": ""}, 400),
                        ({"amount": "0"}, 400), ({"bank_id": "bank-zz"}, 404)):
        answer = client.act("funds-in", {**form, **bad})
        assert answer.status == status, (bad, answer.text)
    assert snapshot(console) == before
    liquidity_minor = console.world.participant("bank-a").liquidity_minor
    assert "funds in of 100.00 EUR to bank-a recorded" in client.act("funds-in", form).text
    assert "already done, nothing changed" in client.act("funds-in", form).text  # A second click is safe.
    assert console.world.participant("bank-a").liquidity_minor == liquidity_minor + 10_000
    assert entries(console, "funds.in")[-1]["operator"] == "alice"

    too_much = client.act("funds-out", {**form, "movement_id": "out-1", "amount": "100000.00"})
    assert too_much.status == 409 and "cannot take" in too_much.text
    assert "reserved" in client.act("funds-out", {**form, "movement_id": "out-1", "amount": "50.00"}).text
    assert "committed" in client.act("funds-commit", {"movement_id": "out-1", "reason": "paid"}).text
    assert client.act("funds-abort", {"movement_id": "out-1", "reason": "late"}).status == 409
    unknown = client.act("funds-commit", {"movement_id": "out-9", "reason": "paid"})
    assert unknown.status == 409 and "FUNDS_MOVEMENT_UNKNOWN" in unknown.text
    assert console.world.participant("bank-a").liquidity_minor == liquidity_minor + 5_000


def test_pages__show_the_window_nets_its_break_and_the_transfer_it_names(console):
    client = logged_in(console)
    window = client.get(f"/windows/{console.window_id}").text
    assert "-6.00 EUR" in window and "disputed" in window and f'href="/transfers/{console.broken_transfer_id}"' in window
    transfer = client.get(f"/transfers/{console.broken_transfer_id}")
    assert transfer.status == 200 and "bank-a pays bank-b" in transfer.text and "7.00 EUR" in transfer.text
    assert client.get("/transfers/not-a-uuid").status == 400
    assert client.get("/transfers?bank=bank-a&state=committed").text.count('href="/transfers/') == 2
    assert client.get("/transfers?state=lost").status == 400
    assert client.get("/audit?kind=window.").text.count("window.close") >= 1
    assert client.get("/audit?window=x").status == 400
    assert client.get("/audit/1").status == 200 and client.get("/audit/99999").status == 400
    assert client.get("/windows/77").status == 404 and client.get("/nowhere").status == 404
    page = client.get("/participants")
    assert "script-src 'self'" in page.headers["content-security-policy"] and page.headers["x-frame-options"] == "DENY"


# Certificate login over HTTPS ----------------------------------------------------------------


def tls_client(console, folder) -> ConsoleClient:
    context = ssl.create_default_context(cafile=str(console.world.home / "ca.pem"))
    context.check_hostname = False  # The clearing's certificate names clearing.fedmall, not 127.0.0.1.
    if folder is not None:
        context.load_cert_chain(folder / "tls.crt", folder / "tls.key")
    return ConsoleClient(console.address, tls=context)


def test_certificate_login__the_operator_certificate_opens_a_session_a_member_or_none_does_not(certificate_console):
    console = certificate_console
    assert console.address.startswith("https://")
    operator_client = tls_client(console, console.world.home / "operator")
    page = operator_client.get("/participants")
    assert page.status == 200 and 'id="operator">operator<' in page.text
    [cookie] = page.set_cookies
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert operator_client.get("/windows").set_cookies == []  # The same session.
    [login] = entries(console, "console.login")
    assert login["method"] == "certificate"
    assert operator_client.act("suspend", {"bank_id": "bank-c"}).status == 200
    assert entries(console, "status.suspended") == [{"bank_id": "bank-c", "operator": "operator"}]

    member = tls_client(console, console.world.banks["bank-a"].bundle).get("/participants")
    assert member.status == 403 and "not a member" in member.text
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_client(console, None).get("/participants")


# Configuration and the command line ----------------------------------------------------------


def test_settings__a_token_console_off_loopback_or_a_bad_value_is_refused(tmp_path, monkeypatch):
    from fedmall.config_file import ConfigError, read_toml
    path = tmp_path / "fedmall.toml"
    for text, problem in (('listen_address = "0.0.0.0:7080"', "not a loopback address"),
                          ('authentication = "password"', "must be one of"),
                          ('listen_address = "127.0.0.1"', "host:port"),
                          ('session_s = 5', "60..86400")):
        path.write_text(f"[console]\n{text}\n")
        with pytest.raises(ConfigError, match=problem):
            console_settings.read(read_toml(path))
    path.write_text('[console]\nlisten_address = "0.0.0.0:7443"\nauthentication = "certificate"\n')
    assert console_settings.read(read_toml(path)).address() == "https://0.0.0.0:7443"
    path.write_text("[console]\n")
    assert console_settings.read(read_toml(path)).address() == "http://127.0.0.1:7080"  # The defaults.
    monkeypatch.setenv(console_settings.LISTEN_ADDRESS_ENVIRONMENT, "127.0.0.1:7181")
    assert console_settings.read(read_toml(path)).address() == "http://127.0.0.1:7181"
    path.write_text("[other]\n")
    assert console_settings.read(read_toml(path)) is None
    from clearing.config import KNOWN_KEYS
    path.write_text('[console]\nlisten_adress = "127.0.0.1:7080"\n')
    with pytest.raises(ConfigError, match=r"unknown key \[console\].listen_adress"):
        read_toml(path).check_known(KNOWN_KEYS)


def test_console_token_command__prints_a_link_or_says_the_console_is_off(console, tmp_path, capsys):
    home = console.world.home
    assert main(["--home", str(home), "console-token", "--operator", "bob", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["operator"] == "bob" and "/login?token=" in document["link"]
    assert entries(console, "console.token")[-1]["operator"] == "bob"
    text = (home / "fedmall.toml").read_text()
    (home / "fedmall.toml").write_text(text[:text.index("[console]")])
    assert main(["--home", str(home), "console-token"]) == 2
    assert "the web console is off" in capsys.readouterr().err


def test_server__a_console_that_cannot_listen_stops_the_clearing_starting(console, tmp_path):
    from clearing.config import ClearingConfig
    from clearing.server import Clearing
    port = int(console.address.rsplit(":", 1)[1])
    text = (console.world.home / "fedmall.toml").read_text()
    (console.world.home / "fedmall.toml").write_text(text.replace('listen_address = "127.0.0.1:0"\nauthentication',
                                                                  f'listen_address = "127.0.0.1:{port}"\nauthentication'))
    second = Clearing(ClearingConfig.load(console.world.home))
    try:
        with pytest.raises(OSError, match=r"\[console\].listen_address"):
            second.start()
    finally:
        second.stop()
