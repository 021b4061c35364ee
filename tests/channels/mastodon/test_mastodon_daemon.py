"""A real `inbox run` against the local Mastodon server: a mention shows in `inbox queue`,
is acknowledged in its thread, an agent's `inbox reply` lands there mentioning the
customer, a direct mention is answered directly, and a restart repeats nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from inbox.runtime.app import App
from tests.channels.mastodon.server import (
    TOKEN,
    TOKEN_ENV,
    MastodonServer,
    configure,
    options,
)
from tests.cli.test_cli import inbox, inbox_json

START_SECONDS = 20.0
NOTIFICATIONS = "GET /api/v1/notifications"
Start = Callable[[], Awaitable[asyncio.subprocess.Process]]


@pytest.fixture
async def started(app: App, mastodon: MastodonServer,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    deployment = app.settings.base_dir  # migrated by the `app` fixture
    made: list[asyncio.subprocess.Process] = []
    log = (deployment / "daemon.log").open("ab")  # what the daemon said, if a test fails

    async def start() -> asyncio.subprocess.Process:
        polls = sum(r.startswith(NOTIFICATIONS) for r in mastodon.requests)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "inbox", "run", cwd=deployment,
            stdout=asyncio.subprocess.DEVNULL, stderr=log,
            env={**os.environ, "INBOX_CONFIG": str(deployment / "inbox.toml")})
        made.append(proc)
        # Reading mentions: the first start has set its cursor once this is answered.
        await mastodon.asked(NOTIFICATIONS, polls + 2, START_SECONDS)
        return proc

    yield start
    for proc in made:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_inbox_run_answers_mentions_in_their_threads_and_restarts_cleanly(
        app: App, mastodon: MastodonServer, started: Start) -> None:
    deployment = app.settings.base_dir
    us = mastodon.account("support", "Acme Support", token=TOKEN)
    ana = mastodon.account("ana", "Ana", host="elsewhere.test")
    configure(deployment, mastodon, agents={"kim": {"email": "kim@helpdesk.test"}})
    daemon = await started()

    question = mastodon.mention(ana, us, "Is the shop open on Sunday?")
    [ack] = await mastodon.posts(1)
    assert (ack.in_reply_to_id, ack.visibility) == (question["id"], "public")
    [conv] = await asyncio.to_thread(inbox_json, "queue")
    assert conv["channel"] == "mastodon" and conv["contact"]["address"] == "ana@elsewhere.test"

    await asyncio.to_thread(inbox, "reply", str(conv["id"]), "-m", "Yes, 10 to 16.",
                            "--as", "kim")
    reply = (await mastodon.posts(2))[1]
    assert reply.text == "@ana@elsewhere.test Yes, 10 to 16."
    assert (reply.in_reply_to_id, reply.visibility) == (question["id"], "public")

    secret = mastodon.mention(ana, us, "My order number is 555", visibility="direct")
    private_ack = (await mastodon.posts(3))[2]
    assert (private_ack.in_reply_to_id, private_ack.visibility) == (secret["id"], "direct")

    daemon.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(daemon.wait(), START_SECONDS) == 0
    await started()
    mastodon.mention(ana, us, "One more thing", in_reply_to=reply.status)
    mentions = sum(r.startswith(NOTIFICATIONS) for r in mastodon.requests)
    await mastodon.asked(NOTIFICATIONS, mentions + 2)  # `late` was read and committed
    queue = await asyncio.to_thread(inbox_json, "queue")
    assert len(queue) == 2  # the thread and the direct message
    shown = await asyncio.to_thread(inbox_json, "show", str(conv["id"]))
    texts = [m["text"] for m in shown["messages"]]
    assert texts.count("Is the shop open on Sunday?") == 1 and "One more thing" in texts
    assert len(mastodon.posted) == 3  # nothing acknowledged or answered twice


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_daemon_killed_mid_fetch_neither_loses_nor_repeats_a_mention(
        app: App, mastodon: MastodonServer, started: Start) -> None:
    us = mastodon.account("support", "Acme Support", token=TOKEN)
    ana = mastodon.account("ana", "Ana", host="elsewhere.test")
    bob = mastodon.account("bob", "Bob")
    configure(app.settings.base_dir, mastodon)
    daemon = await started()
    # Ana answers Bob's post and mentions us: reading it asks for the thread's root, and
    # the daemon is killed while that answer is on its way.
    post = mastodon.mention(bob, mastodon.account("news", "News"), "Our new shop is open")
    reached, release = mastodon.hold("GET /api/v1/statuses/")
    question = mastodon.mention(ana, us, "Is it open on Sunday?", in_reply_to=post)
    await asyncio.wait_for(reached.wait(), START_SECONDS)
    daemon.kill()
    await daemon.wait()
    release.set()

    await started()
    [ack] = await mastodon.posts(1)
    assert ack.in_reply_to_id == question["id"]
    polls = sum(r.startswith(NOTIFICATIONS) for r in mastodon.requests)
    await mastodon.asked(NOTIFICATIONS, polls + 2)  # and a few more reads: still one
    [conv] = await asyncio.to_thread(inbox_json, "queue")
    shown = await asyncio.to_thread(inbox_json, "show", str(conv["id"]))
    assert [m["text"] for m in shown["messages"] if m["direction"] == "in"] == [
        "Is it open on Sunday?"]
    assert len(mastodon.posted) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_inbox_run_streams_mentions_edits_and_deletions(
        app: App, mastodon: MastodonServer, started: Start) -> None:
    us = mastodon.account("support", "Acme Support", token=TOKEN)
    ana = mastodon.account("ana", "Ana", host="elsewhere.test")
    configure(app.settings.base_dir, mastodon,
              {"support": options(mastodon, poll_seconds=3600)})  # only the stream is quick
    await started()
    await mastodon.stream_count("support", 1, START_SECONDS)
    question = mastodon.mention(ana, us, "Is the shop open on Sunday?")
    [ack] = await mastodon.posts(1)  # acknowledged without waiting an hour
    assert ack.in_reply_to_id == question["id"]
    [conv] = await asyncio.to_thread(inbox_json, "queue")

    async def shown() -> dict[str, Any]:
        found: dict[str, Any] = await asyncio.to_thread(inbox_json, "show", str(conv["id"]))
        return next(m for m in found["messages"] if m["direction"] == "in")

    mastodon.edit(question, "Is the shop open on Saturday?")
    async with asyncio.timeout(START_SECONDS):  # `inbox show` reads what was committed
        while (await shown())["text"] != "Is the shop open on Saturday?":
            await mastodon.asked(NOTIFICATIONS, _polls(mastodon) + 1)
    mastodon.delete(question)
    async with asyncio.timeout(START_SECONDS):
        while not (await shown())["problems"]:
            await mastodon.asked(NOTIFICATIONS, _polls(mastodon) + 1)
    message = await shown()
    assert message["problems"] == ["deleted by its author on Mastodon"]
    assert message["text"] == "Is the shop open on Saturday?"
    assert len(mastodon.posted) == 1  # neither the edit nor the deletion was answered


def _polls(server: MastodonServer) -> int:
    return sum(r.startswith(NOTIFICATIONS) for r in server.requests)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_inbox_reply_refuses_what_the_instance_would_not_take(
        app: App, mastodon: MastodonServer, started: Start) -> None:
    mastodon.max_characters = 200  # a small instance: 168 left after the mention
    us = mastodon.account("support", "Acme Support", token=TOKEN)
    ana = mastodon.account("ana", "Ana", host="elsewhere.test")
    configure(app.settings.base_dir, mastodon, agents={"kim": {"email": "kim@helpdesk.test"}})
    await started()
    mastodon.mention(ana, us, "Hi?")
    await mastodon.posts(1)
    [conv] = await asyncio.to_thread(inbox_json, "queue")

    long = "Zażółć gęślą jaźń " * 10  # 179 characters (code points) when trimmed
    refused = await asyncio.to_thread(inbox, "reply", str(conv["id"]), "-m", long,
                                      "--as", "kim", ok=False)
    assert refused.exit_code == 2
    assert "the reply is 179 characters long; mastodon takes at most 168" in refused.output
    fits = "Zażółć gęślą jaźń " * 9
    await asyncio.to_thread(inbox, "reply", str(conv["id"]), "-m", fits, "--as", "kim")
    assert (await mastodon.posts(2))[1].text == f"@ana@elsewhere.test {fits.strip()}"
    assert len(mastodon.posted) == 2  # the long one was never queued
