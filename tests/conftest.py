"""The suite's fixtures: a fresh deployment on SQLite and on the machine's PostgreSQL, and
the real mail servers.

Every test that takes `app` runs twice, once per database. PostgreSQL tests use a
database created for this test run (and dropped after it), emptied between tests.
The mail peers (a private Dovecot, an aiosmtpd sink, the `desk` deployment wired to
them: tests/peers.py) serve every area, so they are registered here, once. The local
Bot API is the Telegram area's (tests/channels/telegram/conftest.py).

Tests mirror the packages: tests/<package>/ holds the tests of inbox/<package>/ (and
tests/channels/<name>/ those of a channel); what crosses every package (guarantees,
layers, code quality, packaging) stays at this level.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import settings
from sqlmodel import SQLModel

from inbox.core.config import load_settings
from inbox.runtime.app import App
from inbox.runtime.deployment import init_deployment
from inbox.store.db import upgrade

# Property tests explore new examples on a developer's machine; CI replays the same ones
# every run, so that a red run can be reproduced (and a green one is not luck).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

pytest_plugins = ["tests.peers"]

PG_ADMIN = os.environ.get("INBOX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


# Tests that share one expensive peer run in one worker of the suite's pytest-xdist
# processes (`--dist loadgroup`, pyproject.toml): the Bluesky dev network starts once.
# (The browser folder as one group ran its in-process async tests while Playwright's
# loop held the worker's main thread; file by file it does not.)
SHARED_PEERS = {"tests/channels/bluesky/": "bluesky-devnet"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One test file stays in one worker, so its module fixtures (a desk, a daemon, a
    browser) start once; files that share a session peer stay together too."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        path = item.nodeid.split("::", 1)[0]
        group = next((g for prefix, g in SHARED_PEERS.items() if path.startswith(prefix)),
                     path)
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"inbox_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is needed for the tests: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    migrated = App(load_settings(None, {"INBOX_DATABASE_URL": url}))
    upgrade(migrated.engine)
    migrated.engine.dispose()
    yield url
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'inbox.db'}"
    url: str = request.getfixturevalue("pg_url")
    _empty(url)
    return url


def _empty(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture
def deployment(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A deployment made by `inbox init`, pointed at this test's database."""
    from tests.peers import desk_on_any_port  # a plugin (below): imported once pytest has it

    directory = tmp_path / "desk"
    config = init_deployment(directory)
    desk_on_any_port(config)
    monkeypatch.setenv("INBOX_CONFIG", str(config))
    monkeypatch.setenv("INBOX_DATABASE_URL", db_url)
    return directory


@pytest.fixture
def app(deployment: Path) -> Iterator[App]:
    application = App(load_settings(deployment / "inbox.toml"))
    upgrade(application.engine)
    yield application
    application.engine.dispose()
