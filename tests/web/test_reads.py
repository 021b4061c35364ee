"""Pages read while the daemon writes: an agent's screen never waits behind an ingest
batch or a send being recorded (SQLite's WAL lets readers in beside one writer, if the
page does not ask for the write lock itself)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.runtime.app import App
from inbox.store.db import make_engine
from inbox.store.models import AgentSession
from tests.peers import WAIT
from tests.web.desk_helpers import agent_client, ingest, mail


@contextmanager
def writing(app: App) -> Iterator[None]:
    """Another process's write transaction, open (and holding SQLite's write lock)."""
    other = make_engine(app.settings.database_url)
    try:
        with other.connect() as conn:
            conn.begin()
            conn.execute(sa.text("UPDATE conversation SET subject = 'being changed'"))
            yield
            conn.rollback()
    finally:
        other.dispose()


def test_pages_answer_while_another_process_holds_a_write(app: App) -> None:
    desk = agent_client(app, "ana")
    ingest(app, mail(1, subject="Where is parcel 7?"))
    with writing(app), ThreadPoolExecutor(max_workers=1) as pool:
        for url in ("/", "/c/1", "/queue/rows"):
            page = pool.submit(desk.get, url).result(timeout=WAIT)
            assert page.status_code == 200, url
            assert "Where is parcel 7?" in page.text and "being changed" not in page.text


def test_a_page_still_notes_the_agents_activity_about_once_a_minute(app: App) -> None:
    desk = agent_client(app, "ana")
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    with Session(app.engine) as s, s.begin():
        s.execute(sa.update(AgentSession).values(last_seen_at=long_ago))
    assert desk.get("/").status_code == 200
    with Session(app.engine) as s:
        [seen] = s.scalars(sa.select(col(AgentSession.last_seen_at))).all()
    assert seen > long_ago + timedelta(minutes=4)  # noted: the idle timeout starts again
