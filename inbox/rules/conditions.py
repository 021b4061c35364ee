"""The closed vocabulary of `when:` — each condition parsed from YAML, tested, explained.

Every condition answers three questions: does it hold for this message (`test`, the hot
path), why or why not in an admin's words (`explain`), and which cheap facts must be
present for it to hold at all (`keys`, used by the rule index to skip rules that cannot
match; None means "cannot tell, always evaluate").
"""

from __future__ import annotations

import operator
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, time, tzinfo

import regex
import yaml

from channels.base import Inbound
from inbox.core.config import WEEKDAYS, BusinessHoursSettings, parse_span
from inbox.core.routing import RouteFacts
from inbox.lang.choose import primary
from inbox.rules.backtrack import backtracks
from inbox.rules.budget import Budget
from inbox.rules.source import Node, Reader, suggest
from inbox.rules.text import (
    Joined,
    Keyword,
    Text,
    fold,
    guess_language,
    lazy,
    nfc,
    required_literals,
    thai_letters,
    trim_quotes,
)

Key = tuple[str, object]
INDEXED_FIELDS = ("subject", "body", "text", "sender_name")
UNKNOWN = "unknown"  # `language: unknown`
DEFAULT_SOURCE = "default"  # RouteFacts.language_source when the pipeline could not tell


class Hours:
    """Business hours in the team's time zone."""

    def __init__(self, s: BusinessHoursSettings) -> None:
        self.zone: tzinfo = zoneinfo.ZoneInfo(s.timezone)
        self.days = frozenset(WEEKDAYS.index(d) for d in s.days)
        self.span = parse_span(s.hours)
        self.holidays = frozenset(s.holidays)

    def inside(self, local: datetime) -> bool:
        if local.date() in self.holidays or local.weekday() not in self.days:
            return False
        return in_span(local.time(), self.span)


def in_span(t: time, span: tuple[time, time]) -> bool:
    start, end = span
    return start <= t < end if start <= end else (t >= start or t < end)


class View:
    """One message as conditions see it; each part is computed once, when first asked."""

    def __init__(self, inbound: Inbound, facts: RouteFacts, hours: Hours,
                 budget: Budget | None = None) -> None:
        self.inbound, self.facts, self.hours = inbound, facts, hours
        self.budget = budget or Budget()  # time for the regexes of all rules
        self._headers: dict[str, Text] = {}

    @lazy
    def subject(self) -> Text:
        return Text(self.inbound.subject or "")

    @lazy
    def body(self) -> Text:
        return Text(trim_quotes(self.inbound.text))

    @lazy
    def text(self) -> Text:
        return Joined(self.subject, self.body)

    @lazy
    def sender_name(self) -> Text:
        return Text(self.inbound.sender.name)

    def header(self, name: str) -> Text:
        if name not in self._headers:
            self._headers[name] = Text(self.inbound.headers.get(name, ""))
        return self._headers[name]

    @lazy
    def sender(self) -> str:
        return self.inbound.sender.address.lower()

    @lazy
    def domain(self) -> str:
        return self.sender.rpartition("@")[2] if "@" in self.sender else ""

    @lazy
    def recipients(self) -> frozenset[str]:
        return frozenset(a.address.lower() for a in self.inbound.recipients)

    @lazy
    def language(self) -> tuple[str | None, str]:
        """(language tag or None, where it came from): the pipeline's answer unless it
        fell back to the default, else the one the message declares, else its script's."""
        f = self.facts
        if f.language and f.language_source != DEFAULT_SOURCE:
            return f.language.lower(), f.language_source or "pipeline"
        if self.inbound.language:
            return self.inbound.language.lower(), "declared"
        guess = guess_language((self.subject.raw, self.body.raw))
        return guess, "script" if guess else ""

    def language_unknown(self) -> bool:
        """Nothing told the language: the pipeline used the default, or nothing at all."""
        return self.language[0] is None or self.facts.language_source == DEFAULT_SOURCE

    def language_keys(self) -> tuple[str, ...]:
        """What `language:` conditions are indexed by: the tag, its primary subtag and
        `unknown`."""
        tag = self.language[0]
        unknown = (UNKNOWN,) if self.language_unknown() else ()
        return (tag, primary(tag), *unknown) if tag else unknown

    @lazy
    def attachments(self) -> tuple[tuple[str, str], ...]:
        """(file name, content type) of real attachments; inline images are not ones."""
        return tuple((a.filename.lower(), a.content_type.lower())
                     for a in self.inbound.attachments if not a.inline)

    @lazy
    def local(self) -> datetime:
        at = self.inbound.received_at
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(self.hours.zone)

    @lazy
    def open_count(self) -> int:
        return self.facts.open_count()


