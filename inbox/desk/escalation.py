"""Escalating a conversation to a supervisor, and a supervisor handling it
(docs/desk.md "Escalating").

Any agent escalates, with a reason, to every supervisor or to one by name; it does not
reassign anything. The supervisors (agents whose role may RECEIVE_ESCALATIONS: a
supervisor or an admin, enabled) are told through the outbox in the same transaction:
`templates/escalation/<channel>.txt`, the way SLA notices are (inbox.outbox.notices).

A conversation has at most one open escalation. Escalating it again while one is open
adds the new reason to it (`more`) and tells nobody again: the supervisors have it in
their list already, and the page shows every reason. Once a supervisor has marked it
handled, the next escalation is a new one, told anew. Each step leaves an Event
(`escalated`, `escalation.handled`); the rows stay for reports.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core import directory as d
from inbox.core import tokens
from inbox.core.config import Settings
from inbox.core.errors import Conflict, Invalid
from inbox.core.vocab import iso
from inbox.desk.accounts import Action, can
from inbox.desk.actions import get_conversation
from inbox.lang.render import Renderer
from inbox.outbox.notices import Notices, Target
from inbox.store.models import Agent, Contact, Conversation, Escalation, Event, Identity

MAX_REASON = 2000  # characters: a reason is a few sentences, not a report


class NotEscalated(Conflict):
    """The conversation has no open escalation to handle."""


def supervisors(s: Session) -> list[Agent]:
    """The enabled agents who receive escalations, by name."""
    found = s.scalars(sa.select(Agent).order_by(col(Agent.name)))
    return [a for a in found if can(a, Action.RECEIVE_ESCALATIONS)]


def open_escalation(s: Session, conv_id: int) -> Escalation | None:
    return s.scalars(sa.select(Escalation).where(
        col(Escalation.conversation_id) == conv_id,
        col(Escalation.handled_at).is_(None))).first()


def _reason(text: str) -> str:
    reason = text.replace("\r\n", "\n").strip()
    if not reason:
        raise Invalid("say why you escalate: a supervisor reads the reason first")
    if len(reason) > MAX_REASON:
        raise Invalid(f"the reason is longer than {MAX_REASON} characters: say it shorter")
    return reason


def _supervisor(s: Session, name: str) -> str:
    """The name of the supervisor `name` (or their e-mail) names, else Invalid."""
    able = supervisors(s)
    found = next((a for a in able if name in (a.name, (a.email or "").lower())), None)
    if found is None:
        raise d.UnknownName(d.unknown("supervisor", name, [a.name for a in able]))
    return found.name


class Teller:
    """Tells supervisors of a new escalation (built once by inbox.runtime.app)."""

    def __init__(self, settings: Settings, renderer: Renderer, secret: str) -> None:
        self.notices = Notices(settings, renderer, what="escalation notice")
        self.secret, self.team_name = secret, settings.name
        self.public_url = settings.web.public_url

    def __call__(self, s: Session, conv: Conversation, esc: Escalation,
                 now: datetime) -> list[str]:
        """Queue one notice per supervisor asked; returns them as "channel:address"."""
        asked = [a for a in supervisors(s)
                 if esc.supervisor is None or a.name == esc.supervisor]
        targets: list[Target] = []
        for a in asked:
            found = self.notices.reach(d.Agent(a.name, a.email, a.telegram, a.away, a.role,
                                               a.enabled, a.language), a.name)
            if found is not None and found not in targets:
                targets.append(found)
        return self.notices.queue(s, conv, targets, "escalation",
                                  self.context(s, conv, esc), now=now)

    def context(self, s: Session, conv: Conversation, esc: Escalation) -> dict[str, object]:
        """What templates/escalation/*.txt may use (templates/README.md)."""
        assert conv.id is not None
        contact = s.get(Contact, conv.contact_id)
        address = s.scalar(sa.select(col(Identity.address)).where(
            col(Identity.contact_id) == conv.contact_id, col(Identity.channel) == conv.channel))
        return {
            "by": esc.escalated_by, "to": esc.supervisor or "", "reason": esc.reason,
            "conversation_id": conv.id, "reference": tokens.reference(self.secret, conv.id),
            "subject": conv.subject, "channel": conv.channel,
            "customer_name": contact.name if contact else "",
            "customer_address": address or "", "team": conv.team or "",
            "assignee": conv.assignee or "", "priority": conv.priority,
            "desk_url": f"{self.public_url}/c/{conv.id}" if self.public_url else "",
            "team_name": self.team_name,
        }


def escalate(s: Session, conv_id: int, reason: str, *, by: str, now: datetime,
             to: str | None = None, tell: Teller | None = None) -> Escalation:
    """Ask the supervisors (or the one `to` names) to look at the conversation, telling
    them through `tell` (None: nobody is told). While an escalation is open, the reason
    is added to it instead (see the module's docstring)."""
    reason = _reason(reason)
    supervisor = _supervisor(s, to) if to else None
    conv = get_conversation(s, conv_id, lock=True)  # two at once: the second adds
    found = open_escalation(s, conv_id)
    if found is not None:
        found.more = [*found.more, {"by": by, "at": iso(now) or "", "reason": reason}]
        s.add(found)
        s.add(Event(conversation_id=conv_id, kind="escalated", created_at=now, detail={
            "escalation": found.id, "by": by, "to": found.supervisor, "reason": reason,
            "added": True}))
        return found
    esc = Escalation(conversation_id=conv_id, escalated_by=by, supervisor=supervisor,
                     reason=reason, created_at=now)
    s.add(esc)
    s.flush()
    told = tell(s, conv, esc, now) if tell is not None else []
    s.add(Event(conversation_id=conv_id, kind="escalated", created_at=now, detail={
        "escalation": esc.id, "by": by, "to": supervisor, "reason": reason,
        "notified": told}))
    return esc


def handle_escalation(s: Session, conv_id: int, *, by: str, now: datetime) -> Escalation:
    """A supervisor has looked: the open escalation is handled. Who may do this is the
    face's to ask (`can(agent, Action.RECEIVE_ESCALATIONS)`)."""
    get_conversation(s, conv_id)
    found = open_escalation(s, conv_id)
    if found is None:
        raise NotEscalated(f"conversation {conv_id} has no open escalation: handled already?")
    found.handled_at, found.handled_by = now, by
    s.add(found)
    s.add(Event(conversation_id=conv_id, kind="escalation.handled", created_at=now, detail={
        "escalation": found.id, "by": by, "escalated_by": found.escalated_by,
        "waited_seconds": (now - found.created_at).total_seconds()}))
    return found
