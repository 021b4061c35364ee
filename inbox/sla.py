"""The response-time promise: pure functions of a conversation and `now`, plus the sweep.

A conversation awaiting a human carries `awaiting_since` (the first customer message no
human has answered yet), `sla_due_at` and `sla_warn_at`. An automatic acknowledgement
does not stop the clock; an agent's reply does. Nothing here reads the clock: every
function that depends on time takes `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.config import SlaSettings
from inbox.models import Conversation, Event


class Clocked(Protocol):
    """What the clock needs of a conversation: the ORM model and the pipeline's copy."""

    awaiting_since: datetime | None
    sla_due_at: datetime | None
    sla_warn_at: datetime | None
    sla_next_at: datetime | None
    sla_state: str | None
    first_response_at: datetime | None


class SlaState(StrEnum):
    OK = "ok"
    AT_RISK = "at-risk"
    BREACHED = "breached"
    MET = "met"


@dataclass(frozen=True)
class SlaPolicy:
    first_response: timedelta
    next_response: timedelta
    warn_before: timedelta

    @classmethod
    def from_settings(cls, s: SlaSettings) -> SlaPolicy:
        return cls(timedelta(hours=s.first_response_hours),
                   timedelta(hours=s.next_response_hours),
                   timedelta(hours=s.warn_before_hours))


def start_clock(conv: Clocked, at: datetime, policy: SlaPolicy) -> None:
    """A customer message arrived at `at`: start the clock unless one is already running."""
    if conv.awaiting_since is not None:
        return
    budget = policy.first_response if conv.first_response_at is None else policy.next_response
    conv.awaiting_since = at
    conv.sla_due_at = at + budget
    conv.sla_warn_at = conv.sla_due_at - min(policy.warn_before, budget)
    conv.sla_state = SlaState.OK
    conv.sla_next_at = conv.sla_warn_at


def stop_clock(conv: Clocked, now: datetime) -> SlaState | None:
    """A human answered at `now`: the promise was met or broken; the clock stops."""
    if conv.awaiting_since is None or conv.sla_due_at is None:
        return None
    outcome = SlaState.MET if now <= conv.sla_due_at else SlaState.BREACHED
    if conv.first_response_at is None:
        conv.first_response_at = now
    conv.awaiting_since = conv.sla_due_at = conv.sla_warn_at = conv.sla_next_at = None
    conv.sla_state = outcome
    return outcome


def sla_state(conv: Clocked, now: datetime) -> SlaState | None:
    if conv.sla_due_at is None:
        return SlaState(conv.sla_state) if conv.sla_state else None
    if now >= conv.sla_due_at:
        return SlaState.BREACHED
    if conv.sla_warn_at is not None and now >= conv.sla_warn_at:
        return SlaState.AT_RISK
    return SlaState.OK


def sweep(session: Session, now: datetime, limit: int = 500) -> list[tuple[int, SlaState]]:
    """Record every open conversation that crossed its warning or due time since last time.

    Driven by the index on `sla_next_at` (the time of each conversation's next
    transition), so a sweep that finds nothing reads nothing.
    """
    rows = session.scalars(
        sa.select(Conversation)
        .where(col(Conversation.sla_next_at) <= now)
        .order_by(col(Conversation.sla_next_at))
        .limit(limit)
    ).all()
    changed = []
    for conv in rows:
        state = sla_state(conv, now)
        conv.sla_next_at = conv.sla_due_at if state == SlaState.AT_RISK else None
        if state is None or state == conv.sla_state:
            continue
        session.add(Event(conversation_id=conv.id, kind="sla." + state,
                          detail={"from": conv.sla_state, "due_at": _iso(conv.sla_due_at)},
                          created_at=now))
        conv.sla_state = state
        assert conv.id is not None
        changed.append((conv.id, state))
    return changed


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
