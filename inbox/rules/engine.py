"""Rule files in, a fast router out: loading, the rule index, routing and explaining.

Rules run in file-name order, then in the order written; each matching rule applies its
actions and may stop the rest. Routing must never be what slows ingest, so rules are
indexed by facts that are cheap to read off a message — its channel, sender domain,
the words of its subject and body: a rule is evaluated only when one of the facts it
cannot match without is present, and the words of each field are intersected with the
index in one set operation. `explain` evaluates every rule the slow, talkative way;
tests check that both ways always reach the same outcome.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import regex

from channels.base import Inbound
from inbox.core.routing import RouteDecision, RouteFacts, RuleHit
from inbox.rules.actions import Action, Outcome, parse_actions
from inbox.rules.budget import DEFAULT_BUDGET, Budget, Clock
from inbox.rules.conditions import INDEXED_FIELDS, Cond, Hours, Key, Parser, View
from inbox.rules.known import Known
from inbox.rules.source import Node, Problem, Reader, RulesError, compose, line

log = logging.getLogger(__name__)

RULE_KEYS = ("name", "description", "when", "then", "stop")
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Rule:
    name: str
    path: str
    line: int
    when: Cond
    actions: tuple[Action, ...]
    stop: bool = False
    description: str = ""

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}"

    def fire(self, o: Outcome, why: str) -> None:
        for action in self.actions:
            action.apply(o, self.name)
        o.hits.append(RuleHit(self.name, self.source, why))


@dataclass(frozen=True)
class Report:
    """One rule's part in an explanation; `matched` is None when an earlier rule stopped."""

    rule: Rule
    matched: bool | None
    why: str
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Explanation:
    reports: tuple[Report, ...]
    decision: RouteDecision
    set_by: dict[str, str] = field(default_factory=dict)
    language: tuple[str | None, str] = (None, "")  # (tag, where it came from)


# Facts of a message the index can look up, by the kind of key a condition declares.
_MESSAGE_FACTS: dict[str, Callable[[View], Iterable[object]]] = {
    "channel": lambda v: (v.inbound.channel,),
    "account": lambda v: (v.inbound.account,),
    "sender": lambda v: (v.sender,),
    "domain": lambda v: [v.domain.split(".", i)[-1] for i in range(v.domain.count(".") + 1)],
    "recipient": lambda v: v.recipients,
    "language": View.language_keys,
    "tag": lambda v: [t.lower() for t in v.facts.contact_tags],
    "vip": lambda v: (v.facts.contact_vip,),
    "first": lambda v: (v.facts.first_message,),
    "attach": lambda v: (bool(v.attachments),),
}


