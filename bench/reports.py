"""Benchmark: the reports (inbox.desk.reports) over a year of 1,000,000 conversations.

    python -m bench.reports [--conversations 1000000] [--database sqlite|postgresql|both]
                            [--runs 5] [--upsert]
                            [--pg postgresql://postgres@127.0.0.1:5432/postgres]

A year of history is generated once, in memory, with a support desk's shape: 6 teams,
5 channels, 40 agents (each in one team, answering on 2-3 channels), more conversations
on weekdays and in office hours, first responses from minutes to days and resolutions
from hours to weeks (log-normal), ~95% resolved, ~2% open now at every age, ~3% closed
unanswered, ~3% escalated, a survey sent for 60% of the resolved and answered for 30%
of those (some with a comment), 1.5% from robots.

For each database a deployment is made at the newest schema (`inbox.store.db.upgrade`),
then loaded: contacts, conversations, answered surveys and escalations in bulk
(executemany in one transaction on SQLite, COPY on PostgreSQL; the secondary indexes
dropped during the load and made again after it, as a restore would), and `report_count`
as the daemon's fold would have left it: each occurrence (a new conversation, a message,
a reply, a first response after so long, a promise kept or broken, a resolution, an
escalation, a survey sent or answered) is expanded into its keys by the fold's own
`inbox.desk.tally._keys` and written by its own upsert (`_add`) on SQLite, not replayed
from events (that would take hours). On PostgreSQL the same rows go in by COPY (the
table is empty, so the upsert would insert each; through psycopg's executemany it writes
~21,000 rows/s here, ~8 minutes for a million conversations' counts): `--upsert` writes
them with `_add` there too. Either way the stored rows and their sum are checked
against the keys.

Then every report is timed over the whole year, over 30 days and over a year with days
at both ends, unfiltered and for one team, one channel and both, each in a new session
as the desk's report page opens it (`reader`): one first run, then `--runs` more
(median and max); `backlog` (now) for each filter too. Every first result is checked
against the figures counted while generating, so a broken report cannot print a fast
time. The query plans of the year's reads are kept with the numbers. Prints a table and
writes bench/results/reports.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from bench.common import PG_ADMIN, pg_database
from inbox.core.vocab import AUTOMATED
from inbox.desk import reports
from inbox.desk.reports import OPEN_STATES, Scope
from inbox.desk.tally import _COLUMNS, Key, Metric, _add, _keys, _Seen, bucket
from inbox.store import search
from inbox.store.db import make_engine, reader, upgrade
from inbox.store.models import Conversation

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
YEAR = 2026
ZONE = ZoneInfo("Europe/Berlin")  # the reports' zone: local days, a DST change each way
NOW = datetime(YEAR + 1, 1, 1, tzinfo=ZONE)  # the year is over: every report can see it
HOUR, DAY = 3600.0, 86400.0
PROMISE = 24 * HOUR  # the default policy's first-response target

TEAMS = {"billing": 7, "tech": 10, "orders": 7, "returns": 6, "sales": 5, "accounts": 5}
TEAM_WEIGHTS = (0.18, 0.30, 0.20, 0.14, 0.10, 0.08)
CHANNELS = ("email", "telegram", "api", "mastodon", "bluesky")
CHANNEL_WEIGHTS = (0.44, 0.24, 0.17, 0.07, 0.08)
FIRST_NAMES = (
    "Ada", "Bram", "Chidi", "Dana", "Eero", "Farah", "Goran", "Hana", "Ivo", "Jia",
    "Kofi", "Lena", "Mateo", "Nour", "Olek", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
    "Uma", "Vera", "Wen", "Xavi", "Yara", "Zeno", "Amir", "Bea", "Cyril", "Dora",
    "Emil", "Fleur", "Gus", "Hiro", "Ines", "Jonas", "Kira", "Luca", "Mira", "Nils")
# Local weekday (Monday first) and hour of day: how many conversations start then.
WEEKDAY = (1.15, 1.10, 1.05, 1.00, 0.90, 0.45, 0.35)
HOURS = (0.2, 0.15, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 2.5, 3.4, 3.6, 3.4, 2.8, 3.1, 3.3, 3.1,
         2.8, 2.2, 1.6, 1.3, 1.1, 0.9, 0.6, 0.35)
OPEN_SHARE, CLOSED_SHARE, ROBOT_SHARE = 0.02, 0.03, 0.015
ESCALATED, CSAT_SENT, CSAT_ANSWERED, COMMENTED = 0.03, 0.60, 0.30, 0.35
SCORES, SCORE_WEIGHTS = (1, 2, 3, 4, 5), (0.06, 0.05, 0.10, 0.25, 0.54)
COMMENTS = ("Quick and friendly, thank you", "Took far too long", "Solved it at once",
            "Nobody read what I wrote", "Great help with the refund", "Still not fixed")
REASONS = ("customer threatens to leave", "refund over the limit", "legal question",
           "bug confirmed, needs an engineer", "angry customer, third time writing")

# What is counted while generating, keyed as the fold counts it before expanding:
# (metric, agent, bucket, team, channel, local day).
Occ = tuple[str, str, int, str, str, date]


# ------------------------------------------------------------------ the year's history

@dataclass
class History:
    """The generated year: rows to load, and what the reports must find in them."""

    contacts: int
    conversations: list[tuple[Any, ...]] = field(default_factory=list)
    surveys: list[tuple[Any, ...]] = field(default_factory=list)
    escalations: list[tuple[Any, ...]] = field(default_factory=list)
    occ: Counter[Occ] = field(default_factory=Counter)
    open_now: Counter[tuple[str, str]] = field(default_factory=Counter)  # (team, channel)
    comments: Counter[tuple[str, str, date]] = field(default_factory=Counter)
    escalation_rows: Counter[tuple[str, str, date]] = field(default_factory=Counter)
    humans: int = 0
    robots: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


CONV_COLUMNS = ("id", "channel", "account", "contact_id", "subject", "status", "priority",
                "team", "assignee", "tags", "attributes", "language", "sla_policy",
                "awaiting_since", "sla_due_at", "sla_warn_at", "sla_state", "sla_next_at",
                "first_response_at", "acked", "created_at", "updated_at")
CONTACT_COLUMNS = ("id", "name", "tags", "vip", "created_at", "last_language_count")
SURVEY_COLUMNS = ("id", "conversation_id", "contact_id", "channel", "state", "language",
                  "due_at", "sent_at", "expires_at", "answered_at", "score", "comment",
                  "answered_via", "created_at")
ESCALATION_COLUMNS = ("id", "conversation_id", "escalated_by", "supervisor", "reason",
                      "more", "created_at", "handled_at", "handled_by")


class Calendar:
    """Local days of the year as UTC seconds: which day an instant falls in, fast."""

    def __init__(self) -> None:
        first = date(YEAR, 1, 1)
        self.days = [first + timedelta(days=i)
                     for i in range((date(YEAR + 1, 1, 1) - first).days + 1)]
        self.starts = [datetime.combine(d, datetime.min.time(), ZONE).timestamp()
                       for d in self.days]
        self.start, self.end = self.starts[0], self.starts[-1]

    def day(self, ts: float) -> date:
        return self.days[bisect_right(self.starts, ts) - 1]


def _stamp(ts: float | None) -> str | None:
    """SQLAlchemy's stored form of a UTC time (naive, microseconds); PostgreSQL reads
    it too."""
    if ts is None:
        return None
    return (_EPOCH + timedelta(seconds=ts)).isoformat(" ", "microseconds")


_EPOCH = datetime(1970, 1, 1)


def _agents() -> tuple[dict[tuple[str, str], list[str]], dict[str, list[str]]]:
    """Who answers what: (team, channel) -> agents, and team -> agents. Each agent is in
    one team and answers on 2 or 3 channels; every team covers every channel."""
    pool: dict[tuple[str, str], list[str]] = {}
    by_team: dict[str, list[str]] = {}
    names = iter(FIRST_NAMES)
    for team, size in TEAMS.items():
        for j in range(size):
            name = next(names)
            by_team.setdefault(team, []).append(name)
            for k in range(2 + j % 2):
                pool.setdefault((team, CHANNELS[(2 * j + k) % len(CHANNELS)]), []).append(name)
    assert all((t, c) in pool for t in TEAMS for c in CHANNELS)
    return pool, by_team


def generate(count: int, seed: int = 18) -> History:
    """A year of `count` conversations, with what the reports must find in them."""
    return _Generator(count, seed).run()


@dataclass
class _Life:
    """One person's conversation: who has it, and when each thing happened (UTC
    seconds; None: not by the end of the year)."""

    cid: int
    contact: int
    team: str
    channel: str
    owner: str
    created: float
    frt: float  # the first response's wait
    res: float  # the resolution's wait
    replied: float | None
    resolved: float | None
    closed: bool  # closed unanswered (spam, duplicates)
    end: float = 0.0  # the last moment anything can happen in it
    last: float = 0.0  # the last thing that did


class _Generator:
    def __init__(self, count: int, seed: int) -> None:
        self.count, self.rnd, self.cal = count, random.Random(seed), Calendar()
        self.now = NOW.timestamp()
        self.pool, self.by_team = _agents()
        self.h = History(contacts=max(count // 3, 1))

    def run(self) -> History:
        rnd, cal, count = self.rnd, self.cal, self.count
        ndays = len(cal.days) - 1
        day_weights = [WEEKDAY[d.weekday()] * (1 + 0.15 * math.sin(2 * math.pi * i / ndays))
                       for i, d in enumerate(cal.days[:-1])]
        days = rnd.choices(range(ndays), weights=day_weights, k=count)
        hours = rnd.choices(range(24), weights=HOURS, k=count)
        teams = rnd.choices(list(TEAMS), weights=TEAM_WEIGHTS, k=count)
        channels = rnd.choices(CHANNELS, weights=CHANNEL_WEIGHTS, k=count)
        for i in range(count):
            start = cal.starts[days[i]]
            created = min(start + (hours[i] + rnd.random()) * HOUR,
                          cal.starts[days[i] + 1] - 1)
            contact = rnd.randint(1, self.h.contacts)
            if rnd.random() < ROBOT_SHARE:
                self.robot(i + 1, contact, created)
            else:
                self.person(self.life(i + 1, contact, teams[i], channels[i], created))
        return self.h

    def robot(self, cid: int, contact: int, created: float) -> None:
        """A notification: counted, resolved by the rules a minute later, no times."""
        h, day_of = self.h, self.cal.day
        h.robots += 1
        channel = "email" if self.rnd.random() < 0.8 else "api"
        d = day_of(created)
        h.occ[("automated", "", 0, "", channel, d)] += 1
        h.occ[("messages", "", 0, "", channel, d)] += 1
        done = min(created + 60, self.now - 1)
        h.occ[("resolved", "", 0, "", channel, day_of(done))] += 1
        h.statuses["resolved"] += 1
        h.conversations.append((
            cid, channel, "support", contact, f"Notification {cid}", "resolved",
            "low", None, None, f'["{AUTOMATED}"]', "{}", "en", "default", None, None,
            None, None, None, None, True, _stamp(created), _stamp(done)))

    def life(self, cid: int, contact: int, team: str, channel: str,
             created: float) -> _Life:
        """When things happen: ~2% stuck open (of any age), ~3% closed unanswered, the
        rest answered and resolved unless the year ended first."""
        rnd, now = self.rnd, self.now
        owner = rnd.choice(self.pool[(team, channel)])
        fate = rnd.random()
        stuck, closed = fate < OPEN_SHARE, OPEN_SHARE <= fate < OPEN_SHARE + CLOSED_SHARE
        if stuck:
            age = min(rnd.lognormvariate(math.log(2 * DAY), 1.3), now - self.cal.start)
            created = max(now - age, self.cal.start)
        frt = min(max(rnd.lognormvariate(math.log(1.5 * HOUR), 1.5), 20.0), 30 * DAY)
        res = frt + rnd.lognormvariate(math.log(16 * HOUR), 1.3)
        replied: float | None = created + frt
        resolved: float | None = created + res
        if stuck and rnd.random() < 0.5:
            replied = None  # nobody has answered yet
        if stuck or closed:
            resolved = None
        if closed or (replied is not None and replied >= now):
            replied = None
        if resolved is not None and resolved >= now:
            resolved = None  # still open at the end of the year
        life = _Life(cid, contact, team, channel, owner, created, frt, res, replied,
                     resolved, closed)
        life.end = resolved if resolved is not None else (
            min(created + 4 * HOUR, now - 1) if closed else now - 1)
        life.last = created
        return life

    def tick(self, metric: str, agent: str, bkt: int, c: _Life, at: float) -> None:
        self.h.occ[(metric, agent, bkt, c.team, c.channel, self.cal.day(at))] += 1

    def person(self, c: _Life) -> None:
        self.h.humans += 1
        rnd = self.rnd
        self.tick("conversations", c.owner, 0, c, c.created)
        self.tick("messages", c.owner, 0, c, c.created)
        for _ in range(rnd.choices((0, 1, 2, 3), (55, 28, 12, 5))[0]):
            at = rnd.uniform(c.created, c.end)
            c.last = max(c.last, at)
            self.tick("messages", c.owner, 0, c, at)
        sla_state = self.answer(c)
        if rnd.random() < ESCALATED and not c.closed:
            self.escalate(c)
        if c.resolved is not None:
            self.tick("resolved", c.owner, 0, c, c.resolved)
            self.tick("resolution", c.owner, bucket(c.res), c, c.resolved)
            c.last = max(c.last, c.resolved)
            self.survey(c, c.resolved)
            status = "closed" if rnd.random() < 0.2 else "resolved"
        elif c.closed:
            status = "closed"
        else:
            status = "pending" if c.replied is not None and rnd.random() < 0.3 else (
                "snoozed" if rnd.random() < 0.05 else "open")
        self.h.statuses[status] += 1
        if status in OPEN_STATES:
            self.h.open_now[(c.team, c.channel)] += 1
        self.row(c, status, sla_state)

    def answer(self, c: _Life) -> str:
        """The replies, the first response and the promise; the SLA state."""
        rnd = self.rnd
        if c.replied is None:
            if c.closed or c.created + PROMISE >= self.now:
                return "ok"
            self.tick("sla_breached", c.owner, 0, c, c.created + PROMISE)
            return "breached"
        author = c.owner if rnd.random() < 0.9 else rnd.choice(self.by_team[c.team])
        self.tick("replies", author, 0, c, c.replied)
        self.tick("first_response", author, bucket(c.frt), c, c.replied)
        if c.frt <= PROMISE:
            self.tick("sla_met", author, 0, c, c.replied)
            state = "met"
        else:
            self.tick("sla_breached", c.owner, 0, c, c.created + PROMISE)
            state = "breached"
        for _ in range(rnd.choices((0, 1, 2, 3), (50, 30, 14, 6))[0]):
            at = rnd.uniform(c.replied, c.end)
            c.last = max(c.last, at)
            self.tick("replies", c.owner, 0, c, at)
        c.last = max(c.last, c.replied)
        return state

    def escalate(self, c: _Life) -> None:
        rnd, h = self.rnd, self.h
        at = rnd.uniform(c.created, c.created + 0.5 * (c.end - c.created))
        self.tick("escalated", c.owner, 0, c, at)
        handled = at + rnd.lognormvariate(math.log(3 * HOUR), 1.0)
        done = handled < self.now
        h.escalations.append((
            len(h.escalations) + 1, c.cid, c.owner, None, rnd.choice(REASONS), "[]",
            _stamp(at), _stamp(handled) if done else None,
            f"lead-{c.team}" if done else None))
        h.escalation_rows[(c.team, c.channel, self.cal.day(at))] += 1

    def survey(self, c: _Life, resolved: float) -> None:
        """Sent an hour after the resolution for 60%, answered by 30% of those."""
        rnd, h = self.rnd, self.h
        sent = resolved + HOUR
        if not (rnd.random() < CSAT_SENT and sent < self.now):
            return
        self.tick("csat_sent", c.owner, 0, c, sent)
        answered = sent + rnd.lognormvariate(math.log(3 * HOUR), 1.2)
        if not (rnd.random() < CSAT_ANSWERED and answered < self.now):
            return
        score = rnd.choices(SCORES, SCORE_WEIGHTS)[0]
        self.tick("csat_answered", c.owner, score, c, answered)
        comment = rnd.choice(COMMENTS) if rnd.random() < COMMENTED else None
        if comment is not None:
            h.comments[(c.team, c.channel, self.cal.day(answered))] += 1
        h.surveys.append((
            len(h.surveys) + 1, c.cid, c.contact, c.channel, "answered", "en",
            _stamp(sent), _stamp(sent), _stamp(sent + 30 * DAY), _stamp(answered), score,
            comment, "link", _stamp(resolved)))

    def row(self, c: _Life, status: str, sla_state: str) -> None:
        """The conversation as stored at the end of the year: a running clock for the
        open ones nobody answered yet."""
        waiting = status == "open" and c.replied is None
        due = c.created + PROMISE if waiting else None
        warn = c.created + 20 * HOUR if waiting else None
        state = "breached" if due is not None and due < self.now else sla_state
        upcoming = [t for t in (warn, due) if t is not None and t > self.now]
        self.h.conversations.append((
            c.cid, c.channel, "support", c.contact, f"Order {c.cid}", status,
            self.rnd.choice(("normal", "normal", "normal", "high", "low", "urgent")),
            c.team, c.owner, "[]", "{}", "en", "default",
            _stamp(c.created) if waiting else None, _stamp(due), _stamp(warn), state,
            _stamp(min(upcoming)) if upcoming else None, _stamp(c.replied), True,
            _stamp(c.created), _stamp(c.last)))


def tally(h: History) -> Counter[Key]:
    """`report_count` as the fold would have made it: each occurrence expanded into its
    16 keys (8 cubes x day and month) by the fold's own `_keys`."""
    counts: Counter[Key] = Counter()
    convs: dict[tuple[str, str], Conversation] = {}
    metrics = {m.value: m for m in Metric}
    for (metric, agent, bkt, team, channel, day), n in h.occ.items():
        conv = convs.get((team, channel))
        if conv is None:
            conv = convs[(team, channel)] = Conversation(
                channel=channel, account="support", contact_id=0, team=team or None)
        for key in _keys(_Seen(metrics[metric], agent, bkt), conv, day):
            counts[key] += n
    return counts


