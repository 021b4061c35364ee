"""The SLA clock, policies and the sweep.

The first half is table-driven and pure: a script of what happened to a conversation
(customer messages, answers, status changes, at Warsaw times) and when the answer is
then due. The second half runs on SQLite and PostgreSQL: the pipeline starts clocks, the
sweep flags each transition once and queues its notifications in the same transaction.
"""

from __future__ import annotations

import threading
import zoneinfo
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from channels.base import Inbound
from inbox.core.config import (
    AgentSettings,
    BusinessHoursSettings,
    ConfigError,
    Settings,
    SlaPolicySettings,
    SlaSettings,
    TeamSettings,
    load_settings,
)
from inbox.core.routing import RouteDecision, RouteFacts
from inbox.core.vocab import Status
from inbox.desk import actions, views
from inbox.ingest.work import PipelineContext
from inbox.lang.render import Renderer
from inbox.runtime.app import App
from inbox.sla.calendar import ALWAYS, BusinessHours
from inbox.sla.clock import (
    Policies,
    SlaPolicy,
    follow_status,
    sla_state,
    start_clock,
    stop_clock,
)
from inbox.sla.notify import Notifier
from inbox.sla.sweep import sweep
from inbox.store.models import Conversation, Event, Message, Outbox
from tests.ingest.test_pipeline import NOW, mail, rows, run
from tests.peers import toml

WARSAW = zoneinfo.ZoneInfo("Europe/Warsaw")
HOLIDAYS = [date(2026, 12, 24), date(2026, 12, 25)]
OFFICE = BusinessHours.from_settings(BusinessHoursSettings(
    timezone="Europe/Warsaw", hours="09:00-17:00", holidays=HOLIDAYS))
AROUND = SlaPolicy()  # 24 h first and next response, warning 4 h before, 24/7
QUICK = SlaPolicy(next_response=timedelta(hours=8))
WORKDAYS = SlaPolicy(calendar=OFFICE)  # 24 business hours, warning 4 business hours before


def L(text: str) -> datetime:
    """A Warsaw wall-clock time, `"03-02 10:00"` (2026) or a full ISO date, in UTC."""
    full = text if text.count("-") == 2 else f"2026-{text}"
    return datetime.fromisoformat(full).replace(tzinfo=WARSAW).astimezone(UTC)


def play(policy: SlaPolicy, script: list[tuple[str, str]]) -> Conversation:
    """Run a script: "customer" (a message), "reply" (an agent), or a status."""
    c = Conversation(channel="email", account="a", contact_id=1)
    for when, what in script:
        at = L(when)
        if what == "customer":  # as the pipeline does: a message reopens, then stamps
            c.status, c.snoozed_until = Status.OPEN, None
            start_clock(c, at, policy)
        elif what == "reply":
            stop_clock(c, at)
        else:
            c.status = Status(what)
            follow_status(c, Status(what), at, policy)
    return c


