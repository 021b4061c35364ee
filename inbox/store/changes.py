"""Which conversations changed since we last looked: the read behind the desk's live feed.

Every change an agent should see adds a row to `event` or `message` (a message
ingested, a reply or note, an assignment, a status, an SLA transition, a send): their
ids only grow, so "what is new" is "ids above the ones seen". Read with the plain driver
(inbox.store.rawdb), which on SQLite takes no write lock and on PostgreSQL runs in
autocommit: each look sees exactly what has committed.

On PostgreSQL an id is taken when a row is inserted, not when it commits: a transaction
may commit id 10 after another committed id 11. An id skipped over is kept as a *gap*
and asked for again at every look until it shows up (its transaction committed) or
GAP_SECONDS pass (it was rolled back: ids are never handed out twice there). On SQLite
writers take turns, so gaps stay empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from inbox.store.rawdb import Reader

TABLES = ("event", "message")
GAP_SECONDS = 60.0  # longer than any transaction of ours lasts
MOST_GAPS = 1000  # per table: a burst of rolled-back ids must not make each look slow
BATCH = 5000  # rows per table per look; the rest at the next look


@dataclass
class Seen:
    """How far a watcher has read: the highest id per table, and the gaps below it
    (id -> when first missed, in the caller's monotonic seconds)."""

    high: dict[str, int] = field(default_factory=dict)
    gaps: dict[str, dict[int, float]] = field(default_factory=dict)


def start(reader: Reader) -> Seen:
    """Where to start: everything committed so far counts as seen."""
    seen = Seen()
    for table in TABLES:
        found = reader.rows(f"SELECT max(id) FROM {table}")  # table: one of TABLES
        seen.high[table] = int(found[0][0] or 0)
        seen.gaps[table] = {}
    return seen


def changed(reader: Reader, seen: Seen, now: float) -> set[int]:
    """The conversations with a new event or message since `seen`, which moves on."""
    out: set[int] = set()
    for table in TABLES:
        out |= _table(reader, table, seen, now)
    return out


def _table(reader: Reader, table: str, seen: Seen, now: float) -> set[int]:
    high, gaps = seen.high[table], seen.gaps[table]
    missing = sorted(gaps)
    where = f"id > ? OR id IN ({', '.join('?' * len(missing))})" if missing else "id > ?"
    rows = reader.rows(f"SELECT id, conversation_id FROM {table} WHERE {where} "
                       f"ORDER BY id LIMIT {BATCH}", (high, *missing))
    ids = {row[0] for row in rows}
    for gap in ids & gaps.keys():
        del gaps[gap]
    newest = max([high, *ids])
    # Below the newest id read, every id not read is uncommitted or rolled back: a gap
    # (ORDER BY id: a cut by LIMIT drops the highest ids only). A jump in the sequence
    # far wider than anything written at once is not a gap.
    if newest - high <= 4 * BATCH:
        gaps.update((i, now) for i in range(high + 1, newest) if i not in ids)
    for gap, since in list(gaps.items()):
        if now - since > GAP_SECONDS:
            del gaps[gap]
    for gap in sorted(gaps)[:-MOST_GAPS]:
        del gaps[gap]
    seen.high[table] = newest
    return {row[1] for row in rows if row[1] is not None}


Faces = dict[int, frozenset[tuple[int, str]]]


def presence(reader: Reader, at: datetime) -> Faces:
    """Who has which conversation open at `at`, and typing in which box ("" viewing),
    by conversation (the desk's "Kim is typing a reply"). Comparing two looks tells
    which conversations' presence changed, lapsed rows included."""
    rows = reader.rows("SELECT conversation_id, agent_id, typing, typing_until "
                       "FROM presence WHERE expires_at > ?", (reader.to_db(at),))
    found: dict[int, set[tuple[int, str]]] = {}
    for conv, agent, typing, until in rows:
        lapsed = until is None or (Reader.from_db(until) or at) <= at
        found.setdefault(conv, set()).add((agent, "" if lapsed else typing))
    return {conv: frozenset(faces) for conv, faces in found.items()}


def moved(before: Faces, after: Faces) -> set[int]:
    """The conversations whose presence differs between two looks."""
    return {c for c in before.keys() | after.keys() if before.get(c) != after.get(c)}


# The API's event stream (inbox.web.api): every new event and message row, in id order
# per table, resumable from a `Position`. An id skipped over (PostgreSQL: inserted, not
# yet committed, or rolled back) holds back what follows it for up to HOLD_SECONDS, so
# that a client resuming from a later position does not miss it once it commits.
HOLD_SECONDS = 3.0
STREAM_BATCH = 500


@dataclass
class Position:
    """How far a stream has read: the last id given per table ("E.M" as text)."""

    event: int = 0
    message: int = 0
    missing: dict[str, dict[int, float]] = field(default_factory=dict)

    def text(self) -> str:
        return f"{self.event}.{self.message}"

    @classmethod
    def parse(cls, text: str) -> Position | None:
        event, dot, message = text.strip().partition(".")
        if not (dot and event.isdigit() and message.isdigit()):
            return None
        return cls(int(event), int(message))


def position_now(reader: Reader) -> Position:
    """Where a stream with no position starts: after everything committed so far."""
    seen = start(reader)
    return Position(seen.high["event"], seen.high["message"])


@dataclass(frozen=True)
class Row:
    """One new row, for the stream: which table, and what a client needs to act."""

    table: str
    id: int
    conversation_id: int | None
    kind: str
    message_id: int | None
    at: datetime | None
    detail: Any
    team: str | None
    assignee: str | None


_STREAM_SQL = {
    "event": "SELECT e.id, e.conversation_id, e.kind, e.message_id, e.created_at, e.detail, "
             "c.team, c.assignee FROM event e LEFT JOIN conversation c "
             "ON c.id = e.conversation_id WHERE e.id > ? ORDER BY e.id LIMIT ?",
    "message": "SELECT m.id, m.conversation_id, m.kind, m.id, m.created_at, m.direction, "
               "c.team, c.assignee FROM message m LEFT JOIN conversation c "
               "ON c.id = m.conversation_id WHERE m.id > ? ORDER BY m.id LIMIT ?",
}


def new_rows(reader: Reader, at: Position, now: float, *,
             hold: float = HOLD_SECONDS, batch: int = STREAM_BATCH) -> list[Row]:
    """The rows after `at` that may be given now (`at` moves past them), oldest first,
    at most `batch` per table. `hold`: how long a skipped id may hold back the rows
    after it (webhooks, which promise every event, wait longer than a live screen does)."""
    out: list[Row] = []
    for table in TABLES:
        high = getattr(at, table)
        missing = at.missing.setdefault(table, {})
        for row in reader.rows(_STREAM_SQL[table], (high, batch)):
            gap = range(high + 1, row[0])
            for i in gap:
                missing.setdefault(i, now)
            if any(now - missing[i] < hold for i in gap):
                break  # an earlier id may still commit: wait for it
            for i in gap:
                del missing[i]
            missing.pop(row[0], None)
            high = row[0]
            out.append(Row(table, row[0], row[1], row[2], row[3], Reader.from_db(row[4]),
                           _detail(row[5]), row[6], row[7]))
        setattr(at, table, high)
    return sorted(out, key=lambda r: (r.at or datetime.min.replace(tzinfo=UTC), r.table))


def _detail(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
