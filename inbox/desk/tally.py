"""The reports' counts, kept as things happen (docs/reports.md "How figures are kept").

The fold reads the store's own change stream (inbox.store.changes: every new `event`
and `message` row, in id order) from a position kept in the `cursor` table, turns each
row into the occurrences it means (a new conversation, a reply, a first response after
so long, a resolution, a promise kept or broken, an escalation, a survey sent or
answered) and adds them to `report_count`: per local day, week and month, in every
cube of team x channel x agent. The counts and the new position commit together, so each row
is counted once, however often the daemon stops; on PostgreSQL one daemon folds at a
time (the position is locked, SKIP LOCKED), and a skipped id is waited for as the
webhooks wait (HOLD_SECONDS).

A figure counts under the team, channel and assignee the conversation has when the fold
reads the row, a second or so after it happened. Times are working time where the
conversation's SLA policy has a calendar (inbox.sla.calendar), wall-clock time
otherwise, and are kept to a step (STEPS) so that a median over a year is read from a
few hundred buckets: the report says "within 2 h 15 min", never a time nobody waited.

Days are local days of the reports' zone (`[reports] timezone`); when it changes the
counts are dropped and folded again from the first event (`inbox report rebuild` does
the same by hand).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.vocab import AUTOMATED, Direction, Kind, Status
from inbox.desk.terms import terms as words_of
from inbox.sla.clock import Policies
from inbox.store import changes
from inbox.store.db import reader
from inbox.store.models import Conversation, Cursor, Event, Message, ReportCount, ReportTerm
from inbox.store.rawdb import Reader

HOLD_SECONDS = 30.0  # a skipped id holds later rows back this long (PostgreSQL)
BATCH = 2000  # rows per table per fold: one short transaction each
_CURSOR = ("report", "", "fold")  # value: "E.M zone"


class Metric(StrEnum):
    """What is counted: the closed vocabulary of `report_count.metric`."""

    CONVERSATIONS = "conversations"  # new conversations started by people
    AUTOMATED = "automated"  # new conversations started by robots
    MESSAGES = "messages"  # customer messages in
    REPLIES = "replies"  # agents' replies
    FIRST_RESPONSE = "first_response"  # a time: first message to first reply
    RESOLUTION = "resolution"  # a time: first message to first resolution
    RESOLVED = "resolved"  # resolutions ("handled")
    SLA_MET = "sla_met"
    SLA_BREACHED = "sla_breached"
    ESCALATED = "escalated"
    CSAT_SENT = "csat_sent"
    CSAT_ANSWERED = "csat_answered"  # bucket: the score


TIMES = frozenset({Metric.FIRST_RESPONSE, Metric.RESOLUTION})
TEAM, CHANNEL, AGENT = 1, 2, 4  # the cube bits
CUBES = range(8)

# (up to, step) in seconds: a time is kept as the end of its step. The step grows with
# the time (about a tenth of it or less past five minutes), so a median reads "2 h 15 min"
# (never wrong by more than the step) and a year of times fits a few hundred buckets.
STEPS = ((300, 15), (600, 30), (1200, 60), (3600, 120), (7200, 300), (14400, 600),
         (28800, 900), (86400, 1800), (259200, 7200), (1209600, 21600), (7776000, 86400))
BEYOND = 7776001  # longer than the last step: "more than 90 days"


def bucket(seconds: float) -> int:
    """The end of the step `seconds` falls in (0 for no time at all)."""
    if seconds <= 0:
        return 0
    for limit, step in STEPS:
        if seconds <= limit:
            return math.ceil(seconds / step) * step
    return BEYOND


@dataclass
class Fold:
    """One daemon's fold: where it has read to, with the skipped ids it still waits for
    (kept between rounds, so a hold is timed from when an id was first missed)."""

    at: changes.Position | None = None


# ------------------------------------------------------------------ the fold

def fold(engine: Engine, state: Fold, policies: Policies, zone: ZoneInfo,
         now: datetime, *, batch: int = BATCH) -> int:
    """Count what is new since the last fold; how many rows were read (0: caught up, or
    another daemon is folding)."""
    if not _anything_new(engine, state, zone):
        return 0  # without the write lock: SQLite's writers need not wait for a look
    _ensure_cursor(engine, now)
    with Session(engine) as s, s.begin():
        cursor = _lock_cursor(s)
        if cursor is None:
            return 0
        at = _resume(s, state, cursor, zone)
        raw = Reader(s.connection().connection.dbapi_connection, engine.dialect.name)
        rows = changes.new_rows(raw, at, time.monotonic(), hold=HOLD_SECONDS, batch=batch)
        counts, terms = _count(s, rows, policies, zone)
        _add(s, counts)
        _add_terms(s, terms)
        cursor.value, cursor.updated_at = f"{at.text()} {zone.key}", now
        state.at = at
        return len(rows)


def catch_up(engine: Engine, state: Fold, policies: Policies, zone: ZoneInfo,
             now: datetime) -> int:
    """Fold until nothing new is left (a rebuild, a test, the bench); rows read."""
    total = 0
    while (read := fold(engine, state, policies, zone, now)):
        total += read
    return total


def rebuild(engine: Engine, now: datetime) -> None:
    """Forget every count: the next fold counts the whole history again."""
    with Session(engine) as s, s.begin():
        s.execute(sa.delete(ReportCount))
        s.execute(sa.delete(ReportTerm))
        s.execute(sa.delete(Cursor).where(*_is_cursor()))
    _ensure_cursor(engine, now)


def _anything_new(engine: Engine, state: Fold, zone: ZoneInfo) -> bool:
    """Whether a row is past the stored position, an id is still waited for, or the
    zone changed (or nothing was ever stored): read without the write lock."""
    if state.at is not None and any(state.at.missing.values()):
        return True
    with Session(reader(engine)) as s:
        stored = s.scalar(sa.select(col(Cursor.value)).where(*_is_cursor())) or ""
        text, _, stored_zone = stored.partition(" ")
        at = changes.Position.parse(text) or changes.Position()
        newest = [s.scalar(sa.text(f"SELECT max(id) FROM {t}")) or 0  # t: a fixed name
                  for t in changes.TABLES]
    return stored_zone != zone.key or newest[0] > at.event or newest[1] > at.message


def _is_cursor() -> tuple[sa.ColumnElement[bool], ...]:
    return (col(Cursor.channel) == _CURSOR[0], col(Cursor.account) == _CURSOR[1],
            col(Cursor.key) == _CURSOR[2])


def _ensure_cursor(engine: Engine, now: datetime) -> None:
    """The position row exists before it is locked; a new one starts at the first row
    of history (an upgraded deployment's reports cover what happened before)."""
    with Session(engine) as s:
        if s.scalar(sa.select(Cursor).where(*_is_cursor())) is not None:
            return
        s.add(Cursor(channel=_CURSOR[0], account=_CURSOR[1], key=_CURSOR[2], value="0.0",
                     updated_at=now))
        try:
            s.commit()
        except IntegrityError:  # another daemon made it first
            s.rollback()


def _lock_cursor(s: Session) -> Cursor | None:
    q = sa.select(Cursor).where(*_is_cursor())
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return s.scalar(q)


def _resume(s: Session, state: Fold, cursor: Cursor, zone: ZoneInfo) -> changes.Position:
    """Where to go on from: the stored position (with the ids this daemon still waits
    for, if it stored it); from the start, counts dropped, if the zone changed."""
    text, _, stored_zone = cursor.value.partition(" ")
    stored = changes.Position.parse(text) or changes.Position()
    if stored_zone and stored_zone != zone.key:
        s.execute(sa.delete(ReportCount))
        s.execute(sa.delete(ReportTerm))
        state.at = None
        return changes.Position()
    if state.at is not None and state.at.text() == stored.text():
        return state.at
    return stored


# ------------------------------------------------------------------ what a row means

@dataclass(frozen=True)
class _Seen:
    """What one occurrence is: counted under `agent` ("" none) in `bucket`."""

    metric: Metric
    agent: str
    bucket: int = 0


@dataclass(frozen=True)
class _Facts:
    """The batch's look-ups: conversations, their first message ids, and which have
    been resolved before."""

    convs: dict[int, Conversation]
    first_message: dict[int, int]
    first_resolution: dict[int, int]
    texts: dict[int, str]  # of the first messages among the rows


Key = tuple[str, int, str, date, str, str, str, int]
TermKey = tuple[str, str, str, date, str]  # kind, language, grain, period, term


def _count(s: Session, rows: list[changes.Row], policies: Policies,
           zone: ZoneInfo) -> tuple[Counter[Key], Counter[TermKey]]:
    facts = _facts(s, rows)
    counts: Counter[Key] = Counter()
    terms: Counter[TermKey] = Counter()
    for row in rows:
        conv = facts.convs.get(row.conversation_id or 0)
        if conv is None or row.at is None:
            continue
        day = row.at.astimezone(zone).date()
        for seen in _occurrences(row, conv, facts, policies):
            for key in _keys(seen, conv, day):
                counts[key] += 1
        for kind, language, term in _spoken(row, conv, facts):
            for grain, period in _grains(day):
                terms[(kind, language, grain, period, term[:TERM_MOST])] += 1
    return counts, terms


TERM_MOST = 200  # characters of a term, tag or rule name kept


def _spoken(row: changes.Row, conv: Conversation, facts: _Facts
            ) -> Iterator[tuple[str, str, str]]:
    """What a new conversation is about (its words, phrases and tags), and which rule
    hit a message: (kind, language, term)."""
    if row.kind == "rule" and isinstance(row.detail, dict) and row.detail.get("rule"):
        yield "rule", "", str(row.detail["rule"])
        return
    text = facts.texts.get(row.id) if row.table == "message" else None
    if text is None or AUTOMATED in conv.tags:
        return
    language = conv.language or ""
    found, phrases = words_of(text, conv.language)
    yield from (("term", language, t) for t in found)
    yield from (("phrase", language, p) for p in phrases)
    yield from (("tag", "", t) for t in dict.fromkeys(conv.tags))


def _grains(day: date) -> tuple[tuple[str, date], ...]:
    """Where an occurrence on a local day is counted: the day, its week (by its
    Monday) and its month (by its first day)."""
    return ("d", day), ("w", day - timedelta(days=day.weekday())), ("m", day.replace(day=1))


def _keys(seen: _Seen, conv: Conversation, day: date) -> Iterator[Key]:
    team, channel = conv.team or "", conv.channel
    for grain, period in _grains(day):
        for cube in CUBES:
            yield (seen.metric.value, cube, grain, period, team if cube & TEAM else "",
                   channel if cube & CHANNEL else "", seen.agent if cube & AGENT else "",
                   seen.bucket)


def _occurrences(row: changes.Row, conv: Conversation, facts: _Facts,
                 policies: Policies) -> Iterator[_Seen]:
    if row.table == "message":
        yield from _message(row, conv, facts)
        return
    detail: dict[str, Any] = row.detail if isinstance(row.detail, dict) else {}
    owner = conv.assignee or ""
    if row.kind == "reply.queued":
        yield from _reply(row, conv, detail, policies)
    elif row.kind in ("sla.met", "sla.breached"):
        metric = Metric.SLA_MET if row.kind == "sla.met" else Metric.SLA_BREACHED
        yield _Seen(metric, str(detail.get("by") or owner))
    elif row.kind == "status" and detail.get("to") == Status.RESOLVED \
            and detail.get("from") != Status.RESOLVED:
        yield from _resolved(row, conv, detail, facts, policies)
    elif row.kind == "escalated" and not detail.get("added"):
        yield _Seen(Metric.ESCALATED, str(detail.get("by") or ""))
    elif row.kind == "csat.queued":
        yield _Seen(Metric.CSAT_SENT, owner)
    elif row.kind == "csat.answered" and isinstance(detail.get("score"), int):
        yield _Seen(Metric.CSAT_ANSWERED, owner, detail["score"])


def _message(row: changes.Row, conv: Conversation, facts: _Facts) -> Iterator[_Seen]:
    if row.detail != Direction.IN or row.kind != Kind.CUSTOMER:
        return
    owner = conv.assignee or ""
    yield _Seen(Metric.MESSAGES, owner)
    if facts.first_message.get(conv.id or 0) == row.id:
        yield _Seen(Metric.AUTOMATED if AUTOMATED in conv.tags else Metric.CONVERSATIONS,
                    owner)


def _reply(row: changes.Row, conv: Conversation, detail: dict[str, Any],
           policies: Policies) -> Iterator[_Seen]:
    author = str(detail.get("author") or "")
    yield _Seen(Metric.REPLIES, author)
    waited = detail.get("sla_waited_seconds")
    if detail.get("sla_target") == "first" and isinstance(waited, int | float):
        assert row.at is not None
        start = datetime.fromtimestamp(row.at.timestamp() - waited, row.at.tzinfo)
        working = policies.of(conv).calendar.between(start, row.at)
        yield _Seen(Metric.FIRST_RESPONSE, author, bucket(working.total_seconds()))


def _resolved(row: changes.Row, conv: Conversation, detail: dict[str, Any],
              facts: _Facts, policies: Policies) -> Iterator[_Seen]:
    handler = conv.assignee or str(detail.get("by") or "")
    yield _Seen(Metric.RESOLVED, handler)
    first = facts.first_resolution.get(conv.id or 0)
    if AUTOMATED in conv.tags or (first is not None and first != row.id):
        return  # robots' and second resolutions' times say nothing of the team
    assert row.at is not None
    working = policies.of(conv).calendar.between(conv.created_at, row.at)
    yield _Seen(Metric.RESOLUTION, handler, bucket(working.total_seconds()))


def _facts(s: Session, rows: list[changes.Row]) -> _Facts:
    ids = {r.conversation_id for r in rows if r.conversation_id is not None}
    convs = {c.id or 0: c for c in _chunked(s, ids, lambda chunk: sa.select(Conversation)
                                            .where(col(Conversation.id).in_(chunk)))}
    asked = {r.conversation_id for r in rows if r.table == "message"} - {None}
    first_message = dict(_pairs(s, asked, lambda chunk: sa.select(
        col(Message.conversation_id), sa.func.min(col(Message.id)))
        .where(col(Message.conversation_id).in_(chunk))
        .group_by(col(Message.conversation_id))))
    resolving = {r.conversation_id for r in rows if r.kind == "status"} - {None}
    firsts = {r.id for r in rows if r.table == "message"
              and first_message.get(r.conversation_id or 0) == r.id}
    texts = dict(_pairs(s, firsts, lambda chunk: sa.select(col(Message.id), col(Message.text))
                        .where(col(Message.id).in_(chunk))))
    return _Facts(convs, first_message, _first_resolutions(s, resolving), texts)


def _first_resolutions(s: Session, ids: set[int | None]) -> dict[int, int]:
    """Each conversation's first status event that resolved it (read in Python: the
    detail is JSON, queried differently on each database)."""
    found: dict[int, int] = {}
    rows = _pairs(s, ids, lambda chunk: sa.select(
        col(Event.conversation_id), col(Event.id), col(Event.detail))
        .where(col(Event.conversation_id).in_(chunk), col(Event.kind) == "status")
        .order_by(col(Event.id)))
    for conv_id, event_id, detail in rows:
        if conv_id not in found and isinstance(detail, dict) \
                and detail.get("to") == Status.RESOLVED:
            found[conv_id] = event_id
    return found


def _chunked(s: Session, ids: Iterable[int | None], query: Any) -> Iterator[Any]:
    wanted = sorted(i for i in ids if i is not None)
    for start in range(0, len(wanted), 500):
        yield from s.scalars(query(wanted[start:start + 500]))


def _pairs(s: Session, ids: Iterable[int | None], query: Any) -> Iterator[Any]:
    wanted = sorted(i for i in ids if i is not None)
    for start in range(0, len(wanted), 500):
        yield from s.execute(query(wanted[start:start + 500]))


# ------------------------------------------------------------------ writing the counts

_COLUMNS = ("metric", "cube", "grain", "period", "team", "channel", "agent", "bucket")
_TERM_COLUMNS = ("kind", "language", "grain", "period", "term")


def _add(s: Session, counts: Counter[Key]) -> None:
    _upsert(s, ReportCount.__table__, _COLUMNS, counts)  # type: ignore[attr-defined]


def _add_terms(s: Session, terms: Counter[TermKey]) -> None:
    _upsert(s, ReportTerm.__table__, _TERM_COLUMNS, terms)  # type: ignore[attr-defined]


def _upsert(s: Session, table: sa.Table, columns: tuple[str, ...],
            counts: Mapping[tuple[Any, ...], int]) -> None:
    """Add to the stored counts: insert, or add on conflict, 1000 rows a statement (in
    key order, so two writers never wait on each other's rows in turn)."""
    if not counts:
        return
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=list(columns),
                                      set_={"n": table.c.n + stmt.excluded.n})
    values = [dict(zip(columns, key, strict=True)) | {"n": n}
              for key, n in sorted(counts.items())]
    for start in range(0, len(values), 1000):
        s.execute(stmt, values[start:start + 1000])
