"""Routing: the seam where admin-written rules decide team, assignee, priority and more.

The pipeline only knows the `Router` protocol and the `RouteDecision` it returns. The
rules themselves (loading, validation, matching, explaining) live in `inbox.rules`;
`NoRules` routes everything to the unassigned queue with normal priority and the default
acknowledgement, which is also what an empty `rules/` folder does.

A decision is pure data: deciding changes nothing. Whatever needs the database to carry
out — picking the next agent of a round-robin, queueing a notification — is described
here and done by the pipeline's `route` step inside the message's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from channels.base import Inbound

ROUND_ROBIN = "round-robin"
LEAST_LOADED = "least-loaded"


@dataclass(frozen=True)
class RuleHit:
    rule: str
    source: str  # file:line, so an admin can find the rule
    why: str


@dataclass(frozen=True)
class Notice:
    """A notification a rule asked for: `template` rendered, sent through the outbox."""

    rule: str
    channel: str
    account: str
    recipient: str
    template: str
    language: str | None = None  # the agent's, when `to` names one; None: the default


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
    remove_tags: tuple[str, ...] = ()
    # Assignment within a team, resolved by the pipeline against the store:
    # ROUND_ROBIN or LEAST_LOADED among `assign_pool` (the team's agents, in order).
    assign_mode: str | None = None
    assign_team: str | None = None
    assign_pool: tuple[str, ...] = ()
    notify: tuple[Notice, ...] = ()
    # The rule being evaluated when the message's time for regexes ran out (its `why`
    # says which pattern); later regex conditions counted as not matching.
    over_budget: RuleHit | None = None

    def summary(self) -> dict[str, object]:
        """The outcome as plain data: stored with the `routed` event, compared by replay."""
        assign = self.assignee or (f"{self.assign_mode} {self.assign_team}"
                                   if self.assign_mode else None)
        return {"team": self.team, "assign": assign, "priority": self.priority,
                "add_tags": list(self.add_tags), "remove_tags": list(self.remove_tags),
                "sla_policy": self.sla_policy,
                "ack": "skip" if self.skip_ack else (self.ack_template or "default"),
                "spam": self.close_as_spam,
                "notify": [f"{n.channel}:{n.recipient}" for n in self.notify],
                "rules": [h.rule for h in self.hits]}


@dataclass(frozen=True)
class RouteFacts:
    """What rules may know besides the message itself."""

    first_message: bool
    contact_tags: tuple[str, ...] = ()
    contact_vip: bool = False
    open_conversations: int = 0
    # When given, counts the contact's other open conversations on demand, so that the
    # query runs only for rule sets that ask (it replaces `open_conversations`).
    count_open: Callable[[], int] | None = field(default=None, compare=False)
    # The language the pipeline resolved for the message and where it came from
    # ("default" when nothing told it, which rules see as `language: unknown`).
    language: str | None = None
    language_source: str = ""

    def open_count(self) -> int:
        return self.count_open() if self.count_open is not None else self.open_conversations


class Router(Protocol):
    def route(self, inbound: Inbound, facts: RouteFacts) -> RouteDecision: ...


class NoRules:
    def route(self, inbound: Inbound, facts: RouteFacts) -> RouteDecision:
        return RouteDecision()
