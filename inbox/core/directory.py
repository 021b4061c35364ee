"""Who works here: the one list of agents and teams that every part of the inbox names.

Rules (`assign: ana`, `team: billing`, `notify: {to: ana}`), `inbox assign`, the authors
of `inbox reply` and `inbox status`, and the SLA notifications all ask a `Directory`, so
a name that one of them accepts the others accept too, and a typo is refused in the
same words everywhere: `UnknownName`, listing the names that exist.

Today the directory is read from inbox.toml (`[agents.<name>]`, and `[teams.<name>]`
whose `agents` lists are agents too); `inbox.runtime.app.App.directory` builds it once. When
agents become accounts kept in the database, another class answers the same protocol.
No SQLAlchemy here: light commands use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from inbox.core.errors import NotFound

if TYPE_CHECKING:
    from inbox.core.config import AgentSettings, Settings, TeamSettings

# How many known names an error lists before it says "and N more".
LISTED = 12


@dataclass(frozen=True)
class Agent:
    """A person who answers customers, and where our notifications reach them."""

    name: str
    email: str | None = None
    telegram: str | None = None  # a chat id, for notifications through a Telegram bot
    away: bool = False  # left out of round-robin and least-loaded assignment

    def addresses(self) -> list[tuple[str, str]]:
        """(channel, address) where this agent can be reached, e-mail first."""
        return [(c, a) for c, a in (("email", self.email), ("telegram", self.telegram)) if a]


@dataclass(frozen=True)
class Team:
    name: str
    agents: tuple[str, ...] = ()  # in round-robin order


class Directory(Protocol):
    def agent(self, name: str) -> Agent | None: ...
    def team(self, name: str) -> Team | None: ...
    def agents(self) -> Sequence[Agent]: ...
    def teams(self) -> Sequence[Team]: ...


class UnknownName(NotFound):
    """A name no agent or team has; the message lists those that exist."""


def unknown(kind: str, name: str, known: Collection[str]) -> str:
    """`unknown agent 'ania' (did you mean 'ana'? known agents: ana, kim)`."""
    if not known:
        return f"unknown {kind} {name!r} (there are no {kind}s yet: add [{kind}s.NAME] " \
               "to inbox.toml)"
    names = sorted(known)
    near = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    listed = ", ".join(names[:LISTED]) + (
        f" and {len(names) - LISTED} more" if len(names) > LISTED else "")
    hint = f"did you mean {near[0]!r}? " if near else ""
    return f"unknown {kind} {name!r} ({hint}known {kind}s: {listed})"


def check(directory: Directory, *, agents: Sequence[str] = (),
          teams: Sequence[str] = ()) -> None:
    """Raise UnknownName naming every agent and team of these that does not exist."""
    problems = [unknown("agent", a, [x.name for x in directory.agents()])
                for a in agents if directory.agent(a) is None]
    problems += [unknown("team", t, [x.name for x in directory.teams()])
                 for t in teams if directory.team(t) is None]
    if problems:
        raise UnknownName(" and ".join(problems))


def require_agent(directory: Directory, name: str) -> Agent:
    check(directory, agents=[name])
    agent = directory.agent(name)
    assert agent is not None
    return agent


class SettingsDirectory:
    """The directory inbox.toml describes: `[agents.*]`, plus every name that a team's
    `agents` list gives (an agent needs no table of their own to be assigned)."""

    def __init__(self, agents: Mapping[str, AgentSettings],
                 teams: Mapping[str, TeamSettings]) -> None:
        members = {name: Agent(name) for t in teams.values() for name in t.agents}
        self._agents = members | {name: Agent(name, a.email, a.telegram, a.away)
                                  for name, a in agents.items()}
        self._teams = {name: Team(name, tuple(t.agents)) for name, t in teams.items()}

    @classmethod
    def from_settings(cls, settings: Settings) -> SettingsDirectory:
        return cls(settings.agents, settings.teams)

    def agent(self, name: str) -> Agent | None:
        return self._agents.get(name)

    def team(self, name: str) -> Team | None:
        return self._teams.get(name)

    def agents(self) -> Sequence[Agent]:
        return list(self._agents.values())

    def teams(self) -> Sequence[Team]:
        return list(self._teams.values())


def direct_target(text: str) -> tuple[str, str] | None:
    """(channel, address) when `text` names one directly — an e-mail address or
    telegram:CHAT_ID — else None (it names an agent, or a keyword such as "owner").
    The one reading of a notification target, for rules and the SLA alike."""
    if text.startswith("telegram:"):
        return "telegram", text.split(":", 1)[1]
    if "@" in text:
        return "email", text.lower()
    return None
