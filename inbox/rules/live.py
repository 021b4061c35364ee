"""The daemon's router: the last good rules, reloaded when the files change.

`inbox run` calls `reload` when the folders change (inbox.daemon watches them, and
checks every two seconds as well), so an edit goes live, or is refused, whether or not
messages arrive; a route call also looks again after `interval` (what keeps a long
`inbox ingest` current). When the files' content changed they are loaded and checked
again. A broken edit is refused — each problem is logged with file:line — and the rules
that were running keep running, so a typo never stops routing. Reading a few small
files costs nothing next to ingest; comparing content, not modification times, also
catches two saves within one timestamp tick. The names of the template folders count
as content: a rule naming a template refused before the template existed goes live
once it does.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from channels.base import Inbound
from inbox.core.directory import Directory
from inbox.core.routing import RouteDecision, RouteFacts
from inbox.rules.budget import DEFAULT_BUDGET
from inbox.rules.engine import SUFFIXES, RuleSet, build, read_sources
from inbox.rules.known import Known, template_names
from inbox.rules.source import Problem, RulesError

log = logging.getLogger(__name__)


class LiveRules:
    def __init__(self, directory: Path, known: Known, interval: float = 2.0,
                 clock: Callable[[], float] = time.monotonic,
                 budget: float = DEFAULT_BUDGET, *, templates: Path | None = None,
                 names: Directory | None = None) -> None:
        """Load the rules; a broken rule set at start raises RulesError (nothing to keep).

        `clock` times the reloads; `budget` is each message's time for regexes;
        `templates`, the templates folder, and `names`, the agents and teams, are looked
        at again for the names rules use (`inbox agent add` while the daemon runs)."""
        self.directory, self.known, self.interval, self.clock = directory, known, interval, clock
        self.budget, self.templates, self.names = budget, templates, names
        self._lock = threading.Lock()  # connectors route from several threads
        sources = read_sources(directory)
        self.known = self._known()
        self.rules: RuleSet = build(sources, self.known, budget)
        _warn(self.rules)
        self._seen = self._digest(sources)
        self._checked = clock()
        self.problems: list[Problem] = []  # of the last refused edit, until a good one

    def route(self, inbound: Inbound, facts: RouteFacts) -> RouteDecision:
        if self.clock() - self._checked >= self.interval:
            self.reload()
        return self.rules.route(inbound, facts)

    def watched(self) -> list[Path]:
        """The folders whose changes may change the rules."""
        return [self.directory] + ([self.templates] if self.templates else [])

    def reload(self, wait: bool = False) -> bool:
        """Load the files again if they changed; True when new rules now run.

        A route call does not `wait` for a reload running in another thread (it routes
        with the current rules); the daemon's watcher does, so the last save of a burst
        is never skipped for a reload that read the files before it."""
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            self._checked = self.clock()
            try:
                sources = read_sources(self.directory)
                known = self._known()
            except Exception as exc:  # a file, or the agents' records, unreadable now
                log.error("rules not reloaded: %s; the running rules stay", exc)
                return False
            seen = self._digest(sources, known)
            if seen == self._seen:
                return False
            self._seen = seen  # a refused edit is reported once, not at every check
            return self._swap(sources, known)
        finally:
            self._lock.release()

    def _known(self) -> Known:
        known = self.known if self.names is None else self.known.with_names(self.names)
        if self.templates is None:
            return known
        return replace(known, templates=template_names(self.templates))

    def _digest(self, sources: list[tuple[str, Path, bytes]], known: Known | None = None) -> str:
        """What the rules are made of: the rule files (not an editor's backup or swap file
        beside them, which would announce a reload that changed nothing), the names of
        the templates, the agents and the teams (with their members, in order)."""
        h = hashlib.sha256()
        for shown, path, data in sources:
            if path.suffix in (*SUFFIXES, ".toml"):  # .toml: refused, so it counts
                h.update(shown.encode() + b"\0" + data + b"\0")
        known = known or self.known
        for name in sorted(known.templates):
            h.update(b"template\0" + name.encode() + b"\0")
        for team, members in sorted(known.teams.items()):  # who round-robin takes turns
            h.update(b"team\0" + "\0".join((team, *members)).encode() + b"\0")
        for agent in sorted(known.agents):
            h.update(b"agent\0" + agent.encode() + b"\0")
        return h.hexdigest()

    def _swap(self, sources: list[tuple[str, Path, bytes]], known: Known) -> bool:
        try:
            rules = build(sources, known, self.budget)
        except RulesError as exc:
            self.problems = exc.problems
            for p in exc.problems:
                log.error("rules edit refused: %s", p)
            log.error("the last good rules keep running (%d rules); fix the files and save "
                      "again (`inbox rules check` shows the problems)", len(self.rules.rules))
            return False
        self.rules, self.problems, self.known = rules, [], known
        log.info("rules reloaded: %d rules from %d files", len(rules.rules), rules.files)
        _warn(rules)
        return True


def _warn(rules: RuleSet) -> None:
    """What `inbox rules check` warns about, once per load: the rules run regardless."""
    for w in rules.warnings:
        log.warning("rules warning: %s", w)