class Cond:
    __slots__ = ()

    def test(self, v: View) -> bool:
        raise NotImplementedError

    def explain(self, v: View) -> tuple[bool, str]:
        raise NotImplementedError

    def keys(self) -> frozenset[Key] | None:
        return None


class Always(Cond):
    __slots__ = ()

    def test(self, v: View) -> bool:
        return True

    def explain(self, v: View) -> tuple[bool, str]:
        return True, "always"


class All(Cond):
    __slots__ = ("parts",)

    def __init__(self, parts: list[Cond]) -> None:
        self.parts = tuple(parts)

    def test(self, v: View) -> bool:
        for p in self.parts:  # noqa: SIM110 - a loop is measurably faster than all(genexpr)
            if not p.test(v):
                return False
        return True

    def explain(self, v: View) -> tuple[bool, str]:
        reasons = []
        for p in self.parts:
            ok, why = p.explain(v)
            if not ok:
                return False, why
            reasons.append(why)
        return True, "; ".join(reasons)

    def keys(self) -> frozenset[Key] | None:
        # Any one part's keys are necessary; the narrowest (fewest) prunes the most.
        options = [k for p in self.parts if (k := p.keys()) is not None]
        return min(options, key=_selectivity) if options else None


def _selectivity(keys: frozenset[Key]) -> tuple[int, int]:
    # Words are rare in any one message, channels and flags are common: prefer words.
    common = sum(1 for k in keys if k[0] in ("channel", "account", "first", "vip", "attach"))
    return common, len(keys)


class Any_(Cond):
    __slots__ = ("parts",)

    def __init__(self, parts: list[Cond]) -> None:
        self.parts = tuple(parts)

    def test(self, v: View) -> bool:
        for p in self.parts:  # noqa: SIM110 - as in All.test
            if p.test(v):
                return True
        return False

    def explain(self, v: View) -> tuple[bool, str]:
        reasons = []
        for p in self.parts:
            ok, why = p.explain(v)
            if ok:
                return True, why
            reasons.append(why)
        return False, "none of: " + "; ".join(reasons)

    def keys(self) -> frozenset[Key] | None:
        out: set[Key] = set()
        for p in self.parts:
            k = p.keys()
            if k is None:
                return None
            out |= k
        return frozenset(out)


class Not(Cond):
    __slots__ = ("part",)

    def __init__(self, part: Cond) -> None:
        self.part = part

    def test(self, v: View) -> bool:
        return not self.part.test(v)

    def explain(self, v: View) -> tuple[bool, str]:
        ok, why = self.part.explain(v)
        return not ok, f"not: {why}"


class OneOf(Cond):
    """A fact of the message that is one of a set of values (channel, sender, tag...)."""

    __slots__ = ("get", "key", "label", "values")

    def __init__(self, key: str, label: str, get: Callable[[View], object],
                 values: frozenset[object]) -> None:
        self.key, self.label, self.get, self.values = key, label, get, values

    def test(self, v: View) -> bool:
        return self.get(v) in self.values

    def explain(self, v: View) -> tuple[bool, str]:
        value = self.get(v)
        if value in self.values:
            return True, f"{self.label} is {_show(value)}"
        return False, f"{self.label} is {_show(value)}, not {_show_all(self.values)}"

    def keys(self) -> frozenset[Key] | None:
        return frozenset((self.key, v) for v in self.values)


class SenderDomain(Cond):
    __slots__ = ("domains",)

    def __init__(self, domains: frozenset[str]) -> None:
        self.domains = domains

    def test(self, v: View) -> bool:
        d = v.domain
        return d in self.domains or any(d.endswith("." + x) for x in self.domains)

    def explain(self, v: View) -> tuple[bool, str]:
        verdict = self.test(v)
        return verdict, (f"sender's domain is {v.domain or '(none)'}"
                         + ("" if verdict else f", not {_show_all(self.domains)}"))

    def keys(self) -> frozenset[Key] | None:
        return frozenset(("domain", d) for d in self.domains)


