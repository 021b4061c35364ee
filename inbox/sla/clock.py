"""The response-time promise: which policy applies, the clock, and the sweep.

A conversation owes the customer an answer while `awaiting_since` is set: the time of
the oldest customer message no human has answered. A *running* clock has `sla_due_at`
and `sla_warn_at`; a *paused* one (the conversation is pending or snoozed) has instead
`sla_left_seconds`, the working time it had left, and resumes with exactly that. An
automatic acknowledgement does not stop the clock; an agent's reply does (met or
breached); resolving or closing drops it. A customer message to an answered or resolved
conversation starts a next-response clock.

States: ok -> at-risk (the warning point) -> breached, or met. `sla_next_at` is when the
sweep must next look at a conversation (a state change is due, or a snooze ends), so a
sweep reads only rows whose time has come, through its index, never the whole table.

Nothing here reads the clock: every function that depends on time takes `now`; nothing
here touches the database either (the sweep that records transitions is inbox.sla.sweep), so
`inbox sla` can use it without loading SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

from inbox.core.config import (
    BusinessHoursSettings,
    ConfigError,
    Settings,
    SlaPolicySettings,
    SlaSettings,
)
from inbox.core.vocab import Status
from inbox.sla.calendar import ALWAYS, BusinessHours, Calendar, CalendarError

ZERO = timedelta(0)
T = TypeVar("T")
PAUSING = (Status.PENDING, Status.SNOOZED)


class Clocked(Protocol):
    """What the clock needs of a conversation: the ORM model and the pipeline's copy."""

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


class SlaState(StrEnum):
    OK = "ok"
    AT_RISK = "at-risk"
    BREACHED = "breached"
    MET = "met"


@dataclass(frozen=True)
class SlaPolicy:
    """One conversation's promise, with every layer of configuration resolved."""

    first_response: timedelta = timedelta(hours=24)
    next_response: timedelta = timedelta(hours=24)
    warn_before: timedelta = timedelta(hours=4)
    calendar: Calendar = ALWAYS
    notify: tuple[str, ...] = ("owner",)
    name: str = "default"


def _hours(value: float) -> timedelta:
    return timedelta(hours=value)


class Policies:
    """Resolves a conversation's policy: the default, then its priority's overrides,
    then the named policy a rule chose (docs/sla.md)."""

    def __init__(self, s: SlaSettings | None = None,
                 business_hours: BusinessHoursSettings | None = None) -> None:
        self.settings = s = s or SlaSettings()
        layers: list[SlaSettings | SlaPolicySettings] = [
            s, *s.priorities.values(), *s.policies.values()]
        try:
            self.calendars: dict[str, Calendar] = {
                name: BusinessHours.from_settings(c, f"[sla.calendars.{name}]")
                for name, c in s.calendars.items()}
            # [business_hours] is also the routing rules'; only a policy using it must work.
            self.business_hours: Calendar | None = BusinessHours.from_settings(
                business_hours or BusinessHoursSettings(), "[business_hours]") \
                if any(x.business_hours is True for x in layers) else None
        except CalendarError as exc:
            raise ConfigError(str(exc)) from None
        self.notify_on = frozenset(s.notify_on)
        self._cache: dict[tuple[str, str], SlaPolicy] = {}

    @classmethod
    def from_settings(cls, s: Settings) -> Policies:
        return cls(s.sla, s.business_hours)

    def resolve(self, name: str, priority: str) -> SlaPolicy:
        key = (name, priority)
        if key not in self._cache:
            self._cache[key] = self._build(name, priority)
        return self._cache[key]

    def of(self, conv: Clocked) -> SlaPolicy:
        return self.resolve(conv.sla_policy, conv.priority)

    def _build(self, name: str, priority: str) -> SlaPolicy:
        s = self.settings
        first, nxt, warn = s.first_response_hours, s.next_response_hours, s.warn_before_hours
        hours: bool | str = s.business_hours
        notify = list(s.notify)
        layers = [s.priorities.get(priority), s.policies.get(name)]
        for layer in (x for x in layers if x is not None):
            first = _pick(layer.first_response_hours, first)
            nxt = _pick(layer.next_response_hours, nxt)
            warn = _pick(layer.warn_before_hours, warn)
            hours = _pick(layer.business_hours, hours)
            notify = _pick(layer.notify, notify)
        return SlaPolicy(_hours(first), _hours(nxt), _hours(warn), self._calendar(hours),
                         tuple(notify), name if name in s.policies else "default")

    def _calendar(self, hours: bool | str) -> Calendar:
        if hours is True:
            assert self.business_hours is not None  # built when any layer says true
            return self.business_hours
        if isinstance(hours, str):
            return self.calendars[hours]  # names were checked when settings loaded
        return ALWAYS


def _pick(override: T | None, base: T) -> T:
    return base if override is None else override


# --- the clock ---------------------------------------------------------------------------

def is_paused(conv: Clocked) -> bool:
    return conv.sla_left_seconds is not None


def start_clock(conv: Clocked, at: datetime, policy: SlaPolicy) -> None:
    """A customer message arrived at `at`: start the clock, or resume a paused one.

    A clock already running keeps running from the oldest unanswered message.
    """
    at = at.astimezone(UTC)
    if is_paused(conv):
        resume_clock(conv, at, policy)
        return
    if conv.awaiting_since is not None:
        return
    budget = policy.first_response if conv.first_response_at is None else policy.next_response
    conv.awaiting_since = at
    conv.sla_state = SlaState.OK
    _run(conv, at, budget, policy)


