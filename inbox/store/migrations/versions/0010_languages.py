"""languages: which language each conversation is answered in, and why

`conversation.language_source` says where `conversation.language` came from: "agent"
(an agent chose it; nothing overrides it), "contact" (the contact's preferred language),
"detected" (this customer's words), "history" (the contact's last confident language),
"channel" (Telegram's language_code, a Content-Language header) or "default".
`contact.language` is the contact's preferred language, set by an agent or learned
(`contact.language_source`: "agent" or "learned") once `last_language` has been detected
confidently `last_language_count` times in a row. `message.language` and
`message.language_confidence` keep each customer message's raw detection for audit
(NULL language: too few letters, or below the threshold). `agent.language` is the
language staff notices reach that agent in (NULL: the deployment's default).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Str = sqlmodel.sql.sqltypes.AutoString
_COLUMNS = (
    ("conversation", sa.Column("language_source", _Str(length=16), nullable=True)),
    ("contact", sa.Column("language", _Str(length=16), nullable=True)),
    ("contact", sa.Column("language_source", _Str(length=16), nullable=True)),
    ("contact", sa.Column("last_language", _Str(length=16), nullable=True)),
    ("contact", sa.Column("last_language_count", sa.Integer(), nullable=False,
                          server_default="0")),
    ("message", sa.Column("language", _Str(length=16), nullable=True)),
    ("message", sa.Column("language_confidence", sa.Float(), nullable=True)),
    ("agent", sa.Column("language", _Str(length=16), nullable=True)),
)


def upgrade() -> None:
    for table, column in _COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(column)


def downgrade() -> None:
    for table, column in reversed(_COLUMNS):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column.name)