# ------------------------------------------------------------------ loading

def _secondary_indexes() -> list[sa.Index]:
    tables = SQLModel.metadata.tables
    return [ix for name in ("conversation", "survey", "escalation")
            for ix in tables[name].indexes]


def _index_names(engine: Engine) -> set[tuple[str, str]]:
    inspector = sa.inspect(engine)
    return {(t, str(ix["name"])) for t in ("conversation", "survey", "escalation", "contact",
                                           "report_count")
            for ix in inspector.get_indexes(t)}


def _tables(h: History) -> Iterator[tuple[str, tuple[str, ...], Iterator[tuple[Any, ...]]]]:
    born = _stamp(datetime(YEAR - 1, 6, 1, tzinfo=UTC).timestamp())
    contacts = ((i, f"Customer {i}", "[]", False, born, 0) for i in range(1, h.contacts + 1))
    yield "contact", CONTACT_COLUMNS, contacts
    yield "conversation", CONV_COLUMNS, iter(h.conversations)
    yield "survey", SURVEY_COLUMNS, iter(h.surveys)
    yield "escalation", ESCALATION_COLUMNS, iter(h.escalations)


def load(engine: Engine, url: str, h: History, counts: Counter[Key], *,
         upsert: bool) -> dict[str, float]:
    """Load the rows and the counts; seconds per step."""
    took: dict[str, float] = {}
    start = time.perf_counter()
    before = _index_names(engine)
    with engine.begin() as conn:
        for index in _secondary_indexes():
            index.drop(conn)
    if engine.dialect.name == "sqlite":
        _load_sqlite(url.removeprefix("sqlite:///"), h)
    else:
        _load_pg(url, h)
    took["rows"] = time.perf_counter() - start
    start = time.perf_counter()
    with engine.begin() as conn:
        for index in _secondary_indexes():
            index.create(conn)
    assert _index_names(engine) == before, "the indexes made again differ from upgrade()'s"
    took["indexes"] = time.perf_counter() - start
    start = time.perf_counter()
    if engine.dialect.name == "postgresql" and not upsert:
        _copy_counts(url, counts)
    else:
        groups: dict[tuple[str, int, str], Counter[Key]] = {}
        for key, n in counts.items():
            groups.setdefault(key[:3], Counter())[key] = n
        with Session(engine) as s, s.begin():
            for name in sorted(groups):  # the primary key's order: metric, cube, grain
                _add(s, groups.pop(name))
    took["report_count"] = time.perf_counter() - start
    start = time.perf_counter()
    # Settle, as an operator would after a restore: the write-ahead log checkpointed,
    # PostgreSQL's statistics and hint bits written now, not during the measurements.
    engine.dispose()
    if engine.dialect.name == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("VACUUM ANALYZE")
            db.execute("CHECKPOINT")
    took["settle"] = time.perf_counter() - start
    return took


