"""message references, read backwards

A customer's message that arrives after its own replies (a delayed mail, an import) must
join their conversation; that needs "which messages reference this id?", an index that
a JSON list cannot give. The table is filled from the references already stored.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 02:28:57.415659
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5000
KEEP = 50  # the nearest references of a message; mail may carry hundreds


def upgrade() -> None:
    op.create_table(
        "message_ref",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"]),
        sa.PrimaryKeyConstraint("message_id", "ref"),
    )
    with op.batch_alter_table("message_ref", schema=None) as batch_op:
        batch_op.create_index("ix_message_ref_ref", ["ref", "channel"], unique=False)
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    """Customer messages' references, a chunk at a time (bounded memory on big stores)."""
    message = sa.table("message", sa.column("id", sa.Integer),
                       sa.column("channel", sa.String), sa.column("direction", sa.String),
                       sa.column("kind", sa.String), sa.column("references", sa.JSON))
    refs = sa.table("message_ref", sa.column("message_id", sa.Integer),
                    sa.column("ref", sa.String), sa.column("channel", sa.String))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(message.c.id, message.c.channel, message.c.references)
            .where(message.c.id > last, message.c.direction == "in",
                   message.c.kind == "customer")
            .order_by(message.c.id).limit(CHUNK)).all()
        if not rows:
            return
        last = rows[-1].id
        values = [{"message_id": r.id, "ref": ref, "channel": r.channel}
                  for r in rows for ref in dict.fromkeys((r.references or [])[-KEEP:]) if ref]
        if values:
            conn.execute(refs.insert(), values)


def downgrade() -> None:
    with op.batch_alter_table("message_ref", schema=None) as batch_op:
        batch_op.drop_index("ix_message_ref_ref")
    op.drop_table("message_ref")
