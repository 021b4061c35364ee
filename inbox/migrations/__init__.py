"""Alembic migrations; run with `inbox db upgrade`."""
