"""Reading the store with the plain driver (sqlite3 or psycopg), without SQLAlchemy.

`inbox sla` is a command people run in a loop or from a status bar, and its target is
300 ms as a whole process. On this project's machines loading SQLAlchemy and SQLModel
alone costs 0.3 s, so the listings that must start fast read through this module
instead. It only reads; everything that writes goes through SQLAlchemy (inbox.db,
inbox.store.batch), and the tests pin what is read here to what the ORM wrote.

SQL given to `Reader.rows` uses `?` placeholders on both databases.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, unquote

from inbox.core.errors import Unavailable
from inbox.store.migrations import SchemaError, schema_problem

# How SQLAlchemy stores a DateTime in SQLite: text that sorts like the time it names.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


class ReadError(Unavailable):
    """The database could not be read: unreachable, locked, not a database."""


class _Cursor(Protocol):
    def execute(self, sql: Any, params: Sequence[Any] = ...) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Reader:
    """A read-only connection and the two things that differ between the databases:
    the placeholder style and how a time is stored."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn, self.dialect = conn, dialect

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.dialect == "postgresql":
            sql = sql.replace("?", "%s")
        try:
            cur: _Cursor = self.conn.cursor()
            cur.execute(sql, params)
            return [tuple(r) for r in cur.fetchall()]
        except Exception as exc:  # the driver's own error classes differ; say it in one line
            raise ReadError(f"database error: {_first_line(exc)}") from exc

    def to_db(self, at: datetime) -> Any:
        """A time as the store keeps it: naive UTC (text on SQLite)."""
        naive = at.astimezone(UTC).replace(tzinfo=None)
        return naive.strftime(_SQLITE_TIME) if self.dialect == "sqlite" else naive

    @staticmethod
    def from_db(value: Any) -> datetime | None:
        if value is None:
            return None
        at = datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(at, datetime)
        return at.replace(tzinfo=UTC)

    def check_schema(self) -> None:
        """Refuse to read a database this version does not understand (as inbox.db)."""
        table = ("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?"
                 if self.dialect == "sqlite" else "SELECT to_regclass(?)::text")
        found = self.rows(table, ("alembic_version",))
        current = None
        if found and found[0][0]:
            current = self.rows("SELECT version_num FROM alembic_version")[0][0]
        problem = schema_problem(current)
        if problem:
            raise SchemaError(problem)


@contextmanager
def reading(url: str) -> Iterator[Reader]:
    """A Reader on the database at `url` (the SQLAlchemy URL of `database_url`)."""
    reader = _connect(url)
    try:
        yield reader
    finally:
        reader.conn.close()


def _connect(url: str) -> Reader:
    scheme, _, rest = url.partition("://")
    dialect = scheme.split("+")[0]
    if dialect == "sqlite":
        return Reader(_sqlite(sqlite_path(url)), "sqlite")
    if dialect in ("postgresql", "postgres"):
        return Reader(_postgres("postgresql://" + rest), "postgresql")
    raise ReadError(f"database_url: unsupported database {scheme!r}")


def sqlite_path(url: str) -> str:
    """The file of `sqlite:///relative.db` or `sqlite:////abs/path.db`, as SQLAlchemy
    reads it. In-memory databases cannot be read by another process."""
    rest = url.partition("://")[2]
    path, _, query = rest.removeprefix("/").partition("?")
    if not path or path == ":memory:" or "mode=memory" in query:
        raise ReadError("an in-memory database cannot be read by another command")
    return unquote(path)


def _sqlite(path: str) -> sqlite3.Connection:
    try:
        # mode=rw: a missing file is an error here, not a new empty database.
        conn = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=30)
        conn.execute("PRAGMA query_only = 1")
    except sqlite3.Error as exc:
        if "unable to open" in str(exc):
            raise SchemaError(f"no database at {path}: run `inbox db upgrade`") from None
        raise ReadError(f"database error: {_first_line(exc)}") from exc
    return conn


def _postgres(conninfo: str) -> Any:
    import psycopg  # only PostgreSQL deployments pay for loading it

    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise ReadError(f"database error: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
