"""Benchmark: `inbox export` of a large period, memory and speed.

    python -m bench.export [--rows 100000] [--db sqlite|postgresql|both]
                           [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Loads a deployment at the newest schema with `--rows` conversations and as many
messages (one customer message of about 400 characters each, in six languages, a
formula-like subject every tenth), then exports the period that holds them all:

- `inbox export KIND --format FMT --output FILE` as a whole command, in a process of its
  own: wall time, rows per second, the size written, and that process's peak RSS (from
  wait4), beside the same command exporting an empty period (its RSS is what Python,
  the imports and the connection cost before any row; its time, reading past every
  row of the table and keeping none);
- in this process under tracemalloc: the peak of Python allocations while streaming
  (inbox.desk.export.pages + chunk, written to a null sink), and for contrast the peak
  of holding the same rows in one list, as an export that did not stream would.

Writes bench/results/export.json and prints a table for docs/export.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import PG_ADMIN, deployment_app
from inbox.desk import export
from inbox.desk.export import Format, Kind, Period
from inbox.runtime.app import App
from inbox.store import batch as store

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results"
START = datetime(2026, 11, 1, tzinfo=UTC)
SENTENCES = (
    "สินค้าเสียหายระหว่างจัดส่ง ขอคืนเงินด้วยครับ คำสั่งซื้อ {n} ",
    "سفارش {n} من هنوز نرسیده است، لطفا پیگیری کنید ",
    "Tôi chưa nhận được đơn hàng {n}, xin kiểm tra giúp ",
    "Moje zamówienie {n} nie dotarło, proszę o informację ",
    "Hindi pa dumarating ang aking padala {n}, pakitingnan po ",
    "My order {n} arrived broken, the box was crushed ",
)
NAMES = ("Somchai Jaidee", "Sara Ahmadi", "Nguyễn Văn An", "Aleksandra Wiśniewska",
         "Jose Rizal", "Anna Nowak")
CASES: tuple[tuple[Kind, Format], ...] = (
    ("conversations", "csv"), ("conversations", "jsonl"),
    ("messages", "csv"), ("messages", "jsonl"))


# ------------------------------------------------------------------ the data


def _chunks(count: int) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Rows of `count` conversations, one message each, 5000 at a time; one a minute
    from START on, so the period is [START, START + count minutes)."""
    for low in range(1, count + 1, 5000):
        out: dict[str, list[dict[str, Any]]] = {
            "contact": [], "identity": [], "conversation": [], "message": []}
        for i in range(low, min(low + 5000, count + 1)):
            _one(out, i, START + timedelta(minutes=i - 1))
        yield out


def _one(out: dict[str, list[dict[str, Any]]], i: int, at: datetime) -> None:
    lang, sender = i % len(SENTENCES), f"c{i}@example.net"
    subject = f'=HYPERLINK("https://x.example/{i}","refund")' if i % 10 == 0 else f"Order {i}"
    out["contact"].append({"id": i, "name": NAMES[lang], "tags": [], "vip": False,
                           "created_at": at})
    out["identity"].append({"id": i, "contact_id": i, "channel": "email", "address": sender,
                            "name": NAMES[lang]})
    out["conversation"].append({
        "id": i, "channel": "email", "account": "support", "contact_id": i,
        "subject": subject, "status": "open" if i % 3 else "resolved", "priority": "normal",
        "team": ("billing", "tech", None)[i % 3], "assignee": None, "tags": ["vip"],
        "attributes": {}, "sla_policy": "default", "acked": True, "language": None,
        "created_at": at, "updated_at": at})
    out["message"].append({
        "id": i, "conversation_id": i, "channel": "email", "account": "support",
        "external_id": f"{i}@bench", "direction": "in", "kind": "customer",
        "sender": sender, "sender_name": NAMES[lang], "recipients": [], "subject": subject,
        "text": (SENTENCES[lang].format(n=i) * 8)[:400], "references": [], "headers": {},
        "problems": [], "delivery": "none", "created_at": at})


def load(app: App, count: int) -> float:
    started = time.perf_counter()
    for chunk in _chunks(count):
        with app.engine.begin() as conn:
            for table in ("contact", "identity", "conversation", "message"):
                conn.execute(store.__dict__[table].insert(), chunk[table])
    if app.engine.dialect.name == "postgresql":
        with app.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    return time.perf_counter() - started


# ------------------------------------------------------------------ measuring


# The command, run as `inbox` runs, telling its own peak RSS when it exits. Not wait4's
# ru_maxrss: Linux carries that across exec from the forked parent, so every child of
# this (large) process would seem at least as large as it.
_CHILD = """
import atexit, sys
def peak():
    with open("/proc/self/status") as f:
        kb = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    sys.stderr.write(f"VmHWM {kb}\\n")
atexit.register(peak)
sys.argv[0] = "inbox"
from inbox.cli.main import main
main()
"""


