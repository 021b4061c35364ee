"""Webhooks: other systems told of changes as they happen (docs/api.md "Webhooks").

An admin registers a URL and the events it wants (EVENTS). The fan-out reads the
store's own change stream (inbox.store.changes: every new `event` and `message` row,
in id order) from a position kept in the `cursor` table, turns each row into the
webhook events it means, and queues one outbox row per hook that wants it: channel
`webhook`, the hook's name as the account, the event's JSON as `payload`. The rows and
the new position commit together, so an event is queued once, however often the daemon
stops; the outbox's one retry loop then delivers it (backoff, outages, dead letters,
takeover from a dead daemon), signed by the connector in channels.webhook.

A delivery goes out at least once: a daemon killed between the receiver's answer and
our commit sends it again, with the same `webhook-id` for the receiver to drop it by.

A new (or re-enabled) hook starts at the stream's position of that moment: it is told
what happens from then on, never history. On PostgreSQL an id can commit after a
higher one; the fan-out waits up to HOLD_SECONDS for a skipped id before passing it,
longer than the live screens do, because a webhook promises every event.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.errors import Conflict, Invalid, NotFound
from inbox.core.vocab import OutboxState, iso
from inbox.desk import views
from inbox.store import changes
from inbox.store.db import reader
from inbox.store.models import Cursor, Outbox, Webhook
from inbox.store.rawdb import Reader

JSON = dict[str, Any]
CHANNEL = "webhook"  # the outbox channel of deliveries; the hook's name is the account
EVENTS = ("conversation.created", "message.created", "conversation.updated",
          "sla.at_risk", "sla.breached", "csat.answered")
# The trail events that change what a conversation is (its status, owner, language...):
# each is a `conversation.updated`, with the event as `change`.
UPDATES = frozenset({"assigned", "status", "language", "escalated", "escalation.handled",
                     "reopened", "contact.merged", "tags", "priority"})
SAME_NAMED = {"sla.at-risk": "sla.at_risk", "sla.breached": "sla.breached",
              "csat.answered": "csat.answered"}
HOLD_SECONDS = 30.0  # a skipped id holds later events back this long (PostgreSQL)
_CURSOR = (CHANNEL, "", "fan-out")  # where the fan-out has read to, as "E.M"


# ------------------------------------------------------------------ what admins do

def register(s: Session, name: str, url: str, events: Sequence[str], *, by: str,
             now: datetime) -> Webhook:
    """A new hook, told of events from now on; its secret is on the returned row (the
    API shows it once, at creation)."""
    name = name.strip()
    if not name or len(name) > 100 or "/" in name:
        raise Invalid("name: 1 to 100 characters, no slash")
    if s.scalar(sa.select(Webhook).where(col(Webhook.name) == name)) is not None:
        raise Conflict(f"a webhook named {name!r} exists")
    event, message = _position_now(s)
    hook = Webhook(name=name, url=checked_url(url), events=checked_events(events),
                   secret=new_secret(), after_event=event, after_message=message,
                   created_by=by, created_at=now, updated_at=now)
    s.add(hook)
    _ensure_cursor(s, event, message, now)
    s.flush()
    return hook


def change(s: Session, hook_id: int, *, url: str | None = None,
           events: Sequence[str] | None = None, enabled: bool | None = None,
           rotate_secret: bool = False, now: datetime) -> Webhook:
    """Change a hook. A new URL applies to deliveries still waiting too; a hook enabled
    again is told of events from now on (not of those while it was off)."""
    hook = get(s, hook_id, lock=True)
    if url is not None:
        hook.url = checked_url(url)
        s.execute(sa.update(Outbox).where(*_waiting(hook.name)).values(recipient=hook.url))
    if events is not None:
        hook.events = checked_events(events)
    if enabled is not None and enabled != hook.enabled:
        if enabled:
            hook.after_event, hook.after_message = _position_now(s)
        hook.enabled = enabled
    if rotate_secret:
        hook.secret = new_secret()
    hook.updated_at = now
    return hook


def remove(s: Session, hook_id: int, *, now: datetime) -> int:
    """Remove a hook; its waiting deliveries are dead-lettered, not sent. How many."""
    hook = get(s, hook_id, lock=True)
    dropped = s.connection().execute(sa.update(Outbox).where(*_waiting(hook.name)).values(
        state=OutboxState.DEAD, claimed_until=None, claimed_by=None,
        last_error=f"the webhook was removed at {iso(now)}")).rowcount
    s.delete(hook)
    return int(dropped)


def get(s: Session, hook_id: int, *, lock: bool = False) -> Webhook:
    hook = s.get(Webhook, hook_id, with_for_update=lock)
    if hook is None:
        raise NotFound(f"no webhook {hook_id}")
    return hook


def listing(s: Session) -> list[JSON]:
    return [as_json(h) for h in s.scalars(sa.select(Webhook).order_by(col(Webhook.id)))]


def as_json(hook: Webhook, *, secret: bool = False) -> JSON:
    """A hook as the API shows it; its secret only when just made or rotated."""
    out: JSON = {"id": hook.id, "name": hook.name, "url": hook.url, "events": hook.events,
                 "enabled": hook.enabled, "created_by": hook.created_by,
                 "created_at": iso(hook.created_at), "updated_at": iso(hook.updated_at)}
    if secret:
        out["secret"] = hook.secret
    return out


def deliveries(s: Session, hook_id: int, limit: int = 50) -> list[JSON]:
    """The hook's latest deliveries, newest first, with what the receiver answered."""
    hook = get(s, hook_id)
    rows = s.scalars(sa.select(Outbox).where(col(Outbox.channel) == CHANNEL,
                                             col(Outbox.account) == hook.name)
                     .order_by(col(Outbox.id).desc()).limit(limit))
    return [{**views.outbox_row(r), "event": (r.payload or {}).get("type"),
             "event_id": (r.payload or {}).get("id"), "response": r.response} for r in rows]


