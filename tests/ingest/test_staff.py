"""An agent answering one of our notifications is staff talking, not the customer: the
answer is kept as an internal note, on both databases, by e-mail and Telegram."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from channels.base import Address, Inbound
from inbox.core import tokens
from inbox.core.config import load_settings
from inbox.core.vocab import Direction, Kind, Status
from inbox.desk import actions
from inbox.ingest.pipeline import ingest, ingest_batch
from inbox.ingest.work import Result
from inbox.runtime.app import App
from inbox.store import batch as store
from inbox.store.models import Contact, Conversation, Event, Message, Outbox

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
CONFIG = """
[agents.ana]
email = "Ana@Shop.example"
[agents.ben]
telegram = "42"
[channels.email.support]
host = "127.0.0.1"
[channels.telegram.bot]
token_file = "bot.token"
"""
RULES = """
- name: lawyers
  when: {text: [lawyer]}
  then: {notify: [{to: ana, template: notify}, {to: ben, template: notify}]}
"""


@pytest.fixture
def desk(app: App, deployment: Path) -> Iterator[App]:
    """The `inbox init` deployment with two agents and a rule that tells them both."""
    config = deployment / "inbox.toml"
    config.write_text(config.read_text() + CONFIG)
    (deployment / "rules" / "50-lawyers.yaml").write_text(RULES)
    built = App(load_settings(config))
    yield built
    built.close()


def mail(external_id: str, sender: str, subject: str, text: str, *,
         references: tuple[str, ...] = (), headers: dict[str, str] | None = None) -> Inbound:
    return Inbound(channel="email", account="support", external_id=external_id,
                   sender=Address(sender, sender.partition("@")[0].title()), text=text,
                   received_at=LATER if references else NOW, subject=subject,
                   references=references,
                   headers={"return-path": f"<{sender}>", **(headers or {})})


def run(app: App, item: Inbound, now: datetime = LATER) -> Result:
    with app.engine.begin() as conn:
        [result] = ingest_batch(conn, [item], app.pipeline_context(), now)
    return result


def complaint(app: App) -> tuple[Conversation, Message]:
    """A customer's message that notifies both agents; returns it and ana's notification."""
    run(app, mail("c1@example.com", "anna@example.com", "Complaint",
                  "My lawyer will call you."), now=NOW)
    with Session(app.engine) as s:
        conv = s.scalars(sa.select(Conversation)).one()
        notice = s.scalars(sa.select(Message).where(
            Message.kind == Kind.SYSTEM, Message.channel == "email")).one()  # type: ignore[arg-type]
    return conv, notice


def snapshot(app: App, conv_id: int) -> tuple[object, ...]:
    with Session(app.engine) as s:
        c = s.get(Conversation, conv_id)
        assert c is not None
        return (c.status, c.awaiting_since, c.sla_due_at, c.sla_state, c.first_response_at,
                len(s.scalars(sa.select(Contact)).all()),
                len(s.scalars(sa.select(Outbox)).all()))


def filed(app: App, external_id: str) -> Message:
    with Session(app.engine) as s:
        return s.scalars(sa.select(Message).where(Message.external_id == external_id)).one()  # type: ignore[arg-type]


def test_an_agents_email_answer_to_a_notification_is_a_note(desk: App) -> None:
    conv, notice = complaint(desk)
    assert conv.id is not None
    before = snapshot(desk, conv.id)
    ref = tokens.reference(desk.secret, conv.id)  # also in the subject: the note must win
    answer = mail("r1@shop.example", "ana@shop.example", f"Re: [normal] {ref} Complaint",
                  "I'll call them back this afternoon.", references=(notice.external_id,))
    result = run(desk, answer)
    assert result.conversation_id == conv.id and not result.acked
    note = filed(desk, "r1@shop.example")
    assert (note.kind, note.direction, note.author) == (Kind.NOTE, Direction.OUT, "ana")
    assert note.conversation_id == conv.id and "call them back" in note.text
    # still the customer's open conversation, the clock untouched, nobody new, no ack
    assert snapshot(desk, conv.id) == before
    with Session(desk.engine) as s:
        [event] = s.scalars(sa.select(Event).where(Event.kind == "staff-reply")).all()  # type: ignore[arg-type]
    assert event.detail["author"] == "ana" and event.detail["about"] == notice.external_id


def test_an_answer_to_a_notification_does_not_reopen_a_resolved_conversation(
        desk: App) -> None:
    conv, notice = complaint(desk)
    assert conv.id is not None
    with Session(desk.engine) as s, s.begin():
        actions.reply(s, conv.id, "We are on it.", author="ana", now=NOW, secret=desk.secret,
                      domain="shop.example")
        actions.set_status(s, conv.id, Status.RESOLVED, now=NOW, by="ana",
                           policies=desk.sla)
    before = snapshot(desk, conv.id)
    run(desk, mail("r2@shop.example", "ana@shop.example", "Re: Complaint", "Done, thanks.",
                   references=("c1@example.com", notice.external_id)))
    assert snapshot(desk, conv.id) == before
    assert filed(desk, "r2@shop.example").kind == Kind.NOTE


def test_an_out_of_office_answer_to_a_notification_is_filed_not_noted(desk: App) -> None:
    conv, notice = complaint(desk)
    assert conv.id is not None
    before = snapshot(desk, conv.id)
    run(desk, mail("ooo@shop.example", "ana@shop.example", "Out of office",
                   "I am away until Monday.", references=(notice.external_id,),
                   headers={"auto-submitted": "auto-replied"}))
    away = filed(desk, "ooo@shop.example")
    assert (away.kind, away.direction, away.author) == (Kind.SYSTEM, Direction.IN, None)
    assert away.conversation_id == conv.id and snapshot(desk, conv.id) == before


def test_a_telegram_reply_to_a_notification_is_a_note_by_that_agent(desk: App) -> None:
    conv, _ = complaint(desk)
    assert conv.id is not None
    with Session(desk.engine) as s, s.begin():  # sent: the dispatcher records its chat id
        sent = s.scalars(sa.select(Message).where(
            Message.kind == Kind.SYSTEM, Message.channel == "telegram")).one()  # type: ignore[arg-type]
        sent.external_id = "42:777"
    before = snapshot(desk, conv.id)
    reply = Inbound(channel="telegram", account="bot", external_id="42:778",
                    sender=Address("42", "Ben"), received_at=LATER, text="On it.",
                    references=("42:777",), thread_key="42")
    run(desk, reply)
    note = filed(desk, "42:778")
    assert (note.kind, note.author, note.conversation_id) == (Kind.NOTE, "ben", conv.id)
    assert snapshot(desk, conv.id) == before  # and no conversation opened for ben's chat


def test_a_customer_reply_to_the_acknowledgement_is_still_the_customer(desk: App) -> None:
    conv, _ = complaint(desk)
    with Session(desk.engine) as s:
        ack = s.scalars(sa.select(Message).where(Message.kind == Kind.AUTO_ACK)).one()  # type: ignore[arg-type]
    run(desk, mail("c2@example.com", "anna@example.com", "Re: Complaint", "Any news?",
                   references=("c1@example.com", ack.external_id)))
    again = filed(desk, "c2@example.com")
    assert (again.kind, again.conversation_id) == (Kind.CUSTOMER, conv.id)


def test_the_per_message_path_knows_notifications_too(desk: App) -> None:
    conv, notice = complaint(desk)
    answer = mail("r3@shop.example", "ana@shop.example", "Re: Complaint", "Noted.",
                  references=(notice.external_id,))
    with desk.engine.begin() as conn:  # no prefetch: the retry path after a failed batch
        result = ingest(store.Batch(conn), answer, desk.pipeline_context(), LATER)
    assert result.conversation_id == conv.id
    assert filed(desk, "r3@shop.example").author == "ana"
