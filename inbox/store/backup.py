"""`inbox db backup FILE`: a consistent copy of a SQLite database, while the daemon runs.

SQLite's online backup API (`sqlite3.Connection.backup`) copies the database as one read
transaction sees it. The copy is taken in a single step, so it is one snapshot: every
transaction committed before it began and nothing after, even while the daemon writes
(in WAL mode a reader never blocks a writer, nor a writer a reader). A plain `cp` of
`inbox.db` is not a backup: the newest commits may still be in `inbox.db-wal`, and a
copy taken during a checkpoint can be torn.

The copy is written beside FILE, checked (`PRAGMA quick_check`) and only then renamed
over FILE, so FILE is never half a database, and it is readable by its owner only (it
holds every customer's messages). It is a single file in rollback-journal mode: to
restore, stop the daemon and copy it to the database's path (docs/deploy.md).
PostgreSQL has pg_dump for this.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from inbox.store.rawdb import sqlite_path


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    conversations: int
    revision: str | None


def backup_sqlite(url: str, target: Path) -> Backup:
    """Copy the SQLite database at `url` to `target`; OSError when it cannot be done."""
    source_path = sqlite_path(url)
    if not Path(source_path).is_file():
        raise OSError(f"no database at {source_path}")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        _copy(source_path, partial)
        done = _describe(partial)
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise OSError(f"backup of {source_path} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return Backup(target, target.stat().st_size, done.conversations, done.revision)


def _copy(source_path: str, partial: Path) -> None:
    # mode=rw: a read-only connection cannot open a WAL database whose -shm file is
    # gone (no daemon running); query_only keeps it a reader. timeout: a checkpoint or
    # a migration may hold the file briefly.
    source = sqlite3.connect(f"file:{quote(source_path)}?mode=rw", uri=True, timeout=30)
    try:
        source.execute("PRAGMA query_only = 1")
        with contextlib.closing(sqlite3.connect(partial)) as copy:
            source.backup(copy, pages=-1)  # one step: one snapshot (steps may restart)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            problems = [r[0] for r in copy.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("the copy fails its check: "
                                            + "; ".join(problems[:3]))
    finally:
        source.close()


def _describe(path: Path) -> Backup:
    """What the copy holds, read from the copy itself: proof that it opens and reads."""
    with contextlib.closing(sqlite3.connect(f"file:{quote(str(path))}?mode=ro",
                                            uri=True)) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        count = db.execute("SELECT count(*) FROM conversation").fetchone()[0] \
            if "conversation" in tables else 0
        revision = db.execute("SELECT version_num FROM alembic_version").fetchone()[0] \
            if "alembic_version" in tables else None
    return Backup(path, 0, count, revision)
