"""The schema: migrations match the models, and the code knows its head revision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from bench.common import pg_database
from inbox.core.config import load_settings
from inbox.runtime.app import App
from inbox.runtime.deployment import init_deployment
from inbox.store import batch as store
from inbox.store.db import MIGRATIONS, head_revision, upgrade
from inbox.store.search import is_search_object
from tests.conftest import PG_ADMIN
from tests.ingest.test_pipeline import NOW, mail, run


def test_head_revision_constant_is_the_newest_migration() -> None:
    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == head_revision()


def _not_search(obj: object, name: str | None, kind: str, reflected: bool,
                compare_to: object) -> bool:
    """The search index is no model (an FTS5 table and its shadow tables on SQLite, GIN
    indexes on an expression on PostgreSQL): 0005 makes it, tests/desk/test_search.py
    tests it; everything else must match the models."""
    return not is_search_object(name)


def test_migrated_database_matches_the_models(app: App) -> None:
    with app.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _not_search})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, to migrate step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    with pg_database(PG_ADMIN, prefix="inbox_test_mig") as url:
        yield url


def test_upgrading_to_0002_lets_stored_replies_be_found_backwards(empty_url: str,
                                                                   tmp_path: Path) -> None:
    """A store made before 0002 holds a customer's follow-up whose first mail is still on
    its way; after the upgrade, the first mail joins the follow-up's conversation."""
    config = init_deployment(tmp_path / "desk")
    app = App(load_settings(config, {"INBOX_DATABASE_URL": empty_url}))
    upgrade(app.engine, to="0001")
    with app.engine.begin() as conn:  # as 0001's code stored it: its tables, not today's
        old = tables_as_stored(conn)
        contact_id = insert_old(conn, old["contact"], name="Anna", tags=[], vip=False,
                                created_at=NAIVE_NOW)
        conv_id = insert_old_conversation(conn, old, contact_id, "Re: Order")
        insert_old(conn, old["message"], conversation_id=conv_id, channel="email",
                   account="support", external_id="second@example.com", direction="in",
                   kind="customer", sender="anna@example.com", sender_name="Anna",
                   recipients=[], subject="Re: Order", text="Did you get it?",
                   references=["first@example.com", "first@example.com"], headers={},
                   problems=[], delivery="none", created_at=NAIVE_NOW)
    before, after = upgrade(app.engine)
    assert (before, after) == ("0001", head_revision())
    [first] = run(app, mail("first@example.com"))
    assert first.conversation_id == conv_id
    app.close()


NAIVE_NOW = NOW.replace(tzinfo=None)


def tables_as_stored(conn: sa.Connection) -> dict[str, sa.Table]:
    """The tables as an earlier revision made them: what its code wrote into. Today's
    models would write columns that revision does not have yet."""
    return {name: sa.Table(name, sa.MetaData(), autoload_with=conn)
            for name in ("contact", "identity", "conversation", "message")}


def insert_old(conn: sa.Connection, table: sa.Table, **values: object) -> int:
    return int(conn.execute(table.insert().returning(table.c.id), values).scalar_one())


def insert_old_conversation(conn: sa.Connection, old: dict[str, sa.Table], contact_id: int,
                            subject: str) -> int:
    return insert_old(conn, old["conversation"], channel="email", account="support",
                      contact_id=contact_id, subject=subject, status="open",
                      priority="normal", tags=[], attributes={}, sla_policy="default",
                      acked=False, created_at=NAIVE_NOW, updated_at=NAIVE_NOW)


def test_upgrading_to_0004_keeps_the_agents_and_teams_of_0003(empty_url: str,
                                                              tmp_path: Path) -> None:
    """Agents of 0003 (a name, an e-mail, one team, active or not) become records: the
    same names and teams, e-mails lowercased, an inactive agent disabled (still skipped
    by round-robin), nobody with a password; new records get new ids."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from inbox.store.models import Agent, Team, TeamMember

    config = init_deployment(tmp_path / "desk")
    app = App(load_settings(config, {"INBOX_DATABASE_URL": empty_url}))
    upgrade(app.engine, to="0003")
    with app.engine.begin() as conn:  # as 0003's schema held them
        conn.execute(sa.text("INSERT INTO team (name) VALUES ('billing')"))
        conn.execute(sa.text("INSERT INTO agent (name, email, team, active) VALUES "
                             "('ana', 'Ana@Shop.example', 'billing', true), "
                             "('ben', NULL, 'billing', false), ('kim', NULL, NULL, true)"))
    upgrade(app.engine)
    with Session(app.engine) as s:
        agents = {a.name: a for a in s.scalars(sa.select(Agent))}
        [team] = s.scalars(sa.select(Team)).all()
        members = s.scalars(sa.select(TeamMember.agent_id).where(
            TeamMember.team_id == team.id).order_by(TeamMember.position)).all()
    assert agents["ana"].email == "ana@shop.example" and agents["ben"].email is None
    assert [agents[n].enabled for n in ("ana", "ben", "kim")] == [True, False, True]
    assert {a.password_hash for a in agents.values()} == {None}
    assert (team.name, members) == ("billing", [agents["ana"].id, agents["ben"].id])
    with app.engine.begin() as conn:
        assert store.pick_agent(conn, "round-robin", "billing", ("ana", "ben"), NOW) == "ana"
    with Session(app.engine) as s, s.begin():
        s.add(Agent(name="lee", email="lee@shop.example", created_at=NOW))
        s.add(Team(name="sales", created_at=NOW))
    app.close()
