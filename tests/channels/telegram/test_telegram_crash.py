"""`kill -9` of a real `inbox run` while it holds Telegram updates: nothing lost, nothing
twice.

The local Bot API server decides the moment: it holds a file download (the updates are
fetched, nothing is committed yet), or the next getUpdates (the batch is committed, but
Telegram has not been told), and the test kills the daemon there. A daemon started again
must store each customer message exactly once and acknowledge the customer exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from inbox.runtime.app import App
from inbox.store.models import Attachment, Conversation, Message, Outbox
from tests.channels.telegram.bot_api import WAIT, TelegramDesk

START_SECONDS = 20.0  # a cold `inbox run` imports a lot; CI machines can be slow

# The local Bot API server and a deployment using it (pytest finds fixtures among
# a module's globals).


def rows(app: App, model: type) -> list[Any]:
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(model)).all())


async def inbox_run(deployment: Path) -> asyncio.subprocess.Process:
    with (deployment / "daemon.log").open("ab") as log:  # the child keeps its own copy
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "inbox", "run", cwd=deployment, stdout=log, stderr=log,
            env={**os.environ, "INBOX_CONFIG": str(deployment / "inbox.toml")})


async def recorded(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll the database until `condition` holds (the daemon is another process)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def kill(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(proc.wait(), WAIT) == -signal.SIGKILL


async def test_kill_9_while_holding_updates_loses_none_and_doubles_none(
        desk: TelegramDesk) -> None:
    app = desk.configure()
    s, bot, anna = desk.server, desk.bot, desk.anna
    question = s.send(bot, anna, "My order has not arrived")
    receipt = s.send(bot, anna, "Here is the receipt", photo=s.photo(b"\xff\xd8 receipt" * 40))
    last_update = bot.next_update

    # 1. Killed between fetching the updates and committing them (mid-download).
    download = s.hold("download")
    daemon = await inbox_run(desk.deployment)
    await asyncio.wait_for(download.reached.wait(), START_SECONDS)
    await kill(daemon)
    assert rows(app, Message) == [] and s.sent == []
    assert [u["update_id"] for u in bot.updates][-2:] == [last_update - 1, last_update]
    download.release.set()

    # 2. Killed after the commit, before Telegram heard that the updates are stored.
    confirm = s.hold("getUpdates", when=lambda p: int(p.get("offset") or 0) > last_update)
    daemon = await inbox_run(desk.deployment)
    await asyncio.wait_for(confirm.reached.wait(), START_SECONDS)
    await s.sent_messages(1)
    # Killed after the ack's send is recorded too: a kill between Telegram accepting it
    # and our commit sends it again (the outbox's at-least-once window, which
    # tests/outbox/test_outbox_takeover.py and bench/crash_window.py measure).
    await recorded(lambda: [r.state for r in rows(app, Outbox)] == ["sent"])
    await kill(daemon)
    confirm.release.set()

    # 3. Started again: it asks for what follows its cursor; Bob is new and acknowledged.
    daemon = await inbox_run(desk.deployment)
    s.send(bot, s.user(5552, "Bob"), "Hello?")
    await s.sent_messages(2, timeout=START_SECONDS)
    daemon.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(daemon.wait(), WAIT) == 0

    stored = [m.external_id for m in rows(app, Message) if m.direction == "in"]
    assert sorted(stored) == sorted([f"7001:5551:{question['message_id']}",
                                     f"7001:5551:{receipt['message_id']}", "7001:5552:1"])
    assert len(rows(app, Conversation)) == 2 and len(rows(app, Outbox)) == 2
    assert len(rows(app, Attachment)) == 1
    assert sorted(m.chat_id for m in s.sent) == [5551, 5552]  # one ack each, ever
    offsets = [c.params.get("offset") for c in s.calls if c.method == "getUpdates"]
    assert last_update + 1 in offsets  # the cursor, not Telegram, said where to go on