class AnyOf(Cond):
    """At least one of the message's values (recipients, tags) is in the set."""

    __slots__ = ("get", "key", "label", "values")

    def __init__(self, key: str, label: str, get: Callable[[View], frozenset[str]],
                 values: frozenset[str]) -> None:
        self.key, self.label, self.get, self.values = key, label, get, values

    def test(self, v: View) -> bool:
        return not self.values.isdisjoint(self.get(v))

    def explain(self, v: View) -> tuple[bool, str]:
        found = sorted(self.values & self.get(v))
        if found:
            return True, f"{self.label} include {_show_all(found)}"
        return False, f"{self.label} include none of {_show_all(self.values)}"

    def keys(self) -> frozenset[Key] | None:
        return frozenset((self.key, v) for v in self.values)


class Language(Cond):
    __slots__ = ("unknown", "values")

    def __init__(self, values: frozenset[str]) -> None:
        self.values = values
        self.unknown = UNKNOWN in values

    def test(self, v: View) -> bool:
        tag = v.language[0]
        if tag is not None and (tag in self.values or primary(tag) in self.values):
            return True
        return self.unknown and v.language_unknown()

    def explain(self, v: View) -> tuple[bool, str]:
        tag, source = v.language
        verdict = self.test(v)
        shown = f"{tag}{language_source(source)}" if tag else UNKNOWN
        if tag and v.language_unknown():
            shown += "; the pipeline could not tell, so it is unknown as well"
        return verdict, (f"language is {shown}"
                         + ("" if verdict else f", not {_show_all(self.values)}"))

    def keys(self) -> frozenset[Key] | None:
        return frozenset(("language", x) for x in self.values)


class AttachmentType(Cond):
    """File extensions (`pdf`), exact types (`application/pdf`) or families (`image/*`)."""

    __slots__ = ("patterns",)

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = patterns

    def _fits(self, name: str, ctype: str, p: str) -> bool:
        if "/" not in p:
            return name.endswith("." + p.lstrip("."))
        return ctype.startswith(p[:-1]) if p.endswith("/*") else ctype == p

    def _found(self, v: View) -> str | None:
        for name, ctype in v.attachments:
            if any(self._fits(name, ctype, p) for p in self.patterns):
                return name or ctype
        return None

    def test(self, v: View) -> bool:
        return self._found(v) is not None

    def explain(self, v: View) -> tuple[bool, str]:
        found = self._found(v)
        if found is not None:
            return True, f"attachment {found!r} is {_show_all(self.patterns)}"
        return False, f"no attachment is {_show_all(self.patterns)}"


class Flag(Cond):
    """A yes/no fact: has_attachment, vip, first_message, business_hours."""

    __slots__ = ("get", "key", "label", "want")

    def __init__(self, key: str, label: str, get: Callable[[View], bool], want: bool) -> None:
        self.key, self.label, self.get, self.want = key, label, get, want

    def test(self, v: View) -> bool:
        return self.get(v) is self.want

    def explain(self, v: View) -> tuple[bool, str]:
        actual = self.get(v)
        return actual is self.want, f"{self.label}: {'yes' if actual else 'no'}"

    def keys(self) -> frozenset[Key] | None:
        return frozenset({(self.key, self.want)}) if self.key else None


class TimeOfDay(Cond):
    __slots__ = ("shown", "span")

    def __init__(self, span: tuple[time, time], shown: str) -> None:
        self.span, self.shown = span, shown

    def test(self, v: View) -> bool:
        return in_span(v.local.time(), self.span)

    def explain(self, v: View) -> tuple[bool, str]:
        ok = self.test(v)
        return ok, f"time {v.local:%H:%M} is {'' if ok else 'not '}within {self.shown}"


