"""What the queue and conversation tests share: messages ingested as a channel would
hand them over, agents with a session, and the desk app in process."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy.orm import Session

from channels.base import Address, Connector, Inbound, InboundAttachment
from inbox.core.vocab import Role
from inbox.desk import accounts
from inbox.ingest.pipeline import ingest_batch
from inbox.runtime.app import App
from inbox.web.auth import SESSION_COOKIE

T = TypeVar("T")
FAST = accounts.default_hasher()  # real argon2: a few ms per agent here


def mail(n: int, *, subject: str = "Where is my order?", text: str = "Hello, it did not come.",
         sender: str = "anna@example.com", name: str = "Anna", at: datetime | None = None,
         channel: str = "email", attachments: tuple[InboundAttachment, ...] = ()) -> Inbound:
    return Inbound(channel=channel, account="support" if channel == "email" else "bot",
                   external_id=f"m{n}@example.com" if channel == "email" else f"{n}",
                   sender=Address(sender, name), received_at=at or datetime.now(UTC),
                   subject=subject if channel == "email" else None, text=text,
                   headers={"return-path": f"<{sender}>"} if channel == "email" else {},
                   attachments=attachments,
                   reopen_window=None if channel == "email" else timedelta(days=7))


def ingest(app: App, *items: Inbound, now: datetime | None = None) -> None:
    with app.engine.begin() as conn:
        ingest_batch(conn, items, app.pipeline_context(), now or datetime.now(UTC))


class Client:
    """httpx's client on the desk in process, called without an event loop here: this
    folder's browser tests hold one (Playwright's) in the main thread, so each request
    runs in a thread with a loop of its own."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.headers, self.cookies = client.headers, client.cookies

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return in_own_loop(self.client.get(url, **kwargs))

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return in_own_loop(self.client.post(url, **kwargs))


def agent_client(app: App, name: str, role: Role = Role.AGENT,
                 teams: tuple[str, ...] = (),
                 connectors: Mapping[tuple[str, str], Connector] | None = None) -> Client:
    """The desk in process, as `name` signed in (a session opened as /login would);
    `connectors` are what the daemon would hand it (their webhooks, their limits)."""
    now = datetime.now(UTC)
    with Session(app.engine, expire_on_commit=False) as s, s.begin():
        agent = accounts.add_agent(s, email=f"{name.lower()}@helpdesk.test", name=name,
                                   role=role, password=None, now=now, teams=teams,
                                   hasher=FAST)
        token, csrf = accounts.open_session(s, agent, "127.0.0.1", "test", now,
                                            secret=app.secret)
    return Client(httpx.AsyncClient(transport=httpx.ASGITransport(app=app.desk(connectors or {})),
                                     base_url="http://desk", cookies={SESSION_COOKIE: token},
                                     headers={"X-CSRF-Token": csrf, "HX-Request": "true"}))


def in_own_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` in a thread with an event loop of its own (see agent_client)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def rows(page: str) -> list[str]:
    """The subjects (or first lines) of the queue's rows, top to bottom."""
    return [re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r'<a href="/c/\d+" dir="auto">(.*?)</a>', page)]
