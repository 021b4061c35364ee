"""webhooks: other systems told of changes as they happen, through the outbox

`webhook` holds what an admin registered: a name, the URL, the events it wants, the
secret its deliveries are signed with, and where in the store's event stream it
started (`after_event`, `after_message`), so a new hook is told of what happens from
then on, never of history. Deliveries are outbox rows (channel `webhook`, the hook's
name as the account) that carry a `payload` instead of a message: `message_id` may now
be empty. `response` keeps what the far end last answered, for `GET .../deliveries`.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import inbox.store.models

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Str = sqlmodel.sql.sqltypes.AutoString
_Time = inbox.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "webhook",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _Str(length=100), nullable=False),
        sa.Column("url", _Str(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", _Str(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("after_event", sa.Integer(), nullable=False),
        sa.Column("after_message", sa.Integer(), nullable=False),
        sa.Column("created_by", _Str(length=200), nullable=False),
        sa.Column("created_at", _Time(), nullable=False),
        sa.Column("updated_at", _Time(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("message_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("payload", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("response", _Str(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE message_id IS NULL")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("response")
        batch_op.drop_column("payload")
        batch_op.alter_column("message_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("webhook")