class Weekday(Cond):
    __slots__ = ("days",)

    def __init__(self, days: frozenset[int]) -> None:
        self.days = days

    def test(self, v: View) -> bool:
        return v.local.weekday() in self.days

    def explain(self, v: View) -> tuple[bool, str]:
        ok = self.test(v)
        wanted = ", ".join(WEEKDAYS[d] for d in sorted(self.days))
        return ok, f"day {WEEKDAYS[v.local.weekday()]} is {'' if ok else 'not '}one of {wanted}"


class OpenConversations(Cond):
    __slots__ = ("high", "low")

    def __init__(self, low: int | None, high: int | None) -> None:
        self.low, self.high = low, high

    def test(self, v: View) -> bool:
        n = v.open_count
        return (self.low is None or n >= self.low) and (self.high is None or n <= self.high)

    def explain(self, v: View) -> tuple[bool, str]:
        bounds = " and ".join(b for b in (
            f"at least {self.low}" if self.low is not None else "",
            f"at most {self.high}" if self.high is not None else "") if b)
        return self.test(v), f"{v.open_count} other open conversation(s) ({bounds} wanted)"


class TextMatch(Cond):
    """subject / body / text / sender_name / a header: contains, words, regex."""

    __slots__ = ("bare", "contains", "exact", "field", "get", "label", "patterns", "simple",
                 "unaccented", "words")

    def __init__(self, label: str, get: Callable[[View], Text], *, contains: tuple[str, ...],
                 words: tuple[Keyword, ...], patterns: tuple[regex.Pattern[str], ...],
                 exact: bool) -> None:
        self.label, self.get, self.exact = label, get, exact
        # The rule index knows the words of these fields (not of headers).
        self.field = label if label in INDEXED_FIELDS else None
        self.contains, self.patterns = contains, patterns
        # Single words of spaced scripts: one set operation tests them all at once, and
        # one more their unaccented forms in a text typed without accents.
        self.simple = frozenset(k.tokens[0] for k in words if k.single)
        self.unaccented = {k.bare[0]: k.shown for k in words if k.single and k.bare}
        self.bare = frozenset(self.unaccented)
        self.words = tuple(k for k in words if not k.single)

    def test(self, v: View) -> bool:
        t = self.get(v)
        if (self.simple or self.words) and self.simple.isdisjoint(t.tokens) and \
                not (self.bare and not self.bare.isdisjoint(t.tokens) and t.plain):
            for k in self.words:  # a loop: faster than any() over a generator here
                if k.found_in(t):
                    break
            else:
                return False
        if self.contains:
            hay = t.nfc if self.exact else t.folded
            if not any(c in hay for c in self.contains):
                return False
        search = v.budget.search
        return not self.patterns or any(search(p, t.nfc, self.label) is not None
                                        for p in self.patterns)

    def explain(self, v: View) -> tuple[bool, str]:
        t, reasons = self.get(v), []
        if self.simple or self.words:
            found = self._found(t)
            if found is None:
                every = sorted(self.simple) + [k.shown for k in self.words]
                return False, f"{self.label} has none of the words {_show_all(every)}"
            reasons.append(f"{self.label} has the word {found}")
        if self.contains:
            hay = t.nfc if self.exact else t.folded
            hit = next((c for c in self.contains if c in hay), None)
            if hit is None:
                return False, f"{self.label} contains none of {_show_all(self.contains)}"
            reasons.append(f"{self.label} contains {_show(hit)}")
        if self.patterns:
            search = v.budget.search
            m = next((m for p in self.patterns
                      if (m := search(p, t.nfc, self.label)) is not None), None)
            if m is None:
                shown = ", ".join(f"/{p.pattern}/" for p in self.patterns)
                if v.budget.out is not None:
                    return False, (f"{self.label} not matched against {shown}: the time "
                                   f"for this message's rules ran out")
                return False, f"{self.label} does not match {shown}"
            reasons.append(f"{self.label} matches /{m.re.pattern}/ at {_show(m.group(0))}")
        return True, "; ".join(reasons)

    def _found(self, t: Text) -> str | None:
        """The first keyword found, as `explain` shows it (only the first: this runs for
        every rule that fires)."""
        hits = self.simple & t.tokens
        if hits:
            return repr(min(hits))
        bare = self.bare & t.tokens if self.bare else None
        if bare and t.plain:
            return f"{self.unaccented[min(bare)]!r} (typed without accents)"
        for k in self.words:
            if k.found_in(t):
                return repr(k.shown) + (" (typed without accents)"
                                        if k.only_unaccented(t) else "")
        return None

    def keys(self) -> frozenset[Key] | None:
        if self.field is None:
            return None
        if not (self.simple or self.words):
            # Only `contains` (any of): one of the folded needles must be in the text.
            if self.contains and not self.exact:
                return frozenset((f"in:{self.field}", c) for c in self.contains)
            return self._regex_keys()
        keys = {(f"word:{self.field}", w) for w in self.simple | self.bare}
        keys.update((f"{kind}:{self.field}", w) for k in self.words
                    for kind, w in k.index_keys)
        return frozenset(keys)

    def _regex_keys(self) -> frozenset[Key] | None:
        """A literal each pattern's match must contain, when the patterns say so."""
        keys: set[Key] = set()
        for p in self.patterns:
            literals = required_literals(p.pattern)
            if not literals:
                return None
            keys.update((f"in:{self.field}", lit) for lit in literals)
        return frozenset(keys) if keys else None


