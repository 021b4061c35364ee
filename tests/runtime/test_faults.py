"""The long crash-and-fault run: `inbox run` killed again and again while the world fails.

    pytest -m faults                       (both databases; INBOX_FAULT_KILLS=20 by default)

A real `inbox run` serves one e-mail account (a private Dovecot, an aiosmtpd sink) and
one Telegram bot (the local Bot API server) while customers and robots keep writing.
It is killed with SIGKILL at random moments, at least 20 times, and between kills the
SMTP server goes down, then answers 4xx, then refuses some recipients with 5xx, then
comes back; Dovecot restarts; PostgreSQL's connections are cut. At the end one daemon
runs until the work is done, and the run counts what a customer would notice: messages
lost (must be 0), messages stored twice (0), acknowledgements to robots (0), customers
left unacknowledged (0, except those the SMTP server refused for good), and duplicate
acknowledgements (the at-least-once window; reported, bounded by the kills).
The figures go to bench/results/faults-<database>.json for docs/reliability.md.

It is slow (about two minutes per database), so it runs only when asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import tomllib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.runtime.app import App
from inbox.store.models import Cursor, Message, Outbox
from tests import mailcorpus as mc
from tests.channels.telegram.bot_api import TOKEN, TOKEN_ENV, TelegramDesk, TelegramServer
from tests.channels.telegram.test_telegram_crash import START_SECONDS, inbox_run, kill, recorded
from tests.conftest import PG_ADMIN
from tests.peers import PASSWORD, PASSWORD_ENV, Desk, Dovecot, SmtpSink, toml

pytestmark = pytest.mark.faults

# The real peers, as fixtures of this module (pytest finds fixtures among its globals).

KILLS = int(os.environ.get("INBOX_FAULT_KILLS", "20"))
DONE_SECONDS = 180.0
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


@dataclass
class World:
    app: App
    mail: Desk
    chat: TelegramDesk
    rng: random.Random = field(default_factory=lambda: random.Random(20))
    customers: list[str] = field(default_factory=list)  # e-mail senders
    robots: list[str] = field(default_factory=list)
    chatters: list[int] = field(default_factory=list)  # Telegram user ids
    refused: set[str] = field(default_factory=set)  # the SMTP server said 5xx for good
    faults: list[str] = field(default_factory=list)

    def write(self, round_: int) -> None:
        """A round of traffic: customers by mail and by chat, and now and then a robot."""
        for n in range(4):
            address = f"c{round_}-{n}@customers.example"
            self.customers.append(address)
            self.mail.dovecot.append(self.mail.support, mc.plain_mail(
                sender=f"Customer {round_}-{n} <{address}>", to=self.mail.support,
                subject=f"Order {round_}-{n}", message_id=f"<m{round_}-{n}@customers.example>"))
        if round_ % 3 == 0:
            robot = f"robot{round_}@customers.example"
            self.robots.append(robot)
            self.mail.dovecot.append(self.mail.support, mc.auto_reply_mail(
                sender=f"Robot <{robot}>", message_id=f"<r{round_}@customers.example>"))
        for n in range(2):
            user_id = 60_000 + round_ * 10 + n
            self.chatters.append(user_id)
            server = self.chat.server
            server.send(self.chat.bot, server.user(user_id, f"Chat{round_}{n}"),
                        f"Hello from round {round_}")


@pytest.fixture
async def world(app: App, dovecot: Dovecot, smtp_sink: SmtpSink, telegram: TelegramServer,
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    """One deployment with an e-mail account and a Telegram bot, both real peers."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    tag = uuid.uuid4().hex[:8]
    mail = Desk(app.settings.base_dir, dovecot, smtp_sink,
                support=dovecot.add_user(f"support-{tag}@helpdesk.test"),
                customer=dovecot.add_user(f"anna-{tag}@example.com"))
    bot = telegram.add_bot(TOKEN, "acme_support_bot")
    anna = telegram.user(5551, "Anna", "Nowak", language_code="pl")
    chat = TelegramDesk(app.settings.base_dir, telegram, bot, anna)
    mail.configure()
    path = app.settings.base_dir / "inbox.toml"
    data = tomllib.loads(path.read_text())
    data["channels"]["telegram"] = {"support": chat.options()}
    # Outages must be outlived, not dead-lettered: retries every ~0.2-3 s, many of them.
    data["outbox"] = {"backoff_base_seconds": 0.2, "backoff_cap_seconds": 3.0,
                      "poll_seconds": 0.05, "probe_seconds": 0.2, "max_attempts": 200,
                      "claim_seconds": 30}
    data["business_hours"] = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                              "hours": "00:00-23:59:59.999999"}
    path.write_text(toml(data))
    yield World(app, mail, chat)
    mail.close()
    await chat.close()


