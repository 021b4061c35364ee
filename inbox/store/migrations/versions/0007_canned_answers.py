"""canned answers: saved replies agents insert with "/" in the reply box

One row per version of an answer: (name, team, language), with "" for every team and
for the fallback language, so that the unique constraint holds (NULLs would be
distinct in it on SQLite and PostgreSQL alike). docs/canned.md.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import inbox.store.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Str = sqlmodel.sql.sqltypes.AutoString
_Time = inbox.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "canned_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _Str(length=48), nullable=False),
        sa.Column("team", _Str(length=64), nullable=False),
        sa.Column("language", _Str(length=16), nullable=False),
        sa.Column("body", _Str(), nullable=False),
        sa.Column("changed_by", _Str(), nullable=False),
        sa.Column("changed_at", _Time(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "team", "language", name="uq_canned_answer_version"),
    )


def downgrade() -> None:
    op.drop_table("canned_answer")
