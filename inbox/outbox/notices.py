"""Telling agents about a conversation: where each is reached, from which of our
accounts, in which words, queued in the caller's transaction.

The SLA notices (inbox.sla.notify) and escalations (inbox.desk.escalation) share this:
an agent is reached at their first address (e-mail first, else Telegram), never when
disabled; each channel sends from `[sla] notify_from`'s account, else its first one; a
template that fails is replaced by the built-in text (inbox.lang.render.builtin) and
leaves a `<kind>.template-error` event, so nobody goes untold for a typo.

Each agent is told in their own language (`agent.language`, else the deployment's
default): the text is rendered once per channel and language, and times given as
datetimes are written as a reader of that language writes them, in the business's zone.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.orm import Session

from channels.base import Address
from inbox.core.config import Settings
from inbox.core.directory import Agent
from inbox.core.vocab import Kind
from inbox.lang.dates import when
from inbox.lang.render import Rendered, Renderer, TemplateError, builtin
from inbox.outbox.enqueue import enqueue
from inbox.store.models import Conversation, Event

log = logging.getLogger(__name__)

class Target(NamedTuple):
    """Where one notice goes, and in which language (None: the deployment's default)."""

    channel: str
    address: str
    language: str | None = None


class Notices:
    def __init__(self, settings: Settings, renderer: Renderer, *,
                 what: str = "notification") -> None:
        self.settings, self.renderer, self.what = settings, renderer, what
        self.zone = zoneinfo.ZoneInfo(settings.business_hours.timezone)
        self.accounts = {ch: settings.sla.notify_from.get(ch) or next(iter(accounts), None)
                         for ch, accounts in settings.channels.items()}

    def reach(self, agent: Agent | None, name: str) -> Target | None:
        """Where `agent` (named `name`) hears from us; None, logged, if nowhere."""
        if agent is not None and not agent.enabled:
            log.warning("%s: agent %r is disabled, not told", self.what, name)
            return None
        if agent is not None and agent.addresses():
            return Target(*agent.addresses()[0], agent.language)
        log.warning("%s: agent %r has no e-mail or telegram", self.what, name)
        return None

    def queue(self, s: Session, conv: Conversation, targets: Iterable[Target], kind: str,
              context: Mapping[str, object], *, now: datetime) -> list[str]:
        """One notification per target, rendered once per channel and language from
        `kind`'s templates; returns those queued as "channel:address"."""
        told: list[str] = []
        texts: dict[tuple[str, str], Rendered] = {}
        for channel, address, language in targets:
            account = self.accounts.get(channel)
            if account is None:
                log.warning("%s to %s:%s not sent: no [channels.%s] account", self.what,
                            channel, address, channel)
                continue
            words = (channel, language or self.settings.default_language)
            if words not in texts:
                texts[words] = self.render(s, conv, kind, words,
                                           self.localised(context, words[1]), now=now)
            rendered = texts[words]
            enqueue(s.connection(), conv, Address(address), rendered.body, kind=Kind.SYSTEM,
                    now=now, domain=self.settings.domain,
                    subject=rendered.subject if channel == "email" else None,
                    outbox_kind="notify", channel=channel, account=account)
            told.append(f"{channel}:{address}")
        return told

    def localised(self, context: Mapping[str, object], language: str) -> dict[str, object]:
        return {k: when(v, language, self.zone, short=True) if isinstance(v, datetime) else v
                for k, v in context.items()}

    def render(self, s: Session, conv: Conversation, kind: str, words: tuple[str, str],
               context: Mapping[str, object], *, now: datetime) -> Rendered:
        """`kind`'s template for (channel, language), else the built-in text."""
        channel, language = words
        try:
            return self.renderer.render(kind, channel, language, context)
        except TemplateError as exc:  # the agent is still told, in the built-in words
            log.error("%s uses the built-in text: %s", self.what, exc)
            s.add(Event(conversation_id=conv.id, kind=f"{kind}.template-error",
                        created_at=now, detail={"channel": channel, "error": str(exc)}))
            return builtin(kind, context)
