"""`inbox db backup FILE`: a copy of a live SQLite database that opens, checks and restores."""

from __future__ import annotations

import contextlib
import sqlite3
import stat
from pathlib import Path

import pytest

from inbox.runtime.app import App
from inbox.store.rawdb import sqlite_path
from tests.cli.test_cli import eml, inbox, inbox_json


def ingest(tmp_path: Path, *names: str) -> None:
    mails = [str(eml(tmp_path / "mail", n, sender=f"{n} <{n}@example.com>")) for n in names]
    inbox("ingest", *mails)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_backup_taken_during_a_write_holds_what_was_committed(
        app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest(tmp_path, "anna", "boris")
    path = sqlite_path(app.settings.resolved_database_url)
    with contextlib.closing(sqlite3.connect(path)) as db:
        messages = db.execute("SELECT count(*) FROM message").fetchone()
    # Another writer (the daemon, mid-batch) holds the write lock with work not committed.
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE conversation SET team = 'half-done'")
    writer.execute("DELETE FROM message")
    target = tmp_path / "backups" / "inbox.db"
    target.parent.mkdir()
    try:
        done = inbox("db", "backup", str(target))  # does not wait for the writer
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert "2 conversations" in done.stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # every customer's messages
    assert list(target.parent.iterdir()) == [target]  # no -wal beside it, no leftovers
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert copy.execute("SELECT count(*) FROM message").fetchone() == messages
    assert ("half-done",) not in copy.execute("SELECT team FROM conversation").fetchall()
    copy.close()

    # Restored, it is a working deployment's database.
    monkeypatch.setenv("INBOX_DATABASE_URL", f"sqlite:///{target}")
    assert sorted(c["contact"]["address"] for c in inbox_json("queue")) == [
        "anna@example.com", "boris@example.com"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_new_backup_replaces_the_old_one_only_when_complete(
        app: App, tmp_path: Path) -> None:
    target = tmp_path / "inbox-backup.db"
    ingest(tmp_path, "anna")
    inbox("db", "backup", str(target))
    ingest(tmp_path, "boris")
    assert "2 conversations" in inbox("db", "backup", str(target)).stdout
    missing = inbox("db", "backup", str(tmp_path / "no-such-dir" / "x.db"), ok=False)
    assert missing.exit_code == 1 and "no-such-dir" in missing.stderr


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_on_postgresql_the_command_points_at_pg_dump(app: App, tmp_path: Path) -> None:
    refused = inbox("db", "backup", str(tmp_path / "x.db"), ok=False)
    assert refused.exit_code == 1 and "pg_dump" in refused.stderr
    assert not (tmp_path / "x.db").exists()
