"""The live feed: changes reach open screens after their commit, whoever made them."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from functools import partial

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from inbox.desk import actions
from inbox.runtime.app import App
from inbox.store import changes
from inbox.store.models import Event
from inbox.store.rawdb import reading
from inbox.web.events import Change, PollingFeed, Subscription
from tests.peers import WAIT
from tests.web.desk_helpers import in_own_loop, ingest, mail


async def changed(sub: Subscription, conversation: int) -> Change:
    """The first change that touches `conversation` (fails after WAIT seconds)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        change = await sub.next(deadline - time.monotonic())
        if change is not None and conversation in change.conversations:
            return change
    pytest.fail(f"no change of conversation {conversation} within {WAIT}s")


def note(app: App, conv_id: int, text: str) -> None:
    with Session(app.engine) as s, s.begin():
        actions.note(s, conv_id, text, author="ana", now=datetime.now(UTC))


def test_a_commit_in_another_connection_reaches_every_open_screen(app: App) -> None:
    ingest(app, mail(1), mail(2, sender="bo@example.com"))
    in_own_loop(two_screens(app))


async def two_screens(app: App) -> None:
    feed = PollingFeed(partial(reading, app.settings.resolved_database_url), interval=0.01)
    async with feed.subscribe() as queue, feed.subscribe() as screen:
        await asyncio.wait_for(feed.watching.wait(), WAIT)
        await asyncio.to_thread(note, app, 2, "a note")  # as `inbox` in a shell would
        assert (await changed(queue, 2)).touches(None)
        assert (await changed(screen, 2)).touches(2)
        await asyncio.to_thread(ingest, app, mail(3, sender="cy@example.com"))
        found = await changed(queue, 3)
        assert not found.touches(1)
    assert feed.task is None  # nobody listens: nobody looks
    await feed.close()


def test_nothing_is_pushed_before_the_commit(app: App) -> None:
    ingest(app, mail(1))
    with reading(app.settings.resolved_database_url) as reader:
        seen = changes.start(reader)
        with Session(app.engine) as s, s.begin():
            actions.note(s, 1, "not yet", author="ana", now=datetime.now(UTC))
            s.flush()
            assert changes.changed(reader, seen, time.monotonic()) == set()
        assert changes.changed(reader, seen, time.monotonic()) == {1}


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_id_that_commits_after_a_higher_one_is_still_seen(app: App) -> None:
    """PostgreSQL hands out ids at insert: 10 may commit after 11."""
    ingest(app, mail(1), mail(2, sender="bo@example.com"))
    now = datetime.now(UTC)
    with reading(app.settings.resolved_database_url) as reader:
        seen = changes.start(reader)
        with Session(app.engine) as slow:
            slow.begin()
            slow.add(Event(conversation_id=1, kind="test", created_at=now))
            slow.flush()  # takes the lower id, commits later
            with Session(app.engine) as fast, fast.begin():
                fast.add(Event(conversation_id=2, kind="test", created_at=now))
            assert changes.changed(reader, seen, time.monotonic()) == {2}
            slow.commit()
        assert changes.changed(reader, seen, time.monotonic()) == {1}
        assert changes.changed(reader, seen, time.monotonic()) == set()
        assert seen.gaps["event"] == {}
    with Session(app.engine) as s:
        assert (s.scalar(sa.select(sa.func.count()).select_from(Event)) or 0) > 2


def test_a_closed_feed_ends_every_stream(app: App) -> None:
    in_own_loop(closing(app))


async def closing(app: App) -> None:
    feed = PollingFeed(partial(reading, app.settings.resolved_database_url), interval=0.01)
    async with feed.subscribe() as sub:
        await feed.close()
        assert await sub.next(WAIT) is None and sub.closed


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_api_stream_waits_for_an_id_that_commits_after_a_higher_one(app: App) -> None:
    """A client resuming from a position must not have missed a row that committed
    after it: the stream gives id 11 only once 10 is in, or HOLD_SECONDS passed."""
    ingest(app, mail(1), mail(2, sender="bo@example.com"))
    now = datetime.now(UTC)
    with reading(app.settings.resolved_database_url) as reader:
        at = changes.position_now(reader)
        with Session(app.engine) as slow:
            slow.begin()
            slow.add(Event(conversation_id=1, kind="slow", created_at=now))
            slow.flush()  # takes the lower id, commits later
            with Session(app.engine) as fast, fast.begin():
                fast.add(Event(conversation_id=2, kind="fast", created_at=now))
            start = time.monotonic()
            assert changes.new_rows(reader, at, start) == []
            slow.commit()
        given = changes.new_rows(reader, at, start + 1)
        assert [r.kind for r in given] == ["slow", "fast"]
        resumed = changes.Position.parse(at.text())
        assert resumed is not None and changes.new_rows(reader, resumed, start + 2) == []
        with Session(app.engine) as gone:  # a rolled-back id holds back only a while
            gone.begin()
            gone.add(Event(conversation_id=1, kind="rolled back", created_at=now))
            gone.flush()
            gone.rollback()
        with Session(app.engine) as s, s.begin():
            s.add(Event(conversation_id=2, kind="after", created_at=now))
        assert changes.new_rows(reader, at, start + 3) == []
        later = start + 3 + changes.HOLD_SECONDS
        assert [r.kind for r in changes.new_rows(reader, at, later)] == ["after"]
