"""The closed vocabulary of `then:` — what a matching rule does to the routing outcome.

Rules apply in order and a later rule's value replaces an earlier one (tags add up), so
`Outcome` also remembers which rule set each field last: `inbox rules explain` shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from inbox.core.directory import direct_target
from inbox.core.routing import LEAST_LOADED, ROUND_ROBIN, Notice, RouteDecision, RuleHit
from inbox.core.vocab import NO_CSAT
from inbox.rules.known import NOTIFY_CHANNELS, PRIORITIES, Known
from inbox.rules.source import Node, Reader, suggest

SPAM_TAG = "spam"


@dataclass
class Outcome:
    """The decision being built while the rules run."""

    team: str | None = None
    assignee: str | None = None
    assign_mode: str | None = None
    assign_team: str | None = None
    assign_pool: tuple[str, ...] = ()
    priority: str | None = None
    add_tags: dict[str, None] = field(default_factory=dict)  # ordered set
    remove_tags: dict[str, None] = field(default_factory=dict)
    sla_policy: str | None = None
    skip_ack: str | None = None
    ack_template: str | None = None
    spam: bool = False
    notify: list[Notice] = field(default_factory=list)
    hits: list[RuleHit] = field(default_factory=list)
    set_by: dict[str, str] = field(default_factory=dict)  # field -> rule (for explain)

    def decision(self) -> RouteDecision:
        return RouteDecision(
            team=self.team, assignee=self.assignee, priority=self.priority,
            add_tags=tuple(self.add_tags), remove_tags=tuple(self.remove_tags),
            sla_policy=self.sla_policy, skip_ack=self.skip_ack,
            ack_template=self.ack_template, close_as_spam=self.spam,
            assign_mode=self.assign_mode, assign_team=self.assign_team,
            assign_pool=self.assign_pool, notify=tuple(self.notify), hits=tuple(self.hits))


class Action:
    """One `then:` entry; `rule` is the rule's name, recorded where it sets something."""

    __slots__ = ()

    def apply(self, o: Outcome, rule: str) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class SetTeam(Action):
    __slots__ = ("team",)

    def __init__(self, team: str) -> None:
        self.team = team

    def apply(self, o: Outcome, rule: str) -> None:
        o.team, o.set_by["team"] = self.team, rule

    def describe(self) -> str:
        return f"team {self.team}"


class Assign(Action):
    __slots__ = ("agent", "mode", "pool", "team")

    def __init__(self, agent: str | None, mode: str | None = None, team: str | None = None,
                 pool: tuple[str, ...] = ()) -> None:
        self.agent, self.mode, self.team, self.pool = agent, mode, team, pool

    def apply(self, o: Outcome, rule: str) -> None:
        o.assignee, o.assign_mode, o.assign_team, o.assign_pool = (
            self.agent, self.mode, self.team, self.pool)
        o.set_by["assign"] = rule

    def describe(self) -> str:
        if self.agent:
            return f"assign {self.agent}"
        return f"assign {self.mode} in {self.team} ({', '.join(self.pool)})"


class SetPriority(Action):
    __slots__ = ("priority",)

    def __init__(self, priority: str) -> None:
        self.priority = priority

    def apply(self, o: Outcome, rule: str) -> None:
        o.priority, o.set_by["priority"] = self.priority, rule

    def describe(self) -> str:
        return f"priority {self.priority}"


class Tags(Action):
    __slots__ = ("add", "tags")

    def __init__(self, tags: tuple[str, ...], add: bool) -> None:
        self.tags, self.add = tags, add

    def apply(self, o: Outcome, rule: str) -> None:
        into, out = (o.add_tags, o.remove_tags) if self.add else (o.remove_tags, o.add_tags)
        for t in self.tags:
            into[t] = None
            out.pop(t, None)
            o.set_by[("+" if self.add else "-") + t] = rule

    def describe(self) -> str:
        sign = "+" if self.add else "-"
        return "tags " + " ".join(sign + t for t in self.tags)


