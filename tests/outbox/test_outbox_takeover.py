"""A daemon killed mid-send: its sends go again as soon as it is known dead, not after
the lease; a live daemon's sends are left alone; one daemon per SQLite database.

Real `inbox run` processes against the local Bot API server, which holds a
sendMessage until the test lets it go, so the test kills the daemon inside the send.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from inbox.outbox.dispatcher import Dispatcher
from inbox.outbox.journal import journal_path
from inbox.runtime.app import App, utcnow
from inbox.runtime.connectors import build_connectors
from inbox.store.liveness import acquire
from inbox.store.models import Outbox
from tests.channels.telegram.bot_api import WAIT, TelegramDesk, TelegramServer
from tests.channels.telegram.test_telegram_crash import (
    START_SECONDS,
    inbox_run,
    kill,
    recorded,
    rows,
)
from tests.ingest.test_pipeline import NOW, mail, run
from tests.outbox.test_outbox import Channel, Clock


async def killed_while_sending(desk: TelegramDesk) -> App:
    """Anna writes; a daemon claims her ack and is killed while Telegram holds the send,
    which then fails: her ack never got through."""
    app = desk.configure()  # the default lease: 300 s
    s = desk.server
    s.send(desk.bot, desk.anna, "My order has not arrived")
    sending = s.hold("sendMessage")
    daemon = await inbox_run(desk.deployment)
    await asyncio.wait_for(sending.reached.wait(), START_SECONDS)
    await kill(daemon)
    s.fail("sendMessage", 502, "Bad Gateway")
    sending.release.set()
    await recorded(lambda: not s.failures["sendMessage"])  # the held send has failed
    [row] = rows(app, Outbox)
    assert row.state == "sending" and s.sent == []
    return app


async def test_a_send_left_by_a_killed_daemon_goes_as_soon_as_a_daemon_starts(
        desk: TelegramDesk) -> None:
    app = await killed_while_sending(desk)
    daemon = await inbox_run(desk.deployment)
    # Within seconds of the start, not when the 300 s lease runs out.
    [ack] = await desk.server.sent_messages(1, timeout=START_SECONDS)
    daemon.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(daemon.wait(), WAIT) == 0
    assert ack.chat_id == desk.anna["id"] and len(desk.server.sent) == 1
    [row] = rows(app, Outbox)
    assert row.state == "sent" and row.claimed_by is None and row.attempts == 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_second_daemon_on_one_sqlite_database_refuses_to_start(
        desk: TelegramDesk) -> None:
    app = desk.configure()
    first = await inbox_run(desk.deployment)
    await desk.server.called("getUpdates", timeout=START_SECONDS)
    second = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inbox", "run", cwd=desk.deployment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "INBOX_CONFIG": str(desk.deployment / "inbox.toml")})
    _, err = await asyncio.wait_for(second.communicate(), START_SECONDS)
    assert second.returncode == 1
    lock = Path(str(app.engine.url.database) + ".lock")
    assert err.decode().strip().splitlines() == [
        f"inbox: another daemon (pid {first.pid}) is running on this database: "
        f"it holds {lock}"]
    desk.server.send(desk.bot, desk.anna, "Hello?")  # the first one works on unharmed
    await desk.server.sent_messages(1, timeout=START_SECONDS)
    first.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(first.wait(), WAIT) == 0


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_on_postgresql_a_second_daemon_leaves_live_sends_and_takes_dead_ones(
        desk: TelegramDesk) -> None:
    app = desk.configure()
    s: TelegramServer = desk.server
    s.send(desk.bot, desk.anna, "My order has not arrived")
    sending = s.hold("sendMessage")
    first = await inbox_run(desk.deployment)
    await asyncio.wait_for(sending.reached.wait(), START_SECONDS)

    connectors = build_connectors(app.settings)
    second = Dispatcher(app.engine, connectors, app.settings.outbox, utcnow,
                        liveness=acquire(app.engine))
    try:
        assert second.take_over(utcnow()) == 0  # the first daemon is alive: its send
        assert await second.drain_once() == []  # stays its own
        [row] = rows(app, Outbox)
        assert row.state == "sending" and row.claimed_by not in (None, second.owner)

        await kill(first)
        s.fail("sendMessage", 502, "Bad Gateway")
        sending.release.set()
        # PostgreSQL ends the dead daemon's session (and its lock) as its socket closes.
        await recorded(lambda: second.take_over(utcnow()) == 1)
        assert [a.outcome for a in await second.drain_once()] == ["sent"]
    finally:
        assert second.liveness is not None
        second.liveness.close()
        for c in connectors.values():
            await c.close()
    assert [m.chat_id for m in s.sent] == [desk.anna["id"]]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_on_sqlite_a_send_accepted_just_before_a_kill_is_not_sent_again(
        desk: TelegramDesk) -> None:
    """Killed after Telegram accepted the ack, while recording it waited for the
    database (an ingest holding SQLite's write lock): Anna still gets one ack."""
    app = desk.configure()
    s = desk.server
    s.send(desk.bot, desk.anna, "My order has not arrived")
    sending = s.hold("sendMessage")
    daemon = await inbox_run(desk.deployment)
    await asyncio.wait_for(sending.reached.wait(), START_SECONDS)
    database = Path(str(app.engine.url.database))
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the database is busy when the answer comes
    sending.release.set()
    await s.sent_messages(1)
    journal = journal_path(database)
    await recorded(lambda: journal.exists() and journal.stat().st_size > 0)
    await kill(daemon)
    writer.rollback()
    writer.close()

    daemon = await inbox_run(desk.deployment)
    await recorded(lambda: [r.state for r in rows(app, Outbox)] == ["sent"], START_SECONDS)
    bob = s.user(5552, "Bob")
    s.send(desk.bot, bob, "Hello?")
    await s.sent_messages(2, timeout=START_SECONDS)
    daemon.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(daemon.wait(), WAIT) == 0
    assert sorted(m.chat_id for m in s.sent) == [desk.anna["id"], bob["id"]]
    anna_ack = next(r for r in rows(app, Outbox) if r.recipient == str(desk.anna["id"]))
    assert anna_ack.attempts == 1


async def test_a_send_claimed_before_claims_named_their_daemon(app: App) -> None:
    """A row an older daemon (before migration 0003) left claimed has no owner: on SQLite
    it is surely dead (we are the only daemon); on PostgreSQL it waits for its lease."""
    run(app, mail("m1@example.com"))
    [claimed] = Dispatcher(app.engine, {("email", "support"): Channel()},
                           app.settings.outbox, Clock(NOW))._claim(NOW)
    with Session(app.engine) as s, s.begin():
        s.execute(sa.update(Outbox).values(claimed_by=None))
    liveness = acquire(app.engine)
    try:
        ch = Channel()
        d = Dispatcher(app.engine, {("email", "support"): ch}, app.settings.outbox,
                       Clock(NOW), liveness=liveness)
        sqlite = app.engine.dialect.name == "sqlite"
        assert d.take_over(NOW) == (1 if sqlite else 0)
        assert [a.outcome for a in await d.drain_once()] == (["sent"] if sqlite else [])
        assert [o.outbox_id for o in ch.sent] == ([claimed.outbox_id] if sqlite else [])
    finally:
        liveness.close()
