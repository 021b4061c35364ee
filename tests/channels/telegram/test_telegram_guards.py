"""Odd updates never stop a bot: each is stored (flagged when we cannot read it as a
message) or refused with a reason, and the updates behind it are stored and acknowledged.

Every test runs through the real connector against the local Bot API server, polling and
webhook, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from inbox.ingest.storable import MAX_TEXT
from inbox.runtime.app import App
from inbox.store.blobs import attachment_data
from inbox.store.models import Attachment, Conversation, Event, Message
from tests.channels.telegram.bot_api import TelegramDesk
from tests.peers import free_port, running

# The local Bot API server and a deployment using it (pytest finds fixtures among
# a module's globals).
JSON = dict[str, Any]


@pytest.fixture(params=["polling", "webhook"])
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def configure(desk: TelegramDesk, mode: str, **options: Any) -> App:
    port = free_port()  # the desk's, where the webhook is served
    if mode == "webhook":
        options.update(mode="webhook",
                       webhook={"url": f"http://127.0.0.1:{port}/telegram/support"})
    return desk.configure(bots={"support": desk.options(**options)},
                          web={"listen": f"127.0.0.1:{port}"})


def rows(app: App, model: type, **where: object) -> list[Any]:
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(model).filter_by(**where)
                              .order_by(model.id)).all())  # type: ignore[attr-defined]


def inbound(app: App) -> list[tuple[str, bool]]:
    """What customers wrote, as stored: (text, flagged)."""
    return [(m.text, bool(m.problems)) for m in rows(app, Message, direction="in")]


def kept_update(app: App, message: Message) -> JSON:
    [a] = rows(app, Attachment, message_id=message.id)
    assert a.filename == "telegram-update.json"
    data = attachment_data(app.blobs, a.sha256, a.stored, None)
    assert data is not None
    loaded: JSON = json.loads(data)
    return loaded


def private(desk: TelegramDesk, message_id: int, **fields: Any) -> JSON:
    """A message in Anna's private chat, as Telegram would send it, with `fields` over it."""
    anna = desk.anna
    chat = {"id": anna["id"], "type": "private", "first_name": anna["first_name"]}
    return {"message_id": message_id, "from": anna, "chat": chat, "date": 1_790_000_000,
            **fields}


def ref(message: JSON) -> str:
    return f"7001:{message['chat']['id']}:{message['message_id']}"


async def settle(desk: TelegramDesk, after: JSON | str, acks: int) -> None:
    """Run the daemon until the customer's last message (or this external id) is in
    and `acks` acknowledgements went out."""
    daemon, connectors = desk.daemon(desk.apps[-1])
    [watched] = connectors.values()
    async with running(daemon):
        await watched.committed(after if isinstance(after, str) else ref(after))
        await desk.attempted(acks)


async def test_a_message_of_a_kind_we_do_not_know_is_kept_flagged(
        desk: TelegramDesk, mode: str) -> None:
    app = configure(desk, mode)
    s, bot, anna = desk.server, desk.bot, desk.anna
    # Telegram invents a new kind of message; neither we nor our library know it.
    s.raw_update(bot, {"message": private(desk, 40, hologram={"id": "h-1", "seconds": 3})})
    # One our library knows but we do not take apart (a bot of ours sends no invoices).
    s.raw_update(bot, {"message": private(desk, 42, successful_payment={
        "currency": "XTR", "total_amount": 5, "invoice_payload": "p",
        "telegram_payment_charge_id": "c", "provider_payment_charge_id": "d"})})
    # A real service message (she set the chat's auto-delete timer) stays out of the queue.
    s.raw_update(bot, {"message": private(
        desk, 41, message_auto_delete_timer_changed={"message_auto_delete_time": 86400})})
    after = s.send(bot, anna, "Did you get my hologram?")
    await settle(desk, after, acks=1)
    assert sorted(inbound(app)) == [  # (webhook posts arrive in parallel: any order)
        ("Did you get my hologram?", False),
        ("[a message inbox cannot show (hologram): the update is attached]", True),
        ("[a message inbox cannot show (successful_payment): the update is attached]", True)]
    [first] = [m for m in rows(app, Message, direction="in") if "hologram)" in m.text]
    assert first.external_id == "7001:5551:40"
    assert kept_update(app, first)["message"]["hologram"] == {"id": "h-1", "seconds": 3}
    [conv] = rows(app, Conversation)
    assert "needs-attention" in conv.tags
    assert len(s.sent) == 1  # flagged: not acknowledged; her next message is


@pytest.mark.parametrize("odd", [
    {"text": 12345},  # a number where text belongs
    {"from": "anna", "text": "who am I?"},  # a string where a user belongs
    {"date": 10**14, "text": "from the year 3 million"},  # past any datetime
    {"entities": "bold", "text": "bold?"},  # a string where a list belongs
    {"chat": {"id": "abc", "type": "private"}, "text": "odd chat"},
], ids=["text-number", "from-string", "date-overflow", "entities-string", "chat-id-string"])
async def test_an_update_with_fields_of_unexpected_types_is_kept_and_the_bot_goes_on(
        desk: TelegramDesk, mode: str, odd: JSON) -> None:
    app = configure(desk, mode)
    s, bot, anna = desk.server, desk.bot, desk.anna
    s.raw_update(bot, {"message": private(desk, 40, **odd)})
    after = s.send(bot, anna, "Hello?")
    await settle(desk, after, acks=1)
    stored = inbound(app)  # (webhook posts arrive in parallel: any order)
    assert ("Hello?", False) in stored and sorted(f for _, f in stored) == [False, True]
    assert len(s.sent) == 1


