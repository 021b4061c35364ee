"""api tokens: programs acting as agents over the HTTP API, and idempotent calls

`api_token` keeps a SHA-256 of each token (never the token), the agent it acts as, its
name, start (`prefix`, for lists), expiry, last use and revocation. `api_request` keeps
the answer to each call made with an Idempotency-Key, unique per agent and key, so that
a client retrying after a timeout gets the first answer instead of a second reply.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import inbox.store.models

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Str = sqlmodel.sql.sqltypes.AutoString
_Time = inbox.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", _Str(length=64), nullable=False),
        sa.Column("prefix", _Str(length=16), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("name", _Str(length=200), nullable=False),
        sa.Column("created_at", _Time(), nullable=False),
        sa.Column("expires_at", _Time(), nullable=True),
        sa.Column("last_used_at", _Time(), nullable=True),
        sa.Column("revoked_at", _Time(), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_index(op.f("ix_api_token_agent_id"), "api_token", ["agent_id"])
    op.create_table(
        "api_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("key", _Str(length=255), nullable=False),
        sa.Column("fingerprint", _Str(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", _Time(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agent_id", "key"),
    )
    op.create_index(op.f("ix_api_request_created_at"), "api_request", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_api_request_created_at"), table_name="api_request")
    op.drop_table("api_request")
    op.drop_index(op.f("ix_api_token_agent_id"), table_name="api_token")
    op.drop_table("api_token")
