"""Telegram end to end: customers write to a bot on a local Bot API server, the daemon
stores and acknowledges, agents answer from the `inbox` command.

The real `telegram.Bot` talks to tests/channels/telegram/bot_api.py over HTTP; what a test checks
is what the customer sees in the chat (`Sent`) and what the agent sees in the queue.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from inbox.core import tokens
from inbox.runtime.app import App
from inbox.store.blobs import attachment_data
from inbox.store.models import Attachment, Conversation, Event, Message, Outbox
from tests.channels.telegram.bot_api import TOKEN, TelegramDesk
from tests.cli.test_cli import eml, inbox, inbox_json
from tests.peers import running

ACK_SECONDS = 8.0  # a long poll returns as soon as the update exists: this is generous
BOT_ID = TOKEN.split(":", maxsplit=1)[0]

# The local Bot API server and a deployment using it (pytest finds fixtures among
# a module's globals).


def rows(app: App, model: type, **where: object) -> list[Any]:
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(model).filter_by(**where)
                              .order_by(model.id)).all())  # type: ignore[attr-defined]


def ref(message: dict[str, Any]) -> str:
    return f"{BOT_ID}:{message['chat']['id']}:{message['message_id']}"


async def test_a_chat_is_acknowledged_at_once_and_the_agent_reply_arrives_as_a_reply(
        desk: TelegramDesk, tmp_path: Path) -> None:
    app = desk.configure(agents={"kim": {"email": "kim@helpdesk.test"}})
    inbox_json("ingest", str(eml(tmp_path / "mail", "order-by-mail")))
    daemon, connectors = desk.daemon(app)
    [watched] = connectors.values()
    server = desk.server
    async with running(daemon):
        question = server.send(desk.bot, desk.anna,
                               "Dzień dobry! Zamówienie <1234> & pudełko jest zgniecione :(")
        [ack] = await server.sent_messages(1, timeout=ACK_SECONDS)

        queue = await asyncio.to_thread(inbox_json, "queue")
        assert sorted(c["channel"] for c in queue) == ["email", "telegram"]
        [chat] = [c for c in queue if c["channel"] == "telegram"]
        assert chat["contact"]["name"] == "Anna Nowak" and chat["contact"]["address"] == "5551"
        assert chat["subject"] == "Dzień dobry! Zamówienie <1234> & pudełko jest zgniecione :("
        assert chat["language"] == "pl"  # her words, and her app's setting agrees

        # The ack answers her message in her chat, in her language, with no subject line.
        assert (ack.chat_id, ack.reply_to) == (5551, question["message_id"])
        assert ack.text.startswith("Dzień dobry, Anna Nowak! Dziękujemy za wiadomość")
        assert tokens.reference(app.secret, chat["id"]) in ack.text
        assert "Subject" not in ack.text and len(ack.text) < 300

        await asyncio.to_thread(inbox, "reply", str(chat["id"]), "-m",
                                "It ships <today> & arrives Friday.", "--as", "kim")
        reply = (await server.sent_messages(2))[1]
        assert reply.text == "It ships <today> & arrives Friday."
        assert (reply.chat_id, reply.reply_to) == (5551, question["message_id"])

        # She answers the reply: same conversation, no second acknowledgement.
        thanks = server.send(desk.bot, desk.anna, "Thanks!", reply_to=server.bot_message(reply))
        await watched.committed(ref(thanks))
        await desk.attempted(2)
    # (In stored order: Telegram dates have whole seconds, so a quick answer may show
    # beside the reply it answers.)
    stored = rows(app, Message, conversation_id=chat["id"])
    assert [(m.kind, m.delivery) for m in stored] == [
        ("customer", "none"), ("auto-ack", "sent"), ("agent", "sent"), ("customer", "none")]
    assert [m.external_id for m in stored] == [
        ref(question), f"{BOT_ID}:5551:{ack.message_id}", f"{BOT_ID}:5551:{reply.message_id}",
        ref(thanks)]
    assert len(server.sent) == 2


async def test_photos_documents_voice_and_stickers_reach_the_agent(desk: TelegramDesk) -> None:
    app = desk.configure(bots={"support": desk.options(max_file_bytes=5000)})
    daemon, connectors = desk.daemon(app)
    [watched] = connectors.values()
    s, bot, anna = desk.server, desk.bot, desk.anna
    photo_bytes, pdf, ogg = b"\xff\xd8\xff\xe0 JPEG" * 50, b"%PDF-1.7 invoice", b"OggS voice"
    sent = [
        s.send(bot, anna, "The box, as it arrived", photo=s.photo(photo_bytes)),
        s.send(bot, anna, None, document=s.document(pdf, "invoice-1234.pdf", "application/pdf")),
        s.send(bot, anna, None, voice=s.voice(ogg, 67)),
        s.send(bot, anna, None, sticker=s.sticker("😭", "SadCats")),
        s.send(bot, anna, None, location={"latitude": 52.2297, "longitude": 21.0122}),
        s.send(bot, anna, None, document=s.document(b"x" * 6000, "scan.tiff", "image/tiff")),
        # Telegram does not always say how big a file is: it is measured once fetched.
        s.send(bot, anna, None, document=s.document(b"y" * 7000, "log.txt", "text/plain",
                                                    size=None)),
    ]
    async with running(daemon):
        await watched.committed(*(ref(m) for m in sent))
        await desk.attempted(1)
    messages = rows(app, Message, direction="in")
    assert [m.text for m in messages] == [
        "The box, as it arrived",
        "[document: invoice-1234.pdf]",
        "[voice message, 1:07]",
        "[sticker 😭 from SadCats]",
        "[location 52.22970, 21.01220]",
        "[document: scan.tiff]\n[scan.tiff: 6 KB, over the 5 KB limit: not downloaded; "
        "ask the customer for a smaller file or another way]",
        "[document: log.txt]\n[log.txt: 7 KB, over the 5 KB limit: not downloaded; "
        "ask the customer for a smaller file or another way]",
    ]
    files = {a.filename: a for a in rows(app, Attachment)}
    assert sorted(files) == ["invoice-1234.pdf", "photo-u2.jpg", "voice-u4.ogg"]
    for name, data, ctype in [("photo-u2.jpg", photo_bytes, "image/jpeg"),
                              ("invoice-1234.pdf", pdf, "application/pdf"),
                              ("voice-u4.ogg", ogg, "audio/ogg")]:
        a = files[name]
        assert a.content_type == ctype and a.size == len(data) and a.stored
        assert attachment_data(app.blobs, a.sha256, a.stored, None) == data
    assert len(rows(app, Conversation)) == 1 and len(rows(app, Outbox)) == 1


async def test_an_edit_changes_the_message_and_a_deep_link_is_kept(desk: TelegramDesk) -> None:
    app = desk.configure()
    daemon, connectors = desk.daemon(app)
    [watched] = connectors.values()
    s, bot, anna = desk.server, desk.bot, desk.anna
    async with running(daemon):
        start = s.send(bot, anna, "/start order-1234")
        typo = s.send(bot, anna, "My parcel number is 0O1234")
        await watched.committed(ref(start), ref(typo))
        edited = s.edit(bot, typo, "My parcel number is 001234")
        # An edit of a message from before the bot was connected is kept as a message.
        unknown = s.edit(bot, {**typo, "message_id": 99}, "an old message, edited")
        await watched.committed(f"{ref(edited)}:edit:{edited['edit_date']}",
                                f"{ref(unknown)}:edit:{unknown['edit_date']}")
        await desk.attempted(1)
    [conv] = rows(app, Conversation)
    assert conv.attributes == {"start": "order-1234"}
    assert [m.text for m in rows(app, Message, direction="in")] == [
        "/start order-1234", "My parcel number is 001234", "an old message, edited"]
    [edit] = rows(app, Event, kind="edited")
    assert edit.detail["previous"] == "My parcel number is 0O1234"
    assert len(rows(app, Outbox)) == 1  # neither the edit nor the follow-up is acknowledged
    shown = await asyncio.to_thread(inbox, "show", str(conv.id))
    visible = shown.stdout.replace("\u2068", "").replace("\u2069", "")  # bidi isolates
    assert "start=order-1234" in visible


async def test_a_message_after_resolution_opens_a_new_conversation(desk: TelegramDesk) -> None:
    app = desk.configure()
    daemon, connectors = desk.daemon(app)
    [watched] = connectors.values()
    s, bot, anna = desk.server, desk.bot, desk.anna
    async with running(daemon):
        first = s.send(bot, anna, "Where is my parcel?")
        [ack] = await s.sent_messages(1)
        [old] = rows(app, Conversation)
        await asyncio.to_thread(inbox, "status", str(old.id), "resolved")
        again = s.send(bot, anna, "Another question: can I change my address?")
        second_ack = (await s.sent_messages(2))[1]
        # A reply to the old acknowledgement joins the open conversation, not the old one.
        late = s.send(bot, anna, "About that parcel…", reply_to=s.bot_message(ack))
        await watched.committed(ref(first), ref(again), ref(late))
        await desk.attempted(2)
    old_conv, new_conv = rows(app, Conversation)
    assert old_conv.status == "resolved" and new_conv.status == "open"
    assert [m.external_id for m in rows(app, Message, conversation_id=new_conv.id,
                                        direction="in")] == [ref(again), ref(late)]
    assert tokens.reference(app.secret, new_conv.id) in second_ack.text


async def test_a_reopen_window_lets_a_quick_follow_up_reopen(desk: TelegramDesk) -> None:
    app = desk.configure(bots={"support": desk.options(reopen_window_hours=1)})
    daemon, connectors = desk.daemon(app)
    [watched] = connectors.values()
    s, bot, anna = desk.server, desk.bot, desk.anna
    async with running(daemon):
        s.send(bot, anna, "Where is my parcel?")
        await s.sent_messages(1)
        [conv] = rows(app, Conversation)
        for text, date in [("Oh, and one more thing", None),
                           ("Hello again, a new problem", int(time.time() + 7200))]:
            await asyncio.to_thread(inbox, "status", str(conv.id), "resolved")
            await watched.committed(ref(s.send(bot, anna, text, date=date)))
        await desk.attempted(2)
    first, second = rows(app, Conversation)
    assert [m.text for m in rows(app, Message, conversation_id=first.id, direction="in")] == [
        "Where is my parcel?", "Oh, and one more thing"]
    assert [e.kind for e in rows(app, Event, conversation_id=first.id)].count("reopened") == 1
    assert [m.text for m in rows(app, Message, conversation_id=second.id, direction="in")] == [
        "Hello again, a new problem"]


async def test_in_groups_only_what_is_meant_for_the_bot_counts(desk: TelegramDesk) -> None:
    app = desk.configure()
    daemon, connectors = desk.daemon(app)
    [watched] = connectors.values()
    s, bot, anna = desk.server, desk.bot, desk.anna
    group = s.group(-100777, "Acme customers")
    bob, carol = s.user(5552, "Bob"), s.user(5553, "Carol")
    async with running(daemon):
        chatter = s.send(bot, bob, "anyone know when the shop opens?", chat=group)
        asked = s.send(bot, bob, "@acme_support_bot my parcel is lost", chat=group)
        command = s.send(bot, anna, "/help@acme_support_bot", chat=group)
        [ack_bob, _] = await s.sent_messages(2)
        answer = s.send(bot, carol, "same here!", chat=group, reply_to=s.bot_message(ack_bob))
        await watched.committed(ref(asked), ref(command), ref(answer))
        await desk.attempted(2)
    assert ref(chatter) not in {m.external_id for m in rows(app, Message)}
    assert (ack_bob.chat_id, ack_bob.reply_to) == (-100777, asked["message_id"])
    bobs, annas = rows(app, Conversation)
    assert bobs.thread_key == "-100777/5552" and annas.thread_key == "-100777/5551"
    assert [m.text for m in rows(app, Message, conversation_id=bobs.id, direction="in")] == [
        "@acme_support_bot my parcel is lost", "same here!"]



@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
async def test_an_update_nobody_can_read_is_kept_for_a_human(desk: TelegramDesk) -> None:
    app = desk.configure()
    s, bot, anna = desk.server, desk.bot, desk.anna
    chat = {"id": 5551, "type": "private", "first_name": "Anna"}
    s.send(bot, anna, "Before")
    # python-telegram-bot cannot read this one; the next one it reads, but it has no chat.
    s.raw_update(bot, {"message": {"message_id": 50, "from": anna, "chat": chat,
                                   "date": "yesterday", "text": "broken date"}})
    s.raw_update(bot, {"message": {"message_id": 51, "from": anna, "date": 1_790_000_000,
                                   "text": "no chat"}})
    s.send(bot, anna, "After")
    daemon, _ = desk.daemon(app)
    await daemon.run_once()
    await daemon.run_once()  # the bot goes on past them
    assert bot.updates == []
    messages = rows(app, Message, direction="in")
    assert [(m.text, bool(m.problems)) for m in messages] == [
        ("Before", False), ("broken date", True), ("no chat", True), ("After", False)]
    kept = rows(app, Attachment)
    assert [a.filename for a in kept] == ["telegram-update.json"] * 2
    assert b'"broken date"' in (attachment_data(app.blobs, kept[0].sha256, True, None) or b"")
    assert len(s.sent) == 1  # Anna's conversation is acknowledged once; nothing else


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
async def test_after_a_quiet_week_renumbered_updates_still_arrive(desk: TelegramDesk) -> None:
    app = desk.configure()
    s, bot, anna = desk.server, desk.bot, desk.anna
    s.send(bot, anna, "Hello")
    daemon, connectors = desk.daemon(app)
    await daemon.run_once()
    await daemon.run_once()  # confirms it
    # A week without updates: Telegram may number the next one below our cursor.
    [watched] = connectors.values()
    watched.inner.clock = lambda: datetime.now(UTC) + timedelta(days=7)  # type: ignore[attr-defined]
    bot.next_update = 5
    s.send(bot, anna, "Hello again, a week later")
    await daemon.run_once()
    assert [m.text for m in rows(app, Message, direction="in")] == [
        "Hello", "Hello again, a week later"]

@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
async def test_a_revoked_token_stops_that_bot_loudly(desk: TelegramDesk,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    from channels.base import AuthError

    monkeypatch.setenv("INBOX_TEST_TELEGRAM_OLD", "7099:TEST-revoked-token-00000000000")
    app = desk.configure(bots={"support": desk.options(token_env="INBOX_TEST_TELEGRAM_OLD")})
    daemon, connectors = desk.daemon(app)
    [watched] = connectors.values()
    async with running(daemon) as task:
        await watched.failed(AuthError)
        assert not task.done()  # the daemon goes on; only this bot stopped
    assert "credentials refused; this account is stopped" in caplog.text
    assert "@BotFather" in caplog.text and "TEST-revoked-token" not in caplog.text



@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
async def test_groups_can_be_heard_in_full_or_not_at_all(desk: TelegramDesk) -> None:
    s, bot = desk.server, desk.bot
    group, bob = s.group(-100777, "Acme customers"), s.user(5552, "Bob")
    for groups, stored in [("off", []), ("all", ["when does the shop open?"])]:
        app = desk.configure(bots={"support": desk.options(groups=groups)})
        s.send(bot, bob, "when does the shop open?", chat=group)
        daemon, _ = desk.daemon(app)
        await daemon.run_once()
        assert [m.text for m in rows(app, Message, direction="in")] == stored
        await daemon.run_once()  # skipped or stored, the next fetch is past it
        assert bot.updates == []


@pytest.mark.parametrize(("options", "env", "error"), [
    ({"token": "7001:abc"}, {}, "never put the bot token in inbox.toml"),
    ({}, {}, "set token_env or token_file"),
    ({"token_env": "NOPE"}, {}, "token_env: NOPE is not set"),
    ({"token_env": "T"}, {"T": "not a token"}, "does not look like 123456:ABC"),
    ({"token_env": "T", "mode": "webhook"}, {"T": TOKEN}, "needs a [channels.telegram"),
    ({"token_env": "T", "groups": "some"}, {"T": TOKEN}, "groups: Input should be"),
    ({"token_env": "T", "mode": "webhook", "webhook": {"url": "https://x.example/t",
                                                        "listen": "127.0.0.1:8443"}},
     {"T": TOKEN}, "webhook.listen is gone: the webhook is served on the desk's address"),
    ({"token_env": "T", "mode": "webhook", "webhook": {"url": "https://x.example"}},
     {"T": TOKEN}, "webhook.url needs a path of its own"),
])
def test_configuration_mistakes_are_named(options: dict[str, Any], env: dict[str, str],
                                          error: str, tmp_path: Path) -> None:
    from channels.telegram.connector import TelegramConfigError, build

    with pytest.raises(TelegramConfigError) as raised:
        build("support", options, base_dir=tmp_path, env=env)
    assert error in str(raised.value)
    assert TOKEN not in str(raised.value)


def test_the_token_can_come_from_a_file(tmp_path: Path) -> None:
    from channels.telegram.connector import build

    (tmp_path / "support.token").write_text(TOKEN + "\n")
    connector = build("support", {"token_file": "support.token"}, base_dir=tmp_path, env={})
    assert connector.bot_id == 7001 and connector.bot.token == TOKEN
