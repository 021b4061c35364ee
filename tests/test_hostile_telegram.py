"""NUL in Telegram text: stored, flagged, and the bot goes on.

JSON may carry `\\u0000`, which PostgreSQL's text type refuses, so before the stored
forms were made safe such an update stalled the bot on PostgreSQL as NUL mail did.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from inbox.models import Message
from tests import telegram_server as tg
from tests.peers import running
from tests.telegram_server import TOKEN, TelegramDesk

ACK_SECONDS = 8.0
BOT_ID = TOKEN.split(":", maxsplit=1)[0]

telegram, desk = tg.telegram, tg.desk


def ref(message: dict[str, Any]) -> str:
    return f"{BOT_ID}:{message['chat']['id']}:{message['message_id']}"


async def test_nul_in_a_chat_is_stored_flagged_and_the_next_customer_is_acked(
        desk: TelegramDesk) -> None:
    app = desk.configure()
    daemon, connectors = desk.daemon(app)
    [watched] = connectors.values()
    server = desk.server
    async with running(daemon):
        poisoned = server.send(desk.bot, desk.anna, "hel\x00lo there")
        ben = server.user(5552, "Ben", "Tran", language_code="en")
        after = server.send(desk.bot, ben, "Where is my parcel?")
        await watched.committed(ref(poisoned), ref(after))
        [ack] = await server.sent_messages(1, timeout=ACK_SECONDS)
    assert ack.chat_id == after["chat"]["id"]
    with Session(app.engine) as s:
        stored = {m.external_id: m for m in s.scalars(
            sa.select(Message).where(Message.direction == "in"))}
    bad = stored[ref(poisoned)]
    assert bad.text == "hel\ufffdlo there" and bad.problems
    assert stored[ref(after)].problems == []
