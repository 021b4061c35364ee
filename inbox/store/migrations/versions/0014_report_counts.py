"""report counts: the reports' figures kept as they happen (inbox.desk.tally)

`report_count` holds counts per local day and month, metric, cube and dimension values;
its primary key is the order every report reads it in. `report_term` counts the terms,
phrases, tags and rule hits of new conversations (what keeps coming back).
`ix_survey_answered` lists the latest survey comments of a period,
`ix_conversation_created` the conversations behind a figure of volume. The daemon fills
the tables from the whole event history on its first round after this upgrade (a
background catch-up, in batches).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "report_count",
        sa.Column("metric", _Str(length=24), nullable=False),
        sa.Column("cube", sa.Integer(), nullable=False),
        sa.Column("grain", _Str(length=1), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("team", _Str(), nullable=False),
        sa.Column("channel", _Str(), nullable=False),
        sa.Column("agent", _Str(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("metric", "cube", "grain", "period", "team", "channel",
                                "agent", "bucket"),
    )
    op.create_table(
        "report_term",
        sa.Column("kind", _Str(length=8), nullable=False),
        sa.Column("language", _Str(length=16), nullable=False),
        sa.Column("grain", _Str(length=1), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("term", _Str(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "language", "grain", "period", "term"),
    )
    op.create_index("ix_survey_answered", "survey", ["answered_at"])
    op.create_index("ix_conversation_created", "conversation", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_conversation_created", table_name="conversation")
    op.drop_index("ix_survey_answered", table_name="survey")
    op.drop_table("report_term")
    op.drop_table("report_count")