class SetSla(Action):
    __slots__ = ("policy",)

    def __init__(self, policy: str) -> None:
        self.policy = policy

    def apply(self, o: Outcome, rule: str) -> None:
        o.sla_policy, o.set_by["sla"] = self.policy, rule

    def describe(self) -> str:
        return f"SLA policy {self.policy}"


class Ack(Action):
    """`ack: false` skips the acknowledgement; `ack: NAME` picks its template."""

    __slots__ = ("send", "template")

    def __init__(self, send: bool, template: str | None) -> None:
        self.send, self.template = send, template

    def apply(self, o: Outcome, rule: str) -> None:
        o.skip_ack = None if self.send else rule
        o.ack_template = self.template
        o.set_by["ack"] = rule

    def describe(self) -> str:
        return f"ack with {self.template or 'the default template'}" if self.send \
            else "no acknowledgement"


class Spam(Action):
    __slots__ = ()

    def apply(self, o: Outcome, rule: str) -> None:
        o.spam, o.skip_ack, o.set_by["spam"], o.set_by["ack"] = True, rule, rule, rule
        o.add_tags[SPAM_TAG] = None
        o.remove_tags.pop(SPAM_TAG, None)

    def describe(self) -> str:
        return "spam: close, no acknowledgement"


class Notify(Action):
    __slots__ = ("notice",)

    def __init__(self, notice: Notice) -> None:
        self.notice = notice

    def apply(self, o: Outcome, rule: str) -> None:
        n = self.notice
        o.notify.append(Notice(rule, n.channel, n.account, n.recipient, n.template,
                               n.language))

    def describe(self) -> str:
        n = self.notice
        return f"notify {n.channel}:{n.recipient} with {n.template} (via {n.account})"


# ----------------------------------------------------------------------------- parsing

ActionParse = Callable[[Reader, Node, Known], list[Action] | None]


def _team(r: Reader, node: Node, k: Known) -> list[Action] | None:
    team = r.choice(node, "team", k.teams)
    return [SetTeam(team)] if team else None


def _assign(r: Reader, node: Node, k: Known) -> list[Action] | None:
    if isinstance(node, yaml.ScalarNode):
        agent = r.choice(node, "assign", k.agents)
        return [Assign(agent)] if agent else None
    modes = {"round_robin": ROUND_ROBIN, "least_loaded": LEAST_LOADED}
    entries = r.mapping(node, "assign", modes)
    if entries is None:
        return None
    if len(entries) != 1:
        r.problem(node, "assign: give an agent, or one of round_robin: TEAM, least_loaded: TEAM")
        return None
    [(mode, (_, value))] = entries.items()
    team = r.choice(value, mode, k.teams)
    if team is None:
        return None
    if not k.teams[team]:
        r.problem(value, f"{mode}: team {team!r} has no agents (list them in "
                         f"[teams.{team}] agents = [...] in inbox.toml)")
        return None
    return [Assign(None, modes[mode], team, k.teams[team])]


def _priority(r: Reader, node: Node, k: Known) -> list[Action] | None:
    p = r.choice(node, "priority", PRIORITIES)
    return [SetPriority(p)] if p else None


def _tags(add: bool) -> ActionParse:
    def parse(r: Reader, node: Node, k: Known) -> list[Action] | None:
        values = r.texts(node, "add_tags" if add else "remove_tags")
        return [Tags(tuple(v.strip().lower() for v, _ in values), add)] if values else None
    return parse


def _sla(r: Reader, node: Node, k: Known) -> list[Action] | None:
    policy = r.choice(node, "sla", k.policies)
    return [SetSla(policy)] if policy else None


def _ack(r: Reader, node: Node, k: Known) -> list[Action] | None:
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":bool"):
        send = r.flag(node, "ack")
        return None if send is None else [Ack(send, None)]
    template = r.choice(node, "ack (a template folder in templates/)", k.templates)
    return [Ack(True, template)] if template else None


