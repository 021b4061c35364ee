"""SLA stamping and the sweep: pure clock functions, `now` passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from inbox.app import App
from inbox.models import Conversation, Event
from inbox.sla import SlaPolicy, SlaState, sla_state, start_clock, stop_clock, sweep
from tests.test_pipeline import NOW, mail, rows, run

POLICY = SlaPolicy(timedelta(hours=24), timedelta(hours=24), timedelta(hours=4))
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def conv() -> Conversation:
    return Conversation(channel="email", account="a", contact_id=1)


def test_clock_runs_from_the_first_unanswered_message() -> None:
    c = conv()
    start_clock(c, T0, POLICY)
    start_clock(c, T0 + timedelta(hours=3), POLICY)  # a follow-up does not restart it
    assert c.sla_due_at == T0 + timedelta(hours=24)
    assert c.sla_warn_at == T0 + timedelta(hours=20)
    assert sla_state(c, T0 + timedelta(hours=19)) == SlaState.OK
    assert sla_state(c, T0 + timedelta(hours=21)) == SlaState.AT_RISK
    assert sla_state(c, T0 + timedelta(hours=24)) == SlaState.BREACHED


def test_agent_reply_meets_or_breaks_the_promise_and_next_message_restarts() -> None:
    c = conv()
    start_clock(c, T0, POLICY)
    assert stop_clock(c, T0 + timedelta(hours=5)) == SlaState.MET
    assert c.sla_due_at is None and c.first_response_at == T0 + timedelta(hours=5)
    start_clock(c, T0 + timedelta(hours=30), POLICY)
    assert stop_clock(c, T0 + timedelta(hours=60)) == SlaState.BREACHED
    assert c.first_response_at == T0 + timedelta(hours=5)


def test_the_sweep_records_each_transition_once(app: App) -> None:
    run(app, mail("m1@x"))
    with Session(app.engine) as s, s.begin():
        assert sweep(s, NOW + timedelta(hours=1)) == []
    with Session(app.engine) as s, s.begin():
        [(_, state)] = sweep(s, NOW + timedelta(hours=21))
        assert state == SlaState.AT_RISK
    with Session(app.engine) as s, s.begin():
        assert sweep(s, NOW + timedelta(hours=22)) == []
    with Session(app.engine) as s, s.begin():
        [(_, state)] = sweep(s, NOW + timedelta(hours=25))
        assert state == SlaState.BREACHED
    with Session(app.engine) as s, s.begin():
        assert sweep(s, NOW + timedelta(hours=26)) == []
    kinds = [e.kind for e in rows(app, Event) if e.kind.startswith("sla.")]
    assert kinds == ["sla.at-risk", "sla.breached"]
    [c] = rows(app, Conversation)
    assert c.sla_state == "breached"