async def test_an_update_that_is_not_a_message_object_is_kept(
        desk: TelegramDesk, mode: str) -> None:
    app = configure(desk, mode)
    s, bot, anna = desk.server, desk.bot, desk.anna
    odd = s.raw_update(bot, {"message": "hello as a bare string"})
    after = s.send(bot, anna, "Hello?")
    await settle(desk, after, acks=1)
    assert sorted(inbound(app)) == [("", True), ("Hello?", False)]
    [first] = [m for m in rows(app, Message, direction="in") if m.problems]
    assert first.external_id == f"7001:update:{odd}"
    assert kept_update(app, first)["message"] == "hello as a bare string"


async def test_an_update_id_far_ahead_is_stored_and_those_after_it_too(
        desk: TelegramDesk, mode: str) -> None:
    app = configure(desk, mode)
    s, bot, anna = desk.server, desk.bot, desk.anna
    s.raw_update(bot, {"update_id": 2**62, "message": private(desk, 40, text="far ahead")})
    after = s.send(bot, anna, "and the next one")
    await settle(desk, after, acks=1)
    assert sorted(inbound(app)) == [("and the next one", False), ("far ahead", False)]


async def test_a_huge_list_of_entities_is_stored(desk: TelegramDesk, mode: str) -> None:
    app = configure(desk, mode)
    s, bot, anna = desk.server, desk.bot, desk.anna
    group = s.group(-100777, "Acme customers")
    text = "@acme_support_bot " + "word " * 20_000
    entities = [{"type": "mention", "offset": 0, "length": 17}, *(
        {"type": "bold", "offset": 18 + 5 * i, "length": 4} for i in range(20_000))]
    heavy = s.send(bot, anna, text, chat=group, entities=entities)
    await settle(desk, heavy, acks=1)
    assert inbound(app) == [(text, False)]


async def test_a_megabyte_of_text_is_stored_when_polled_and_refused_by_the_webhook(
        desk: TelegramDesk, mode: str) -> None:
    app = configure(desk, mode)
    s, bot, anna = desk.server, desk.bot, desk.anna
    giant = "a" * (1024 * 1024)
    s.send(bot, anna, giant)
    after = s.send(bot, anna, "Hello?")
    await settle(desk, after, acks=1)
    if mode == "polling":  # stored, cut where no person writes on, and flagged
        assert inbound(app) == [(giant[:MAX_TEXT], True), ("Hello?", False)]
    else:  # not from Telegram (its messages hold 4096 characters): refused with a reason
        assert 413 in s.webhook_answers
        assert inbound(app) == [("Hello?", False)]


async def test_an_edit_of_a_message_we_never_saw_is_stored_without_an_ack(
        desk: TelegramDesk, mode: str) -> None:
    app = configure(desk, mode)
    s, bot = desk.server, desk.bot
    bob = s.user(5552, "Bob")
    # Bob wrote before the bot was connected, and now corrects that message twice.
    old = {**s.send(bot, bob, "draft"), "message_id": 7}
    bot.updates.clear()  # the original never reached us
    s.edit(bot, old, "My parcel 0O1 is late", date=1_790_000_100)
    s.edit(bot, old, "My parcel 001 is late", date=1_790_000_200)
    await settle(desk, f"{ref(old)}:edit:1790000200", acks=0)
    [message] = rows(app, Message, direction="in")
    assert (message.text, message.external_id) == ("My parcel 001 is late", "7001:5552:7")
    kinds = [e.kind for e in rows(app, Event, message_id=message.id)]
    assert "edit.unseen" in kinds and kinds.count("edited") == 1
    assert s.sent == []
    # When he writes anew, that is acknowledged as any first message is.
    fresh = s.send(bot, bob, "Hello, anyone there?")
    await settle(desk, fresh, acks=1)
    assert [m.chat_id for m in s.sent] == [5552]


async def test_nul_in_a_chat_is_stored_flagged_and_the_next_customer_is_acked(
        desk: TelegramDesk, mode: str) -> None:
    """JSON may carry `\\u0000`, which PostgreSQL's text type refuses: such an update
    stalled the bot there, as NUL mail did, until stored forms were made safe."""
    app = configure(desk, mode)
    s, bot = desk.server, desk.bot
    s.send(bot, desk.anna, "hel\x00lo there")
    after = s.send(bot, s.user(5552, "Ben", "Tran", language_code="en"), "Where is my parcel?")
    await settle(desk, after, acks=1)
    assert inbound(app) == [("hel\ufffdlo there", True), ("Where is my parcel?", False)]
    assert [m.chat_id for m in s.sent] == [5552]
