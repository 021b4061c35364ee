"""Canned answers in Chromium, against a real `inbox run`: an admin adds an answer with
a Polish version on the admins' page; an agent types "/ref" in a Polish conversation's
reply box, presses Enter, and the box holds the Polish text with the customer's name,
which is what the reply sends."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from playwright.sync_api import expect
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.store.models import Conversation, Message, Outbox
from tests.peers import free_port
from tests.web.conftest import DeskProcess, Watched, add_agent, axe_violations, sign_in
from tests.web.desk_helpers import ingest, mail
from tests.web.test_desk_pages import deployment_app

POLISH = "Dzień dobry, {{ customer_first_name }}!\nZwrot jest już w drodze. {{ reference }}"


def test_an_agent_puts_the_polish_answer_in_with_slash_and_enter(
        desk: DeskProcess, axe_page: Watched, agent_page: Watched) -> None:
    admin = axe_page.page  # (axe is injected: this one page bypasses the CSP)
    email, password = add_agent(desk, f"Root{free_port()}", role="admin")
    sign_in(admin, desk.url, email, password)
    admin.get_by_role("link", name="Canned answers").click()
    for language, body in (("", "Hello {{ customer_first_name }}, your refund is on its "
                                 "way."), ("pl", POLISH)):
        admin.get_by_label("Name (typed after /)").fill("refund-status")
        admin.get_by_label("Language (empty: the fallback version)").fill(language)
        admin.get_by_label("Text").fill(body)
        admin.get_by_role("button", name="Add").click()
        expect(admin.locator(".canned-list tbody tr")).to_have_count(2 if language else 1)
    assert axe_violations(admin) == []

    app = deployment_app(desk)
    n = free_port()
    ingest(app, replace(mail(n, subject=f"Zwrot {n}", name="Anna Nowak",
                             sender=f"c{n}@example.com",
                             text="Dzień dobry, kiedy dostanę zwrot pieniędzy?"),
                        language="pl"))
    with Session(app.engine) as s:
        cid = s.scalar(sa.select(col(Conversation.id)).where(
            Conversation.subject == f"Zwrot {n}"))
    agent = agent_page.page
    agent.goto(f"{desk.url}/c/{cid}")
    box = agent.get_by_label("Your reply")
    box.press_sequentially("/ref")
    options = agent.get_by_role("listbox", name="Canned answers").get_by_role("option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", "canned-option-0")
    box.press("Enter")
    expect(options).to_have_count(0)
    text = box.input_value()
    assert text.startswith(f"Dzień dobry, Anna!\nZwrot jest już w drodze. [#{cid}-"), text
    agent.get_by_role("button", name="Send reply").click()
    expect(agent.locator(".message.kind-agent")).to_contain_text("Zwrot jest już w drodze.")
    with Session(app.engine) as s:
        sent = s.execute(sa.select(col(Message.text)).join(
            Outbox, col(Outbox.message_id) == col(Message.id)).where(
            col(Outbox.conversation_id) == cid, col(Outbox.kind) == "reply")).scalars().all()
    assert sent == [text]
    assert not agent_page.errors and not axe_page.errors and not agent_page.console_errors()
    app.close()