def checked_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("url: an http:// or https:// address")
    if len(url) > 2000:
        raise Invalid("url: at most 2000 characters")
    return url.strip()


def checked_events(events: Sequence[str]) -> list[str]:
    if isinstance(events, str) or not events:
        raise Invalid(f"events: a list of one or more of {', '.join(EVENTS)}")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise Invalid(f"events: unknown {', '.join(unknown)} (known: {', '.join(EVENTS)})")
    return [e for e in EVENTS if e in events]


def new_secret() -> str:
    """Standard Webhooks' form: "whsec_" and base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _waiting(name: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (col(Outbox.channel) == CHANNEL, col(Outbox.account) == name,
            col(Outbox.state).in_([OutboxState.PENDING, OutboxState.SENDING]))


def _position_now(s: Session) -> tuple[int, int]:
    event = s.scalar(sa.text("SELECT max(id) FROM event")) or 0
    message = s.scalar(sa.text("SELECT max(id) FROM message")) or 0
    return int(event), int(message)


# ------------------------------------------------------------------ the fan-out

@dataclass
class FanOut:
    """One daemon's fan-out: where it has read to, with the skipped ids it still waits
    for (kept between rounds, so a hold is timed from when the id was first missed)."""

    at: changes.Position | None = None


def enabled(engine: Engine) -> list[Webhook]:
    """The enabled hooks, read without the write lock (the daemon's round starts here)."""
    with Session(reader(engine), expire_on_commit=False) as s:
        return _enabled(s)


def fan_out(engine: Engine, state: FanOut, hooks: list[Webhook], now: datetime,
            secret: str) -> int:
    """Queue the deliveries of everything new since the last round; how many. `hooks`
    (`enabled`, just read) say whether anything is new without the write lock; only
    then is it taken, and the hooks read again under it."""
    with Session(reader(engine)) as s:
        if not hooks or not _anything_new(s, hooks):
            return 0
    with Session(engine) as s, s.begin():
        cursor = _lock_cursor(s)
        if cursor is None:  # another daemon is fanning out (PostgreSQL)
            return 0
        hooks = _enabled(s)
        at = _resume(state, cursor, hooks)
        raw = Reader(s.connection().connection.dbapi_connection,
                     engine.dialect.name)
        rows = changes.new_rows(raw, at, time.monotonic(), hold=HOLD_SECONDS)
        queued, summaries = 0, _Summaries(s, now, secret)
        for row in rows:
            for payload in _events_of(s, row, summaries):
                queued += _queue(s, payload, row, hooks, now)
        cursor.value, cursor.updated_at = at.text(), now
        state.at = at
        return queued


def _enabled(s: Session) -> list[Webhook]:
    return list(s.scalars(sa.select(Webhook).where(col(Webhook.enabled))
                          .order_by(col(Webhook.id))))


def _anything_new(s: Session, hooks: list[Webhook]) -> bool:
    """Whether any row is past both the stored position and some hook's start."""
    stored = s.get(Cursor, _CURSOR)
    at = changes.Position.parse(stored.value) if stored is not None else None
    event, message = _floor(hooks, at)
    newest = _position_now(s)
    return newest[0] > event or newest[1] > message


def _floor(hooks: list[Webhook], at: changes.Position | None) -> tuple[int, int]:
    """Where reading must go on from: the stored position, or the earliest start of a
    hook if that is later (nothing before it is wanted by anyone)."""
    event = min(h.after_event for h in hooks)
    message = min(h.after_message for h in hooks)
    if at is not None:
        event, message = max(event, at.event), max(message, at.message)
    return event, message


def _lock_cursor(s: Session) -> Cursor | None:
    """The fan-out's position, locked; None while another daemon holds it (PostgreSQL:
    one daemon fans out at a time, the others skip the round)."""
    q = sa.select(Cursor).where(col(Cursor.channel) == _CURSOR[0],
                                col(Cursor.account) == _CURSOR[1],
                                col(Cursor.key) == _CURSOR[2])
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return s.scalar(q)


def _ensure_cursor(s: Session, event: int, message: int, now: datetime) -> None:
    """Made with the first hook, so the fan-out only ever locks a row that exists."""
    if s.get(Cursor, _CURSOR) is None:
        s.add(Cursor(channel=_CURSOR[0], account=_CURSOR[1], key=_CURSOR[2],
                     value=f"{event}.{message}", updated_at=now))


def _resume(state: FanOut, cursor: Cursor, hooks: list[Webhook]) -> changes.Position:
    """The stored position (moved up to the earliest hook's start), with the ids this
    daemon still waits for if it was the one that stored it."""
    stored = changes.Position.parse(cursor.value)
    event, message = _floor(hooks, stored)
    if state.at is not None and (state.at.event, state.at.message) == (event, message):
        return state.at
    return changes.Position(event, message)


class _Summaries(dict[int, JSON | None]):
    """Each conversation as the queue shows it, read once per round however many of
    the round's rows are about it."""

    def __init__(self, s: Session, now: datetime, secret: str) -> None:
        super().__init__()
        self.s, self.now, self.secret = s, now, secret

    def __missing__(self, conv_id: int) -> JSON | None:
        found = self[conv_id] = views.summary(self.s, conv_id, self.now, self.secret)
        return found


def _events_of(s: Session, row: changes.Row, summaries: _Summaries) -> Iterator[JSON]:
    """The webhook events one new row means: a message is `message.created` (and
    `conversation.created` when it began its conversation); a trail event is the
    webhook event it names, if any."""
    if row.conversation_id is None:
        return
    kind = _kind_of(row)
    if kind is None or (kind == "conversation.updated" and _at_creation(s, row)):
        return
    conv = summaries[row.conversation_id]
    if conv is None:
        return
    at = iso(row.at)
    if row.table == "message":
        if _first_message(s, row):
            yield {"id": f"conv_{row.conversation_id}", "type": "conversation.created",
                   "at": at, "conversation": conv}
        yield {"id": f"msg_{row.id}", "type": "message.created", "at": at,
               "conversation": conv, "message": views.one_message(s, row.id)}
        return
    yield {"id": f"evt_{row.id}", "type": kind, "at": at, "conversation": conv,
           "change": {"kind": row.kind, "message_id": row.message_id, "detail": row.detail}}


def _kind_of(row: changes.Row) -> str | None:
    if row.table == "message":
        return "message.created" if row.kind != "system" else None  # staff notices
    if row.kind in UPDATES:
        return "conversation.updated"
    return SAME_NAMED.get(row.kind)


def _first_message(s: Session, row: changes.Row) -> bool:
    return _first_id(s, row) == row.id


def _at_creation(s: Session, row: changes.Row) -> bool:
    """An event of the ingest that made the conversation (its language, its routing):
    part of `conversation.created`, which shows the outcome, not an update."""
    return row.message_id is not None and _first_id(s, row) == row.message_id


def _first_id(s: Session, row: changes.Row) -> int | None:
    first = s.scalar(sa.text("SELECT min(id) FROM message WHERE conversation_id = :c"),
                     {"c": row.conversation_id})
    return int(first) if first is not None else None


def _queue(s: Session, payload: JSON, row: changes.Row, hooks: list[Webhook],
           now: datetime) -> int:
    """One delivery per hook that wants this event and began before it."""
    queued = 0
    for hook in hooks:
        after = hook.after_message if row.table == "message" else hook.after_event
        if payload["type"] not in hook.events or row.id <= after \
                or row.conversation_id is None:
            continue
        s.add(Outbox(message_id=None, conversation_id=row.conversation_id,
                     kind="webhook", channel=CHANNEL, account=hook.name,
                     recipient=hook.url, state=OutboxState.PENDING, next_attempt_at=now,
                     created_at=now, payload=payload))
        queued += 1
    return queued
