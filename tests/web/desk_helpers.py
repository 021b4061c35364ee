"""What the queue and conversation tests share: messages ingested as a channel would
hand them over, agents with a session, and the desk app in process."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.orm import Session

from channels.base import Address, Inbound, InboundAttachment
from inbox.core.vocab import Role
from inbox.desk import accounts
from inbox.ingest.pipeline import ingest_batch
from inbox.runtime.app import App
from inbox.web.auth import SESSION_COOKIE

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


def agent_client(app: App, name: str, role: Role = Role.AGENT) -> httpx.AsyncClient:
    """The desk in process, as `name` signed in (a session opened as /login would)."""
    now = datetime.now(UTC)
    with Session(app.engine, expire_on_commit=False) as s, s.begin():
        agent = accounts.add_agent(s, email=f"{name.lower()}@helpdesk.test", name=name,
                                   role=role, password=None, now=now, hasher=FAST)
        token, csrf = accounts.open_session(s, agent, "127.0.0.1", "test", now,
                                            secret=app.secret)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.desk({})),
                               base_url="http://desk", cookies={SESSION_COOKIE: token},
                               headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    return client


def rows(page: str) -> list[str]:
    """The subjects (or first lines) of the queue's rows, top to bottom."""
    return [re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r'<a href="/c/\d+" dir="auto">(.*?)</a>', page)]
