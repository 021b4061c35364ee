"""Benchmark: `inbox ingest` end to end on a generated corpus, SQLite and PostgreSQL.

    python -m bench.ingest [--count 10000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Generates (or reuses) a seeded corpus of mixed mail, then measures, in one run:
- the parse-only ceiling: `parse_email` over the corpus with the same worker processes
  the importer uses, nothing stored;
- `inbox ingest` as a real command (its own process, a fresh deployment), on SQLite and
  on PostgreSQL: messages/s and the peak memory (PSS) of the whole process tree.
Prints a table and writes bench/results/ingest.json and docs/benchmarks-ingest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from bench.common import pg_database
from bench.corpus import generate_corpus
from channels.email.mailfiles import MailSource, iter_mail_sources
from channels.email.mime import parse_email
from inbox.runtime.importer import CHUNK_MESSAGES, bounded_map, default_workers

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results"


def _parse(chunk: list[MailSource]) -> int:
    now = datetime.now(UTC)
    return sum(len(parse_email(s.read(), "bench", now).text) >= 0 for s in chunk)


def parse_ceiling(corpus: Path, workers: int) -> float:
    """Read and parse only, with the importer's worker processes and chunking."""
    sources = list(iter_mail_sources([corpus]))
    chunks = [sources[i:i + CHUNK_MESSAGES] for i in range(0, len(sources), CHUNK_MESSAGES)]
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        n = sum(bounded_map(pool, _parse, chunks, workers * 6))
    return n / (time.perf_counter() - start)


def _tree_pss(pid: int) -> int:
    """Proportional set size of `pid` and its descendants, in bytes.

    PSS splits pages shared between processes (the parser workers are forked from the
    main process) among them, so the sum is the memory the import really costs.
    """
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            total += int(next(ln.split()[1] for ln in rollup.splitlines()
                              if ln.startswith("Pss:"))) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total


def run_ingest(corpus: Path, db_url: str, workdir: Path) -> dict[str, float]:
    env = {**os.environ, "INBOX_DATABASE_URL": db_url, "INBOX_CONFIG": ""}
    subprocess.run([sys.executable, "-m", "inbox", "init", str(workdir)], check=True, env=env,
                   capture_output=True)
    env["INBOX_CONFIG"] = str(workdir / "inbox.toml")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "inbox", "ingest", str(corpus), "--json",
                             "--no-progress"], env=env, stdout=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.05):
            peak = max(peak, _tree_pss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"inbox ingest failed with {proc.returncode}")
    summary = json.loads(out)
    total = sum(summary[k] for k in ("stored", "duplicates", "quarantined"))
    return {"messages": total, "seconds": elapsed, "per_second": total / elapsed,
            "peak_pss_mb": peak / 2**20, **{k: summary[k] for k in summary}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--workers", type=int, default=default_workers())
    args = ap.parse_args()
    corpus = OUT / f"corpus-v2-{args.count}"  # v2: replies come from the thread's sender
    if not corpus.exists():
        generate_corpus(corpus, count=args.count, seed=1)
    ceiling = parse_ceiling(corpus, args.workers)
    runs = {}
    stamp = uuid.uuid4().hex[:6]
    runs["sqlite"] = run_ingest(corpus, f"sqlite:///{OUT / f'sqlite-{stamp}' / 'inbox.db'}",
                                OUT / f"sqlite-{stamp}")
    with pg_database(args.pg) as url:
        runs["postgresql"] = run_ingest(corpus, url, OUT / f"pg-{stamp}")
    report(args.count, args.workers, ceiling, runs)


def report(count: int, workers: int, ceiling: float, runs: dict[str, dict[str, float]]) -> None:
    rows = [("parse only (ceiling)", f"{ceiling:,.0f}", "", "")]
    for name, r in runs.items():
        rows.append((f"inbox ingest, {name}", f"{r['per_second']:,.0f}",
                     f"{r['peak_pss_mb']:,.0f}", f"{r['per_second'] / ceiling:.0%}"))
    header = ("run", "messages/s", "peak memory MB (PSS)", "of ceiling")
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "count": count,
            "workers": workers, "cpus": os.cpu_count(), "python": platform.python_version(),
            "parse_ceiling_per_second": ceiling, "runs": runs}
    (RESULTS / "ingest.json").write_text(json.dumps(meta, indent=2) + "\n")
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * 4]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    (ROOT / "docs" / "benchmarks-ingest.md").write_text(
        f"<!-- written by `python -m bench.ingest` on {meta['date']} -->\n"
        f"{count:,} generated messages, {workers} parser processes, "
        f"{os.cpu_count()} CPUs, Python {meta['python']}.\n\n" + "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
