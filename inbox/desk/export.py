"""Conversations and messages of a period, for analysis elsewhere (#18, docs/export.md):
CSV or JSON lines, read and written a page at a time, so that a million rows never sit
in memory at once. `inbox export` and `GET /api/v1/export/...` both stream these.

A row is a dict of plain values (ints, texts, lists of texts, aware UTC datetimes,
None) keyed by the kind's COLUMNS; `csv_text` and `jsonl_text` write a page of them.
The period is [since, until) by `created_at`, rows come in id order (the order they
were stored), and `team` and `channel` narrow it. The export is not one snapshot: each
page is its own short transaction (see `page`), so a row changed while the export runs
is written as it was when its page was read.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.errors import Invalid
from inbox.core.vocab import iso
from inbox.sla import clock as sla
from inbox.store.db import reader
from inbox.store.models import Contact, Conversation, Identity, Message, Survey

Kind = Literal["conversations", "messages"]
Format = Literal["csv", "jsonl"]
KINDS: tuple[Kind, ...] = ("conversations", "messages")
FORMATS: tuple[Format, ...] = ("csv", "jsonl")
Row = dict[str, Any]
PAGE = 1000  # rows per read: a few MB of messages at most, and few round trips

CONVERSATION_COLUMNS = (
    "id", "created_at", "updated_at", "channel", "account", "status", "priority", "team",
    "assignee", "language", "subject", "tags", "contact_id", "contact_name",
    "contact_address", "first_response_at", "sla_policy", "sla_state", "csat_score",
    "csat_comment")
MESSAGE_COLUMNS = (
    "id", "conversation_id", "created_at", "channel", "account", "direction", "kind",
    "sender", "sender_name", "author", "language", "subject", "text", "problems")
COLUMNS: dict[Kind, tuple[str, ...]] = {"conversations": CONVERSATION_COLUMNS,
                                        "messages": MESSAGE_COLUMNS}
MEDIA_TYPES: dict[Format, str] = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


@dataclass(frozen=True)
class Period:
    """What to export: [since, until) by creation time (aware datetimes), and only one
    team's or one channel's when given."""

    since: datetime
    until: datetime
    team: str | None = None
    channel: str | None = None

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise Invalid("the period's times need their time zone")
        if self.since >= self.until:
            raise Invalid("the period is empty: since must be before until")


# ------------------------------------------------------------------ reading


def page(engine: Engine, kind: Kind, period: Period, after: int, now: datetime, *,
         size: int = PAGE) -> tuple[list[Row], int]:
    """The next `size` rows with an id above `after`, and the last id read.

    Keyset pagination (id > last ORDER BY id LIMIT n), each page in a transaction of its
    own, rather than one server-side cursor over the whole period: on SQLite a read
    transaction held for the minutes a million rows take would keep every checkpoint
    from emptying the WAL, which then grows with every write the daemon makes meanwhile;
    on PostgreSQL it would hold back vacuum. A page is a range of the primary key, so
    each read is as fast as the first, whatever the offset, on both databases; and a
    page is a pure function of `after`, which lets the web run each one in a thread."""
    read = _conversations if kind == "conversations" else _messages
    with Session(reader(engine)) as s:
        return read(s, period, after, now, size)


def pages(engine: Engine, kind: Kind, period: Period, now: datetime, *,
          size: int = PAGE) -> Iterator[list[Row]]:
    """Every row of the period, a page at a time."""
    after = 0
    while True:
        found, after = page(engine, kind, period, after, now, size=size)
        if not found:
            return
        yield found


def rows(engine: Engine, kind: Kind, period: Period, now: datetime, *,
         size: int = PAGE) -> Iterator[Row]:
    """Every row of the period, one at a time (read a page at a time)."""
    for found in pages(engine, kind, period, now, size=size):
        yield from found


_CLOCK = (col(Conversation.status), col(Conversation.priority),
          col(Conversation.sla_policy), col(Conversation.awaiting_since),
          col(Conversation.sla_due_at), col(Conversation.sla_warn_at),
          col(Conversation.sla_next_at), col(Conversation.sla_state),
          col(Conversation.sla_paused_at), col(Conversation.sla_left_seconds),
          col(Conversation.snoozed_until), col(Conversation.first_response_at))


def _conversations(s: Session, p: Period, after: int, now: datetime,
                   size: int) -> tuple[list[Row], int]:
    q = (sa.select(col(Conversation.id), col(Conversation.created_at),
                   col(Conversation.updated_at), col(Conversation.channel),
                   col(Conversation.account), col(Conversation.team),
                   col(Conversation.assignee), col(Conversation.language),
                   col(Conversation.subject), col(Conversation.tags),
                   col(Conversation.contact_id), *_CLOCK,
                   col(Contact.name).label("contact_name"),
                   col(Survey.score).label("csat_score"),
                   col(Survey.comment).label("csat_comment"))
         .join(Contact, col(Contact.id) == col(Conversation.contact_id))
         .outerjoin(Survey, col(Survey.conversation_id) == col(Conversation.id))
         .where(col(Conversation.id) > after, col(Conversation.created_at) >= p.since,
                col(Conversation.created_at) < p.until)
         .order_by(col(Conversation.id)).limit(size))
    if p.team is not None:
        q = q.where(col(Conversation.team) == p.team)
    if p.channel is not None:
        q = q.where(col(Conversation.channel) == p.channel)
    found = s.execute(q).all()
    addresses = _addresses(s, {r.contact_id for r in found})
    out = [_conversation(r, addresses.get((r.contact_id, r.channel)), now) for r in found]
    return out, found[-1].id if found else after


def _conversation(r: Any, address: str | None, now: datetime) -> Row:
    # The row has every column the clock reads, under the clock's names.
    state = sla.sla_state(cast("sla.Clocked", r), now)
    return {"id": r.id, "created_at": r.created_at, "updated_at": r.updated_at,
            "channel": r.channel, "account": r.account, "status": r.status,
            "priority": r.priority, "team": r.team, "assignee": r.assignee,
            "language": r.language, "subject": r.subject, "tags": list(r.tags),
            "contact_id": r.contact_id, "contact_name": r.contact_name,
            "contact_address": address, "first_response_at": r.first_response_at,
            "sla_policy": r.sla_policy, "sla_state": state.value if state else None,
            "csat_score": r.csat_score, "csat_comment": r.csat_comment}


def _addresses(s: Session, contact_ids: set[int]) -> dict[tuple[int, str], str]:
    """Each contact's first address on each channel, as the queue shows it: one query
    per page."""
    out: dict[tuple[int, str], str] = {}
    if not contact_ids:
        return out
    for contact_id, channel, address in s.execute(
            sa.select(col(Identity.contact_id), col(Identity.channel), col(Identity.address))
            .where(col(Identity.contact_id).in_(contact_ids)).order_by(col(Identity.id))):
        out.setdefault((contact_id, channel), address)
    return out


def _messages(s: Session, p: Period, after: int, now: datetime,
              size: int) -> tuple[list[Row], int]:
    q = (sa.select(col(Message.id), col(Message.conversation_id), col(Message.created_at),
                   col(Message.channel), col(Message.account), col(Message.direction),
                   col(Message.kind), col(Message.sender), col(Message.sender_name),
                   col(Message.author), col(Message.language), col(Message.subject),
                   col(Message.text), col(Message.problems))
         .where(col(Message.id) > after, col(Message.created_at) >= p.since,
                col(Message.created_at) < p.until)
         .order_by(col(Message.id)).limit(size))
    if p.team is not None:  # a message's team is its conversation's
        q = q.join(Conversation, col(Conversation.id) == col(Message.conversation_id)
                   ).where(col(Conversation.team) == p.team)
    if p.channel is not None:
        q = q.where(col(Message.channel) == p.channel)
    found = s.execute(q).all()
    out = [{**r._asdict(), "problems": list(r.problems)} for r in found]
    return out, found[-1].id if found else after


# ------------------------------------------------------------------ writing

# A cell starting with one of these is read as a formula by spreadsheets (Excel,
# LibreOffice, Google Sheets): a customer could write `=HYPERLINK("https://evil",
# "click")` as a subject and have it run on an analyst's machine. OWASP's advice for
# CSV injection: start such a cell with a single quote, which spreadsheets show as
# text. JSON lines are left exactly as stored: no spreadsheet reads them.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LIST_SEPARATOR = "; "  # tags and problems in one CSV cell


def neutralised(text: str) -> str:
    """`text` as a CSV cell no spreadsheet runs as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value) or ""
    if isinstance(value, list):
        value = LIST_SEPARATOR.join(str(v) for v in value)
    return neutralised(value) if isinstance(value, str) else str(value)


