"""Benchmark: the SLA sweep, the queue and `inbox sla` with 1,000,000 conversations.

    python -m bench.sla [--count 1000000] [--runs 300] [--commands 20]
                        [--pg postgresql://postgres@127.0.0.1:5432/postgres]

For SQLite and for PostgreSQL it makes a deployment, bulk-loads the conversations
(secondary indexes dropped during the load and rebuilt after, as a restore would), then
measures through our own code:
- a sweep that finds nothing new (`inbox.sla.sweep.sweep` in its own transaction, as the
  daemon runs it every few seconds);
- the 50 most urgent open conversations (`inbox.desk.views.queue`, contacts included);
- `inbox sla` as a whole command: a new process, config, schema check, query, output
  (the console script beside this Python, as a virtualenv has it); next to it
  `inbox --help`, the same start and imports with typer's rich help instead of a query.
Prints a table and writes bench/results/sla.json and docs/benchmarks-sla.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from bench.common import pg_database
from inbox.core.config import load_settings
from inbox.desk import views
from inbox.runtime.app import App
from inbox.sla.risk import at_risk
from inbox.sla.sweep import sweep
from inbox.store import search
from inbox.store.db import upgrade
from inbox.store.rawdb import reading

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results"
CONTACTS = 10_000
CHUNK = 50_000
H = timedelta(hours=1)

# Shares of the store: most conversations are finished; a few hundred are at risk.
MIX = [("closed", 0.90), ("open-ok", 0.06), ("open-answered", 0.02), ("pending", 0.015),
       ("snoozed", 0.0045), ("at-risk", 0.0003), ("breached", 0.0002)]


def conversation_rows(count: int, now: datetime, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Conversations in consistent SLA states at `now` under the default 24 h policy."""
    rnd = random.Random(seed)
    kinds = [k for k, share in MIX for _ in range(round(share * count))]
    kinds += ["closed"] * (count - len(kinds))
    rnd.shuffle(kinds)
    for i, kind in enumerate(kinds, 1):
        created = now - rnd.uniform(0, 24 * 365) * H
        row: dict[str, Any] = {
            "id": i, "channel": rnd.choice(("email", "email", "telegram")),
            "account": "support", "contact_id": rnd.randint(1, CONTACTS),
            "subject": f"Order {i}", "status": "open",
            "priority": rnd.choice(("normal", "normal", "high", "low", "urgent")),
            "team": rnd.choice((None, "billing", "tech")), "created_at": created,
            "updated_at": created, "sla_policy": "default", "acked": True}
        row.update(_clock(kind, now, rnd))
        yield row


def _clock(kind: str, now: datetime, rnd: random.Random) -> dict[str, Any]:
    if kind in ("closed", "open-answered"):
        status = rnd.choice(("resolved", "closed")) if kind == "closed" else "open"
        return {"status": status, "sla_state": rnd.choice(("met", "met", "met", "breached")),
                "first_response_at": now - rnd.uniform(1, 8000) * H}
    waited = {"open-ok": (0, 19.9), "at-risk": (20.1, 23.9), "breached": (24.1, 72),
              "pending": (0, 30), "snoozed": (0, 30)}[kind]
    since = now - rnd.uniform(*waited) * H
    due, warn = since + 24 * H, since + 20 * H
    if kind in ("pending", "snoozed"):
        until = now + rnd.uniform(1, 72) * H if kind == "snoozed" else None
        return {"status": kind, "awaiting_since": since, "sla_state": "ok",
                "sla_paused_at": now - H, "sla_left_seconds": rnd.uniform(1, 23) * 3600,
                "snoozed_until": until, "sla_next_at": until}
    state = {"open-ok": "ok", "at-risk": "at-risk", "breached": "breached"}[kind]
    nxt = {"ok": warn, "at-risk": due, "breached": None}[state]
    return {"awaiting_since": since, "sla_due_at": due, "sla_warn_at": warn,
            "sla_state": state, "sla_next_at": nxt}


def columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.columns]


def defaults(table: sa.Table) -> dict[str, Any]:
    """What a column gets when a generated row leaves it out."""
    out: dict[str, Any] = {}
    for c in table.columns:
        if isinstance(c.type, sa.JSON):
            out[c.name] = "[]" if c.name == "tags" else "{}"
        elif not c.nullable and isinstance(c.default, sa.ColumnDefault) and \
                c.default.is_scalar:  # a counter's 0, a flag's False
            out[c.name] = c.default.arg
        else:
            out[c.name] = None
    return out


