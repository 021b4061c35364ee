"""A real `inbox run` with a Bluesky account on the dev network: a mention is in the
queue and acknowledged in its thread, an agent's reply lands there too, and a restarted
daemon repeats nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from inbox.cli.main import cli
from inbox.runtime.app import App
from inbox.store.models import Message, Outbox
from tests.channels.bluesky.devnet import Account, Devnet
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
