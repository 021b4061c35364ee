"""Benchmark: the agents' desk at 1,000,000 conversations.

    python -m bench.desk [--count 1000000] [--runs 200] [--messages 100]
                         [--pg postgresql://postgres@127.0.0.1:5432/postgres]

For SQLite and for PostgreSQL it makes a deployment with the desk on, bulk-loads the
conversations with bench/sla.py's loader (the same mix: 6% open with a running clock,
500 at risk or breached), adds one conversation of 200 messages (customer mails
through the pipeline, an agent's replies through inbox.desk.actions) and an agent
with a session, then measures:
- server time: the real Starlette app (`App.desk`) in this process, driven by httpx's
  ASGITransport with the agent's session cookie: GET / (the queue, default filters)
  and GET /c/ID (the 200 messages), p50 / p95 / p99 of the wall time and of this
  process's CPU time (on a shared machine the first includes waiting for a core);
- commit to screen: a real `inbox run`, a server-sent events client on /events with
  the same cookie, and a writer in this process committing one new mail at a time
  through `ingest_batch`. From the commit to the `changed` event, and to the queue's
  rows fetched after it (GET /queue/rows, what the page does on `changed`) holding the
  new row. The mails say they were received 100 hours ago (a mailbox read after an
  outage), so each is the most overdue conversation and tops the default queue;
- the daemon's resident memory (VmRSS) idle after start, and idle again after the
  live run and a round of page loads over HTTP.
Prints a table and writes bench/results/desk.json and docs/benchmarks-desk.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import queue
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench import sla as bulk
from bench.common import pg_database
from channels.base import Address, Inbound
from inbox.core.config import load_settings
from inbox.core.vocab import Role
from inbox.desk import accounts, actions, apitokens
from inbox.ingest.pipeline import ingest_batch
from inbox.runtime.app import App
from inbox.store.db import upgrade
from inbox.store.models import Message
from inbox.web.auth import SESSION_COOKIE

ROOT = bulk.ROOT
OUT, RESULTS = bulk.OUT, bulk.RESULTS
LONG = 200  # messages in the long conversation
IDLE_SECONDS = 3.0  # the daemon left alone before its memory is read
WAIT = 30.0  # seconds any one step may take before the run fails
LATE = timedelta(hours=100)  # the live mails' age: more overdue than anything loaded


@dataclass
class Deployment:
    """One database's deployment: the config, the app in this process, the agent's
    session token, the long conversation's id."""

    workdir: Path
    config: Path
    app: App
    port: int
    token: str = ""
    long_id: int = 0
    api_token: str = ""  # the HTTP API's (inbox token create), acting as Bench
    reply_id: int = 0  # the conversation the API's replies go to

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_deployment(workdir: Path, url: str) -> Deployment:
    config = bulk.deployment(workdir, url)
    (workdir / "rules").mkdir(exist_ok=True)
    port = free_port()
    config.write_text(config.read_text() + f'\n[web]\nenabled = true\n'
                      f'listen = "127.0.0.1:{port}"\n')
    app = App(load_settings(config, {}))
    upgrade(app.engine)
    return Deployment(workdir, config, app, port)


def fill(url: str, count: int, now: datetime) -> float:
    """bench/sla.py's bulk load."""
    return bulk.fill(url, count, now)


def customer_mail(n: str, at: datetime, sender: str, *, subject: str,
                  references: tuple[str, ...] = ()) -> Inbound:
    text = (f"Hello,\n\nmessage {n}: the parcel has still not come and the tracking page "
            "says nothing new since Monday. Could you look into it and tell me when it "
            "will arrive?\n\nThank you,\nA customer\n\n> earlier text, quoted\n> more of it")
    return Inbound(channel="email", account="support", external_id=f"{n}@customer.test",
                   sender=Address(sender, "A Customer"), received_at=at, subject=subject,
                   text=text, references=references,
                   headers={"return-path": f"<{sender}>"})


