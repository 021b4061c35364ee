"""The queue and a conversation in Chromium, against a real `inbox run` on each database
(tests/web/conftest.py `desk`): what an agent sees and does, live updates, keys,
direction, accessibility; an e-mail and a Telegram chat received by the daemon from
the real peers and answered from the browser."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import APIResponse, Page, Route, expect
from sqlalchemy.orm import Session

from inbox.core.config import load_settings
from inbox.desk import actions
from inbox.runtime.app import App
from tests.peers import WAIT, free_port
from tests.web.conftest import (
    INBOX,
    DeskProcess,
    Watched,
    add_agent,
    axe_violations,
    opened_live,
    operator_env,
    peers_of,
    sign_in,
)
from tests.web.desk_helpers import ingest, mail

PERSIAN = "سلام، سفارش من هنوز نرسیده است"


def deployment_app(desk: DeskProcess) -> App:
    """The desk's deployment as another process sees it (a connector would write so)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX_")}
    return App(load_settings(desk.directory / "inbox.toml", env))


def subject(n: int) -> str:
    return f"Order {n} late {free_port()}"  # unique across this folder's tests


@pytest.fixture
def queue_page(desk: DeskProcess, agent_page: Watched) -> Iterator[tuple[App, Page]]:
    app = deployment_app(desk)
    yield app, agent_page.page
    app.close()


def rows_text(page: Page) -> list[str]:
    found: list[str] = page.locator("#queue-rows tr").evaluate_all(
        "rows => rows.map(r => r.textContent)")
    return found


def reply_from_the_browser(page: Page, desk: DeskProcess, row: str, text: str) -> None:
    """Open the conversation whose queue row shows `row` and send `text`; until the
    page hears that the reply went out."""
    page.goto(desk.url + "/")
    page.locator("#queue-rows a", has_text=row).click()
    page.get_by_label("Your reply").fill(text)
    page.get_by_role("button", name="Send reply").click()
    sent = page.locator(".message.kind-agent", has_text=text)
    expect(sent).to_have_count(1)
    expect(sent.locator(".delivery")).to_contain_text("sent", timeout=WAIT * 1000)


def test_an_email_and_a_telegram_chat_in_one_queue_by_sla_and_replies_go_back_threaded(
        desk: DeskProcess, agent_page: Watched) -> None:
    """Both customers write through the real peers (the daemon fetches the mail from
    Dovecot and the chat from the Bot API); the agent answers each in the browser."""
    peers, page, tag = peers_of(desk), agent_page.page, free_port()
    parcel, chat_text = f"Parcel {tag} missing", f"{PERSIAN} {tag}"
    page.goto(desk.url + "/?status=open")
    peers.write_mail(f"Anna <anna{tag}@example.com>", parcel, "Where is it?",
                     f"<parcel{tag}@example.com>")
    dariush = peers.customer("Dariush", language_code="fa")
    asked = peers.write_chat(dariush, chat_text, hours_ago=3)  # the most urgent
    chat = page.locator("#queue-rows tr", has_text=chat_text)
    email = page.locator("#queue-rows tr", has_text=parcel)
    expect(chat).to_have_count(1, timeout=WAIT * 1000)  # received by the daemon, live
    expect(email).to_have_count(1, timeout=WAIT * 1000)
    order = rows_text(page)
    assert next(i for i, t in enumerate(order) if chat_text in t) < \
        next(i for i, t in enumerate(order) if parcel in t)
    assert chat.get_by_role("link").evaluate("a => getComputedStyle(a).direction") == "rtl"
    assert email.get_by_role("link").evaluate("a => getComputedStyle(a).direction") == "ltr"
    assert "telegram" in chat.inner_text() and "email" in email.inner_text()
    assert page.title().startswith("(")  # the tab counts what waits
    expect(chat.locator("td.sla")).to_have_class("sla sla-ok")

    reply_from_the_browser(page, desk, parcel, "It is on its way.")
    sent = peers.mail_where(lambda m: m["In-Reply-To"] == f"<parcel{tag}@example.com>"
                            and "It is on its way." in text_of(m))
    assert sent["To"] == f"Anna <anna{tag}@example.com>"
    assert sent["Subject"].startswith(f"Re: {parcel} [#")
    reply_from_the_browser(page, desk, chat_text, "بسته شما امروز ارسال شد")
    answer = peers.chat_where(lambda s: s.chat_id == dariush.chat_id
                              and s.text == "بسته شما امروز ارسال شد")
    assert answer.reply_to == asked["message_id"]  # a reply to the customer's message