def fill(url: str, count: int, now: datetime) -> float:
    """Bulk-load contacts and conversations; returns seconds taken."""
    tables = SQLModel.metadata.tables
    conv = tables["conversation"]
    start = time.perf_counter()
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:  # secondary indexes go during the load, back after it
        for index in conv.indexes:
            index.drop(conn)
    engine.dispose()
    writer = _fill_sqlite if url.startswith("sqlite") else _fill_pg
    writer(url, tables, count, now)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        for index in conv.indexes:
            index.create(conn)
    # Settle, as an operator would after a restore: statistics, hint bits and the
    # checkpoint written now, not by the server in the middle of the measurements.
    settle = ("VACUUM ANALYZE", "CHECKPOINT") if url.startswith("postgresql") else (
        "ANALYZE", "PRAGMA wal_checkpoint(TRUNCATE)")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for statement in settle:
            conn.exec_driver_sql(statement)
    engine.dispose()
    return time.perf_counter() - start


def _contact_rows() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    born = datetime(2025, 1, 1)
    for i in range(1, CONTACTS + 1):
        yield ({"id": i, "name": f"Customer {i}", "tags": "[]", "vip": False,
                "created_at": born},
               {"id": i, "contact_id": i, "channel": "email",
                "address": f"c{i}@example.com", "name": f"Customer {i}"})


def _fill_sqlite(url: str, tables: Any, count: int, now: datetime) -> None:
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    search.register(db)  # the search index's triggers (migration 0005) call inbox_fold

    def value(v: Any) -> Any:  # SQLAlchemy's SQLite format: naive UTC with microseconds
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(
            v, datetime) and v.tzinfo else (v.isoformat(" ", "microseconds")
                                            if isinstance(v, datetime) else v)

    with db:
        for name, rows in (("contact", (c for c, _ in _contact_rows())),
                           ("identity", (i for _, i in _contact_rows())),
                           ("conversation", conversation_rows(count, now))):
            table = tables[name]
            cols, base = columns(table), defaults(table)
            sql = (f"INSERT INTO {name} ({', '.join(cols)}) "
                   f"VALUES ({', '.join('?' * len(cols))})")
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                full = base | row
                batch.append(tuple(value(full[c]) for c in cols))
                if len(batch) == CHUNK:
                    db.executemany(sql, batch)
                    batch = []
            db.executemany(sql, batch)
    db.close()


def _fill_pg(url: str, tables: Any, count: int, now: datetime) -> None:
    def value(v: Any) -> Any:
        return v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) \
            and v.tzinfo else v

    with psycopg.connect(url) as db, db.cursor() as cur:
        for name, rows in (("contact", (c for c, _ in _contact_rows())),
                           ("identity", (i for _, i in _contact_rows())),
                           ("conversation", conversation_rows(count, now))):
            table = tables[name]
            cols, base = columns(table), defaults(table)
            with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    full = base | row
                    copy.write_row([value(full[c]) for c in cols])
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))")


def timed(fn: Callable[[], object], runs: int) -> dict[str, float]:
    fn()  # warm: first-use compilation and caches are not what the daemon lives with
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return summary(samples)


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": statistics.median(ordered),
            "p95_ms": ordered[max(int(len(ordered) * 0.95) - 1, 0)],
            "max_ms": ordered[-1], "runs": len(ordered)}


