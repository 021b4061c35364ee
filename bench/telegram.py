"""Benchmark: Telegram, from a customer's update to our acknowledgement, and throughput.

    python -m bench.telegram [--latency 200] [--throughput 5000] [--pg URL | --no-pg]

A real `inbox run` (its own process, the real connector on python-telegram-bot's `Bot`)
against the local Bot API server of the tests (tests/channels/telegram/bot_api.py, in this
process), on a fresh deployment with production settings: SQLite, then PostgreSQL;
polling, then webhook mode. For each:

- latency: customers write one after another (each a new conversation, so each gets
  an acknowledgement); for each, the time from the update becoming available at the
  server (queued for getUpdates, or posted to the webhook) to the server receiving the
  acknowledgement's sendMessage. p50, p99 and max.
- throughput: that many updates from as many customers, available at once; the time
  until all are committed (for polling, the getUpdates that confirms the last one) and
  until all acknowledgements are sent.

Both ends are measured on the server's clock. The real Telegram lets a bot send about
30 messages a second; here the server answers at once, so the numbers are ours alone.
Prints a table; writes bench/results/telegram.json and docs/benchmarks-telegram.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import pg_database
from inbox.core.config import load_settings
from inbox.runtime.app import App
from inbox.runtime.deployment import init_deployment
from inbox.store.db import upgrade
from tests.channels.telegram.bot_api import FakeBot, TelegramServer
from tests.peers import merged, toml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TOKEN = "7001:BENCH-token-000000000000000000000"
TOKEN_ENV = "INBOX_BENCH_TELEGRAM_TOKEN"
WAIT = 600.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def deployment(directory: Path, db_url: str, server: TelegramServer, mode: str) -> Path:
    """A fresh, migrated deployment on `db_url` with one bot; otherwise `inbox init`'s."""
    config = init_deployment(directory)
    bot: dict[str, Any] = {"token_env": TOKEN_ENV, "api_url": server.url, "mode": mode}
    port = free_port()  # the desk's, where the webhook is served
    if mode == "webhook":
        bot["webhook"] = {"url": f"http://127.0.0.1:{port}/tg"}
    data = merged(tomllib.loads(config.read_text()), {
        "web": {"listen": f"127.0.0.1:{port}"},
        "name": "Acme Support", "domain": "helpdesk.test", "database_url": db_url,
        # Always open, so that every customer gets the same acknowledgement.
        "business_hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                           "hours": "00:00-23:59:59.999999"},
        "channels": {"telegram": {"bench": bot}}})
    config.write_text(toml(data))
    app = App(load_settings(config, {}))
    upgrade(app.engine)
    app.close()
    return config


async def latency(server: TelegramServer, bot: FakeBot, count: int, first_user: int
                  ) -> list[float]:
    """Milliseconds from each update's availability to its acknowledgement's arrival."""
    out = []
    for n in range(count):
        user = first_user + n
        update_id = bot.next_update + 1
        server.send(bot, server.user(user, f"Customer {n}"), "Hello, my order is late")
        def to_user(s: Any, u: int = user) -> bool:
            return bool(s.chat_id == u)

        [ack] = await server.sent_messages(1, WAIT, where=to_user)
        out.append((ack.at - bot.available_at[update_id]) * 1000)
    return out


async def throughput(server: TelegramServer, bot: FakeBot, count: int, first_user: int,
                     mode: str) -> dict[str, float]:
    before = len(server.sent)
    start = time.perf_counter()
    for n in range(count):
        server.send(bot, server.user(first_user + n, f"Customer {n}"), "Where is my parcel?")
    last = bot.next_update
    if mode == "polling":  # committed: the daemon asks for what follows the last one
        confirm = await server.called("getUpdates", timeout=WAIT,
                                      where=lambda p: int(p.get("offset") or 0) > last)
        committed = confirm.at
    else:  # committed: Telegram got its 200 for every post
        await server.until(lambda: server.webhook_answers.count(200) >= count, WAIT)
        committed = time.perf_counter()
    acks = await server.sent_messages(before + count, WAIT)
    done = acks[-1].at
    return {"updates": count, "commit_seconds": committed - start,
            "updates_per_second": count / (committed - start),
            "ack_seconds": done - start, "acks_per_second": count / (done - start)}