class RuleSet:
    """A validated, indexed list of rules: the `Router` the pipeline calls."""

    def __init__(self, rules: list[Rule], hours: Hours, sources: int = 0,
                 signature: str = "", *, budget: float = DEFAULT_BUDGET,
                 clock: Clock = time.process_time, warnings: Iterable[Problem] = ()) -> None:
        self.rules = tuple(rules)
        self.hours = hours
        self.files = sources
        self.signature = signature
        self.budget, self.clock = budget, clock  # the regex time of one message
        self.warnings = tuple(warnings)  # file:line of rules that may hurt (slow regexes)
        self._over_budget: set[str] = set()  # rules logged as running out of time
        self._index()

    def _index(self) -> None:
        always: list[int] = []
        by_key: dict[Key, list[int]] = {}
        by_word: dict[str, dict[str, list[int]]] = {f: {} for f in INDEXED_FIELDS}
        by_sub: dict[str, dict[str, list[int]]] = {f: {} for f in INDEXED_FIELDS}
        by_in: dict[str, dict[str, list[int]]] = {f: {} for f in INDEXED_FIELDS}
        for i, rule in enumerate(self.rules):
            keys = rule.when.keys()
            if keys is None:
                always.append(i)
                continue
            for kind, value in keys:
                if kind.startswith(("word:", "sub:", "in:")):
                    how, _, name = kind.partition(":")
                    into = {"word": by_word, "sub": by_sub, "in": by_in}[how]
                    into[name].setdefault(str(value), []).append(i)
                else:
                    by_key.setdefault((kind, value), []).append(i)
        self._always = frozenset(always)
        by_kind: dict[str, dict[object, frozenset[int]]] = {}
        for (kind, value), found in by_key.items():
            by_kind.setdefault(kind, {})[value] = frozenset(found)
        self._by_kind = tuple((_MESSAGE_FACTS[k], by_kind[k]) for k in sorted(by_kind))
        self._by_word = {f: (words, frozenset(words)) for f, words in by_word.items() if words}
        self._by_sub = {f: Substrings(subs) for f, subs in by_sub.items() if subs}
        self._by_in = {f: tuple(needles.items()) for f, needles in by_in.items() if needles}

    def candidates(self, v: View) -> list[int]:
        """Indexes of the rules that may match, in order; the others cannot."""
        found = set(self._always)
        for facts_of, rules_by_value in self._by_kind:
            for value in facts_of(v):
                hit = rules_by_value.get(value)
                if hit:
                    found |= hit
        for name, (words, wordset) in self._by_word.items():
            text = getattr(v, name)
            for w in text.tokens & wordset:
                found.update(words[w])
        for name, subs in self._by_sub.items():
            text = getattr(v, name)
            if text.unspaced:
                found.update(subs.rules_in(text.folded))
        for name, needles in self._by_in.items():
            folded = getattr(v, name).folded
            for needle, rules in needles:
                if needle in folded:
                    found.update(rules)
        return sorted(found)

    def route(self, inbound: Inbound, facts: RouteFacts) -> RouteDecision:
        budget = Budget(self.budget, self.clock)
        v = View(inbound, facts, self.hours, budget)
        o = Outcome()
        rules = self.rules
        cut: Rule | None = None  # the rule whose regexes the message's time ran out in
        for i in self.candidates(v):
            rule = rules[i]
            matched = rule.when.test(v)
            cut = cut or (rule if budget.out is not None else None)
            if matched:
                rule.fire(o, rule.when.explain(v)[1])
                if rule.stop:
                    break
        if cut is None:
            return o.decision()
        self._log_once(cut, budget.out or "")
        return _cut_short(o.decision(), cut, budget)

    def _log_once(self, rule: Rule, why: str) -> None:
        """Per rule and rule set (a reload starts afresh), not per message: one slow
        pattern would otherwise log at every message."""
        if rule.name not in self._over_budget:
            self._over_budget.add(rule.name)
            log.warning("%s: rule %r: %s (logged once until the rules change; `inbox "
                        "rules check` warns about patterns that backtrack)", rule.source,
                        rule.name, why)

    def explain(self, inbound: Inbound, facts: RouteFacts) -> Explanation:
        """Every rule, matched or not and why, and the outcome; nothing is changed."""
        budget = Budget(self.budget, self.clock)
        v = View(inbound, facts, self.hours, budget)
        o = Outcome()
        reports: list[Report] = []
        stopped: Rule | None = None
        cut: Rule | None = None
        for rule in self.rules:
            if stopped is not None:
                reports.append(Report(rule, None, f"not reached: {stopped.name!r} stops"))
                continue
            ok, why = rule.when.explain(v)
            cut = cut or (rule if budget.out is not None else None)
            if ok:
                rule.fire(o, why)
                stopped = rule if rule.stop else None
            reports.append(Report(rule, ok, why,
                                  tuple(a.describe() for a in rule.actions) if ok else ()))
        return Explanation(tuple(reports), _cut_short(o.decision(), cut, budget),
                           dict(o.set_by), v.language)


def _cut_short(decision: RouteDecision, rule: Rule | None, budget: Budget) -> RouteDecision:
    """The decision, naming the rule whose regexes the message's time ran out in."""
    if rule is None:
        return decision
    return replace(decision, over_budget=RuleHit(rule.name, rule.source, budget.out or ""))


class Substrings:
    """Which of many keywords (of scripts without spaces) occur in a text, in one pass.

    One alternation, longest keyword first, scanned with overlapping matches: at each
    position it finds the longest keyword there, and every shorter keyword found at the
    same position is a prefix of that one, so it is added from a precomputed table.
    """

    def __init__(self, rules_by_keyword: dict[str, list[int]]) -> None:
        keywords = sorted(rules_by_keyword, key=len, reverse=True)
        self.pattern = regex.compile("|".join(regex.escape(k) for k in keywords))
        self.rules: dict[str, frozenset[int]] = {
            k: frozenset(i for p in keywords if k.startswith(p) for i in rules_by_keyword[p])
            for k in keywords}

    def rules_in(self, folded: str) -> set[int]:
        found: set[int] = set()
        for match in set(self.pattern.findall(folded, overlapped=True)):
            found |= self.rules[match]
        return found


