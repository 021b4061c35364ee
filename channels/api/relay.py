"""An `api` account's way out: its customers gave an e-mail address with their message,
so acknowledgements and replies go as e-mail, through the configured e-mail account's
own connector (its server, its From, its Message-IDs). The outbox sees an `api/<system>`
send like any other, retried and dead-lettered by the same loop.

Nothing is fetched: the messages come in over HTTP (inbox.web.api), so `fetch` only
waits, which keeps the daemon's loop for this account idle.
"""

from __future__ import annotations

import asyncio
import dataclasses

from channels.base import Connector, FetchResult, Outbound, SendResult


class ApiRelay:
    channel = "api"

    def __init__(self, account: str, email: Connector) -> None:
        self.account, self.email = account, email

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        await asyncio.sleep(wait)
        return FetchResult([], cursor)

    async def send(self, message: Outbound) -> SendResult:
        return await self.email.send(dataclasses.replace(
            message, channel=self.email.channel, account=self.email.account))

    async def close(self) -> None:
        """The e-mail connector is closed as its own account."""
