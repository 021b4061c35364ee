"""presence and drafts: who has a conversation open, and what agents have not sent yet

`presence`: one row per agent and conversation while the desk's page is open (it says
so every ~10 s; a row past `expires_at` counts as gone), with the box they are typing
in until `typing_until`. `draft`: the text in an agent's reply or note box, per
conversation, kept until it is sent (docs/desk.md "Working together").

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import inbox.store.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Str = sqlmodel.sql.sqltypes.AutoString
_Time = inbox.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "presence",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("typing", _Str(), nullable=False),
        sa.Column("typing_until", _Time(), nullable=True),
        sa.Column("expires_at", _Time(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.PrimaryKeyConstraint("conversation_id", "agent_id"),
    )
    op.create_index("ix_presence_expires", "presence", ["expires_at"])
    op.create_table(
        "draft",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("box", _Str(), nullable=False),
        sa.Column("text", _Str(), nullable=False),
        sa.Column("updated_at", _Time(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.PrimaryKeyConstraint("agent_id", "conversation_id", "box"),
    )


def downgrade() -> None:
    op.drop_table("draft")
    op.drop_index("ix_presence_expires", table_name="presence")
    op.drop_table("presence")
