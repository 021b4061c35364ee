"""`inbox ingest`: .eml files, mbox files and Maildir folders through the full pipeline.

Parsing runs in worker processes (MIME decoding is CPU-bound and the machine has more
than one core) while this process writes to the database; a bounded window of parses in
flight keeps memory flat however big the import. Messages are committed in batches, one
SAVEPOINT each, so a bad message costs nothing but itself.
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

from channels.mailfiles import iter_mail_files
from sqlalchemy.orm import Session

from channels.base import Inbound
from channels.mime import parse_email
from inbox.pipeline import PipelineContext, Result, ingest_batch

T = TypeVar("T")
R = TypeVar("R")

BATCH_MESSAGES = 200
BATCH_BYTES = 32 * 1024 * 1024


@dataclass
class ImportReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    acks: int = 0
    flagged: int = 0

    def add(self, results: Iterable[Result]) -> None:
        for r in results:
            self.outcomes[r.outcome] += 1
            self.acks += r.acked


def _parse(item: tuple[str, bytes, str, datetime]) -> Inbound:
    _label, raw, account, now = item
    return parse_email(raw, account, now)


def parsed(paths: Sequence[Path], account: str, now: datetime, workers: int) -> Iterator[Inbound]:
    items = ((label, raw, account, now) for label, raw in iter_mail_files(paths))
    if workers <= 1:
        yield from map(_parse, items)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from bounded_map(pool, _parse, items, window=workers * 8)


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


def import_paths(session_factory: Callable[[], Session], paths: Sequence[Path],
                 ctx: PipelineContext, now: datetime, *, account: str = "import",
                 workers: int | None = None,
                 progress: Callable[[int], None] | None = None) -> ImportReport:
    report = ImportReport()
    workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
    batch: list[Inbound] = []
    size = 0
    for inbound in parsed(paths, account, now, workers):
        batch.append(inbound)
        size += len(inbound.raw or b"")
        report.flagged += bool(inbound.problems)
        if len(batch) >= BATCH_MESSAGES or size >= BATCH_BYTES:
            _commit(session_factory, batch, ctx, now, report=report, progress=progress)
            batch, size = [], 0
    if batch:
        _commit(session_factory, batch, ctx, now, report=report, progress=progress)
    return report


def _commit(session_factory: Callable[[], Session], batch: list[Inbound],
            ctx: PipelineContext, now: datetime, *, report: ImportReport,
            progress: Callable[[int], None] | None) -> None:
    with session_factory() as session, session.begin():
        report.add(ingest_batch(session, batch, ctx, now))
    if progress is not None:
        progress(len(batch))
