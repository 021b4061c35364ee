"""The daemon's webhook round: keep one send-only connector per enabled hook in the
outbox dispatcher, and queue what is new (inbox.desk.webhooks.fan_out) every
FAN_OUT_SECONDS. The dispatcher's one retry loop does the sending."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import httpx

from channels.webhook.connector import USER_AGENT, WebhookConnector
from inbox.desk.webhooks import CHANNEL, FanOut, enabled, fan_out
from inbox.outbox.dispatcher import Dispatcher
from inbox.store.models import Webhook

log = logging.getLogger(__name__)

FAN_OUT_SECONDS = 0.5  # how soon a change reaches a hook's receiver, at most, plus a send


class Webhooks:
    def __init__(self, dispatcher: Dispatcher, secret: str) -> None:
        self.dispatcher, self.secret = dispatcher, secret
        self.state = FanOut()
        # One pool for every hook; redirects not followed (see channels.webhook).
        self.client = httpx.AsyncClient(follow_redirects=False,
                                        headers={"user-agent": USER_AGENT})

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.round()
            except Exception:  # a database hiccup must not end the webhooks
                log.exception("webhooks: fan-out failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=FAN_OUT_SECONDS)

    async def round(self) -> int:
        """Bring the hooks' connectors up to date, queue what is new; how many."""
        engine = self.dispatcher.engine
        hooks = await asyncio.to_thread(enabled, engine)
        self.sync(hooks)
        if not hooks:
            return 0
        now = datetime.now(UTC)
        queued = await asyncio.to_thread(fan_out, engine, self.state, hooks, now,
                                         self.secret)
        if queued:
            self.dispatcher.wake.set()
        return queued

    def sync(self, hooks: list[Webhook]) -> None:
        """One connector per enabled hook, remade when its URL or secret changed; a
        disabled or removed hook's connector goes (its waiting deliveries wait)."""
        connectors = self.dispatcher.connectors
        wanted = {(CHANNEL, h.name): (h.url, h.secret) for h in hooks}
        for key in [k for k in connectors if k[0] == CHANNEL and k not in wanted]:
            del connectors[key]
        for key, (url, secret) in wanted.items():
            now = connectors.get(key)
            if not (isinstance(now, WebhookConnector) and (now.url, now.secret) == (url, secret)):
                connectors[key] = WebhookConnector(key[1], url, secret, self.client)

    async def close(self) -> None:
        await self.client.aclose()