CLOCK = [
    # (why, policy, script, answer due (Warsaw) or None, [(at, state)] after the script)
    ("the clock starts at the customer's message", AROUND,
     [("03-02 10:00", "customer")], "03-03 10:00",
     [("03-03 05:59", "ok"), ("03-03 06:00", "at-risk"), ("03-03 10:00", "breached")]),
    ("more messages from the customer do not restart it", AROUND,
     [("03-02 10:00", "customer"), ("03-02 13:00", "customer"), ("03-02 18:00", "customer")],
     "03-03 10:00", []),
    ("an answer stops it; the next message starts a next-response clock", QUICK,
     [("03-02 10:00", "customer"), ("03-02 12:00", "reply"), ("03-02 20:00", "customer")],
     "03-03 04:00", [("03-03 00:00", "at-risk")]),
    ("an answer in time is met", AROUND,
     [("03-02 10:00", "customer"), ("03-02 12:00", "reply")], None, [("03-09 00:00", "met")]),
    ("a late answer is a breach", AROUND,
     [("03-02 10:00", "customer"), ("03-03 12:00", "reply")], None,
     [("03-09 00:00", "breached")]),
    ("business hours: nights and the weekend do not count", WORKDAYS,
     [("03-06 15:00", "customer")], "03-11 15:00",
     [("03-11 10:59", "ok"), ("03-11 11:00", "at-risk")]),
    ("business hours: holidays do not count", WORKDAYS,
     [("12-22 10:00", "customer")], "12-29 10:00", []),
    ("business hours: across the spring DST change", WORKDAYS,
     [("03-27 15:00", "customer")], "04-01 15:00", []),
    ("business hours: across the autumn DST change", WORKDAYS,
     [("10-23 15:00", "customer")], "10-28 15:00", []),
    ("pending pauses it; open resumes it with the time left", AROUND,
     [("03-02 10:00", "customer"), ("03-02 14:00", "pending"), ("03-04 10:00", "open")],
     "03-05 06:00", [("03-05 02:00", "at-risk")]),
    ("a pause counts business time left", WORKDAYS,
     [("03-02 10:00", "customer"), ("03-02 12:00", "pending"), ("03-03 16:00", "open")],
     "03-06 14:00", []),
    ("snoozed pauses it the same way", AROUND,
     [("03-02 10:00", "customer"), ("03-02 12:00", "snoozed"), ("03-03 12:00", "open")],
     "03-04 10:00", []),
    ("the customer writing while pending resumes it from that message", AROUND,
     [("03-02 10:00", "customer"), ("03-02 12:00", "pending"), ("03-03 12:00", "customer")],
     "03-04 10:00", []),
    ("paused while overdue, it resumes as overdue as it was", AROUND,
     [("03-02 10:00", "customer"), ("03-03 12:00", "pending"), ("03-04 12:00", "open")],
     "03-04 10:00", [("03-04 12:00", "breached")]),
    ("pending after the answer: no clock to pause or resume", AROUND,
     [("03-02 10:00", "customer"), ("03-02 11:00", "reply"), ("03-02 12:00", "pending"),
      ("03-03 12:00", "open")], None, [("03-09 00:00", "met")]),
    ("reopened by the customer after resolving: a next-response clock", QUICK,
     [("03-02 10:00", "customer"), ("03-02 11:00", "reply"), ("03-02 11:30", "resolved"),
      ("03-03 09:00", "customer")], "03-03 17:00", []),
    ("resolved unanswered: no promise kept or broken; a new message starts afresh", QUICK,
     [("03-02 10:00", "customer"), ("03-02 11:00", "resolved"), ("03-03 09:00", "customer")],
     "03-04 09:00", []),
    ("resolved unanswered leaves no state behind", AROUND,
     [("03-02 10:00", "customer"), ("03-02 11:00", "resolved")], None,
     [("03-09 00:00", None)]),
]


@pytest.mark.parametrize(("why", "policy", "script", "due", "checks"), CLOCK,
                         ids=[case[0] for case in CLOCK])
def test_clock(why: str, policy: SlaPolicy, script: list[tuple[str, str]], due: str | None,
               checks: list[tuple[str, str | None]]) -> None:
    c = play(policy, script)
    assert c.sla_due_at == (L(due) if due else None), why
    for at, state in checks:
        got = sla_state(c, L(at))
        assert (got.value if got else None) == state, f"{why}: at {at}"


STOPS = [
    # (why, script before the answer, answer at, outcome, target, waited hours, newly)
    ("in time", [("03-02 10:00", "customer")], "03-02 15:00", "met", "first", 5, False),
    ("late, and no sweep saw it", [("03-02 10:00", "customer")], "03-03 11:00", "breached",
     "first", 25, True),
    ("answered while pending, time left", [("03-02 10:00", "customer"),
                                           ("03-02 11:00", "pending")],
     "03-05 11:00", "met", "first", 73, False),
    ("the second answer stops a next-response clock",
     [("03-02 10:00", "customer"), ("03-02 11:00", "reply"), ("03-02 12:00", "customer")],
     "03-02 13:00", "met", "next", 1, False),
]


@pytest.mark.parametrize("case", STOPS, ids=[case[0] for case in STOPS])
def test_how_an_answer_ends_the_clock(case: tuple[Any, ...]) -> None:
    why, script, answer, outcome, target, waited, newly = case
    c = play(AROUND, script)
    stop = stop_clock(c, L(answer))
    assert stop is not None
    assert (stop.outcome, stop.target, stop.waited, stop.newly_breached) == (
        outcome, target, timedelta(hours=waited), newly), why
    assert c.awaiting_since is None and c.sla_next_at is None
    assert stop_clock(c, L(answer)) is None  # nothing left to stop


