"""The outbox dispatcher: sends, retries with backoff, dead-letters, stops on bad auth.

The channel here is a small implementation of our own `Connector` protocol that records
what it is asked to send and fails on demand; the real channels (e-mail on aiosmtpd,
Telegram on a local Bot API server) have their own dispatcher tests.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from channels.base import (
    AuthError,
    FetchResult,
    Outbound,
    PermanentError,
    SendResult,
    TransientError,
)
from inbox.core.errors import Conflict, NotFound
from inbox.desk import actions, sends, views
from inbox.outbox.dispatcher import Dispatcher, backoff
from inbox.runtime.app import App
from inbox.store.models import Conversation, Identity, Message, Outbox
from tests.ingest.test_pipeline import NOW, mail, rows, run


class Channel:
    """Records sends; `failures` are raised in order before sends start to succeed."""

    channel, account = "email", "support"

    def __init__(self, *failures: Exception) -> None:
        self.failures = deque(failures)
        self.sent: list[Outbound] = []

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        return FetchResult([], cursor)

    async def send(self, message: Outbound) -> SendResult:
        if self.failures:
            raise self.failures.popleft()
        self.sent.append(message)
        return SendResult()

    async def close(self) -> None:
        pass


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def dispatcher(app: App, channel: Channel, clock: Clock) -> Dispatcher:
    return Dispatcher(app.engine, {("email", "support"): channel}, app.settings.outbox, clock)


async def test_ack_is_sent_once_and_marked_delivered(app: App) -> None:
    run(app, mail("m1@example.com"))
    ch, clock = Channel(), Clock(NOW)
    d = dispatcher(app, ch, clock)
    assert [a.outcome for a in await d.drain_once()] == ["sent"]
    assert await d.drain_once() == []
    [sent] = ch.sent
    assert sent.auto_reply and sent.recipient.address == "anna@example.com"
    assert sent.in_reply_to == "m1@example.com" and sent.subject
    [ack] = rows(app, Message, kind="auto-ack")
    assert ack.delivery == "sent" and ack.sent_at == NOW
    assert ack.external_id == sent.message_ref


async def test_transient_failures_back_off_then_succeed(app: App) -> None:
    run(app, mail("m1@example.com"))
    ch, clock = Channel(TransientError("421 try later"), ConnectionError("reset")), Clock(NOW)
    d = dispatcher(app, ch, clock)
    assert [a.outcome for a in await d.drain_once()] == ["retry"]
    [row] = rows(app, Outbox)
    assert row.state == "pending" and row.attempts == 1 and "421" in (row.last_error or "")
    assert row.next_attempt_at == NOW + backoff(1, app.settings.outbox)
    assert await d.drain_once() == []  # not due yet: nothing is hammered
    clock.now = row.next_attempt_at
    assert [a.outcome for a in await d.drain_once()] == ["retry"]
    clock.now += backoff(2, app.settings.outbox)
    assert [a.outcome for a in await d.drain_once()] == ["sent"]
    assert len(ch.sent) == 1


async def test_server_retry_after_is_honoured(app: App) -> None:
    run(app, mail("m1@example.com"))
    clock = Clock(NOW)
    d = dispatcher(app, Channel(TransientError("slow down", retry_after=600)), clock)
    await d.drain_once()
    [row] = rows(app, Outbox)
    assert row.next_attempt_at == NOW + timedelta(seconds=600)


async def test_permanent_failure_is_dead_lettered_with_its_reason(app: App) -> None:
    run(app, mail("m1@example.com"))
    d = dispatcher(app, Channel(PermanentError("550 no such user", unreachable=True)),
                   Clock(NOW))
    assert [a.outcome for a in await d.drain_once()] == ["dead"]
    [row] = rows(app, Outbox)
    assert row.state == "dead" and row.last_error == "550 no such user"
    [ident] = rows(app, Identity)
    assert ident.unreachable == "550 no such user"
    with Session(app.engine) as s, pytest.raises(actions.ActionError, match="cannot be reached"):
        actions.reply(s, row.conversation_id, "hello", author="kim", now=NOW,
                      secret=app.secret, domain="x")


async def test_gives_up_after_max_attempts(app: App) -> None:
    run(app, mail("m1@example.com"))
    limit = app.settings.outbox.max_attempts
    clock = Clock(NOW)
    d = dispatcher(app, Channel(*[TransientError("down")] * limit), clock)
    outcomes = []
    for _ in range(limit):
        outcomes += [a.outcome for a in await d.drain_once()]
        clock.now += timedelta(days=1)
    assert outcomes == ["retry"] * (limit - 1) + ["dead"]
    [msg] = rows(app, Message, kind="auto-ack")
    assert msg.delivery == "dead"


async def test_refused_credentials_stop_the_account_and_keep_the_work(app: App) -> None:
    run(app, mail("m1@example.com"), mail("m2@example.com", sender="b@example.com"))
    ch = Channel(AuthError("535 authentication failed"))
    d = dispatcher(app, ch, Clock(NOW))
    assert [a.outcome for a in await d.drain_once()] == ["auth", "auth"]
    assert ch.sent == []
    assert d.stopped_accounts == {("email", "support"): "535 authentication failed"}
    assert {r.state for r in rows(app, Outbox)} == {"pending"}
    assert all(r.attempts == 0 for r in rows(app, Outbox))


async def test_rows_for_unconfigured_channels_wait(app: App) -> None:
    run(app, mail("m1@example.com"))
    d = Dispatcher(app.engine, {}, app.settings.outbox, Clock(NOW))
    assert await d.drain_once() == []
    [row] = rows(app, Outbox)
    assert row.state == "pending"


async def test_a_send_orphaned_by_a_dead_daemon_is_taken_over(app: App) -> None:
    run(app, mail("m1@example.com"))
    clock = Clock(NOW)
    d = dispatcher(app, Channel(), clock)
    claimed = d._claim(NOW)  # a daemon claimed it, then died before sending
    assert len(claimed) == 1
    assert await d.drain_once() == []
    clock.now = NOW + timedelta(seconds=app.settings.outbox.claim_seconds + 1)
    assert [a.outcome for a in await d.drain_once()] == ["sent"]


async def test_agent_reply_goes_out_threaded_and_stops_the_clock(app: App) -> None:
    [r] = run(app, mail("m1@example.com", headers={"reply-to": "Anna <anna.n@example.net>"}))
    assert r.conversation_id is not None
    later = NOW + timedelta(hours=2)
    with Session(app.engine) as s, s.begin():
        actions.reply(s, r.conversation_id, "It ships today.", author="kim", now=later,
                      secret=app.secret, domain="ourshop.example")
    ch = Channel()
    await dispatcher(app, ch, Clock(later)).drain_once()
    reply = next(o for o in ch.sent if o.kind == "reply")
    assert reply.recipient.address == "anna.n@example.net"
    assert reply.in_reply_to == "m1@example.com" and not reply.auto_reply
    assert reply.subject is not None and reply.subject.startswith("Re: Order 1234 [#")
    [conv] = rows(app, Conversation)
    assert conv.sla_due_at is None and conv.first_response_at == later
    assert conv.sla_state == "met"


async def test_an_admin_retries_a_dead_send_once_and_it_goes(app: App) -> None:
    run(app, mail("m1@example.com"))
    ch, clock = Channel(PermanentError("550 no such user", unreachable=True)), Clock(NOW)
    d = dispatcher(app, ch, clock)
    assert [a.outcome for a in await d.drain_once()] == ["dead"]
    [row] = rows(app, Outbox)
    clock.now = later = NOW + timedelta(hours=3)  # the customer fixed their mailbox
    with Session(app.engine) as s, s.begin():
        sends.retry(s, row.id or 0, by="root", now=later)
    with Session(app.engine) as s, s.begin(), pytest.raises(Conflict, match="not dead"):
        sends.retry(s, row.id or 0, by="root", now=later)  # a second click does nothing
    with Session(app.engine) as s, s.begin(), pytest.raises(NotFound):
        sends.retry(s, 999, by="root", now=later)
    [row] = rows(app, Outbox)
    assert (row.state, row.attempts, row.next_attempt_at) == ("pending", 0, later)
    [ident] = rows(app, Identity)
    assert ident.unreachable is None  # replies to the address are taken again
    assert [a.outcome for a in await d.drain_once()] == ["sent"]
    assert len(ch.sent) == 1 and rows(app, Message, kind="auto-ack")[0].delivery == "sent"
    with Session(app.engine) as s:
        shown = views.conversation(s, row.conversation_id, later, app.secret)
    assert shown is not None
    assert [e["detail"] for e in shown["events"] if e["kind"] == "ack.retried"] == [
        {"by": "root", "recipient": "anna@example.com", "error": "550 no such user"}]
