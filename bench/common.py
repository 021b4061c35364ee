"""Helpers the benchmarks share."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    from inbox.runtime.app import App

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def pg_database(admin_url: str = PG_ADMIN, prefix: str = "inbox_bench") -> Iterator[str]:
    """A fresh PostgreSQL database for one run, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextlib.contextmanager
def deployment_app(directory: Path, kind: str, pg: str = PG_ADMIN,
                   prefix: str = "inbox_bench") -> Iterator[App]:
    """A fresh deployment in `directory` on SQLite beside it, or on a PostgreSQL
    database of its own (`kind` "postgresql", dropped after), upgraded to our schema."""
    from inbox.core.config import load_settings
    from inbox.runtime.app import App
    from inbox.runtime.deployment import init_deployment
    from inbox.store.db import upgrade

    config = init_deployment(directory)
    with contextlib.ExitStack() as stack:
        url = f"sqlite:///{directory / 'inbox.db'}" if kind == "sqlite" \
            else stack.enter_context(pg_database(pg, prefix=prefix))
        app = App(load_settings(config, {"INBOX_DATABASE_URL": url}))
        upgrade(app.engine)
        stack.callback(app.close)
        yield app