POLICIES = Policies(SlaSettings(
    warn_before_hours=4, notify=["owner"],
    priorities={"urgent": SlaPolicySettings(first_response_hours=2, next_response_hours=2,
                                            warn_before_hours=0.5)},
    policies={"vip": SlaPolicySettings(first_response_hours=4, business_hours=True,
                                       notify=["owner", "boss@shop.example"]),
              "emea": SlaPolicySettings(business_hours="warsaw")},
    calendars={"warsaw": BusinessHoursSettings(timezone="Europe/Warsaw")}),
    BusinessHoursSettings(timezone="America/New_York"))

RESOLVE = [
    # (policy name, priority, first, next, warn (hours), calendar, notify)
    ("default", "normal", 24, 24, 4, "24/7", ("owner",)),
    ("default", "urgent", 2, 2, 0.5, "24/7", ("owner",)),
    ("vip", "normal", 4, 24, 4, "[business_hours]", ("owner", "boss@shop.example")),
    ("vip", "urgent", 4, 2, 0.5, "[business_hours]", ("owner", "boss@shop.example")),
    ("emea", "low", 24, 24, 4, "[sla.calendars.warsaw]", ("owner",)),
    ("removed-since", "normal", 24, 24, 4, "24/7", ("owner",)),
]


@pytest.mark.parametrize("case", RESOLVE, ids=[f"{c[0]}-{c[1]}" for c in RESOLVE])
def test_policy_layers(case: tuple[Any, ...]) -> None:
    """Default, then the priority's overrides, then the policy a rule chose."""
    name, priority, first, nxt, warn, calendar, notify = case
    p = POLICIES.resolve(name, priority)
    assert (p.first_response, p.next_response, p.warn_before) == (
        timedelta(hours=first), timedelta(hours=nxt), timedelta(hours=warn))
    assert (p.calendar.name, p.notify) == (calendar, notify)


def test_warning_never_before_the_clock_starts() -> None:
    c = play(SlaPolicy(first_response=timedelta(hours=2)), [("03-02 10:00", "customer")])
    assert c.sla_warn_at == L("03-02 10:00") and c.sla_due_at == L("03-02 12:00")


def test_24_7_is_the_default_calendar() -> None:
    assert Policies().resolve("default", "normal").calendar is ALWAYS


# --- on both databases -------------------------------------------------------------------

class Fixed:
    """Routing that always decides the same: the rules are tested elsewhere."""

    def __init__(self, decision: RouteDecision) -> None:
        self.decision = decision

    def route(self, inbound: Inbound, facts: RouteFacts) -> RouteDecision:
        return self.decision


@pytest.fixture
def desk(app: App) -> Iterator[App]:
    """The deployment with agents, a team, accounts to notify from, and SLA overrides."""
    settings = app.settings.model_copy(update={
        "agents": {"ana": AgentSettings(email="ana@shop.example"),
                   "tom": AgentSettings(telegram="4242")},
        "teams": {**app.settings.teams, "billing": TeamSettings(agents=["ana", "tom"])},
        "channels": {"email": {"support": {}}, "telegram": {"bot": {}}},
        "sla": SlaSettings(
            notify=["owner", "lead@shop.example"],
            priorities={"urgent": SlaPolicySettings(first_response_hours=2,
                                                    warn_before_hours=0.5)},
            policies={"vip": SlaPolicySettings(first_response_hours=4)}),
    })
    configured = App(settings)
    yield configured
    configured.close()


def routed(app: App, **decision: object) -> PipelineContext:
    return replace(app.pipeline_context(), router=Fixed(RouteDecision(**decision)))  # type: ignore[arg-type]


def sweep_at(app: App, at: datetime) -> list[tuple[int, str, tuple[str, ...]]]:
    notifier = Notifier(app.settings, app.renderer, app.secret)
    with Session(app.engine) as s, s.begin():
        result = sweep(s, at, app.sla, notifier)
    return [(t.conversation_id, t.state, t.notified) for t in result.transitions]


