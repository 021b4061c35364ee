"""Telegram delivers an update again: the pipeline's dedupe must make it harmless.

Two real ways a stored update comes back: after a quiet week the connector asks
Telegram for every update it still holds (the stored one included, as it was never
confirmed), and in webhook mode Telegram posts an update again when our 200 did not
reach it. Either way the customer's message is stored once, acknowledged once, and the
updates behind it still arrive.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from inbox.runtime.app import App
from inbox.store.models import Message, Outbox
from tests.channels.telegram.bot_api import TelegramDesk
from tests.peers import free_port, running

# The local Bot API server and a deployment using it (pytest finds fixtures among
# a module's globals).


def texts(app: App) -> list[str]:
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(Message.text).where(Message.direction == "in")
                              .order_by(Message.id)))


def outbox_rows(app: App) -> int:
    with Session(app.engine) as s:
        return len(s.scalars(sa.select(Outbox)).all())


async def test_an_update_polled_again_is_stored_once_and_the_bot_goes_on(
        desk: TelegramDesk) -> None:
    app = desk.configure()
    s, bot, anna = desk.server, desk.bot, desk.anna
    s.send(bot, anna, "Where is my parcel?")
    stored = bot.next_update
    daemon, connectors = desk.daemon(app)
    await daemon.run_once()  # stored and committed; Telegram has not been told yet
    # Quiet for a week: the next poll asks for all Telegram holds, the stored one too.
    [watched] = connectors.values()
    watched.inner.clock = lambda: datetime.now(UTC) + timedelta(days=7)  # type: ignore[attr-defined]
    s.send(bot, anna, "Any news?")
    await daemon.run_once()
    replay = [c for c in s.calls if c.method == "getUpdates"][-1]
    assert replay.params.get("offset") is None  # so `stored` came back with it
    await daemon.run_once()  # confirms both
    assert bot.updates == [] and stored < bot.next_update
    assert texts(app) == ["Where is my parcel?", "Any news?"]
    assert outbox_rows(app) == 1 and len(s.sent) == 1  # one conversation, one ack


async def test_an_update_posted_again_to_the_webhook_is_stored_once(
        desk: TelegramDesk) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/support"
    app = desk.configure(bots={"support": desk.options(mode="webhook", webhook={"url": url})},
                         web={"listen": f"127.0.0.1:{port}"})
    s, bot, anna = desk.server, desk.bot, desk.anna
    daemon, connectors = desk.daemon(app)
    [watched] = connectors.values()
    async with running(daemon):
        secret = (await s.called("setWebhook")).params["secret_token"]
        question = s.send(bot, anna, "Where is my parcel?")
        update: dict[str, Any] = {"update_id": bot.next_update, "message": question}
        await s.sent_messages(1)
        # Our 200 got lost on the way: Telegram posts the same update again.
        async with httpx.AsyncClient() as client:
            again = await client.post(url, json=update,
                                      headers={"X-Telegram-Bot-Api-Secret-Token": secret})
        later = s.send(bot, anna, "Any news?")
        await watched.committed(f"7001:5551:{later['message_id']}")
        await desk.attempted(1)
    assert again.status_code == 200
    assert texts(app) == ["Where is my parcel?", "Any news?"]
    assert outbox_rows(app) == 1 and len(s.sent) == 1
