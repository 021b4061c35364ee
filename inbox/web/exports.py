"""`GET /api/v1/export/conversations` and `/export/messages` (docs/export.md): a
period's rows as a CSV or JSON-lines download, streamed as inbox.desk.export reads them.

Everything the caller can get wrong is checked before the first byte, so it is a 422
with the API's JSON error; once the answer has begun, a failing read can only cut the
stream (the server then closes the connection without the last chunk, which a client
sees as an incomplete download, never as a complete short file).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.responses import StreamingResponse

from inbox.core.errors import Invalid
from inbox.desk import export
from inbox.desk.export import Format, Kind, Period

QUERY = ("since", "until", "team", "channel", "format")


def download(engine: Engine, kind: Kind, q: QueryParams, now: datetime) -> StreamingResponse:
    """The streamed answer to an export request; Invalid for a query it cannot follow."""
    period, fmt = wanted(q, now)
    media = export.MEDIA_TYPES[fmt]
    name = export.filename(kind, fmt, period)
    return StreamingResponse(
        _body(engine, kind, period, fmt, now),
        media_type=f"{media}; charset=utf-8" if fmt == "csv" else media,
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 # personal data: no cache on the way keeps a copy
                 "Cache-Control": "no-store",
                 # a proxy passes it on as it comes instead of spooling the whole file
                 "X-Accel-Buffering": "no"})


def wanted(q: QueryParams, now: datetime) -> tuple[Period, Format]:
    """The period and format a query asks for: `since` (required) and `until` (default:
    now) in ISO 8601, a time without an offset being UTC; `team`, `channel`; `format`
    csv (default) or jsonl."""
    fmt = q.get("format") or "csv"
    if fmt not in export.FORMATS:
        raise Invalid(f"format: {' or '.join(export.FORMATS)}")
    if not q.get("since"):
        raise Invalid("since: the start of the period, e.g. 2026-11-01 or "
                      "2026-11-01T00:00:00+07:00")
    since = _moment("since", q["since"])
    until = _moment("until", q["until"]) if q.get("until") else now
    return Period(since, until, team=_name(q, "team"),
                  channel=_name(q, "channel")), fmt


def _moment(name: str, text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise Invalid(f"{name}: an ISO 8601 date or time, e.g. 2026-11-01 or "
                      "2026-11-01T09:00:00+07:00") from None


def _name(q: QueryParams, name: str) -> str | None:
    value = q.get(name) or None
    if value is not None and "\x00" in value:  # PostgreSQL's text cannot hold one
        raise Invalid(f"{name}: a name holds no NUL character")
    return value


async def _body(engine: Engine, kind: Kind, period: Period, fmt: Format,
                now: datetime) -> AsyncIterator[bytes]:
    """The header, then a page at a time: each read and written in a worker thread,
    so neither the database nor turning a thousand rows into text holds up the
    event loop, and only one page is in memory at a time."""
    first = export.header(fmt, kind)
    if first:  # nothing for JSON lines: an empty chunk would end a chunked answer
        yield first.encode()

    def next_page(after: int) -> tuple[bytes, int]:
        found, last = export.page(engine, kind, period, after, now)
        return export.chunk(fmt, kind, found).encode(), last if found else -1

    after = 0
    while after >= 0:
        data, after = await run_in_threadpool(next_page, after)
        if data:
            yield data