def notifications(app: App) -> list[tuple[str, str, str]]:
    with Session(app.engine) as s:
        out = s.query(Outbox).filter_by(kind="notify").order_by(Outbox.id).all()  # type: ignore[arg-type]
        return [(o.channel, o.account, o.recipient) for o in out]


def test_priority_and_rule_choose_the_promise_and_the_ack_does_not_stop_it(
        desk: App) -> None:
    [urgent] = run(desk, mail("u@x"), ctx=routed(desk, priority="urgent"))
    [vip] = run(desk, mail("v@x", sender="bob@example.org"),
                ctx=routed(desk, sla_policy="vip", priority="urgent"))
    assert urgent.acked and vip.acked  # an acknowledgement went out ...
    by_id = {c.id: c for c in rows(desk, Conversation)}
    # ... and the customers still wait for a human: the clocks run
    assert by_id[urgent.conversation_id].sla_due_at == NOW + timedelta(hours=2)
    assert by_id[urgent.conversation_id].sla_warn_at == NOW + timedelta(hours=1.5)
    assert by_id[vip.conversation_id].sla_due_at == NOW + timedelta(hours=4)
    # each acknowledgement promises its own conversation's due time, and only that one
    promised = {m.conversation_id: m.text for m in rows(desk, Message, kind="auto-ack")}
    assert "by Thursday 26 November 2026, 11:00 UTC" in promised[urgent.conversation_id]
    assert "13:00 UTC" not in promised[urgent.conversation_id]
    assert "by Thursday 26 November 2026, 13:00 UTC" in promised[vip.conversation_id]
    assert "11:00 UTC" not in promised[vip.conversation_id]


def test_each_transition_is_flagged_once_and_its_people_told(desk: App) -> None:
    [r] = run(desk, mail("m1@x"), ctx=routed(desk, team="billing", assignee="ana"))
    cid = r.conversation_id
    assert sweep_at(desk, NOW + timedelta(hours=19)) == []
    told = ("email:ana@shop.example", "email:lead@shop.example")
    assert sweep_at(desk, NOW + timedelta(hours=21)) == [(cid, "at-risk", told)]
    assert sweep_at(desk, NOW + timedelta(hours=22)) == []
    assert sweep_at(desk, NOW + timedelta(hours=25)) == [(cid, "breached", told)]
    assert sweep_at(desk, NOW + timedelta(hours=30)) == []
    events = [(e.kind, e.detail["notified"]) for e in rows(desk, Event)
              if e.kind.startswith("sla.")]
    assert events == [("sla.at-risk", list(told)), ("sla.breached", list(told))]
    assert notifications(desk) == [("email", "support", "ana@shop.example"),
                                   ("email", "support", "lead@shop.example")] * 2
    [warning] = [m for m in rows(desk, Message, kind="system")
                 if "at risk" in (m.subject or "") and m.recipients == ["ana@shop.example"]]
    assert f"#{cid}" in warning.text and "must be answered by" in warning.text
    assert "Fri 27 Nov, 09:00 UTC" in warning.text and "3h 00m left" in warning.text


def test_each_agent_is_told_in_their_own_language(desk: App) -> None:
    """Ana reads Polish, the lead's address has no language of its own: one notice each,
    each in its words, the due time as its reader writes it."""
    agents = {**desk.settings.agents, "ana": AgentSettings(email="ana@shop.example",
                                                           language="pl")}
    polish = App(desk.settings.model_copy(update={"agents": agents}))
    run(polish, mail("m1@x"), ctx=routed(polish, assignee="ana"))
    sweep_at(polish, NOW + timedelta(hours=21))
    to = {m.recipients[0]: m for m in rows(polish, Message, kind="system")}
    assert "zostało 3h 00m" in to["ana@shop.example"].text
    assert "27 listopada (piątek), godz. 09:00 UTC" in to["ana@shop.example"].text
    assert "3h 00m left" in to["lead@shop.example"].text
    assert "Fri 27 Nov, 09:00 UTC" in to["lead@shop.example"].text
    polish.close()