async def run(db_url: str, mode: str, n_latency: int, n_throughput: int) -> dict[str, Any]:
    """One deployment, one `inbox run` of its own (a separate process, as in production,
    so that the local Bot API server here does not share its CPU)."""
    server = await TelegramServer().start()
    bot = server.add_bot(TOKEN, "acme_bench_bot")
    with tempfile.TemporaryDirectory(prefix="inbox-bench-tg-") as tmp:
        config = deployment(Path(tmp) / "desk", db_url, server, mode)
        with (Path(tmp) / "daemon.log").open("wb") as log:
            daemon = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "inbox", "run", stdout=log, stderr=log,
                env={**os.environ, "INBOX_CONFIG": str(config), TOKEN_ENV: TOKEN})
        try:
            await server.called("setWebhook" if mode == "webhook" else "getUpdates",
                                timeout=60)
            lat = await latency(server, bot, n_latency, 100_000)
            thr = await throughput(server, bot, n_throughput, 200_000, mode)
        finally:
            daemon.terminate()
            await daemon.wait()
            await server.stop()
    q = statistics.quantiles(lat, n=100)
    return {"latency_ms": {"count": len(lat), "p50": statistics.median(lat), "p99": q[98],
                           "max": max(lat)}, "throughput": thr}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--latency", type=int, default=200)
    ap.add_argument("--throughput", type=int, default=5_000)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    args.load = os.getloadavg()[0]  # other work on the machine skews the numbers
    runs: dict[str, dict[str, Any]] = {}
    for mode in ("polling", "webhook"):
        with tempfile.TemporaryDirectory(prefix="inbox-bench-db-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'inbox.db'}"
            runs[f"sqlite, {mode}"] = asyncio.run(run(url, mode, args.latency,
                                                      args.throughput))
        if not args.no_pg:
            with pg_database(args.pg) as url:
                runs[f"postgresql, {mode}"] = asyncio.run(run(url, mode, args.latency,
                                                              args.throughput))
    report(args, runs)


def report(args: argparse.Namespace, runs: dict[str, dict[str, Any]]) -> None:
    header = ("run", "ack p50 ms", "ack p99 ms", "ack max ms", "updates/s committed",
              "acks/s sent")
    rows = [(name, f"{r['latency_ms']['p50']:.1f}", f"{r['latency_ms']['p99']:.1f}",
             f"{r['latency_ms']['max']:.1f}",
             f"{r['throughput']['updates_per_second']:,.0f}",
             f"{r['throughput']['acks_per_second']:,.0f}") for name, r in runs.items()]
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
            "latency_messages": args.latency, "throughput_updates": args.throughput,
            "cpus": os.cpu_count(), "load_average": args.load,
            "python": platform.python_version(), "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "telegram.json").write_text(json.dumps(meta, indent=2) + "\n")
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    (ROOT / "docs" / "benchmarks-telegram.md").write_text(
        f"<!-- written by `python -m bench.telegram` on {meta['date']} -->\n"
        "# Telegram: update to acknowledgement\n\n"
        f"`inbox run` in its own process with the real connector, against the local Bot "
        f"API server of the tests in another; production settings. Latency over {args.latency:,} "
        f"customers writing one after another (update available at the server -> the "
        f"acknowledgement's sendMessage received there); throughput with "
        f"{args.throughput:,} updates from as many customers available at once "
        f"(committed; all acknowledgements sent). {os.cpu_count()} CPUs (load average "
        f"{args.load:.1f} at the start), Python {meta['python']}.\n\n"
        + "\n".join(md) + "\n\n"
        "- Acknowledgements are sent one at a time, each recorded in its own transaction; "
        "the real Telegram accepts about 30 messages a second from one bot anyway, and a "
        "burst beyond that gets 429 replies, which the outbox honours (`retry_after`).\n"
        "- In webhook mode Telegram keeps at most `max_connections` (40) posts open, and "
        "each is answered after its commit, so batches are smaller than getUpdates' 100: "
        "fewer updates per second in a burst, the same latency for each.\n")


if __name__ == "__main__":
    main()
