"""The desk in a real browser: Chromium, driven by Playwright, against `inbox run`.

Page mechanics only (the sign-in page's assets, the CSP, axe on the sign-in page): no
database changes what they check, so they run against the SQLite desk alone and leave
the PostgreSQL one to the scenarios (tests/web/conftest.py `desk`)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from inbox.web.security import CSP
from tests.web.conftest import ON_SQLITE_ONLY, DeskProcess, Watched, axe_violations

pytestmark = ON_SQLITE_ONLY


def test_the_sign_in_page_loads_clean_and_asks_nothing_of_other_hosts(
        desk: DeskProcess, page: Watched) -> None:
    response = page.page.goto(desk.url + "/")  # the queue sends a stranger to sign in
    assert response is not None and response.ok
    assert urlsplit(page.page.url).path == "/login"
    assert page.page.get_by_role("heading", name="Sign in").is_visible()
    assert page.page.get_by_label("E-mail").is_visible()
    assert page.page.get_by_label("Password").is_visible()
    assert page.console_errors() == [] and page.errors == []
    assert page.hosts() == {urlsplit(desk.url).netloc}, page.requests


def test_htmx_and_its_sse_extension_come_from_the_desk_itself(
        desk: DeskProcess, page: Watched) -> None:
    page.page.goto(desk.url + "/login")
    assert page.page.evaluate("htmx.version") == "2.0.11"
    # configured by the meta tag (no inline script): no eval, no inline indicator style
    assert page.page.evaluate("[htmx.config.allowEval, htmx.config.includeIndicatorStyles]"
                              ) == [False, False]
    assert page.page.evaluate("document.querySelectorAll('style').length") == 0
    paths = [urlsplit(u).path for u in page.requests]
    assert any(re.fullmatch(r"/static/vendor/htmx-2\.0\.11/htmx\.min\.[0-9a-f]{12}\.js", p)
               for p in paths), paths
    assert any(re.fullmatch(r"/static/vendor/htmx-ext-sse-2\.2\.4/sse\.min\.[0-9a-f]{12}\.js",
                            p) for p in paths), paths


def test_an_injected_inline_script_does_not_run(desk: DeskProcess, page: Watched) -> None:
    response = page.page.goto(desk.url + "/login")
    assert response is not None
    assert response.headers["content-security-policy"] == CSP
    ran = page.page.evaluate("""() => {
        const script = document.createElement('script');
        script.textContent = 'window.pwned = true';
        document.body.appendChild(script);
        document.body.insertAdjacentHTML(
            'beforeend', '<img src="/no-such-image" onerror="window.pwnedByHandler = true">');
        return new Promise(done => setTimeout(
            () => done([window.pwned, window.pwnedByHandler]), 0));
    }""")
    # A function, not an expression: Playwright evals an expression anew at each poll,
    # and the page's policy (no 'unsafe-eval') refuses that once the first look fails.
    page.page.wait_for_function("() => document.querySelector('img').complete")
    assert ran == [None, None]
    assert page.page.evaluate("[window.pwned, window.pwnedByHandler]") == [None, None]
    # It was the policy that stopped them, and the browser says so.
    refused = [e for e in page.console_errors() if "Content Security Policy" in e]
    assert len(refused) >= 2, page.console_errors()


def test_the_sign_in_page_has_no_serious_accessibility_violation(
        desk: DeskProcess, axe_page: Watched) -> None:
    axe_page.page.goto(desk.url + "/login")
    assert axe_violations(axe_page.page) == []