def _copy_counts(url: str, counts: Counter[Key]) -> None:
    """The same rows as `_add` would write into the empty table, by COPY: psycopg's
    executemany of the upsert writes ~21,000 rows/s here, 8 minutes for a million
    conversations' counts (`--upsert` takes that way)."""
    cols = ", ".join((*_COLUMNS, "n"))
    with psycopg.connect(url) as db, db.cursor() as cur, \
            cur.copy(f"COPY report_count ({cols}) FROM STDIN") as copy:
        for key, n in sorted(counts.items()):
            copy.write_row((*key, n))


def _load_sqlite(path: str, h: History) -> None:
    db = sqlite3.connect(path)
    search.register(db)  # the search index's triggers (migration 0005) call inbox_fold
    db.execute("PRAGMA synchronous=OFF")  # generation only: a crash here loses a bench
    with db:
        for name, cols, rows in _tables(h):
            sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            db.executemany(sql, rows)
    db.close()


def _load_pg(url: str, h: History) -> None:
    with psycopg.connect(url) as db, db.cursor() as cur:
        for name, cols, rows in _tables(h):
            with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {name}))")


# ------------------------------------------------------------------ what must be found

@dataclass(frozen=True)
class Case:
    label: str
    scope: Scope


def cases() -> list[Case]:
    year = (date(YEAR, 1, 1), date(YEAR + 1, 1, 1))
    last30 = (date(YEAR, 12, 2), date(YEAR + 1, 1, 1))
    ragged = (date(YEAR, 1, 16), date(YEAR, 12, 16))  # 10 months and 31 days
    return [Case("year", Scope(*year)),
            Case("year, team", Scope(*year, team="tech")),
            Case("year, channel", Scope(*year, channel="email")),
            Case("year, team+channel", Scope(*year, team="tech", channel="email")),
            Case("Jan 16-Dec 15", Scope(*ragged)),
            Case("30 days", Scope(*last30)),
            Case("30 days, team+channel", Scope(*last30, team="tech", channel="email"))]