def ingest(app: App, item: Inbound, now: datetime) -> int:
    """Commit one message through the pipeline; its conversation's id."""
    with app.engine.begin() as conn:
        result = ingest_batch(conn, [item], app.pipeline_context(), now)[0]
    assert result.conversation_id is not None, result
    return result.conversation_id


def long_conversation(d: Deployment, now: datetime) -> int:
    """A conversation of LONG messages: the customer writes, the agent answers."""
    app, start = d.app, now - timedelta(hours=LONG)
    cid, count = 0, 0
    previous: tuple[str, ...] = ()
    while count < LONG:
        at = start + timedelta(hours=count)
        n = f"long-{count}"
        cid = ingest(app, customer_mail(n, at, "long@customer.test", subject="A long story",
                                        references=previous), at)
        previous = (f"{n}@customer.test",)
        with Session(app.engine) as s, s.begin():
            actions.reply(s, cid, f"Thank you, we are on it ({count}).", author="Bench",
                          now=at + timedelta(minutes=5), secret=app.secret,
                          domain=app.settings.domain)
        with Session(app.engine) as s:
            count = s.scalar(sa.select(sa.func.count()).select_from(Message).where(
                Message.conversation_id == cid)) or 0  # type: ignore[arg-type]
    return cid


def sign_in(d: Deployment, now: datetime) -> str:
    """The agent Bench and a session, as /login would open it; an API token for Bench
    too (d.api_token)."""
    with Session(d.app.engine, expire_on_commit=False) as s, s.begin():
        agent = accounts.add_agent(s, email="bench@helpdesk.test", name="Bench",
                                   role=Role.AGENT, password=None, now=now)
        token, _ = accounts.open_session(s, agent, "127.0.0.1", "bench", now,
                                         secret=d.app.secret, web=d.app.settings.web)
        d.api_token = apitokens.create(s, agent, "bench", None, now)[1]
    return token


# ------------------------------------------------------------------ server time

def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[max(int(len(ordered) * p + 0.5) - 1, 0)]

    return {"p50_ms": statistics.median(ordered), "p95_ms": pct(0.95),
            "p99_ms": pct(0.99), "max_ms": ordered[-1], "runs": len(ordered)}


def rows_in(page: str) -> int:
    return page.count('<tr data-id="')


async def server_times(d: Deployment, runs: int) -> dict[str, Any]:
    """GET / and GET /c/ID on the app in process, as the signed-in agent."""
    transport = httpx.ASGITransport(app=d.app.desk({}))
    paths = {"queue_page": "/", "conversation_page": f"/c/{d.long_id}"}
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://desk",
                                 cookies={SESSION_COOKIE: d.token}) as client:
        for name, path in paths.items():
            first = await client.get(path)  # warm: templates compiled, caches filled
            assert first.status_code == 200, (path, first.status_code, first.text[:300])
            gc.freeze()  # as `inbox run` does once it serves (inbox.runtime.daemon)
            samples, cpu = [], []
            for _ in range(runs):
                start, used = time.perf_counter(), time.process_time()
                response = await client.get(path)
                samples.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - used) * 1000)
                assert response.status_code == 200
            out[name] = summary(samples)
            out[f"{name}_cpu"] = summary(cpu)
            out[name]["bytes"] = len(first.content)
        out["queue_rows_shown"] = rows_in((await client.get("/")).text)
        out["conversation_messages_shown"] = (await client.get(
            f"/c/{d.long_id}")).text.count('<li class="message ')
    async with httpx.AsyncClient(transport=transport, base_url="http://desk/api/v1",
                                 headers={"Authorization": f"Bearer {d.api_token}"}) as api:
        out |= await api_times(api, d, runs)
    return out


