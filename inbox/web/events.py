"""Live updates: which conversations changed, pushed to open screens after the commit.

One task per daemon looks at the database every POLL_SECONDS (inbox.store.changes: new
event and message rows, so what it sees has committed, whoever wrote it: this daemon's
connectors, another daemon, `inbox reply` in a shell) and hands the changed
conversations to every open screen's `Subscription`, and likewise the conversations
whose presence changed (who has one open, who types: the `presence` table of
inbox.desk.drafts; a row that lapses is a change too). The task runs while at least one
screen listens, on one connection in one thread of its own; a screen never touches the
database to wait. Screens hear it as server-sent events (`stream`): `changed` when
something they show changed, `presence` when someone came to or left their
conversation or began or stopped typing there, a comment line every HEARTBEAT_SECONDS
so that proxies keep the connection, and a `changed` (and `presence`) right after
connecting, so a change between rendering a page and opening its stream is not missed.

`ChangeFeed` is the seam: several daemons on PostgreSQL will be told by LISTEN/NOTIFY
instead of looking (a later issue), behind the same two methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import StreamingResponse

from inbox.store import changes
from inbox.store.rawdb import Reader

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
RETRY_SECONDS = 5.0  # after the database could not be read
T = TypeVar("T")


@dataclass(frozen=True)
class Change:
    """What changed: these conversations, or (after the feed could not look for a while)
    possibly anything."""

    conversations: frozenset[int] = frozenset()
    everything: bool = False
    presence: frozenset[int] = frozenset()  # whose presence changed (not their content)

    def touches(self, conversation: int | None) -> bool:
        """Whether a screen showing `conversation` (None: the queue) should refresh."""
        return (self.everything or conversation in self.conversations
                or (conversation is None and bool(self.conversations)))

    def faces(self, conversation: int | None) -> bool:
        """Whether a conversation's screen should show who is there anew."""
        return self.everything or conversation in self.presence


class Subscription:
    """One open screen's share of the feed: what changed since it last asked."""

    def __init__(self) -> None:
        self.pending: set[int] = set()
        self.faces: set[int] = set()
        self.everything = False
        self.wake = asyncio.Event()
        self.closed = False

    def push(self, conversations: set[int], everything: bool = False,
             presence: set[int] | None = None) -> None:
        self.pending |= conversations
        self.faces |= presence or set()
        self.everything |= everything
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()

    async def next(self, timeout: float) -> Change | None:
        """What changed since the last call; None when `timeout` passed first or the
        feed closed (see `closed`)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout)
        if self.closed or not self.wake.is_set():
            return None
        self.wake.clear()
        change = Change(frozenset(self.pending), self.everything, frozenset(self.faces))
        self.pending, self.faces, self.everything = set(), set(), False
        return change


class ChangeFeed(Protocol):
    def subscribe(self) -> contextlib.AbstractAsyncContextManager[Subscription]: ...
    async def close(self) -> None: ...


class PollingFeed:
    """The feed for one daemon: one task that looks every `interval` seconds while
    anyone listens. `open_reader` gives a plain-driver connection (inbox.store.rawdb);
    `clock` the time presence rows are judged at."""

    def __init__(self, open_reader: Callable[[], AbstractContextManager[Reader]],
                 interval: float = POLL_SECONDS,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.open_reader, self.interval, self.clock = open_reader, interval, clock
        self.subscriptions: set[Subscription] = set()
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self.watching = asyncio.Event()  # set once it has read where to start (tests wait)
        # sqlite3 connections belong to the thread that made them: one thread, always.
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="desk-feed")

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        sub = Subscription()
        if self.closed:
            sub.close()
        self.subscriptions.add(sub)
        if self.task is None and not self.closed:
            self.task = asyncio.create_task(self._run(), name="desk-feed")
        try:
            yield sub
        finally:
            self.subscriptions.discard(sub)
            if not self.subscriptions and self.task is not None:
                task, self.task = self.task, None
                await _cancelled(task)  # nobody listens: stop looking

    async def close(self) -> None:
        """End every stream (the daemon stops) and the task."""
        self.closed = True
        for sub in list(self.subscriptions):
            sub.close()
        if self.task is not None:
            task, self.task = self.task, None
            await _cancelled(task)
        await asyncio.to_thread(self.thread.shutdown)

    async def _in_thread(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.thread, call, *args)

    async def _run(self) -> None:
        failed = False
        while True:
            try:
                await self._watch(after_failure=failed)
            except Exception as exc:  # the database is away: screens wait, nothing breaks
                if not failed:
                    log.warning("live updates paused, the database could not be read: %s",
                                exc)
                failed = True
                await asyncio.sleep(RETRY_SECONDS)

    async def _watch(self, after_failure: bool) -> None:
        stack = contextlib.ExitStack()
        try:
            reader = await self._in_thread(stack.enter_context, self.open_reader())
            seen = await self._in_thread(changes.start, reader)
            faces = await self._in_thread(changes.presence, reader, self.clock())
            self.watching.set()
            if after_failure:  # what happened while it could not look is unknown
                log.info("live updates resumed")
                for sub in list(self.subscriptions):
                    sub.push(set(), everything=True)
            while True:
                await asyncio.sleep(self.interval)
                found = await self._in_thread(changes.changed, reader, seen,
                                              time.monotonic())
                now_faces = await self._in_thread(changes.presence, reader, self.clock())
                came_or_went, faces = changes.moved(faces, now_faces), now_faces
                if found or came_or_went:
                    for sub in list(self.subscriptions):
                        sub.push(found, presence=came_or_went)
        finally:
            self.watching.clear()
            self.thread.submit(stack.close)  # its own thread, even when cancelled


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait until it has closed its connection."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def stream(feed: ChangeFeed, request: Request, conversation: int | None) -> StreamingResponse:
    """Server-sent events for one screen: `changed` when anything (the queue) or one
    conversation changed."""

    async def events() -> AsyncIterator[str]:
        async with feed.subscribe() as sub:
            yield "retry: 2000\n\nevent: changed\ndata: connected\n\n"
            if conversation is not None:
                yield "event: presence\ndata: connected\n\n"
            while not sub.closed:
                change = await sub.next(HEARTBEAT_SECONDS)
                if change is None:
                    yield ": keep-alive\n\n"
                    continue
                if change.touches(conversation):
                    yield "event: changed\ndata: changed\n\n"
                if conversation is not None and change.faces(conversation):
                    yield "event: presence\ndata: presence\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store",
                                      "X-Accel-Buffering": "no"})  # nginx: do not buffer
