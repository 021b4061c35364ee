"""The real peers of the browser tests' daemon: its e-mail account and its Telegram bot.

The `desk` daemon (tests/web/conftest.py) reads a support mailbox on the private
Dovecot and sends through an SMTP sink of its own; its bot polls a local Bot API server
(tests/channels/telegram/bot_api.py) that python-telegram-bot, in the daemon, talks to
unmodified. Tests play the customers: they append mail to the mailbox and send updates
to the bot, and wait for what the daemon sent (`Peers.mail_where`, `Peers.chat_where`).

The Bot API server is asyncio code; Playwright's sync API holds the main thread's event
loop, so the server runs on a loop of its own thread and tests call it through `BotApi`.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from typing import Any, TypeVar

from tests.channels.telegram.bot_api import TOKEN, FakeBot, Sent, TelegramServer
from tests.peers import WAIT, Dovecot, SmtpSink

T = TypeVar("T")
BOT_ACCOUNT = "bot"  # the name tests/web/desk_helpers.mail gives a chat's account
_customers = itertools.count(810_001)  # Telegram user ids, one per customer, never reused


class BotApi:
    """The local Bot API server on an event loop in a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bot-api",
                                       daemon=True)
        self.thread.start()
        self.server: TelegramServer = self.run(self._start())
        self.bot: FakeBot = self.call(self.server.add_bot, TOKEN, "acme_desk_bot")

    @staticmethod
    async def _start() -> TelegramServer:
        return await TelegramServer().start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = WAIT * 2) -> T:
        """Run `coro` on the server's loop; its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call `fn` on the server's loop (its state is not thread-safe); its result."""
        async def inside() -> T:
            return fn(*args, **kwargs)
        return self.run(inside())

    def stop(self) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()


@dataclass
class Customer:
    """Somebody writing to the bot from their Telegram app."""

    user: dict[str, Any]

    @property
    def chat_id(self) -> int:
        return int(self.user["id"])


@dataclass
class Peers:
    """What the `desk` daemon talks to, and the test's hands on it."""

    dovecot: Dovecot
    support: str  # the address customers write to, a mailbox on Dovecot
    sink: SmtpSink  # where the daemon's mail goes
    telegram: BotApi

    # ------------------------------------------------------------ e-mail
    def write_mail(self, sender: str, subject: str, text: str, message_id: str) -> None:
        """A customer's mail lands in the support mailbox, for the daemon to fetch."""
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = sender, self.support, subject
        m["Message-ID"] = message_id
        m.set_content(text)
        self.dovecot.append(self.support, bytes(m))

    def mail_where(self, found: Callable[[EmailMessage], bool]) -> EmailMessage:
        """The first mail the sink accepted that `found` likes, waiting for it."""
        cond = self.sink.handler.cond

        def matching() -> list[EmailMessage]:
            return [m for m in (_parsed(r.data) for r in self.sink.handler.received)
                    if found(m)]

        with cond:
            if not cond.wait_for(lambda: bool(matching()), WAIT):
                raise TimeoutError(f"no such mail reached the SMTP sink within {WAIT}s")
            return matching()[0]

    # ------------------------------------------------------------ Telegram
    def customer(self, first_name: str, language_code: str = "en") -> Customer:
        server = self.telegram.server
        return Customer(self.telegram.call(server.user, next(_customers), first_name,
                                           language_code=language_code))

    def write_chat(self, customer: Customer, text: str, *, hours_ago: float = 0
                   ) -> dict[str, Any]:
        """The customer's message to the bot (written `hours_ago`); the message."""
        api = self.telegram
        when = int(time.time() - hours_ago * 3600)
        sent: dict[str, Any] = api.call(api.server.send, api.bot, customer.user, text,
                                        date=when)
        return sent

    def chat_where(self, found: Callable[[Sent], bool]) -> Sent:
        """The first message the bot sent that `found` likes, waiting for it."""
        api = self.telegram
        return api.run(api.server.sent_messages(1, where=found))[0]


def _parsed(data: bytes) -> EmailMessage:
    parsed = BytesParser(policy=default).parsebytes(data)
    assert isinstance(parsed, EmailMessage)
    return parsed
