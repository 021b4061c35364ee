"""The reports' figures against values worked out by hand, on both databases: a history
of eight conversations in Warsaw across the night the clocks went back (25 October
2026), with an SLA in business hours (Mon-Fri 09:00-17:00) and an urgent one around the
clock. Each conversation is made the way it happens: a message through the pipeline,
replies, assignments, resolutions, an escalation and a survey through the desk's own
actions, each at its own moment; then the daemon's fold counts them (inbox.desk.tally).

By hand, in local time (CEST until 25 Oct 03:00, CET after):
  B  telegram, billing, bo:  Mon 19 Oct 09:10, reply 09:40 (30 min), resolved Tue 20
     09:10 (working: Mon 09:10-17:00 + Tue 09:00-09:10 = 8 h); promise met
  C  email, tech, ana:       Wed 21 Oct 10:00, reply Mon 26 16:00 CET: working 7+8+8+7
     = 30 h, due after 24 (Mon 10:00): broken; escalated by ana
  A  email, billing, ana:    Fri 23 Oct 16:00, reply Mon 26 10:00 CET: 1 h + 1 h = 2 h;
     resolved 12:30: 1 h + 3.5 h = 4.5 h; met; survey answered 4, "Szybko, dziękuję"
  H  email, urgent (24/7), billing, bo: Sat 24 Oct 22:00 CEST, reply Sun 25 04:00 CET:
     7 h of real time (the wall clock shows 6); met
  D  a robot's mail, Tue 27 Oct: counted apart, no clock
  E  Sat 31 Oct 23:30 CET, F  Sun 1 Nov 00:30 CET (still 31 Oct in UTC), G  10 Sep
First responses [30 min, 2 h, 7 h, 30 h]: median (rank 2 of 4) 2 h, p90 (rank 4) 30 h.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.config import load_settings
from inbox.core.vocab import Status
from inbox.csat import surveys
from inbox.desk import actions, reports
from inbox.desk.escalation import escalate
from inbox.desk.reports import Scope
from inbox.desk.tally import Fold, bucket, catch_up
from inbox.runtime.app import App
from inbox.store.db import upgrade
from inbox.store.models import Conversation, Survey
from tests.cli.test_cli import add_agents, inbox
from tests.peers import merged, toml
from tests.web.desk_helpers import ingest, mail

HOUR = 3600
OCT19, NOV2 = date(2026, 10, 19), date(2026, 11, 2)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def app(deployment: Path) -> Iterator[App]:
    config = deployment / "inbox.toml"
    add_agents("ana", "bo", config=config)
    config.write_text(toml(merged(tomllib.loads(config.read_text()), {
        "business_hours": {"timezone": "Europe/Warsaw"},
        "sla": {"business_hours": True, "priorities": {"urgent": {
            "business_hours": False, "first_response_hours": 8}}},
        "csat": {"enabled": True, "delay_minutes": 0}})))
    made = App(load_settings(config))
    upgrade(made.engine)
    yield made
    made.engine.dispose()


class History:
    def __init__(self, app: App) -> None:
        self.app, self.n = app, 0

    def arrives(self, at: str, *, channel: str = "email", text: str = "Where is it?",
                robot: bool = False) -> int:
        self.n += 1
        when = utc(at)
        item = mail(self.n, subject=f"Case {self.n}", text=text, channel=channel,
                    sender=f"c{self.n}@example.com", at=when)
        if robot:
            item = replace(item, headers={**item.headers, "auto-submitted": "auto-generated"})
        ingest(self.app, item, now=when)
        with Session(self.app.engine) as s:
            found = s.scalars(sa.select(col(Conversation.id)).where(
                col(Conversation.subject) == f"Case {self.n}")).one_or_none()
            if found is None:  # a chat has no subject: the newest conversation
                found = s.scalar(sa.select(sa.func.max(col(Conversation.id))))
            assert found is not None
            return found

    def owned(self, cid: int, team: str, agent: str | None, at: str) -> None:
        with Session(self.app.engine) as s, s.begin():
            actions.assign(s, cid, assignee=agent, team=team, now=utc(at), by="lead",
                           directory=self.app.directory)

    def reply(self, cid: int, agent: str, at: str) -> None:
        with Session(self.app.engine) as s, s.begin():
            actions.reply(s, cid, "On its way.", author=agent, now=utc(at),
                          secret=self.app.secret, domain="helpdesk.test")

    def resolve(self, cid: int, agent: str, at: str) -> None:
        with Session(self.app.engine) as s, s.begin():
            actions.set_status(s, cid, Status.RESOLVED, now=utc(at), by=agent,
                               policies=self.app.sla, csat=self.app.settings.csat)
        with Session(self.app.engine) as s, s.begin():
            surveys.send_due(s, utc(at), self.app.asking)


def made(app: App) -> dict[str, int]:
    h, ids = History(app), {}
    ids["G"] = h.arrives("2026-09-10 10:00")
    ids["B"] = h.arrives("2026-10-19 07:10", channel="telegram")
    h.owned(ids["B"], "billing", "bo", "2026-10-19 07:11")
    h.reply(ids["B"], "bo", "2026-10-19 07:40")
    h.resolve(ids["B"], "bo", "2026-10-20 07:10")
    ids["C"] = h.arrives("2026-10-21 08:00")
    h.owned(ids["C"], "tech", "ana", "2026-10-21 08:01")
    ids["A"] = h.arrives("2026-10-23 14:00")
    h.owned(ids["A"], "billing", "ana", "2026-10-23 14:01")
    ids["H"] = h.arrives("2026-10-24 20:00", text="A chargeback on my card!")
    h.owned(ids["H"], "billing", "bo", "2026-10-24 20:01")
    h.reply(ids["H"], "bo", "2026-10-25 03:00")
    h.reply(ids["A"], "ana", "2026-10-26 09:00")
    h.resolve(ids["A"], "ana", "2026-10-26 11:30")
    with Session(app.engine) as s, s.begin():
        survey = s.scalars(sa.select(Survey).where(
            col(Survey.conversation_id) == ids["A"])).one()
        surveys.answer(s, survey, 4, "Szybko, dziękuję", via="link",
                       now=utc("2026-10-26 12:00"))
    with Session(app.engine) as s, s.begin():
        escalate(s, ids["C"], "Customer is waiting too long", by="ana",
                 now=utc("2026-10-26 14:30"))
    h.reply(ids["C"], "ana", "2026-10-26 15:00")
    ids["D"] = h.arrives("2026-10-27 10:00", robot=True)
    ids["E"] = h.arrives("2026-10-31 22:30")
    ids["F"] = h.arrives("2026-10-31 23:30")
    catch_up(app.engine, Fold(), app.sla, app.settings.report_zone, utc("2026-11-02 00:00"))
    return ids


def read(app: App, fn: str, scope: Scope, *args: object) -> dict[str, object]:
    with Session(app.engine) as s:
        return getattr(reports, fn)(s, scope, *args)  # type: ignore[no-any-return]


def test_the_figures_are_the_ones_worked_out_by_hand(app: App) -> None:
    made(app)
    scope = Scope(OCT19, NOV2)
    volume = read(app, "volume", scope)
    assert volume["total"] == {"conversations": 6, "automated": 1, "messages": 7}
    # Local days: H came on Saturday the 24th (22:00 CEST is the 24th in UTC too), F on
    # 1 November in Warsaw although it was still 31 October in UTC.
    assert volume["conversations_by_channel"] == {
        "email": [0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1],
        "telegram": [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]}

    times = read(app, "response_times", scope)
    first = times["first_response"]  # type: ignore[index]
    assert first["overall"] == {"count": 4, "p50_seconds": 2 * HOUR, "p90_seconds": 30 * HOUR}
    assert first["by_team"] == {
        "billing": {"count": 3, "p50_seconds": 2 * HOUR, "p90_seconds": 7 * HOUR},
        "tech": {"count": 1, "p50_seconds": 30 * HOUR, "p90_seconds": 30 * HOUR}}
    assert first["by_agent"]["bo"] == {"count": 2, "p50_seconds": 1800,
                                       "p90_seconds": 7 * HOUR}
    assert first["by_channel"]["telegram"]["p50_seconds"] == 1800
    resolution = times["resolution"]  # type: ignore[index]
    assert resolution["overall"] == {"count": 2, "p50_seconds": 4.5 * HOUR,
                                     "p90_seconds": 8 * HOUR}

    promise = read(app, "promise", scope)
    assert promise["overall"] == {"met": 3, "breached": 1, "kept_percent": 75.0}
    assert promise["by_team"] == {
        "billing": {"met": 3, "breached": 0, "kept_percent": 100.0},
        "tech": {"met": 0, "breached": 1, "kept_percent": 0.0}}
    kept = promise["kept_percent_by_team"]  # type: ignore[index]
    assert kept["tech"][7] == 0.0 and kept["billing"][6] == 100.0  # 26 Oct; 25 Oct (H)
    assert kept["billing"][0] == 100.0 and kept["billing"][1] is None

    workload = read(app, "workload", scope)["by_agent"]
    assert workload["ana"] == {"open": 1, "handled": 1, "replies": 2}  # type: ignore[index]
    assert workload["bo"] == {"open": 1, "handled": 1, "replies": 2}  # type: ignore[index]

    satisfaction = read(app, "csat", scope, app.settings.report_zone)
    assert satisfaction["overall"] == {
        "sent": 2, "answered": 1, "response_percent": 50.0, "average": 4.0,
        "satisfied_percent": 100.0, "scores": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}}
    assert satisfaction["by_agent"]["bo"]["answered"] == 0  # type: ignore[index]
    [comment] = satisfaction["comments"]  # type: ignore[misc]
    assert (comment["score"], comment["comment"], comment["agent"]) == (
        4, "Szybko, dziękuję", "ana")

    escalated = read(app, "escalations", scope, app.settings.report_zone)
    assert (escalated["total"], escalated["by_team"], escalated["by_agent"]) == (
        1, {"tech": 1}, {"ana": 1})
    assert escalated["latest"][0]["reason"] == "Customer is waiting too long"  # type: ignore[index]

    backlog = read(app, "backlog", scope, utc("2026-11-01 23:00"))
    assert backlog["ages"]["4-24 h"] == 1 and backlog["ages"]["1-3 d"] == 1  # type: ignore[index]


def test_a_team_and_a_longer_period_read_the_same_counts(app: App) -> None:
    made(app)
    billing = read(app, "response_times", Scope(OCT19, NOV2, team="billing"))
    assert billing["first_response"]["overall"] == {  # type: ignore[index]
        "count": 3, "p50_seconds": 2 * HOUR, "p90_seconds": 7 * HOUR}
    assert set(billing["first_response"]["by_agent"]) == {"ana", "bo"}  # type: ignore[index]
    # Whole October is read as a month, the days around it as days: the same figures,
    # and September's conversation G is in the longer period.
    longer = Scope(date(2026, 9, 1), date(2026, 11, 3))
    assert read(app, "volume", longer)["total"] == {
        "conversations": 7, "automated": 1, "messages": 8}
    assert read(app, "volume", longer)["grain"] == "day"
    year = Scope(date(2026, 1, 1), date(2027, 1, 1))
    volume = read(app, "volume", year)
    assert volume["grain"] == "month" and volume["points"][9] == "2026-10-01"  # type: ignore[index]
    assert volume["conversations_by_channel"]["email"][9] == 4  # type: ignore[index]
    assert read(app, "promise", year)["overall"]["kept_percent"] == 75.0  # type: ignore[index]


def test_times_are_kept_to_a_step_that_grows_with_them() -> None:
    assert [bucket(s) for s in (0, 1, 14, 16, 299, 301, 1799, 5000)] == [
        0, 15, 15, 30, 300, 330, 1800, 5100]
    assert bucket(7 * HOUR + 1) == 7 * HOUR + 900
    assert bucket(100 * 86400) == 7776001


def test_the_command_line_prints_csv_and_a_table(app: App) -> None:
    made(app)
    out = inbox("report", "times", "--since", "2026-10-19", "--until", "2026-11-02",
                "--csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0] == {"time": "first_response", "of": "all", "count": "4",
                       "p50_seconds": "7200", "p90_seconds": "108000"}
    table = inbox("report", "promise", "--since", "2026-10-19", "--until", "2026-11-02",
                  "--team", "tech").stdout
    assert "team tech" in table and "0.0" in table
