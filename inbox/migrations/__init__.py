"""Alembic migrations; run with `inbox db upgrade`."""

# The newest revision in versions/; bump it with every new migration
# (tests/test_migrations.py checks it against what alembic finds).
HEAD_REVISION = "0001"
