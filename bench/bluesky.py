"""Benchmark: Bluesky, from a customer's mention to our public acknowledgement in its thread.

    python -m bench.bluesky [--mentions 20] [--poll 5]

A real `inbox run` (its own process, the real connector on the `atproto` SDK, SQLite,
production settings) with one business account on the local Bluesky network of the
tests (tests/channels/bluesky/devnet.py: @atproto/dev-env's PLC + PDS + AppView). That
many customers, each a new account, mention the business one after another, about a
second apart (a new conversation each, so each is acknowledged). For each mention, the
time from the customer's PDS accepting the post to our acknowledgement being visible
through the AppView (the business's feed, read every 20 ms; each ack is then checked to
be in its customer's thread), and, on the daemon's clock, to the ack being posted.

Bluesky has no push for notifications and the connector uses no streaming (firehose)
for them: it asks `listNotifications` every `poll_seconds` (`--poll`, the shipped
default 5 s). The dev AppView also writes a notification a moment after it indexed the
post, and indexes our ack a moment after our PDS took it; both are in the figure.
Prints a table; writes bench/results/bluesky.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from atproto import models
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.config import load_settings
from inbox.runtime.app import App
from inbox.runtime.deployment import init_deployment
from inbox.store.db import upgrade
from inbox.store.models import Message
from tests.channels.bluesky.devnet import Account, Devnet, Post, running
from tests.peers import merged, toml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PASSWORD_ENV = "INBOX_BENCH_BLUESKY_PASSWORD"
WAIT = 120.0  # for one acknowledgement, at most
READ_EVERY = 0.02


def deployment(directory: Path, net: Devnet, shop: Account, poll: float) -> Path:
    """A fresh, migrated SQLite deployment with the one account; otherwise `inbox init`'s."""
    config = init_deployment(directory)
    data = merged(tomllib.loads(config.read_text()), {
        "name": "Acme", "database_url": f"sqlite:///{directory / 'inbox.db'}",
        # Always open, so that every customer gets the same acknowledgement.
        "business_hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                           "hours": "00:00-23:59:59.999999"},
        "channels": {"bluesky": {"bench": {"service": net.pds, "handle": shop.handle,
                                           "app_password_env": PASSWORD_ENV,
                                           "poll_seconds": poll}}}})
    config.write_text(toml(data))
    app = App(load_settings(config, {}))
    upgrade(app.engine)
    app.close()
    return config


def acks(shop: Account) -> dict[str, Any]:
    """Our posts the AppView shows, by the URI of the post each answers."""
    feed = shop.client.app.bsky.feed.get_author_feed(
        {"actor": shop.did, "filter": "posts_with_replies", "limit": 100})
    return {item.post.record.reply.parent.uri: item.post for item in feed.feed
            if item.post.record.reply is not None}


def measure(net: Devnet, shop: Account, customers: list[Account], rng: random.Random
            ) -> dict[str, tuple[Account, Post, float, float]]:
    """Post the mentions about a second apart; returns, per mention, its customer, the
    post, its wall-clock time and the seconds until our ack was visible."""
    posted: dict[str, tuple[Account, Post, float, float]] = {}
    pending: dict[str, float] = {}  # mention URI -> when it was posted (monotonic)
    waiting = list(customers)
    next_at = time.monotonic()
    while waiting or pending:
        if waiting and time.monotonic() >= next_at:
            customer = waiting.pop(0)
            made = customer.client.send_post(f"@{shop.handle} my order has not arrived",
                                             facets=[mention_facet(shop)])
            pending[made.uri] = time.monotonic()
            posted[made.uri] = (customer, Post(made.uri, made.cid), time.time(), 0.0)
            next_at += rng.uniform(0.5, 1.5)  # not in step with the daemon's polling
        seen = acks(shop)
        for uri in [u for u in pending if u in seen]:
            customer, post, wall, _ = posted[uri]
            posted[uri] = (customer, post, wall, time.monotonic() - pending.pop(uri))
        if pending and min(pending.values()) < time.monotonic() - WAIT:
            raise RuntimeError(f"no acknowledgement within {WAIT:.0f} s; see the daemon's log")
        time.sleep(READ_EVERY)
    return posted


