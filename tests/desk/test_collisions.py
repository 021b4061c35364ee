"""Two agents on one conversation, in process on both databases: a reply sent after
someone else's asks first; drafts are kept per agent and box until sent; presence
lapses by itself. Time is passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.errors import Conflict
from inbox.core.vocab import Role
from inbox.desk import accounts, actions, drafts
from inbox.desk.drafts import Present
from inbox.runtime.app import App
from inbox.store.models import Message, Outbox
from tests.web.desk_helpers import FAST, ingest, mail

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def newest(app: App) -> int:
    with Session(app.engine) as s:
        return int(s.scalar(sa.select(sa.func.max(Message.id))) or 0)


def reply(app: App, author: str, text: str, seen_up_to: int | None) -> None:
    with Session(app.engine) as s, s.begin():
        actions.reply(s, 1, text, author=author, now=NOW, secret=app.secret,
                      domain="helpdesk.test", seen_up_to=seen_up_to)


def sends(app: App) -> list[str]:
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(col(Outbox.kind)).order_by(Outbox.id)))


def test_a_reply_after_someone_elses_asks_first_and_goes_when_confirmed(app: App) -> None:
    ingest(app, mail(1), now=NOW)
    seen = newest(app)  # what both agents' screens show: the mail and its ack
    reply(app, "kim", "It left today.", seen)
    with Session(app.engine) as s, s.begin():
        actions.note(s, 1, "Asked the courier.", author="lee", now=NOW)
    with pytest.raises(actions.ReplyCollision) as asked:
        reply(app, "ana", "We are looking into it.", seen)
    assert isinstance(asked.value, Conflict)
    assert str(asked.value) == "kim replied meanwhile: send anyway?"
    assert [(m["author"], m["text"]) for m in asked.value.meanwhile] == [
        ("kim", "It left today.")]
    assert sends(app) == ["ack", "reply"]  # nothing of ana's was queued
    now_seen = newest(app)
    reply(app, "ana", "We are looking into it.", now_seen)  # she has seen kim's now
    reply(app, "ana", "And a second thought.", now_seen)  # her own reply: no collision
    reply(app, "ana", "Sent anyway.", seen_up_to=None)  # confirmed
    assert sends(app) == ["ack", "reply", "reply", "reply", "reply"]


def agents(app: App, *names: str) -> list[int]:
    with Session(app.engine, expire_on_commit=False) as s, s.begin():
        made = [accounts.add_agent(s, email=f"{n}@helpdesk.test", name=n.capitalize(),
                                   role=Role.AGENT, password=None, now=NOW, hasher=FAST)
                for n in names]
    return [int(a.id or 0) for a in made]


def test_drafts_are_kept_per_agent_and_box_until_emptied(app: App) -> None:
    ingest(app, mail(1), now=NOW)
    ana, kim = agents(app, "ana", "kim")
    with Session(app.engine) as s, s.begin():
        drafts.save_draft(s, ana, 1, "reply", "Dear Anna,", now=NOW)
        drafts.save_draft(s, ana, 1, "reply", "Dear Anna, it left.", now=NOW)
        drafts.save_draft(s, ana, 1, "note", "سلام", now=NOW)
        drafts.save_draft(s, kim, 1, "reply", "Hi!", now=NOW)
    with Session(app.engine) as s, s.begin():
        assert drafts.drafts(s, ana, 1) == {"reply": "Dear Anna, it left.", "note": "سلام"}
        drafts.save_draft(s, ana, 1, "note", "  ", now=NOW)
        drafts.discard(s, kim, 1, "reply")
    with Session(app.engine) as s:
        assert drafts.drafts(s, ana, 1) == {"reply": "Dear Anna, it left."}
        assert drafts.drafts(s, kim, 1) == {}


def test_presence_shows_others_and_lapses_by_itself(app: App) -> None:
    ingest(app, mail(1), now=NOW)
    ana, kim = agents(app, "ana", "kim")
    with Session(app.engine) as s, s.begin():
        drafts.announce(s, ana, 1, "", NOW)
        drafts.announce(s, kim, 1, "reply", NOW)
        drafts.announce(s, kim, 1, "reply", NOW)  # again: still one row

    def seen_by_ana(at: datetime) -> list[Present]:
        with Session(app.engine) as s:
            return drafts.present(s, 1, at, besides=ana)

    assert seen_by_ana(NOW) == [Present("Kim", "reply")]
    typed = NOW + timedelta(seconds=drafts.TYPING_SECONDS + 1)
    assert seen_by_ana(typed) == [Present("Kim", "")]  # stopped typing: still viewing
    gone = NOW + timedelta(seconds=drafts.VIEWING_SECONDS + 1)
    assert seen_by_ana(gone) == []  # the page stopped saying it is open
    with Session(app.engine) as s, s.begin():
        drafts.leave(s, kim, 1)
        assert drafts.present(s, 1, NOW) == [Present("Ana", "")]
