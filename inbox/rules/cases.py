"""`inbox rules test`: example messages in rules/tests/*.yaml and the outcome each must get.

Admins keep their rules under test like code: each case describes a message (or names
an .eml file) and the parts of the outcome it cares about; a case fails when the rules
decide otherwise, and the failure says which rule set the value it got.
"""

from __future__ import annotations

import email.utils
import mimetypes
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from channels.base import Address, Inbound, InboundAttachment, RawParser
from inbox.core.routing import RouteDecision, RouteFacts
from inbox.rules.engine import RuleSet
from inbox.rules.source import Node, Problem, Reader, RulesError, compose, line

# A Wednesday morning: cases that do not say when the message came are inside business
# hours by default, and every run of the suite sees the same time.
DEFAULT_AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
CASE_KEYS = ("name", "message", "contact", "follow_up", "expect")
MESSAGE_KEYS = ("channel", "account", "from", "name", "to", "subject", "body", "language",
                "headers", "attachments", "at", "eml")
CONTACT_KEYS = ("tags", "vip", "open_conversations")
EXPECT_KEYS = ("team", "assign", "priority", "sla", "ack", "spam", "tags", "no_tags",
               "notify", "rules")


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    inbound: Inbound
    facts: RouteFacts
    expect: dict[str, Any]


@dataclass(frozen=True)
class CaseResult:
    case: Case
    failures: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.failures


def load_cases(directory: Path, parse_eml: RawParser) -> list[Case]:
    """Every case of every *.yaml in `directory`; RulesError lists problems with file:line.
    A case's `eml` file is read by `parse_eml` (the e-mail channel's, given by the caller)."""
    problems: list[Problem] = []
    cases: list[Case] = []
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    for path in files:
        shown = f"{directory.parent.name}/{directory.name}/{path.name}"
        root, found = compose(path.read_text(encoding="utf-8"), shown)
        problems += found
        if root is None:
            continue
        r = Reader(shown)
        for node in r.items(root, "a test file (a list of cases)") or ():
            case = _case(r, node, path.parent, parse_eml)
            if case is not None:
                cases.append(case)
        problems += r.problems
    if problems:
        raise RulesError(problems)
    return cases


def _case(r: Reader, node: Node, base: Path, parse_eml: RawParser) -> Case | None:
    entries = r.mapping(node, "test case", CASE_KEYS)
    if entries is None:
        return None
    for required in ("name", "message", "expect"):
        if required not in entries:
            r.problem(node, f"test case: {required!r} is missing")
            return None
    name = r.text(entries["name"][1], "name")
    inbound = _message(r, entries["message"][1], base, parse_eml)
    facts = _facts(r, entries.get("contact"), entries.get("follow_up"))
    expect = _expect(r, entries["expect"][1])
    if name is None or inbound is None or facts is None or expect is None:
        return None
    return Case(name, f"{r.path}:{line(node)}", inbound, facts, expect)


def _message(r: Reader, node: Node, base: Path, parse_eml: RawParser) -> Inbound | None:
    m = r.mapping(node, "message", MESSAGE_KEYS)
    if m is None:
        return None
    v = {k: r.value(n) if isinstance(n, yaml.ScalarNode) else None for k, (_, n) in m.items()}
    at = v.get("at") or DEFAULT_AT
    if not isinstance(at, datetime):
        r.problem(m["at"][1], "at: give a time like 2026-11-25T22:30:00+01:00")
        return None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    account = str(v.get("account") or "support")
    if "eml" in m:
        path = base / str(v["eml"])
        if not path.is_file():
            r.problem(m["eml"][1], f"eml: no file {path}")
            return None
        parsed = parse_eml(path.read_bytes(), account, at)
        return replace(parsed, channel=str(v.get("channel") or "email"))
    name, address = email.utils.parseaddr(str(v.get("from") or "customer@example.com"))
    address = address or str(v.get("from"))
    return Inbound(
        channel=str(v.get("channel") or "email"), account=account,
        external_id=f"test-{line(node)}", received_at=at,
        sender=Address(address.lower(), str(v.get("name") or name)),
        recipients=tuple(Address(a.lower()) for a, _ in _texts(r, m.get("to"))),
        subject=str(v.get("subject") or ""), text=str(v.get("body") or ""),
        language=str(v["language"]) if v.get("language") else None,
        headers={k.lower(): str(val) for k, val in _mapping(r, m.get("headers")).items()},
        attachments=_attachments(r, m.get("attachments")))