def mention_facet(shop: Account) -> models.AppBskyRichtextFacet.Main:
    return models.AppBskyRichtextFacet.Main(
        index=models.AppBskyRichtextFacet.ByteSlice(byte_start=0,
                                                    byte_end=len(shop.handle.encode()) + 1),
        features=[models.AppBskyRichtextFacet.Mention(did=shop.did)])


def in_threads(net: Devnet, shop: Account,
               posted: dict[str, tuple[Account, Post, float, float]]) -> None:
    """Each ack is the one reply in its customer's thread, from us."""
    net.settle()
    for customer, post, _, _ in posted.values():
        replies = net.thread(customer, post, 1)
        if [p.author.did for p in replies] != [shop.did]:
            raise RuntimeError(f"the thread of {post.uri} holds {len(replies)} replies")


def sent_after(config: Path, posted: dict[str, tuple[Account, Post, float, float]]
               ) -> list[float]:
    """Seconds from each mention to our PDS taking its ack, on the daemon's clock."""
    app = App(load_settings(config, {}))
    try:
        with Session(app.engine) as s:
            out = s.scalars(sa.select(Message).where(col(Message.direction) == "out")).all()
    finally:
        app.close()
    return [m.sent_at.timestamp() - posted[m.headers["in-reply-to"]][2] for m in out
            if m.sent_at is not None and m.headers["in-reply-to"] in posted]


def run(mentions: int, poll: float) -> dict[str, Any]:
    rng = random.Random(16)
    with tempfile.TemporaryDirectory(prefix="inbox-bench-bsky-") as tmp, \
            running(Path(tmp)) as net:
        shop = net.account("shop")
        # A business that has used the app (see tests/channels/bluesky/test_bluesky_daemon).
        shop.client.app.bsky.notification.update_seen(
            models.AppBskyNotificationUpdateSeen.Data(seen_at=shop.client.get_current_time_iso()))
        # One more customer first: their ack says the daemon has signed in and is reading.
        customers = [net.account(f"c{n}") for n in range(mentions + 1)]
        config = deployment(Path(tmp) / "desk", net, shop, poll)
        with (Path(tmp) / "daemon.log").open("wb") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "inbox", "run"], stdout=log, stderr=log,
                env={**os.environ, "INBOX_CONFIG": str(config),
                     PASSWORD_ENV: net.app_password(shop)})
        try:
            measure(net, shop, customers[:1], rng)
            posted = measure(net, shop, customers[1:], rng)
        finally:
            daemon.terminate()
            daemon.wait()
        in_threads(net, shop, posted)
        sent = sent_after(config, posted)
    visible = [seconds for *_, seconds in posted.values()]
    return {"poll_seconds": poll, "visible_seconds": summary(visible),
            "sent_seconds": summary(sent)}


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"count": len(ordered), "median": statistics.median(ordered),
            "p95": ordered[max(round(0.95 * len(ordered)) - 1, 0)], "max": ordered[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mentions", type=int, default=20)
    ap.add_argument("--poll", type=float, default=5.0, help="poll_seconds of the account")
    args = ap.parse_args()
    load = os.getloadavg()[0]  # other work on the machine skews the numbers
    result = run(args.mentions, args.poll)
    header = ("mention ->", "median s", "p95 s", "max s")
    rows = [(name, *(f"{result[key][q]:.2f}" for q in ("median", "p95", "max")))
            for name, key in (("ack posted (our PDS took it)", "sent_seconds"),
                              ("ack visible in the thread", "visible_seconds"))]
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print(f"{args.mentions} mentions, poll_seconds {args.poll:g}, no streaming")
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "mentions": args.mentions,
            "streaming": False, "cpus": os.cpu_count(), "load_average": load,
            "python": platform.python_version(), **result}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bluesky.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()
