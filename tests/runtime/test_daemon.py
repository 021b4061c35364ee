"""The daemon's supervision: a stop is prompt even while a connector waits for mail, and
a server that goes away is told once when it goes and once when it is back."""

from __future__ import annotations

import asyncio
import logging

import pytest

from channels.base import FetchResult, Outbound, SendResult, TransientError
from inbox.core.retry import Backoff
from inbox.runtime.app import App
from inbox.runtime.daemon import STOP_GRACE_SECONDS, Daemon


class IdleChannel:
    """Waits for new mail forever, like an IMAP IDLE on a quiet mailbox."""

    channel, account = "email", "quiet"

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.closed = False

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        self.waiting.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(self, message: Outbound) -> SendResult:
        return SendResult()

    async def close(self) -> None:
        self.closed = True


async def test_stop_interrupts_a_waiting_fetch_at_once(app: App) -> None:
    channel = IdleChannel()
    stop = asyncio.Event()
    daemon = asyncio.create_task(Daemon(app, {("email", "quiet"): channel}).run(stop))
    await channel.waiting.wait()
    stop.set()
    # Nothing is in flight, so nothing deserves the grace period.
    await asyncio.wait_for(daemon, timeout=STOP_GRACE_SECONDS / 2)
    assert channel.closed


class AwayChannel(IdleChannel):
    """A mail server that refuses `away` connections in a row, then answers."""

    def __init__(self, away: int) -> None:
        super().__init__()
        self.away, self.back = away, asyncio.Event()

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        if self.away:
            self.away -= 1
            raise TransientError("imap.shop.example:993: connection refused")
        self.back.set()
        return await super().fetch(cursor, wait)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
async def test_a_server_that_goes_away_is_told_once_when_it_goes_and_once_when_back(
        app: App, caplog: pytest.LogCaptureFixture) -> None:
    channel, stop = AwayChannel(away=5), asyncio.Event()
    caplog.set_level(logging.DEBUG, logger="inbox.runtime.daemon")
    daemon = Daemon(app, {("email", "support"): channel}, fetch_backoff=Backoff(0.001, 0.01))
    running = asyncio.create_task(daemon.run(stop))
    await asyncio.wait_for(channel.back.wait(), timeout=10)
    stop.set()
    await running
    said = [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == "inbox.runtime.daemon" and "email/support" in r.getMessage()]
    loud = [(level, text) for level, text in said if level >= logging.INFO]
    assert [level for level, _ in loud] == [logging.WARNING, logging.INFO], said
    assert "connection refused" in loud[0][1] and "quietly until it works again" in loud[0][1]
    assert "fetching again" in loud[1][1] and "5 failed tries" in loud[1][1]
    assert len([text for level, text in said if level == logging.DEBUG]) == 4
