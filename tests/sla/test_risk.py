"""`inbox sla` reads the store with the plain driver (inbox.store.rawdb), not SQLAlchemy, to start
fast. These tests pin what it reads to what the ORM wrote, on both databases: the same
conversations, the same states and due times, the same schema checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.vocab import Status, iso
from inbox.desk import actions
from inbox.runtime.app import App
from inbox.sla import clock as sla
from inbox.sla.risk import at_risk
from inbox.store.migrations import HEAD_REVISION, SchemaError
from inbox.store.models import Conversation
from inbox.store.rawdb import ReadError, reading, sqlite_path
from tests.ingest.test_pipeline import NOW, mail, run
from tests.sla.test_sla import routed

HOUR = timedelta(hours=1)
CLOCKED = tuple(sla.Clocked.__annotations__)  # the fields the clock reads and writes


def store_variety(app: App) -> None:
    """Conversations in every state a clock can be in, written by the pipeline."""
    ago = [30, 26, 23.5, 21, 20, 19.9, 12, 6, 2, 0.5]  # hours since the customer wrote
    for i, h in enumerate(ago):
        team = ("billing", "sales")[i % 2]
        run(app, mail(f"v{i}@x", sender=f"c{i}@example.com", subject=f"S{i}",
                      received_at=NOW - h * HOUR),
            ctx=routed(app, team=team, assignee="kim" if i % 3 == 0 else None), now=NOW)
    urgent = run(app, mail("u@x", sender="u@example.com", received_at=NOW - HOUR),
                 ctx=routed(app, priority="urgent"), now=NOW)[0]
    assert urgent.conversation_id is not None
    with Session(app.engine) as s, s.begin():
        ids = list(s.scalars(sa.select(col(Conversation.id)).order_by(col(Conversation.id))))
        moves: list[tuple[int, Status, datetime | None]] = [
            (ids[1], Status.PENDING, None), (ids[3], Status.SNOOZED, NOW + 2 * HOUR),
            (ids[5], Status.SNOOZED, NOW + 30 * HOUR), (ids[7], Status.RESOLVED, None),
            (ids[8], Status.SNOOZED, NOW + HOUR / 2)]
        for cid, status, until in moves:
            actions.set_status(s, cid, status, now=NOW, by="kim", policies=app.sla,
                               until=until)
        actions.reply(s, ids[2], "Answered.", author="kim", now=NOW, secret=app.secret,
                      domain="x.example")


def expected(app: App, at: datetime, **only: str) -> list[tuple[int, str, str | None]]:
    """What is at risk or breached at `at`, from the ORM's rows and the clock's functions."""
    out = []
    with Session(app.engine) as s:
        for conv in s.scalars(sa.select(Conversation)):
            if any(getattr(conv, k) != v for k, v in only.items()):
                continue
            clock: Any = conv
            if conv.status == Status.SNOOZED and conv.snoozed_until and conv.snoozed_until <= at:
                # the snooze ends before `at`: its clock runs again from the snooze's end
                clock = SimpleNamespace(**{k: getattr(conv, k) for k in CLOCKED})
                clock.status, clock.snoozed_until = Status.OPEN, None
                sla.resume_clock(clock, conv.snoozed_until, app.sla.of(conv))
            elif conv.status != Status.OPEN:
                continue
            state = sla.sla_state(clock, at)
            if state in (sla.SlaState.AT_RISK, sla.SlaState.BREACHED):
                assert conv.id is not None and state is not None
                out.append((conv.id, state.value, iso(clock.sla_due_at)))
    return sorted(out)


def listed(app: App, at: datetime, **only: str) -> list[tuple[int, str, str | None]]:
    with reading(app.settings.resolved_database_url) as db:
        rows = at_risk(db, at, NOW, app.sla, app.secret, **only)  # type: ignore[arg-type]
    return sorted((r["id"], r["state"], r["due_at"]) for r in rows)


def warn_points(app: App) -> list[datetime]:
    with Session(app.engine) as s:
        return sorted(w for w in s.scalars(sa.select(col(Conversation.sla_warn_at))) if w)


def test_at_risk_agrees_with_the_clock_of_every_stored_conversation(app: App) -> None:
    store_variety(app)
    edge = warn_points(app)[3]  # a warning point to the microsecond, and either side of it
    moments = [NOW, NOW + HOUR, NOW + 3 * HOUR, NOW + 12 * HOUR, NOW + 40 * HOUR,
               edge, edge - timedelta(microseconds=1)]
    for at in moments:
        assert listed(app, at) == expected(app, at), at
    assert len(listed(app, NOW + 40 * HOUR)) > len(listed(app, NOW)) > 0
    on_edge = {cid for cid, _, _ in listed(app, edge)} - {
        cid for cid, _, _ in listed(app, edge - timedelta(microseconds=1))}
    assert len(on_edge) == 1  # `at` equal to the warning point is at risk, a µs before not


def test_at_risk_filters_by_team_and_assignee(app: App) -> None:
    store_variety(app)
    at = NOW + 12 * HOUR
    assert listed(app, at, team="billing") == expected(app, at, team="billing") != []
    assert listed(app, at, assignee="kim") == expected(app, at, assignee="kim") != []
    both = listed(app, at, team="sales", assignee="kim")
    assert both == expected(app, at, team="sales", assignee="kim")


def test_times_are_read_back_as_the_orm_wrote_them(app: App) -> None:
    store_variety(app)
    with Session(app.engine) as s:
        written = sorted(w for w in s.scalars(sa.select(col(Conversation.sla_due_at))) if w)
    with reading(app.settings.resolved_database_url) as db:
        read = sorted(t for (v,) in db.rows("SELECT sla_due_at FROM conversation")
                      if (t := db.from_db(v)))
        assert read == written
        # and a time given to a query compares like the stored one, to the microsecond
        [(n,)] = db.rows("SELECT count(*) FROM conversation WHERE sla_due_at <= ?",
                         [db.to_db(written[0])])
        assert n == 1


def test_inbox_sla_does_not_load_sqlalchemy(app: App, deployment: Path) -> None:
    """The command's start-up budget (300 ms) has no room for SQLAlchemy's 0.15 s."""
    run(app, mail("late@x", received_at=datetime.now(NOW.tzinfo) - 23 * HOUR))
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "inbox", "sla", "--json"],
                          capture_output=True, text=True, check=False, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r["state"] for r in json.loads(done.stdout)] == ["at-risk"]
    loaded = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
              if line.startswith("import time:")}
    assert "sqlalchemy" not in loaded and "sqlmodel" not in loaded and "inbox.sla.risk" in loaded


@pytest.mark.parametrize(("damage", "problem"), [
    ("UPDATE alembic_version SET version_num = '0000'", r"at 0000, .* run `inbox db upgrade`"),
    ("DROP TABLE alembic_version", r"no schema yet: run `inbox db upgrade`")])
def test_a_database_at_another_revision_is_refused(app: App, damage: str, problem: str) -> None:
    with app.engine.begin() as conn:
        conn.exec_driver_sql(damage)
    try:
        with reading(app.settings.resolved_database_url) as db, \
                pytest.raises(SchemaError, match=problem):
            db.check_schema()
    finally:  # the PostgreSQL database is shared by the tests of this run
        with app.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) "
                                 "NOT NULL PRIMARY KEY)")
            conn.exec_driver_sql(f"INSERT INTO alembic_version VALUES ('{HEAD_REVISION}')")


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "inbox.db"
    with pytest.raises(SchemaError, match="no database at"), reading(f"sqlite:///{path}"):
        pass
    assert not path.parent.exists()


def test_an_unreachable_postgresql_is_one_line() -> None:
    with pytest.raises(ReadError, match=r"^database error: "), \
            reading("postgresql+psycopg://nobody@127.0.0.1:1/inbox"):
        pass


@pytest.mark.parametrize("url", [
    "sqlite:///inbox.db", "sqlite:////var/lib/inbox/inbox.db", "sqlite:///data/my%20inbox.db",
    "sqlite+pysqlite:////srv/inbox.db"])
def test_sqlite_urls_name_the_file_sqlalchemy_opens(url: str) -> None:
    assert sqlite_path(url) == sa.engine.make_url(url).database


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_cannot_be_read_by_a_command(url: str) -> None:
    with pytest.raises(ReadError, match="in-memory"):
        sqlite_path(url)


def test_the_listing_reads_every_field_the_clock_needs() -> None:
    """risk.Row is the plain-driver copy of a conversation's clock: the fields the clock
    reads (sla.Clocked) are declared there a second time, because mypy cannot make a
    dataclass from a Protocol. This keeps the two lists one: a field added to the clock
    and forgotten in the listing fails here, not in `inbox sla` on a customer's deadline."""
    from dataclasses import fields

    from inbox.sla.risk import Row

    clock = set(sla.Clocked.__annotations__)
    assert clock <= {f.name for f in fields(Row)}
    assert clock <= set(Conversation.model_fields)