def _texts(r: Reader, entry: tuple[Node, Node] | None) -> list[tuple[str, Node]]:
    return (r.texts(entry[1], entry[0].value) or []) if entry else []


def _mapping(r: Reader, entry: tuple[Node, Node] | None) -> dict[str, object]:
    found = r.mapping(entry[1], entry[0].value) if entry else None
    return {k: n.value for k, (_, n) in (found or {}).items()}


def _attachments(r: Reader, entry: tuple[Node, Node] | None) -> tuple[InboundAttachment, ...]:
    """File names (`invoice.pdf`, type guessed) or {name: ..., type: ...}."""
    out = []
    for n in (r.items(entry[1], "attachments") or []) if entry else []:
        if isinstance(n, yaml.MappingNode):
            d = _mapping(r, (n, n))
            fname, ctype = str(d.get("name", "file")), str(d.get("type", ""))
        else:
            fname, ctype = str(n.value), ""
        ctype = ctype or mimetypes.guess_type(fname)[0] or "application/octet-stream"
        out.append(InboundAttachment(fname, ctype, b"", size=0))
    return tuple(out)


def _facts(r: Reader, contact: tuple[Node, Node] | None,
           follow_up: tuple[Node, Node] | None) -> RouteFacts | None:
    c = r.mapping(contact[1], "contact", CONTACT_KEYS) if contact else {}
    if c is None:
        return None
    later = r.flag(follow_up[1], "follow_up") if follow_up else False
    vip = r.flag(c["vip"][1], "vip") if "vip" in c else False
    count = r.integer(c["open_conversations"][1], "open_conversations") \
        if "open_conversations" in c else 0
    if later is None or vip is None or count is None:
        return None
    tags = tuple(t for t, _ in _texts(r, c.get("tags")))
    return RouteFacts(first_message=not later, contact_tags=tags, contact_vip=vip,
                      open_conversations=count)


def _expect(r: Reader, node: Node) -> dict[str, Any] | None:
    e = r.mapping(node, "expect", EXPECT_KEYS)
    if e is None:
        return None
    out: dict[str, Any] = {}
    for key, (_, n) in e.items():
        if key in ("tags", "no_tags", "notify", "rules"):
            items = n.value if isinstance(n, yaml.SequenceNode) else [n]
            out[key] = [str(i.value) for i in items]
        elif key == "spam":
            out[key] = r.flag(n, "spam")
        else:
            value = r.value(n)
            out[key] = None if value is None else str(n.value)
    return out


def run_case(rules: RuleSet, case: Case) -> CaseResult:
    explained = rules.explain(case.inbound, case.facts)
    got, set_by = explained.decision.summary(), explained.set_by
    failures = []
    for key, want in case.expect.items():
        problem = _compare(key, want, got, explained.decision)
        if problem:
            who = set_by.get(key)
            failures.append(problem + (f" (set by rule {who!r})" if who else ""))
    return CaseResult(case, tuple(failures))


def _compare(key: str, want: Any, got: dict[str, Any], d: RouteDecision) -> str | None:
    if key == "tags":
        missing = [t for t in want if t not in d.add_tags]
        return f"tags: expected {', '.join(missing)} to be added, got " \
               f"{', '.join(d.add_tags) or 'none'}" if missing else None
    if key == "no_tags":
        extra = [t for t in want if t in d.add_tags]
        return f"tags: {', '.join(extra)} should not be added" if extra else None
    actual = {"sla": got["sla_policy"]}.get(key, got.get(key))
    if actual != want:
        return f"{key}: expected {_shown(want)}, got {_shown(actual)}"
    return None


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return "nothing" if value is None else repr(value)