async def first_start(w: World, deployment: Path) -> None:
    """The mailbox's first start reads only what arrives after it (`start = "now"`):
    traffic begins once the daemon has saved its first cursor."""
    daemon = await inbox_run(deployment)

    def has_cursor() -> bool:
        with Session(w.app.engine) as s:
            return s.scalars(sa.select(Cursor).where(col(Cursor.channel) == "email")
                             ).first() is not None

    await recorded(has_cursor, START_SECONDS)
    await kill(daemon)


def cut_database_connections(url: str) -> None:
    """What a PostgreSQL restart or a network cut does to every open connection."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


def inject(w: World, round_: int) -> None:
    """The fault schedule: each one starts at its round and ends at a later one."""
    sink = w.mail.sink
    if round_ == 3:
        sink.stop()
        w.faults.append("SMTP down (rounds 3-5)")
    elif round_ == 6:
        sink.start()
        sink.handler.data_replies.extend(["451 4.3.0 try again later"] * 12)
        w.faults.append("SMTP 4xx x12 (round 6)")
    elif round_ == 8:
        doomed = [f"c8-{n}@customers.example" for n in range(2)]
        sink.handler.reject.update({a: "550 5.1.1 no such user" for a in doomed})
        w.refused.update(doomed)
        w.faults.append("SMTP 5xx for 2 recipients (round 8 on)")
    elif round_ == 12:
        w.mail.dovecot.restart()
        w.faults.append("Dovecot restarted (round 12)")


async def during(w: World, round_: int, url: str) -> None:
    """Faults that strike while the daemon runs."""
    if round_ in (14, 16) and url.startswith("postgresql"):
        await asyncio.sleep(w.rng.uniform(0.3, 1.0))  # a moment in the run, not a wait
        cut_database_connections(url)
        w.faults.append(f"PostgreSQL connections cut (round {round_})")


def settled(w: World) -> bool:
    """Everything stored and everyone who can be acknowledged acknowledged."""
    with Session(w.app.engine) as s:
        stored = s.scalar(sa.select(sa.func.count()).select_from(Message)
                          .where(col(Message.direction) == "in")) or 0
        pending = s.scalar(sa.select(sa.func.count()).select_from(Outbox)
                           .where(col(Outbox.state) == "pending")) or 0
    expected = len(w.customers) + len(w.robots) + len(w.chatters)
    return stored >= expected and pending == 0


def tally(w: World, kills: int) -> dict[str, object]:
    with Session(w.app.engine) as s:
        ids = s.scalars(sa.select(col(Message.external_id))
                        .where(col(Message.direction) == "in")).all()
    mail_acks = Counter(r for m in w.mail.sink.received for r in m.rcpt_tos)
    chat_acks = Counter(m.chat_id for m in w.chat.server.sent)
    counts = Counter(ids)
    humans = len(w.customers) + len(w.chatters)
    unacked = ([c for c in w.customers if not mail_acks[c] and c not in w.refused]
               + [u for u in w.chatters if not chat_acks[u]])
    return {
        "kills": kills, "faults": w.faults, "inputs": humans + len(w.robots),
        "lost": len(w.customers) + len(w.robots) + len(w.chatters) - len(counts),
        "stored_twice": sum(n - 1 for n in counts.values()),
        "acks_to_robots": sum(mail_acks[r] for r in w.robots),
        "unacknowledged": len(unacked),
        "refused_for_good": len(w.refused),
        "duplicate_acks": (sum(n - 1 for n in mail_acks.values() if n > 1)
                           + sum(n - 1 for n in chat_acks.values() if n > 1)),
    }


async def test_kills_and_faults_lose_nothing_and_answer_no_robot(world: World,
                                                                 db_url: str) -> None:
    w, deployment = world, world.app.settings.base_dir
    await first_start(w, deployment)
    for round_ in range(KILLS):
        inject(w, round_)
        w.write(round_)
        daemon = await inbox_run(deployment)
        await during(w, round_, db_url)
        await asyncio.sleep(w.rng.uniform(0.5, 3.0))  # the kill's moment, chosen at random
        await kill(daemon)
    w.mail.sink.handler.reject.clear()
    daemon = await inbox_run(deployment)
    w.app.engine.dispose()  # our pooled connections may have been cut with the others
    with contextlib.suppress(TimeoutError):  # what is missing then, the figures say
        await recorded(lambda: settled(w), DONE_SECONDS)
    daemon.send_signal(signal.SIGTERM)
    await asyncio.wait_for(daemon.wait(), 20)
    figures = tally(w, KILLS)
    database = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"faults-{database}.json").write_text(json.dumps(figures, indent=2) + "\n")
    assert figures["lost"] == 0 and figures["stored_twice"] == 0, figures
    assert figures["acks_to_robots"] == 0 and figures["unacknowledged"] == 0, figures
    assert isinstance(figures["duplicate_acks"], int) and figures["duplicate_acks"] <= KILLS
