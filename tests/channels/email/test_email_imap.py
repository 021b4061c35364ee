"""Reading a mailbox over IMAP: first start, history, the cursor, what changes on the
server and when. Dovecot is real; the daemon runs in burst mode (`run_once`: fetch what
is there, send what is due), so every step is deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from channels.base import FetchResult
from channels.email import imap
from inbox.runtime.app import App
from inbox.runtime.daemon import Daemon
from inbox.store.models import Conversation, Event, Identity, Message, Outbox
from tests import mailcorpus as mc
from tests.peers import Desk, Watched, running

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # IMAP is the point


def rows(app: App, model: type, **where: object) -> list:  # type: ignore[type-arg]
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(model).filter_by(**where)).all())


def mail(desk: Desk, n: int, **kw: object) -> bytes:
    return mc.plain_mail(sender=f"Anna Nowak <{desk.customer}>", to=desk.support,
                         subject=f"Question {n}", message_id=f"<q{n}@example.com>",
                         **kw)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def daemon(desk: Desk, **account: object) -> AsyncIterator[tuple[Daemon, Watched]]:
    app = desk.configure({"support": desk.account(**account)})
    [watched] = desk.connectors(app).values()
    made = Daemon(app, {("email", "support"): watched})
    try:
        yield made, watched
    finally:
        await watched.close()


def flags(desk: Desk, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
    client = desk.dovecot.client(desk.support)
    try:
        client.select_folder(folder, readonly=True)
        found = client.fetch(client.search("ALL"), [b"FLAGS"])
        return {uid: tuple(f for f in data[b"FLAGS"] if f != b"\\Recent")
                for uid, data in found.items()}
    finally:
        client.logout()


async def test_first_start_now_leaves_history_alone(desk: Desk) -> None:
    desk.dovecot.append(desk.support, mail(desk, 1))
    async with daemon(desk) as (d, _):
        await d.run_once()
        assert rows(d.app, Message) == []
        desk.dovecot.append(desk.support, mail(desk, 2))
        await d.run_once()
    [stored] = rows(d.app, Message, direction="in")
    assert stored.external_id == "q2@example.com"
    assert len(desk.sink.received) == 1


async def test_backfill_stores_recent_history_and_acknowledges_none_of_it(
        desk: Desk) -> None:
    now = datetime.now(UTC)
    client = desk.dovecot.client(desk.support)
    client.append("INBOX", mail(desk, 1), msg_time=now - timedelta(days=40))
    client.append("INBOX", mail(desk, 2), msg_time=now - timedelta(days=3))
    client.logout()
    async with daemon(desk, start="backfill", backfill_days=30) as (d, _):
        await d.run_once()
        desk.dovecot.append(desk.support, mail(desk, 3))
        await d.run_once()
    stored = {m.external_id: m for m in rows(d.app, Message, direction="in")}
    assert set(stored) == {"q2@example.com", "q3@example.com"}
    # INTERNALDATE, not the time of reading, is when the message arrived.
    assert stored["q2@example.com"].created_at.date() == (now - timedelta(days=3)).date()
    assert [o.recipient for o in rows(d.app, Outbox)] == [desk.customer]
    [skipped] = rows(d.app, Event, kind="ack.suppressed")
    assert "history" in skipped.detail["reason"]
    assert [email.message_from_bytes(r.data)["In-Reply-To"]
            for r in desk.sink.received] == ["<q3@example.com>"]


async def test_the_mailbox_is_not_changed_unless_asked(desk: Desk) -> None:
    async with daemon(desk) as (d, _):
        await d.run_once()
        desk.dovecot.append(desk.support, mail(desk, 1))
        await d.run_once()
        await d.run_once()
    assert len(rows(d.app, Message, direction="in")) == 1
    assert list(flags(desk).values()) == [()]  # still unread, still there


async def test_seen_is_set_only_once_the_batch_is_committed(desk: Desk) -> None:
    async with daemon(desk, after_ingest="seen") as (d, watched):
        await d.run_once()
        desk.dovecot.append(desk.support, mail(desk, 1))
        cursor = d._load_cursor(("email", "support"))
        # Fetched but never committed (a crash before the commit): not marked, not lost.
        first: FetchResult = await watched.fetch(cursor, 0)
        again = await watched.fetch(cursor, 0)
        assert [i.external_id for i in first.items] == ["q1@example.com"]
        assert [i.external_id for i in again.items] == ["q1@example.com"]
        assert list(flags(desk).values()) == [()]
        await d.run_once()  # commits it
        await d.run_once()  # the next fetch marks what the committed cursor covers
    assert list(flags(desk).values()) == [(b"\\Seen",)]
    assert len(rows(d.app, Message, direction="in")) == 1


async def test_move_after_ingest(desk: Desk) -> None:
    client = desk.dovecot.client(desk.support)
    client.create_folder("Done")
    client.logout()
    async with daemon(desk, after_ingest="move", move_to="Done") as (d, _):
        await d.run_once()
        desk.dovecot.append(desk.support, mail(desk, 1))
        desk.dovecot.append(desk.support, mail(desk, 2))
        await d.run_once()
        await d.run_once()
    assert flags(desk) == {}
    assert len(flags(desk, "Done")) == 2
    assert len(rows(d.app, Message, direction="in")) == 2


async def test_a_renumbered_folder_is_read_again_without_duplicates(desk: Desk) -> None:
    now = datetime.now(UTC)
    client = desk.dovecot.client(desk.support)
    client.create_folder("Support")
    async with daemon(desk, folders=["Support"]) as (d, _):
        await d.run_once()
        client.append("Support", mail(desk, 1), msg_time=now - timedelta(hours=1))
        await d.run_once()
        # Restored from a backup: same mail plus older and newer mail, new UIDVALIDITY.
        client.delete_folder("Support")
        client.create_folder("Support")
        client.append("Support", mail(desk, 0), msg_time=now - timedelta(hours=2))
        client.append("Support", mail(desk, 1), msg_time=now - timedelta(hours=1))
        client.append("Support", mail(desk, 2))
        client.logout()
        await d.run_once()
    stored = {m.external_id: m for m in rows(d.app, Message, direction="in")}
    assert set(stored) == {"q0@example.com", "q1@example.com", "q2@example.com"}
    acked = sorted(o.conversation_id for o in rows(d.app, Outbox))
    assert acked == sorted(stored[f"q{n}@example.com"].conversation_id for n in (1, 2))
    assert len(desk.sink.received) == 2  # the old mail that appeared is history


async def test_several_folders_one_idle_connection(desk: Desk) -> None:
    client = desk.dovecot.client(desk.support)
    client.create_folder("Billing")
    client.logout()
    async with daemon(desk, folders=["INBOX", "Billing"], poll_seconds=0.2) as (d, watched), \
            running(d):
        await watched.watching()
        desk.dovecot.append(desk.support, mail(desk, 1), folder="Billing")
        desk.dovecot.append(desk.support, mail(desk, 2))
        await desk.sink.arrived(2)
        await watched.committed("q1@example.com", "q2@example.com")
    assert len(rows(d.app, Conversation)) == 2


async def test_without_idle_the_mailbox_is_polled(desk: Desk) -> None:
    async with daemon(desk, idle=False, poll_seconds=0.2) as (d, watched), running(d):
        await watched.watching()
        desk.dovecot.append(desk.support, mail(desk, 1))
        await desk.sink.arrived(1)


async def test_sent_mail_is_copied_to_the_sent_folder(desk: Desk) -> None:
    async with daemon(desk, sent_folder="Sent") as (d, _):
        await d.run_once()
        desk.dovecot.append(desk.support, mail(desk, 1))
        await d.run_once()
    [seen] = (await asyncio.to_thread(flags, desk, "Sent")).values()
    assert seen == (b"\\Seen",)
    [copy] = await asyncio.to_thread(desk.dovecot.messages, desk.support, "Sent")
    assert copy == desk.sink.received[0].data.split(b"\r\n", 1)[1]  # less Return-Path


async def test_a_backlog_is_read_batch_by_batch_exactly_once(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "BATCH_MESSAGES", 5)  # many batches from a small mailbox
    client = desk.dovecot.client(desk.support)
    for n in range(23):
        client.append("INBOX", mail(desk, n))
    client.logout()
    async with daemon(desk, start="backfill") as (d, _):
        for _ in range(6):  # 5 full batches (the next read ahead of each) and the rest
            await d.run_once()
        desk.dovecot.append(desk.support, mail(desk, 99))
        await d.run_once()
    stored = [m.external_id for m in sorted(rows(d.app, Message, direction="in"),
                                            key=lambda m: m.id)]
    assert stored == [f"q{n}@example.com" for n in (*range(23), 99)]
    assert [o.conversation_id for o in rows(d.app, Outbox)] == [
        m.conversation_id for m in rows(d.app, Message, external_id="q99@example.com")]


async def test_a_bounce_of_our_ack_marks_the_customer_unreachable(desk: Desk) -> None:
    async with daemon(desk) as (d, _):
        await d.run_once()
        desk.dovecot.append(desk.support, mail(desk, 1))
        await d.run_once()
        [sent] = desk.sink.received
        desk.dovecot.append(desk.support, mc.bounce_mail(
            original=sent.data, failed_recipient=desk.customer, to=desk.support))
        await d.run_once()
    [event] = rows(d.app, Event, kind="bounce")
    assert event.detail["recipient"] == desk.customer
    [identity] = rows(d.app, Identity, address=desk.customer)
    assert identity.unreachable is not None and "5.1.1" in identity.unreachable
    assert len(desk.sink.received) == 1 and len(rows(d.app, Conversation)) == 1


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_imap_over_tls(desk: Desk, security: str) -> None:
    port = desk.dovecot.tls_port if security == "tls" else desk.dovecot.port
    tls = {"security": security, "port": port, "ca_file": str(desk.dovecot.tls.ca_file)}
    async with daemon(desk, imap=tls) as (d, _):
        await d.run_once()
        desk.dovecot.append(desk.support, mail(desk, 1))
        await d.run_once()
    assert len(rows(d.app, Message, direction="in")) == 1