def test_unassigned_conversations_tell_their_team(desk: App) -> None:
    run(desk, mail("m1@x"), ctx=routed(desk, team="billing"))
    [(_, _, told)] = sweep_at(desk, NOW + timedelta(hours=21))
    assert told == ("email:ana@shop.example", "telegram:4242", "email:lead@shop.example")
    assert ("telegram", "bot", "4242") in notifications(desk)


def test_two_sweeps_at_once_announce_a_transition_once(desk: App) -> None:
    run(desk, mail("m1@x"), ctx=routed(desk, assignee="ana"))
    at = NOW + timedelta(hours=21)
    other: list[list[tuple[int, str, tuple[str, ...]]]] = []
    with Session(desk.engine) as s, s.begin():
        mine = sweep(s, at, desk.sla, Notifier(desk.settings, desk.renderer, desk.secret))
        # A second daemon sweeps while this transaction holds the rows: PostgreSQL skips
        # locked rows, SQLite makes it wait for the commit; either way it finds nothing.
        rival = threading.Thread(target=lambda: other.append(sweep_at(desk, at)))
        rival.start()
        if desk.engine.dialect.name == "postgresql":
            # The rival must be done before we commit: otherwise it only looked after us.
            rival.join(30)
            assert not rival.is_alive(), "the rival sweep waited for our transaction"
    rival.join(30)
    assert len(mine.transitions) == 1 and other == [[]]
    assert len(notifications(desk)) == 2


def test_a_broken_template_still_records_the_transition_and_tells(desk: App) -> None:
    run(desk, mail("m1@x"), ctx=routed(desk, assignee="ana"))
    for name in ("email.txt", "default.txt"):
        (desk.settings.path(desk.settings.templates_dir) / "sla" / name).write_text(
            "{{ no_such_variable }}")
    [(conv_id, state, told)] = sweep_at(desk, NOW + timedelta(hours=21))
    assert (state, told) == ("at-risk", ("email:ana@shop.example", "email:lead@shop.example"))
    assert len(notifications(desk)) == 2 and sweep_at(desk, NOW + timedelta(hours=22)) == []
    with Session(desk.engine) as s:  # in the built-in words, which name the conversation
        texts = [m.text for m in s.query(Message).filter_by(kind="system")]
        [error] = s.query(Event).filter_by(kind="sla.template-error").all()
    assert len(texts) == 2 and all(f"#{conv_id} is at-risk" in t for t in texts)
    assert "sla/email.txt:1: " in error.detail["error"]


def test_answers_are_recorded_for_the_report(app: App) -> None:
    [a, b] = run(app, mail("a@x"), mail("b@x", sender="bob@example.org"))
    with Session(app.engine) as s, s.begin():
        actions.reply(s, a.conversation_id or 0, "Done.", author="kim",
                      now=NOW + timedelta(hours=3), secret=app.secret, domain="x.example")
        actions.reply(s, b.conversation_id or 0, "Sorry.", author="kim",
                      now=NOW + timedelta(hours=30), secret=app.secret, domain="x.example")
    kinds = sorted((e.conversation_id, e.kind, e.detail.get("waited_seconds"))
                   for e in rows(app, Event) if e.kind.startswith("sla."))
    assert kinds == [(a.conversation_id, "sla.met", 3 * 3600),
                     (b.conversation_id, "sla.breached", 30 * 3600)]


def test_pending_and_snoozed_pause_and_a_snooze_ends_by_itself(app: App) -> None:
    [r] = run(app, mail("m1@x"))
    cid = r.conversation_id or 0
    with Session(app.engine) as s, s.begin():
        actions.set_status(s, cid, Status.PENDING, now=NOW + timedelta(hours=4), by="kim",
                           policies=app.sla)
    with Session(app.engine) as s, s.begin():  # a day later nothing has breached
        assert sweep(s, NOW + timedelta(hours=40), app.sla).transitions == []
        actions.set_status(s, cid, Status.SNOOZED, now=NOW + timedelta(hours=40), by="kim",
                           policies=app.sla, until=NOW + timedelta(hours=48))
    [(_, woke, _)] = sweep_at(app, NOW + timedelta(hours=48, seconds=5))
    [conv] = rows(app, Conversation)
    assert woke == "woke" and conv.status == Status.OPEN and conv.snoozed_until is None
    # 20 hours were left when it paused; they run again from the end of the snooze
    assert conv.sla_due_at == NOW + timedelta(hours=68)
    changes = [(e.detail["to"], e.detail.get("sla"), e.detail["by"])
               for e in rows(app, Event, kind="status")]
    assert changes == [("pending", "paused", "kim"), ("snoozed", None, "kim"),
                       ("open", None, "snooze")]


