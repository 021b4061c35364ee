"""Telegram webhook mode: an HTTP endpoint in the daemon that Telegram posts updates to.

For operators with a public HTTPS address (a reverse proxy terminating TLS in front of
the desk's address, where the daemon serves this endpoint): Telegram pushes each update
at once instead of waiting for the next long poll. Every request must carry the secret
token we gave setWebhook (`X-Telegram-Bot-Api-Secret-Token`); anything else is refused
with a status that says why (405, 403, 413 for a body over MAX_BODY, read no further;
400 for what is not an update), and logged in a bounded way (`Refusals`): a public URL
can be posted to by anyone, as often as they like.

The endpoint answers 200 only after the update is committed. Telegram keeps an update
and posts it again until it gets a 2xx, so an update the daemon dies holding is
delivered again, never lost (a repeat is dropped by the pipeline's dedupe). To know
when a batch is committed, the connector hands out a fresh cursor with each batch
(`webhook:<n>`): the daemon saves it in the ingest transaction and passes it back to
the next fetch, and a fetch that gets back the cursor of the batch before proves that
batch committed. Any other cursor means the batch was not stored: it is handed out
again.

Each bot's endpoint is an ASGI app (`WebhookEndpoint`) that the connector offers
through `channels.base.WebhookReceiver`; the daemon serves it in its one web app, on the
desk's address, at the path of the bot's public URL. Nothing here listens on a port.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger(__name__)

SECRET_HEADER = "x-telegram-bot-api-secret-token"
MAX_BODY = 1024 * 1024  # updates are a few KB; anything this big is not from Telegram
MAX_DEPTH = 64  # Telegram's updates nest about 6 deep; this much is not an update
LOG_EVERY = timedelta(minutes=1)  # refusals of one kind: at most one log line this often
# Telegram does not wait for ever; answer (503) before it gives up, so that a stuck
# commit costs a redelivery (deduplicated), not a connection left hanging.
COMMIT_WAIT_SECONDS = 50.0
BATCH = 100


@dataclass
class _Pending:
    update: dict[str, Any]
    done: asyncio.Future[bool]


@dataclass
class WebhookInbox:
    """Updates posted to one bot's endpoint, held until the batch carrying them commits."""

    queue: deque[_Pending] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    handed: tuple[str, list[_Pending]] | None = None
    serial: int | None = None
    closed: bool = False

    async def offer(self, update: dict[str, Any]) -> bool:
        """Queue an update; True once it is committed, False if the daemon stopped first."""
        if self.closed:
            return False
        pending = _Pending(update, asyncio.get_running_loop().create_future())
        self.queue.append(pending)
        self.arrived.set()
        return await pending.done

    async def take(self, cursor: str | None, wait: float) -> tuple[list[dict[str, Any]],
                                                                   str | None]:
        """Settle the batch handed out before, then the next batch and its cursor."""
        self._settle(cursor)
        if not self.queue and wait > 0:
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), timeout=wait)
        batch = [self.queue.popleft() for _ in range(min(len(self.queue), BATCH))]
        if not batch:
            return [], cursor
        self.serial = (self.serial if self.serial is not None else _serial(cursor)) + 1
        handed = f"webhook:{self.serial}"
        self.handed = (handed, batch)
        return [p.update for p in batch], handed

    def _settle(self, cursor: str | None) -> None:
        if self.handed is None:
            return
        handed, batch = self.handed
        self.handed = None
        if cursor != handed:  # not stored (the ingest failed): hand the batch out again
            self.queue.extendleft(reversed(batch))
            return
        for p in batch:
            if not p.done.done():  # its request may have given up waiting
                p.done.set_result(True)

    def close(self) -> None:
        """Answer everyone still waiting with a failure: Telegram will post again."""
        self.closed = True
        batch = self.handed[1] if self.handed else []
        for p in [*batch, *self.queue]:
            if not p.done.done():
                p.done.set_result(False)
        self.queue.clear()
        self.handed = None


def _serial(cursor: str | None) -> int:
    prefix = "webhook:"
    if cursor and cursor.startswith(prefix) and cursor[len(prefix):].isdigit():
        return int(cursor[len(prefix):])
    return 0


@dataclass
class _Tally:
    logged: datetime  # when a line about this kind of refusal was last written
    count: int = 0  # refusals since then, not yet in the log


@dataclass
class Refusals:
    """Refused requests in the log, bounded: anyone can post to a public URL, as often as
    they like, and a line per request would bury the log (and fill the disk).

    The first refusal of a kind is logged at once, at WARNING; after that, at most one
    line per `every`, with how many were refused since the last one. `now` is passed in.
    """

    every: timedelta = LOG_EVERY
    tallies: dict[str, _Tally] = field(default_factory=dict)

    def refused(self, kind: str, client: str, now: datetime) -> None:
        tally = self.tallies.get(kind)
        if tally is None:
            self.tallies[kind] = _Tally(now)
            log.warning("telegram webhook: refused %s from %s (more of these are counted: "
                        "one line a minute at most)", kind, client)
            return
        tally.count += 1
        if now - tally.logged >= self.every:
            log.warning("telegram webhook: refused %d more %s since %s UTC (the last from %s)",
                        tally.count, kind, f"{tally.logged:%Y-%m-%d %H:%M:%S}", client)
            tally.logged, tally.count = now, 0


class Refused(Exception):
    """A request we answer with an error: its status and what to log it as."""

    def __init__(self, status: int, kind: str) -> None:
        super().__init__(kind)
        self.status, self.kind = status, kind


class WebhookEndpoint:
    """One bot's endpoint, an ASGI app: checks the secret, reads the update, and answers
    once the batch carrying it is committed (200), or 503 if it is not."""

    def __init__(self, path: str, secret: str, inbox: WebhookInbox,
                 clock: Callable[[], datetime]) -> None:
        self.path, self.secret, self.inbox, self.clock = path, secret, inbox, clock
        self.refusals = Refusals()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.receive(Request(scope, receive))
        await response(scope, receive, send)

    async def receive(self, request: Request) -> Response:
        try:
            update = await self._accept(request)
        except Refused as no:
            client = request.client.host if request.client else "?"
            self.refusals.refused(no.kind, client, self.clock())
            return PlainTextResponse(no.kind, status_code=no.status)
        try:
            committed = await asyncio.wait_for(self.inbox.offer(update),
                                               timeout=COMMIT_WAIT_SECONDS)
        except TimeoutError:
            committed = False
        return Response(status_code=200 if committed else 503)

    async def _accept(self, request: Request) -> dict[str, Any]:
        if request.method != "POST":
            raise Refused(405, f"a {request.method} to {self.path}")
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            raise Refused(403, f"a post to {self.path} without the secret token")
        return await _read_update(request)


async def _read_update(request: Request) -> dict[str, Any]:
    """The posted update; Refused (413 or 400) for a body that cannot be one.

    The body is read only up to MAX_BODY: a declared length over it is refused before
    reading anything, and a body that grows past it is refused there.
    """
    too_big = Refused(413, f"a body over {MAX_BODY // 1024} KB")
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY:
        raise too_big if declared.isdigit() else Refused(400, "a bad Content-Length")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise too_big
    try:
        update = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
        raise Refused(400, "a body that is not JSON") from None
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int) \
            or _depth(update) > MAX_DEPTH:
        raise Refused(400, "a body that is not a Telegram update")
    return update


def _depth(value: object) -> int:
    """How deep JSON nests, without recursion (a hostile body may nest thousands deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else \
            item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return deepest