def _in(scope: Scope, team: str, channel: str, day: date | None = None) -> bool:
    return (scope.team is None or scope.team == team) and \
        (scope.channel is None or scope.channel == channel) and \
        (day is None or scope.since <= day < scope.until)


def expected(h: History, scope: Scope) -> Counter[str]:
    """The totals each report must show for `scope`, from what was generated."""
    out: Counter[str] = Counter()
    for (metric, _agent, _bkt, team, channel, day), n in h.occ.items():
        if _in(scope, team, channel, day):
            out[metric] += n
    out["open"] = sum(n for (t, c), n in h.open_now.items() if _in(scope, t, c))
    out["comments"] = sum(n for (t, c, d), n in h.comments.items() if _in(scope, t, c, d))
    out["escalation_rows"] = sum(n for (t, c, d), n in h.escalation_rows.items()
                                 if _in(scope, t, c, d))
    return out


Check = Callable[[dict[str, Any], Counter[str]], None]


def _volume(r: dict[str, Any], e: Counter[str]) -> None:
    assert r["total"] == {"conversations": e["conversations"], "automated": e["automated"],
                          "messages": e["messages"]}, (r["total"], e)
    assert sum(map(sum, r["conversations_by_channel"].values())) == e["conversations"]


def _times(r: dict[str, Any], e: Counter[str]) -> None:
    for metric in ("first_response", "resolution"):
        assert r[metric]["overall"]["count"] == e[metric], (metric, r[metric]["overall"])
        assert sum(t["count"] for t in r[metric]["by_agent"].values()) == e[metric]


