"""Benchmark: what one hostile mail costs `inbox ingest`, end to end, on both databases.

    python -m bench.hostile [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Each case is one message built to cost us (a 50 MB Subject, a 5 MB Message-ID, 20 kB of
random bytes, NUL in the headers) imported beside 20 ordinary mails by the real
command in its own process on a fresh deployment. It reports the wall time, the peak
memory (max RSS) of the command, how many of the 21 were stored, and whether the
hostile one was flagged. Prints a table and writes bench/results/hostile.json.
"""

from __future__ import annotations

import argparse
import json
import mailbox
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import PG_ADMIN, pg_database
from tests import mailcorpus as mc

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
GOOD = 20

CASES: dict[str, Callable[[], bytes]] = {
    "50 MB Subject": lambda: mc.plain_mail(subject="A" * 50_000_000,
                                           message_id="<big-subject@example.com>"),
    "5 MB Message-ID": lambda: mc.plain_mail(message_id="<" + "x" * 5_000_000 + "@e.example>"),
    "20 kB random bytes": lambda: random.Random(7).randbytes(20_000),
    "NUL in Subject and body": lambda: mc.assemble(
        [("From", "Eve <eve@example.com>"), ("To", mc.SUPPORT), ("Subject", b"a\x00b"),
         ("Message-ID", "<nul@example.com>")], b"one\x00two\r\n"),
}


# Runs a command and prints, after its output, the peak RSS (kB) of that command alone.
_MEASURED = ("import resource, subprocess, sys; "
             "r = subprocess.run(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
             "sys.exit(r.returncode)")


def run_case(name: str, raw: bytes, url: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "INBOX_DATABASE_URL": url,
               "INBOX_CONFIG": str(work / "desk" / "inbox.toml")}
        inbox = [sys.executable, "-m", "inbox"]
        subprocess.run([*inbox, "init", str(work / "desk")], check=True, env=env,
                       capture_output=True)
        subprocess.run([*inbox, "db", "upgrade"], check=True, env=env, capture_output=True)
        box = mailbox.Maildir(work / "Maildir", create=True)
        box.add(raw)
        for i in range(GOOD):
            box.add(mc.plain_mail(sender=f"c{i}@example.com", message_id=f"<g{i}@example.com>"))
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _MEASURED, *inbox, "ingest",
                               str(work / "Maildir"), "--account", "support", "--workers",
                               "0", "--json"], check=False, env=env, capture_output=True,
                              text=True)
        seconds = time.perf_counter() - start
    *output, peak_kb = done.stdout.strip().splitlines()
    report = json.loads("\n".join(output)) if done.returncode == 0 else {}
    return {"case": name, "exit": done.returncode, "seconds": round(seconds, 2),
            "max_rss_mb": round(int(peak_kb) / 1024),
            "stored": report.get("stored", 0), "of": GOOD + 1,
            "flagged": report.get("flagged", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", default=PG_ADMIN)
    args = parser.parse_args()
    rows = []
    for name, build in CASES.items():
        raw = build()
        with tempfile.TemporaryDirectory() as tmp:
            rows.append({"database": "sqlite",
                         **run_case(name, raw, f"sqlite:///{Path(tmp) / 'inbox.db'}")})
        with pg_database(args.pg) as url:
            rows.append({"database": "postgresql", **run_case(name, raw, url)})
    print(f"{'case':<26}{'database':<12}{'exit':>5}{'seconds':>9}{'max RSS MB':>12}"
          f"{'stored':>9}{'flagged':>9}")
    for r in rows:
        print(f"{r['case']!s:<26}{r['database']!s:<12}{r['exit']!s:>5}{r['seconds']!s:>9}"
              f"{r['max_rss_mb']!s:>12}{str(r['stored']) + '/' + str(r['of']):>9}"
              f"{r['flagged']!s:>9}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hostile.json").write_text(json.dumps(
        {"machine": platform.platform(), "cpus": os.cpu_count(), "rows": rows}, indent=2)
        + "\n")


if __name__ == "__main__":
    main()
