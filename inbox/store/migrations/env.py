"""Alembic environment: the engine is handed in by `inbox.db.upgrade`, never read from a file."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import inbox.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
    )
    context.run_migrations()
