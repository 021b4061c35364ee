"""Who works here: the one list of agents and teams that every part of the inbox names.

Rules (`assign: ana`, `team: billing`, `notify: {to: ana}`), `inbox assign`, the authors
of `inbox reply` and `inbox status`, and the SLA notifications all ask a `Directory`, so
a name that one of them accepts the others accept too, and a typo is refused in the
same words everywhere: `UnknownName`, listing the names that exist.

Agents and teams are records in the database (`inbox agent`, `inbox team`;
docs/agents.md). The names inbox.toml still lists (`[agents.<name>]`, and `[teams.<name>]`
whose `agents` lists are agents too) are read along with them, a record winning over a
name of the config (`merged`); `inbox db upgrade` copies them into records.
`inbox.runtime.app.App.directory` builds the directory (a `LiveDirectory` over the
database, read again every few seconds); without a database the config alone answers
(`SettingsDirectory`). No SQLAlchemy here: light commands use it.
"""

from __future__ import annotations

import difflib
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from inbox.core.errors import Invalid, NotFound

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
    role: str = "agent"  # inbox.core.vocab.Role
    enabled: bool = True  # False: cannot sign in, no new work, no notifications
    language: str | None = None  # staff notices reach them in it; None: the default

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
        return f"unknown {kind} {name!r} (there are no {kind}s yet: add one with " \
               f"`inbox {kind} add`)"
    names = sorted(known)
    near = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    listed = ", ".join(names[:LISTED]) + (
        f" and {len(names) - LISTED} more" if len(names) > LISTED else "")
    hint = f"did you mean {near[0]!r}? " if near else ""
    return f"unknown {kind} {name!r} ({hint}known {kind}s: {listed})"


class DisabledAgent(Invalid):
    """An agent an admin has disabled: given no new work."""


def check(directory: Directory, *, agents: Sequence[str] = (),
          teams: Sequence[str] = ()) -> None:
    """Raise UnknownName naming every agent and team of these that does not exist, and
    DisabledAgent for agents that exist but are disabled."""
    problems = [unknown("agent", a, [x.name for x in directory.agents()])
                for a in agents if directory.agent(a) is None]
    problems += [unknown("team", t, [x.name for x in directory.teams()])
                 for t in teams if directory.team(t) is None]
    if problems:
        raise UnknownName(" and ".join(problems))
    disabled = [a for a in agents if not (found := directory.agent(a)) or not found.enabled]
    if disabled:
        raise DisabledAgent(" and ".join(f"agent {a!r} is disabled (`inbox agent enable {a}` "
                                         "first)" for a in disabled))


def require_agent(directory: Directory, name: str) -> Agent:
    check(directory, agents=[name])
    agent = directory.agent(name)
    assert agent is not None
    return agent


class ListedDirectory:
    """A directory of given agents and teams, in the order given."""

    def __init__(self, agents: Iterable[Agent], teams: Iterable[Team]) -> None:
        self._agents = {a.name: a for a in agents}
        self._teams = {t.name: t for t in teams}

    def agent(self, name: str) -> Agent | None:
        return self._agents.get(name)

    def team(self, name: str) -> Team | None:
        return self._teams.get(name)

    def agents(self) -> Sequence[Agent]:
        return list(self._agents.values())

    def teams(self) -> Sequence[Team]:
        return list(self._teams.values())


class SettingsDirectory(ListedDirectory):
    """The directory inbox.toml describes: `[agents.*]`, plus every name that a team's
    `agents` list gives (an agent needs no table of their own to be assigned)."""

    def __init__(self, agents: Mapping[str, AgentSettings],
                 teams: Mapping[str, TeamSettings]) -> None:
        members = {name: Agent(name) for t in teams.values() for name in t.agents}
        listed = members | {name: Agent(name, a.email, a.telegram, a.away,
                                        language=a.language)
                            for name, a in agents.items()}
        super().__init__(listed.values(), (Team(n, tuple(t.agents)) for n, t in teams.items()))

    @classmethod
    def from_settings(cls, settings: Settings) -> SettingsDirectory:
        return cls(settings.agents, settings.teams)


def merged(records: Directory, config: Directory) -> ListedDirectory:
    """The records, then what only the config names: a record wins over a name of
    inbox.toml, so `inbox agent` and `inbox team` are what counts once a name is a record."""
    return ListedDirectory(
        [*records.agents(), *(a for a in config.agents() if records.agent(a.name) is None)],
        [*records.teams(), *(t for t in config.teams() if records.team(t.name) is None)])


class LiveDirectory:
    """A directory read again through `load` once `max_age` seconds have passed: what
    the database holds, a few seconds late at most, so that a daemon sees an agent that
    `inbox agent add` made while it runs."""

    def __init__(self, load: Callable[[], Directory], max_age: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, miss_age: float = 0.5) -> None:
        self._load, self._max_age, self._clock = load, max_age, clock
        self._miss_age = miss_age
        self._lock = threading.Lock()  # connectors and the sweep ask from several threads
        self._current = load()
        self._read_at = clock()

    def current(self, older_than: float | None = None) -> Directory:
        with self._lock:
            age = self._max_age if older_than is None else older_than
            if self._clock() - self._read_at >= age:
                self._read_at = self._clock()
                self._current = self._load()
            return self._current

    def agent(self, name: str) -> Agent | None:
        # A name not in the copy may have been added since: read again (at most every
        # `miss_age` seconds), so an agent made a moment ago can be given work at once.
        found = self.current().agent(name)
        return found if found is not None else self.current(self._miss_age).agent(name)

    def team(self, name: str) -> Team | None:
        found = self.current().team(name)
        return found if found is not None else self.current(self._miss_age).team(name)

    def agents(self) -> Sequence[Agent]:
        return self.current().agents()

    def teams(self) -> Sequence[Team]:
        return self.current().teams()


def staff_addresses(directory: Directory) -> dict[tuple[str, str], str]:
    """(channel, address) -> agent name, for every address an agent has: mail from them
    answers our notifications as an internal note (inbox.ingest.staff)."""
    return {(channel, address.lower()): a.name for a in directory.agents()
            for channel, address in a.addresses()}


def direct_target(text: str) -> tuple[str, str] | None:
    """(channel, address) when `text` names one directly — an e-mail address or
    telegram:CHAT_ID — else None (it names an agent, or a keyword such as "owner").
    The one reading of a notification target, for rules and the SLA alike."""
    if text.startswith("telegram:"):
        return "telegram", text.split(":", 1)[1]
    if "@" in text:
        return "email", text.lower()
    return None
