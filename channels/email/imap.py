"""IMAP in: new mail of one account's folders as `Inbound` values, pushed by IDLE.

One `ImapSource` per account owns one imapclient connection and one thread: imapclient
is blocking, and a connection must only ever be used by one thread, so every IMAP
command of the account runs in that thread, in order. `fetch(cursor, wait)` returns
whatever is new after the cursor at once; when nothing is, it waits in IDLE (or polls,
when the server offers no IDLE) up to `wait` seconds for something to arrive.

The cursor is, per folder, UIDVALIDITY + the last UID handed to the pipeline, kept as a
JSON string by the core. Messages are fetched with BODY.PEEK[] on a folder opened
read-only (EXAMINE), so the mailbox is not changed at all unless the admin asked for
\\Seen or a move after ingest; that is applied at the next fetch, to the UIDs that the
cursor the core passes in (saved in the same transaction as the messages) covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from channels.base import AuthError, FetchResult, Inbound, TransientError

if TYPE_CHECKING:
    from channels.email.settings import Endpoint

log = logging.getLogger(__name__)

Parse = Callable[[bytes, str, datetime], Inbound]
Prepare = Callable[[Inbound], Inbound]
AfterIngest = Literal["keep", "seen", "move"]

# Servers may end an IDLE after 30 minutes of silence (RFC 2177); renew well before.
IDLE_RENEW_SECONDS = 25 * 60
IDLE_RECHECK_SECONDS = 0.5  # see ImapSource._wait_for_news
# One batch is one ingest transaction: bounded in count and in memory.
BATCH_MESSAGES = 200
BATCH_BYTES = 32 * 1024 * 1024
SCAN_UIDS = 2000  # sizes are asked for this many new UIDs at a time


@dataclass
class FolderCursor:
    """Where one folder stands. UIDs are only meaningful under their UIDVALIDITY."""

    uidvalidity: int
    last_uid: int  # every UID up to this one was handed to the pipeline (or skipped)
    # UIDs up to here (and, after a UIDVALIDITY change, only messages received no later
    # than history_time) are history: stored with backfill=True, never acknowledged.
    history_to: int = 0
    history_time: float | None = None
    handled_to: int = 0  # the after-ingest action (\Seen, move) was applied up to here
    newest: float = 0.0  # INTERNALDATE of the newest message seen, or when we started


Cursor = dict[str, FolderCursor]


def load_cursor(value: str | None) -> Cursor:
    if not value:
        return {}
    return {folder: FolderCursor(**fields) for folder, fields in json.loads(value).items()}


def dump_cursor(cursor: Cursor) -> str:
    return json.dumps({f: asdict(c) for f, c in sorted(cursor.items())},
                      separators=(",", ":"))


@dataclass(frozen=True)
class WatchOptions:
    """What to watch and how, from the account's configuration."""

    folders: tuple[str, ...] = ("INBOX",)
    start: Literal["now", "backfill"] = "now"
    backfill_days: int = 30
    after_ingest: AfterIngest = "keep"
    move_to: str | None = None
    idle: bool = True
    poll_seconds: float = 30.0


def connect(endpoint: Endpoint) -> IMAPClient:
    """A logged-in client; refused credentials raise imapclient's LoginError."""
    client = IMAPClient(endpoint.host, endpoint.port, ssl=endpoint.security == "tls",
                        ssl_context=endpoint.ssl_context, timeout=endpoint.timeout)
    if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        # imapclient sets imaplib's debug level to 5, which makes imaplib format every
        # response, whole messages included, as text before the logger drops it: that
        # was 80% of the CPU time of a FETCH (docs/benchmarks-email.md).
        client._imap.debug = 0
    try:
        if endpoint.security == "starttls":
            client.starttls(endpoint.ssl_context)
        client.normalise_times = False  # aware INTERNALDATEs, not the host's local time
        client.login(endpoint.username or "", endpoint.password or "")
    except BaseException:
        with contextlib.suppress(Exception):
            client.shutdown()
        raise
    return client


