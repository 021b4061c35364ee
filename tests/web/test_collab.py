"""Two agents on one conversation in Chromium, against a real `inbox run`: each sees the
other's presence and typing live, a reply after the other's asks first, and nothing
typed is lost to a reload or a closed tab (drafts)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.runtime.app import App
from inbox.store.models import Agent, Conversation, Draft, Message, Outbox
from tests.peers import WAIT, free_port
from tests.web.conftest import DeskProcess, Watched, add_agent, sign_in, watch
from tests.web.desk_helpers import ingest, mail
from tests.web.test_desk_pages import deployment_app

MS = WAIT * 1000


@dataclass
class Agents:
    app: App
    conv: int
    kim: str  # the names shown
    lee: str
    kim_page: Page
    lee_page: Page

    def open(self, page: Page) -> None:
        # The live stream, once connected, refreshes what the page shows: a change
        # between rendering and connecting is not missed, so no need to wait for it.
        page.goto(f"{self.app_url}/c/{self.conv}")
        expect(page.locator("#conv-live")).to_be_visible()

    app_url: str = ""


def signed_in(browser: Browser, desk: DeskProcess, name: str) -> Iterator[Watched]:
    email, password = add_agent(desk, name)
    for watched in watch(browser):
        sign_in(watched.page, desk.url, email, password)
        watched.page.wait_for_url(f"{desk.url}/")
        yield watched


@pytest.fixture
def agents(browser: Browser, desk: DeskProcess) -> Iterator[Agents]:
    """Kim and Lee signed in, in two browser contexts; one new e-mail conversation."""
    app = deployment_app(desk)
    n = free_port()
    subject = f"Parcel {n} lost"
    ingest(app, mail(n, subject=subject, sender=f"c{n}@example.com"))
    with Session(app.engine) as s:
        conv = s.scalar(sa.select(col(Conversation.id)).where(Conversation.subject == subject))
    assert conv is not None
    kim, lee = f"Kim{n}", f"Lee{n}"
    for k in signed_in(browser, desk, kim):
        for lp in signed_in(browser, desk, lee):
            yield Agents(app, conv, kim, lee, k.page, lp.page, app_url=desk.url)
            assert not k.errors and not lp.errors
    app.close()


def test_each_sees_who_else_is_here_and_who_types(agents: Agents) -> None:
    a = agents
    a.open(a.lee_page)
    presence = a.lee_page.locator("#presence")
    expect(presence).to_have_text("")  # nobody else yet
    a.open(a.kim_page)
    expect(presence).to_have_text(f"{a.kim} is viewing", timeout=MS)
    expect(presence.locator("span[dir=auto]")).to_have_text(a.kim)
    expect(a.kim_page.locator("#presence")).to_have_text(f"{a.lee} is viewing", timeout=MS)
    a.kim_page.get_by_label("Your reply").press_sequentially("Dear customer")
    expect(presence).to_have_text(f"{a.kim} is typing a reply…", timeout=MS)
    a.kim_page.get_by_label("Internal note (never sent)").press_sequentially("hm")
    expect(presence).to_have_text(f"{a.kim} is writing a note…", timeout=MS)
    a.kim_page.close()  # the tab says it leaves
    expect(presence).to_have_text("", timeout=MS)


def replies_by(app: App, conv: int) -> list[str]:
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(col(Message.text)).join(
            Outbox, Outbox.message_id == Message.id).where(
            Outbox.conversation_id == conv, Outbox.kind == "reply").order_by(Outbox.id)))


def test_a_reply_after_the_others_asks_first_and_goes_only_when_confirmed(
        agents: Agents) -> None:
    a = agents
    a.open(a.kim_page)
    a.open(a.lee_page)
    a.lee_page.get_by_label("Your reply").fill("Lee's answer")
    a.kim_page.get_by_label("Your reply").fill("Kim's answer")
    a.kim_page.get_by_role("button", name="Send reply").click()
    expect(a.kim_page.locator(".message.kind-agent")).to_contain_text("Kim's answer")
    # Lee's screen shows Kim's reply live; Lee, writing, did not take it in.
    expect(a.lee_page.locator(".message.kind-agent")).to_contain_text("Kim's answer",
                                                                      timeout=MS)
    a.lee_page.get_by_role("button", name="Send reply").click()
    question = a.lee_page.locator("#collision")
    expect(question.get_by_role("alert")).to_have_text(
        f"{a.kim} replied meanwhile: send anyway?")
    expect(question).to_contain_text("Kim's answer")
    assert replies_by(a.app, a.conv) == ["Kim's answer"]
    expect(a.lee_page.get_by_label("Your reply")).to_have_value("Lee's answer")
    question.get_by_role("button", name="Send anyway").click()
    expect(a.lee_page.locator(".message.kind-agent")).to_have_count(2)
    expect(question).to_have_text("")
    expect(a.lee_page.get_by_label("Your reply")).to_have_value("")
    assert replies_by(a.app, a.conv) == ["Kim's answer", "Lee's answer"]


def drafts_of(app: App, name: str, conv: int) -> dict[str, str]:
    with Session(app.engine) as s:
        return {box: text for box, text in s.execute(
            sa.select(col(Draft.box), col(Draft.text)).join(Agent, Agent.id == Draft.agent_id)
            .where(Agent.name == name, Draft.conversation_id == conv))}


def until(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)  # polling a condition with a deadline
    pytest.fail(f"not within {WAIT}s: {what}")


def test_a_draft_survives_a_reload_and_a_closed_tab_and_goes_when_sent(
        agents: Agents) -> None:
    a, page = agents, agents.kim_page
    a.open(page)
    box = page.get_by_label("Your reply")
    with page.expect_response(lambda r: r.url.endswith("/draft")):
        box.press_sequentially("Half a thought, سلام")
    page.reload()
    expect(box).to_have_value("Half a thought, سلام")
    page.get_by_label("Internal note (never sent)").fill("typed, then the tab closed")
    context = page.context
    page.close()  # at once: before the save a second after typing
    until(lambda: drafts_of(a.app, a.kim, a.conv).get("note")
          == "typed, then the tab closed", "the note's draft saved as the tab closed")
    again = context.new_page()
    a.open(again)
    expect(again.get_by_label("Internal note (never sent)")).to_have_value(
        "typed, then the tab closed")
    again.get_by_role("button", name="Send reply").click()
    expect(again.locator(".message.kind-agent")).to_contain_text("Half a thought")
    expect(again.get_by_label("Your reply")).to_have_value("")
    assert drafts_of(a.app, a.kim, a.conv) == {"note": "typed, then the tab closed"}
    again.reload()
    expect(again.get_by_label("Your reply")).to_have_value("")
