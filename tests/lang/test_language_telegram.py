"""Telegram customers get their acknowledgement in their language: what they write wins
over the language their Telegram app is set to, and that setting speaks for them when
their words cannot (`ok`). The real python-telegram-bot talks to the local Bot API
server; what is checked is the text the server received for each chat.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from inbox.core import tokens
from inbox.runtime.app import App
from inbox.store.models import Conversation, Identity
from tests.channels.telegram import bot_api
from tests.channels.telegram.bot_api import TelegramDesk
from tests.lang.test_language_mail import due_date_says
from tests.peers import running

# The Telegram area's fixtures: its local Bot API server, and `desk` as a bot's
# deployment (in place of the mail desk every test has).
telegram, desk = bot_api.telegram, bot_api.desk
ACK_SECONDS = 20.0  # three chats through a cold detector on a busy 2-CPU machine


def conversations(app: App) -> list[Conversation]:
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(Conversation)).all())


def conversation_of(app: App, user: dict[str, Any]) -> Conversation:
    with Session(app.engine) as s:
        identity = s.scalars(sa.select(Identity).filter_by(
            channel="telegram", address=str(user["id"]))).one()
        return s.scalars(sa.select(Conversation).filter_by(
            contact_id=identity.contact_id)).one()


async def test_chats_are_answered_in_the_language_written_or_else_the_apps(
        desk: TelegramDesk) -> None:
    app = desk.configure()
    server = desk.server
    # Thai and Persian customers whose Telegram apps are set to English.
    somchai = server.user(6601, "สมชาย", "ใจดี", language_code="en")
    maryam = server.user(6602, "مریم", "احمدی", language_code="en")
    expected = {  # chat -> (user, language, source, greeting)
        6601: (somchai, "th", "detected", "สวัสดีค่ะ คุณสมชาย"),
        6602: (maryam, "fa", "detected", "سلام مریم احمدی عزیز!"),
        # "ok" has too few letters to tell: her app's Polish speaks for her.
        desk.anna["id"]: (desk.anna, "pl", "channel", "Dzień dobry, Anna Nowak!"),
    }
    daemon, _ = desk.daemon(app)
    async with running(daemon):
        server.send(desk.bot, somchai, "สวัสดีครับ สั่งรองเท้าไปเมื่อวันจันทร์ "
                                       "ยังไม่ได้รับของเลยครับ ช่วยตรวจสอบให้หน่อย")
        server.send(desk.bot, maryam, "سلام، سفارشم هنوز نرسیده و پیگیری هم جواب "
                                      "نمی‌دهد. لطفاً بررسی کنید.")
        server.send(desk.bot, desk.anna, "ok")
        sent = await server.sent_messages(3, timeout=ACK_SECONDS)

    acks = {s.chat_id: s.text for s in sent}
    assert sorted(acks) == sorted(expected)
    for chat, (user, language, source, greeting) in expected.items():
        conv, text = conversation_of(app, user), acks[chat]
        assert (conv.language, conv.language_source) == (language, source), text
        assert text.startswith(greeting), text
        assert "ใจดี" not in text  # Thai greets by the given name alone
        assert conv.sla_due_at is not None
        # In the business's zone (UTC here): a chat tells us no zone.
        for piece in due_date_says(language, conv.sla_due_at.replace(tzinfo=UTC)):
            assert piece in text, (piece, text)
        assert tokens.reference(app.secret, conv.id or 0) in text
        assert "Hello" not in text and "Thank" not in text


async def test_vietnamese_chats_greet_by_the_given_name_however_the_profile_is_filled(
        desk: TelegramDesk) -> None:
    app = desk.configure()
    server = desk.server
    customers = {  # chat -> (first name, last name, the name the ack greets)
        # Telegram's "First name" and "Last name" fields, filled as they are labelled.
        6701: ("Hương", "Nguyễn Thị", "Hương"),
        # The whole name in the first field, typed with Unikey's "Unicode tổ hợp":
        # tone marks as combining characters.
        6702: (unicodedata.normalize("NFD", "Trần Văn An"), None, "An"),
    }
    daemon, _ = desk.daemon(app)
    async with running(daemon):
        for chat, (first, last, _) in customers.items():
            user = server.user(chat, first, last, language_code="en")
            server.send(desk.bot, user, unicodedata.normalize(
                "NFD", "Chào shop, đơn hàng của mình giao chậm quá, khi nào mới nhận được?"))
        sent = await server.sent_messages(2, timeout=ACK_SECONDS)

    for ack in sent:
        greeted = customers[ack.chat_id][2]
        assert unicodedata.normalize("NFC", ack.text).startswith(
            f"Chào bạn {greeted}!"), ack.text
    assert {c.language for c in conversations(app)} == {"vi"}