def language_source(source: str) -> str:
    """Where a language came from, as `explain` shows it after the tag."""
    known = {"script": "guessed from its script", "declared": "declared by the message",
             "given": "given with --language", "pipeline": "from the pipeline", "": ""}
    how = known.get(source, f"from the pipeline: {source}")
    return f" ({how})" if how else ""


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value).lower()


def _show_all(values: object) -> str:
    items = sorted(map(str, values)) if isinstance(values, frozenset | set) else \
        list(map(str, values))  # type: ignore[call-overload]
    return ", ".join(repr(i) for i in items[:8]) + (" ..." if len(items) > 8 else "")


# ----------------------------------------------------------------------------- parsing

Parse = Callable[[Reader, Node, "Parser"], Cond | None]


class Parser:
    """Turns a `when:` node tree into conditions, reporting problems with file:line."""

    def __init__(self, reader: Reader, hours: Hours, channels: frozenset[str]) -> None:
        self.r, self.hours, self.channels = reader, hours, channels

    def condition(self, node: Node) -> Cond | None:
        if getattr(node, "value", None) == "always" and node.tag.endswith(":str"):
            return Always()
        entries = self.r.mapping(node, "condition", VOCABULARY)
        if entries is None:
            return None
        if not entries:
            if not node.value:  # else the unknown keys were reported already
                self.r.problem(node, "empty condition: write `when: always` to match "
                                     "everything")
            return None
        parts = []
        for name, (_, value) in entries.items():
            part = LEAVES[name](self.r, value, self)
            if part is not None:
                parts.append(part)
        if len(parts) != len(entries):
            return None
        return parts[0] if len(parts) == 1 else All(parts)

    def conditions(self, node: Node, what: str) -> list[Cond] | None:
        items = self.r.items(node, what)
        if items is None:
            return None
        if not items:
            self.r.problem(node, f"{what} is an empty list")
            return None
        parts = [self.condition(n) for n in items]
        return [p for p in parts if p is not None] if all(parts) else None


def _all(r: Reader, node: Node, p: Parser) -> Cond | None:
    parts = p.conditions(node, "all")
    return All(parts) if parts else None


def _any(r: Reader, node: Node, p: Parser) -> Cond | None:
    parts = p.conditions(node, "any")
    return Any_(parts) if parts else None


def _not(r: Reader, node: Node, p: Parser) -> Cond | None:
    inner = p.condition(node)
    return Not(inner) if inner else None


def _one_of(key: str, label: str, get: Callable[[View], object],
            lower: bool = True) -> Parse:
    def parse(r: Reader, node: Node, p: Parser) -> Cond | None:
        values = r.texts(node, key)
        if values is None:
            return None
        if key == "channel":
            for value, n in values:
                if value not in p.channels:
                    r.problem(n, f"channel: unknown {value!r}{suggest(value, p.channels)}")
                    return None
        return OneOf(key, label, get, frozenset(v.lower() if lower else v for v, _ in values))
    return parse