def command(args: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    # The script next to this Python, as a virtualenv has it: not a version manager's
    # shim (pyenv's adds 40 ms of shell before Python even starts).
    beside = Path(sys.executable).with_name("inbox")
    exe = str(beside) if beside.exists() else shutil.which("inbox") or "inbox"
    subprocess.run([exe, *args], env=env, check=True, capture_output=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([exe, *args], env=env, check=True, capture_output=True)
        samples.append((time.perf_counter() - start) * 1000)
    return summary(samples)


def deployment(workdir: Path, url: str) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "secret.key").write_text(secrets.token_hex(32))
    config = workdir / "inbox.toml"
    config.write_text(f'database_url = "{url}"\nsecret_key_file = "secret.key"\n'
                      f'templates_dir = "{ROOT / "templates"}"\nrules_dir = "rules"\n')
    return config


def measure(name: str, url: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    config = deployment(workdir, url)
    app = App(load_settings(config, {}))
    upgrade(app.engine)
    now = datetime.now(UTC)
    print(f"{name}: loading {args.count:,} conversations ...", flush=True)
    loaded = fill(url, args.count, now)
    with Session(app.engine) as s, s.begin():  # settle: from here a sweep finds nothing
        settled = sweep(s, now, app.sla).transitions
    policies, secret = app.sla, app.secret

    def quiet_sweep() -> None:
        with Session(app.engine) as s, s.begin():
            assert not sweep(s, now, policies).transitions

    def top50() -> None:
        with Session(app.engine) as s:
            assert len(views.queue(s, views.QueueFilter(limit=50), now, secret)) == 50

    with reading(app.settings.resolved_database_url) as db:
        listed = len(at_risk(db, now, now, policies, secret))
        result = {"load_seconds": loaded, "settled_transitions": len(settled),
                  "at_risk_listed": listed,
                  "sweep_nothing_new": timed(quiet_sweep, args.runs),
                  "queue_top_50": timed(top50, args.runs),
                  "at_risk_in_process": timed(
                      lambda: at_risk(db, now, now, policies, secret), args.runs)}
    env = {**os.environ, "INBOX_CONFIG": str(config)}
    env.pop("INBOX_DATABASE_URL", None)
    result["inbox_sla_command"] = command(["sla"], env, args.commands)
    result["inbox_help_command"] = command(["--help"], env, args.commands)
    result["plans"] = plans(app, now)
    app.close()
    return result


def plans(app: App, now: datetime) -> dict[str, list[str]]:
    """How the database answers the sweep's and the queue's queries (index or scan)."""
    conv = SQLModel.metadata.tables["conversation"]
    queries = {
        "sweep": sa.select(conv.c.id).where(conv.c.sla_next_at <= now)
        .order_by(conv.c.sla_next_at).limit(500),
        "queue": sa.select(conv.c.id).where(conv.c.status == "open",
                                            conv.c.sla_due_at.is_not(None))
        .order_by(conv.c.sla_due_at).limit(50),
        "at_risk": sa.select(conv.c.id).where(conv.c.status == "open",
                                              conv.c.sla_warn_at <= now)
        .order_by(conv.c.sla_warn_at).limit(500),
    }
    sqlite = app.engine.dialect.name == "sqlite"
    out = {}
    with app.engine.connect() as conn:
        for name, q in queries.items():
            sql = str(q.compile(app.engine, compile_kwargs={"literal_binds": True}))
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = conn.exec_driver_sql(prefix + sql).all()
            out[name] = [str(r[-1]) for r in rows]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--commands", type=int, default=20)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    stamp = uuid.uuid4().hex[:6]
    runs: dict[str, dict[str, Any]] = {}
    work = OUT / f"sla-sqlite-{stamp}"
    runs["sqlite"] = measure("sqlite", f"sqlite:///{work / 'inbox.db'}", work, args)
    shutil.rmtree(work)  # a gigabyte of generated data
    with pg_database(prefix="inbox_bench_sla", admin_url=args.pg) as url:
        runs["postgresql"] = measure("postgresql", url, OUT / f"sla-pg-{stamp}", args)
    shutil.rmtree(OUT / f"sla-pg-{stamp}")
    report(args, runs)


TARGETS = {"sweep_nothing_new": 5.0, "queue_top_50": 5.0, "inbox_sla_command": 300.0}
LABELS = {"sweep_nothing_new": "sweep, nothing new", "queue_top_50": "queue: top 50 open",
          "at_risk_in_process": "`inbox sla` query, in process",
          "inbox_sla_command": "`inbox sla`, whole command",
          "inbox_help_command": "`inbox --help` (start, imports, rich help)"}


def report(args: argparse.Namespace, runs: dict[str, dict[str, Any]]) -> None:
    header = ("measure", *(f"{db} p50 / p95 ms" for db in runs), "target p95")
    rows = []
    for key, label in LABELS.items():
        cells = [f"{r[key]['p50_ms']:.2f} / {r[key]['p95_ms']:.2f}" for r in runs.values()]
        target = f"< {TARGETS[key]:g} ms" if key in TARGETS else ""
        rows.append((label, *cells, target))
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "count": args.count,
            "runs": args.runs, "commands": args.commands, "cpus": os.cpu_count(),
            "python": platform.python_version(), "results": runs}
    (RESULTS / "sla.json").write_text(json.dumps(meta, indent=2) + "\n")
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    loads = ", ".join(f"{db} {r['load_seconds']:.0f} s" for db, r in runs.items())
    listed = next(iter(runs.values()))["at_risk_listed"]
    (ROOT / "docs" / "benchmarks-sla.md").write_text(
        f"<!-- written by `python -m bench.sla` on {meta['date']} -->\n"
        f"# SLA benchmark\n\n{args.count:,} conversations ({listed} at risk or breached, "
        f"the rest ok, paused, answered or finished), {os.cpu_count()} CPUs, "
        f"Python {meta['python']}; bulk load {loads}. {args.runs} runs per in-process "
        f"measure, {args.commands} per command.\n\n" + "\n".join(md) + "\n\n"
        "Query plans (from bench/results/sla.json):\n\n" + _plans_md(runs))


def _plans_md(runs: dict[str, dict[str, Any]]) -> str:
    lines = []
    for db, r in runs.items():
        for name, plan in r["plans"].items():
            lines.append(f"- {db}, {name}: `{' / '.join(p.strip() for p in plan[:3])}`")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
