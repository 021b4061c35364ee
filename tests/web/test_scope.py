"""What an agent may see: their teams' conversations, those of no team, and their own; a
supervisor sees every team's. Another team's conversation is not in the queue, and its
pages and actions answer as if it did not exist."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.vocab import Role
from inbox.desk import accounts
from inbox.runtime.app import App
from inbox.store.models import Conversation, Outbox
from tests.web.desk_helpers import agent_client, ingest, mail, rows


def routed(app: App, subject: str, team: str | None, assignee: str | None = None) -> int:
    with Session(app.engine) as s, s.begin():
        conv = s.scalars(sa.select(Conversation).where(
            col(Conversation.subject) == subject)).one()
        conv.team, conv.assignee = team, assignee
        assert conv.id is not None
        return conv.id


def test_an_agent_sees_their_teams_and_a_supervisor_every_team(app: App) -> None:
    now = datetime.now(UTC)
    with Session(app.engine, expire_on_commit=False) as s, s.begin():
        for team in ("billing", "tech"):
            accounts.add_team(s, team, now)
    ingest(app, *(mail(n, subject=subject, sender=f"c{n}@example.com") for n, subject in
                  enumerate(["Invoice", "Server down", "Hello", "Printer jam"])))
    routed(app, "Invoice", "billing")
    other = routed(app, "Server down", "tech")
    routed(app, "Printer jam", "tech", assignee="Ana")
    ana = agent_client(app, "Ana", teams=("billing",))
    sam = agent_client(app, "Sam", Role.SUPERVISOR)
    assert sorted(rows(ana.get("/").text)) == ["Hello", "Invoice", "Printer jam"]
    assert sorted(rows(sam.get("/").text)) == ["Hello", "Invoice", "Printer jam", "Server down"]
    assert ana.get(f"/c/{other}").status_code == 404
    sent = ana.post(f"/c/{other}/reply", data={"text": "Have you tried turning it off?"})
    assert sent.status_code == 404
    for past in (f"/c/{2**31}", f"/c/{other}/a/{2**40}", f"/c/{10**12}/live"):
        assert sam.get(past).status_code == 404, past  # ids are 32-bit on PostgreSQL
    with Session(app.engine) as s:
        replies = sa.select(sa.func.count()).select_from(Outbox).where(
            col(Outbox.kind) == "reply")
        assert s.scalar(replies) == 0  # the acks are there; no reply went out
    assert sam.get(f"/c/{other}").status_code == 200
