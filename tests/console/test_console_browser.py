"""The web console in a real browser: headless Chromium (the Debian package `chromium`, which
scripts/test installs) driven by Playwright. The operator logs in with a one-time link,
reads a window's nets, follows a break to its transfer, and settles; a page stays fresh by
itself; a visitor without a session and a forged form from another origin change nothing.

Skipped with the reason when Chromium or Playwright is missing, except under CI (CI=true),
where that is a failure: the browser tests must run there.
"""
from __future__ import annotations

import http.server
import os
import shutil
import threading

import pytest

from fedmall.v1 import settlement_pb2

from clearing import operator, rules

CHROMIUM = os.environ.get("FEDMALL_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_MS = 15_000


def _missing() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (scripts/test installs the Debian package chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (scripts/test installs the dev extras)"
    return None


@pytest.fixture(scope="module")
def browser():
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests must run in CI: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        # --no-sandbox: the suite runs as root in CI, where Chromium's sandbox cannot start.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def log_in(page, console) -> None:
    page.goto(console.login_link("alice"))
    page.click("#login button")
    page.wait_for_url(f"{console.address}/participants")
    assert page.inner_text("#operator") == "alice"


def test_browser__log_in_read_the_nets_follow_a_break_and_settle(page, console):
    log_in(page, console)
    assert page.locator("#participants tr[data-bank]").count() == 3

    page.click("text=Windows")
    page.click(f"#windows tr[data-window='{console.window_id}'] a")
    nets = {row.get_attribute("data-bank"): row.locator(".net").inner_text()
            for row in page.locator("#nets tr[data-bank]").all()}
    assert nets == {"bank-a": "-6.00 EUR", "bank-b": "5.00 EUR", "bank-c": "1.00 EUR"}
    assert page.inner_text("#verdict") == "NOT reconciled."

    page.click(f"#answers tr[data-bank='bank-b'] a[href='/transfers/{console.broken_transfer_id}']")
    assert page.inner_text("#transfer-id") == console.broken_transfer_id
    assert page.inner_text("#summary") == "bank-a pays bank-b 7.00 EUR"
    assert "COMMITTED" in page.inner_text("#state")

    page.go_back()
    page.fill("#settle input[name=override_reason]", "bank-b's break explained by phone")
    page.click("#settle button")
    assert "bank-a: -6.00 EUR" in page.inner_text("#plan")
    assert console.world.clearing.windows.window(console.window_id).state == settlement_pb2.WINDOW_STATE_PENDING_SETTLEMENT
    page.click("#confirm button")
    assert f"window {console.window_id} settled" in page.inner_text("#outcome")
    assert console.world.clearing.windows.window(console.window_id).state == settlement_pb2.WINDOW_STATE_SETTLED
    page.click("#continue")
    assert page.inner_text("#window-state") == "SETTLED"


def test_browser__a_page_refreshes_itself_while_open(page, console):
    log_in(page, console)
    cap = page.locator("#participants tr[data-bank='bank-c'] td").nth(5)
    assert cap.inner_text() == "800.00 EUR"
    console.world.clearing.registry.set_net_debit_cap("bank-c", cap_minor=12_300, currency="EUR",
                                                      action=operator.checked("bob", "from the command line"))
    from playwright.sync_api import expect
    expect(cap).to_have_text("123.00 EUR", timeout=TIMEOUT_MS)  # No reload: console.js swapped the table in.


def test_browser__no_session_gets_the_login_page_and_a_forged_form_is_refused(browser, page, console):
    stranger = browser.new_context()
    try:
        visit = stranger.new_page()
        visit.goto(f"{console.address}/windows/{console.window_id}")
        assert visit.url == f"{console.address}/login" and visit.locator("#login").count() == 1
        posted = stranger.request.post(f"{console.address}/actions/suspend", form={
            "bank_id": "bank-a", "confirmed": "yes"}, headers={"Origin": console.address})
        assert posted.status == 403
    finally:
        stranger.close()

    log_in(page, console)
    with _forging_site(console) as forger:  # Another origin (127.0.0.1 on another port: same site, other origin).
        page.goto(forger)
        page.click("button")
        page.wait_for_load_state()
        assert "Refused" in page.inner_text("h1") and "not from this console" in page.inner_text("#refusal")
    answer = page.evaluate("""async () => {
        const response = await fetch('/actions/suspend', {method: 'POST',
            headers: {'Content-Type': 'application/x-www-form-urlencoded'},
            body: 'bank_id=bank-a&confirmed=yes&csrf=guessed'});
        return response.status; }""")
    assert answer == 403
    assert console.world.participant("bank-a").status == rules.ACTIVE


class _forging_site:
    """A page on another origin with a form that posts to the console, as a hostile site would."""

    def __init__(self, console) -> None:
        html = (f"<form method=post action='{console.address}/actions/suspend'><input name=bank_id value=bank-a>"
                "<input name=confirmed value=yes><input name=csrf value=guessed><button>win a prize</button></form>")

        class Page(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(html.encode())

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
