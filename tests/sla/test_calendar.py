"""Business-hours arithmetic: nights, weekends, holidays and both DST changes.

The team works Monday to Friday 09:00-17:00 in Warsaw (8 hours a day). In 2026 Europe's
clocks go forward on Sunday 29 March and back on Sunday 25 October.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest

from inbox.core.config import BusinessHoursSettings
from inbox.sla.calendar import ALWAYS, BusinessHours, CalendarError

WARSAW = zoneinfo.ZoneInfo("Europe/Warsaw")
OFFICE = BusinessHours.from_settings(BusinessHoursSettings(
    timezone="Europe/Warsaw", hours="09:00-17:00",
    holidays=[date(2026, 12, 24), date(2026, 12, 25)]))
NIGHTS = BusinessHours.from_settings(BusinessHoursSettings(
    timezone="Europe/Warsaw", hours="22:00-06:00"))
EVERY_DAY = BusinessHours.from_settings(BusinessHoursSettings(
    timezone="Europe/Warsaw", hours="00:00-00:00", days=["mon", "tue", "wed", "thu", "fri",
                                                         "sat", "sun"]))


def local(text: str) -> datetime:
    """`"2026-03-02 10:00"` in Warsaw."""
    return datetime.fromisoformat(text).replace(tzinfo=WARSAW)


ADD = [
    # (why, calendar, start (Warsaw), business hours, due (Warsaw))
    ("within one day", OFFICE, "2026-03-02 10:00", 4, "2026-03-02 14:00"),
    ("24 business hours are three working days", OFFICE, "2026-03-02 10:00", 24,
     "2026-03-05 10:00"),
    ("ending exactly at closing time stays that day", OFFICE, "2026-03-02 09:00", 8,
     "2026-03-02 17:00"),
    ("the night does not count", OFFICE, "2026-03-02 18:00", 2, "2026-03-03 11:00"),
    ("the weekend does not count", OFFICE, "2026-03-06 15:00", 4, "2026-03-09 11:00"),
    ("a message on Saturday waits for Monday", OFFICE, "2026-03-07 12:00", 1,
     "2026-03-09 10:00"),
    ("nothing left: the next working moment", OFFICE, "2026-03-07 12:00", 0,
     "2026-03-09 09:00"),
    ("holidays do not count", OFFICE, "2026-12-23 16:00", 4, "2026-12-28 12:00"),
    ("clocks go forward over the weekend", OFFICE, "2026-03-27 15:00", 24,
     "2026-04-01 15:00"),
    ("clocks go back over the weekend", OFFICE, "2026-10-23 15:00", 24, "2026-10-28 15:00"),
    ("a night shift belongs to the day it starts", NIGHTS, "2026-03-06 23:00", 3,
     "2026-03-07 02:00"),
    ("Saturday has no night shift", NIGHTS, "2026-03-07 23:00", 1, "2026-03-09 23:00"),
    ("the spring-forward day is 23 hours long", EVERY_DAY, "2026-03-29 00:00", 24,
     "2026-03-30 01:00"),
    ("the fall-back day is 25 hours long", EVERY_DAY, "2026-10-25 00:00", 24,
     "2026-10-25 23:00"),
]


@pytest.mark.parametrize(("why", "calendar", "start", "hours", "due"), ADD,
                         ids=[case[0] for case in ADD])
def test_add_business_hours(why: str, calendar: BusinessHours, start: str, hours: float,
                            due: str) -> None:
    got = calendar.add(local(start), timedelta(hours=hours))
    assert got == local(due), f"{why}: {got.astimezone(WARSAW)}"
    assert got.tzinfo == UTC


def test_dst_is_real_time_not_wall_clock_arithmetic() -> None:
    # Friday 15:00 CET is 14:00 UTC; Wednesday 15:00 CEST is 13:00 UTC, not 14:00.
    due = OFFICE.add(local("2026-03-27 15:00"), timedelta(hours=24))
    assert due == datetime(2026, 4, 1, 13, 0, tzinfo=UTC)


BETWEEN = [
    ("over a weekend", OFFICE, "2026-03-06 15:00", "2026-03-09 11:00", 4),
    ("over the spring-forward weekend", OFFICE, "2026-03-27 15:00", "2026-04-01 15:00", 24),
    ("over holidays", OFFICE, "2026-12-23 16:00", "2026-12-28 12:00", 4),
    ("outside hours only", OFFICE, "2026-03-07 08:00", "2026-03-08 20:00", 0),
    ("backwards is negative", OFFICE, "2026-03-09 11:00", "2026-03-06 15:00", -4),
    ("around the clock", ALWAYS, "2026-03-28 12:00", "2026-03-29 12:00", 23),
]


@pytest.mark.parametrize(("why", "calendar", "a", "b", "hours"), BETWEEN,
                         ids=[case[0] for case in BETWEEN])
def test_working_time_between(why: str, calendar: BusinessHours, a: str, b: str,
                              hours: float) -> None:
    assert calendar.between(local(a), local(b)) == timedelta(hours=hours), why


def test_between_undoes_add_from_any_start() -> None:
    """For every start in three weeks (DST change included) and several budgets."""
    start = local("2026-03-20 00:00")
    for step in range(0, 21 * 24 * 60, 97):  # every 97 minutes: all times of day
        at = start + timedelta(minutes=step)
        for hours in (0.5, 2, 8, 24, 41):
            budget = timedelta(hours=hours)
            assert OFFICE.between(at, OFFICE.add(at, budget)) == budget


def test_open_and_closed() -> None:
    assert OFFICE.is_open(local("2026-03-02 09:00"))
    assert not OFFICE.is_open(local("2026-03-02 17:00"))
    assert not OFFICE.is_open(local("2026-12-24 10:00"))
    assert NIGHTS.is_open(local("2026-03-07 05:00"))  # Friday's shift, on Saturday
    assert not NIGHTS.is_open(local("2026-03-08 05:00"))


def test_a_calendar_without_working_days_is_refused() -> None:
    with pytest.raises(CalendarError, match="no working days"):
        BusinessHours.from_settings(BusinessHoursSettings(days=[]))