async def api_times(api: httpx.AsyncClient, d: Deployment, runs: int) -> dict[str, Any]:
    """The HTTP API's queue (a page of 50) and a reply with an Idempotency-Key, each as
    a program calls them (docs/api.md)."""
    out: dict[str, Any] = {}
    def queue(n: int) -> Awaitable[httpx.Response]:
        return api.get("/conversations", params={"limit": 50})

    def reply(n: int) -> Awaitable[httpx.Response]:
        return api.post(f"/conversations/{d.reply_id}/replies",
                        json={"text": f"Reply {n}: it is on its way."},
                        headers={"Idempotency-Key": f"bench-{n}"})

    calls = {"api_queue": queue, "api_reply": reply}
    for name, call in calls.items():
        first = await call(-1)
        assert first.status_code in (200, 201), (name, first.status_code, first.text[:300])
        samples, cpu = [], []
        for n in range(runs):
            start, used = time.perf_counter(), time.process_time()
            response = await call(n)
            samples.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - used) * 1000)
            assert response.status_code in (200, 201)
        out[name], out[f"{name}_cpu"] = summary(samples), summary(cpu)
    out["api_queue_rows"] = len((await calls["api_queue"](0)).json()["conversations"])
    return out


# ---------------------------------------------------------------- the real daemon