def _any_of(key: str, label: str, get: Callable[[View], frozenset[str]]) -> Parse:
    def parse(r: Reader, node: Node, p: Parser) -> Cond | None:
        values = r.texts(node, key)
        return AnyOf(key, label, get, frozenset(v.lower() for v, _ in values)) \
            if values else None
    return parse


def _flag(name: str, key: str, label: str, get: Callable[[View], bool]) -> Parse:
    def parse(r: Reader, node: Node, p: Parser) -> Cond | None:
        want = r.flag(node, name)
        return None if want is None else Flag(key, label, get, want)
    return parse


def _sender_domain(r: Reader, node: Node, p: Parser) -> Cond | None:
    values = r.texts(node, "sender_domain")
    if values is None:
        return None
    return SenderDomain(frozenset(v.lower().lstrip("@").lstrip("*.") for v, _ in values))


def _language(r: Reader, node: Node, p: Parser) -> Cond | None:
    values = r.texts(node, "language")
    return Language(frozenset(v.lower().replace("_", "-") for v, _ in values)) \
        if values else None


def _attachment_type(r: Reader, node: Node, p: Parser) -> Cond | None:
    values = r.texts(node, "attachment_type")
    return AttachmentType(tuple(v.lower() for v, _ in values)) if values else None


def _time(r: Reader, node: Node, p: Parser) -> Cond | None:
    value = r.text(node, "time")
    if value is None:
        return None
    try:
        return TimeOfDay(parse_span(value), value)
    except ValueError as exc:
        r.problem(node, f"time: {exc}")
        return None


def _weekday(r: Reader, node: Node, p: Parser) -> Cond | None:
    values = r.texts(node, "weekday")
    if values is None:
        return None
    days = set()
    for value, n in values:
        day = value.strip().lower()[:3]
        if day not in WEEKDAYS:
            r.problem(n, f"weekday: unknown day {value!r}{suggest(day, WEEKDAYS)}")
            return None
        days.add(WEEKDAYS.index(day))
    return Weekday(frozenset(days))


def _open_conversations(r: Reader, node: Node, p: Parser) -> Cond | None:
    entries = r.mapping(node, "open_conversations", ("at_least", "at_most"))
    if not entries:
        if entries == {}:
            r.problem(node, "open_conversations: give at_least and/or at_most")
        return None
    low = r.integer(entries["at_least"][1], "at_least") if "at_least" in entries else None
    high = r.integer(entries["at_most"][1], "at_most") if "at_most" in entries else None
    if (low is None and "at_least" in entries) or (high is None and "at_most" in entries):
        return None
    return OpenConversations(low, high)


TEXT_OPS = ("contains", "words", "regex", "case_sensitive")


def _text(label: str, get: Callable[[View], Text]) -> Parse:
    def parse(r: Reader, node: Node, p: Parser) -> Cond | None:
        return text_match(r, node, label, get)
    return parse


def text_match(r: Reader, node: Node, label: str, get: Callable[[View], Text]) -> Cond | None:
    """A list or a single word is short for `words:`; a mapping gives the operators."""
    if isinstance(node, yaml.ScalarNode | yaml.SequenceNode):
        entries: dict[str, tuple[Node, Node]] = {"words": (node, node)}
    else:
        found = r.mapping(node, label, TEXT_OPS)
        if found is None:
            return None
        entries = found
    exact = bool("case_sensitive" in entries
                 and r.flag(entries["case_sensitive"][1], "case_sensitive"))
    ops = {k: r.texts(v, k) for k, (_, v) in entries.items() if k != "case_sensitive"}
    if not ops:
        r.problem(node, f"{label}: say what to look for: contains, words or regex")
        return None
    if any(v is None for v in ops.values()):
        return None
    words = tuple(Keyword(w, exact) for w, _ in ops.get("words") or ())
    for k, (w, n) in zip(words, ops.get("words") or (), strict=True):
        wrong = _keyword_problem(k, w)
        if wrong:
            r.problem(n, f"{label}: {wrong}")
            return None
        letters = thai_letters(k.folded)
        if letters is not None and letters < 3:
            r.warn(n, f"{label}: the Thai keyword {w!r} has only {letters} letter"
                      f"{'s' if letters > 1 else ''}: Thai is written without spaces, so it "
                      f"matches inside longer words too (ตา, eye, is in ตาราง, schedule, and "
                      f"ตากล้อง, camera); use a longer keyword, the whole word or phrase "
                      f"customers write")
    contains = tuple((nfc(c) if exact else fold(c)) for c, _ in ops.get("contains") or ())
    patterns = _patterns(r, ops.get("regex") or [], exact, label)
    if patterns is None:
        return None
    return TextMatch(label, get, contains=contains, words=words, patterns=patterns,
                     exact=exact)


