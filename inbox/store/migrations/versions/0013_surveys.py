"""surveys: asking customers how it went (CSAT)

One `survey` row per conversation at most (unique), scheduled when it is resolved, sent
after a delay, answered once; `ix_survey_due` finds the due ones, `ix_survey_contact`
whether a contact was asked lately.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import inbox.store.models

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Str = sqlmodel.sql.sqltypes.AutoString
_Time = inbox.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "survey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channel", _Str(length=32), nullable=False),
        sa.Column("state", _Str(length=16), nullable=False),
        sa.Column("reason", _Str(), nullable=True),
        sa.Column("language", _Str(length=16), nullable=True),
        sa.Column("due_at", _Time(), nullable=False),
        sa.Column("sent_at", _Time(), nullable=True),
        sa.Column("expires_at", _Time(), nullable=True),
        sa.Column("answered_at", _Time(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", _Str(), nullable=True),
        sa.Column("answered_via", _Str(length=16), nullable=True),
        sa.Column("created_at", _Time(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id"),
    )
    op.create_index("ix_survey_due", "survey", ["state", "due_at"])
    op.create_index("ix_survey_contact", "survey", ["contact_id", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_survey_contact", table_name="survey")
    op.drop_index("ix_survey_due", table_name="survey")
    op.drop_table("survey")
