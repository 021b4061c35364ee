"""The schema: migrations match the models, and the code knows its head revision."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from inbox.app import App
from inbox.db import MIGRATIONS, head_revision


def test_head_revision_constant_is_the_newest_migration() -> None:
    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == head_revision()


def test_migrated_database_matches_the_models(app: App) -> None:
    with app.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
