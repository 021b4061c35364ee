"""The SLA sweep: record what crossed a line since the last look, once, and tell who must.

The daemon runs it every `[sla] sweep_seconds`; the clock itself is inbox.sla.clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.vocab import Status
from inbox.sla.clock import Policies, SlaPolicy, SlaState, follow_status, iso, next_look, sla_state
from inbox.store.models import Conversation, Event

# Queue notifications for a transition inside the sweep's transaction; returns who
# ("channel:address") will be told.
Notify = Callable[[Session, Conversation, SlaState, SlaPolicy, datetime], list[str]]


@dataclass(frozen=True)
class Transition:
    conversation_id: int
    state: str  # an SlaState, or "woke" for a snooze that ended
    notified: tuple[str, ...] = ()


@dataclass
class SweepResult:
    looked: int = 0  # rows read: equal to the limit means there may be more
    transitions: list[Transition] = field(default_factory=list)


def sweep(s: Session, now: datetime, policies: Policies, notify: Notify | None = None,
          limit: int = 500) -> SweepResult:
    """Record what crossed a line since the last sweep, once, and tell who must know.

    Reads only conversations whose `sla_next_at` has come, through its index. Every
    state change, its event and its notifications are written in the caller's
    transaction, so a transition is recorded and announced exactly once, even across
    crashes and restarts. On PostgreSQL the rows are locked with SKIP LOCKED, so two
    daemons sweeping at once never announce the same transition twice.
    """
    q = (sa.select(Conversation).where(col(Conversation.sla_next_at) <= now)
         .order_by(col(Conversation.sla_next_at)).limit(limit))
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    result = SweepResult()
    for conv in s.scalars(q).all():
        result.looked += 1
        assert conv.id is not None
        policy = policies.of(conv)
        if conv.status == Status.SNOOZED and conv.snoozed_until is not None \
                and conv.snoozed_until <= now:
            _wake(s, conv, policy, now)
            result.transitions.append(Transition(conv.id, "woke"))
        state = sla_state(conv, now)
        if state is not None and state != conv.sla_state and conv.sla_due_at is not None:
            told = notify(s, conv, state, policy, now) \
                if notify is not None and state in policies.notify_on else []
            s.add(Event(conversation_id=conv.id, kind="sla." + state, created_at=now,
                        detail={"from": conv.sla_state, "due_at": iso(conv.sla_due_at),
                                "policy": policy.name, "notified": told}))
            conv.sla_state = state
            result.transitions.append(Transition(conv.id, state, tuple(told)))
        conv.sla_next_at = next_look(conv)
    return result


def _wake(s: Session, conv: Conversation, policy: SlaPolicy, now: datetime) -> None:
    """A snooze ended: back to the queue, the clock running again from the snooze's end."""
    until = conv.snoozed_until or now
    conv.status, conv.updated_at = Status.OPEN, now
    follow_status(conv, Status.OPEN, until, policy)
    s.add(Event(conversation_id=conv.id, kind="status", created_at=now,
                detail={"from": Status.SNOOZED.value, "to": Status.OPEN.value,
                        "by": "snooze", "until": iso(until)}))
