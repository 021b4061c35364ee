"""Read models: the queue, one conversation, the outbox — as plain JSON-ready dicts.

These dicts are a public interface: `inbox ... --json` prints them and the web UI and
REST API will serve them. docs/cli-json.md documents every key; add keys freely, never
rename or remove one without a deprecation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core import tokens
from inbox.core.vocab import AUTOMATED, Direction, OutboxState, Status, iso
from inbox.csat import surveys
from inbox.sla import clock as sla
from inbox.store import search
from inbox.store.models import (
    Attachment,
    Contact,
    Conversation,
    Escalation,
    Event,
    Identity,
    Message,
    Outbox,
    Survey,
    Webhook,
)

if TYPE_CHECKING:
    from inbox.desk.access import Scope

JSON = dict[str, Any]


@dataclass(frozen=True)
class QueueFilter:
    statuses: tuple[str, ...] = (Status.OPEN,)
    team: str | None = None
    assignee: str | None = None
    channel: str | None = None
    tag: str | None = None
    limit: int = 100
    # Conversations only robots wrote to (bounces, auto-replies, reports) are left out
    # unless asked for, here or by their tag.
    automated: bool = False
    unassigned: bool = False  # only conversations no agent has
    language: str | None = None
    # Only conversations holding every one of these phrases (inbox.desk.search).
    phrases: tuple[str, ...] = ()
    # Only what this agent may see (inbox.desk.access): their teams', no team's, their own.
    scope: Scope | None = None
    escalated: bool = False  # only conversations with an open escalation
    # Only those ranked after this place in the queue (a page's last `Rank`; the same
    # `now` must be given for the ranks to compare: inbox.web.api's cursor keeps it).
    after: Rank | None = None
    # Ties broken by id in every read, so that pages neither repeat nor skip one (the
    # desk, which shows one page, leaves them to the index).
    paged: bool = False


# Where a conversation stands in the queue: (0, seconds left, id) while someone waits,
# (1, -updated_at as a timestamp, id) after; the queue is in ascending order of these.
Rank = tuple[int, float, int]


def queue(s: Session, f: QueueFilter, now: datetime, secret: str) -> list[JSON]:
    """Conversations by urgency: the least time left first, then those nobody waits on
    (the latest first). A paused clock counts the time it will have when it resumes."""
    return queue_page(s, f, now, secret)[0]


def queue_page(s: Session, f: QueueFilter, now: datetime,
               secret: str) -> tuple[list[JSON], Rank | None]:
    """`queue`, and the rank of its last conversation when the page is full (more may
    follow: give it as `f.after` for the next page)."""
    ranked = _ranked(s, f, now)
    found = [row for _, row in ranked]
    raised = open_escalations(s, [c.id for c, _, _ in found if c.id is not None])
    rows = [conversation_summary(c, {"id": c.contact_id, "name": name,
                                     "addresses": {c.channel: address}}, now, secret,
                                 raised.get(c.id or 0))
            for c, name, address in found]
    return rows, (ranked[-1][0] if ranked and len(ranked) >= f.limit else None)


_OPEN = col(Escalation.handled_at).is_(None)


def open_escalations(s: Session, conv_ids: list[int]) -> dict[int, JSON]:
    """The open escalation of each of these conversations that has one: one query over
    the partial index of open ones."""
    if not conv_ids:
        return {}
    rows = s.scalars(sa.select(Escalation).where(
        _OPEN, col(Escalation.conversation_id).in_(conv_ids)))
    return {e.conversation_id: escalation(e) for e in rows}


def open_escalation_count(s: Session) -> int:
    """How many escalations wait for a supervisor (the desk's header says so)."""
    return int(s.scalar(sa.select(sa.func.count()).select_from(Escalation).where(_OPEN)) or 0)


def escalation(e: Escalation) -> JSON:
    return {"id": e.id, "by": e.escalated_by, "to": e.supervisor, "reason": e.reason,
            "more": list(e.more), "created_at": iso(e.created_at),
            "handled_at": iso(e.handled_at), "handled_by": e.handled_by}


# The conversation, its contact's name, and the contact's address on its channel.
Found = tuple[Conversation, str, str | None]
_ADDRESS = (sa.select(col(Identity.address))
            .where(col(Identity.contact_id) == col(Conversation.contact_id),
                   col(Identity.channel) == col(Conversation.channel))
            .order_by(col(Identity.id)).limit(1).correlate(Conversation).scalar_subquery())


def _most_urgent(s: Session, f: QueueFilter, now: datetime) -> list[Found]:
    return [row for _, row in _ranked(s, f, now)]


def _ranked(s: Session, f: QueueFilter, now: datetime) -> list[tuple[Rank, Found]]:
    """The top `f.limit` by time left, merged from index-ordered reads per status.

    Time left is `sla_due_at - now` for a running clock but a stored amount for a paused
    one, so no single column orders both; each read below walks an index
    (status, sla_due_at) or (status, sla_left_seconds) and stops at the limit. The
    contact comes in the same query: this runs for every look at the queue.
    """
    ranked: list[tuple[Rank, Found]] = []
    found = (None if not f.phrases
             else search.conversations(s.get_bind().dialect.name, f.phrases))
    if f.escalated:
        return _escalated(s, f, found, now)
    waiting = f.after is None or f.after[0] == 0
    for status in f.statuses if waiting else ():
        running = _filtered(f, status, found).where(col(Conversation.sla_due_at).is_not(None),
                                                    _after_due(f.after, now))
        for row in _read(s, running.order_by(col(Conversation.sla_due_at), *_ties(f)),
                         f.limit):
            assert row[0].sla_due_at is not None and row[0].id is not None
            ranked.append(((0, (row[0].sla_due_at - now).total_seconds(), row[0].id), row))
        if status in sla.PAUSING:
            paused = _filtered(f, status, found).where(
                col(Conversation.sla_left_seconds).is_not(None), _after_left(f.after))
            for row in _read(s, paused.order_by(col(Conversation.sla_left_seconds),
                                                *_ties(f)), f.limit):
                assert row[0].sla_left_seconds is not None and row[0].id is not None
                ranked.append(((0, row[0].sla_left_seconds, row[0].id), row))
    if len(ranked) < f.limit:  # room left for conversations nobody is waiting on
        for status in f.statuses:
            idle = _filtered(f, status, found).where(col(Conversation.sla_due_at).is_(None),
                                              col(Conversation.sla_left_seconds).is_(None),
                                              _after_update(f.after))
            for row in _read(s, idle.order_by(col(Conversation.updated_at).desc(),
                                              *_ties(f)), f.limit - len(ranked)):
                assert row[0].id is not None
                ranked.append(((1, -row[0].updated_at.timestamp(), row[0].id), row))
    ranked.sort(key=lambda pair: pair[0])
    return ranked[:f.limit]


_BY_ID: sa.ColumnElement[Any] = col(Conversation.id).asc()


def _ties(f: QueueFilter) -> tuple[sa.ColumnElement[Any], ...]:
    return (_BY_ID,) if f.paged else ()


# The places after a rank, as conditions each read's index serves: (value, id) after
# the rank's, in that read's own column. A rank of the other group lets all through
# (or, for the waiting reads after an idle rank, none: the caller skips them).
def _after_due(after: Rank | None, now: datetime) -> sa.ColumnElement[bool]:
    if after is None or after[0] != 0:
        return sa.true()
    edge = now + timedelta(seconds=after[1])
    due = col(Conversation.sla_due_at)
    return sa.or_(due > edge, sa.and_(due == edge, col(Conversation.id) > after[2]))


def _after_left(after: Rank | None) -> sa.ColumnElement[bool]:
    if after is None or after[0] != 0:
        return sa.true()
    left = col(Conversation.sla_left_seconds)
    return sa.or_(left > after[1], sa.and_(left == after[1], col(Conversation.id) > after[2]))


def _after_update(after: Rank | None) -> sa.ColumnElement[bool]:
    if after is None or after[0] != 1:
        return sa.true()
    edge = datetime.fromtimestamp(-after[1], UTC)
    updated = col(Conversation.updated_at)
    return sa.or_(updated < edge, sa.and_(updated == edge, col(Conversation.id) > after[2]))


def _escalated(s: Session, f: QueueFilter, found: sa.Select[tuple[int]] | None,
               now: datetime) -> list[tuple[Rank, Found]]:
    """The queue of escalated conversations: the few open escalations first (a partial
    index), then their conversations by id, ranked here. Asked for in one query ordered
    by due time, SQLite walked every open conversation looking for them (0.3-0.4 s at a
    million; docs/desk.md)."""
    ids = list(s.scalars(sa.select(col(Escalation.conversation_id)).where(_OPEN)))
    ranked: list[tuple[Rank, Found]] = []
    for status in f.statuses if ids else ():
        q = _filtered(f, status, found, by_id=True).where(col(Conversation.id).in_(ids))
        for row in _read(s, q, len(ids)):
            c = row[0]
            assert c.id is not None
            if c.sla_due_at is not None:
                ranked.append(((0, (c.sla_due_at - now).total_seconds(), c.id), row))
            elif c.sla_left_seconds is not None and status in sla.PAUSING:
                ranked.append(((0, c.sla_left_seconds, c.id), row))
            elif c.sla_left_seconds is None:
                ranked.append(((1, -c.updated_at.timestamp(), c.id), row))
    ranked.sort(key=lambda pair: pair[0])
    return [pair for pair in ranked if f.after is None or pair[0] > f.after][:f.limit]


def _read(s: Session, q: sa.Select[Conversation, str, str | None],
          limit: int) -> list[Found]:
    return [(c, name, address) for c, name, address in s.execute(q.limit(limit))]


def _filtered(f: QueueFilter, status: str, found: sa.Select[tuple[int]] | None,
              by_id: bool = False) -> sa.Select[Conversation, str, str | None]:
    # by_id: the caller names the conversations, and the status is compared as an
    # expression no index serves; else SQLite, given a few dozen ids, would rather walk
    # the (status, ...) indexes through every open conversation.
    status_of = sa.func.coalesce(col(Conversation.status), "") if by_id else col(
        Conversation.status)
    q = (sa.select(Conversation, col(Contact.name), _ADDRESS)
         .join(Contact, col(Contact.id) == col(Conversation.contact_id))
         .where(status_of == status))
    if found is not None:
        q = q.where(col(Conversation.id).in_(found))
    filters = ((Conversation.team, f.team), (Conversation.assignee, f.assignee),
               (Conversation.channel, f.channel), (Conversation.language, f.language))
    for column, value in filters:
        if value is not None:
            q = q.where(col(column) == value)
    if f.unassigned:
        q = q.where(col(Conversation.assignee).is_(None))
    if f.scope is not None and f.scope.teams is not None:
        q = q.where(sa.or_(col(Conversation.team).is_(None),
                           col(Conversation.team).in_(sorted(f.scope.teams)),
                           col(Conversation.assignee) == f.scope.agent))
    tags = sa.cast(col(Conversation.tags), sa.String)
    if f.tag:
        q = q.where(tags.contains(f'"{f.tag}"'))
    if not f.automated and f.tag != AUTOMATED:
        q = q.where(sa.not_(tags.contains(f'"{AUTOMATED}"')))
    return q


def first_lines(s: Session, conv_ids: list[int]) -> dict[int, str]:
    """The first line the customer wrote in each conversation: what a queue shows for a
    chat, which has no subject. One query for a page of the queue."""
    if not conv_ids:
        return {}
    first = (sa.select(sa.func.min(Message.id)).where(
        col(Message.conversation_id).in_(conv_ids), col(Message.direction) == Direction.IN)
        .group_by(col(Message.conversation_id)))
    rows = s.execute(sa.select(col(Message.conversation_id), col(Message.text))
                     .where(col(Message.id).in_(first)))
    return {conv_id: next((line.strip() for line in text.splitlines() if line.strip()), "")
            for conv_id, text in rows if conv_id is not None}


HISTORY = 20  # earlier conversations shown with one: the newest of them


def history(s: Session, contact_id: int, exclude: int, scope: Scope | None) -> list[JSON]:
    """The contact's other conversations, on every channel, oldest first: the newest
    HISTORY of those `scope` may see (None: all). What the conversation page shows as
    the contact's history, each one opening in place."""
    rows = s.execute(sa.select(
        col(Conversation.id), col(Conversation.channel), col(Conversation.subject),
        col(Conversation.status), col(Conversation.team), col(Conversation.assignee),
        col(Conversation.created_at))
        .where(col(Conversation.contact_id) == contact_id, col(Conversation.id) != exclude)
        .order_by(col(Conversation.created_at).desc(), col(Conversation.id).desc())
        .limit(HISTORY * 5)).all()  # a few more, for those of teams the agent is not in
    seen = [r for r in rows if scope is None or scope.sees(r.team, r.assignee)][:HISTORY]
    lines = first_lines(s, [r.id for r in seen])
    return [{"id": r.id, "channel": r.channel, "subject": r.subject, "status": r.status,
             "team": r.team, "assignee": r.assignee, "created_at": iso(r.created_at),
             "first_line": lines.get(r.id, "")} for r in reversed(seen)]


def contact(s: Session, contact_id: int, scope: Scope | None) -> JSON | None:
    """A contact with its identities (one person, many channels) and the conversations
    `scope` may see, newest first; None when it may see none of them (or none exists).
    Without a scope (the command line) a contact with no conversation is shown too."""
    found = s.get(Contact, contact_id)
    if found is None:
        return None
    convs = s.execute(sa.select(
        col(Conversation.id), col(Conversation.channel), col(Conversation.subject),
        col(Conversation.status), col(Conversation.team), col(Conversation.assignee),
        col(Conversation.created_at)).where(col(Conversation.contact_id) == contact_id)
        .order_by(col(Conversation.created_at).desc(), col(Conversation.id).desc())).all()
    seen = [c for c in convs if scope is None or scope.sees(c.team, c.assignee)]
    if not seen and scope is not None:
        return None
    identities = s.scalars(sa.select(Identity).where(
        col(Identity.contact_id) == contact_id).order_by(col(Identity.id)))
    return {"id": found.id, "name": found.name, "language": found.language,
            "language_source": found.language_source,
            "identities": [{"channel": i.channel, "address": i.address,
                            "unreachable": i.unreachable} for i in identities],
            "conversations": [{"id": c.id, "channel": c.channel, "subject": c.subject,
                               "status": c.status, "team": c.team, "assignee": c.assignee,
                               "created_at": iso(c.created_at)} for c in seen]}


def _contacts(s: Session, convs: Any) -> dict[int, JSON]:
    """Name and first address per channel of each conversation's contact: one query
    (it runs for every page of the queue)."""
    ids = {c.contact_id for c in convs}
    if not ids:
        return {}
    rows = s.execute(
        sa.select(col(Contact.id), col(Contact.name), col(Identity.channel),
                  col(Identity.address))
        .outerjoin(Identity, col(Identity.contact_id) == col(Contact.id))
        .where(col(Contact.id).in_(ids)).order_by(col(Identity.id)))
    out: dict[int, JSON] = {}
    for contact_id, name, channel, address in rows:
        assert contact_id is not None
        found = out.setdefault(contact_id, {"id": contact_id, "name": name, "addresses": {}})
        if channel is not None:
            found["addresses"].setdefault(channel, address)
    return out


def conversation_summary(c: Conversation, contact: JSON, now: datetime, secret: str,
                         escalated: JSON | None = None) -> JSON:
    """`escalated`: the conversation's open escalation (escalation()), if it has one."""
    assert c.id is not None
    state = sla.sla_state(c, now)
    remaining = sla.time_left(c, now)
    left = remaining.total_seconds() if remaining is not None else None
    return {
        "id": c.id, "reference": tokens.reference(secret, c.id), "channel": c.channel,
        "account": c.account, "subject": c.subject, "status": c.status,
        "contact": {"id": contact["id"], "name": contact["name"],
                    "address": contact["addresses"].get(c.channel)},
        "team": c.team, "assignee": c.assignee, "priority": c.priority,
        "tags": list(c.tags), "attributes": dict(c.attributes or {}), "language": c.language,
        "language_source": c.language_source,
        "sla": {"policy": c.sla_policy, "state": state.value if state else None,
                "awaiting_since": iso(c.awaiting_since), "due_at": iso(c.sla_due_at),
                "warn_at": iso(c.sla_warn_at), "seconds_left": left,
                "paused": sla.is_paused(c), "paused_at": iso(c.sla_paused_at),
                "snoozed_until": iso(c.snoozed_until),
                "first_response_at": iso(c.first_response_at)},
        "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
        "escalated": escalated is not None, "escalation": escalated,
    }


def summary(s: Session, conv_id: int, now: datetime, secret: str) -> JSON | None:
    """One conversation as the queue lists it (no messages), or None."""
    c = s.get(Conversation, conv_id)
    if c is None:
        return None
    return conversation_summary(c, _contacts(s, [c])[c.contact_id], now, secret,
                                open_escalations(s, [conv_id]).get(conv_id))


def one_message(s: Session, message_id: int) -> JSON | None:
    """One message as a conversation lists it (with its attachments), or None."""
    m = s.execute(sa.select(*_MESSAGE_COLUMNS).where(col(Message.id) == message_id)).first()
    if m is None:
        return None
    return message(m, _attachments(s, [message_id]).get(message_id, []))


def conversation(s: Session, conv_id: int, now: datetime, secret: str, *,
                 events: bool = True) -> JSON | None:
    """The conversation, its messages and (unless `events` is false: the desk's page
    reads its trail only when asked) its events."""
    c = s.get(Conversation, conv_id)
    if c is None:
        return None
    raised = [escalation(e) for e in s.scalars(sa.select(Escalation).where(
        col(Escalation.conversation_id) == conv_id).order_by(col(Escalation.id)))]
    out = conversation_summary(c, _contacts(s, [c])[c.contact_id], now, secret,
                               next((e for e in raised if e["handled_at"] is None), None))
    out["escalations"] = raised
    out["csat"] = surveys.as_json(s.scalar(sa.select(Survey).where(
        col(Survey.conversation_id) == conv_id)))
    # Rows of the columns shown, not ORM objects: a long conversation's page reads a few
    # hundred of each, and building objects (and a mail's HTML) cost most of its time.
    msgs = s.execute(sa.select(*_MESSAGE_COLUMNS).where(
        col(Message.conversation_id) == conv_id)
        .order_by(col(Message.created_at), col(Message.id))).all()
    ids = [m.id for m in msgs]
    atts, sends = _attachments(s, ids), _sends(s, ids)
    out["messages"] = [{**message(m, atts.get(m.id, [])), "send": sends.get(m.id)}
                       for m in msgs]
    if not events:
        out["event_count"] = s.scalar(sa.select(sa.func.count()).where(
            col(Event.conversation_id) == conv_id))
        return out
    rows = s.execute(sa.select(col(Event.id), col(Event.kind), col(Event.message_id),
                               col(Event.detail), col(Event.created_at))
                     .where(col(Event.conversation_id) == conv_id)
                     .order_by(col(Event.id))).all()
    out["events"] = [{"id": e.id, "kind": e.kind, "message_id": e.message_id,
                      "detail": e.detail, "at": iso(e.created_at)} for e in rows]
    return out


_MESSAGE_COLUMNS = (
    col(Message.id), col(Message.external_id), col(Message.channel), col(Message.direction),
    col(Message.kind), col(Message.sender), col(Message.sender_name), col(Message.author),
    col(Message.recipients), col(Message.subject), col(Message.text),
    col(Message.html).is_not(None).label("has_html"), col(Message.delivery),
    col(Message.problems), col(Message.raw_sha256), col(Message.created_at),
    col(Message.sent_at))


def _attachments(s: Session, message_ids: list[int]) -> dict[int, list[JSON]]:
    out: dict[int, list[JSON]] = {}
    if not message_ids:
        return out
    rows = s.scalars(sa.select(Attachment).where(
        col(Attachment.message_id).in_(message_ids)).order_by(col(Attachment.id)))
    for a in rows:
        out.setdefault(a.message_id, []).append(
            {"id": a.id, "filename": a.filename, "content_type": a.content_type,
             "size": a.size, "sha256": a.sha256, "inline": a.inline, "content_id": a.content_id})
    return out


def _sends(s: Session, message_ids: list[int]) -> dict[int, JSON]:
    """Where each outgoing message's send stands; `error` only while it matters, so a
    send that went out after failed tries does not carry the old error beside `sent`."""
    if not message_ids:
        return {}
    rows = s.execute(sa.select(*_OUTBOX_COLUMNS).where(
        col(Outbox.message_id).in_(message_ids)))
    return {r.message_id: {"id": r.id, "kind": r.kind, "state": _outbox_state(r),
                           "attempts": r.attempts, "next_attempt_at": iso(r.next_attempt_at),
                           "sent_at": iso(r.sent_at),
                           "error": None if r.state == OutboxState.SENT else r.last_error}
            for r in rows}


def message(m: Any, attachments: list[JSON]) -> JSON:
    """A message's read model from a row of _MESSAGE_COLUMNS."""
    return {
        "id": m.id, "external_id": m.external_id, "channel": m.channel,
        "direction": m.direction, "kind": m.kind,
        "sender": {"address": m.sender, "name": m.sender_name}, "author": m.author,
        "recipients": list(m.recipients), "subject": m.subject, "text": m.text,
        "has_html": bool(m.has_html), "delivery": m.delivery,
        "problems": list(m.problems), "attachments": attachments,
        "raw_sha256": m.raw_sha256, "created_at": iso(m.created_at), "sent_at": iso(m.sent_at),
    }


OUTBOX_STATES = ("pending", "failed", "sending", "sent", "dead")


def outbox(s: Session, states: tuple[str, ...], limit: int = 200,
           served: frozenset[tuple[str, str]] | None = None) -> list[JSON]:
    """Sends in the public states of OUTBOX_STATES (`failed` = pending after a failed try).

    `served`: the (channel, account) pairs the configuration has; a waiting send for any
    other can never leave, and says so in `blocked`."""
    if served is not None:  # and each enabled webhook (inbox.desk.webhooks) is served
        served = served | {("webhook", name) for name in s.scalars(
            sa.select(col(Webhook.name)).where(col(Webhook.enabled)))}
    stored = {OutboxState.PENDING if st == "failed" else OutboxState(st) for st in states}
    rows = s.scalars(sa.select(Outbox).where(col(Outbox.state).in_(stored))
                     .order_by(col(Outbox.id)).limit(limit)).all()
    return [outbox_row(r, served) for r in rows if _outbox_state(r) in states]


def outbox_row(r: Outbox, served: frozenset[tuple[str, str]] | None = None) -> JSON:
    waiting = r.state in (OutboxState.PENDING, OutboxState.SENDING)
    blocked = (f"no channel serves {r.channel}/{r.account}"
               if waiting and served is not None and (r.channel, r.account) not in served
               else None)
    return {"id": r.id, "conversation_id": r.conversation_id, "message_id": r.message_id,
            "kind": r.kind, "channel": r.channel, "account": r.account,
            "recipient": r.recipient, "state": _outbox_state(r), "attempts": r.attempts,
            "next_attempt_at": iso(r.next_attempt_at), "last_error": r.last_error,
            "blocked": blocked, "created_at": iso(r.created_at), "sent_at": iso(r.sent_at)}


_OUTBOX_COLUMNS = (col(Outbox.id), col(Outbox.message_id), col(Outbox.kind),
                   col(Outbox.state), col(Outbox.attempts), col(Outbox.next_attempt_at),
                   col(Outbox.sent_at), col(Outbox.last_error))


def _outbox_state(r: Any) -> str:  # an Outbox, or a row of _OUTBOX_COLUMNS
    """`failed` is what operators call a pending row that has already failed a try."""
    if r.state == OutboxState.PENDING and r.attempts > 0:
        return "failed"
    return str(r.state)