def _promise(r: dict[str, Any], e: Counter[str]) -> None:
    overall = r["overall"]
    assert (overall["met"], overall["breached"]) == (e["sla_met"], e["sla_breached"])


def _workload(r: dict[str, Any], e: Counter[str]) -> None:
    rows = r["by_agent"].values()
    assert sum(a["handled"] for a in rows) == e["resolved"]
    assert sum(a["replies"] for a in rows) == e["replies"]
    assert sum(a["open"] for a in rows) == e["open"]


def _csat(r: dict[str, Any], e: Counter[str]) -> None:
    assert (r["overall"]["sent"], r["overall"]["answered"]) == \
        (e["csat_sent"], e["csat_answered"]), (r["overall"], e)
    assert len(r["comments"]) == min(50, e["comments"])


def _escalations(r: dict[str, Any], e: Counter[str]) -> None:
    assert r["total"] == e["escalated"] == sum(r["by_team"].values())
    assert len(r["latest"]) == min(50, e["escalation_rows"])


def _backlog(r: dict[str, Any], e: Counter[str]) -> None:
    assert r["total"] == e["open"] == sum(r["ages"].values())


Read = Callable[[Session, Scope], dict[str, Any]]
REPORTS: dict[str, tuple[Read, Check]] = {
    "volume": (reports.volume, _volume),
    "times": (reports.response_times, _times),
    "promise": (reports.promise, _promise),
    "workload": (reports.workload, _workload),
    "csat": (lambda s, scope: reports.csat(s, scope, ZONE), _csat),
    "escalations": (lambda s, scope: reports.escalations(s, scope, ZONE), _escalations),
}
BACKLOG: tuple[Read, Check] = (lambda s, scope: reports.backlog(s, scope, NOW), _backlog)


