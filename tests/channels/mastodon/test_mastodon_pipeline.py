"""Mentions through the whole pipeline, on SQLite and PostgreSQL: the daemon in burst
mode (`inbox run --once`'s loop) reads them from the local server, stores them as
conversations, and posts the acknowledgement in public, without a reference."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from inbox.core import tokens
from inbox.core.config import load_settings
from inbox.runtime.app import App
from inbox.runtime.connectors import build_connectors
from inbox.runtime.daemon import Daemon
from inbox.store.models import Conversation, Event, Message
from tests.channels.mastodon.server import (
    TOKEN,
    TOKEN_ENV,
    MastodonServer,
    configure,
    options,
)

JSON = dict[str, Any]


@pytest.fixture
def people(mastodon: MastodonServer, monkeypatch: pytest.MonkeyPatch) -> tuple[JSON, JSON]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return (mastodon.account("support", "Acme Support", token=TOKEN),
            mastodon.account("ana", "Ana Kowalska", host="elsewhere.test"))


async def burst(app: App) -> None:
    daemon = Daemon(app, build_connectors(app.settings))
    try:
        await daemon.run_once()
    finally:
        for connector in daemon.connectors.values():
            await connector.close()


def rows(app: App, model: type, **where: object) -> list[Any]:
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(model).filter_by(**where)
                              .order_by(model.id)).all())  # type: ignore[attr-defined]


async def test_a_mention_becomes_a_conversation_acknowledged_in_its_thread(
        app: App, mastodon: MastodonServer, people: tuple[JSON, JSON]) -> None:
    us, ana = people
    deployed = App(load_settings(configure(app.settings.base_dir, mastodon)))
    await burst(deployed)  # the first start: nothing yet, later mentions are new
    question = mastodon.mention(ana, us, "Gdzie jest moje zamówienie 1234?", language="pl")
    await burst(deployed)

    [conv] = rows(deployed, Conversation)
    assert (conv.channel, conv.account, conv.subject) == (
        "mastodon", "support", "Gdzie jest moje zamówienie 1234?")
    assert conv.attributes == {"visibility": "public"} and conv.sla_due_at is not None
    [ack] = mastodon.posted
    assert ack.in_reply_to_id == question["id"] and ack.visibility == "public"
    assert ack.text.startswith("@ana@elsewhere.test Dzień dobry, Ana Kowalska!")
    assert tokens.reference(deployed.secret, conv.id) not in ack.text and "#" not in ack.text

    # Ana answers our ack, Bob joins her thread: the same conversation, no second ack.
    again = mastodon.mention(ana, us, "Thanks!", in_reply_to=ack.status)
    await burst(deployed)
    assert [c.id for c in rows(deployed, Conversation)] == [conv.id]
    assert [m.external_id for m in rows(deployed, Message, direction="in")] == [
        question["id"], again["id"]]
    assert len(mastodon.posted) == 1
    deployed.close()


async def test_two_customers_in_one_thread_are_two_conversations(
        app: App, mastodon: MastodonServer, people: tuple[JSON, JSON]) -> None:
    """Anyone may answer a public thread: Bob joining Ana's gets a conversation (and an
    ack) of his own, so an agent answering Ana never writes to Bob; both are linked."""
    us, ana = people
    bob = mastodon.account("bob", "Bob Reyes", host="elsewhere.test")
    deployed = App(load_settings(configure(app.settings.base_dir, mastodon)))
    await burst(deployed)
    question = mastodon.mention(ana, us, "Where is order 1234? It is late.")
    await burst(deployed)
    mastodon.mention(bob, us, "Same here, my order 99 is late too!", in_reply_to=question)
    mastodon.mention(ana, us, "Any news on 1234?", in_reply_to=question)
    await burst(deployed)
    convs = {c.contact_id: c.id for c in rows(deployed, Conversation)}
    assert len(convs) == 2
    by_conv = {c: sorted(m.sender for m in rows(deployed, Message, direction="in",
                                               conversation_id=c)) for c in convs.values()}
    assert sorted(by_conv.values()) == [["ana@elsewhere.test", "ana@elsewhere.test"],
                                        ["bob@elsewhere.test"]]
    assert sorted(p.text.split()[0] for p in mastodon.posted) == [
        "@ana@elsewhere.test", "@bob@elsewhere.test"]
    assert {e.conversation_id for e in rows(deployed, Event, kind="linked")} == set(
        convs.values())
    deployed.close()


async def test_public_ack_off_posts_nothing_and_the_clock_still_runs(
        app: App, mastodon: MastodonServer, people: tuple[JSON, JSON]) -> None:
    us, ana = people
    deployed = App(load_settings(configure(
        app.settings.base_dir, mastodon,
        {"support": options(mastodon, public_ack=False)})))
    await burst(deployed)
    mastodon.mention(ana, us, "Hello?")
    await burst(deployed)
    [conv] = rows(deployed, Conversation)
    assert mastodon.posted == [] and conv.sla_due_at is not None
    [why] = rows(deployed, Event, conversation_id=conv.id, kind="ack.suppressed")
    assert "public_ack = false" in why.detail["reason"]
    deployed.close()


async def test_a_direct_mention_is_acknowledged_directly_and_bots_never(
        app: App, mastodon: MastodonServer, people: tuple[JSON, JSON]) -> None:
    us, ana = people
    bot = mastodon.account("newsbot", "News", bot=True, host="bots.test")
    deployed = App(load_settings(configure(app.settings.base_dir, mastodon)))
    await burst(deployed)
    private = mastodon.mention(ana, us, "My address is private", visibility="direct")
    mastodon.mention(bot, us, "Daily digest")
    await burst(deployed)
    [ack] = mastodon.posted
    assert (ack.in_reply_to_id, ack.visibility) == (private["id"], "direct")
    robot = next(c for c in rows(deployed, Conversation) if c.subject == "Daily digest")
    assert "automated" in (robot.tags or [])
    deployed.close()
