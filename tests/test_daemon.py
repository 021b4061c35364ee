"""The daemon's supervision: a stop is prompt even while a connector waits for mail."""

from __future__ import annotations

import asyncio

from channels.base import FetchResult, Outbound, SendResult
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
