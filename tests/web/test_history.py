"""The contact's whole history on a conversation's page: their other conversations, on
every channel, oldest first, each opening in place; only those the agent may see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from playwright.sync_api import expect
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.vocab import Role
from inbox.desk import accounts
from inbox.runtime.app import App
from inbox.store.models import Conversation
from tests.peers import free_port
from tests.web.conftest import DeskProcess, Watched
from tests.web.desk_helpers import agent_client, ingest, mail
from tests.web.test_desk_pages import deployment_app

NOW = datetime.now(UTC)


def test_a_conversation_shows_the_contacts_history_across_channels(app: App) -> None:
    ingest(app, mail(1, subject="Parcel 7 is late", at=NOW - timedelta(days=30)))
    ingest(app, mail(2, channel="telegram", text="سلام، بسته من کجاست؟", sender="4242",
                     at=NOW - timedelta(days=2)))
    ingest(app, mail(3, subject="Parcel 7, again", at=NOW - timedelta(hours=1)))
    ingest(app, mail(4, subject="Someone else", sender="bob@example.com", name="Bob"))
    with Session(app.engine) as s, s.begin():  # one person on both channels (merged)
        anna = s.scalar(sa.select(col(Conversation.contact_id)).where(col(Conversation.id) == 1))
        s.execute(sa.update(Conversation).where(col(Conversation.id) == 2)
                  .values(contact_id=anna))
        s.execute(sa.update(Conversation).where(col(Conversation.id) == 1)
                  .values(team="billing"))
    ana = agent_client(app, "ana", Role.SUPERVISOR)
    page = ana.get("/c/3").text
    history = page.split('<section class="history"', 1)[1].split("</section>", 1)[0]
    assert "2 earlier conversations" in history
    assert history.index("Parcel 7 is late") < history.index("سلام، بسته من کجاست؟")
    assert 'hx-get="/c/2/thread"' in history and "Someone else" not in history
    thread = ana.get("/c/2/thread")
    assert thread.status_code == 200 and "سلام، بسته من کجاست؟" in thread.text
    assert 'dir="auto"' in thread.text
    assert '<section class="history"' not in ana.get("/c/4").text  # Bob has no past

    with Session(app.engine) as s, s.begin():
        for team in ("support", "billing"):
            accounts.add_team(s, team, NOW)
    kim = agent_client(app, "kim", teams=("support",))  # not in billing: #1 is not kim's
    page = kim.get("/c/3").text
    history = page.split('<section class="history"', 1)[1]
    assert "1 earlier conversation" in history and "Parcel 7 is late" not in history
    assert kim.get("/c/1/thread").status_code == 404


def test_an_earlier_conversation_opens_in_place_in_the_browser(
        desk: DeskProcess, agent_page: Watched) -> None:
    app, page, tag = deployment_app(desk), agent_page.page, free_port()
    sender = f"h{tag}@example.com"
    try:
        ingest(app, mail(tag, subject=f"Parcel {tag} late", sender=sender,
                         text=f"Gdzie jest paczka {tag}?", at=NOW - timedelta(days=9)),
               mail(tag + 1, subject=f"Parcel {tag} again", sender=sender))
    finally:
        app.close()
    page.goto(desk.url + "/")
    page.locator("#queue-rows a", has_text=f"Parcel {tag} again").click()
    earlier = page.locator(".history details", has_text=f"Parcel {tag} late")
    expect(earlier.locator(".thread")).to_be_empty()  # read only when opened
    earlier.locator("summary").click()
    expect(earlier.locator(".thread .message.in .text")).to_have_text(f"Gdzie jest paczka {tag}?")
