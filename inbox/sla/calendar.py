"""Working-time arithmetic: "24 business hours after Friday 15:00" as an instant.

A calendar answers two questions, both pure: `add(start, budget)` — the instant at which
`budget` of working time has passed since `start` — and `between(a, b)` — how much
working time lies between two instants. `ALWAYS` counts every second; `BusinessHours`
counts only the shifts of a weekly schedule in one time zone, minus holidays.

Shifts are computed from local wall-clock times and converted to UTC one day at a time,
so a day on which the clocks change has the length it really has: "09:00-17:00" is
always 8 hours, but "00:00-00:00" (a full day) is 23 hours on the spring-forward day.
All instants in and out are aware datetimes; results are in UTC.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from inbox.core.config import WEEKDAYS, BusinessHoursSettings, parse_span
from inbox.core.errors import Invalid

ZERO = timedelta(0)
ONE_DAY = timedelta(days=1)
# A schedule with so few shifts that a budget needs more than this cannot be meant.
HORIZON_DAYS = 3700


class CalendarError(Invalid, ValueError):
    """The calendar cannot answer: e.g. it has no working time at all."""


class Calendar(Protocol):
    @property
    def name(self) -> str: ...

    def add(self, start: datetime, budget: timedelta) -> datetime:
        """The instant `budget` of working time after `start` (a zero budget: the next
        working instant)."""
        ...

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from `a` to `b`; negative when `b` is before `a`."""
        ...

    def is_open(self, at: datetime) -> bool: ...


@dataclass(frozen=True)
class AlwaysOpen:
    """Every second counts: the calendar of a 24/7 promise."""

    name: str = "24/7"

    def add(self, start: datetime, budget: timedelta) -> datetime:
        return start.astimezone(UTC) + max(budget, ZERO)

    def between(self, a: datetime, b: datetime) -> timedelta:
        return b.astimezone(UTC) - a.astimezone(UTC)

    def is_open(self, at: datetime) -> bool:
        return True


ALWAYS = AlwaysOpen()


@dataclass(frozen=True)
class BusinessHours:
    """A weekly schedule in one zone: `days` (0 = Monday) from `opens` to `closes`.

    A shift may pass midnight ("22:00-06:00"); it belongs to the day it starts on, and a
    holiday removes the shift that starts on that date. `opens == closes` is a full day.
    """

    zone: zoneinfo.ZoneInfo
    days: frozenset[int]
    opens: time
    closes: time
    holidays: frozenset[date] = frozenset()
    name: str = "business hours"

    @classmethod
    def from_settings(cls, s: BusinessHoursSettings, name: str = "business hours"
                      ) -> BusinessHours:
        opens, closes = parse_span(s.hours)
        if not s.days:
            raise CalendarError(f"{name}: no working days, so no answer could ever be due")
        return cls(zoneinfo.ZoneInfo(s.timezone), frozenset(WEEKDAYS.index(d) for d in s.days),
                   opens, closes, frozenset(s.holidays), name)

    def shift(self, day: date) -> tuple[datetime, datetime] | None:
        """The working interval starting on local `day`, in UTC; None on a day off."""
        if day.weekday() not in self.days or day in self.holidays:
            return None
        end_day = day + ONE_DAY if self.closes <= self.opens else day
        start = datetime.combine(day, self.opens, self.zone)
        end = datetime.combine(end_day, self.closes, self.zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def _shifts(self, since: datetime, until: datetime | None = None
                ) -> Iterator[tuple[datetime, datetime]]:
        """Shifts that end after `since`, in order (up to `until`, or the horizon)."""
        # Start a day early: yesterday's overnight shift may still be running.
        day = since.astimezone(self.zone).date() - ONE_DAY
        last = until.astimezone(self.zone).date() if until else day + HORIZON_DAYS * ONE_DAY
        while day <= last:
            found = self.shift(day)
            if found is not None and found[1] > since:
                yield found
            day += ONE_DAY
        if until is None:
            raise CalendarError(f"{self.name}: no working time within {HORIZON_DAYS} days")

    def add(self, start: datetime, budget: timedelta) -> datetime:
        # In UTC: Python adds to and subtracts zoned times of one zone by the wall clock.
        start, left = start.astimezone(UTC), max(budget, ZERO)
        for opens, closes in self._shifts(start):
            begin = max(opens, start)
            if begin + left <= closes:
                return begin + left
            left -= closes - begin
        raise AssertionError("unreachable: _shifts raises at the horizon")

    def between(self, a: datetime, b: datetime) -> timedelta:
        a, b = a.astimezone(UTC), b.astimezone(UTC)
        if b < a:
            return -self.between(b, a)
        total = ZERO
        for opens, closes in self._shifts(a, b):
            if opens >= b:
                break
            total += min(closes, b) - max(opens, a)
        return total

    def is_open(self, at: datetime) -> bool:
        local_day = at.astimezone(self.zone).date()
        for day in (local_day - ONE_DAY, local_day):
            found = self.shift(day)
            if found is not None and found[0] <= at < found[1]:
                return True
        return False
