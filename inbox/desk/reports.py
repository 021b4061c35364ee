"""How often the promise was kept: the read model of `inbox report sla`. The dict is its
`--json` shape (docs/cli-json.md); add keys freely, never rename or remove one. What is
at risk now (`inbox sla`) is inbox.sla.risk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.vocab import iso
from inbox.store.models import Conversation, Event

JSON = dict[str, Any]


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
