"""`inbox sla`, `inbox report sla` and snoozing from the command line, on both databases.

The commands read the real clock, so conversations are stored at times relative to it.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from inbox.cli.sla import parse_since, parse_when
from inbox.desk import actions
from inbox.runtime.app import App, utcnow
from tests.cli.test_cli import inbox, inbox_json
from tests.ingest.test_pipeline import mail, run
from tests.sla.test_sla import routed

WARSAW = zoneinfo.ZoneInfo("Europe/Warsaw")
THURSDAY = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # 10:00 in Warsaw

WHEN = [
    ("now", "2026-11-26 09:00"),
    ("+3h", "2026-11-26 12:00"),
    ("in 2d", "2026-11-28 09:00"),
    ("90m", "2026-11-26 10:30"),
    ("tomorrow 09:00", "2026-11-27 08:00"),
    ("today 17:30", "2026-11-26 16:30"),
    ("Friday 17:00", "2026-11-27 16:00"),
    ("thu", "2026-12-02 23:00"),  # the next Thursday, never today
    ("2026-12-01 09:00", "2026-12-01 08:00"),
    ("2026-12-01T09:00+00:00", "2026-12-01 09:00"),
]


@pytest.mark.parametrize(("text", "utc"), WHEN)
def test_moments_are_read_in_the_teams_time_zone(text: str, utc: str) -> None:
    expected = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert parse_when(text, THURSDAY, WARSAW) == expected


@pytest.mark.parametrize("text", ["someday", "tomorrow 25:00", "tomorrow at 9"])
def test_unreadable_moments_say_what_to_write(text: str) -> None:
    with pytest.raises(ValueError, match=r"tomorrow|09:00"):
        parse_when(text, THURSDAY, WARSAW)


def test_periods_count_back_from_now() -> None:
    assert parse_since("30d", THURSDAY, WARSAW) == THURSDAY - timedelta(days=30)
    assert parse_since("2w", THURSDAY, WARSAW) == THURSDAY - timedelta(weeks=2)
    assert parse_since("2026-11-01", THURSDAY, WARSAW) == datetime(2026, 10, 31, 23, 0,
                                                                   tzinfo=UTC)


def test_sla_lists_what_is_at_risk_now_and_later(app: App) -> None:
    now = utcnow()
    ago = [21, 25, 10, 1, 19]  # hours since each customer wrote
    results = run(app, *[mail(f"m{i}@x", sender=f"c{i}@example.com", subject=f"S{h}",
                              received_at=now - timedelta(hours=h))
                         for i, h in enumerate(ago)], now=now)
    ids = {h: r.conversation_id for h, r in zip(ago, results, strict=True)}
    # 5 h left, snoozed for 3 h: back at +3h with its clock running, due at +8h
    inbox("status", str(ids[19]), "snoozed", "--until", "+3h")

    listed = inbox_json("sla")
    assert [(r["id"], r["state"]) for r in listed] == [(ids[25], "breached"),
                                                       (ids[21], "at-risk")]
    assert listed[0]["seconds_left"] < -3600 and 2 * 3600 < listed[1]["seconds_left"] < 3 * 3600
    later = inbox_json("sla", "--at", "+11h")
    assert [(r["id"], r["state"], r["state_now"]) for r in later] == [
        (ids[25], "breached", "breached"), (ids[21], "breached", "at-risk"),
        (ids[19], "breached", "ok"), (ids[10], "at-risk", "ok")]
    text = inbox("sla").stdout
    assert "2 at risk or breached now" in text and "overdue 1h" in text and "S21" in text


def test_snoozing_needs_a_future_time(app: App) -> None:
    [r] = run(app, mail("m1@x"), now=utcnow())
    bad = inbox("status", str(r.conversation_id), "snoozed", "--until", "2020-01-01 09:00",
                ok=False)
    assert bad.exit_code == 1 and "past" in bad.stderr
    assert inbox("status", str(r.conversation_id), "open", "--until", "+1h",
                 ok=False).exit_code == 1
    assert "until" in inbox("status", str(r.conversation_id), "snoozed", "--until", "+2h").stdout
    [shown] = inbox_json("queue", "--status", "snoozed")
    assert shown["sla"]["paused"] and shown["sla"]["snoozed_until"]


def test_report_shows_how_often_the_promise_was_kept(app: App) -> None:
    now = utcnow()
    # (hours ago the customer wrote, hours ago we answered, team)
    answers = [(3, 2, "billing"), (30, 1, "billing"), (5, 4.5, None), (1000, 999, None)]
    done = [run(app, mail(f"m{i}@x", sender=f"c{i}@example.com",
                          received_at=now - timedelta(hours=wrote)),
                ctx=routed(app, team=team), now=now)[0]
            for i, (wrote, _, team) in enumerate(answers)]
    with Session(app.engine) as s, s.begin():
        for r, (_, answered, _) in zip(done, answers, strict=True):
            actions.reply(s, r.conversation_id or 0, "Answer.", author="kim",
                          now=now - timedelta(hours=answered), secret=app.secret,
                          domain="x.example")
    report = inbox_json("report", "sla", "--since", "30d")
    assert report["overall"] == {
        "met": 2, "breached": 1, "kept_percent": 66.7, "first_responses": 3,
        "first_response_p50_seconds": 3600, "first_response_p90_seconds": 29 * 3600}
    assert report["by_team"]["billing"]["met"] == 1
    assert report["by_team"]["billing"]["breached"] == 1
    assert report["by_team"]["(none)"]["first_response_p50_seconds"] == 1800
    assert report["by_channel"]["email"]["first_responses"] == 3
    text = inbox("report", "sla", "--since", "30d").stdout
    assert "team billing" in text and "67%" in text and "1d 5h" in text
