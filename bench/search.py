"""Benchmark: search at 100,000 conversations, and what keeping the index costs ingest.

    python -m bench.search [--count 100000] [--runs 20] [--rounds 12]
                           [--pg postgresql://postgres@127.0.0.1:5432/postgres]

For SQLite and PostgreSQL: a deployment at the newest schema, loaded through the index
(SQLite's triggers, PostgreSQL's generated columns and GIN indexes, as live writes keep
them) with `--count` conversations of two messages each in six languages, a third of
them open; then `inbox.desk.search.search` as the queue calls it (open conversations,
the top 100) for queries from rare to common, p50 / p95 over `--runs`.

Ingest cost, paired: two fresh databases, one with the index and one without (the
triggers, or the generated columns and their indexes, dropped), fed the same batches
of 100 mails through `ingest_batch`, alternating, `--rounds` times; the median time per
message of each.
Writes bench/results/search.json and prints a table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.common import deployment_app
from channels.base import Address, Inbound
from inbox.desk import views
from inbox.desk.search import search
from inbox.ingest.pipeline import ingest_batch
from inbox.runtime.app import App
from inbox.store import batch as store
from inbox.store.search import FTS_TABLE, PG_COLUMN, PG_INDEXES

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results"
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

SENTENCES = (
    "สินค้าเสียหายระหว่างจัดส่ง ขอคืนเงินด้วยครับ คำสั่งซื้อ {n}",
    "سفارش {n} من هنوز نرسیده است، لطفا پیگیری کنید",
    "Tôi chưa nhận được đơn hàng {n}, xin kiểm tra giúp",
    "Moje zamówienie {n} nie dotarło, proszę o informację",
    "Hindi pa dumarating ang aking padala {n}, pakitingnan po",
    "My order {n} arrived broken, the box was crushed",
)
REPLY = "Thank you, we are looking into order {n} and will write again today."
NAMES = ("Somchai Jaidee", "Sara Ahmadi", "Nguyễn Văn An", "Aleksandra Wiśniewska",
         "Jose Rizal", "Anna Nowak")
QUERIES = {  # label: query
    "one conversation (its number)": "{rare}",
    "Thai substring, 1/6 of all": "เสียหาย",
    "Persian word, 1/6": "نرسیده",
    "Polish, upper case, 1/6": "ZAMÓWIENIE",
    "two terms, 1/6 each, never together": "zamówienie padala",
    "contact name, 1/6": "wiśniewska",
    "in every conversation": "order",
    "nowhere": "xylophone",
}


def _rows(start: int, count: int, rng: random.Random) -> Iterator[dict[str, list[Any]]]:
    """Rows of `count` conversations from id `start` on, in chunks, with given ids."""
    for low in range(start, start + count, 5000):
        out: dict[str, list[Any]] = {"contact": [], "identity": [], "conversation": [],
                                     "message": []}
        for i in range(low, min(low + 5000, start + count)):
            lang = i % len(SENTENCES)
            sender = f"c{i}@example.net"
            out["contact"].append({"id": i, "name": NAMES[lang], "tags": [], "vip": False,
                                   "created_at": NOW})
            out["identity"].append({"id": i, "contact_id": i, "channel": "email",
                                    "address": sender, "name": NAMES[lang]})
            is_open = (i // 6) % 3 == 0
            due = NOW + timedelta(minutes=rng.randint(-600, 1440)) if is_open else None
            out["conversation"].append(dict(
                _conversation(), id=i, contact_id=i, subject=f"Order {i}",
                status="open" if is_open else "resolved", sla_due_at=due))
            for j, (direction, kind, text) in enumerate((
                    ("in", "customer", SENTENCES[lang].format(n=i)),
                    ("out", "agent", REPLY.format(n=i)))):
                out["message"].append(dict(
                    _message(), id=2 * i + j, conversation_id=i, external_id=f"{i}-{j}",
                    direction=direction, kind=kind, sender=sender, text=text))
        yield out


def _conversation() -> dict[str, Any]:
    return {"channel": "email", "account": "support", "priority": "normal", "tags": [],
            "attributes": {}, "sla_policy": "default", "acked": True, "created_at": NOW,
            "updated_at": NOW, "language": None, "team": None, "assignee": None}


def _message() -> dict[str, Any]:
    return {"channel": "email", "account": "support", "sender_name": "", "recipients": [],
            "subject": None, "references": [], "headers": {}, "problems": [],
            "delivery": "none", "created_at": NOW}


def load(app: App, count: int) -> float:
    start = time.perf_counter()
    rng = random.Random(14)
    for chunk in _rows(1, count, rng):
        with app.engine.begin() as conn:
            for table in ("contact", "identity", "conversation", "message"):
                conn.execute(store.__dict__[table].insert(), chunk[table])
    if app.engine.dialect.name == "postgresql":
        with app.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    return time.perf_counter() - start


def _timed(fn: Callable[[], object], runs: int) -> dict[str, float]:
    fn()  # warm
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95) - 1]}


def measure_search(app: App, count: int, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {"load_seconds": load(app, count)}
    wanted = views.QueueFilter()  # what the queue shows: open, the top 100
    for label, query in QUERIES.items():
        q = query.format(rare=f"{count // 18 * 18 - 17}")  # an open one
        with Session(app.engine) as s:
            run = functools.partial(search, s, q, wanted, NOW, app.secret)
            out[label] = {"query": q, "found": len(run()), **_timed(run, runs)}
    return out


def _mails(round_: int) -> list[Inbound]:
    return [Inbound(channel="email", account="support", external_id=f"r{round_}-{i}@bench",
                    sender=Address(f"p{round_}-{i}@example.org", NAMES[i % 6]),
                    received_at=NOW, subject=f"Order {round_}-{i}",
                    text=SENTENCES[i % 6].format(n=i) * 20, headers={},
                    raw=b"raw")
            for i in range(100)]


def _drop_index(app: App) -> None:
    with app.engine.begin() as conn:
        if app.engine.dialect.name == "sqlite":
            names = conn.execute(sa.text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE :p"),
                {"p": f"{FTS_TABLE}%"}).scalars().all()
            for name in names:
                conn.execute(sa.text(f"DROP TRIGGER {name}"))
        else:
            for name in PG_INDEXES:
                conn.execute(sa.text(f"DROP INDEX {name}"))
            for table in ("message", "conversation", "contact", "identity"):
                conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {PG_COLUMN}"))


def measure_ingest(with_index: App, without: App, rounds: int) -> dict[str, Any]:
    """Milliseconds per message, the same batches into both, alternating."""
    ctx = {id(a): a.pipeline_context() for a in (with_index, without)}
    times: dict[str, list[float]] = {"with_index": [], "without_index": []}
    for r in range(rounds):
        pair = [("with_index", with_index), ("without_index", without)]
        for key, app in pair if r % 2 else reversed(pair):
            mails = _mails(r)
            start = time.perf_counter()
            with app.engine.begin() as conn:
                ingest_batch(conn, mails, ctx[id(app)], NOW)
            times[key].append((time.perf_counter() - start) * 1000 / len(mails))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"ms_per_message": med,
            "added_ms_per_message": med["with_index"] - med["without_index"],
            "text_chars_per_message": len(_mails(0)[0].text)}


@contextmanager
def _app(kind: str, pg: str, tag: str) -> Iterator[App]:
    directory = OUT / f"search-{kind}-{tag}-{uuid.uuid4().hex[:6]}"
    with deployment_app(directory, kind, pg, prefix="inbox_bench_search") as app:
        yield app

def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    runs: dict[str, Any] = {}
    for kind in ("sqlite", "postgresql"):
        with _app(kind, args.pg, "search") as app:
            runs[kind] = {"search": measure_search(app, args.count, args.runs)}
        with _app(kind, args.pg, "with") as on, _app(kind, args.pg, "without") as off:
            _drop_index(off)
            runs[kind]["ingest"] = measure_ingest(on, off, args.rounds)
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "count": args.count,
              "runs_per_query": args.runs, "python": platform.python_version(), **runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "search.json").write_text(json.dumps(result, indent=2, ensure_ascii=False)
                                         + "\n")
    report(runs)


def report(runs: dict[str, Any]) -> None:
    print("| query | " + " | ".join(f"{k} p50 / p95 ms (found)" for k in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for label in QUERIES:
        cells = [f"{r['search'][label]['p50_ms']:.1f} / {r['search'][label]['p95_ms']:.1f} "
                 f"({r['search'][label]['found']})" for r in runs.values()]
        print(f"| {label} | " + " | ".join(cells) + " |")
    for kind, r in runs.items():
        i = r["ingest"]
        print(f"{kind}: load {r['search']['load_seconds']:.0f} s; ingest "
              f"{i['ms_per_message']['without_index']:.2f} -> "
              f"{i['ms_per_message']['with_index']:.2f} ms/message "
              f"(+{i['added_ms_per_message']:.2f})")


if __name__ == "__main__":
    main()