def test_a_customer_ends_a_snooze_and_the_clock_runs_again(app: App) -> None:
    [r] = run(app, mail("m1@x"))
    cid = r.conversation_id or 0
    with Session(app.engine) as s, s.begin():
        actions.set_status(s, cid, Status.SNOOZED, now=NOW + timedelta(hours=1), by="kim",
                           policies=app.sla, until=NOW + timedelta(days=7))
    [ack] = rows(app, Message, kind="auto-ack")
    run(app, mail("m2@x", references=(ack.external_id,),
                  received_at=NOW + timedelta(hours=2)), now=NOW + timedelta(hours=2))
    [conv] = rows(app, Conversation)
    assert conv.status == Status.OPEN and conv.snoozed_until is None
    assert conv.sla_due_at == NOW + timedelta(hours=25)  # 23 h left, from 11:00


def test_queue_sorts_by_time_left_counting_paused_clocks(app: App) -> None:
    [old, mid, new] = run(app, mail("a@x", received_at=NOW - timedelta(hours=14)),
                          mail("b@x", sender="b@example.org",
                               received_at=NOW - timedelta(hours=6)),
                          mail("c@x", sender="c@example.org"))
    with Session(app.engine) as s, s.begin():  # paused with 10 h left
        actions.set_status(s, old.conversation_id or 0, Status.PENDING, now=NOW, by="kim",
                           policies=app.sla)

    def ids(*statuses: str) -> list[int]:
        with Session(app.engine) as s:
            got = views.queue(s, views.QueueFilter(statuses=statuses), NOW + timedelta(hours=2),
                              app.secret)
        return [c["id"] for c in got]

    # at 11:00: mid has 16 h left, old 10 h (paused), new 22 h
    assert ids("open", "pending") == [old.conversation_id, mid.conversation_id,
                                      new.conversation_id]
    assert ids("open") == [mid.conversation_id, new.conversation_id]


def test_imported_history_is_not_news(app: App) -> None:
    old = replace(mail("h@x", received_at=NOW - timedelta(days=3)), backfill=True)
    run(app, old)
    [conv] = rows(app, Conversation)
    assert conv.sla_state == "breached" and conv.sla_next_at is None
    assert sweep_at(app, NOW) == [] and rows(app, Event, kind="sla.breached") == []


CONFIG_MISTAKES = [
    ({"priorities": {"critical": {"first_response_hours": 1}}}, "unknown priority 'critical'"),
    ({"policies": {"vip": {"business_hours": "apac"}}}, "no calendar 'apac'"),
    ({"business_hours": True, "calendars": {}}, None),
    ({"warn_before_hours": -1}, "warn_before_hours"),
]


@pytest.mark.parametrize(("sla", "error"), CONFIG_MISTAKES)
def test_configuration_mistakes_name_the_setting(tmp_path: Path, sla: dict[str, object],
                                                 error: str | None) -> None:
    config = tmp_path / "inbox.toml"
    config.write_text(toml({"sla": sla}))
    if error is None:
        load_settings(config, {})
        return
    with pytest.raises(ConfigError, match=error):
        load_settings(config, {})


def test_unknown_people_to_notify_stop_the_daemon_at_start(tmp_path: Path) -> None:
    settings = Settings(sla=SlaSettings(notify=["owner", "anna"]))
    with pytest.raises(ConfigError, match=r"sla\.notify: unknown agent 'anna'"):
        Notifier(settings, Renderer(tmp_path), "secret").check()


def test_business_hours_without_working_days_are_refused_when_used() -> None:
    Policies(SlaSettings(), BusinessHoursSettings(days=[]))  # routing may not use them
    with pytest.raises(ConfigError, match="no working days"):
        Policies(SlaSettings(business_hours=True), BusinessHoursSettings(days=[]))
