"""Benchmark: language detection cost per message, model load, and the threshold's effect.

    python -m bench.lang [--repeat 30]

Runs the detector on the labelled messages of tests/lang/samples.py (chat lines, longer
mails, hard cases) and reports, by length band of the text and by language, the median
and p95 cost of one `detect()` call in µs (CPU time), and what Thai lines would cost
without the Thai-letters short-cut. Loads the model in fresh processes to measure its
load time and the process's RSS growth. Sweeps the confidence threshold over the
labelled chat lines and hard cases (right / unknown / wrong). Prints tables and writes
bench/results/lang.json; docs/languages.md explains the figures. The target is a median
of at most 200 µs up to 80 characters, so that detection never slows ingest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inbox.lang.detect import Detector
from tests.lang.samples import CHAT, HARD, LONG

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TARGET_US = 200
BANDS = ((1, 20), (21, 40), (41, 80), (81, 160), (161, 10_000))
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)

# Run in a fresh interpreter: how long the first Detector takes, and how much it grows
# the process (numpy and the model), read from /proc as the kernel counts it.
LOAD = """
import json, time
def rss():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS:")) / 1024
import inbox.lang.detect as detect
before, start = rss(), time.perf_counter()
detector = detect.Detector()
loaded = time.perf_counter() - start
detector.detect("Dzień dobry, paczka nadal nie dotarła.")
print(json.dumps({"load_s": loaded, "rss_mb": rss() - before}))
"""


def _by_band() -> dict[str, list[str]]:
    """Every labelled text, grouped by its length in characters."""
    texts = [t for group in (CHAT, LONG) for ts in group.values() for t in ts]
    bands: dict[str, list[str]] = {}
    for text in sorted(texts + [h.text for h in HARD], key=len):
        low, high = next(b for b in BANDS if b[0] <= len(text) <= b[1])
        bands.setdefault(f"{low}-{high}" if high < 10_000 else f"{low}+", []).append(text)
    return bands


def _cost(detector: Detector, groups: dict[str, list[str]] | dict[str, tuple[str, ...]],
          repeat: int) -> dict[str, dict[str, float]]:
    """Median and p95 µs of one detect() per group of texts, over `repeat` rounds, in CPU
    time of this thread (so that other work on the machine counts less)."""
    found = {}
    for group, texts in groups.items():
        times = []
        for _ in range(repeat):
            for text in texts:
                start = time.thread_time_ns()
                detector.detect(text)
                times.append((time.thread_time_ns() - start) / 1e3)
        found[group] = {"n": len(texts), "median_us": round(statistics.median(times), 1),
                        "p95_us": round(statistics.quantiles(times, n=20)[-1], 1)}
    return found


def _load(runs: int = 3) -> dict[str, float]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    found = [json.loads(subprocess.run([sys.executable, "-c", LOAD], capture_output=True,
                                       text=True, check=True, cwd=ROOT, env=env).stdout)
             for _ in range(runs)]
    return {key: round(statistics.median(f[key] for f in found), 2) for key in found[0]}


def _sweep() -> list[dict[str, Any]]:
    rows = []
    for threshold in THRESHOLDS:
        detector = Detector(threshold=threshold)
        answers = [(lang, detector.detect(t).language)
                   for lang, texts in CHAT.items() for t in texts]
        hard_misses = [h.case for h in HARD if detector.detect(
            h.text, h.subject, subject_is_ours=h.subject_is_ours).language not in h.expected]
        rows.append({
            "threshold": threshold,
            "chat_right": sum(lang == got for lang, got in answers),
            "chat_unknown": sum(got is None for _, got in answers),
            "chat_wrong": sum(got not in (lang, None) for lang, got in answers),
            "hard_misses": hard_misses,
        })
    return rows


def _table(title: str, rows: dict[str, dict[str, float]]) -> None:
    print(f"| {title} | messages | median µs | p95 µs |\n|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['n']} | {r['median_us']} | {r['p95_us']} |")
    print()


def report(cost: dict[str, Any], load: dict[str, float], sweep: list[dict[str, Any]]) -> None:
    _table("characters", cost["by_length"])
    _table("chat lines in", cost["by_language"] | cost["thai_by_model"])
    print(f"model load {load['load_s']} s, RSS +{load['rss_mb']} MB (median of 3 fresh "
          f"processes)\n")
    print("| threshold | chat right | unknown | wrong | hard cases missed |\n|---|---|---|---|---|")
    for r in sweep:
        print(f"| {r['threshold']} | {r['chat_right']} | {r['chat_unknown']} | "
              f"{r['chat_wrong']} | {', '.join(r['hard_misses']) or '-'} |")
    meta = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target_median_us_to_80_chars": TARGET_US,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "python": platform.python_version(),
        "cost": cost, "load": load, "threshold_sweep": sweep,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lang.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    detector, model_only = Detector(), Detector()
    model_only._thai = False  # what the Thai short-cut saves, measured
    cost = {"by_length": _cost(detector, _by_band(), args.repeat),
            "by_language": _cost(detector, CHAT, args.repeat),
            "thai_by_model": _cost(model_only, {"th, model asked": CHAT["th"]}, args.repeat)}
    report(cost, _load(), _sweep())


if __name__ == "__main__":
    main()
