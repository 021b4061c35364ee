"""`inbox ingest`: .eml files, mbox files and Maildir folders through the full pipeline.

Parsing, hashing and writing blobs run in worker processes, in chunks of messages (the
executor's per-task cost is paid per chunk); only small parsed values come back to this
process, which writes the database. A bounded window of chunks in flight keeps memory
flat however big the import. Messages are committed in batches, one SAVEPOINT each, so a
bad message costs nothing but itself.
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import Engine

from channels.base import Inbound
from channels.email.mailfiles import MailSource, count_mail_files, iter_mail_sources
from channels.email.mime import parse_email
from inbox.ingest.pipeline import ingest_batch
from inbox.ingest.storable import storable
from inbox.ingest.work import PipelineContext, Result
from inbox.store.blobs import BlobStore, offload

T = TypeVar("T")
R = TypeVar("R")

BATCH_MESSAGES = 200  # per database transaction
CHUNK_MESSAGES = 32  # per parser task
CHUNK_BYTES = 8 * 1024 * 1024


@dataclass
class ImportReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    acks: int = 0
    flagged: int = 0

    def add(self, results: Iterable[Result]) -> None:
        for r in results:
            self.outcomes[r.outcome] += 1
            self.acks += r.acked


@dataclass(frozen=True)
class _Chunk:
    """A few messages for one worker: per-task overhead is paid per chunk, not per mail."""

    sources: list[MailSource]
    account: str
    now: datetime
    blobs: BlobStore
    max_attachment_bytes: int


def _parse_chunk(chunk: _Chunk) -> list[Inbound]:
    return [_parse_one(source, chunk) for source in chunk.sources]


def _parse_one(source: MailSource, chunk: _Chunk) -> Inbound:
    inbound = storable(parse_email(source.read(), chunk.account, chunk.now))  # flags count
    return offload(inbound, chunk.blobs, chunk.max_attachment_bytes)


def _chunks(paths: Sequence[Path], ctx: PipelineContext, account: str,
            now: datetime) -> Iterator[_Chunk]:
    sources: list[MailSource] = []
    size = 0  # bytes that travel with the chunk (mbox messages); files are read there
    for source in iter_mail_sources(paths):
        sources.append(source)
        size += len(source.data or b"")
        if len(sources) >= CHUNK_MESSAGES or size >= CHUNK_BYTES:
            yield _Chunk(sources, account, now, ctx.blobs, ctx.max_attachment_bytes)
            sources, size = [], 0
    if sources:
        yield _Chunk(sources, account, now, ctx.blobs, ctx.max_attachment_bytes)


def parsed(paths: Sequence[Path], ctx: PipelineContext, account: str, now: datetime,
           workers: int) -> Iterator[Inbound]:
    """Parsed messages in file order; parsing and blob writing run in `workers` processes.

    With `workers=0` everything runs in this process (simplest to debug).
    """
    chunks = _chunks(paths, ctx, account, now)
    if workers <= 0:
        for chunk in chunks:
            yield from _parse_chunk(chunk)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for inbounds in bounded_map(pool, _parse_chunk, chunks, window=workers * 6):
            yield from inbounds


def bounded_map(pool: Executor, fn: Callable[[T], R], items: Iterable[T],
                window: int) -> Iterator[R]:
    """Like `pool.map`, in order, but never more than `window` items read ahead."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def default_workers() -> int:
    """One parser per core: the database writer waits on I/O often enough to share."""
    return max(1, min(os.cpu_count() or 1, 4))


def import_paths(engine: Engine, paths: Sequence[Path],
                 ctx: PipelineContext, now: datetime, *, account: str = "import",
                 workers: int | None = None,
                 progress: Callable[[int], None] | None = None) -> ImportReport:
    report = ImportReport()
    workers = default_workers() if workers is None else workers
    batch: list[Inbound] = []
    for inbound in parsed(paths, ctx, account, now, workers):
        batch.append(inbound)
        report.flagged += bool(inbound.problems)
        if len(batch) >= BATCH_MESSAGES:
            _commit(engine, batch, ctx, now, report=report, progress=progress)
            batch = []
    if batch:
        _commit(engine, batch, ctx, now, report=report, progress=progress)
    return report


def _commit(engine: Engine, batch: list[Inbound],
            ctx: PipelineContext, now: datetime, *, report: ImportReport,
            progress: Callable[[int], None] | None) -> None:
    with engine.begin() as conn:
        report.add(ingest_batch(conn, batch, ctx, now))
    if progress is not None:
        progress(len(batch))


def count_messages(paths: Sequence[Path]) -> int:
    """How many messages `paths` hold, for a progress bar (cheap: nothing is parsed)."""
    return count_mail_files(paths)
