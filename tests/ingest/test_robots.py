"""Robots are stored and visible but never answered and never become work: on SQLite and
PostgreSQL. The mail is tests/robots_corpus.py, whole messages through the parser."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from channels.email.mime import parse_email
from inbox.core.vocab import Status
from inbox.desk import actions, views
from inbox.ingest.pipeline import ingest_batch
from inbox.ingest.work import Result
from inbox.runtime.app import App
from inbox.store.models import Conversation, Event, Message, Outbox
from tests import mailcorpus as mc
from tests import robots_corpus as rc
from tests.cli.test_cli import inbox_json

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def ingest(app: App, *raws: bytes, now: datetime = NOW) -> list[Result]:
    with app.engine.begin() as conn:
        return ingest_batch(conn, [parse_email(raw, "support", now) for raw in raws],
                            app.pipeline_context(), now)


def rows(app: App, model: type, **where: object) -> list:  # type: ignore[type-arg]
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(model).filter_by(**where).order_by(
            model.id)).all())  # type: ignore[attr-defined]


def conv(app: App, conv_id: int | None) -> Conversation:
    with Session(app.engine) as s:
        found = s.get(Conversation, conv_id)
        assert found is not None
        return found


def queue(app: App, *, automated: bool = False) -> list[int]:
    with Session(app.engine) as s:
        found = views.queue(s, views.QueueFilter(automated=automated),
                            NOW, app.secret)
    return [c["id"] for c in found]


def customer(message_id: str, **kw: Any) -> bytes:
    return mc.plain_mail(sender="Anna Nowak <anna@example.com>", to=rc.SUPPORT,
                         message_id=f"<{message_id}>", subject="Order 1234", **kw)


@pytest.mark.parametrize("kind", rc.KINDS)
def test_each_kind_of_robot_is_stored_and_never_acknowledged(app: App, kind: str) -> None:
    samples = [s for s in rc.ROBOTS if s.kind == kind]
    results = ingest(app, *(s.raw for s in samples))
    assert [r.outcome for r in results] == ["stored"] * len(samples)
    assert rows(app, Outbox) == []
    why = {e.message_id: e.detail["reason"] for e in rows(app, Event, kind="ack.suppressed")}
    for sample, result in zip(samples, results, strict=True):
        assert sample.why in why.get(result.message_id, ""), (sample.name, why)


def test_a_robot_starts_no_clock_and_stays_out_of_the_queue(app: App) -> None:
    [robot] = ingest(app, rc.ROBOTS[0].raw)
    [human] = ingest(app, customer("anna-1@example.com"))
    robot_conv = conv(app, robot.conversation_id)
    assert "automated" in robot_conv.tags
    assert robot_conv.sla_due_at is None and robot_conv.awaiting_since is None
    [why] = [e for e in rows(app, Event, kind="automated")
             if e.conversation_id == robot.conversation_id]
    assert "feedback-report" in why.detail["reason"]
    assert queue(app) == [human.conversation_id]
    assert set(queue(app, automated=True)) == {robot.conversation_id, human.conversation_id}


def test_a_person_writing_after_a_robot_starts_the_clock(app: App) -> None:
    # Anna's own autoresponder wrote first; then Anna herself, in that thread.
    [robot] = ingest(app, mc.auto_reply_mail(sender="Anna Nowak <anna@example.com>",
                                             message_id="<anna-away@example.com>"))
    [person] = ingest(app, customer("anna-2@example.com",
                                    in_reply_to="<anna-away@example.com>"),
                      now=NOW + timedelta(hours=1))
    assert person.conversation_id == robot.conversation_id
    joined = conv(app, person.conversation_id)
    assert joined.sla_due_at == NOW + timedelta(hours=25) and "automated" not in joined.tags
    assert queue(app) == [person.conversation_id]


def _answered_and_resolved(app: App) -> tuple[int, Message]:
    """Anna's conversation, answered by an agent and resolved."""
    [first] = ingest(app, customer("anna-3@example.com"))
    assert first.conversation_id is not None
    with Session(app.engine) as s, s.begin():
        reply = actions.reply(s, first.conversation_id, "It ships today.", author="kim",
                              now=NOW + timedelta(hours=1), secret=app.secret,
                              domain="shop.example")
        actions.set_status(s, first.conversation_id, Status.RESOLVED,
                           now=NOW + timedelta(hours=1), by="kim", policies=app.sla)
        s.expunge(reply)
    return first.conversation_id, reply


def test_an_out_of_office_answering_our_reply_joins_quietly(app: App) -> None:
    conv_id, reply = _answered_and_resolved(app)
    later = NOW + timedelta(hours=2)
    [ooo] = ingest(app, mc.auto_reply_mail(sender="Anna Nowak <anna@example.com>",
                                           in_reply_to=f"<{reply.external_id}>",
                                           message_id="<ooo-1@example.com>"), now=later)
    assert ooo.conversation_id == conv_id and not ooo.acked
    quiet = conv(app, conv_id)
    assert quiet.status == Status.RESOLVED and quiet.sla_due_at is None
    assert quiet.awaiting_since is None and "automated" not in quiet.tags
    assert rows(app, Event, kind="reopened") == []
    [why] = rows(app, Event, kind="automated")
    assert why.conversation_id == conv_id and "Auto-Submitted" in why.detail["reason"]
    assert conv_id not in queue(app)

    [back] = ingest(app, customer("anna-4@example.com", in_reply_to=f"<{reply.external_id}>"),
                    now=later + timedelta(hours=1))
    reopened = conv(app, back.conversation_id)
    assert back.conversation_id == conv_id and reopened.status == Status.OPEN
    assert reopened.sla_due_at is not None and conv_id in queue(app)


def test_the_next_reply_goes_to_the_customer_not_to_the_robot(app: App) -> None:
    conv_id, reply = _answered_and_resolved(app)
    ingest(app, mc.auto_reply_mail(sender="Holiday Robot <vacation@example.com>",
                                   in_reply_to=f"<{reply.external_id}>",
                                   message_id="<ooo-2@example.com>"),
           now=NOW + timedelta(hours=2))
    with Session(app.engine) as s, s.begin():
        answer = actions.reply(s, conv_id, "One more thing.", author="kim",
                               now=NOW + timedelta(hours=3), secret=app.secret,
                               domain=app.settings.domain)
        to = answer.recipients
    assert to == ["anna@example.com"]


def test_a_mixed_mailbox_through_inbox_ingest(app: App, tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for sample in (*rc.ROBOTS, *rc.HUMANS):
        box.add(sample.raw)
    summary = inbox_json("ingest", str(tmp_path / "Maildir"))
    assert summary["stored"] == len(rc.ROBOTS) + len(rc.HUMANS) and summary["quarantined"] == 0
    humans = {f"{s.name}@customers.example" for s in rc.HUMANS}
    acked = [o.recipient for o in rows(app, Outbox)]
    assert sorted(acked) == sorted(humans)  # no robot answered, every person once
    shown = inbox_json("queue", "--limit", "1000")
    assert {c["contact"]["address"] for c in shown} == humans
    everything = inbox_json("queue", "--automated", "--limit", "1000")
    robots = [c for c in everything if c["contact"]["address"] not in humans]
    assert len(everything) == len(rc.ROBOTS) + len(rc.HUMANS)
    assert all("automated" in c["tags"] and c["sla"]["due_at"] is None for c in robots)
