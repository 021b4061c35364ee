"""The names rules may use — teams, agents, templates, SLA policies, channels — from
the deployment's settings, so that a typo is caught when rules load, not when a
customer writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from inbox.core.config import BusinessHoursSettings, Settings
from inbox.core.directory import Agent, Directory, SettingsDirectory

PRIORITIES = ("low", "normal", "high", "urgent")
# Channels the project has or plans connectors for; configured ones are added.
CHANNELS = frozenset({"email", "telegram", "mastodon", "bluesky", "web", "api"})
NOTIFY_CHANNELS = ("email", "telegram")


@dataclass(frozen=True)
class Known:
    teams: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    agents: Mapping[str, Agent] = field(default_factory=dict)
    templates: frozenset[str] = frozenset({"ack"})
    policies: frozenset[str] = frozenset({"default"})
    channels: frozenset[str] = CHANNELS
    accounts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hours: BusinessHoursSettings = field(default_factory=BusinessHoursSettings)

    @classmethod
    def from_settings(cls, s: Settings, directory: Directory | None = None) -> Known:
        """What `s` configures; agents and teams from `directory` (default: the ones
        inbox.toml lists), the same list `inbox assign` and the SLA notifier ask."""
        d = directory or SettingsDirectory.from_settings(s)
        return cls(
            templates=template_names(s.path(s.templates_dir)),
            policies=frozenset({"default", *s.sla.policies}),
            channels=CHANNELS | set(s.channels),
            accounts={ch: tuple(accounts) for ch, accounts in s.channels.items()},
            hours=s.business_hours,
        ).with_names(d)

    def with_names(self, directory: Directory) -> Known:
        """These names, with the agents and teams `directory` has now."""
        return replace(self, teams={t.name: t.agents for t in directory.teams()},
                       agents={a.name: a for a in directory.agents()})


def template_names(directory: Path) -> frozenset[str]:
    """Each folder of templates/ holding a .txt file is a template a rule may name."""
    if not directory.is_dir():
        return frozenset()
    return frozenset(d.name for d in directory.iterdir()
                     if d.is_dir() and any(d.glob("*.txt")))
