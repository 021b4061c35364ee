"""escalations: a conversation an agent asked a supervisor to look at

`escalation`: who escalated which conversation (`escalated_by`), to which `supervisor`
(None: every supervisor), why,
when, and when and by whom it was handled; reasons added while it was open in `more`.
At most one open escalation per conversation (a partial unique index, which is also
how the supervisors' list finds the open ones without reading the handled ones).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import inbox.store.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Str = sqlmodel.sql.sqltypes.AutoString
_Time = inbox.store.models.UTCDateTime
_OPEN = sa.text("handled_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "escalation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("escalated_by", _Str(), nullable=False),
        sa.Column("supervisor", _Str(), nullable=True),
        sa.Column("reason", _Str(), nullable=False),
        sa.Column("more", sa.JSON(), nullable=False),
        sa.Column("created_at", _Time(), nullable=False),
        sa.Column("handled_at", _Time(), nullable=True),
        sa.Column("handled_by", _Str(), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_escalation_conversation_id", "escalation", ["conversation_id"])
    op.create_index("ix_escalation_created", "escalation", ["created_at"])
    op.create_index("ix_escalation_open", "escalation", ["conversation_id"], unique=True,
                    sqlite_where=_OPEN, postgresql_where=_OPEN)


def downgrade() -> None:
    op.drop_index("ix_escalation_open", table_name="escalation")
    op.drop_index("ix_escalation_created", table_name="escalation")
    op.drop_index("ix_escalation_conversation_id", table_name="escalation")
    op.drop_table("escalation")
