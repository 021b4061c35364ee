"""Webhook mode: Telegram posts updates to the daemon's endpoint, with the secret token;
the endpoint answers 200 only once the update is committed."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from channels.telegram_webhook import WebhookInbox
from inbox.app import App
from inbox.models import Message
from tests import telegram_server as tg
from tests.peers import free_port, running
from tests.telegram_server import TOKEN, TelegramDesk

# The local Bot API server and a deployment using it (pytest finds fixtures among
# a module's globals).
telegram, desk = tg.telegram, tg.desk


def texts(app: App) -> list[str]:
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(Message.text).where(Message.direction == "in")
                              .order_by(Message.id)))


def webhook_bot(desk: TelegramDesk) -> tuple[App, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/support"  # https behind a proxy in real life
    app = desk.configure(bots={"support": desk.options(
        mode="webhook", webhook={"url": url, "listen": f"127.0.0.1:{port}"})})
    return app, url


async def test_updates_posted_by_telegram_are_stored_and_acknowledged(
        desk: TelegramDesk) -> None:
    app, url = webhook_bot(desk)
    daemon, _ = desk.daemon(app)
    s = desk.server
    async with running(daemon):
        hook = await s.called("setWebhook")
        s.send(desk.bot, desk.anna, "Hello from a webhook")
        [ack] = await s.sent_messages(1)
        async with httpx.AsyncClient() as client:  # someone who is not Telegram
            forged = await client.post(url, json={"update_id": 1, "message": {}})
            lost = await client.post(url.replace("support", "other"), json={"update_id": 2},
                                     headers={"X-Telegram-Bot-Api-Secret-Token": "x"})
        await desk.attempted(1)
    assert hook.params["url"] == url and hook.params["allowed_updates"] == [
        "message", "edited_message"]
    assert len(hook.params["secret_token"]) >= 32 and TOKEN not in hook.params["secret_token"]
    assert (forged.status_code, lost.status_code) == (403, 404)
    assert s.webhook_answers == [200]
    assert texts(app) == ["Hello from a webhook"] and ack.chat_id == 5551


async def test_what_arrives_while_the_daemon_is_down_is_delivered_after(
        desk: TelegramDesk) -> None:
    app, _ = webhook_bot(desk)
    s = desk.server
    daemon, _ = desk.daemon(app)
    async with running(daemon):
        s.send(desk.bot, desk.anna, "First")
        await desk.attempted(1)
    s.send(desk.bot, desk.anna, "Sent while you were down")
    await s.until(lambda: 0 in s.webhook_answers)  # Telegram could not reach us
    daemon, _ = desk.daemon(app)
    async with running(daemon):
        await s.until(lambda: s.webhook_answers.count(200) == 2)
    assert texts(app) == ["First", "Sent while you were down"]
    assert len(s.sent) == 1  # same conversation: acknowledged once


async def test_a_polling_bot_clears_a_webhook_left_from_before(desk: TelegramDesk) -> None:
    desk.bot.webhook = {"url": "https://old.example/hook", "secret": None,
                        "max_connections": 40}
    app = desk.configure()
    daemon, _ = desk.daemon(app)
    async with running(daemon):
        desk.server.send(desk.bot, desk.anna, "Hello")
        await desk.attempted(1)
    assert desk.bot.webhook is None and texts(app) == ["Hello"]


async def test_a_batch_is_confirmed_only_by_the_cursor_it_came_with() -> None:
    inbox = WebhookInbox()
    offers = [asyncio.create_task(inbox.offer({"update_id": n})) for n in (1, 2)]
    batch, first = await inbox.take(None, wait=1)
    assert [u["update_id"] for u in batch] == [1, 2] and first == "webhook:1"
    # The ingest failed: the daemon comes back with its old cursor; the batch is again.
    again, second = await inbox.take(None, wait=1)
    assert again == batch and second == "webhook:2"
    assert not any(o.done() for o in offers)
    nothing, cursor = await inbox.take(second, wait=0)  # committed: Telegram hears 200
    assert (nothing, cursor) == ([], second)
    assert [await o for o in offers] == [True, True]
    late = asyncio.create_task(inbox.offer({"update_id": 3}))
    handed, _ = await inbox.take(second, wait=1)
    assert handed == [{"update_id": 3}]
    inbox.close()  # the daemon stopped before committing it: Telegram hears 503, posts again
    assert await late is False
