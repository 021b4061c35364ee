"""A real `inbox run` with a Bluesky account on the dev network: a mention is in the
queue and acknowledged in its thread, an agent's reply lands there too, and a restarted
daemon repeats nothing, also after a `kill -9` while it fetches or posts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from atproto import models
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from inbox.cli.main import cli
from inbox.runtime.app import App
from inbox.store.models import Message, Outbox
from tests.channels.bluesky.devnet import Account, Devnet, Post
from tests.channels.bluesky.proxy import proxy
from tests.peers import merged, toml

START_SECONDS = 30.0  # a cold `inbox run` imports a lot, then signs in
# The dev AppView writes notifications some seconds after it indexed a post, more on a
# busy machine.
NOTIFIED_SECONDS = 60.0


def configure(deployment: Path, shop: Account, **account: Any) -> None:
    path = deployment / "inbox.toml"
    data = merged(tomllib.loads(path.read_text()), {
        "name": "Acme", "outbox": {"backoff_base_seconds": 0.05, "poll_seconds": 0.05},
        "agents": {"kim": {"email": "kim@shop.example"}}})
    data["channels"] = {"bluesky": {"shop": {
        "service": account.pop("service"), "handle": shop.handle,
        "app_password_env": "SHOP_BSKY_PASSWORD", "poll_seconds": 0.5, **account}}}
    path.write_text(toml(data))


async def inbox_run(deployment: Path) -> asyncio.subprocess.Process:
    with (deployment / "daemon.log").open("ab") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "inbox", "run", cwd=deployment, stdout=log, stderr=log,
            env={**os.environ, "INBOX_CONFIG": str(deployment / "inbox.toml")})


async def stop(daemon: asyncio.subprocess.Process) -> None:
    daemon.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(daemon.wait(), START_SECONDS) == 0


async def kill(daemon: asyncio.subprocess.Process) -> None:
    daemon.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(daemon.wait(), START_SECONDS) == -signal.SIGKILL


async def recorded(condition: Callable[[], bool]) -> None:
    """Poll the database until `condition` holds (the daemon is another process)."""
    async with asyncio.timeout(NOTIFIED_SECONDS):
        while not condition():
            await asyncio.sleep(0.01)


def inbox(*args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rows(app: App, model: type) -> list[Any]:
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(model)).all())


async def replies(bluesky: Devnet, reader: Account, post: Any, n: int) -> list[Any]:
    found = await asyncio.to_thread(bluesky.thread, reader, post, n, NOTIFIED_SECONDS)
    assert len(found) == n, f"{len(found)} replies under {post.uri}, not {n}"
    return found


async def test_a_mention_is_acknowledged_and_answered_in_its_thread_once(
        bluesky: Devnet, app: App, deployment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shop, alice = bluesky.account("shop"), bluesky.account("alice")
    monkeypatch.setenv("SHOP_BSKY_PASSWORD", bluesky.app_password(shop))
    configure(deployment, shop, service=bluesky.pds)
    root = bluesky.post(alice, f"@{shop.handle} where is my parcel?", mention=shop)

    daemon = await inbox_run(deployment)
    [ack] = await replies(bluesky, alice, root, 1)
    [row] = inbox("queue")
    inbox("reply", str(row["id"]), "-m", "It ships today.", "--as", "kim")
    ack_then_reply = await replies(bluesky, alice, root, 2)
    await stop(daemon)

    assert ack.author.did == shop.did and "reference" not in ack.record.text.lower()
    assert ack.record.text.startswith(f"@{alice.handle} ")
    assert sorted(p.record.text for p in ack_then_reply) == sorted(
        [ack.record.text, f"@{alice.handle} It ships today."])
    assert {p.record.reply.parent.uri for p in ack_then_reply} == {root.uri}
    assert (row["channel"], row["contact"]["address"]) == ("bluesky", alice.did)

    # Started again: nothing fetched twice, nothing sent twice; a new mention still works.
    daemon = await inbox_run(deployment)
    bob = bluesky.account("bob")
    second = bluesky.post(bob, f"@{shop.handle} hi!", mention=shop)
    await replies(bluesky, bob, second, 1)
    await stop(daemon)

    assert len(bluesky.thread(alice, root, 2)) == 2
    assert sorted(m.external_id for m in rows(app, Message) if m.direction == "in") \
        == sorted([root.uri, second.uri])
    assert [r.state for r in rows(app, Outbox)] == ["sent"] * 3


async def test_public_ack_off_sends_none_and_the_clock_runs(
        bluesky: Devnet, app: App, deployment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shop, cara = bluesky.account("shop"), bluesky.account("cara")
    monkeypatch.setenv("SHOP_BSKY_PASSWORD", bluesky.app_password(shop))
    configure(deployment, shop, service=bluesky.pds, public_ack=False)
    root = bluesky.post(cara, f"@{shop.handle} quiet please", mention=shop)

    daemon = await inbox_run(deployment)
    async with asyncio.timeout(NOTIFIED_SECONDS):  # the daemon is another process: poll
        while not rows(app, Message):
            await asyncio.sleep(0.01)
    await stop(daemon)

    [row] = inbox("queue")
    assert row["sla"]["due_at"] is not None
    assert rows(app, Outbox) == [] and bluesky.thread(cara, root, 0) == []


def inbound(app: App) -> list[str]:
    return sorted(m.external_id for m in rows(app, Message) if m.direction == "in")


def ours(bluesky: Devnet, shop: Account, threads: list[tuple[Account, Post]]) -> list[int]:
    """How many posts of ours each customer's thread holds, once the AppView has them all."""
    bluesky.settle()
    return [sum(p.author.did == shop.did for p in bluesky.thread(customer, post, 0))
            for customer, post in threads]