def command(app: App, kind: Kind, fmt: Format, period: Period) -> dict[str, Any]:
    """`inbox export` in a process of its own: time, size, and its peak RSS."""
    target = OUT / f"export-{uuid.uuid4().hex[:6]}.{fmt}"
    env = {**os.environ, "INBOX_CONFIG": str(app.settings.base_dir / "inbox.toml"),
           "INBOX_DATABASE_URL": app.settings.resolved_database_url,
           "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", _CHILD, "export", kind, "--since",
            period.since.isoformat(), "--until", period.until.isoformat(),
            "--format", fmt, "--output", str(target)]
    started = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=app.settings.base_dir, capture_output=True,
                          text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"inbox export failed: {done.stderr}")
    size = target.stat().st_size
    target.unlink()
    kb = int(done.stderr.rsplit("VmHWM ", 1)[1].split()[0])
    return {"seconds": seconds, "bytes": size, "peak_rss_mb": kb / 1024}


def streamed_peak(app: App, kind: Kind, fmt: Format, period: Period) -> tuple[int, float]:
    """Rows and the tracemalloc peak (MB) of streaming them to a null sink."""
    now, count = datetime.now(UTC), 0
    tracemalloc.start()
    try:
        with open(os.devnull, "wb") as sink:
            sink.write(export.header(fmt, kind).encode())
            for found in export.pages(app.engine, kind, period, now):
                sink.write(export.chunk(fmt, kind, found).encode())
                count += len(found)
        return count, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def listed_peak(app: App, kind: Kind, period: Period) -> float:
    """The tracemalloc peak (MB) of holding every row of the period in one list."""
    tracemalloc.start()
    try:
        held = list(export.rows(app.engine, kind, period, datetime.now(UTC)))
        assert held
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def measure(app: App, rows: int) -> dict[str, Any]:
    out: dict[str, Any] = {"load_seconds": load(app, rows)}
    period = Period(START, START + timedelta(minutes=rows))
    empty = Period(START - timedelta(days=1), START)
    nothing = command(app, "messages", "csv", empty)  # reads past every row, keeps none
    out["empty_export_peak_rss_mb"] = nothing["peak_rss_mb"]
    out["empty_export_seconds"] = nothing["seconds"]
    for kind, fmt in CASES:
        run = command(app, kind, fmt, period)
        count, peak = streamed_peak(app, kind, fmt, period)
        out[f"{kind} {fmt}"] = {
            **run, "rows": count, "rows_per_second": count / run["seconds"],
            "rss_over_empty_mb": run["peak_rss_mb"] - out["empty_export_peak_rss_mb"],
            "tracemalloc_peak_mb": peak}
    for kind in ("conversations", "messages"):
        out[f"{kind} held in a list"] = {"tracemalloc_peak_mb": listed_peak(app, kind, period)}
    return out


@contextmanager
def _app(kind: str, pg: str) -> Iterator[App]:
    directory = OUT / f"export-{kind}-{uuid.uuid4().hex[:6]}"
    with deployment_app(directory, kind, pg, prefix="inbox_bench_export") as app:
        yield app

def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    ap.add_argument("--pg", default=PG_ADMIN)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    runs: dict[str, Any] = {}
    for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        with _app(kind, args.pg) as app:
            runs[kind] = measure(app, args.rows)
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "rows": args.rows,
              "page": export.PAGE, "python": platform.python_version(), **runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "export.json").write_text(json.dumps(result, indent=2) + "\n")
    report(runs)


def report(runs: dict[str, Any]) -> None:
    print("| database | export | rows | seconds | rows/s | MB written | peak RSS MB "
          "(over an empty export) | tracemalloc peak MB |")
    print("|---|---|---|---|---|---|---|---|")
    for db, r in runs.items():
        for kind, fmt in CASES:
            c = r[f"{kind} {fmt}"]
            print(f"| {db} | {kind} {fmt} | {c['rows']:,} | {c['seconds']:.1f} | "
                  f"{c['rows_per_second']:,.0f} | {c['bytes'] / 2**20:.1f} | "
                  f"{c['peak_rss_mb']:.0f} (+{c['rss_over_empty_mb']:.0f}) | "
                  f"{c['tracemalloc_peak_mb']:.1f} |")
        held = ", ".join(f"{k}: {r[f'{k} held in a list']['tracemalloc_peak_mb']:.0f} MB"
                         for k in ("conversations", "messages"))
        print(f"{db}: load {r['load_seconds']:.0f} s; an empty period before every row "
              f"{r['empty_export_seconds']:.1f} s, peak RSS "
              f"{r['empty_export_peak_rss_mb']:.0f} MB; the same rows held in a list "
              f"instead: {held}")


if __name__ == "__main__":
    main()
