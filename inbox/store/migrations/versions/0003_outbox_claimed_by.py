"""outbox rows say which daemon claimed them

A daemon killed mid-send left its claimed rows waiting for their lease (300 s by
default). With the claimer's instance id on the row, a daemon that knows the claimer is
dead (inbox.store.liveness) sends them again at once. Rows claimed before this revision have
no id and keep waiting for their lease.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=32),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")
