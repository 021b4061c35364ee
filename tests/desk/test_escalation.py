"""Escalating a conversation to the supervisors (inbox.desk.escalation), on both
databases: the row, the event, who is told through the outbox, and handling it; a
notice that really leaves through the SMTP sink."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import default
from typing import Any

import pytest
from sqlalchemy.orm import Session

from inbox.core.errors import Invalid, NotFound
from inbox.core.vocab import Role
from inbox.desk import accounts, views
from inbox.desk.escalation import NotEscalated, escalate, handle_escalation
from inbox.desk.words import event_words
from inbox.runtime.app import App
from inbox.store.models import Escalation, Event, Message, Outbox
from tests.peers import Desk, SmtpSink
from tests.web.desk_helpers import FAST, ingest, mail

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
ZONE = zoneinfo.ZoneInfo("UTC")


def person(s: Session, name: str, role: Role, *, telegram: str | None = None,
           enabled: bool = True) -> None:
    agent = accounts.add_agent(s, email=f"{name}@shop.example", name=name, role=role,
                               password=None, now=NOW, telegram=telegram, hasher=FAST)
    if not enabled:
        accounts.set_enabled(s, agent, False, NOW)


@pytest.fixture
def shop(app: App) -> Iterator[App]:
    """A deployment with e-mail and Telegram accounts to tell from, two supervisors and
    an admin (who receive escalations), a disabled supervisor and an agent (who do not),
    and one customer conversation."""
    settings = app.settings.model_copy(update={
        "channels": {"email": {"support": {}}, "telegram": {"bot": {}}}})
    configured = App(settings)
    with Session(configured.engine) as s, s.begin():
        person(s, "boss", Role.SUPERVISOR)
        person(s, "chief", Role.ADMIN, telegram="4242")
        person(s, "gone", Role.SUPERVISOR, enabled=False)
        person(s, "ana", Role.AGENT)
    ingest(configured, mail(1, subject="Refund please", name="Anna Nowak"), now=NOW)
    yield configured
    configured.close()


def act(app: App, work: Any) -> Any:
    with Session(app.engine, expire_on_commit=False) as s, s.begin():
        return work(s)


def notices(app: App) -> list[tuple[str, str, str]]:
    with Session(app.engine) as s:
        rows = s.query(Outbox).filter_by(kind="notify").order_by(Outbox.id).all()  # type: ignore[arg-type]
        return [(o.channel, o.account, o.recipient) for o in rows]


def test_escalating_tells_every_enabled_supervisor_and_leaves_a_row_and_an_event(
        shop: App) -> None:
    act(shop, lambda s: escalate(s, 1, "Wants a refund over our limit.\nPlease decide.",
                                 by="ana", now=NOW, tell=shop.escalations))
    assert notices(shop) == [("email", "support", "boss@shop.example"),
                             ("email", "support", "chief@shop.example")]
    with Session(shop.engine) as s:
        [row] = s.query(Escalation).all()
        assert (row.escalated_by, row.supervisor, row.created_at, row.handled_at) == (
            "ana", None, NOW, None)
        [event] = s.query(Event).filter_by(kind="escalated").all()
        told = [m.text for m in s.query(Message).filter_by(kind="system").all()]
        subjects = {m.subject for m in s.query(Message).filter_by(kind="system").all()}
    assert event.detail["notified"] == ["email:boss@shop.example", "email:chief@shop.example"]
    words = event_words({"kind": "escalated", "detail": event.detail}, ZONE)
    assert "escalated to the supervisors by \u2068ana\u2069" in words
    assert all("Wants a refund over our limit.\nPlease decide." in t for t in told)
    assert all("Anna Nowak" in t and "#1" in t for t in told)
    assert subjects == {"[Escalated] #1 Refund please"}
    conv = act(shop, lambda s: views.conversation(s, 1, NOW, shop.secret))
    assert conv["escalated"] and conv["escalation"]["reason"].startswith("Wants a refund")
    assert conv["assignee"] is None  # escalating gives the conversation to nobody


def test_one_named_supervisor_is_told_on_their_channel(shop: App) -> None:
    with Session(shop.engine) as s, s.begin():  # chief is reached by Telegram only
        chief = accounts.find_agent(s, "chief")
        chief.email = None
    act(shop, lambda s: escalate(s, 1, "Threatens to go to the press.", by="ana", now=NOW,
                                 to="chief", tell=shop.escalations))
    assert notices(shop) == [("telegram", "bot", "4242")]
    with pytest.raises(NotFound, match="unknown supervisor 'ana'"):  # an agent is not one
        act(shop, lambda s: escalate(s, 1, "why", by="ana", now=NOW, to="ana"))


def test_a_reason_is_required_and_bounded(shop: App) -> None:
    for reason in ("", "   \n ", "x" * 2001):
        with pytest.raises(Invalid):
            act(shop, lambda s, r=reason: escalate(s, 1, r, by="ana", now=NOW))
    with pytest.raises(NotFound):
        act(shop, lambda s: escalate(s, 99, "why", by="ana", now=NOW))


def test_escalating_again_adds_the_reason_and_tells_nobody_twice(shop: App) -> None:
    act(shop, lambda s: escalate(s, 1, "First.", by="ana", now=NOW, tell=shop.escalations))
    later = NOW + timedelta(minutes=5)
    act(shop, lambda s: escalate(s, 1, "And now he is angry.", by="boss", now=later,
                                 tell=shop.escalations))
    assert len(notices(shop)) == 2  # the first escalation's, once
    conv = act(shop, lambda s: views.conversation(s, 1, later, shop.secret))
    [esc] = conv["escalations"]
    assert esc["reason"] == "First." and esc["more"] == [
        {"by": "boss", "at": "2026-12-07T10:05:00Z", "reason": "And now he is angry."}]
    words = [event_words(e, ZONE) for e in conv["events"] if e["kind"] == "escalated"]
    assert words[1] == "\u2068boss\u2069 added to the escalation: \u2068And now he is angry.\u2069"


def test_handled_leaves_the_open_list_and_the_next_one_is_new(shop: App) -> None:
    act(shop, lambda s: escalate(s, 1, "Refund?", by="ana", now=NOW, tell=shop.escalations))
    escalated = views.QueueFilter(escalated=True)
    assert [r["id"] for r in act(shop, lambda s: views.queue(s, escalated, NOW, shop.secret))
            ] == [1]
    later = NOW + timedelta(hours=1)
    act(shop, lambda s: handle_escalation(s, 1, by="boss", now=later))
    assert act(shop, lambda s: views.queue(s, escalated, later, shop.secret)) == []
    assert act(shop, views.open_escalation_count) == 0
    with pytest.raises(NotEscalated):
        act(shop, lambda s: handle_escalation(s, 1, by="boss", now=later))
    conv = act(shop, lambda s: views.conversation(s, 1, later, shop.secret))
    assert conv["escalation"] is None and not conv["escalated"]
    assert conv["escalations"][0]["handled_by"] == "boss"
    handled = next(e for e in conv["events"] if e["kind"] == "escalation.handled")
    assert event_words(handled, ZONE) == (
        "escalation by \u2068ana\u2069 handled by \u2068boss\u2069 after 1h 00m")
    act(shop, lambda s: escalate(s, 1, "Again.", by="ana", now=later, tell=shop.escalations))
    assert len(notices(shop)) == 4 and act(shop, views.open_escalation_count) == 1


def test_a_broken_template_still_tells_in_the_built_in_words(shop: App) -> None:
    (shop.settings.path(shop.settings.templates_dir) / "escalation" / "email.txt"
     ).write_text("Subject: {{ nonsense }}\n\n{{ 1/0 }}\n")
    act(shop, lambda s: escalate(s, 1, "Refund over the limit.", by="ana", now=NOW,
                                 tell=shop.escalations))
    with Session(shop.engine) as s:
        sent = s.query(Message).filter_by(kind="system").all()
        [failed] = s.query(Event).filter_by(kind="escalation.template-error").all()
    assert len(sent) == 2 and {m.subject for m in sent} == {"[Escalated] #1 by ana"}
    assert all("Why: Refund over the limit." in m.text and "built-in" in m.text for m in sent)
    assert "escalation/email.txt" in failed.detail["error"]


# ------------------------------------------------------------- a notice really leaves

@pytest.fixture
def mailed(desk: Desk) -> App:
    """The deployment sending through the SMTP sink, with a supervisor who reads mail."""
    app = desk.configure()
    with Session(app.engine) as s, s.begin():
        person(s, "lead", Role.SUPERVISOR)
    ingest(app, mail(1, subject="Refund please"))
    return app


async def test_the_supervisor_gets_the_reason_by_mail(mailed: App, desk: Desk,
                                                      smtp_sink: SmtpSink) -> None:
    act(mailed, lambda s: escalate(s, 1, "Wants 500 EUR back; over my limit.", by="ana",
                                   now=datetime.now(UTC), tell=mailed.escalations))
    connectors = desk.connectors(mailed)
    try:
        outcomes = [a.outcome for a in await mailed.dispatcher(connectors).drain_once()]
    finally:
        for c in connectors.values():
            await c.close()
    assert outcomes == ["sent", "sent"]  # the customer's acknowledgement and the notice
    received = [BytesParser(policy=default).parsebytes(r.data)
                for r in await smtp_sink.arrived(2)]
    notice = next(m for m in received if m["To"] == "lead@shop.example")
    assert notice["Subject"] == "[Escalated] #1 Refund please"
    assert "Wants 500 EUR back; over my limit." in notice.get_content()