def imap_error(exc: Exception, endpoint: Endpoint) -> Exception:
    """The channel error for a failed IMAP operation (the password never appears)."""
    where = f"IMAP {endpoint.host}:{endpoint.port}"
    if isinstance(exc, LoginError):
        return AuthError(f"{where}: login as {endpoint.username} refused: {_text(exc)}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return AuthError(f"{where}: TLS certificate not trusted: {exc.verify_message}")
    return TransientError(f"{where}: {type(exc).__name__}: {_text(exc)}")


def _text(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else exc
    text = arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
    if text[:2] in ("b'", 'b"') and text[-1:] == text[1]:  # imapclient's str(bytes)
        text = text[2:-1]
    return text


class ImapSource:
    """Fetches one account's new mail in the account's own thread."""

    def __init__(self, account: str, endpoint: Endpoint, options: WatchOptions,
                 parse: Parse, clock: Callable[[], datetime], *,
                 prepare: Prepare | None = None) -> None:
        self.account, self.endpoint, self.options = account, endpoint, options
        self.parse, self.clock = parse, clock
        self.prepare = prepare
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"imap-{account}")
        self._client: IMAPClient | None = None
        self._selected: str | None = None
        self._validity: dict[str, int] = {}
        self._closing = threading.Event()
        self._idle_lock = threading.Lock()  # orders "about to IDLE" against close()
        self._idling = False
        self._more = False  # the last batch was cut short by its budget
        self._prefetched: tuple[str, list[Inbound], str] | None = None

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        loop = asyncio.get_running_loop()
        items, value = await loop.run_in_executor(self._pool, self._fetch, cursor, wait)
        return FetchResult(items, value)

    async def close(self) -> None:
        if self._closing.is_set():
            return
        with self._idle_lock:
            self._closing.set()
            client = self._client if self._idling else None
        if client is not None:  # wake the thread out of IDLE instead of waiting it out
            with contextlib.suppress(OSError):
                client.socket().shutdown(socket.SHUT_RDWR)
        await asyncio.get_running_loop().run_in_executor(self._pool, self._drop, True)
        self._pool.shutdown(wait=False)

    # ------------------------------------------------------------ in the IMAP thread

    def _fetch(self, value: str | None, wait: float) -> tuple[list[Inbound], str]:
        ready, self._prefetched = self._prefetched, None
        if ready is not None and ready[0] == value:  # read from exactly this cursor
            batch = ready[1:]
        else:
            try:
                batch = self._fetch_or_wait(value, wait)
            except Exception as exc:
                self._drop(False)  # whatever went wrong, the next try starts from scratch
                if isinstance(exc, (AuthError, TransientError)):
                    raise
                raise imap_error(exc, self.endpoint) from exc
        if self._more and self.options.after_ingest == "keep" and not self._closing.is_set():
            # A backlog: read the next batch while the core stores this one. It is used
            # only if the core comes back with the cursor this batch ends at.
            with contextlib.suppress(RuntimeError):  # the pool closed meanwhile
                self._pool.submit(self._prefetch, batch[1])
        return batch

    def _prefetch(self, value: str) -> None:
        if self._closing.is_set() or self._client is None:
            return
        try:
            cursor = load_cursor(value)
            items = self._collect(cursor)
            self._prefetched = (value, items, dump_cursor(cursor))
        except Exception:  # the next fetch reconnects and reports what is wrong
            self._drop(False)

    def _fetch_or_wait(self, value: str | None, wait: float) -> tuple[list[Inbound], str]:
        cursor = load_cursor(value)
        if self._client is None:
            self._client = connect(self.endpoint)
            self._selected = None
        self._after_ingest(cursor)
        deadline = time.monotonic() + wait
        items = self._collect(cursor)
        if dump_cursor(cursor) != value:
            # A first start, a re-sync or an after-ingest action moved the cursor:
            # return it now so that the core commits it, rather than after the wait.
            return items, dump_cursor(cursor)
        rounds = 0
        while not items and not self._closing.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._wait_for_news(left, rounds)
            rounds += 1
            items = self._collect(cursor)
        return items, dump_cursor(cursor)

    def _drop(self, logout: bool) -> None:
        client, self._client, self._selected = self._client, None, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            if logout:
                client.logout()
            else:
                client.shutdown()

    @property
    def client(self) -> IMAPClient:
        assert self._client is not None, "connected at the start of every fetch"
        return self._client

    def _select(self, folder: str) -> int:
        """Open `folder` (read-only unless an after-ingest action needs to write);
        returns its UIDNEXT."""
        readonly = self.options.after_ingest == "keep"
        info: dict[bytes, Any] = self.client.select_folder(folder, readonly=readonly)
        self._selected = folder
        self._validity[folder] = int(info[b"UIDVALIDITY"])
        if b"UIDNEXT" in info:
            return int(info[b"UIDNEXT"])
        # RFC 3501 requires UIDNEXT here, but not every server sends it.
        return max(self.client.search(["ALL"]), default=0) + 1

    # ------------------------------------------------------------------ collecting

    def _collect(self, cursor: Cursor) -> list[Inbound]:
        """New messages of every folder, oldest first per folder, one bounded batch."""
        batch: list[Inbound] = []
        budget = [BATCH_MESSAGES, BATCH_BYTES]
        self._more = False
        for folder in self.options.folders:
            if folder not in cursor:
                cursor[folder] = self._first_start(folder)
            uids = self._new_uids(folder, cursor)
            if uids:
                batch += self._fetch_messages(folder, cursor[folder], uids, budget)
            if budget[0] <= 0 or budget[1] <= 0:
                self._more = True  # the batch is full; more mail is probably waiting
                break
        return batch

    def _first_start(self, folder: str) -> FolderCursor:
        last = self._select(folder) - 1
        validity = self._validity[folder]
        now = float(int(self.clock().timestamp()))  # INTERNALDATE has whole seconds
        first = last + 1
        if self.options.start == "backfill":
            since = self.clock() - timedelta(days=self.options.backfill_days)
            found = self.client.search(["SINCE", since.date()])
            first = min(found, default=first)
        log.info("%s: watching %s from %s", self.account, folder,
                 "now on" if first > last else f"UID {first} ({last - first + 1} to backfill)")
        return FolderCursor(validity, first - 1, history_to=last, handled_to=first - 1,
                            newest=now)

    def _new_uids(self, folder: str, cursor: Cursor) -> list[int]:
        """UIDs after the folder's cursor; a changed UIDVALIDITY re-syncs it first."""
        cur = cursor[folder]
        # A fresh SELECT each time: Dovecot's SEARCH alone does not look for new mail,
        # and a folder deleted and re-created under a session is only noticed this way.
        uidnext = self._select(folder)
        if self._validity[folder] != cur.uidvalidity:
            cur = cursor[folder] = self._resync(folder, cur, uidnext)
        elif uidnext - 1 <= cur.last_uid:
            return []
        found = self.client.search(["UID", f"{cur.last_uid + 1}:*"])
        # "n:*" always matches the last message, even when it is older than n.
        return sorted(uid for uid in found if uid > cur.last_uid)

    def _resync(self, folder: str, old: FolderCursor, uidnext: int) -> FolderCursor:
        """The folder's UIDs were renumbered: read it again from shortly before the
        newest message we had seen. Messages we already stored are dropped by the
        pipeline's Message-ID dedupe; older ones we never saw are stored as history."""
        validity, last = self._validity[folder], uidnext - 1
        since = datetime.fromtimestamp(old.newest, UTC) - timedelta(days=1)
        first = min(self.client.search(["SINCE", since.date()]), default=last + 1)
        log.warning("%s: UIDVALIDITY of %s changed (%s -> %s): re-reading %d message(s) "
                    "received since %s", self.account, folder, old.uidvalidity, validity,
                    last - first + 1, since.date())
        return FolderCursor(validity, first - 1, history_to=last, history_time=old.newest,
                            handled_to=first - 1, newest=old.newest)

    def _fetch_messages(self, folder: str, cur: FolderCursor, uids: Sequence[int],
                        budget: list[int]) -> list[Inbound]:
        sizes = self.client.fetch(list(uids[:SCAN_UIDS]), [b"RFC822.SIZE"])
        chosen: list[int] = []
        for uid in uids[:SCAN_UIDS]:
            if budget[0] <= 0 or (budget[1] <= 0 and chosen):
                break
            chosen.append(uid)
            budget[0] -= 1
            budget[1] -= int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
        found = self.client.fetch(chosen, [b"BODY.PEEK[]", b"INTERNALDATE"])
        records = []
        for uid in chosen:
            data = found.get(uid)
            if data is None:  # expunged between SEARCH and FETCH: nothing to read
                continue
            received = _aware(data.get(b"INTERNALDATE"), self.clock)
            stamp = received.timestamp()
            cur.newest = max(cur.newest, stamp)
            history = uid <= cur.history_to and (cur.history_time is None
                                                  or stamp < cur.history_time)
            records.append(_Record(bytes(data[b"BODY[]"]), received, history))
        cur.last_uid = max(cur.last_uid, chosen[-1])
        return _Job(self.parse, self.prepare, self.account)(records)

    # --------------------------------------------------------------------- waiting

    def _wait_for_news(self, left: float, rounds: int) -> None:
        """Block until the server reports new mail, `left` runs out, or a poll is due.

        Dovecot's IDLE reports only what arrives after IDLE began, not mail delivered
        between our last look and the IDLE command; so the first IDLE after a look is
        short and later ones grow (0.5, 1, 2 ... s): such a miss then costs no more than
        Dovecot's own 0.5 s notification delay, for three commands now and then.
        """
        timeout = min(left, IDLE_RENEW_SECONDS)
        if len(self.options.folders) > 1:  # IDLE sees one folder; the others are polled
            timeout = min(timeout, self.options.poll_seconds)
        if not (self.options.idle and self.client.has_capability("IDLE")):
            self._closing.wait(min(timeout, self.options.poll_seconds))
            return
        timeout = min(timeout, IDLE_RECHECK_SECONDS * 2 ** min(rounds, 16))
        if self._selected != self.options.folders[0]:
            self._select(self.options.folders[0])
        with self._idle_lock:
            if self._closing.is_set():
                return
            self.client.idle()
            self._idling = True
        try:
            self._idle_until_news(timeout)
        finally:
            with self._idle_lock:
                self._idling = False
            self.client.idle_done()

    def _idle_until_news(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while (rest := end - time.monotonic()) > 0:
            responses = self.client.idle_check(rest)
            if not responses:  # timed out, or the connection went away
                return
            for response in responses:
                # New mail (EXISTS) or the server going away (BYE) end the wait; flag
                # changes and expunges do not concern us.
                if (len(response) > 1 and response[1] == b"EXISTS") or response[0] == b"BYE":
                    return

    # -------------------------------------------------------------- after ingest

    def _after_ingest(self, cursor: Cursor) -> None:
        """Mark or move what the cursor we were given covers: it is committed."""
        if self.options.after_ingest == "keep":
            return
        for folder, cur in cursor.items():
            if folder not in self.options.folders or cur.handled_to >= cur.last_uid:
                continue
            self._select(folder)
            if self._validity[folder] == cur.uidvalidity:
                self._apply_action(cur)
            cur.handled_to = cur.last_uid

    def _apply_action(self, cur: FolderCursor) -> None:
        found = self.client.search(["UID", f"{cur.handled_to + 1}:{cur.last_uid}"])
        uids = [u for u in found if cur.handled_to < u <= cur.last_uid]
        if not uids:
            return
        if self.options.after_ingest == "seen":
            self.client.add_flags(uids, [b"\\Seen"], silent=True)
        elif self.client.has_capability("MOVE"):
            self.client.move(uids, self.options.move_to or "")
        else:  # RFC 6851's fallback; UID EXPUNGE leaves other clients' deletions alone
            self.client.copy(uids, self.options.move_to or "")
            self.client.add_flags(uids, [b"\\Deleted"], silent=True)
            if self.client.has_capability("UIDPLUS"):
                self.client.uid_expunge(uids)


@dataclass(frozen=True, slots=True)
class _Record:
    raw: bytes
    received: datetime
    history: bool  # stored, never acknowledged


@dataclass(frozen=True)
class _Job:
    """Turns fetched records into Inbound values.

    Worker processes for parsing were tried: on two cores they took CPU from the
    ingest that is the bottleneck, and the rate fell by 40% (docs/benchmarks-email.md).
    """

    parse: Parse
    prepare: Prepare | None
    account: str

    def __call__(self, records: list[_Record]) -> list[Inbound]:
        items = []
        for r in records:
            inbound = self.parse(r.raw, self.account, r.received)
            if r.history:
                inbound = replace(inbound, backfill=True)
            items.append(self.prepare(inbound) if self.prepare is not None else inbound)
        return items


def _aware(value: object, clock: Callable[[], datetime]) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return clock()
