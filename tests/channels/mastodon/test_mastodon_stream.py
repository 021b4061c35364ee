"""The streaming API against the local server, through the unmodified Mastodon.py: a
mention arrives without waiting for the poll interval (an hour here), edits and
deletions come as they happen, a stream that drops loses nothing, and a server without
streaming is polled."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from channels.base import FetchResult, Inbound
from channels.mastodon.connector import MastodonConnector, build
from inbox.runtime.app import TextLimits
from tests.channels.mastodon.server import WAIT, MastodonServer

JSON = dict[str, Any]
TOKEN = "mastodon-test-token"
USER_STREAM = "GET /api/v1/streaming/user"
HOUR = 3600.0  # the poll interval: a test that waited for it would time out


def connector_on(server: MastodonServer, tmp_path: Path, **options: Any) -> MastodonConnector:
    return build("support", {"api_base_url": server.url, "access_token_env": "TOK",
                             "poll_seconds": HOUR, **options},
                 base_dir=tmp_path, env={"TOK": TOKEN},
                 reconnect_delay=lambda failures, after: 0.05 * failures)


@pytest.fixture
async def listening(mastodon: MastodonServer, tmp_path: Path
                    ) -> AsyncIterator[MastodonConnector]:
    mastodon.account("support", "Acme Support", token=TOKEN)
    made = connector_on(mastodon, tmp_path)
    yield made
    await made.close()


async def until(c: MastodonConnector, cursor: str | None,
                done: Callable[[list[Inbound]], bool]) -> FetchResult:
    """Fetch as the daemon does (each fetch may wait) until `done` holds for what came."""
    got: list[Inbound] = []
    async with asyncio.timeout(WAIT):
        while True:
            result = await c.fetch(cursor, wait=25)
            got += result.items
            cursor = result.cursor
            if done(got):
                return FetchResult(got, cursor)


async def test_a_mention_an_edit_and_a_deletion_come_as_they_happen(
        mastodon: MastodonServer, listening: MastodonConnector) -> None:
    us = mastodon.accounts["support"]
    ana = mastodon.account("ana", "Ana", host="elsewhere.test")
    first = await listening.fetch(None, wait=0)
    # A burst (`wait=0`) never opens a stream; a fetch that may wait does.
    assert not any(r.startswith(USER_STREAM) for r in mastodon.requests)
    fetching = asyncio.ensure_future(until(listening, first.cursor, bool))
    await mastodon.stream_count("support", 1)
    status = mastodon.mention(ana, us, "Where is order 1234?")
    got = await fetching
    [item] = got.items
    assert (item.external_id, item.text) == (status["id"], "Where is order 1234?")

    mastodon.edit(status, "Where is order 1243?")
    [edit] = (await until(listening, got.cursor, bool)).items
    assert (edit.edit_of, edit.text, edit.deleted) == (status["id"], "Where is order 1243?",
                                                       False)
    mastodon.delete(status)
    [gone] = (await until(listening, got.cursor, bool)).items
    assert (gone.edit_of, gone.deleted) == (status["id"], True)


async def test_an_edit_of_a_status_not_for_us_is_not_handed_over(
        mastodon: MastodonServer, listening: MastodonConnector) -> None:
    us = mastodon.accounts["support"]
    ana, bob = mastodon.account("ana", "Ana"), mastodon.account("bob", "Bob")
    fetching = asyncio.ensure_future(until(listening, "0", bool))
    await mastodon.stream_count("support", 1)
    elsewhere = mastodon.mention(bob, ana, "Lunch?")  # mentions Ana, not us
    elsewhere["mentions"].append({"id": us["id"], "username": "x", "acct": "support",
                                  "url": ""})
    elsewhere["account"] = us  # ...and is our own post: still not a customer's edit
    mastodon.edit(elsewhere, "Dinner?")
    mastodon.mention(ana, us, "Hello")  # what the fetch then hands over
    assert [i.text for i in (await fetching).items] == ["Hello"]


async def test_a_dropped_stream_comes_back_and_loses_nothing(
        mastodon: MastodonServer, listening: MastodonConnector) -> None:
    us = mastodon.accounts["support"]
    ana = mastodon.account("ana", "Ana", host="elsewhere.test")
    before = mastodon.mention(ana, us, "Before")
    fetching = asyncio.ensure_future(until(listening, "0", lambda got: len(got) == 2))
    await mastodon.stream_count("support", 1)
    # The stream drops; while it is away (its reconnection held) Ana writes: the
    # reconnection itself makes the connector read (no notification will come for it).
    reached, release = mastodon.hold(USER_STREAM)
    mastodon.drop_streams()
    await asyncio.wait_for(reached.wait(), WAIT)
    away = mastodon.mention(ana, us, "While you were away")
    release.set()
    got = await fetching
    assert [i.external_id for i in got.items] == [before["id"], away["id"]]
    await mastodon.stream_count("support", 1)
    after = mastodon.mention(ana, us, "After")
    assert [i.external_id for i in (await until(listening, got.cursor, bool)).items] == [
        after["id"]]


async def test_without_streaming_the_account_is_polled(
        mastodon: MastodonServer, tmp_path: Path) -> None:
    us = mastodon.account("support", "Acme Support", token=TOKEN)
    ana = mastodon.account("ana", "Ana")
    mastodon.streaming = False  # the health check answers 404
    polling = connector_on(mastodon, tmp_path, poll_seconds=0.05)
    off = connector_on(mastodon, tmp_path, poll_seconds=0.05, streaming=False)
    try:
        status = mastodon.mention(ana, us, "Anyone?")
        for c in (polling, off):
            got = await until(c, "0", bool)
            assert [i.external_id for i in got.items] == [status["id"]]
        await mastodon.asked("GET /api/v1/streaming/health")
        assert not any(r.startswith(USER_STREAM) for r in mastodon.requests)
        assert sum(r.startswith("GET /api/v1/streaming/health") for r in mastodon.requests
                   ) == 1  # only the connector configured to stream asked
    finally:
        await polling.close()
        await off.close()


async def test_an_edit_told_by_an_update_notification_is_read_when_polling(
        mastodon: MastodonServer, tmp_path: Path) -> None:
    us = mastodon.account("support", "Acme Support", token=TOKEN)
    ana = mastodon.account("ana", "Ana")
    polling = connector_on(mastodon, tmp_path, poll_seconds=0.05, streaming=False)
    try:
        status = mastodon.mention(ana, us, "Order 1234")
        first = await polling.fetch("0", wait=0)
        mastodon.edit(status, "Order 1243", interacted=us)  # we had boosted it
        [edit] = (await polling.fetch(first.cursor, wait=0)).items
        assert (edit.edit_of, edit.text) == (status["id"], "Order 1243")
    finally:
        await polling.close()


async def test_the_desk_counts_with_the_instance_limit_once_the_connector_started(
        mastodon: MastodonServer, listening: MastodonConnector) -> None:
    mastodon.max_characters = 1000
    limits = TextLimits({("mastodon", "support"): listening})  # as the desk holds them
    assert limits[("mastodon", "support")].max == 500 - 32  # Mastodon's default, unread
    await listening.start()  # the daemon's first step with a connector
    assert limits[("mastodon", "support")].max == 1000 - 32
    assert list(limits) == [("mastodon", "support")]


async def test_an_event_that_cannot_be_read_is_skipped_and_the_stream_goes_on(
        mastodon: MastodonServer, listening: MastodonConnector) -> None:
    us = mastodon.accounts["support"]
    ana = mastodon.account("ana", "Ana")
    fetching = asyncio.ensure_future(until(listening, "0", bool))
    await mastodon.stream_count("support", 1)
    # An "edited status" that mentions us but has no id, content nor author.
    broken = {"mentions": [{"id": us["id"], "acct": "support"}], "edited_at": "yesterday"}
    mastodon._push("support", "status.update", json.dumps(broken))
    status = mastodon.mention(ana, us, "Still there?")
    assert [i.external_id for i in (await fetching).items] == [status["id"]]
    assert sum(r.startswith(USER_STREAM) for r in mastodon.requests) == 1  # never dropped