# ------------------------------------------------------------------ measuring

def timed(engine: Engine, read: Read, check: Check, scope: Scope, want: Counter[str], *,
          runs: int) -> dict[str, float]:
    """The first run (checked), then `runs` more, each in a new session; ms."""
    def once() -> tuple[float, dict[str, Any]]:
        start = time.perf_counter()
        with Session(reader(engine)) as s:  # as the desk's report page reads
            result = read(s, scope)
        return (time.perf_counter() - start) * 1000, result

    first, result = once()
    check(result, want)
    samples = [once()[0] for _ in range(runs)]
    return {"first_ms": first, "median_ms": statistics.median(samples),
            "max_ms": max(samples), "runs": runs}


def plans(engine: Engine, read: Read, scope: Scope) -> list[dict[str, Any]]:
    """Each statement the report sends, with the database's plan for it."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
             _many: bool) -> None:
        sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        with Session(reader(engine)) as s:
            read(s, scope)
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)
    sqlite = engine.dialect.name == "sqlite"
    out = []
    with engine.connect() as conn:
        for statement, parameters in sent:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue  # SQLite's BEGIN: the session's, not the report's
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = conn.exec_driver_sql(prefix + statement, parameters).all()
            out.append({"sql": " ".join(statement.split())[:200],
                        "plan": [str(r[-1]) for r in rows]})
    return out


def measure(name: str, url: str, h: History, counts: Counter[Key],
            args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    print(f"{name}: loading ...", flush=True)
    took = load(engine, url, h, counts, upsert=args.upsert)
    with engine.connect() as conn:
        rows, total = conn.exec_driver_sql("SELECT count(*), sum(n) FROM report_count").one()
    assert (rows, total) == (len(counts), sum(counts.values())), (rows, total)
    runs = args.runs
    # A report runs in a command's or the daemon's process, whose heap is small (and
    # `inbox run` freezes its own, bench.desk too); this one holds the generated year,
    # tens of millions of objects that each full collection would walk, adding up to a
    # second to a report that allocates a few hundred thousand rows.
    gc.collect()
    gc.freeze()
    print(f"{name}: loaded in {sum(took.values()):.0f} s "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in took.items())}); "
          f"report_count {rows:,} rows", flush=True)
    times: list[dict[str, Any]] = []
    for case in cases():
        want = expected(h, case.scope)
        if case.label == "year":
            assert want["conversations"] == h.humans and want["automated"] == h.robots
        for report, (read, check) in REPORTS.items():
            t = timed(engine, read, check, case.scope, want, runs=runs)
            times.append({"report": report, "scope": case.label, **t})
            print(f"  {report:12} {case.label:24} {t['median_ms']:8.1f} ms "
                  f"(max {t['max_ms']:.1f}, first {t['first_ms']:.1f})", flush=True)
        if case.label.startswith("year"):
            t = timed(engine, *BACKLOG, case.scope, want, runs=runs)
            label = "now" + case.label.removeprefix("year")
            times.append({"report": "backlog", "scope": label, **t})
            print(f"  {'backlog':12} {label:24} {t['median_ms']:8.1f} ms "
                  f"(max {t['max_ms']:.1f}, first {t['first_ms']:.1f})", flush=True)
    year, narrow = cases()[0].scope, cases()[3].scope
    explained = {f"{report} ({label})": plans(engine, read, scope)
                 for report, (read, _) in [*REPORTS.items(), ("backlog", BACKLOG)]
                 for label, scope in (("year", year), ("year, team+channel", narrow))}
    engine.dispose()
    return {"load_seconds": took, "report_count_rows": rows, "times": times,
            "plans": explained}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--conversations", type=int, default=1_000_000)
    ap.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pg", default=PG_ADMIN)
    ap.add_argument("--upsert", action="store_true",
                    help="write report_count on PostgreSQL by tally's upsert, not COPY")
    args = ap.parse_args()
    start = time.perf_counter()
    h = generate(args.conversations)
    generated = time.perf_counter() - start
    print(f"generated {args.conversations:,} conversations in {generated:.0f} s: "
          f"{h.humans:,} from people, {h.robots:,} from robots, "
          f"{len(h.surveys):,} surveys answered, {len(h.escalations):,} escalations, "
          f"{len(h.occ):,} distinct occurrences; {dict(h.statuses)}", flush=True)
    start = time.perf_counter()
    counts = tally(h)
    expanded = time.perf_counter() - start
    print(f"expanded into {len(counts):,} keys of report_count in {expanded:.0f} s",
          flush=True)
    runs: dict[str, dict[str, Any]] = {}
    if args.database in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="inbox-bench-reports-") as tmp:
            runs["sqlite"] = measure("sqlite", f"sqlite:///{tmp}/inbox.db", h, counts, args)
    if args.database in ("postgresql", "both"):
        with pg_database(args.pg, prefix="inbox_bench_reports") as url:
            runs["postgresql"] = measure("postgresql", url, h, counts, args)
    report(args, generated + expanded, h, runs)


def report(args: argparse.Namespace, generated: float, h: History,
           runs: dict[str, dict[str, Any]]) -> None:
    header = ("report", "scope", "database", "median ms", "max ms", "first ms",
              "report_count rows")
    rows = [(t["report"], t["scope"], db, f"{t['median_ms']:.1f}", f"{t['max_ms']:.1f}",
             f"{t['first_ms']:.1f}", f"{r['report_count_rows']:,}")
            for db, r in runs.items() for t in r["times"]]
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    slowest = max((t["max_ms"], t["report"], t["scope"], db)
                  for db, r in runs.items() for t in r["times"])
    print(f"slowest: {slowest[1]} ({slowest[2]}, {slowest[3]}) {slowest[0]:.1f} ms max")
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
            "conversations": args.conversations, "runs": args.runs, "year": YEAR,
            "zone": ZONE.key, "cpus": os.cpu_count(), "python": platform.python_version(),
            "generate_seconds": generated, "humans": h.humans, "robots": h.robots,
            "statuses": dict(h.statuses), "surveys_answered": len(h.surveys),
            "escalations": len(h.escalations), "distinct_occurrences": len(h.occ),
            "results": runs}
    (RESULTS / "reports.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()