def read_sources(directory: Path) -> list[tuple[str, Path, bytes]]:
    """(shown name, path, content) of each rule file, in the order rules apply."""
    if not directory.is_dir():
        return []
    files = sorted(p for p in directory.iterdir() if p.is_file() and not
                   p.name.startswith("."))
    return [(f"{directory.name}/{p.name}", p, p.read_bytes()) for p in files]


def load_rules(directory: Path, known: Known, budget: float = DEFAULT_BUDGET,
               clock: Clock = time.process_time) -> RuleSet:
    """Load and check every rule file; RulesError lists all problems with file:line.

    `budget` is the seconds all regexes of one message may take together."""
    return build(read_sources(directory), known, budget, clock)


def build(sources: list[tuple[str, Path, bytes]], known: Known,
          budget: float = DEFAULT_BUDGET, clock: Clock = time.process_time) -> RuleSet:
    problems: list[Problem] = []
    warnings: list[Problem] = []
    rules: list[Rule] = []
    digest = hashlib.sha256()
    count = 0
    for shown, path, data in sources:
        digest.update(shown.encode() + b"\0" + data + b"\0")
        if path.suffix == ".toml":
            problems.append(Problem(shown, 1, "rules are written in YAML (*.yaml); "
                                    "see docs/rules.md"))
            continue
        if path.suffix not in SUFFIXES:
            continue
        count += 1
        rules += _parse_file(shown, data, known, problems, warnings)
    _check_names(rules, problems)
    if problems:
        raise RulesError(problems)
    return RuleSet(rules, Hours(known.hours), count, digest.hexdigest(), budget=budget,
                   clock=clock, warnings=sorted(warnings))


def _parse_file(shown: str, data: bytes, known: Known, problems: list[Problem],
                warnings: list[Problem]) -> list[Rule]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(shown, 1, f"not UTF-8 text: {exc.reason}"))
        return []
    root, found = compose(text, shown)
    problems += found
    if root is None:
        return []
    r = Reader(shown)
    items = r.items(root, "a rule file (a list of rules, each starting with `- name:`)")
    rules = [rule for n in items or () if (rule := _parse_rule(r, n, known)) is not None]
    problems += r.problems
    warnings += r.warnings
    return rules


def _parse_rule(r: Reader, node: Node, known: Known) -> Rule | None:
    entries = r.mapping(node, "rule", RULE_KEYS)
    if entries is None:
        return None
    missing = [k for k in ("name", "when") if k not in entries]
    if "then" not in entries and not ("stop" in entries and r.value(entries["stop"][1])):
        missing.append("then")
    for key in missing:
        hint = {"when": " (write `when: always` to match everything)",
                "then": ": say what the rule does"}.get(key, "")
        r.problem(node, f"rule: {key!r} is missing{hint}")
    if missing:
        return None
    name = r.text(entries["name"][1], "name")
    description = r.text(entries["description"][1], "description") \
        if "description" in entries else ""
    stop = r.flag(entries["stop"][1], "stop") if "stop" in entries else False
    when = Parser(r, Hours(known.hours), known.channels).condition(entries["when"][1])
    actions = parse_actions(r, entries["then"][1], known) if "then" in entries else []
    if None in (name, description, stop, when, actions):
        return None
    assert name is not None and when is not None and actions is not None
    return Rule(name, r.path, line(node), when, tuple(actions), bool(stop), description or "")


def _check_names(rules: list[Rule], problems: list[Problem]) -> None:
    """Names identify rules in events and tests, so each must be unique."""
    seen: dict[str, Rule] = {}
    for rule in rules:
        first = seen.setdefault(rule.name, rule)
        if first is not rule:
            problems.append(Problem(rule.path, rule.line, f"rule name {rule.name!r} is "
                                    f"used already at {first.source}"))
