"""The durable way out: claim due Outbox rows, send them, record what happened.

This is the project's one retry loop. A send either succeeds (row `sent`, message
delivered), fails for now (`TransientError` or anything unexpected: try again after a
capped exponential backoff, or the server's own Retry-After), fails for good
(`PermanentError`: dead-lettered with the reason kept for `inbox outbox`), or finds the
account's credentials refused (`AuthError`: the account is stopped loudly and its rows
wait untouched until an operator fixes it and restarts).

Rows are claimed a few at a time, with the claimer's instance id (`claimed_by`) and a
lease (`claimed_until`). A daemon that dies mid-send leaves its claims behind: as soon
as another daemon knows it is dead (inbox.store.liveness: at start, then every
TAKEOVER_SECONDS) they go again; a claim whose owner cannot be judged (no id) waits for
its lease. So a send is at least once, never lost. The duplicate window is the time
between the channel accepting a send and our commit recording it: each send is
recorded at once, in its own short transaction, on the dispatcher's own database
thread (never queued behind an ingest's), with no other await in between. The stable
Message-ID we put on e-mail lets mail clients fold the rare repeat. On PostgreSQL the
claim uses FOR UPDATE SKIP LOCKED, so several daemons share the queue.

An account whose send fails for now is in an outage (`Outage`): said once (WARNING),
its other sends are no longer thrown at a server that is down; instead one of them, the
most due, is tried every `probe_seconds` (the server's Retry-After, when longer). The
first send that goes ends the outage (INFO, once) and makes every waiting send of the
account due at once, so they leave within seconds of the channel answering, not at
their next backoff. A probe before a send's own time costs it no attempt and leaves its
schedule alone: an outage of any length dead-letters nothing sooner than the backoff
schedule would. Outages are known per daemon; the release is a plain UPDATE, harmless
when two daemons both make it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from channels.base import (
    Address,
    AuthError,
    Connector,
    Outbound,
    PermanentError,
    SendResult,
    TransientError,
)
from inbox.core.config import OutboxSettings
from inbox.core.retry import Backoff
from inbox.core.vocab import Delivery, OutboxState
from inbox.outbox.journal import SentJournal
from inbox.store import batch as store
from inbox.store.liveness import Liveness, new_instance_id
from inbox.store.models import Conversation, Event, Identity, Message, Outbox

log = logging.getLogger(__name__)

AccountKey = tuple[str, str]  # (channel, account)
P = ParamSpec("P")
R = TypeVar("R")

# Rows claimed per transaction: a dead daemon strands few, and daemons sharing one
# PostgreSQL share the work instead of one of them holding a long queue.
CLAIM_BATCH = 10
TAKEOVER_SECONDS = 30.0  # how often a running daemon looks for dead claimers


@dataclass(frozen=True)
class Attempt:
    outbox_id: int
    outcome: str  # "sent", "retry", "dead", "auth"; "held": put back untried (an outage)
    detail: str = ""
    next_attempt_at: datetime | None = None  # of a retry


@dataclass
class Outage:
    """An account whose sends fail for now: since when, and when to try one again."""

    since: datetime
    next_probe: datetime


@dataclass(frozen=True)
class Claimed:
    """What recording a send needs of its row, read by the claim."""

    message_id: int | None  # None: a webhook delivery, which has no message
    conversation_id: int
    kind: str
    recipient: str
    attempts: int
    probe: bool = False  # the one send tried for an account in an outage
    early: bool = False  # tried before its own time: a failure costs it no attempt


_o = store.outbox.c
_SENT = (sa.update(store.outbox).where(_o.id == sa.bindparam("oid"))
         .values(state=OutboxState.SENT, sent_at=sa.bindparam("now"), claimed_until=None,
                 claimed_by=None, attempts=_o.attempts + 1,
                 response=sa.bindparam("response")))


def backoff(attempts: int, settings: OutboxSettings) -> timedelta:
    """Delay before try number `attempts + 1` (inbox.core.retry: doubling, capped)."""
    return Backoff(settings.backoff_base_seconds, settings.backoff_cap_seconds).delay(attempts)


class Dispatcher:
    def __init__(self, engine: Engine, connectors: Mapping[AccountKey, Connector],
                 settings: OutboxSettings, clock: Callable[[], datetime],
                 *, batch: int = CLAIM_BATCH, liveness: Liveness | None = None) -> None:
        self.engine = engine
        self.connectors = dict(connectors)
        self.settings = settings
        self.backoff = Backoff(settings.backoff_base_seconds, settings.backoff_cap_seconds)
        self.clock = clock
        self.batch = batch
        self.liveness = liveness  # the daemon sets it; without it, only leases free claims
        self.journal: SentJournal | None = None  # the daemon sets it on SQLite
        self.journal_unsettled = False  # an accepted send failed to be recorded
        self._own_id = new_instance_id()
        self._next_takeover: datetime | None = None
        self._claims: dict[int, Claimed] = {}  # outbox id -> what the claim read
        self.stopped_accounts: dict[AccountKey, str] = {}
        self.outages: dict[AccountKey, Outage] = {}
        self.wake = asyncio.Event()
        # The dispatcher's own database thread: recording a send that a channel accepted
        # must not queue behind an ingest or a sweep in the shared default pool.
        self.db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")

    @property
    def owner(self) -> str:
        """The instance id our claims carry."""
        return self.liveness.id if self.liveness is not None else self._own_id

    async def _db(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.db_thread, lambda: fn(*args, **kwargs))

    def active_accounts(self) -> list[AccountKey]:
        return [k for k in self.connectors if k not in self.stopped_accounts]

    async def drain_once(self) -> list[Attempt]:
        """Send everything due now, once (tests and `inbox run --once` use this)."""
        attempts: list[Attempt] = []
        if self.journal_unsettled:
            await self._db(self.settle_journal)
        while True:
            claimed = await self._db(self._claim, self.clock())
            if not claimed:
                return attempts
            for outbound in claimed:
                attempt = await self._send(outbound)
                if attempt.outcome != "held":
                    attempts.append(attempt)

    async def run(self, stop: asyncio.Event) -> None:
        """Drain, then sleep until woken (a new row), the poll interval, or stop."""
        while not stop.is_set():
            # Cleared before draining: a row queued while we drain wakes the next round
            # at once instead of waiting out the poll interval.
            self.wake.clear()
            try:
                await self._db(self.take_over_if_due, self.clock())
                await self.drain_once()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("outbox dispatcher: drain failed; retrying")
            waiters = [asyncio.ensure_future(e.wait()) for e in (self.wake, stop)]
            await asyncio.wait(waiters, timeout=self._idle_seconds(),
                               return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()

    def _idle_seconds(self) -> float:
        """Until the next poll, or the next probe of an account that is down if sooner."""
        now, wait = self.clock(), self.settings.poll_seconds
        for key, outage in self.outages.items():
            if key not in self.stopped_accounts:
                wait = min(wait, (outage.next_probe - now).total_seconds())
        return max(wait, 0.0)

    def _claim(self, now: datetime) -> list[Outbound]:
        accounts = self.active_accounts()
        if not accounts:
            return []
        healthy = [k for k in accounts if k not in self.outages]
        with Session(self.engine) as s, s.begin():
            rows = [(row, True) for row in self._probes(s, now)]
            if healthy:
                rows += [(row, False) for row in s.scalars(self._due_query(healthy, now))]
            lease = now + timedelta(seconds=self.settings.claim_seconds)
            for row, probe in rows:
                row.state, row.claimed_until = OutboxState.SENDING, lease
                row.claimed_by = self.owner
                assert row.id is not None
                self._claims[row.id] = Claimed(row.message_id, row.conversation_id, row.kind,
                                               row.recipient, row.attempts, probe,
                                               early=row.next_attempt_at > now)
            return [to_outbound(s, row) for row, _ in rows]

    def _probes(self, s: Session, now: datetime) -> list[Outbox]:
        """For each account in an outage whose probe is due, its most due waiting send
        (due or not: the point is to learn whether the channel answers again)."""
        found: list[Outbox] = []
        for (channel, account), outage in self.outages.items():
            if outage.next_probe > now or (channel, account) in self.stopped_accounts:
                continue
            outage.next_probe = now + timedelta(seconds=self.settings.probe_seconds)
            q = (sa.select(Outbox)
                 .where(col(Outbox.state) == OutboxState.PENDING,
                        col(Outbox.channel) == channel, col(Outbox.account) == account)
                 .order_by(col(Outbox.next_attempt_at), col(Outbox.id)).limit(1))
            if self.engine.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            found += s.scalars(q).all()
        return found

    def take_over_if_due(self, now: datetime) -> int:
        if self._next_takeover is not None and now < self._next_takeover:
            return 0
        return self.take_over(now)

    def take_over(self, now: datetime) -> int:
        """Free the claims of daemons known dead, so they go now; how many were freed.

        They may have been sent already (killed after the channel accepted, before the
        commit): that is the at-least-once window, so the try is counted and said.
        """
        if self.liveness is None:
            return 0
        self._next_takeover = now + timedelta(seconds=TAKEOVER_SECONDS)
        sending = col(Outbox.state) == OutboxState.SENDING
        with Session(self.engine) as s, s.begin():
            owners = set(s.scalars(sa.select(col(Outbox.claimed_by)).where(sending)
                                   .distinct()).all())
            dead = self.liveness.dead(owners - {self.owner})
            if not dead:
                return 0
            ids = [o for o in dead if o is not None]
            whose: sa.ColumnElement[bool] = col(Outbox.claimed_by).in_(ids)
            if None in dead:
                whose = sa.or_(whose, col(Outbox.claimed_by).is_(None))
            freed = s.connection().execute(sa.update(Outbox).where(sending, whose).values(
                state=OutboxState.PENDING, claimed_until=None, claimed_by=None,
                attempts=col(Outbox.attempts) + 1, next_attempt_at=now,
                last_error="taken over from a daemon that died while sending "
                           "(it may have gone out once already)")).rowcount
        log.warning("outbox: %d send(s) of %d dead daemon(s) taken over", freed, len(dead))
        return int(freed)

    def _due_query(self, accounts: list[AccountKey], now: datetime) -> sa.Select[Outbox]:
        pending = sa.and_(col(Outbox.state) == OutboxState.PENDING,
                          col(Outbox.next_attempt_at) <= now)
        orphaned = sa.and_(col(Outbox.state) == OutboxState.SENDING,
                           col(Outbox.claimed_until) < now)
        q = (sa.select(Outbox)
             .where(sa.or_(pending, orphaned),
                    sa.tuple_(col(Outbox.channel), col(Outbox.account)).in_(accounts))
             .order_by(col(Outbox.next_attempt_at), col(Outbox.id))
             .limit(self.batch))
        if self.engine.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        return q

    async def _send(self, out: Outbound) -> Attempt:
        key = (out.channel, out.account)
        if key in self.stopped_accounts:  # stopped by an earlier row of this same claim
            return await self._db(self._release, out, self.stopped_accounts[key])
        claim = self._claims.get(out.outbox_id)
        if key in self.outages and not (claim is not None and claim.probe):
            # The account went down earlier in this claim: one try told us enough.
            return await self._db(self._put_back, out)
        try:
            result = await self.connectors[key].send(out)
        except Exception as exc:
            return await self._failure(out, exc)
        if self.journal is not None:  # before any await: see inbox.outbox.journal
            self.journal.write(out.outbox_id, result.external_id, self.clock())
        try:
            attempt = await self._db(self._sent, out, result)
        except Exception:
            self.journal_unsettled = True  # keep its line; drain_once records it later
            raise
        if key in self.outages:
            await self._recovered(key)
        return attempt

    async def _failure(self, out: Outbound, exc: Exception) -> Attempt:
        key = (out.channel, out.account)
        if isinstance(exc, AuthError):
            self.stopped_accounts[key] = str(exc)
            self.outages.pop(key, None)  # no probe can help: an operator must act
            log.error("%s/%s: credentials refused, account stopped: %s", *key, exc,
                      extra=_fields(out, error=str(exc)))
            return await self._db(self._release, out, str(exc))
        if isinstance(exc, PermanentError):
            return await self._db(self._dead, out, str(exc), exc.unreachable)
        if isinstance(exc, TransientError):
            return await self._failed(out, str(exc), exc.retry_after)
        # Unknown failures are treated as passing ones.
        return await self._failed(out, f"{type(exc).__name__}: {exc}", None)

    async def _failed(self, out: Outbound, error: str, retry_after: float | None) -> Attempt:
        """A send failed for now: the retry is recorded; the first such failure of an
        account opens its outage (said once), later ones are said at DEBUG only."""
        claim = self._claims.get(out.outbox_id)
        fields = _fields(out, conversation=claim.conversation_id if claim else None,
                         error=error)
        attempt = await self._db(self._retry, out, error, retry_after)
        key, now = (out.channel, out.account), self.clock()
        probe = now + timedelta(seconds=max(self.settings.probe_seconds, retry_after or 0))
        outage = self.outages.get(key)
        if outage is not None:
            outage.next_probe = max(outage.next_probe, probe)
            log.debug("%s/%s: still failing (%s to %s, outbox %d): %s", *key, out.kind,
                      out.recipient.address, out.outbox_id, error, extra=fields)
            return attempt
        self.outages[key] = Outage(since=now, next_probe=probe)
        if attempt.outcome == "retry":  # a dead letter has said so at ERROR
            log.warning("%s to %s via %s/%s failed (outbox %d): %s; next try at %s",
                        out.kind, out.recipient.address, *key, out.outbox_id, error,
                        _when(attempt.next_attempt_at), extra=fields)
        waiting = await self._db(self._waiting, key)
        log.warning("%s/%s: outage began: %s; %d send(s) waiting, one tried every %g s "
                    "until it goes", *key, error, waiting,
                    (probe - now).total_seconds(),
                    extra={"channel": key[0], "account": key[1], "error": error,
                           "waiting": waiting})
        return attempt

    async def _recovered(self, key: AccountKey) -> None:
        """A send of an account in an outage went: the others go now, not at their
        next backoff."""
        now = self.clock()
        released = await self._db(self._release_waiting, key, now)
        outage = self.outages.pop(key)  # after the release: if it failed, the next does it
        seconds = (now - outage.since).total_seconds()
        log.info("%s/%s: outage over after %.0f s; %d waiting send(s) released", *key,
                 seconds, released, extra={"channel": key[0], "account": key[1],
                                           "outage_seconds": seconds, "released": released})

    def _waiting(self, key: AccountKey) -> int:
        with Session(self.engine) as s:
            return int(s.scalar(sa.select(sa.func.count()).select_from(Outbox).where(
                col(Outbox.channel) == key[0], col(Outbox.account) == key[1],
                col(Outbox.state).in_([OutboxState.PENDING, OutboxState.SENDING]))) or 0)

    def _release_waiting(self, key: AccountKey, now: datetime) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(
                sa.update(store.outbox)
                .where(_o.channel == key[0], _o.account == key[1],
                       _o.state == OutboxState.PENDING)
                .values(next_attempt_at=now)).rowcount)

    def _put_back(self, out: Outbound) -> Attempt:
        """Unclaim a send untried: no attempt counted, its schedule unchanged."""
        self._claims.pop(out.outbox_id, None)
        with self.engine.begin() as conn:
            conn.execute(sa.update(store.outbox).where(_o.id == out.outbox_id).values(
                state=OutboxState.PENDING, claimed_until=None, claimed_by=None))
        return Attempt(out.outbox_id, "held")

    def _sent(self, out: Outbound, result: SendResult) -> Attempt:
        """Record a send the channel accepted: until this commits, a crash sends it twice,
        so it is three prepared statements with what the claim already read."""
        now, c = self.clock(), self._claims.pop(out.outbox_id)
        delivered: dict[str, object] = {"delivery": Delivery.SENT, "sent_at": now}
        if result.external_id:
            delivered["external_id"] = result.external_id
        with self.engine.begin() as conn:
            conn.execute(_SENT, {"oid": out.outbox_id, "now": now,
                                 "response": (result.detail or "")[:2000] or None})
            if c.message_id is not None:  # a webhook's delivery leaves no trail event
                conn.execute(sa.update(store.message)
                             .where(store.message.c.id == c.message_id).values(delivered))
                store.add_event(conn, f"{c.kind}.sent", now,
                                conversation_id=c.conversation_id, message_id=c.message_id,
                                recipient=c.recipient, attempts=c.attempts + 1)
        if self.journal is not None and not self.journal_unsettled:
            self.journal.clear()  # sends are recorded one at a time: all are in
        log.info("%s sent to %s via %s/%s (conversation %d, outbox %d)", c.kind,
                 c.recipient, out.channel, out.account, c.conversation_id, out.outbox_id,
                 extra=_fields(out, conversation=c.conversation_id))
        return Attempt(out.outbox_id, "sent")

    def settle_journal(self) -> int:
        """Record the sends a dead daemon's journal says were accepted (before taking
        over its claims, which would send them again); how many were still unrecorded."""
        if self.journal is None:
            return 0
        settled = 0
        with Session(self.engine) as s, s.begin():
            for item in self.journal.accepted():
                row = s.get(Outbox, item.outbox_id)
                if row is None or row.state != OutboxState.SENDING:
                    continue  # committed before the crash
                _, msg = _load(s, item.outbox_id)
                row.state, row.sent_at, row.claimed_until = OutboxState.SENT, item.at, None
                row.claimed_by, row.attempts = None, row.attempts + 1
                settled += 1
                if msg is None:  # a webhook delivery
                    continue
                msg.delivery, msg.sent_at = Delivery.SENT, item.at
                msg.external_id = item.external_id or msg.external_id
                s.add(Event(conversation_id=row.conversation_id, message_id=msg.id,
                            kind=f"{row.kind}.sent", created_at=item.at,
                            detail={"recipient": row.recipient, "attempts": row.attempts,
                                    "recorded": "from the send journal, after a crash"}))
        self.journal.clear()
        self.journal_unsettled = False
        if settled:
            log.warning("outbox: %d send(s) accepted before a crash recorded from %s",
                        settled, self.journal.path)
        return settled

    def _retry(self, out: Outbound, error: str, retry_after: float | None) -> Attempt:
        now = self.clock()
        claim = self._claims.pop(out.outbox_id, None)
        with Session(self.engine) as s, s.begin():
            row, msg = _load(s, out.outbox_id)
            row.state, row.claimed_until, row.claimed_by = OutboxState.PENDING, None, None
            row.last_error = error[:2000]
            if msg is not None:
                msg.delivery = Delivery.FAILED
            if claim is not None and claim.early:
                # A probe before the send's own time: no attempt counted and its
                # schedule kept, so probing never dead-letters sooner than backoff would.
                return Attempt(out.outbox_id, "retry", error, row.next_attempt_at)
            row.attempts += 1
            if row.attempts >= self.settings.max_attempts:
                return self._bury(s, row, msg, f"gave up after {row.attempts} tries: {error}")
            delay = self.backoff.delay(row.attempts, retry_after)
            row.next_attempt_at = next_at = now + delay
        return Attempt(out.outbox_id, "retry", error, next_at)

    def _dead(self, out: Outbound, error: str, unreachable: bool) -> Attempt:
        self._claims.pop(out.outbox_id, None)
        with Session(self.engine) as s, s.begin():
            row, msg = _load(s, out.outbox_id)
            row.attempts += 1
            if unreachable:
                _mark_unreachable(s, row, error)
            return self._bury(s, row, msg, error)

    def _bury(self, s: Session, row: Outbox, msg: Message | None, error: str) -> Attempt:
        now = self.clock()
        row.state, row.claimed_until, row.last_error = OutboxState.DEAD, None, error[:2000]
        row.claimed_by = None
        if msg is not None:  # a webhook's dead delivery is the operator's, not the trail's
            msg.delivery = Delivery.DEAD
            s.add(Event(conversation_id=row.conversation_id, message_id=msg.id,
                        created_at=now, kind=f"{row.kind}.dead",
                        detail={"recipient": row.recipient, "error": error[:2000]}))
        log.error("%s to %s via %s/%s dead-lettered (outbox %s): %s", row.kind, row.recipient,
                  row.channel, row.account, row.id, error,
                  extra={"channel": row.channel, "account": row.account,
                         "recipient": row.recipient, "conversation": row.conversation_id,
                         "outbox_id": row.id, "error": error})
        return Attempt(row.id or 0, "dead", error)

    def _release(self, out: Outbound, error: str) -> Attempt:
        self._claims.pop(out.outbox_id, None)
        with Session(self.engine) as s, s.begin():
            row, _ = _load(s, out.outbox_id)
            row.state, row.claimed_until, row.claimed_by = OutboxState.PENDING, None, None
            row.last_error = f"account stopped: {error}"[:2000]
        return Attempt(out.outbox_id, "auth", error)


def _fields(out: Outbound, *, conversation: int | None = None,
            error: str | None = None) -> dict[str, object]:
    """A send's facts for a log record's `extra` (never its text)."""
    fields: dict[str, object] = {"channel": out.channel, "account": out.account,
                                 "recipient": out.recipient.address, "kind": out.kind,
                                 "outbox_id": out.outbox_id}
    if conversation is not None:
        fields["conversation"] = conversation
    if error is not None:
        fields["error"] = error
    return fields


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at is not None else "-"


def _load(s: Session, outbox_id: int) -> tuple[Outbox, Message | None]:
    """The row and its message (None for a webhook delivery, which has none)."""
    row = s.get(Outbox, outbox_id)
    assert row is not None
    msg = s.get(Message, row.message_id) if row.message_id is not None else None
    assert msg is not None or row.payload is not None
    return row, msg


def _mark_unreachable(s: Session, row: Outbox, reason: str) -> None:
    s.execute(sa.update(Identity)
              .where(col(Identity.channel) == row.channel,
                     col(Identity.address) == row.recipient)
              .values(unreachable=reason[:500]))


def to_outbound(s: Session, row: Outbox) -> Outbound:
    if row.payload is not None:
        return webhook_outbound(row)
    msg = s.get(Message, row.message_id)
    conv = s.get(Conversation, row.conversation_id)
    assert msg is not None and conv is not None and row.id is not None
    name = s.scalar(sa.select(col(Identity.name)).where(
        col(Identity.channel) == row.channel, col(Identity.address) == row.recipient)) or ""
    return Outbound(outbox_id=row.id, kind=row.kind, channel=row.channel,
                    account=row.account, recipient=Address(row.recipient, name),
                    text=msg.text, message_ref=msg.external_id, subject=msg.subject,
                    html=msg.html, in_reply_to=msg.headers.get("in-reply-to"),
                    references=tuple(msg.references), thread_key=conv.thread_key,
                    auto_reply=row.kind in ("ack", "csat"),  # made by us, not a person
                    # an outgoing message's recipients: whom it goes to, then its Cc
                    cc=tuple(Address(r) for r in msg.recipients if r != row.recipient),
                    queued_at=row.created_at)


def webhook_outbound(row: Outbox) -> Outbound:
    """A webhook delivery: its JSON body as the text, its event id as the reference
    (the `webhook-id` a receiver deduplicates by: the same on every retry)."""
    assert row.id is not None and row.payload is not None
    body = json.dumps(row.payload, ensure_ascii=False, separators=(",", ":"))
    return Outbound(outbox_id=row.id, kind=row.kind, channel=row.channel,
                    account=row.account, recipient=Address(row.recipient), text=body,
                    message_ref=str(row.payload["id"]), queued_at=row.created_at)
