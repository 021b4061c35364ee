"""Rules inside ingest, on SQLite and PostgreSQL: what they do to real conversations."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from channels.base import Address, Inbound
from inbox.core import tokens
from inbox.core.config import load_settings
from inbox.ingest.pipeline import ingest_batch
from inbox.ingest.work import Result
from inbox.runtime.app import App
from inbox.store.models import Agent, Conversation, Event, Message, Outbox

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

CONFIG = """
[teams.billing]
agents = ["ana", "ben"]

[agents.ana]
email = "ana@shop.example"

[agents.ben]
telegram = "42"

[channels.email.support]
host = "127.0.0.1"

[channels.telegram.bot]
token_file = "bot.token"
"""


@pytest.fixture
def desk(app: App, deployment: Path) -> Iterator[Any]:
    """The `inbox init` deployment with two billing agents, an e-mail account, and
    rules written by each test (the shipped example rules removed)."""
    config = deployment / "inbox.toml"
    config.write_text(config.read_text().replace("[teams.billing]\nagents = []\n", "")
                      + CONFIG)
    for shipped in (deployment / "rules").glob("*.yaml"):
        shipped.unlink()
    built: list[App] = []

    def with_rules(text: str) -> App:
        (deployment / "rules" / "10-test.yaml").write_text(text, encoding="utf-8")
        built.append(App(load_settings(config)))
        return built[-1]

    yield with_rules
    for made in built:
        made.close()


def mail(external_id: str, subject: str = "Order 1234", text: str = "Where is it?",
         sender: str = "anna@example.com", at: datetime = NOW, **kw: Any) -> Inbound:
    return Inbound(channel="email", account="support", external_id=external_id,
                   sender=Address(sender, "Anna"), received_at=at, subject=subject,
                   text=text, headers={"return-path": f"<{sender}>"}, **kw)


def run(app: App, *items: Inbound) -> list[Result]:
    with app.engine.begin() as conn:
        return ingest_batch(conn, list(items), app.pipeline_context(), NOW)


def rows(app: App, model: type, **where: object) -> list[Any]:
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(model).filter_by(**where).order_by(
            model.id)).all())  # type: ignore[attr-defined]


def test_rule_hits_are_events_and_shape_the_new_conversation(desk: Any) -> None:
    app = desk("""
- name: billing
  when: {text: [refund, คืนเงิน]}
  then: {team: billing, priority: high, add_tags: [billing], sla: vip}
""")
    [r] = run(app, mail("m1", subject="ขอคืนเงินค่ะ"))
    [conv] = rows(app, Conversation)
    assert (conv.team, conv.priority, conv.tags, conv.sla_policy) == (
        "billing", "high", ["billing"], "vip")
    [hit] = rows(app, Event, kind="rule")
    assert hit.detail == {"rule": "billing", "source": "rules/10-test.yaml:2",
                          "why": "text has the word 'คืนเงิน'"}
    assert hit.message_id == r.message_id
    [routed] = rows(app, Event, kind="routed")
    assert routed.detail["team"] == "billing" and routed.detail["rules"] == ["billing"]


def test_a_follow_up_adds_tags_but_never_moves_the_conversation(desk: Any) -> None:
    app = desk("""
- name: billing
  when: {text: [refund]}
  then: {team: billing, add_tags: [billing]}
- name: tech
  when: {text: [error]}
  then: {team: tech, priority: urgent, add_tags: [tech]}
""")
    run(app, mail("m1", subject="refund"))
    run(app, mail("m2", subject="Re: refund", text="and an error", references=("m1",)))
    [conv] = rows(app, Conversation)
    assert (conv.team, conv.priority, conv.tags) == ("billing", "normal", ["billing", "tech"])


def test_spam_is_closed_unacknowledged_and_its_replies_too(desk: Any) -> None:
    app = desk("""
- name: casino spam
  when: {subject: {regex: '\\bcasino\\b'}}
  then: {spam: true}
""")
    run(app, mail("s1", subject="Casino bonus"))
    [conv] = rows(app, Conversation)
    assert (conv.status, conv.tags, conv.sla_due_at) == ("closed", ["spam"], None)
    assert rows(app, Outbox) == []
    [suppressed] = rows(app, Event, kind="ack.suppressed")
    assert "casino spam" in suppressed.detail["reason"]
    run(app, mail("s2", subject="Re: Casino bonus", references=("s1",)))
    assert [c.status for c in rows(app, Conversation)] == ["closed", "closed"]
    assert rows(app, Outbox) == []


def test_a_spam_rule_never_closes_a_customers_open_conversation(desk: Any) -> None:
    app = desk("""
- name: casino spam
  when: {text: [casino]}
  then: {spam: true}
""")
    run(app, mail("m1", subject="My order"))
    run(app, mail("m2", subject="Re: My order", text="it was a casino theme", references=("m1",)))
    [conv] = rows(app, Conversation)
    assert conv.status == "open" and "spam" in conv.tags


def test_round_robin_takes_turns_and_skips_agents_away(desk: Any) -> None:
    app = desk("""
- name: billing
  when: always
  then: {team: billing, assign: {round_robin: billing}}
