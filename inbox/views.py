"""Read models: the queue, one conversation, the outbox — as plain JSON-ready dicts.

These dicts are a public interface: `inbox ... --json` prints them and the web UI and
REST API will serve them. docs/cli-json.md documents every key; add keys freely, never
rename or remove one without a deprecation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox import sla, threads
from inbox.models import (
    Attachment,
    Contact,
    Conversation,
    Event,
    Identity,
    Message,
    Outbox,
    OutboxState,
    Status,
)

JSON = dict[str, Any]


@dataclass(frozen=True)
class QueueFilter:
    statuses: tuple[str, ...] = (Status.OPEN,)
    team: str | None = None
    assignee: str | None = None
    channel: str | None = None
    tag: str | None = None
    limit: int = 100


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def queue(s: Session, f: QueueFilter, now: datetime, secret: str) -> list[JSON]:
    """Conversations by urgency: the nearest SLA due time first, unclocked ones last."""
    q = sa.select(Conversation).where(
        col(Conversation.status).in_(f.statuses))
    filters = ((Conversation.team, f.team), (Conversation.assignee, f.assignee),
               (Conversation.channel, f.channel))
    for column, value in filters:
        if value is not None:
            q = q.where(col(column) == value)
    if f.tag:
        q = q.where(sa.cast(col(Conversation.tags), sa.String).contains(f'"{f.tag}"'))
    q = q.order_by(col(Conversation.sla_due_at).is_(None),
                   col(Conversation.sla_due_at), col(Conversation.updated_at).desc(),
                   ).limit(f.limit)
    convs = s.scalars(q).all()
    contacts = _contacts(s, convs)
    return [conversation_summary(c, contacts[c.contact_id], now, secret) for c in convs]


def _contacts(s: Session, convs: Any) -> dict[int, JSON]:
    ids = {c.contact_id for c in convs}
    if not ids:
        return {}
    out: dict[int, JSON] = {}
    for contact in s.scalars(sa.select(Contact).where(col(Contact.id).in_(ids))):
        assert contact.id is not None
        out[contact.id] = {"id": contact.id, "name": contact.name, "addresses": {}}
    idents = s.scalars(sa.select(Identity).where(
        col(Identity.contact_id).in_(ids)).order_by(col(Identity.id)))
    for ident in idents:
        out[ident.contact_id]["addresses"].setdefault(ident.channel, ident.address)
    return out


def conversation_summary(c: Conversation, contact: JSON, now: datetime, secret: str) -> JSON:
    assert c.id is not None
    state = sla.sla_state(c, now)
    left = (c.sla_due_at - now).total_seconds() if c.sla_due_at else None
    return {
        "id": c.id, "reference": threads.reference(secret, c.id), "channel": c.channel,
        "account": c.account, "subject": c.subject, "status": c.status,
        "contact": {"id": contact["id"], "name": contact["name"],
                    "address": contact["addresses"].get(c.channel)},
        "team": c.team, "assignee": c.assignee, "priority": c.priority,
        "tags": list(c.tags), "language": c.language,
        "sla": {"policy": c.sla_policy, "state": state.value if state else None,
                "awaiting_since": iso(c.awaiting_since), "due_at": iso(c.sla_due_at),
                "warn_at": iso(c.sla_warn_at), "seconds_left": left,
                "first_response_at": iso(c.first_response_at)},
        "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
    }


def conversation(s: Session, conv_id: int, now: datetime, secret: str) -> JSON | None:
    c = s.get(Conversation, conv_id)
    if c is None:
        return None
    out = conversation_summary(c, _contacts(s, [c])[c.contact_id], now, secret)
    msgs = s.scalars(sa.select(Message).where(col(Message.conversation_id) == conv_id)
                     .order_by(col(Message.created_at), col(Message.id))).all()
    atts = _attachments(s, [m.id for m in msgs if m.id is not None])
    out["messages"] = [message(m, atts.get(m.id or 0, [])) for m in msgs]
    events = s.scalars(sa.select(Event).where(col(Event.conversation_id) == conv_id)
                       .order_by(col(Event.id))).all()
    out["events"] = [{"id": e.id, "kind": e.kind, "message_id": e.message_id,
                      "detail": e.detail, "at": iso(e.created_at)} for e in events]
    return out


def _attachments(s: Session, message_ids: list[int]) -> dict[int, list[JSON]]:
    out: dict[int, list[JSON]] = {}
    if not message_ids:
        return out
    rows = s.scalars(sa.select(Attachment).where(
        col(Attachment.message_id).in_(message_ids)).order_by(col(Attachment.id)))
    for a in rows:
        out.setdefault(a.message_id, []).append(
            {"filename": a.filename, "content_type": a.content_type, "size": a.size,
             "sha256": a.sha256, "inline": a.inline, "content_id": a.content_id})
    return out


def message(m: Message, attachments: list[JSON]) -> JSON:
    return {
        "id": m.id, "external_id": m.external_id, "channel": m.channel,
        "direction": m.direction, "kind": m.kind,
        "sender": {"address": m.sender, "name": m.sender_name}, "author": m.author,
        "recipients": list(m.recipients), "subject": m.subject, "text": m.text,
        "has_html": m.html is not None, "delivery": m.delivery,
        "problems": list(m.problems), "attachments": attachments,
        "raw_sha256": m.raw_sha256, "created_at": iso(m.created_at), "sent_at": iso(m.sent_at),
    }


OUTBOX_STATES = ("pending", "failed", "sending", "sent", "dead")


def outbox(s: Session, states: tuple[str, ...], limit: int = 200) -> list[JSON]:
    """Sends in the public states of OUTBOX_STATES (`failed` = pending after a failed try)."""
    stored = {OutboxState.PENDING if st == "failed" else OutboxState(st) for st in states}
    rows = s.scalars(sa.select(Outbox).where(col(Outbox.state).in_(stored))
                     .order_by(col(Outbox.id)).limit(limit)).all()
    return [_outbox_row(r) for r in rows if _outbox_state(r) in states]


def _outbox_row(r: Outbox) -> JSON:
    return {"id": r.id, "conversation_id": r.conversation_id, "message_id": r.message_id,
            "kind": r.kind, "channel": r.channel, "account": r.account,
            "recipient": r.recipient, "state": _outbox_state(r), "attempts": r.attempts,
            "next_attempt_at": iso(r.next_attempt_at), "last_error": r.last_error,
            "created_at": iso(r.created_at), "sent_at": iso(r.sent_at)}


def _outbox_state(r: Outbox) -> str:
    """`failed` is what operators call a pending row that has already failed a try."""
    if r.state == OutboxState.PENDING and r.attempts > 0:
        return "failed"
    return r.state