async def test_a_daemon_killed_mid_fetch_or_mid_post_stores_and_acks_each_mention_once(
        bluesky: Devnet, app: App, deployment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = bluesky.account("shop")
    monkeypatch.setenv("SHOP_BSKY_PASSWORD", bluesky.app_password(shop))
    # A business that has used the app: an account that never marked anything seen has
    # all but its newest notification shown as read (the AppView's rule), and the
    # daemon's first start takes the unread ones.
    shop.client.app.bsky.notification.update_seen(
        models.AppBskyNotificationUpdateSeen.Data(seen_at=shop.client.get_current_time_iso()))
    customers = [bluesky.account(name) for name in ("ann", "ben", "cy")]
    threads = [(customer, bluesky.post(customer, f"@{shop.handle} order {n} is late",
                                       mention=shop)) for n, customer in enumerate(customers)]
    mentions = sorted(post.uri for _, post in threads)
    bluesky.notified(shop, len(threads))  # one batch: all three are there at the first read

    async with proxy(bluesky.pds) as pds:
        configure(deployment, shop, service=pds.url)
        # 1. Killed while the batch of mentions is being read: nothing is stored.
        fetching = pds.hold("app.bsky.notification.listNotifications")
        daemon = await inbox_run(deployment)
        await asyncio.wait_for(fetching.reached.wait(), START_SECONDS)
        await kill(daemon)
        fetching.release.set()
        assert inbound(app) == [] and rows(app, Outbox) == []

        # 2. Started again, it stores the batch; killed once Bluesky has taken an ack but
        # before the daemon heard so: the network holds a post the outbox did not record.
        posting = pds.hold("com.atproto.repo.createRecord", answered=True)
        daemon = await inbox_run(deployment)
        await asyncio.wait_for(posting.reached.wait(), START_SECONDS)
        await kill(daemon)
        posting.release.set()
        assert inbound(app) == mentions
        unrecorded = sum(await asyncio.to_thread(ours, bluesky, shop, threads)) \
            - sum(r.state == "sent" for r in rows(app, Outbox))
        assert unrecorded == 1

        # 3. Started again: every ack goes out, none twice; nothing is read twice.
        daemon = await inbox_run(deployment)
        await recorded(lambda: [r.state for r in rows(app, Outbox)] == ["sent"] * 3)
        await stop(daemon)

    assert await asyncio.to_thread(ours, bluesky, shop, threads) == [1, 1, 1]
    assert inbound(app) == mentions
