"""`inbox rules replay` and `explain --message`: stored traffic through the current rules.

A stored customer message is turned back into the `Inbound` the pipeline saw (sender,
recipients, subject, text, headers, attachments' names and types) with the facts rules
use. What the rules decided then is the `routed` event the pipeline wrote with the
message (no event: no rule matched). Nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from channels.base import Address, Inbound, InboundAttachment
from inbox.core.routing import RouteDecision, RouteFacts
from inbox.core.vocab import Direction, Kind
from inbox.rules.engine import RuleSet
from inbox.store.batch import open_conversations
from inbox.store.models import Attachment, Contact, Conversation, Event, Message

_SPAN = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime) -> datetime:
    """`7d`, `12h`, `30m`, `2w`, or an ISO date/time."""
    m = _SPAN.match(value)
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--since {value!r}: give 7d, 12h, 30m, 2w or a date") from None
    return at if at.tzinfo else at.replace(tzinfo=now.tzinfo)


@dataclass(frozen=True)
class Stored:
    """A stored customer message, ready for the rules."""

    message_id: int
    conversation_id: int
    inbound: Inbound
    facts: RouteFacts
    then: dict[str, Any]  # what the rules decided when it arrived


@dataclass(frozen=True)
class Change:
    stored: Stored
    now: dict[str, Any]

    @property
    def fields(self) -> list[str]:
        return [k for k in self.now if self.now[k] != self.stored.then.get(k)]


def load_stored(s: Session, message_ids: list[int]) -> list[Stored]:
    """Stored inbound messages by id, in the order given (unknown ids are left out)."""
    msgs = {m.id: m for m in s.scalars(sa.select(Message).where(
        col(Message.id).in_(message_ids), col(Message.direction) == Direction.IN))}
    if not msgs:
        return []
    conv_ids = {m.conversation_id for m in msgs.values()}
    convs = {c.id: c for c in s.scalars(sa.select(Conversation).where(
        col(Conversation.id).in_(conv_ids)))}
    contacts = {c.id: c for c in s.scalars(sa.select(Contact).where(
        col(Contact.id).in_({c.contact_id for c in convs.values()})))}
    firsts = {conv: first for conv, first in s.execute(
        sa.select(col(Message.conversation_id), sa.func.min(col(Message.id)))
        .where(col(Message.conversation_id).in_(conv_ids),
               col(Message.direction) == Direction.IN)
        .group_by(col(Message.conversation_id)))}
    files: dict[int, list[Attachment]] = {}
    for a in s.scalars(sa.select(Attachment).where(col(Attachment.message_id).in_(msgs))):
        files.setdefault(a.message_id, []).append(a)
    routed = {e.message_id: e.detail for e in s.scalars(sa.select(Event).where(
        col(Event.message_id).in_(msgs), col(Event.kind) == "routed"))}
    out = []
    for mid in message_ids:
        m = msgs.get(mid)
        if m is None or m.conversation_id is None:
            continue
        conv = convs[m.conversation_id]
        contact = contacts[conv.contact_id]
        facts = RouteFacts(first_message=firsts.get(conv.id) == m.id,
                           contact_tags=tuple(contact.tags), contact_vip=contact.vip,
                           count_open=_counter(s, contact.id, conv.id),
                           language=conv.language,
                           language_source=conv.language_source or "")
        out.append(Stored(mid, m.conversation_id, _inbound(m, conv, files.get(mid, [])),
                          facts, routed.get(mid) or RouteDecision().summary()))
    return out


def _counter(s: Session, contact_id: int | None, conv_id: int | None) -> Any:
    assert contact_id is not None
    return lambda: open_conversations(s.connection(), contact_id, conv_id)


def _inbound(m: Message, conv: Conversation, files: list[Attachment]) -> Inbound:
    return Inbound(
        channel=m.channel, account=m.account, external_id=m.external_id,
        sender=Address(m.sender, m.sender_name), received_at=m.created_at,
        text=m.text, subject=m.subject, html=m.html,
        recipients=tuple(Address(r) for r in m.recipients), references=tuple(m.references),
        headers=dict(m.headers), language=conv.language,
        attachments=tuple(InboundAttachment(a.filename, a.content_type, b"",
                                            a.content_id, a.inline, a.sha256, a.size)
                          for a in files))


def recent(s: Session, since: datetime, batch: int = 500) -> Iterator[list[Stored]]:
    """Customer messages stored since `since`, oldest first, a batch at a time."""
    last = 0
    while True:
        ids = [i for i in s.scalars(sa.select(col(Message.id)).where(
            col(Message.created_at) >= since, col(Message.direction) == Direction.IN,
            col(Message.kind) == Kind.CUSTOMER, col(Message.id) > last)
            .order_by(col(Message.id)).limit(batch)) if i is not None]
        if not ids:
            return
        last = ids[-1]
        yield load_stored(s, ids)


def replay(s: Session, rules: RuleSet, since: datetime) -> tuple[int, list[Change]]:
    """How many messages were replayed, and those the rules would now treat differently."""
    seen, changes = 0, []
    for batch in recent(s, since):
        for stored in batch:
            seen += 1
            now = rules.route(stored.inbound, stored.facts).summary()
            change = Change(stored, now)
            if change.fields:
                changes.append(change)
    return seen, changes
