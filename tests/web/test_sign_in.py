"""Signing in to the desk, in Chromium against a real `inbox run`: only agents with a
live session see a page, a session can be ended, and the usual attacks find nothing to
hold on to (fixation, cross-site posts, guessing passwords, open redirects)."""

from __future__ import annotations

import httpx
from playwright.sync_api import Browser, expect

from tests.peers import free_port
from tests.web.conftest import DeskProcess, Watched, add_agent, sign_in, watch

COOKIE = "inbox_session"


def landing(url: str, token: str) -> str:
    """Where a browser holding only this session token ends up when it asks for `url`."""
    return httpx.get(url, cookies={COOKIE: token}, follow_redirects=True).url.path


def session_cookie(watched: Watched) -> dict[str, object]:
    [cookie] = [c for c in watched.page.context.cookies() if c["name"] == COOKIE]
    return dict(cookie)


def test_only_a_signed_in_agent_sees_the_queue_and_signing_out_ends_it(
        page: Watched, desk: DeskProcess) -> None:
    email, password = add_agent(desk, "Ania")
    page.page.goto(f"{desk.url}/?status=open")
    expect(page.page).to_have_url(f"{desk.url}/login?next=/%3Fstatus%3Dopen")
    page.page.get_by_label("E-mail").fill(email)
    page.page.get_by_label("Password").fill(password)
    page.page.get_by_role("button", name="Sign in").click()
    expect(page.page).to_have_url(f"{desk.url}/?status=open")  # back where she was going
    expect(page.page.locator("header .who")).to_have_text("Ania")
    cookie = session_cookie(page)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    assert COOKIE not in page.page.evaluate("document.cookie")  # no script can read it
    old = str(cookie["value"])
    page.page.get_by_role("button", name="Sign out").click()
    expect(page.page).to_have_url(f"{desk.url}/login")
    # The old token is dead on the server, not only forgotten by this browser.
    again = httpx.get(f"{desk.url}/", cookies={COOKIE: old}, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/login")
    assert page.console_errors() == []


def test_a_planted_session_token_signs_nobody_in(browser: Browser, desk: DeskProcess) -> None:
    email, password = add_agent(desk, "Bartek")
    planted = "attacker-chose-this-token"
    for watched in watch(browser):
        watched.page.context.add_cookies([{"name": COOKIE, "value": planted,
                                           "url": desk.url}])
        sign_in(watched.page, desk.url, email, password)
        expect(watched.page.locator("header .who")).to_have_text("Bartek")
        assert session_cookie(watched)["value"] != planted
    assert landing(f"{desk.url}/", planted) == "/login"


def test_a_change_needs_the_pages_token_and_our_origin(page: Watched, desk: DeskProcess) -> None:
    email, password = add_agent(desk, "Chidi")
    sign_in(page.page, desk.url, email, password)
    expect(page.page.locator("header .who")).to_have_text("Chidi")
    token = str(session_cookie(page)["value"])
    csrf = page.page.locator('meta[name="csrf-token"]').get_attribute("content")
    cookies = {COOKIE: token}
    bare = httpx.post(f"{desk.url}/logout", cookies=cookies)
    forged = httpx.post(f"{desk.url}/logout", cookies=cookies, data={"csrf": "0" * 64})
    foreign = httpx.post(f"{desk.url}/logout", cookies=cookies, data={"csrf": csrf},
                         headers={"Origin": "https://evil.example"})
    assert [r.status_code for r in (bare, forged, foreign)] == [403, 403, 403]
    assert landing(f"{desk.url}/", token) == "/"  # still signed in
    done = httpx.post(f"{desk.url}/logout", cookies=cookies, headers={"X-CSRF-Token": csrf},
                      follow_redirects=False)
    assert done.status_code == 303
    assert landing(f"{desk.url}/", token) == "/login"


def test_guessing_a_password_locks_the_account_even_for_the_right_one(
        page: Watched, desk: DeskProcess) -> None:
    email, password = add_agent(desk, f"Dara{free_port()}")
    for guess in range(5):
        sign_in(page.page, desk.url, email, f"wrong guess {guess}")
        expect(page.page.get_by_role("alert")).to_contain_text("Wrong e-mail or password")
    sign_in(page.page, desk.url, email, password)
    expect(page.page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    expect(page.page).to_have_url(f"{desk.url}/login?next=/")


def test_sign_in_never_sends_an_agent_to_another_site(page: Watched, desk: DeskProcess) -> None:
    email, password = add_agent(desk, "Ewa")
    page.page.goto(f"{desk.url}/login?next=//evil.example/phish")
    page.page.get_by_label("E-mail").fill(email)
    page.page.get_by_label("Password").fill(password)
    page.page.get_by_role("button", name="Sign in").click()
    expect(page.page).to_have_url(f"{desk.url}/")
    assert page.hosts() == {desk.url.removeprefix("http://")}


def test_a_cross_site_sign_in_post_is_refused(desk: DeskProcess) -> None:
    email, password = add_agent(desk, "Femi")
    forged = httpx.post(f"{desk.url}/login", data={"email": email, "password": password},
                        headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and COOKIE not in forged.cookies