def start_daemon(d: Deployment) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX_")}
    env["INBOX_CONFIG"] = str(d.config)
    log = (d.workdir / "daemon.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "inbox", "run"], cwd=d.workdir, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"inbox run exited: {(d.workdir / 'daemon.log').read_text()}")
        try:
            if httpx.get(f"{d.url}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling a condition with a deadline
    proc.kill()
    raise SystemExit("the desk did not answer /healthz")


def stop_daemon(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=WAIT)


def memory(pid: int) -> dict[str, float]:
    """Resident and peak resident memory in MB (/proc/PID/status)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return {"rss_mb": fields["VmRSS"], "peak_rss_mb": fields["VmHWM"]}


def idle_memory(pid: int) -> dict[str, float]:
    time.sleep(IDLE_SECONDS)  # idle is what we measure: nothing asked of it meanwhile
    return memory(pid)


class Screen:
    """An open queue: one server-sent events stream, whose `changed` events are put in
    `changes` with the time they arrived (a thread of its own, as a browser tab)."""

    def __init__(self, d: Deployment) -> None:
        self.client = httpx.Client(base_url=d.url, cookies={SESSION_COOKIE: d.token},
                                   headers={"HX-Request": "true"}, timeout=WAIT)
        self.changes: queue.Queue[float] = queue.Queue()
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._listen, args=(d,), daemon=True)
        self.thread.start()
        if not self.connected.wait(WAIT):
            raise SystemExit("the event stream did not open")

    def _listen(self, d: Deployment) -> None:
        with httpx.Client(base_url=d.url, cookies={SESSION_COOKIE: d.token},
                          timeout=httpx.Timeout(WAIT, read=None)) as sse, \
                sse.stream("GET", "/events") as stream:
            assert stream.status_code == 200, stream.status_code
            for line in stream.iter_lines():
                if line == "data: connected":
                    self.connected.set()
                elif line == "data: changed":
                    self.changes.put(time.monotonic())

    def shows(self, cid: int) -> bool:
        """Fetch the queue's rows as the page does after `changed`: is `cid` there?"""
        page = self.client.get("/queue/rows")
        assert page.status_code == 200, page.status_code
        return f'<tr data-id="{cid}"' in page.text


def one_live(d: Deployment, screen: Screen, n: int, t0: datetime) -> tuple[float, float]:
    """Commit mail `n`; ms from the commit to the `changed` that brought its row, and
    to the fetched rows that hold it."""
    while not screen.changes.empty():  # what earlier changes announced is not this one
        screen.changes.get_nowait()
    now = datetime.now(UTC)
    mail = customer_mail(f"live-{t0:%H%M%S}-{n}", t0 - LATE - timedelta(minutes=n),
                         f"live{n}@customer.test", subject=f"Late mail {n}")
    started = time.monotonic()
    cid = ingest(d.app, mail, now)
    committed = time.monotonic()
    deadline = committed + WAIT
    while True:
        heard = screen.changes.get(timeout=max(deadline - time.monotonic(), 0.001))
        # The feed may look between the COMMIT and `committed` (a few µs): an event
        # heard since `started` may be this one; the fetched rows decide.
        if heard >= started and screen.shows(cid):
            return (max(heard - committed, 0) * 1000,
                    (time.monotonic() - committed) * 1000)


def live(d: Deployment, messages: int) -> dict[str, Any]:
    """Commit to screen for `messages` new mails, at random moments (so the commits
    fall anywhere in the daemon's look interval)."""
    screen = Screen(d)
    rnd, t0 = random.Random(14), datetime.now(UTC)
    heard, shown = [], []
    for n in range(messages):
        time.sleep(rnd.uniform(0.2, 0.6))  # think time between arrivals, random phase
        to_event, to_screen = one_live(d, screen, n, t0)
        heard.append(to_event)
        shown.append(to_screen)
    screen.client.close()
    return {"commit_to_event": summary(heard), "commit_to_screen": summary(shown)}


def page_round(d: Deployment, loads: int) -> None:
    """Pages over HTTP, as agents open them: the queue and the long conversation."""
    with httpx.Client(base_url=d.url, cookies={SESSION_COOKIE: d.token}, timeout=WAIT) as c:
        for _ in range(loads):
            for path in ("/", f"/c/{d.long_id}"):
                assert c.get(path).status_code == 200


def with_daemon(d: Deployment, messages: int) -> dict[str, Any]:
    proc = start_daemon(d)
    try:
        out: dict[str, Any] = {"memory_after_start": idle_memory(proc.pid)}
        out |= live(d, messages)
        page_round(d, 20)
        out["memory_after_pages"] = idle_memory(proc.pid)
    finally:
        out_code = stop_daemon(proc)
    assert out_code == 0, (d.workdir / "daemon.log").read_text()[-2000:]
    return out


# -------------------------------------------------------------------- the run

def measure(name: str, url: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    d = make_deployment(workdir, url)
    now = datetime.now(UTC)
    print(f"{name}: loading {args.count:,} conversations ...", flush=True)
    result: dict[str, Any] = {"load_seconds": fill(url, args.count, now)}
    d.token = sign_in(d, now)
    d.long_id = long_conversation(d, now)
    d.reply_id = ingest(d.app, customer_mail("api-reply", now, "api@example.com",
                                             subject="Where is my parcel?"), now)
    print(f"{name}: pages in process ...", flush=True)
    result |= asyncio.run(server_times(d, args.runs))
    print(f"{name}: inbox run, commit to screen ...", flush=True)
    result |= with_daemon(d, args.messages)
    d.app.close()
    return result


def databases(args: argparse.Namespace, stamp: str) -> Iterator[tuple[str, str, Path]]:
    work = OUT / f"desk-sqlite-{stamp}"
    yield "sqlite", f"sqlite:///{work / 'inbox.db'}", work
    with pg_database(prefix="inbox_bench_desk", admin_url=args.pg) as url:
        yield "postgresql", url, OUT / f"desk-pg-{stamp}"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--messages", type=int, default=100)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    runs: dict[str, dict[str, Any]] = {}
    args.load_before = os.getloadavg()  # a shared machine: say how busy it was
    for name, url, work in databases(args, uuid.uuid4().hex[:6]):
        try:
            runs[name] = measure(name, url, work, args)
        finally:
            shutil.rmtree(work, ignore_errors=True)  # a gigabyte of generated data
    report(args, runs)


# (key, measure, label, target)
ROWS = [("queue_page", "p95_ms", "queue page `GET /`, server time", "p95 < 50 ms"),
        ("conversation_page", "p95_ms", f"conversation of {LONG} messages `GET /c/ID`",
         "p95 < 50 ms"),
        ("api_queue", "p95_ms", "API queue `GET /api/v1/conversations` (50)", "p95 < 50 ms"),
        ("api_reply", "p95_ms", "API reply `POST .../replies` with Idempotency-Key",
         "p95 < 50 ms"),
        ("commit_to_event", "p99_ms", "commit to `changed` on /events", ""),
        ("commit_to_screen", "p99_ms", "commit to the new row in the fetched queue",
         "p50 < 300 ms, p99 < 1 s")]
LIMITS = {"queue_page": {"p95_ms": 50.0}, "conversation_page": {"p95_ms": 50.0},
          "api_queue": {"p95_ms": 50.0}, "api_reply": {"p95_ms": 50.0},
          "commit_to_screen": {"p50_ms": 300.0, "p99_ms": 1000.0}}
RSS_LIMIT_MB = 200.0


def verdicts(runs: dict[str, dict[str, Any]]) -> dict[str, bool]:
    out = {}
    for db, r in runs.items():
        for key, limits in LIMITS.items():
            out[f"{db} {key}"] = all(r[key][m] < v for m, v in limits.items())
        out[f"{db} idle rss"] = max(r["memory_after_start"]["rss_mb"],
                                    r["memory_after_pages"]["rss_mb"]) < RSS_LIMIT_MB
    return out


def table(runs: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    header = ("measure", *(f"{db} p50 / p95 / p99 ms" for db in runs), "target")
    rows: list[tuple[str, ...]] = [header]
    for key, _, label, target in ROWS:
        cells = [f"{r[key]['p50_ms']:.1f} / {r[key]['p95_ms']:.1f} / {r[key]['p99_ms']:.1f}"
                 for r in runs.values()]
        rows.append((label, *cells, target))
        if f"{key}_cpu" in next(iter(runs.values())):
            rows.append(("  the same, CPU time of this process", *(
                "{p50_ms:.1f} / {p95_ms:.1f} / {p99_ms:.1f}".format(**r[f"{key}_cpu"])
                for r in runs.values()), ""))
    for key, label in (("memory_after_start", "daemon RSS, idle after start"),
                       ("memory_after_pages", "daemon RSS, idle after the live run and "
                                              "40 page loads")):
        cells = [f"{r[key]['rss_mb']:.0f} MB (peak {r[key]['peak_rss_mb']:.0f})"
                 for r in runs.values()]
        rows.append((label, *cells, f"< {RSS_LIMIT_MB:.0f} MB"))
    return rows


def report(args: argparse.Namespace, runs: dict[str, dict[str, Any]]) -> None:
    rows = table(runs)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    met = verdicts(runs)
    print("targets:", ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in met.items()))
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "count": args.count,
            "runs": args.runs, "messages": args.messages, "cpus": os.cpu_count(),
            "python": platform.python_version(), "targets_met": met,
            "load_average_before_after": [args.load_before, os.getloadavg()], "results": runs}
    (RESULTS / "desk.json").write_text(json.dumps(meta, indent=2) + "\n")
    md = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    md += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    loads = ", ".join(f"{db} {r['load_seconds']:.0f} s" for db, r in runs.items())
    shown = next(iter(runs.values()))
    (ROOT / "docs" / "benchmarks-desk.md").write_text(
        f"<!-- written by `python -m bench.desk` on {meta['date']} -->\n"
        f"# Desk benchmark\n\n{args.count:,} conversations (bench/sla.py's mix), "
        f"{os.cpu_count()} CPUs, Python {meta['python']}; bulk load {loads}. "
        f"{args.runs} requests per page in process (the queue shows "
        f"{shown['queue_rows_shown']} rows, the conversation "
        f"{shown['conversation_messages_shown']} messages); {args.messages} new mails "
        f"committed one at a time to a real `inbox run` with one open queue. Load "
        f"average (1 min) {args.load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after: "
        "the machine is shared.\n\n"
        + "\n".join(md) + "\n\nTargets: " + ", ".join(
            f"{k} {'met' if v else '**missed**'}" for k, v in met.items()) + ".\n")


if __name__ == "__main__":
    main()
