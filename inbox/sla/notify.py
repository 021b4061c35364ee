"""SLA notifications: who hears that a conversation is at risk or breached, and what
they read.

The sweep (inbox.sla.clock) calls a `Notifier` for each transition inside its own transaction;
the notifier renders `templates/sla/<channel>.txt` for each recipient and queues it in
the outbox (inbox.outbox.notices, which escalations share), so the state change and
its notifications commit together — or not at all.
Recipients are `[sla] notify` (or a priority's or policy's own list): "owner" (the
assignee, else the agents of the conversation's team), "assignee", "team", an agent's
name, an e-mail address, or telegram:CHAT_ID.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core import tokens
from inbox.core.config import ConfigError, Settings
from inbox.core.directory import Directory, SettingsDirectory, direct_target, unknown
from inbox.lang.render import Renderer
from inbox.outbox.notices import Notices, Target
from inbox.sla.clock import SlaPolicy, SlaState, duration, time_left
from inbox.store.models import Contact, Conversation, Identity

KEYWORDS = ("owner", "assignee", "team")


class Notifier:
    def __init__(self, settings: Settings, renderer: Renderer, secret: str,
                 directory: Directory | None = None) -> None:
        self.settings, self.renderer, self.secret = settings, renderer, secret
        self.directory = directory or SettingsDirectory.from_settings(settings)
        self.notices = Notices(settings, renderer, what="SLA notification")

    def check(self) -> list[str]:
        """Raise ConfigError for a name that can never resolve; return warnings."""
        s = self.settings.sla
        lists = {"sla.notify": s.notify}
        lists |= {f"sla.priorities.{k}.notify": v.notify for k, v in s.priorities.items()
                  if v.notify is not None}
        lists |= {f"sla.policies.{k}.notify": v.notify for k, v in s.policies.items()
                  if v.notify is not None}
        for where, entries in lists.items():
            for entry in entries:
                if not (entry in KEYWORDS or self.directory.agent(entry) is not None
                        or direct_target(entry) is not None):
                    known = [a.name for a in self.directory.agents()]
                    raise ConfigError(f"{where}: {unknown('agent', entry, known)}; use "
                                      "owner, assignee, team, an agent, an address or "
                                      "telegram:ID")
        return [f"sla.notify_from: no [channels.{ch}] in inbox.toml"
                for ch in s.notify_from if ch not in self.settings.channels]

    def recipients(self, conv: Conversation, policy: SlaPolicy) -> list[Target]:
        out: list[Target] = []
        for entry in policy.notify:
            for target in self._resolve(entry, conv):
                if target not in out:
                    out.append(target)
        return out

    def _resolve(self, entry: str, conv: Conversation) -> list[Target]:
        if (direct := direct_target(entry)) is not None:
            return [Target(*direct)]
        team = self.directory.team(conv.team or "")
        members = list(team.agents) if team else []
        assignee = [conv.assignee] if conv.assignee else []
        names = {"owner": assignee or members, "assignee": assignee,
                 "team": members}.get(entry, [entry])
        return [t for n in names if (t := self._agent(n)) is not None]

    def _agent(self, name: str) -> Target | None:
        return self.notices.reach(self.directory.agent(name), name)

    def __call__(self, s: Session, conv: Conversation, state: SlaState, policy: SlaPolicy,
                 now: datetime) -> list[str]:
        """Queue one notification per recipient; returns them as "channel:address"."""
        context = self._context(s, conv, state, policy, now)
        return self.notices.queue(s, conv, self.recipients(conv, policy), "sla", context,
                                  now=now)

    def _context(self, s: Session, conv: Conversation, state: SlaState, policy: SlaPolicy,
                 now: datetime) -> dict[str, object]:
        assert conv.id is not None
        contact = s.get(Contact, conv.contact_id)
        address = s.scalar(sa.select(col(Identity.address)).where(
            col(Identity.contact_id) == conv.contact_id, col(Identity.channel) == conv.channel))
        left = time_left(conv, now) or timedelta(0)
        return {
            "state": state.value, "conversation_id": conv.id, "subject": conv.subject,
            "reference": tokens.reference(self.secret, conv.id), "channel": conv.channel,
            "customer_name": contact.name if contact else "",
            "customer_address": address or "", "team": conv.team or "",
            "assignee": conv.assignee or "", "priority": conv.priority,
            "policy": policy.name, "calendar": policy.calendar.name,
            # Times as datetimes: each agent reads them in their language (Notices).
            "due_at": conv.sla_due_at or "-", "time_left": duration(left),
            "waiting_since": conv.awaiting_since or "-",
            "team_name": self.settings.name,
        }

