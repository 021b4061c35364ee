"""Mentioning a colleague in an internal note: `@kim` tells kim (docs/desk.md).

A note is stored as any note is (inbox.desk.actions.note); then each agent it mentions is
told through the outbox, in the same transaction, the way escalations and SLA notices
are (inbox.outbox.notices, `templates/mention/<channel>.txt`). Only agents who may see
the conversation are told (inbox.desk.access): a link to a page that answers "not
found" helps nobody, and a note must not leak a conversation to another team. Who was
not told, and why, is in the `note.mentioned` event, so the author can see it in the
trail.

A mention is `@` and an agent's name, as typed in `inbox agent add --name`, in any case,
not preceded by a letter, digit, dot or `@` (so `x@kim.example` is an address, not a
mention) and ended by a space or punctuation. Names that are nobody's are plain text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from inbox.core import directory as d
from inbox.core import tokens
from inbox.core.config import Settings
from inbox.core.errors import Invalid
from inbox.desk.access import scope_of
from inbox.desk.actions import get_conversation
from inbox.desk.actions import note as store_note
from inbox.lang.render import Renderer
from inbox.outbox.notices import Notices, Target
from inbox.store.models import Agent, Contact, Conversation, Event, Message

_MENTION = re.compile(r"(?<![\w.@])@(\w[\w.-]*)")


def mentioned(text: str, names: Iterable[str], author: str) -> list[str]:
    """The agents of `names` that `text` mentions, in the order first mentioned, the
    author left out."""
    known = {n.casefold(): n for n in names}
    found: list[str] = []
    for match in _MENTION.finditer(text):
        name = known.get(match.group(1).rstrip(".-").casefold())
        if name is not None and name != author and name not in found:
            found.append(name)
    return found


class Mentioner:
    """Tells the agents a note mentions (built once by inbox.runtime.app)."""

    def __init__(self, settings: Settings, renderer: Renderer, secret: str) -> None:
        self.notices = Notices(settings, renderer, what="mention notice")
        self.secret, self.team_name = secret, settings.name
        self.public_url = settings.web.public_url

    def __call__(self, s: Session, conv: Conversation, written: Message,
                 now: datetime) -> None:
        agents = {a.name: a for a in s.scalars(sa.select(Agent))}
        names = mentioned(written.text, agents, written.author or "")
        if not names:
            return
        targets, not_told = self._reach(s, conv, [agents[n] for n in names])
        told = self.notices.queue(s, conv, targets.values(), "mention",
                                  self.context(s, conv, written), now=now)
        for name, target in targets.items():
            if f"{target.channel}:{target.address}" not in told:
                not_told[name] = f"no [channels.{target.channel}] account to tell them from"
        s.add(Event(conversation_id=conv.id, message_id=written.id, kind="note.mentioned",
                    created_at=now, detail={"note": written.id, "by": written.author,
                                            "mentioned": names, "notified": told,
                                            "not_told": not_told}))

    def _reach(self, s: Session, conv: Conversation,
               agents: list[Agent]) -> tuple[dict[str, Target], dict[str, str]]:
        targets: dict[str, Target] = {}
        not_told: dict[str, str] = {}
        for a in agents:
            if not a.enabled:
                not_told[a.name] = "disabled"
            elif not scope_of(s, a).sees(conv.team, conv.assignee):
                not_told[a.name] = "cannot see this conversation"
            elif (found := self.notices.reach(_listed(a), a.name)) is None:
                not_told[a.name] = "has no e-mail or telegram"
            elif found not in targets.values():
                targets[a.name] = found
        return targets, not_told

    def context(self, s: Session, conv: Conversation, written: Message) -> dict[str, object]:
        """What templates/mention/*.txt may use (templates/README.md)."""
        assert conv.id is not None
        contact = s.get(Contact, conv.contact_id)
        return {
            "by": written.author or "", "note": written.text,
            "conversation_id": conv.id, "reference": tokens.reference(self.secret, conv.id),
            "subject": conv.subject, "channel": conv.channel,
            "customer_name": contact.name if contact else "", "team": conv.team or "",
            "assignee": conv.assignee or "",
            "desk_url": f"{self.public_url}/c/{conv.id}" if self.public_url else "",
            "team_name": self.team_name,
        }


def _listed(a: Agent) -> d.Agent:
    return d.Agent(a.name, a.email, a.telegram, a.away, a.role, a.enabled, a.language)


def note(s: Session, conv_id: int, text: str, *, author: str, now: datetime,
         tell: Mentioner | None = None) -> Message:
    """An internal note (never sent to the customer); the colleagues it mentions are
    told through `tell` (None: nobody is told)."""
    if not text.strip():
        raise Invalid("the note is empty")
    written = store_note(s, conv_id, text, author=author, now=now)
    if tell is not None:
        s.flush()  # the note's id, for the event and the notices
        tell(s, get_conversation(s, conv_id), written, now)
    return written

