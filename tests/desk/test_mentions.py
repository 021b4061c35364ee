"""Mentioning a colleague in an internal note (inbox.desk.mentions), on both databases:
who is told through the outbox, who is not and why, and what the notice says."""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.vocab import Role
from inbox.desk import accounts, mentions, views
from inbox.desk.words import event_words
from inbox.runtime.app import App
from inbox.store.models import Conversation, Message, Outbox
from tests.web.desk_helpers import FAST, agent_client, ingest, mail

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.fixture
def shop(app: App) -> Iterator[App]:
    """Agents of the support team and of billing, a supervisor, a disabled agent, and
    a support conversation."""
    settings = app.settings.model_copy(update={"channels": {"email": {"support": {}}}})
    configured = App(settings)
    with Session(configured.engine) as s, s.begin():
        for team in ("support", "billing"):
            accounts.add_team(s, team, NOW)
        for name, role, teams in (("ana", Role.AGENT, ("support",)),
                                  ("kim", Role.AGENT, ("support",)),
                                  ("lee", Role.AGENT, ("billing",)),
                                  ("sue", Role.SUPERVISOR, ()),
                                  ("dan", Role.AGENT, ("support",))):
            agent = accounts.add_agent(s, email=f"{name}@shop.example", name=name,
                                       role=role, password=None, now=NOW, teams=teams,
                                       hasher=FAST)
        accounts.set_enabled(s, agent, False, NOW)  # dan has left
    ingest(configured, mail(1, subject="Refund please", name="Anna Nowak"), now=NOW)
    with Session(configured.engine) as s, s.begin():
        s.execute(sa.update(Conversation).values(team="support"))
    yield configured
    configured.close()


def note(app: App, text: str, author: str = "ana") -> Any:
    with Session(app.engine, expire_on_commit=False) as s, s.begin():
        return mentions.note(s, 1, text, author=author, now=NOW, tell=app.mentions)


def notices(app: App) -> dict[str, str]:
    with Session(app.engine) as s:
        rows = s.execute(sa.select(Outbox.recipient, Message.text)  # type: ignore[call-overload]
                         .join(Message, col(Message.id) == col(Outbox.message_id))
                         .where(col(Outbox.kind) == "notify")).all()
    return {recipient: text for recipient, text in rows}


def test_a_mention_tells_the_colleagues_who_may_see_the_conversation(shop: App) -> None:
    written = note(shop, "@kim, @Sue: the courier says (@lee) it left.\n"
                         "Ask @dan or @nobody; write to x@kim.example, not @ana.")
    assert written.kind == "note" and written.author == "ana"
    told = notices(shop)
    assert sorted(told) == ["kim@shop.example", "sue@shop.example"]
    assert "the courier says (@lee) it left." in told["kim@shop.example"]
    assert "ana mentioned you" in told["kim@shop.example"]
    with Session(shop.engine) as s:
        shown = views.conversation(s, 1, NOW, shop.secret)
    assert shown is not None
    [event] = [e for e in shown["events"] if e["kind"] == "note.mentioned"]
    assert event["detail"] == {
        "note": written.id, "by": "ana", "mentioned": ["kim", "sue", "lee", "dan"],
        "notified": ["email:kim@shop.example", "email:sue@shop.example"],
        "not_told": {"lee": "cannot see this conversation", "dan": "disabled"}}
    words = event_words(event, zoneinfo.ZoneInfo("UTC"))
    assert words.replace("\u2068", "").replace("\u2069", "") == (  # names isolated
        "ana mentioned kim, sue, lee, dan in a note; told email:kim@shop.example, "
        "email:sue@shop.example; not told: lee (cannot see this conversation), "
        "dan (disabled)")


def test_a_note_without_mentions_tells_nobody(shop: App) -> None:
    note(shop, "Called the courier; e-mail them at help@courier.example.")
    assert notices(shop) == {}
    with Session(shop.engine) as s:
        shown = views.conversation(s, 1, NOW, shop.secret)
    assert shown is not None
    assert "note.mentioned" not in [e["kind"] for e in shown["events"]]


def test_names_in_every_script_are_found_and_case_does_not_matter() -> None:
    known = ["kim", "Somchai.K", "ناهید", "Đức"]
    assert mentions.mentioned("ถาม @somchai.k ด้วย, @ناهید و @đức!", known, "ana") == [
        "Somchai.K", "ناهید", "Đức"]
    assert mentions.mentioned("@kim @kim @KIM", known, "kim") == []  # not oneself


def test_inbox_note_mentions_from_a_shell(shop: App) -> None:
    from tests.cli.test_cli import inbox

    done = inbox("note", "1", "-m", "@kim the label is printed", "--as", "ana", "--json")
    assert json.loads(done.stdout)["message_id"]
    # This deployment's inbox.toml has no e-mail account to tell kim from: the trail
    # says so, rather than nothing.
    with Session(shop.engine) as s:
        shown = views.conversation(s, 1, NOW, shop.secret)
    assert shown is not None
    [event] = [e for e in shown["events"] if e["kind"] == "note.mentioned"]
    assert event["detail"]["not_told"] == {
        "kim": "no [channels.email] account to tell them from"}
    empty = inbox("note", "1", "-m", "  ", "--as", "ana", ok=False)
    assert (empty.exit_code, empty.output) == (1, "inbox: the note is empty\n")


def test_a_note_from_the_desk_tells_whom_it_mentions(shop: App) -> None:
    ola = agent_client(shop, "ola", teams=("support",))
    page = ola.post("/c/1/note", data={"text": "@Kim: can you call her?"})
    assert page.status_code == 200
    trail = ola.get("/c/1/trail").text
    assert "ola mentioned" in trail.replace("\u2068", "").replace("\u2069", "")
    assert list(notices(shop)) == ["kim@shop.example"]
