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
- catch-up: after each restart, seconds until every customer who wrote before the kill
  has an ack (the rows a dead daemon had claimed wait for their lease, or not).

Prints a table; writes bench/results/crash_window.json. Time-bounded by `--deadline`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from bench.common import pg_database
from bench.telegram import TOKEN, TOKEN_ENV, deployment
from tests.peers import merged, toml
from tests.telegram_server import FakeBot, TelegramServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
START_SECONDS = 60.0
CATCH_UP_CAP = 15.0  # seconds to wait after a restart; a 300 s lease would take longer


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


async def caught_up(stream: Stream, before: float, deadline: float) -> float | None:
    """Seconds until every customer who wrote before `before` has an ack (None: never)."""
    waiting = {u for u, at in stream.written if at < before}
    t0 = time.perf_counter()
    with contextlib.suppress(TimeoutError):
        await stream.server.until(
            lambda: waiting <= stream.acked(),
            max(min(deadline - time.perf_counter(), CATCH_UP_CAP), 0.1))
        return time.perf_counter() - t0
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
    with tempfile.TemporaryDirectory(prefix="inbox-bench-crash-") as tmp:
        config = deployment(Path(tmp) / "desk", db_url, server, "polling")
        config.write_text(toml(merged(_load(config), {"outbox": {"claim_seconds": lease}})))
        log = Path(tmp) / "daemon.log"
        stream.task = asyncio.create_task(stream.run())
        try:
            killed_at = time.perf_counter()
            for _ in range(kills):
                if time.perf_counter() > deadline:
                    break
                daemon = await start(config, log)
                catchups.append(await caught_up(stream, killed_at, deadline))
                await sent_more(server, 5)
                steady, sends = time.perf_counter(), len(server.sent)
                await asyncio.sleep(random.uniform(0, 1.0))  # a random moment to kill at
                daemon.send_signal(signal.SIGKILL)
                await daemon.wait()
                killed_at = time.perf_counter()
                busy[0] += killed_at - steady
                busy[1] += len(server.sent) - sends
                done += 1
            stream.task.cancel()
            daemon = await start(config, log)
            catchups.append(await caught_up(stream, time.perf_counter(), deadline + 60))
            daemon.terminate()
            await daemon.wait()
        finally:
            stream.task.cancel()
            await server.stop()
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
            "catch_up_seconds": {"median": statistics.median(known) if known else None,
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
              "catch-up median s", "catch-up max s", "timed out", "never acked")
    rows = [(name, str(r["kills"]), str(r["customers"]), str(r["duplicates"]),
             f"{r['duplicates_per_kill']:.2f}", f"{r['send_interval_ms']:.1f}",
             f"{r['window_ms_estimate']:.1f}",
             _s(r["catch_up_seconds"]["median"]), _s(r["catch_up_seconds"]["max"]),
             str(r["catch_up_seconds"]["timed_out"]), str(r["never_acked"]))
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
