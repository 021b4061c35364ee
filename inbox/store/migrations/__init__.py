"""Alembic migrations; run with `inbox db upgrade`."""

from inbox.core.errors import Unavailable

# The newest revision in versions/; bump it with every new migration
# (tests/store/test_migrations.py checks it against what alembic finds).
HEAD_REVISION = "0014"


class SchemaError(Unavailable):
    """The database is not at the schema this code expects."""


def schema_problem(current: str | None) -> str | None:
    """What is wrong with a database at revision `current` (None: no schema), if anything."""
    if current is None:
        return "the database has no schema yet: run `inbox db upgrade`"
    if current != HEAD_REVISION:
        return (f"the database schema is at {current}, this version needs {HEAD_REVISION}: "
                "run `inbox db upgrade`")
    return None
