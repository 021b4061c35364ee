"""agents and teams are accounts: sign-in, roles, ordered team members, sessions

Until 0003 an agent was a name (with an e-mail and the team it belonged to) that only
round-robin read, to skip inactive agents. Agents now sign in to the desk: an id, a
unique lowercased e-mail, a role, an argon2 password hash, enabled and away flags, a
Telegram chat for notifications. A team lists its members in round-robin order
(`team_member`). Sessions keep only a hash of their token; refused sign-ins are
counted in the database so that every daemon locks out the same account.

The old rows are carried over: an agent of 0003 keeps its name, e-mail and team; an
inactive one becomes disabled. None has a password yet (`inbox agent passwd`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import inbox.store.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Str = sqlmodel.sql.sqltypes.AutoString
_Time = inbox.store.models.UTCDateTime


def upgrade() -> None:
    conn = op.get_bind()
    teams = [r[0] for r in conn.execute(sa.text("SELECT name FROM team ORDER BY name"))]
    agents = [tuple(r) for r in conn.execute(sa.text(
        "SELECT name, email, team, active FROM agent ORDER BY name"))]
    op.drop_table("agent")
    op.drop_table("team")
    team, agent, member = _create_tables()
    _carry_over(teams, agents, team, agent, member)


def _create_tables() -> tuple[sa.Table, sa.Table, sa.Table]:
    team = op.create_table(
        "team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _Str(), nullable=False),
        sa.Column("created_at", _Time(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    agent = op.create_table(
        "agent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _Str(), nullable=False),
        sa.Column("email", _Str(), nullable=True),
        sa.Column("role", _Str(), nullable=False),
        sa.Column("password_hash", _Str(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("away", sa.Boolean(), nullable=False),
        sa.Column("telegram", _Str(), nullable=True),
        sa.Column("created_at", _Time(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("name"),
    )
    member = op.create_table(
        "team_member",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"]),
        sa.PrimaryKeyConstraint("team_id", "agent_id"),
    )
    op.create_index(op.f("ix_team_member_agent_id"), "team_member", ["agent_id"])
    op.create_table(
        "agent_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", _Str(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _Time(), nullable=False),
        sa.Column("last_seen_at", _Time(), nullable=False),
        sa.Column("expires_at", _Time(), nullable=False),
        sa.Column("revoked_at", _Time(), nullable=True),
        sa.Column("address", _Str(), nullable=False),
        sa.Column("user_agent", _Str(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_index(op.f("ix_agent_session_agent_id"), "agent_session", ["agent_id"])
    op.create_table(
        "sign_in_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", _Str(), nullable=False),
        sa.Column("address", _Str(), nullable=False),
        sa.Column("created_at", _Time(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sign_in_failure_email", "sign_in_failure", ["email", "created_at"])
    op.create_index("ix_sign_in_failure_address", "sign_in_failure",
                    ["address", "created_at"])
    return team, agent, member


def _carry_over(teams: list[str], agents: list[tuple[Any, ...]], team: sa.Table,
                agent: sa.Table, member: sa.Table) -> None:
    now = datetime.now(UTC)
    named = sorted(set(teams) | {t for _, _, t, _ in agents if t})
    op.bulk_insert(team, [{"id": i, "name": n, "created_at": now}
                          for i, n in enumerate(named, 1)])
    team_ids = {n: i for i, n in enumerate(named, 1)}
    seen: set[str] = set()
    rows, members = [], []
    for i, (name, email, in_team, active) in enumerate(agents, 1):
        address = email.strip().lower() if email else None
        address = None if address in seen else address  # e-mails are unique now
        seen.add(address or "")
        rows.append({"id": i, "name": name, "email": address, "role": "agent",
                     "password_hash": None, "enabled": bool(active), "away": False,
                     "telegram": None, "created_at": now})
        if in_team:
            members.append({"team_id": team_ids[in_team], "agent_id": i, "position": i})
    op.bulk_insert(agent, rows)
    op.bulk_insert(member, members)
    if op.get_bind().dialect.name == "postgresql":  # ids were given: move the sequences on
        for table in ("team", "agent"):
            op.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                       f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)")


def downgrade() -> None:
    for index, table in (("ix_sign_in_failure_address", "sign_in_failure"),
                         ("ix_sign_in_failure_email", "sign_in_failure"),
                         ("ix_agent_session_agent_id", "agent_session"),
                         ("ix_team_member_agent_id", "team_member")):
        op.drop_index(index, table_name=table)
    for table in ("sign_in_failure", "agent_session", "team_member", "agent", "team"):
        op.drop_table(table)
    op.create_table("team", sa.Column("name", _Str(), nullable=False),
                    sa.PrimaryKeyConstraint("name"))
    op.create_table("agent", sa.Column("name", _Str(), nullable=False),
                    sa.Column("email", _Str(), nullable=True),
                    sa.Column("team", _Str(), nullable=True),
                    sa.Column("active", sa.Boolean(), nullable=False),
                    sa.ForeignKeyConstraint(["team"], ["team.name"]),
                    sa.PrimaryKeyConstraint("name"))
