"""SLA read models: what is at risk (now or at a given time), and how often the promise
was kept. The dicts are the `--json` shapes of `inbox sla` and `inbox report sla`
(docs/cli-json.md); add keys freely, never rename or remove one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox import sla, threads
from inbox.models import Conversation, Event
from inbox.views import iso
from inbox.vocab import Status

JSON = dict[str, Any]


def at_risk(s: Session, at: datetime, now: datetime, policies: sla.Policies, secret: str,
            *, team: str | None = None, assignee: str | None = None,
            limit: int = 500) -> list[JSON]:
    """Open conversations at risk or breached at `at` (usually now), the most urgent first.

    Running clocks are read through the index on (status, sla_warn_at), in that order,
    so only rows past their warning point are touched; beyond `limit`, those that
    crossed it first win. A snooze that ends before `at` brings its conversation back
    with its clock running, so those are projected too. Paused clocks are not at risk:
    they wait on the customer.
    """
    running = _read(s, sa.select(*_COLUMNS).where(
        col(Conversation.status) == Status.OPEN, col(Conversation.sla_warn_at) <= at)
        .order_by(col(Conversation.sla_warn_at)).limit(limit), team, assignee)
    waking = _read(s, sa.select(*_COLUMNS).where(
        col(Conversation.sla_next_at) <= at, col(Conversation.status) == Status.SNOOZED,
        col(Conversation.sla_left_seconds).is_not(None)).limit(limit), team, assignee)
    rows = [_row(r, clock, clock, at=at, now=now, secret=secret)
            for r in running if (clock := _clock(r))]
    for r in waking:
        woken = _clock(r, status=Status.OPEN, snoozed_until=None)
        sla.resume_clock(woken, r.snoozed_until or now, policies.resolve(r.sla_policy,
                                                                        r.priority))
        if sla.sla_state(woken, at) in (sla.SlaState.AT_RISK, sla.SlaState.BREACHED):
            rows.append(_row(r, woken, _clock(r), at=at, now=now, secret=secret))
    rows.sort(key=lambda r: (r["seconds_left"], r["id"]))
    return rows[:limit]


@dataclass
class _Clock:
    """A conversation's clock as plain data: read without the ORM (this runs for every
    `inbox sla`), or projected to the end of a snooze."""

    status: str
    priority: str
    sla_policy: str
    awaiting_since: datetime | None
    sla_due_at: datetime | None
    sla_warn_at: datetime | None
    sla_next_at: datetime | None
    sla_state: str | None
    sla_paused_at: datetime | None
    sla_left_seconds: float | None
    snoozed_until: datetime | None
    first_response_at: datetime | None


_CLOCK = tuple(f.name for f in fields(_Clock))
_COLUMNS = tuple(getattr(Conversation, name) for name in (
    *_CLOCK, "id", "subject", "channel", "team", "assignee"))


def _clock(r: Any, **changes: Any) -> _Clock:
    return _Clock(**{name: changes.get(name, getattr(r, name)) for name in _CLOCK})


def _read(s: Session, q: sa.Select[Any], team: str | None,
          assignee: str | None) -> list[Any]:
    if team is not None:
        q = q.where(col(Conversation.team) == team)
    if assignee is not None:
        q = q.where(col(Conversation.assignee) == assignee)
    return list(s.execute(q))


def _row(r: Any, clock: _Clock, today: _Clock, *, at: datetime, now: datetime,
         secret: str) -> JSON:
    """`clock` as it will be at `at`; `today` as it is now."""
    state, state_now = sla.sla_state(clock, at), sla.sla_state(today, now)
    left = sla.time_left(clock, at)
    return {
        "id": r.id, "reference": threads.reference(secret, r.id), "subject": r.subject,
        "channel": r.channel, "status": r.status, "team": r.team, "assignee": r.assignee,
        "priority": r.priority, "policy": r.sla_policy,
        "state": state.value if state else None,
        "state_now": state_now.value if state_now else None,
        "due_at": iso(clock.sla_due_at), "warn_at": iso(clock.sla_warn_at),
        "seconds_left": left.total_seconds() if left is not None else None,
        "awaiting_since": iso(r.awaiting_since), "snoozed_until": iso(r.snoozed_until),
    }


# --- how often the promise was kept ------------------------------------------------------

@dataclass
class _Tally:
    met: int = 0
    breached: int = 0
    first_waits: list[float] = field(default_factory=list)

    def json(self) -> JSON:
        decided = self.met + self.breached
        waits = sorted(self.first_waits)
        return {"met": self.met, "breached": self.breached,
                "kept_percent": round(100 * self.met / decided, 1) if decided else None,
                "first_responses": len(waits),
                "first_response_p50_seconds": percentile(waits, 50),
                "first_response_p90_seconds": percentile(waits, 90)}


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list: a value that really occurred."""
    if not ordered:
        return None
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


REPORTED = ("sla.met", "sla.breached", "reply.queued")


def sla_report(s: Session, since: datetime, until: datetime) -> JSON:
    """Met and breached promises and first-response times in [since, until), overall,
    per team and per channel.

    Every clock ends at most once in `sla.met` (an agent answered in time) or
    `sla.breached` (the due time passed: recorded by the sweep, or by a late reply if no
    sweep saw it first); first-response times come from the replies that stopped a
    first-response clock (wall-clock time since the customer's first unanswered message).
    """
    q = (sa.select(col(Event.kind), col(Event.detail), col(Conversation.team),
                   col(Conversation.channel))
         .join(Conversation, col(Conversation.id) == col(Event.conversation_id))
         .where(col(Event.kind).in_(REPORTED), col(Event.created_at) >= since,
                col(Event.created_at) < until))
    overall, teams, channels = _Tally(), dict[str, _Tally](), dict[str, _Tally]()
    for kind, detail, team, channel in s.execute(q):
        first = kind == "reply.queued" and detail.get("sla_target") == "first"
        if kind == "reply.queued" and not first:
            continue  # a reply that stopped no clock, or a next-response clock
        for tally in (overall, teams.setdefault(team or "(none)", _Tally()),
                      channels.setdefault(channel, _Tally())):
            if kind == "sla.met":
                tally.met += 1
            elif kind == "sla.breached":
                tally.breached += 1
            else:
                tally.first_waits.append(float(detail["sla_waited_seconds"]))
    return {"since": iso(since), "until": iso(until),
            "days": round((until - since) / timedelta(days=1), 2),
            "overall": overall.json(),
            "by_team": {k: v.json() for k, v in sorted(teams.items())},
            "by_channel": {k: v.json() for k, v in sorted(channels.items())}}