""")
    for i in range(3):
        run(app, mail(f"m{i}", sender=f"c{i}@example.com", subject=f"Question {i}"))
    assert [c.assignee for c in rows(app, Conversation)] == ["ana", "ben", "ana"]
    with Session(app.engine) as s, s.begin():
        s.add(Agent(name="ben", away=True, created_at=NOW))
    run(app, mail("m3", sender="c3@example.com", subject="Question 3"))
    assert rows(app, Conversation)[-1].assignee == "ana"
    [assigned, *_] = rows(app, Event, kind="assigned")
    assert assigned.detail == {"assignee": "ana", "team": "billing", "how": "round-robin",
                               "by": "rules"}


def test_least_loaded_picks_the_agent_with_fewest_open_conversations(desk: Any) -> None:
    app = desk("""
- name: vip to ana
  when: {subject: [vip]}
  then: {assign: ana}
  stop: true
- name: billing
  when: always
  then: {team: billing, assign: {least_loaded: billing}}
""")
    run(app, mail("v1", sender="a@x.example", subject="vip 1"),
        mail("v2", sender="b@x.example", subject="vip 2"))
    run(app, mail("m1", sender="c@x.example", subject="hello"))
    run(app, mail("m2", sender="d@x.example", subject="hello again"))
    assert [c.assignee for c in rows(app, Conversation)] == ["ana", "ana", "ben", "ben"]


def test_notify_queues_a_message_to_the_agent_through_the_outbox(desk: Any) -> None:
    app = desk("""
- name: tell ana about legal threats
  when: {text: [lawyer]}
  then: {notify: {to: ana, template: notify}}
""")
    run(app, mail("m1", subject="Complaint", text="My lawyer will call you."))
    [conv] = rows(app, Conversation)
    notify = [o for o in rows(app, Outbox) if o.kind == "notify"]
    assert [(o.channel, o.account, o.recipient) for o in notify] == [
        ("email", "support", "ana@shop.example")]
    [note] = rows(app, Message, id=notify[0].message_id)
    assert tokens.reference(app.secret, conv.id) in (note.subject or "")
    assert "tell ana about legal threats" in note.text and "My lawyer" in note.text
    assert [o.kind for o in rows(app, Outbox)] == ["notify", "ack"]


def test_notify_by_telegram_uses_the_plain_template(desk: Any) -> None:
    app = desk("""
- name: tell ben
  when: {subject: [outage]}
  then: {notify: {to: ben, template: notify}}
""")
    run(app, mail("m1", subject="Outage!", text="Nothing works."))
    [out] = [o for o in rows(app, Outbox) if o.kind == "notify"]
    assert (out.channel, out.account, out.recipient) == ("telegram", "bot", "42")
    [note] = rows(app, Message, id=out.message_id)
    assert note.subject is None and 'rule "tell ben"' in note.text


def test_shipped_rules_acknowledge_after_hours_with_their_template(app: App) -> None:
    saturday_night = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
    late = mail("m1", subject="Question", text="Do you ship to Norway?", at=saturday_night)
    with app.engine.begin() as conn:
        ingest_batch(conn, [late], app.pipeline_context(), saturday_night)
    [ack] = rows(app, Message, kind="auto-ack")
    assert "away right now" in ack.text
    [conv] = rows(app, Conversation)
    assert conv.tags == ["after-hours"]


def test_open_conversations_of_the_contact_are_counted(desk: Any) -> None:
    app = desk("""
- name: keeps writing
  when: {open_conversations: {at_least: 1}}
  then: {add_tags: [repeat-contact]}
""")
    run(app, mail("m1", subject="First question"))
    run(app, mail("m2", subject="Second question"))
    assert [c.tags for c in rows(app, Conversation)] == [[], ["repeat-contact"]]


def test_runaway_regexes_share_one_budget_and_the_message_is_still_routed(
        desk: Any, deployment: Path) -> None:
    """20 rules whose pattern backtracks without end cost the message one budget (here
    0.25 s of CPU), not 20 timeouts; what matched before is applied, and an event names
    the rule that was running when the time ran out."""
    config = deployment / "inbox.toml"
    text = config.read_text()
    assert "rules_time_budget = 0.5" in text  # inbox init says what the budget is
    config.write_text(text.replace("rules_time_budget = 0.5", "rules_time_budget = 0.25"))
    slow = "".join(f"""
- name: slow {n:02d}
  when: {{body: {{regex: '(a|aa)+$'}}}}
  then: {{add_tags: [slow-{n:02d}]}}
""" for n in range(20))
    app = desk("""
- name: billing
  when: {subject: [invoice]}
  then: {team: billing, add_tags: [billing]}
""" + slow)
    started = time.monotonic()
    [r] = run(app, mail("m1", subject="Invoice", text="a" * 40 + "!"))
    took = time.monotonic() - started
    [conv] = rows(app, Conversation)
    assert (conv.team, conv.tags) == ("billing", ["billing"])
    [over] = rows(app, Event, kind="rules.over-budget")
    assert over.message_id == r.message_id
    assert (over.detail["rule"], over.detail["source"]) == ("slow 00", "rules/10-test.yaml:6")
    assert "0.25 s" in over.detail["why"] and "(a|aa)+$" in over.detail["why"]
    assert took < 2.0, f"routing took {took:.1f} s"