def _spam(r: Reader, node: Node, k: Known) -> list[Action] | None:
    if r.value(node) is not True:
        r.problem(node, "spam: write `spam: true` (anything else means nothing)")
        return None
    return [Spam()]


def _skip_csat(r: Reader, node: Node, k: Known) -> list[Action] | None:
    """`skip_csat: true`: never ask this conversation's customer how it went. It is the
    tag NO_CSAT (inbox.core.vocab), so agents see it and may take it away."""
    if r.value(node) is not True:
        r.problem(node, "skip_csat: write `skip_csat: true` (anything else means nothing)")
        return None
    return [Tags((NO_CSAT,), add=True)]


def _notify(r: Reader, node: Node, k: Known) -> list[Action] | None:
    nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
    out: list[Action] = []
    for n in nodes:
        notice = _notice(r, n, k)
        if notice is None:
            return None
        out.append(Notify(notice))
    return out


def _notice(r: Reader, node: Node, k: Known) -> Notice | None:
    entries = r.mapping(node, "notify", ("to", "template", "via", "account"))
    if entries is None:
        return None
    for required in ("to", "template"):
        if required not in entries:
            r.problem(node, f"notify: {required!r} is missing")
            return None
    to = r.text(entries["to"][1], "notify to")
    template = r.choice(entries["template"][1], "notify template", k.templates)
    via = r.choice(entries["via"][1], "notify via", NOTIFY_CHANNELS) \
        if "via" in entries else None
    if to is None or template is None or ("via" in entries and via is None):
        return None
    target = _recipient(r, entries["to"][1], to, via, k)
    if target is None:
        return None
    channel, recipient = target
    account = _account(r, node, entries.get("account"), channel, k)
    named = k.agents.get(to)  # an agent reads it in their language
    return Notice("", channel, account, recipient, template,
                  named.language if named else None) if account else None


def _recipient(r: Reader, node: Node, to: str, via: str | None,
               k: Known) -> tuple[str, str] | None:
    """(channel, address): an agent by name, an e-mail address, or telegram:CHAT_ID."""
    if (direct := direct_target(to)) is not None:
        return direct
    if to not in k.agents:
        r.problem(node, f"notify to: unknown agent {to!r}{suggest(to, k.agents)}; "
                        "or give an e-mail address or telegram:CHAT_ID")
        return None
    agent = k.agents[to]
    for channel, address in agent.addresses():
        if via in (None, channel):
            return channel, address
    how = via or "email or telegram"
    r.problem(node, f"notify to: agent {to!r} has no {how} in [agents.{to}] of inbox.toml")
    return None


def _account(r: Reader, node: Node, given: tuple[Node, Node] | None, channel: str,
             k: Known) -> str | None:
    accounts = k.accounts.get(channel, ())
    if given is not None:
        return r.choice(given[1], f"notify account ({channel})", accounts)
    if not accounts:
        r.problem(node, f"notify: no [channels.{channel}.*] account in inbox.toml "
                        f"to send the notification from")
        return None
    return accounts[0]


ACTIONS: dict[str, ActionParse] = {
    "team": _team, "assign": _assign, "priority": _priority,
    "add_tags": _tags(add=True), "remove_tags": _tags(add=False), "sla": _sla,
    "ack": _ack, "spam": _spam, "notify": _notify, "skip_csat": _skip_csat,
}


def parse_actions(r: Reader, node: Node, k: Known) -> list[Action] | None:
    entries = r.mapping(node, "then", ACTIONS)
    if entries is None:
        return None
    if not entries:
        if not node.value:  # else the unknown keys were reported already
            r.problem(node, "then: say what the rule does (team, assign, priority, ...)")
        return None
    out: list[Action] = []
    ok = True
    for name, (_, value) in entries.items():
        parsed = ACTIONS[name](r, value, k)
        ok = ok and parsed is not None
        out += parsed or []
    return out if ok else None
