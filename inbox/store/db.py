"""Engine and session factory for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode so that the daemon writes while `inbox queue` reads; a busy
timeout instead of errors when two processes write at once. PostgreSQL URLs are routed to
psycopg 3. Schema changes go through alembic only: `check_schema` refuses a database that
is behind the code, with a message saying what to run.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from inbox.store import search
from inbox.store.migrations import HEAD_REVISION, SchemaError, schema_problem

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        _take_over_transactions(engine)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode is crash-safe for the process; only a power cut may lose the
    # last commits, never corrupt the database.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
    search.register(dbapi_conn)  # the search index's triggers fold text with it


def _take_over_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, begin transactions, so SAVEPOINTs work as documented."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: two writers queue on the busy timeout
        # instead of one failing later with "database is locked" on upgrade. A reader
        # (`reader`) begins deferred: in WAL mode it reads beside the writer, unblocked.
        read_only = conn.get_execution_options().get(_READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


_READ_ONLY = "inbox_read_only"
_readers: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def reader(engine: Engine) -> Engine:
    """`engine` for transactions that only read: on SQLite they do not take the write
    lock, so a page never waits behind the daemon's writes (PostgreSQL readers never
    wait anyway). A transaction begun here must not write: SQLite would refuse the write
    whenever another one committed since it began."""
    found = _readers.get(engine)
    if found is None:
        found = _readers[engine] = engine.execution_options(**{_READ_ONLY: True})
    return found


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest migration. A constant, so that every command need not load alembic
    (a test keeps it equal to what alembic finds in migrations/versions)."""
    return HEAD_REVISION


def current_revision(engine: Engine) -> str | None:
    """The database's revision, read the way alembic stores it; None for no schema."""
    if not sa.inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, to: str = "head") -> tuple[str | None, str]:
    """Migrate to the newest schema (or to revision `to`); returns (from, to) revisions."""
    before = current_revision(engine)
    from alembic import command  # alembic is needed only to migrate

    command.upgrade(_alembic_config(engine), to)
    return before, head_revision() if to == "head" else to


def check_schema(engine: Engine) -> None:
    problem = schema_problem(current_revision(engine))
    if problem:
        raise SchemaError(problem)