def header(fmt: Format, kind: Kind) -> str:
    """What comes before the first row: CSV's header line; nothing for JSON lines."""
    return csv_text(COLUMNS[kind], [], header=True) if fmt == "csv" else ""


def chunk(fmt: Format, kind: Kind, found: Sequence[Row]) -> str:
    """A page of rows in `fmt` (without CSV's header line)."""
    if fmt == "csv":
        return csv_text(COLUMNS[kind], found)
    return jsonl_text(COLUMNS[kind], found)


def csv_text(columns: Sequence[str], found: Sequence[Row], *, header: bool = False) -> str:
    """RFC 4180 lines (CRLF; a cell with a comma, quote or line break in quotes), every
    text cell neutralised, lists joined with LIST_SEPARATOR, times in ISO 8601 UTC."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(columns)
    writer.writerows([_cell(r[c]) for c in columns] for r in found)
    return out.getvalue()


# json.dumps escapes every control character, so a value never breaks a line; but with
# ensure_ascii=False it leaves U+0085, U+2028 and U+2029 as they are, and Python's
# str.splitlines() (and JavaScript before ES2019) breaks lines there. Escaped, a line is
# one object for every reader, and the JSON means the same.
_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def jsonl_text(columns: Sequence[str], found: Sequence[Row]) -> str:
    """One JSON object per line, keys in column order, times in ISO 8601 UTC, lists as
    arrays, text as written (not \\u-escaped: Thai stays Thai)."""
    lines = (json.dumps({c: _plain(r[c]) for c in columns}, ensure_ascii=False,
                        separators=(",", ":")).translate(_BREAKS)
             for r in found)
    return "".join(line + "\n" for line in lines)


def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


def filename(kind: Kind, fmt: Format, period: Period) -> str:
    """A file name for a download: the kind and the period's UTC days (no caller's text
    in it, so no header can be broken with it)."""
    since, until = (at.astimezone(UTC) for at in (period.since, period.until))
    return f"{kind}-{since:%Y%m%d}-{until:%Y%m%d}.{fmt}"
