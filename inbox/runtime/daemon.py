"""`inbox run`: supervise the connectors, the outbox dispatcher and the SLA sweep.

Each connector runs its own loop: fetch a batch, ingest it and save the connector's
cursor in one transaction, wake the dispatcher. A connector whose credentials are
refused stops alone and loudly; other failures back off (capped) and retry, so a
server that is down costs time, never messages. SIGTERM/SIGINT stop everything between
steps: nothing half-done is left except an in-flight send.

A daemon is alive for others to see (inbox.store.liveness): on SQLite it is the only one on
its database, or it refuses to start; on PostgreSQL it holds an advisory lock. At start
it takes over the sends a dead daemon had claimed, so they go at once, not after their
lease.

Rule files are watched (watchfiles: inotify on Linux), and looked at every two seconds
as well, so an edit goes live, or a broken one is reported with file:line, moments
after it is saved, whether or not messages arrive (inbox.rules.live).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from watchfiles import awatch

from channels.base import (
    AuthError,
    ChannelError,
    Connector,
    FetchResult,
    Inbound,
    Limited,
    Starting,
    TextLimit,
    TransientError,
)
from inbox.core import tokens
from inbox.core.errors import Unavailable
from inbox.core.retry import FETCH_BACKOFF, Backoff
from inbox.csat.surveys import send_due
from inbox.desk import digest
from inbox.desk.tally import Fold, fold
from inbox.ingest.pipeline import ingest_batch
from inbox.outbox.dispatcher import AccountKey
from inbox.outbox.journal import SentJournal, journal_path
from inbox.rules import LiveRules
from inbox.runtime import logs
from inbox.runtime.app import App, utcnow
from inbox.runtime.webhooks import Webhooks
from inbox.sla.sweep import sweep
from inbox.store.batch import save_text_limit
from inbox.store.db import check_schema, reader
from inbox.store.liveness import FileLock, acquire
from inbox.store.models import Cursor
from inbox.web.server import Served, bind, serve, split_listen

log = logging.getLogger(__name__)

SWEEP_BATCH = 500  # conversations per sweep transaction
STOP_GRACE_SECONDS = 5.0
FETCH_WAIT_SECONDS = 25.0
# How often rule files are read even when no change was announced: a folder on NFS or
# replaced by a deploy tool may send none. Reading a few small files costs nothing.
RULES_CHECK_SECONDS = 2.0
REPORT_SECONDS = 2.0  # how stale a report may be, at most, plus a round


@dataclass
class Daemon:
    app: App
    connectors: Mapping[AccountKey, Connector] = field(default_factory=dict)
    fetch_backoff: Backoff = FETCH_BACKOFF  # between fetches of an account that is away

    def __post_init__(self) -> None:
        self.dispatcher = self.app.dispatcher(self.connectors)
        self.ctx = self.app.pipeline_context()
        self.webhooks = Webhooks(self.dispatcher, self.ctx.secret)
        self.notifier = self.app.notifier
        for warning in self.notifier.check():  # unknown names raise ConfigError here
            log.warning("%s", warning)
        self.swept = asyncio.Event()  # set after each sweep: tests wait on it, never sleep
        self.tally = Fold()  # the reports' counts (inbox.desk.tally)
        self.tallied = asyncio.Event()  # set after each round that caught up
        self.desk_url: str | None = None  # once the desk listens (its port may be 0 in config)

    async def run(self, stop: asyncio.Event) -> None:
        check_schema(self.app.engine)
        with self._alive():
            desk = await self._serve_desk()
            # What is built by now lives as long as the daemon: out of the cyclic
            # collector's way, or each full pass walks it again (~70 ms pauses in the
            # desk's pages; docs/benchmarks.md "Desk").
            gc.freeze()
            try:
                await self._run(stop)
            finally:  # after the connectors closed: webhook posts in flight got a 503
                if desk is not None:
                    await self.app.feed.close()  # open screens' streams end first
                    await desk.stop()

    async def _serve_desk(self) -> Served | None:
        """The desk, and the webhooks mounted in it, on `[web] listen` (if enabled)."""
        loop = asyncio.get_running_loop()

        def accept(item: Inbound) -> dict[str, object]:
            """A message posted to the API, through the pipeline as a connector's
            (in one of the desk's worker threads); the dispatcher is woken for its ack."""
            with self.app.engine.begin() as conn:
                [result] = ingest_batch(conn, [item], self.ctx, utcnow())
            logs.ingested([result], partial(tokens.reference, self.ctx.secret))
            loop.call_soon_threadsafe(self.dispatcher.wake.set)
            return {"outcome": result.outcome, "conversation_id": result.conversation_id,
                    "message_id": result.message_id, "new_conversation":
                    result.new_conversation, "acknowledged": result.acked,
                    "not_acknowledged_because": result.ack_suppressed}
        asgi, web = self.app.desk(self.connectors, accept), self.app.settings.web
        if not web.enabled:
            return None
        try:
            sock = bind(*split_listen(web.listen))
        except OSError as exc:
            raise Unavailable(f"the desk {exc.strerror} ([web] listen: is another "
                              "`inbox run` or another program using it?)") from None
        served = await serve(asgi, sock)
        self.desk_url = served.url
        log.info("desk on %s", served.url)
        return served

    @contextlib.contextmanager
    def _alive(self) -> Iterator[None]:
        """Be known alive while running (AlreadyRunning when another daemon may not
        share the database), and take over the sends of the dead."""
        liveness = acquire(self.app.engine)
        d = self.dispatcher
        d.liveness = liveness
        if isinstance(liveness, FileLock):  # SQLite: see inbox.outbox.journal
            d.journal = SentJournal(journal_path(Path(str(self.app.engine.url.database))))
        try:
            d.settle_journal()  # first: what it holds was accepted, must not go again
            d.take_over(utcnow())
            yield
        finally:
            if d.journal is not None:
                d.journal.close()
            d.liveness, d.journal = None, None
            liveness.close()

    async def _run(self, stop: asyncio.Event) -> None:
        log.info("inbox daemon started: %d connector(s), database %s", len(self.connectors),
                 self.app.engine.url.render_as_string(hide_password=True))
        if not self.connectors:
            log.warning("no channels configured: messages arrive only through `inbox ingest`"
                        " and acknowledgements wait in the outbox (see `inbox outbox`)")
        tasks = [asyncio.create_task(self.dispatcher.run(stop), name="dispatcher"),
                 asyncio.create_task(self._sweep_loop(stop), name="sla-sweep"),
                 asyncio.create_task(self._rules_loop(stop), name="rules"),
                 asyncio.create_task(self.webhooks.run(stop), name="webhooks"),
                 asyncio.create_task(self._reports_loop(stop), name="reports")]
        tasks += [asyncio.create_task(self._connector_loop(key, c, stop), name=f"{key}")
                  for key, c in self.connectors.items()]
        await stop.wait()
        # Loops notice `stop` between steps: give a commit or a send in flight time to
        # finish, then interrupt what is only waiting (an IDLE, a long poll).
        _, waiting = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
        for t in waiting:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in self.connectors.values():
            await c.close()
        await self.webhooks.close()
        log.info("inbox daemon stopped")

    async def run_once(self) -> None:
        """Burst mode: fetch what is there, send what is due, sweep, return."""
        check_schema(self.app.engine)
        with self._alive():
            for key, c in self.connectors.items():
                await self._start(key, c)
                await self._fetch_and_ingest(key, c, wait=0)
            await asyncio.to_thread(self._sweep)  # first, so its notifications go out below
            await self.webhooks.round()
            await self._tally_round()
            await self.dispatcher.drain_once()
            await self.webhooks.close()

    async def _connector_loop(self, key: AccountKey, c: Connector, stop: asyncio.Event) -> None:
        away = _Away(key, self.fetch_backoff)
        started = False
        while not stop.is_set():
            try:
                if not started:
                    await self._start(key, c)
                    started = True
                await self._fetch_and_ingest(key, c, wait=FETCH_WAIT_SECONDS, stop=stop)
                away.back()
            except AuthError as exc:
                log.error("%s/%s: credentials refused; this account is stopped: %s", *key, exc)
                return
            except Exception as exc:  # down servers, network: back off, keep the work
                await _sleep_or_stop(stop, away.failed(exc))


    async def _start(self, key: AccountKey, c: Connector) -> None:
        """What the connector must learn first (its server's limits); then its text
        limit is recorded, for `inbox reply`, which runs no connector, to count with."""
        if isinstance(c, Starting):
            await c.start()
        limit = c.text_limit if isinstance(c, Limited) else None
        if limit is not None:
            await asyncio.to_thread(self._save_limit, key, limit)

    def _save_limit(self, key: AccountKey, limit: TextLimit) -> None:
        with self.app.engine.begin() as conn:
            save_text_limit(conn, *key, limit, now=utcnow())

    async def _fetch_and_ingest(self, key: AccountKey, c: Connector, wait: float,
                                stop: asyncio.Event | None = None) -> int:
        cursor = await asyncio.to_thread(self._load_cursor, key)
        result = await _unless_stopped(c.fetch(cursor, wait), stop)
        if result is None or (not result.items and result.cursor == cursor):
            return 0
        await asyncio.to_thread(self._ingest, key, result.items, result.cursor)
        self.dispatcher.wake.set()
        return len(result.items)

    def _load_cursor(self, key: AccountKey) -> str | None:
        with Session(self.app.engine) as s:
            row = s.get(Cursor, (key[0], key[1], ""))
            return row.value if row else None

    def _ingest(self, key: AccountKey, items: Sequence[Inbound], cursor: str | None) -> None:
        now = utcnow()
        with self.app.engine.begin() as conn:
            results = ingest_batch(conn, items, self.ctx, now,
                                   cursor=(key[0], key[1], cursor) if cursor is not None
                                   else None)
        # Only now: a batch whose commit failed was never received.
        logs.ingested(results, partial(tokens.reference, self.ctx.secret))

    async def _sweep_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if await asyncio.to_thread(self._sweep):
                    self.dispatcher.wake.set()  # notifications are waiting in the outbox
            except Exception:
                log.exception("SLA sweep failed; retrying")
            self.swept.set()
            await _sleep_or_stop(stop, self.app.settings.sla.sweep_seconds)

    async def _reports_loop(self, stop: asyncio.Event) -> None:
        """Keep the reports' counts up to date (a first round after an upgrade counts
        the whole history, one short transaction per batch)."""
        while not stop.is_set():
            try:
                await self._tally_round(stop)
            except Exception:  # a database hiccup must not end the reports
                log.exception("reports: counting failed; retrying")
            await _sleep_or_stop(stop, REPORT_SECONDS)

    async def _tally_round(self, stop: asyncio.Event | None = None) -> None:
        s = self.app.settings
        while not (stop and stop.is_set()):
            read = await asyncio.to_thread(fold, self.app.engine, self.tally, self.app.sla,
                                           s.report_zone, utcnow())
            if not read:
                break
        if not (stop and stop.is_set()) and await asyncio.to_thread(self._digest) > 0:
            self.dispatcher.wake.set()  # the weekly digest waits in the outbox
        self.tallied.set()

    def _digest(self) -> int:
        """The weekly digest, when it is due (inbox.desk.digest): after a fold, so its
        figures are the latest; its own short transaction."""
        try:
            with Session(reader(self.app.engine)) as s:  # a look, without SQLite's write lock
                if not digest.pending(s, utcnow(), self.app.settings):
                    return 0
            with Session(self.app.engine) as s, s.begin():
                queued = digest.send_due(s, utcnow(), self.app.settings, self.app.renderer)
        except Exception:  # the counts go on; the digest is tried again next round
            log.exception("weekly digest failed; trying again")
            return 0
        if queued:
            log.info("weekly digest queued for %d supervisor(s) and admin(s)", queued)
        return queued

    async def _rules_loop(self, stop: asyncio.Event) -> None:
        """Reload the rules when their folders change, and every RULES_CHECK_SECONDS."""
        router = self.ctx.router
        if not isinstance(router, LiveRules):
            return
        if logging.getLogger("watchfiles").level == logging.NOTSET:
            # "1 change detected" at every save says less than our own line after it
            logging.getLogger("watchfiles").setLevel(logging.WARNING)
        log.info("rules: %d rules from %d files; watching %s for changes",
                 len(router.rules.rules),
                 router.rules.files, ", ".join(str(p) for p in router.watched()))
        warned = False
        while not stop.is_set():
            folders = [p for p in router.watched() if p.is_dir()]
            try:
                await _watch(router, folders, stop)
            except Exception as exc:  # no folder yet, inotify's limit reached: read on time
                if not warned:
                    log.warning("cannot watch %s (%s); reading the rules every %.0fs instead",
                                ", ".join(map(str, router.watched())), exc,
                                RULES_CHECK_SECONDS)
                    warned = True
                await _reload(router)
                await _sleep_or_stop(stop, RULES_CHECK_SECONDS)

    def _sweep(self) -> int:
        """Sweep until nothing more is due (after downtime there may be several batches,
        one transaction each); returns how many transitions were recorded."""
        changed = 0
        while True:
            with Session(self.app.engine) as s, s.begin():
                result = sweep(s, utcnow(), self.app.sla, self.notifier, SWEEP_BATCH)
            for t in result.transitions:
                log.info("conversation %s: SLA %s%s", t.conversation_id, t.state,
                         f", told {', '.join(t.notified)}" if t.notified else "")
            changed += len(result.transitions)
            if result.looked < SWEEP_BATCH:
                return changed + self._ask()

    def _ask(self) -> int:
        """Send the customers' surveys that are due (inbox.csat); how many."""
        if not self.app.settings.csat.enabled:
            return 0
        with Session(self.app.engine) as s, s.begin():
            asked = send_due(s, utcnow(), self.app.asking)
        if asked:
            log.info("%d survey(s) sent", asked)
        return asked


async def _watch(router: LiveRules, folders: list[Path], stop: asyncio.Event) -> None:
    """Reload after each change (a burst of saves is one change: watchfiles waits for
    50 ms of quiet), and on each timeout; return when a watched folder itself was
    removed or replaced (a deploy that swaps the folder), so the new one is watched."""
    async for changes in awatch(*folders, stop_event=stop, yield_on_timeout=True,
                                rust_timeout=int(RULES_CHECK_SECONDS * 1000)):
        await _reload(router)
        if any(Path(path) in folders for _, path in changes):
            return


async def _reload(router: LiveRules) -> None:
    try:  # the watcher waits for a reload under way: the last save of a burst counts
        await asyncio.to_thread(router.reload, True)
    except Exception:  # a bug in loading must not stop the watching
        log.exception("rules not reloaded; the running rules stay")


class _Away:
    """An account whose fetches fail: said once when it starts and once when it ends,
    quiet (DEBUG) in between; how long to wait before the next try."""

    def __init__(self, key: AccountKey, backoff: Backoff) -> None:
        self.key, self.backoff, self.failures, self.since = key, backoff, 0, 0.0

    def failed(self, exc: Exception) -> float:
        self.failures += 1
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        wait = self.backoff.delay(self.failures, retry_after).total_seconds()
        if self.failures > 1:
            log.debug("%s/%s: fetch failed again (%s); retrying in %.0fs", *self.key, exc, wait)
            return wait
        self.since = time.monotonic()
        level = logging.WARNING if isinstance(exc, ChannelError) else logging.ERROR
        log.log(level, "%s/%s: fetch failed (%s); retrying in %.0fs, then quietly until it "
                "works again", *self.key, exc, wait,
                extra={"event": "fetch.outage", "channel": self.key[0],
                       "account": self.key[1], "error": str(exc)})
        return wait

    def back(self) -> None:
        if self.failures:
            log.info("%s/%s: fetching again after %.0fs (%d failed tries)", *self.key,
                     time.monotonic() - self.since, self.failures,
                     extra={"event": "fetch.recovered", "channel": self.key[0],
                            "account": self.key[1]})
        self.failures = 0


async def _unless_stopped(fetch: Coroutine[Any, Any, FetchResult],
                          stop: asyncio.Event | None) -> FetchResult | None:
    """The fetch's result, or None when `stop` came first (nothing was committed yet)."""
    if stop is None:
        return await fetch
    task = asyncio.ensure_future(fetch)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
