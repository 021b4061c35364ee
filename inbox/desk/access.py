"""Which conversations an agent may see (docs/agents.md): a supervisor or an admin sees
every team's; an agent sees those of the teams they belong to, those routed to no team
(else nobody would see them), and those assigned to them. The queue's read model and
every page of a conversation ask this one place."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.desk.accounts import Action, can
from inbox.store.models import Agent, Team, TeamMember


@dataclass(frozen=True)
class Scope:
    """`teams` None: every team."""

    agent: str
    teams: frozenset[str] | None = None

    def sees(self, team: str | None, assignee: str | None) -> bool:
        return (self.teams is None or team is None or team in self.teams
                or assignee == self.agent)


def scope_of(s: Session, agent: Agent) -> Scope:
    """Read at each request, not from the directory's few-seconds-old copy: a team
    change is a change of what an agent may see, and must hold at once."""
    if can(agent, Action.SEE_ALL_TEAMS):
        return Scope(agent.name)
    teams = s.scalars(sa.select(col(Team.name)).join(
        TeamMember, col(TeamMember.team_id) == col(Team.id)).where(
        col(TeamMember.agent_id) == agent.id))
    return Scope(agent.name, frozenset(teams))
