"""Routing: the seam where admin-written rules decide team, assignee, priority and more.

The pipeline only knows the `Router` protocol and the `RouteDecision` it returns. Until
rules are configured (`rules/`), `NoRules` routes everything to the unassigned queue
with normal priority and the default acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from channels.base import Inbound


@dataclass(frozen=True)
class RuleHit:
    rule: str
    source: str  # file:line, so an admin can find the rule
    why: str


@dataclass(frozen=True)
class RouteDecision:
    team: str | None = None
    assignee: str | None = None
    priority: str | None = None
    add_tags: tuple[str, ...] = ()
    sla_policy: str | None = None
    skip_ack: str | None = None  # name of the rule that suppressed the acknowledgement
    ack_template: str | None = None
    close_as_spam: bool = False
    hits: tuple[RuleHit, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RouteFacts:
    """What rules may know besides the message itself."""

    first_message: bool
    contact_tags: tuple[str, ...] = ()
    contact_vip: bool = False
    open_conversations: int = 0


class Router(Protocol):
    def route(self, inbound: Inbound, facts: RouteFacts) -> RouteDecision: ...


class NoRules:
    def route(self, inbound: Inbound, facts: RouteFacts) -> RouteDecision:
        return RouteDecision()
