"""Benchmark: how often a `kill -9` of `inbox run` makes a customer get a second ack.

    python -m bench.crash_window [--kills 20] [--rate 50] [--lease 300] [--pg URL | --no-pg]

The outbox is at least once: a daemon killed after Telegram accepted a send and before
its commit recorded it sends that ack again once it (or another daemon) takes the row
over. This measures that window from the outside. A real `inbox run` (its own process,
the real Telegram connector) runs against the local Bot API server of the tests, in
this process, while customers keep writing (`--rate` new customers a second, each
acknowledged once). The daemon is killed with SIGKILL at a random moment of its
steady work, `--kills` times, and started again each time; at the end the stream stops,
one last daemon sends what is left, and every customer's acknowledgements are counted.

- duplicates: customers who got more than one ack; per kill.
- window: the time around each send in which a kill makes a duplicate, estimated as
  duplicates / kills x the interval between two sends while the daemon was sending
  steadily (a kill at a random moment hits the window with probability
  window / interval).
- stranded: the rows a killed daemon left claimed; after the restart, seconds until they
  are sent (they used to wait for their lease; now they go at the start), or "timed
  out" after CATCH_UP_CAP seconds.

Prints a table; writes bench/results/crash_window.json. Time-bounded by `--deadline`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
import tomllib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.common import pg_database
from bench.telegram import TOKEN, TOKEN_ENV, deployment
from inbox.store.db import make_engine
from tests.channels.telegram.bot_api import FakeBot, TelegramServer
from tests.peers import merged, toml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
START_SECONDS = 60.0
CATCH_UP_CAP = 30.0  # seconds to wait after a restart; a 300 s lease would take longer
DRAIN_SECONDS = 120.0  # for the last daemon to acknowledge everyone left


class Stream:
    """New customers at a steady rate, each writing once."""

    def __init__(self, server: TelegramServer, bot: FakeBot, rate: float) -> None:
        self.server, self.bot, self.rate = server, bot, rate
        self.written: list[tuple[int, float]] = []  # (chat id, when)
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        n = 0
        while True:
            user = 300_000 + n
            self.server.send(self.bot, self.server.user(user, f"Customer {n}"), "Hello?")
            self.written.append((user, time.perf_counter()))
            n += 1
            await asyncio.sleep(1 / self.rate)  # the load's pace, not a wait for a result

    def acked(self) -> set[int]:
        return {s.chat_id for s in self.server.sent}


async def start(config: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "inbox", "run", stdout=out, stderr=out,
            env={**os.environ, "INBOX_CONFIG": str(config), TOKEN_ENV: TOKEN})


async def sent_more(server: TelegramServer, count: int) -> None:
    """Wait until the daemon has sent `count` more acks: it is at its steady work."""
    target = len(server.sent) + count
    await server.until(lambda: len(server.sent) >= target, START_SECONDS)


def stranded(engine: Engine) -> set[int]:
    """The outbox rows a killed daemon left claimed ("sending")."""
    with engine.connect() as conn:
        return set(conn.execute(sa.text(
            "SELECT id FROM outbox WHERE state = 'sending'")).scalars())


async def freed(engine: Engine, ids: set[int], started: float) -> float | None:
    """Seconds from a restart until the rows in `ids` are sent (None: not within
    CATCH_UP_CAP, e.g. waiting for a long lease)."""
    query = sa.text("SELECT count(*) FROM outbox WHERE state = 'sent' AND id IN :ids"
                    ).bindparams(sa.bindparam("ids", expanding=True))
    while time.perf_counter() - started < CATCH_UP_CAP:
        with engine.connect() as conn:
            if conn.execute(query, {"ids": list(ids)}).scalar_one() == len(ids):
                return time.perf_counter() - started
        await asyncio.sleep(0.05)  # the daemon is another process: poll its database
    return None


async def run(db_url: str, kills: int, rate: float, lease: float, budget: float
              ) -> dict[str, Any]:
    deadline = time.perf_counter() + budget
    server = await TelegramServer().start()
    bot = server.add_bot(TOKEN, "acme_bench_bot")
    stream = Stream(server, bot, rate)
    catchups: list[float | None] = []
    busy = [0.0, 0]  # seconds of steady sending before the kills, sends in them
    done = 0
    engine = make_engine(db_url)
    with tempfile.TemporaryDirectory(prefix="inbox-bench-crash-") as tmp:
        config = deployment(Path(tmp) / "desk", db_url, server, "polling")
        config.write_text(toml(merged(_load(config), {"outbox": {"claim_seconds": lease}})))
        log = Path(tmp) / "daemon.log"
        stream.task = asyncio.create_task(stream.run())
        try:
            left: set[int] = set()
            for _ in range(kills):
                if time.perf_counter() > deadline:
                    break
                started = time.perf_counter()
                daemon = await start(config, log)
                if left:
                    catchups.append(await freed(engine, left, started))
                await sent_more(server, 5)
                steady, sends = time.perf_counter(), len(server.sent)
                await asyncio.sleep(random.uniform(0, 1.0))  # a random moment to kill at
                daemon.send_signal(signal.SIGKILL)
                await daemon.wait()
                busy[0] += time.perf_counter() - steady
                busy[1] += len(server.sent) - sends
                left = stranded(engine)
                done += 1
            stream.task.cancel()
            started = time.perf_counter()
            daemon = await start(config, log)
            if left:
                catchups.append(await freed(engine, left, started))
            await server.until(lambda: {u for u, _ in stream.written} <= stream.acked(),
                               DRAIN_SECONDS)
            daemon.terminate()
            await daemon.wait()
        finally:
            stream.task.cancel()
            await server.stop()
            engine.dispose()
    interval = busy[0] / busy[1] if busy[1] else 1 / rate
    return summary(stream, server, done, catchups=catchups, interval=interval, lease=lease)


def _load(config: Path) -> dict[str, Any]:
    return tomllib.loads(config.read_text())


def summary(stream: Stream, server: TelegramServer, kills: int, *,
            catchups: list[float | None], interval: float, lease: float
            ) -> dict[str, Any]:
    per_chat = Counter(s.chat_id for s in server.sent)
    duplicates = sum(n - 1 for n in per_chat.values() if n > 1)
    written = {u for u, _ in stream.written}
    known = [c for c in catchups if c is not None]
    return {"kills": kills, "customers": len(written), "acks_sent": len(server.sent),
            "never_acked": len(written - set(per_chat)), "duplicates": duplicates,
            "duplicates_per_kill": duplicates / kills if kills else 0.0,
            "window_ms_estimate": duplicates / kills * interval * 1000 if kills else 0.0,
            "send_interval_ms": interval * 1000, "lease_seconds": lease,
            "stranded_s": {"median": statistics.median(known) if known else None,
                                 "max": max(known) if known else None,
                                 "timed_out": len(catchups) - len(known)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--rate", type=float, default=20.0, help="new customers a second")
    ap.add_argument("--lease", type=float, default=300.0, help="outbox claim_seconds")
    ap.add_argument("--deadline", type=float, default=240.0, help="seconds per database")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--label", default="", help="a name for this run in the JSON")
    args = ap.parse_args()
    load = os.getloadavg()[0]  # other work on the machine skews the numbers
    runs: dict[str, dict[str, Any]] = {}
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="inbox-bench-db-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'inbox.db'}"
            runs["sqlite"] = asyncio.run(run(url, args.kills, args.rate, args.lease,
                                             args.deadline))
    if not args.no_pg:
        with pg_database(args.pg) as url:
            runs["postgresql"] = asyncio.run(run(url, args.kills, args.rate, args.lease,
                                                 args.deadline))
    report(args, load, runs)


def report(args: argparse.Namespace, load: float, runs: dict[str, dict[str, Any]]) -> None:
    header = ("database", "kills", "customers", "duplicates", "dup/kill", "send every ms",
              "window ms",
              "stranded sent median s", "max s", "timed out", "never acked")
    rows = [(name, str(r["kills"]), str(r["customers"]), str(r["duplicates"]),
             f"{r['duplicates_per_kill']:.2f}", f"{r['send_interval_ms']:.1f}",
             f"{r['window_ms_estimate']:.1f}",
             _s(r["stranded_s"]["median"]), _s(r["stranded_s"]["max"]),
             str(r["stranded_s"]["timed_out"]), str(r["never_acked"]))
            for name, r in runs.items()]
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "label": args.label,
            "kills": args.kills, "rate": args.rate, "lease_seconds": args.lease,
            "cpus": os.cpu_count(), "load_average": load,
            "python": platform.python_version(), "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "crash_window.json").write_text(json.dumps(meta, indent=2) + "\n")


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


if __name__ == "__main__":
    main()