def text_of(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    return "" if body is None else str(body.get_content())


def test_keys_alone_open_a_conversation(desk: DeskProcess,
                                        queue_page: tuple[App, Page]) -> None:
    app, page = queue_page
    text = subject(2)
    ingest(app, mail(free_port(), subject=text, sender=f"k{free_port()}@example.com",
                     at=datetime.now(UTC) - timedelta(hours=20)))  # the most urgent
    page.goto(desk.url + "/")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{desk.url}/c/*")
    expect(page.get_by_role("heading", level=1)).to_contain_text(text)
    page.keyboard.press("?")
    expect(page.locator("dialog#keys")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    assert page.evaluate("document.activeElement.id") == "note-text"


def test_a_new_mail_appears_on_the_open_queue_without_a_reload(
        desk: DeskProcess, queue_page: tuple[App, Page], tmp_path: Path) -> None:
    _, page = queue_page
    page.goto(desk.url + "/")
    page.evaluate("window.sameDocument = true")
    expect(page.locator("#queue-rows")).to_be_attached()
    page.wait_for_function("() => document.querySelector('[sse-connect]') && "
                           "htmx.find('[sse-connect]')['htmx-internal-data'].sseEventSource"
                           ".readyState === 1")  # a function: see test_desk_browser
    text = subject(3)
    raw = EmailMessage()
    raw["From"], raw["To"] = f"live{free_port()}@example.com", "support@helpdesk.test"
    raw["Subject"], raw["Message-ID"] = text, f"<live{free_port()}@example.com>"
    raw.set_content("It is still not here.")
    (tmp_path / "new.eml").write_bytes(bytes(raw))
    # `inbox ingest` in a shell: another process writes the mail
    subprocess.run([*INBOX, "ingest", str(tmp_path / "new.eml")], cwd=desk.directory,
                   env=operator_env(), check=True, capture_output=True)
    expect(page.locator("#queue-rows tr", has_text=text)).to_have_count(1, timeout=WAIT * 1000)
    assert page.evaluate("window.sameDocument") is True


def test_note_snooze_resolve_in_the_browser(desk: DeskProcess,
                                           queue_page: tuple[App, Page]) -> None:
    app, page = queue_page
    text = subject(4)
    ingest(app, mail(free_port(), subject=text, sender=f"n{free_port()}@example.com"))
    page.goto(desk.url + "/")
    page.locator("#queue-rows a", has_text=text).click()
    page.get_by_label("Internal note (never sent)").fill("Asked the warehouse.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".message.kind-note")).to_contain_text("Asked the warehouse.")
    expect(page.get_by_label("Internal note (never sent)")).to_have_value("")
    page.get_by_label("Snooze until").fill(
        (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT09:00"))
    page.get_by_role("button", name="Snooze").click()
    expect(page.locator("dd.status")).to_contain_text("snoozed until")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("dd.status")).to_have_text("resolved")
    page.get_by_role("button", name="Assign to me").click()
    expect(page.locator("dd.assignee")).not_to_have_text("nobody")


def test_the_trail_is_read_when_opened_and_it_and_quotes_stay_open_through_a_refresh(
        desk: DeskProcess, queue_page: tuple[App, Page]) -> None:
    app, page = queue_page
    text = subject(5)
    ingest(app, mail(free_port(), subject=text, sender=f"t{free_port()}@example.com",
                     text="Where is it?\n\nOn Monday, Shop wrote:\n> Your parcel left today."))
    page.goto(desk.url + "/")
    page.locator("#queue-rows a", has_text=text).click()
    trail = page.locator("#conv-live details.trail")
    expect(trail.locator("li")).to_have_count(0)  # not read until asked
    trail.locator("summary").click()
    expect(trail).to_contain_text("ack queued")
    page.get_by_label("Internal note (never sent)").fill("@nobody checked the label")
    page.get_by_role("button", name="Add note").click()  # the conversation is drawn anew
    expect(page.locator(".message.kind-note")).to_contain_text("checked the label")
    expect(trail).to_have_attribute("open", "")
    expect(trail).to_contain_text("ack queued")
    quoted = page.locator("#conv-live .message.in details.quoted")
    quoted.locator("summary").click()
    page.get_by_label("Internal note (never sent)").fill("and the courier")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".message.kind-note")).to_have_count(2)
    expect(quoted).to_have_attribute("open", "")  # a quote opened stays open too


def test_a_change_made_while_the_conversation_is_fetched_is_drawn_too(
        desk: DeskProcess, queue_page: tuple[App, Page]) -> None:
    """A bug: a reply stayed "queued" on screen after it was sent. The send's notice
    came while the page was fetching the conversation for an earlier notice, and that
    fetch's answer (drawn before the send) was the last the page drew."""
    app, page = queue_page
    text = subject(6)
    ingest(app, mail(free_port(), subject=text, sender=f"f{free_port()}@example.com"))
    page.goto(desk.url + "/")
    opened_live(page, lambda: page.locator("#queue-rows a", has_text=text).click())
    cid = int(page.url.rsplit("/", 1)[1])
    page.evaluate("window.heard = 0; htmx.find('[sse-connect]')['htmx-internal-data']"
                  ".sseEventSource.addEventListener('changed', () => { window.heard++ })")
    held: list[tuple[Route, APIResponse]] = []  # the fetch, answered as it was drawn

    def hold_the_first(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append((route, route.fetch()))
    page.route("**/c/*/live", hold_the_first)
    note(app, cid, "Asked the courier.")
    deadline = time.monotonic() + WAIT
    while not held and time.monotonic() < deadline:  # the page fetches for the notice
        page.wait_for_timeout(20)  # lets Playwright run the route handler
    assert held, "the page did not fetch the conversation after a change"
    note(app, cid, "The courier found it.")
    page.wait_for_function("() => window.heard >= 2")  # its notice came during the fetch
    route, drawn_before = held[0]
    route.fulfill(response=drawn_before)
    expect(page.locator("#conv-live .message.kind-note")).to_have_count(2)
    expect(page.locator("#conv-live")).to_contain_text("The courier found it.")


def note(app: App, conv_id: int, text: str) -> None:
    """A note written by another process (`inbox note` in a shell would)."""
    with Session(app.engine) as s, s.begin():
        actions.note(s, conv_id, text, author="ana", now=datetime.now(UTC))


def test_queue_and_conversation_have_no_serious_accessibility_violation(
        desk: DeskProcess, axe_page: Watched) -> None:
    email, password = add_agent(desk, f"Axe{free_port()}")
    sign_in(axe_page.page, desk.url, email, password)
    axe_page.page.wait_for_url(f"{desk.url}/")
    app = deployment_app(desk)
    ingest(app, mail(free_port(), subject=subject(5), text=PERSIAN,
                     sender=f"a{free_port()}@example.com"))
    app.close()
    axe_page.page.goto(desk.url + "/")
    assert axe_violations(axe_page.page) == []
    axe_page.page.locator("#queue-rows a").first.click()
    axe_page.page.wait_for_url(f"{desk.url}/c/*")
    assert axe_violations(axe_page.page) == []