def _keyword_problem(k: Keyword, written: str) -> str | None:
    body = written.strip()
    if body == "*":
        return ("'*' alone would match every word: write the start of the word before "
                "it, at least three letters (`faktur*`)")
    if "*" in body.removesuffix("*"):
        return f"{written!r}: `*` may only end a keyword (`faktur*`)"
    if k.empty:
        return f"{written!r} has no letters or digits to match"
    if k.prefix and not k.unspaced and len(k.tokens[-1]) < 3:
        return (f"{written!r}: a prefix needs at least three letters before `*` (shorter "
                f"ones match too many words)")
    return None


def _patterns(r: Reader, items: list[tuple[str, Node]], exact: bool,
              label: str) -> tuple[regex.Pattern[str], ...] | None:
    flags = regex.V0 | (0 if exact else regex.IGNORECASE | regex.FULLCASE)
    out = []
    for source, n in items:
        try:
            out.append(regex.compile(source, flags))
        except regex.error as exc:
            r.problem(n, f"{label}: bad regex {source!r}: {exc}")
            return None
        why = backtracks(source, ignore_case=not exact)
        if why:
            r.warn(n, f"{label}: the regex '{source}' can backtrack without end: {why}; "
                      f"make each repeated part unambiguous (`\\w+(\\s+\\w+)*`, not "
                      f"`(\\w+\\s?)+`) or use `words:`")
    return tuple(out)


def _header(r: Reader, node: Node, p: Parser) -> Cond | None:
    entries = r.mapping(node, "header")
    if not entries:
        if entries == {}:
            r.problem(node, "header: name the header, e.g. `header: {x-spam-flag: 'yes'}`")
        return None
    parts = []
    for name, (_, value) in entries.items():
        hname = name.lower()
        part = text_match(r, value, f"header {hname}", _header_of(hname))
        if part is None:
            return None
        parts.append(part)
    return parts[0] if len(parts) == 1 else All(parts)


def _header_of(name: str) -> Callable[[View], Text]:
    return lambda v: v.header(name)


def _business_hours(r: Reader, node: Node, p: Parser) -> Cond | None:
    want = r.flag(node, "business_hours")
    if want is None:
        return None
    return Flag("", "inside business hours", lambda v: v.hours.inside(v.local), want)


LEAVES: dict[str, Parse] = {
    "all": _all, "any": _any, "not": _not,
    "channel": _one_of("channel", "channel", operator.attrgetter("inbound.channel"), False),
    "account": _one_of("account", "account", operator.attrgetter("inbound.account"), False),
    "sender": _one_of("sender", "sender", operator.attrgetter("sender")),
    "sender_domain": _sender_domain,
    "sender_name": _text("sender_name", operator.attrgetter("sender_name")),
    "recipient": _any_of("recipient", "recipients", operator.attrgetter("recipients")),
    "subject": _text("subject", operator.attrgetter("subject")),
    "body": _text("body", operator.attrgetter("body")),
    "text": _text("text", operator.attrgetter("text")),
    "header": _header,
    "language": _language,
    "has_attachment": _flag("has_attachment", "attach", "has an attachment",
                            lambda v: bool(v.attachments)),
    "attachment_type": _attachment_type,
    "contact_tag": _any_of("tag", "contact's tags",
                           lambda v: frozenset(t.lower() for t in v.facts.contact_tags)),
    "vip": _flag("vip", "vip", "contact is VIP", lambda v: v.facts.contact_vip),
    "first_message": _flag("first_message", "first", "first message of a conversation",
                           lambda v: v.facts.first_message),
    "business_hours": _business_hours,
    "time": _time,
    "weekday": _weekday,
    "open_conversations": _open_conversations,
}
VOCABULARY = tuple(LEAVES)
