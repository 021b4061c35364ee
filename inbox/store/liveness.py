"""Which daemons are alive: an instance id per running daemon, and a way to ask.

Outbox rows a daemon claims carry its instance id (`claimed_by`). When that daemon dies
mid-send, its claims should go at once rather than after their lease, and only a daemon
that is known dead may lose them. Liveness is something the operating system or the
database already keeps for us, so we ask them instead of keeping heartbeats:

- SQLite: one daemon per database. The daemon holds an exclusive `flock` on a lock file
  beside the database for its lifetime (the kernel drops it when the process dies, even
  by SIGKILL); a second daemon refuses to start, naming the file and the holder's pid.
  So, while we hold it, every other claimer is dead.
- PostgreSQL: the daemon holds a session-level advisory lock, keyed by its instance id,
  on a connection kept open for its lifetime; PostgreSQL drops it when the session ends.
  A claimer whose lock another session can take is dead. Several daemons may share one
  database this way.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from inbox.core.errors import Conflict


class AlreadyRunning(Conflict):
    """Another daemon runs on this database, and only one may (SQLite)."""


class Liveness(Protocol):
    id: str

    def dead(self, owners: Collection[str | None]) -> set[str | None]:
        """Those of `owners` (instance ids; None: a claim from before ids) known dead."""
        ...

    def close(self) -> None: ...


def new_instance_id() -> str:
    return uuid.uuid4().hex


def acquire(engine: Engine, instance_id: str | None = None) -> Liveness:
    """Start being alive on `engine`'s database (AlreadyRunning when we may not)."""
    instance = instance_id or new_instance_id()
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, instance)
    database = engine.url.database
    if not database or database == ":memory:":  # nobody else can open it
        return Alone(instance)
    return FileLock(lock_path(Path(database)), instance)


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class Alone:
    """A database only this process can see: every other claimer is dead."""

    def __init__(self, instance: str) -> None:
        self.id = instance

    def dead(self, owners: Collection[str | None]) -> set[str | None]:
        return {o for o in owners if o != self.id}

    def close(self) -> None:
        pass


class FileLock(Alone):
    """The one daemon of a SQLite database, for as long as this process holds `path`."""

    def __init__(self, path: Path, instance: str) -> None:
        super().__init__(instance)
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(f"another daemon (pid {holder}) is running on this "
                                 f"database: it holds {path}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd: int | None = fd

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the flock; the file stays for the next daemon
            self.fd = None


def advisory_key(instance: str) -> int:
    """The 64-bit advisory lock key of an instance id (namespaced by a prefix)."""
    digest = hashlib.sha256(b"inbox-daemon:" + instance.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_TRY = sa.text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = sa.text("SELECT pg_advisory_unlock(:key)")


class AdvisoryLock:
    """A PostgreSQL session holding our instance's advisory lock while we live."""

    def __init__(self, engine: Engine, instance: str) -> None:
        self.id, self.engine = instance, engine
        self.conn: Connection | None = None
        self._lock()

    def _lock(self) -> None:
        self.close()
        self.conn = self.engine.connect()
        with self.conn.begin():
            taken = self.conn.execute(_TRY, {"key": advisory_key(self.id)}).scalar()
        if not taken:  # a fresh random id: only a colliding hash could get here
            self.close()
            raise AlreadyRunning(f"daemon instance {self.id} is already running")

    def dead(self, owners: Collection[str | None]) -> set[str | None]:
        try:
            return self._dead(owners)
        except sa.exc.DBAPIError:
            # Our session is gone (a database restart): so is our lock, and others may
            # have taken our claims over. Hold it again; judge nobody this round.
            self._lock()
            return set()

    def _dead(self, owners: Collection[str | None]) -> set[str | None]:
        assert self.conn is not None, "liveness asked after close"
        found: set[str | None] = set()
        with self.conn.begin():
            for owner in owners:
                if owner is None or owner == self.id:
                    continue  # a claim without an id waits for its lease
                key = advisory_key(owner)
                if self.conn.execute(_TRY, {"key": key}).scalar():
                    self.conn.execute(_UNLOCK, {"key": key})
                    found.add(owner)
        return found

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # closing a broken session frees it too
                # Invalidated, not returned to the pool: the session must end for the
                # lock to go.
                self.conn.invalidate()
                self.conn.close()
            self.conn = None
