"""Benchmark: how fast the daemon's report fold (inbox.desk.tally) counts what ingest
stored, against how fast ingest stores it, on SQLite and PostgreSQL.

    python -m bench.fold [--count 3000]

Ingests the seeded corpus of bench.ingest with `inbox ingest` into a fresh deployment,
then folds the whole history in one process, timed: the rows (messages and trail
events) and messages per second. The fold keeps up with a daemon if it counts messages
faster than ingest stores them (docs/benchmarks.md "Ingest"). Prints a table and writes
bench/results/fold.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.common import pg_database
from bench.corpus import generate_corpus
from bench.ingest import OUT, RESULTS, run_ingest
from inbox.core.config import load_settings
from inbox.desk.tally import Fold, catch_up
from inbox.runtime.app import App


def fold_run(config: Path, db_url: str) -> dict[str, float]:
    os.environ["INBOX_DATABASE_URL"] = db_url
    app = App(load_settings(config))
    with Session(app.engine) as s:
        messages = int(s.scalar(sa.text("SELECT count(*) FROM message")) or 0)
    start = time.perf_counter()
    rows = catch_up(app.engine, Fold(), app.sla, app.settings.report_zone, datetime.now(UTC))
    elapsed = time.perf_counter() - start
    with Session(app.engine) as s:
        kept = int(s.scalar(sa.text("SELECT count(*) FROM report_count")) or 0)
        terms = int(s.scalar(sa.text("SELECT count(*) FROM report_term")) or 0)
    app.engine.dispose()
    return {"rows": rows, "messages": messages, "seconds": elapsed,
            "rows_per_second": rows / elapsed, "messages_per_second": messages / elapsed,
            "report_count_rows": kept, "report_term_rows": terms}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    corpus = OUT / f"corpus-v2-{args.count}"
    if not corpus.exists():
        generate_corpus(corpus, count=args.count, seed=1)
    stamp = uuid.uuid4().hex[:6]
    runs: dict[str, dict[str, float]] = {}
    work = OUT / f"fold-sqlite-{stamp}"
    url = f"sqlite:///{work / 'inbox.db'}"
    ingest = run_ingest(corpus, url, work)
    runs["sqlite"] = {"ingest_per_second": ingest["per_second"],
                      **fold_run(work / "inbox.toml", url)}
    with pg_database(args.pg) as url:
        work = OUT / f"fold-pg-{stamp}"
        ingest = run_ingest(corpus, url, work)
        runs["postgresql"] = {"ingest_per_second": ingest["per_second"],
                              **fold_run(work / "inbox.toml", url)}
    report(args.count, runs)


def report(count: int, runs: dict[str, dict[str, float]]) -> None:
    header = ("database", "ingest msg/s", "fold msg/s", "fold rows/s", "report_count rows",
              "report_term rows")
    rows = [(name, f"{r['ingest_per_second']:,.0f}", f"{r['messages_per_second']:,.0f}",
             f"{r['rows_per_second']:,.0f}", f"{r['report_count_rows']:,}",
             f"{r['report_term_rows']:,}") for name, r in runs.items()]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "count": count,
            "cpus": os.cpu_count(), "python": platform.python_version(), "runs": runs}
    (RESULTS / "fold.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()
