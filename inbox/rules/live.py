"""The daemon's router: the last good rules, reloaded when the files change.

Every few seconds (never more often than `interval`) a route call re-reads the rule
files; if their content changed, they are loaded and checked again. A broken edit is
refused — each problem is logged with file:line — and the rules that were running keep
running, so a typo never stops routing. Reading a few small files every couple of
seconds costs nothing next to ingest; comparing content, not modification times, also
catches two saves within one timestamp tick.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from channels.base import Inbound
from inbox.core.routing import RouteDecision, RouteFacts
from inbox.rules.budget import DEFAULT_BUDGET
from inbox.rules.engine import RuleSet, build, read_sources
from inbox.rules.known import Known
from inbox.rules.source import Problem, RulesError

log = logging.getLogger(__name__)


class LiveRules:
    def __init__(self, directory: Path, known: Known, interval: float = 2.0,
                 clock: Callable[[], float] = time.monotonic,
                 budget: float = DEFAULT_BUDGET) -> None:
        """Load the rules; a broken rule set at start raises RulesError (nothing to keep).

        `clock` times the reloads; `budget` is each message's time for regexes."""
        self.directory, self.known, self.interval, self.clock = directory, known, interval, clock
        self.budget = budget
        self._lock = threading.Lock()  # connectors route from several threads
        sources = read_sources(directory)
        self.rules: RuleSet = build(sources, known, budget)
        _warn(self.rules)
        self._seen = _digest(sources)
        self._checked = clock()
        self.problems: list[Problem] = []  # of the last refused edit, until a good one

    def route(self, inbound: Inbound, facts: RouteFacts) -> RouteDecision:
        if self.clock() - self._checked >= self.interval:
            self.reload()
        return self.rules.route(inbound, facts)

    def reload(self) -> bool:
        """Load the files again if they changed; True when new rules now run."""
        if not self._lock.acquire(blocking=False):
            return False  # another thread is at it; route with the current rules
        try:
            self._checked = self.clock()
            try:
                sources = read_sources(self.directory)
            except OSError as exc:
                log.error("rules not reloaded: %s; the running rules stay", exc)
                return False
            seen = _digest(sources)
            if seen == self._seen:
                return False
            self._seen = seen  # a refused edit is reported once, not at every check
            return self._swap(sources)
        finally:
            self._lock.release()

    def _swap(self, sources: list[tuple[str, Path, bytes]]) -> bool:
        try:
            rules = build(sources, self.known, self.budget)
        except RulesError as exc:
            self.problems = exc.problems
            for p in exc.problems:
                log.error("rules edit refused: %s", p)
            log.error("the last good rules keep running (%d rules); fix the files and save "
                      "again (`inbox rules check` shows the problems)", len(self.rules.rules))
            return False
        self.rules, self.problems = rules, []
        log.info("rules reloaded: %d rules from %d files", len(rules.rules), rules.files)
        _warn(rules)
        return True


def _warn(rules: RuleSet) -> None:
    """What `inbox rules check` warns about, once per load: the rules run regardless."""
    for w in rules.warnings:
        log.warning("rules warning: %s", w)


def _digest(sources: list[tuple[str, Path, bytes]]) -> str:
    h = hashlib.sha256()
    for shown, _, data in sources:
        h.update(shown.encode() + b"\0" + data + b"\0")
    return h.hexdigest()