def _run(conv: Clocked, at: datetime, left: timedelta, policy: SlaPolicy) -> None:
    """Run the clock from `at` with `left` working time to go (negative: overdue)."""
    at = at.astimezone(UTC)
    if left > ZERO:
        conv.sla_due_at = policy.calendar.add(at, left)
        conv.sla_warn_at = policy.calendar.add(at, left - policy.warn_before)
    else:  # resumed after the breach: as overdue as it was when it paused
        conv.sla_due_at = conv.sla_warn_at = at + left
    conv.sla_paused_at = conv.sla_left_seconds = None
    conv.sla_next_at = next_look(conv)


def next_look(conv: Clocked) -> datetime | None:
    """When the sweep must look at this conversation again, if ever."""
    if conv.status == Status.SNOOZED and conv.snoozed_until is not None:
        return conv.snoozed_until
    if conv.sla_due_at is None or conv.sla_state in (SlaState.BREACHED, SlaState.MET):
        return None
    return conv.sla_due_at if conv.sla_state == SlaState.AT_RISK else conv.sla_warn_at


def sla_state(conv: Clocked, now: datetime) -> SlaState | None:
    """The state at `now`: computed for a running clock, as recorded otherwise."""
    if conv.sla_due_at is None:
        return SlaState(conv.sla_state) if conv.sla_state else None
    if now >= conv.sla_due_at:
        return SlaState.BREACHED
    if conv.sla_warn_at is not None and now >= conv.sla_warn_at:
        return SlaState.AT_RISK
    return SlaState.OK


def time_left(conv: Clocked, now: datetime) -> timedelta | None:
    """Until the breach (negative: overdue); a paused clock keeps what it had left."""
    if conv.sla_due_at is not None:
        return conv.sla_due_at - now
    if conv.sla_left_seconds is not None:
        return timedelta(seconds=conv.sla_left_seconds)
    return None


def duration(left: timedelta) -> str:
    """`5h 03m`, `2d 1h`, or `overdue 40m`: how people say time left."""
    seconds = int(abs(left.total_seconds()))
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    text = f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m"
    return f"overdue {text}" if left.total_seconds() < 0 else text


@dataclass(frozen=True)
class Stop:
    """How a clock ended when a human answered."""

    outcome: SlaState  # MET or BREACHED
    target: str  # "first" or "next" response
    waited: timedelta  # since the oldest unanswered customer message
    due_at: datetime | None
    newly_breached: bool  # the breach was not recorded before (no sweep saw it)

    def detail(self) -> dict[str, object]:
        return {"target": self.target, "waited_seconds": round(self.waited.total_seconds()),
                "due_at": iso(self.due_at)}


def stop_clock(conv: Clocked, now: datetime) -> Stop | None:
    """A human answered at `now`: the promise was met or broken; the clock stops."""
    if conv.awaiting_since is None:
        return None
    if is_paused(conv):
        late = (conv.sla_left_seconds or 0) <= 0
    else:
        late = conv.sla_due_at is not None and now >= conv.sla_due_at
    seen = conv.sla_state == SlaState.BREACHED
    outcome = SlaState.BREACHED if late or seen else SlaState.MET
    stop = Stop(outcome, "first" if conv.first_response_at is None else "next",
                now - conv.awaiting_since, conv.sla_due_at, outcome == SlaState.BREACHED
                and not seen)
    if conv.first_response_at is None:
        conv.first_response_at = now
    conv.awaiting_since = conv.sla_due_at = conv.sla_warn_at = None
    conv.sla_paused_at = conv.sla_left_seconds = None
    conv.sla_state = outcome
    conv.sla_next_at = next_look(conv)
    return stop


def pause_clock(conv: Clocked, now: datetime, policy: SlaPolicy) -> bool:
    """Freeze a running clock with the working time it has left (negative if overdue)."""
    due = conv.sla_due_at
    if due is None or conv.awaiting_since is None:
        return False
    left = policy.calendar.between(now, due) if now < due else due - now
    conv.sla_left_seconds, conv.sla_paused_at = left.total_seconds(), now
    conv.sla_due_at = conv.sla_warn_at = None
    conv.sla_next_at = next_look(conv)
    return True


def resume_clock(conv: Clocked, now: datetime, policy: SlaPolicy) -> bool:
    """Run a paused clock again from `now` with the time it had left."""
    if conv.sla_left_seconds is None:
        return False
    _run(conv, now, timedelta(seconds=conv.sla_left_seconds), policy)
    return True


def follow_status(conv: Clocked, status: Status, now: datetime, policy: SlaPolicy,
                  until: datetime | None = None) -> str | None:
    """What a status change does to the clock (the caller sets the status first).

    Waiting on the customer or snoozed pauses it; open resumes it; resolved or closed
    drops it (nobody waits on a finished conversation; a customer's next message reopens
    it with a fresh clock). Returns "paused", "resumed", "dropped" or None.
    """
    conv.snoozed_until = until if status == Status.SNOOZED else None
    change: str | None = None
    if status in PAUSING:
        change = "paused" if pause_clock(conv, now, policy) else None
    elif status == Status.OPEN:
        change = "resumed" if resume_clock(conv, now, policy) else None
    elif conv.awaiting_since is not None:
        conv.awaiting_since = conv.sla_due_at = conv.sla_warn_at = None
        conv.sla_paused_at = conv.sla_left_seconds = None
        if conv.sla_state in (SlaState.OK, SlaState.AT_RISK):
            conv.sla_state = None  # no promise was kept or broken
        change = "dropped"
    conv.sla_next_at = next_look(conv)
    return change


def settle_silently(conv: Clocked, now: datetime) -> None:
    """Record the state at `now` without an event: for history being imported, whose
    deadlines passed before we knew of it — that is not news for anyone."""
    state = sla_state(conv, now)
    if state is not None and conv.sla_due_at is not None:
        conv.sla_state = state
    conv.sla_next_at = next_look(conv)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
