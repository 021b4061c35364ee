"""What is at risk: open conversations past their warning point, now or at a given moment.

The read model of `inbox sla`. It reads with the plain driver (inbox.store.rawdb), not the ORM,
so that the command starts and answers within its 300 ms budget; the dicts are its
`--json` shape (docs/cli-json.md): add keys freely, never rename or remove one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from inbox.core import tokens
from inbox.core.vocab import Status, iso
from inbox.sla import clock as sla
from inbox.store.rawdb import Reader

JSON = dict[str, Any]


@dataclass
class Row:
    """A conversation's clock (an sla.Clocked) and what a listing shows of it."""

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
    id: int
    subject: str
    channel: str
    team: str | None
    assignee: str | None


_COLUMNS = tuple(f.name for f in fields(Row))
# Columns to read back as aware times (annotations are strings under __future__ here).
_TIMES = frozenset(f.name for f in fields(Row) if f.type == "datetime | None")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM conversation"


def at_risk(db: Reader, at: datetime, now: datetime, policies: sla.Policies, secret: str,
            *, team: str | None = None, assignee: str | None = None,
            limit: int = 500) -> list[JSON]:
    """Open conversations at risk or breached at `at` (usually now), the most urgent first.

    Running clocks are read through the index on (status, sla_warn_at), in that order,
    so only rows past their warning point are touched; beyond `limit`, those that
    crossed it first win. A snooze that ends before `at` brings its conversation back
    with its clock running, so those are projected too. Paused clocks are not at risk:
    they wait on the customer.
    """
    only = {"team": team, "assignee": assignee}
    running = _read(db, "status = ? AND sla_warn_at <= ? {} ORDER BY sla_warn_at LIMIT ?",
                    [Status.OPEN.value, db.to_db(at)], only, limit)
    found = [_json(r, r, at=at, now=now, secret=secret) for r in running]
    for r in _read(db, "status = ? AND sla_next_at <= ? AND sla_left_seconds IS NOT NULL {} "
                   "LIMIT ?", [Status.SNOOZED.value, db.to_db(at)], only, limit):
        woken = replace(r, status=Status.OPEN.value, snoozed_until=None)
        sla.resume_clock(woken, r.snoozed_until or now,
                         policies.resolve(r.sla_policy, r.priority))
        if sla.sla_state(woken, at) in (sla.SlaState.AT_RISK, sla.SlaState.BREACHED):
            found.append(_json(r, woken, at=at, now=now, secret=secret))
    found.sort(key=lambda r: (r["seconds_left"], r["id"]))
    return found[:limit]


def _read(db: Reader, where: str, params: list[Any], only: dict[str, str | None],
          limit: int) -> list[Row]:
    """Rows matching `where`, whose `{}` takes the filters in `only` (column: value)."""
    given = {name: value for name, value in only.items() if value is not None}
    sql = where.format("".join(f"AND {name} = ? " for name in given))
    rows = db.rows(f"{_SELECT} WHERE {sql}", [*params, *given.values(), limit])
    return [Row(**_typed(db, r)) for r in rows]


def _typed(db: Reader, row: tuple[Any, ...]) -> dict[str, Any]:
    return {name: db.from_db(v) if name in _TIMES else v
            for name, v in zip(_COLUMNS, row, strict=True)}


def _json(r: Row, clock: Row, *, at: datetime, now: datetime, secret: str) -> JSON:
    """`clock` as it will be at `at`; `r` as it is now."""
    state, state_now = sla.sla_state(clock, at), sla.sla_state(r, now)
    left = sla.time_left(clock, at)
    return {
        "id": r.id, "reference": tokens.reference(secret, r.id), "subject": r.subject,
        "channel": r.channel, "status": r.status, "team": r.team, "assignee": r.assignee,
        "priority": r.priority, "policy": r.sla_policy,
        "state": state.value if state else None,
        "state_now": state_now.value if state_now else None,
        "due_at": iso(clock.sla_due_at), "warn_at": iso(clock.sla_warn_at),
        "seconds_left": left.total_seconds() if left is not None else None,
        "awaiting_since": iso(r.awaiting_since), "snoozed_until": iso(r.snoozed_until),
    }
