"""Telegram sends: long answers, HTML-special text, flood control, blocked users, several
bots, and a log that never shows a bot token."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from channels.base import PermanentError
from inbox.desk import actions
from inbox.outbox.dispatcher import Dispatcher
from inbox.runtime.app import App, utcnow
from inbox.store.models import Event, Identity, Message, Outbox
from tests.channels.telegram.bot_api import TOKEN, TelegramDesk, utf16_len
from tests.cli.test_cli import inbox, inbox_json
from tests.peers import running

# The local Bot API server and a deployment using it (pytest finds fixtures among
# a module's globals).


def rows(app: App, model: type, **where: object) -> list[Any]:
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(model).filter_by(**where)
                              .order_by(model.id)).all())  # type: ignore[attr-defined]


def reply(app: App, conversation_id: int, text: str) -> None:
    with Session(app.engine) as s, s.begin():
        actions.reply(s, conversation_id, text, author="kim", now=utcnow(),
                      secret=app.secret, domain=app.settings.domain)


async def test_a_long_answer_arrives_in_parts_exactly_as_written(desk: TelegramDesk) -> None:
    app = desk.configure()
    daemon, _ = desk.daemon(app)
    s = desk.server
    # Characters HTML would eat, and emoji that count twice in Telegram's UTF-16 limit.
    paragraphs = [f"Step {i}: if a < b && c > d, press <Enter> 😀 " + "then wait. " * 90
                  for i in range(1, 10)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    async with running(daemon):
        question = s.send(desk.bot, desk.anna, "How do I reset the router?")
        await s.sent_messages(1)
        [conv_id] = [m.conversation_id for m in rows(app, Message, direction="in")]
        reply(app, conv_id, text)
        daemon.dispatcher.wake.set()
        parts = (await s.sent_messages(4))[1:]
        await desk.attempted(2)
    assert len(parts) == 3
    assert all(utf16_len(p.text) <= 4096 for p in parts)
    assert "\n\n".join(p.text for p in parts) == text  # cut between paragraphs, nothing lost
    assert [p.reply_to for p in parts] == [question["message_id"], None, None]
    [sent] = rows(app, Message, kind="agent")
    assert sent.delivery == "sent" and sent.external_id.endswith(f":{parts[0].message_id}")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
async def test_flood_control_is_honoured(desk: TelegramDesk) -> None:
    app = desk.configure()
    daemon, connectors = desk.daemon(app)
    s = desk.server
    s.fail("sendMessage", 429, "Too Many Requests: retry after 30", {"retry_after": 30})
    s.send(desk.bot, desk.anna, "Hello?")
    before = utcnow()
    await daemon.run_once()  # fetch, store, try the ack once: Telegram says wait 30 s
    [row] = rows(app, Outbox)
    assert row.state == "pending" and row.attempts == 1
    assert "flood control" in (row.last_error or "")
    assert row.next_attempt_at >= before + timedelta(seconds=30)
    assert s.sent == []
    too_soon = Dispatcher(app.engine, connectors, app.settings.outbox,
                          lambda: before + timedelta(seconds=20))
    assert await too_soon.drain_once() == []
    later = Dispatcher(app.engine, connectors, app.settings.outbox,  # when it said
                       lambda: row.next_attempt_at)
    assert [a.outcome for a in await later.drain_once()] == ["sent"]
    assert len(s.sent) == 1


async def test_a_customer_who_blocked_the_bot_is_marked_unreachable(desk: TelegramDesk) -> None:
    app = desk.configure(agents={"kim": {"email": "kim@helpdesk.test"}})
    daemon, connectors = desk.daemon(app)
    [watched] = connectors.values()
    s = desk.server
    s.block(desk.bot, 5551)
    s.send(desk.bot, desk.anna, "Never mind, bye")
    await daemon.run_once()  # fetch, store, try the ack: Telegram answers 403
    assert isinstance(watched.send_errors[0], PermanentError)
    await daemon.run_once()  # nothing is tried again
    reason = "Telegram: Forbidden: bot was blocked by the user"
    [row] = rows(app, Outbox)
    assert (row.state, row.attempts, row.last_error) == ("dead", 1, reason)
    [identity] = rows(app, Identity, channel="telegram", address="5551")
    assert identity.unreachable == reason
    [dead] = rows(app, Event, kind="ack.dead")
    assert dead.detail["error"] == reason
    [shown] = inbox_json("outbox")
    assert (shown["state"], shown["last_error"]) == ("dead", reason)
    refused = inbox("reply", str(row.conversation_id), "-m", "Hello?", "--as", "kim",
                    ok=False)
    assert refused.exit_code == 1
    assert "cannot be reached on telegram" in refused.stderr and "blocked" in refused.stderr
    assert len([c for c in s.calls if c.method == "sendMessage"]) == 1  # not retried

    # She unblocks the bot and writes again: that proves the chat works; she is answered.
    s.blocked.clear()
    s.send(desk.bot, desk.anna, "Sorry, I blocked you by mistake")
    await daemon.run_once()
    inbox("reply", str(row.conversation_id), "-m", "No problem! How can we help?", "--as",
          "kim")
    await daemon.run_once()
    assert [m.text for m in s.sent] == ["No problem! How can we help?"]
    assert rows(app, Identity, channel="telegram", address="5551")[0].unreachable is None
    assert len(rows(app, Event, kind="reachable")) == 1


async def test_two_bots_answer_each_from_their_own(desk: TelegramDesk,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sales_token = "7002:TEST-sales-bot-token-00000000000"
    monkeypatch.setenv("INBOX_TEST_TELEGRAM_SALES", sales_token)
    sales = desk.server.add_bot(sales_token, "acme_sales_bot")
    app = desk.configure(bots={"support": desk.options(),
                               "sales": desk.options(token_env="INBOX_TEST_TELEGRAM_SALES")})
    daemon, _ = desk.daemon(app)
    s = desk.server
    async with running(daemon):
        s.send(desk.bot, desk.anna, "My router is broken")
        s.send(sales, desk.anna, "Do you sell routers in bulk?")
        acks = await s.sent_messages(2)
        by_account = {m.account: m.conversation_id
                      for m in rows(app, Message, direction="in")}
        reply(app, by_account["sales"], "Yes: 10% off from 20 units.")
        daemon.dispatcher.wake.set()
        answered = (await s.sent_messages(3))[2]
        await desk.attempted(3)
    assert sorted(a.bot for a in acks) == ["acme_sales_bot", "acme_support_bot"]
    assert (answered.bot, answered.chat_id) == ("acme_sales_bot", 5551)
    # One person, one identity, two conversations: one per bot.
    assert len(rows(app, Identity, channel="telegram")) == 1
    assert len(set(by_account.values())) == 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
async def test_the_bot_token_never_reaches_the_log(desk: TelegramDesk,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # logs every URL, token included
    app = desk.configure()
    daemon, _ = desk.daemon(app)
    s = desk.server
    s.fail("sendMessage", 502, "Bad Gateway")  # a failure, logged with its exception
    async with running(daemon):
        s.send(desk.bot, desk.anna, None, document=s.document(b"%PDF", "a.pdf", "application/pdf"))
        await desk.attempted(1)
    logged = caplog.text + "".join(str(r.exc_text or "") for r in caplog.records)
    assert TOKEN not in logged
    assert "<bot token>" in logged  # the URLs were logged, scrubbed

