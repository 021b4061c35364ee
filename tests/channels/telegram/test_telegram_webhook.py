"""Webhook mode: Telegram posts updates to the daemon's endpoint, with the secret token;
the endpoint answers 200 only once the update is committed."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from channels.telegram.webhook import WebhookInbox
from inbox.core.config import ConfigError
from inbox.runtime.app import App
from inbox.runtime.connectors import build_connectors
from inbox.store.models import Message
from tests.channels.telegram import bot_api as tg
from tests.channels.telegram.bot_api import TOKEN, TelegramDesk
from tests.peers import free_port, running

# The local Bot API server and a deployment using it (pytest finds fixtures among
# a module's globals).


def texts(app: App) -> list[str]:
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(Message.text).where(Message.direction == "in")
                              .order_by(Message.id)))


def webhook_bot(desk: TelegramDesk) -> tuple[App, str]:
    """The support bot in webhook mode, its endpoint on the desk's own address."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/support"  # https behind a proxy in real life
    app = desk.configure(bots={"support": desk.options(mode="webhook", webhook={"url": url})},
                         web={"listen": f"127.0.0.1:{port}"})
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
            desk_page = await client.get(url.replace("/telegram/support", "/login"))
        await desk.attempted(1)
    assert hook.params["url"] == url and hook.params["allowed_updates"] == [
        "message", "edited_message"]
    assert len(hook.params["secret_token"]) >= 32 and TOKEN not in hook.params["secret_token"]
    assert (forged.status_code, lost.status_code) == (403, 404)
    assert s.webhook_answers == [200]
    assert texts(app) == ["Hello from a webhook"] and ack.chat_id == 5551
    # One port: the agents' desk answers where Telegram posts.
    assert desk_page.status_code == 200 and "Sign in" in desk_page.text
    assert daemon.desk_url == url.removesuffix("/telegram/support")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
async def test_a_webhook_without_the_desk_or_with_its_own_port_is_a_clear_error(
        desk: TelegramDesk) -> None:
    hook = {"url": "https://help.example.com/telegram/support"}
    app = desk.configure(bots={"support": desk.options(mode="webhook", webhook=hook)},
                         web={"enabled": False})
    with pytest.raises(ConfigError, match=r"\[web\] enabled = true"):
        await desk.daemon(app)[0].run(asyncio.Event())
    old = {**hook, "listen": "127.0.0.1:8443"}  # where the endpoint had a server of its own
    with pytest.raises(ConfigError, match=r"webhook.listen is gone.*\[web\] listen"):
        build_connectors(desk.configure(bots={"support": desk.options(
            mode="webhook", webhook=old)}).settings)


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


async def raw_post(port: int, head: str, body: bytes) -> bytes:
    """An HTTP request as bytes on a socket: the status line of the answer.

    Sent by hand so a test controls what is declared and what is really sent.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode() + b"\r\n\r\n" + body)
        with contextlib.suppress(ConnectionError):  # refused before reading it all
            await writer.drain()
        return await asyncio.wait_for(reader.readline(), tg.WAIT)
    finally:
        writer.close()


async def test_hostile_posts_get_a_clear_status_and_a_bounded_log(
        desk: TelegramDesk, caplog: pytest.LogCaptureFixture) -> None:
    app, url = webhook_bot(desk)
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    daemon, connectors = desk.daemon(app)
    [watched] = connectors.values()
    watched.inner.clock = lambda: now  # type: ignore[attr-defined]
    s, port = desk.server, int(url.split(":")[2].split("/")[0])
    async with running(daemon):
        secret = {"X-Telegram-Bot-Api-Secret-Token":
                  (await s.called("setWebhook")).params["secret_token"]}
        deep = b'{"update_id": 1, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        async with httpx.AsyncClient() as client:
            nested = await client.post(url, content=deep, headers=secret)
            shallow_enough = await client.post(url, headers=secret, json={
                "update_id": 2, "message": functools.reduce(lambda a, _: [a], range(80), [])})
            caplog.clear()
            forged = [await client.post(url, json={"update_id": 3}) for _ in range(300)]
            later = now + timedelta(minutes=1)
            watched.inner.clock = lambda: later  # type: ignore[attr-defined]
            last = await client.post(url, json={"update_id": 4})
        # 50 MB declared: refused before a byte of it is read; a chunked body that grows
        # past the limit: refused there.
        head = f"POST /telegram/support HTTP/1.1\r\nHost: x\r\n" \
               f"X-Telegram-Bot-Api-Secret-Token: {secret['X-Telegram-Bot-Api-Secret-Token']}"
        declared = await raw_post(port, head + "\r\nContent-Length: 52428800", b"{")
        chunk = b"a" * 65536
        chunks = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 20
        growing = await raw_post(port, head + "\r\nTransfer-Encoding: chunked", chunks)
        s.send(desk.bot, desk.anna, "Still there?")
        await desk.attempted(1)
    assert (nested.status_code, shallow_enough.status_code) == (400, 400)
    assert {f.status_code for f in forged} == {403} and last.status_code == 403
    refusals = [r.getMessage() for r in caplog.records
                if r.name == "channels.telegram.webhook" and "secret token" in r.getMessage()]
    assert refusals == [
        "telegram webhook: refused a post to /telegram/support without the secret token "
        "from 127.0.0.1 (more of these are counted: one line a minute at most)",
        "telegram webhook: refused 300 more a post to /telegram/support without the secret "
        "token since 2026-12-01 09:00:00 UTC (the last from 127.0.0.1)"]
    assert declared.startswith(b"HTTP/1.1 413") and growing.startswith(b"HTTP/1.1 413")
    assert texts(app) == ["Still there?"]
