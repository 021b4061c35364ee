"""The daemon's sweep, live: a conversation crosses its warning point while `inbox run`
is running; its owner is told within seconds, exactly once, even across a restart.

The channel is a small implementation of our own `Connector` protocol that records what
it is asked to send; the wait is on its events, never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import pytest

from channels.base import FetchResult, Outbound, SendResult
from inbox.core.config import AgentSettings
from inbox.runtime.app import App, utcnow
from inbox.runtime.daemon import Daemon
from inbox.store.models import Event, Outbox
from tests.ingest.test_pipeline import mail, rows, run
from tests.sla.test_sla import routed

WITHIN = 10.0  # seconds: the promise to the people who must act


class Mailbox:
    """Sends succeed and are recorded; fetch waits like an IDLE that never hears mail."""

    def __init__(self) -> None:
        self.sent: list[tuple[datetime, Outbound]] = []
        self.notified = asyncio.Event()
        self.closing = asyncio.Event()

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), wait)
        return FetchResult([], cursor)

    async def send(self, message: Outbound) -> SendResult:
        self.sent.append((utcnow(), message))
        if message.kind == "notify":
            self.notified.set()
        return SendResult()

    async def close(self) -> None:
        self.closing.set()

    def notifications(self) -> list[tuple[datetime, Outbound]]:
        return [(at, m) for at, m in self.sent if m.kind == "notify"]


@pytest.fixture
def watched(app: App) -> Iterator[App]:
    settings = app.settings.model_copy(update={
        "agents": {"ana": AgentSettings(email="ana@shop.example")},
        "channels": {"email": {"support": {}}},
        "sla": app.settings.sla.model_copy(update={"sweep_seconds": 0.05}),
    })
    configured = App(settings)
    yield configured
    configured.close()


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, WITHIN)


async def sweeps(daemon: Daemon, count: int) -> None:
    """Wait until the daemon has finished `count` more sweeps."""
    for _ in range(count):
        daemon.swept.clear()
        await asyncio.wait_for(daemon.swept.wait(), WITHIN)


async def test_crossing_the_warning_point_is_told_once_within_seconds(watched: App) -> None:
    # 20 of its 24 hours have passed but for one second: the warning point is just ahead
    received = utcnow() - timedelta(hours=20) + timedelta(seconds=1)
    warn_at = received + timedelta(hours=20)
    run(watched, mail("m1@x", received_at=received), ctx=routed(watched, assignee="ana"),
        now=utcnow())
    box = Mailbox()
    daemon = Daemon(watched, {("email", "support"): box})
    async with running(daemon):
        await asyncio.wait_for(box.notified.wait(), WITHIN + 1)
        await sweeps(daemon, 3)  # more sweeps find nothing new to say
    [(sent_at, note)] = box.notifications()
    assert warn_at <= sent_at < warn_at + timedelta(seconds=WITHIN)
    assert note.recipient.address == "ana@shop.example" and "at risk" in (note.subject or "")
    [flagged] = rows(watched, Event, kind="sla.at-risk")
    assert flagged.created_at >= warn_at

    again = Mailbox()
    restarted = Daemon(watched, {("email", "support"): again})
    async with running(restarted):
        await sweeps(restarted, 3)
    assert again.notifications() == [] and len(rows(watched, Event, kind="sla.at-risk")) == 1
    assert [o.state for o in rows(watched, Outbox, kind="notify")] == ["sent"]
