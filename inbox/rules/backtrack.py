"""Regexes that can backtrack without end, found by reading the pattern, not by running it.

A backtracking engine (`re`, `regex`) tries every way a pattern can match before it says
no. Two shapes make that number grow exponentially with the text's length:

- a repeat inside a repeat that can match the same characters, `(a+)+`, `(\\w+\\s?)+`:
  "aaaa" splits into iterations in 2^n ways;
- alternatives under a repeat that can match the same text, `(a|a)+`, `(a|aa)+`.

Both are read off the tree Python's own regex parser (`re._parser`) gives. Which
characters each part can match is worked out over a sample alphabet (ASCII, some
letters of other scripts, and the pattern's own characters), so overlap is judged on
real characters rather than by comparing syntax. A part that must be followed by a
character the repeat cannot match (`([a-z]+\\.)+`) is recognised as safe, and atomic
groups and possessive repeats never backtrack. The check errs on the side of silence: a
pattern the `re` parser does not read (`\\p{L}` and other `regex`-only syntax) and
zero-width assertions inside a repeat give no warning. The per-message time budget
(`inbox.rules.budget`) is what keeps the daemon safe; this only tells admins early.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from re import _parser  # type: ignore[attr-defined]  # no stub; stable since Python 3.11
from typing import Any

from inbox.rules.text import split_alternatives, structure

Node = tuple[Any, Any]  # (opcode, argument) as re._parser gives them

# Outer repeats allowed to run this many times or more are worth a warning; `(a+){2}`
# is only quadratic.
_MANY = 6
_SAMPLE = ("\t\n\r !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
           "abcdefghijklmnopqrstuvwxyz{|}~\u00a0\u00b2\u00c9\u00df\u00e9\u00f1\u0131"
           "\u0436\u05d0\u0628\u0660\u0e01\u0e31\u4e2d\u3042\u2003\u2019\ufb01")
_CATEGORIES = {name: re.compile(p) for name, p in (
    ("CATEGORY_DIGIT", r"\d"), ("CATEGORY_NOT_DIGIT", r"\D"), ("CATEGORY_SPACE", r"\s"),
    ("CATEGORY_NOT_SPACE", r"\S"), ("CATEGORY_WORD", r"\w"), ("CATEGORY_NOT_WORD", r"\W"),
    ("CATEGORY_LINEBREAK", r"\n"), ("CATEGORY_NOT_LINEBREAK", r"[^\n]"))}
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT"})
_ONE_CHAR = frozenset({"LITERAL", "NOT_LITERAL", "ANY", "IN", "CATEGORY"})
_LOOKAROUND = frozenset({"ASSERT", "ASSERT_NOT"})
# Where a node keeps the sequence it holds (-1: the argument is the sequence).
_INSIDE = {"SUBPATTERN": 3, "MAX_REPEAT": 2, "MIN_REPEAT": 2, "POSSESSIVE_REPEAT": 2,
           "ASSERT": 1, "ASSERT_NOT": 1, "ATOMIC_GROUP": -1}
_QUANTIFIER = re.compile(r"[+*]|\{(\d*)(,?)(\d*)\}")


def backtracks(pattern: str, ignore_case: bool) -> str | None:
    """Why `pattern` can take exponential time on a text it almost matches, or None."""
    try:
        tree = _parser.parse(pattern, re.IGNORECASE if ignore_case else 0)
    except (re.error, OverflowError, RecursionError, ValueError):
        return None  # `regex`-only syntax: nothing to say
    fold = ignore_case or bool(tree.state.flags & re.IGNORECASE)
    reader = _Reader(pattern, fold)
    if tree.state.flags & re.VERBOSE:  # spaces and comments: the text is not read
        return reader.walk(tree.data)
    return reader.walk(tree.data) or reader.alternations(pattern)


class _Reader:
    def __init__(self, pattern: str, fold: bool) -> None:
        self.fold = fold
        sample = set(_SAMPLE) | set(pattern)
        self.sample = frozenset(sample | {v for c in sample for v in self._cases(c)})

    def alternations(self, pattern: str) -> str | None:
        """`(a|a)+`, `(\\w|\\d)*`: the parser merges one-character alternatives into a
        class (and drops duplicates), so repeated groups are read from the text as well,
        each alternative parsed on its own."""
        flags = re.IGNORECASE if self.fold else 0
        for content in _repeated_groups(pattern):
            try:
                branches = [_parser.parse(b, flags).data for b in split_alternatives(content)]
            except (re.error, OverflowError, RecursionError, ValueError):
                continue
            why = self._overlapping_branches(branches)
            if why:
                return why
        return None

    def walk(self, seq: Sequence[Node]) -> str | None:
        """The first dangerous repeat found anywhere in `seq`, as a reason."""
        for op, av in seq:
            name = str(op)
            if name in _REPEATS and av[1] >= _MANY:
                why = self._nested(av[2]) or self._overlapping(av[2])
                if why:
                    return why
            for inner in _children(name, av):
                why = self.walk(inner)
                if why:
                    return why
        return None

    def _nested(self, body: Sequence[Node]) -> str | None:
        for inner in _repeats_in(body):
            chars = self.chars(inner[2])
            if chars and self.fits(body, chars):
                return ("a repeated part holds another repeat that can match the same "
                        "characters, so a text that almost matches splits in "
                        "exponentially many ways")
        # `(a|aa)+` is parsed as `(a(?:|a))+`: an optional part beside a required one
        # that can match the same characters is the same danger.
        parts = _flat(body)
        for i, (op, av) in enumerate(parts):
            if not _optional(str(op), av):
                continue
            rest = [*parts[:i], *parts[i + 1:]]
            chars = self.chars([(op, av)])
            if chars and not all(_nullable(o, a) for o, a in rest) and self.fits(rest, chars):
                return ("a repeated part can match the same characters in more than one "
                        "length, so a text that almost matches splits in exponentially "
                        "many ways")
        return None

    def _overlapping(self, body: Sequence[Node]) -> str | None:
        for branches in _branches_in(body):
            why = self._overlapping_branches(branches)
            if why:
                return why
        return None

    def _overlapping_branches(self, branches: Sequence[Sequence[Node]]) -> str | None:
        for i, one in enumerate(branches):
            for other in branches[i + 1:]:
                if (self.ends(one, first=True) & self.ends(other, first=True)
                        and self.ends(one, first=False) & self.ends(other, first=False)):
                    return ("alternatives under a repeat can match the same text, so "
                            "each repetition can be matched in more than one way")
        return None

    def chars(self, seq: Sequence[Node]) -> frozenset[str]:
        """Every character some part of `seq` can match."""
        out: set[str] = set()
        for op, av in seq:
            name = str(op)
            if name in _ONE_CHAR:
                out |= self.one(name, av)
            for inner in _children(name, av):
                out |= self.chars(inner)
        return frozenset(out)

    def ends(self, seq: Sequence[Node], first: bool) -> frozenset[str]:
        """The characters a match of `seq` can start (or end) with."""
        out: set[str] = set()
        for op, av in (seq if first else reversed(seq)):
            name = str(op)
            if name in _ONE_CHAR:
                return frozenset(out | self.one(name, av))
            for inner in _children(name, av) if name not in _LOOKAROUND else ():
                out |= self.ends(inner, first)
            if not _nullable(op, av):
                break
        return frozenset(out)

    def fits(self, seq: Sequence[Node], chars: frozenset[str]) -> bool:
        """Can `seq` match some text made only of `chars`? Assertions say no (silence)."""
        for op, av in seq:
            name = str(op)
            if name in _ONE_CHAR:
                ok = bool(self.one(name, av) & chars)
            elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
                ok = self.fits(av[-1] if name == "SUBPATTERN" else av, chars)
            elif name == "BRANCH":
                ok = any(self.fits(b, chars) for b in av[1])
            elif name in _REPEATS or name == "POSSESSIVE_REPEAT":
                ok = av[0] == 0 or self.fits(av[2], chars)
            else:
                ok = name == "GROUPREF"
            if not ok:
                return False
        return True

    def one(self, name: str, av: Any) -> frozenset[str]:
        """The sample characters one single-character node matches."""
        if name == "ANY":
            return self.sample
        if name in ("LITERAL", "NOT_LITERAL"):
            same = self._cases(chr(av))
            return same if name == "LITERAL" else self.sample - same
        items = av if name == "IN" else [("CATEGORY", av)]
        return frozenset(c for c in self.sample if any(
            _member(items, v) for v in self._cases(c)))

    def _cases(self, c: str) -> frozenset[str]:
        if not self.fold:
            return frozenset(c)
        return frozenset(v for v in (c, c.lower(), c.upper(), c.swapcase()) if len(v) == 1)


def _member(items: Sequence[Node], c: str) -> bool:
    """Is `c` in the character class `items` (an IN node's argument)?"""
    negate, found = False, False
    for op, av in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            found = found or c == chr(av)
        elif name == "RANGE":
            found = found or av[0] <= ord(c) <= av[1]
        elif name == "CATEGORY":
            found = found or _CATEGORIES[str(av)].fullmatch(c) is not None
    return found != negate


def _children(name: str, av: Any) -> list[Sequence[Node]]:
    """The sub-sequences of a node (groups, branches, repeats, lookarounds)."""
    if name == "BRANCH":
        return list(av[1])
    if name == "GROUPREF_EXISTS":
        return [b for b in av[1:] if b is not None]
    where = _INSIDE.get(name)
    if where is None:
        return []
    return [av if where < 0 else av[where]]


def _nullable(op: Any, av: Any) -> bool:
    name = str(op)
    if name in _ONE_CHAR:
        return False
    if name in _LOOKAROUND:
        return True
    if name in _REPEATS or name == "POSSESSIVE_REPEAT":
        return bool(av[0] == 0) or all(_nullable(o, a) for o, a in av[2])
    if name == "BRANCH":
        return any(all(_nullable(o, a) for o, a in b) for b in av[1])
    inner = _children(name, av)
    return all(_nullable(o, a) for seq in inner[:1] for o, a in seq)


def _flat(body: Sequence[Node]) -> list[Node]:
    """`body` with plain groups opened, so `((x)y?)` reads as `x y?`."""
    out: list[Node] = []
    for op, av in body:
        if str(op) == "SUBPATTERN":
            out += _flat(av[3])
        else:
            out.append((op, av))
    return out


def _optional(name: str, av: Any) -> bool:
    """`x?` or an alternation with an empty alternative: present once or not at all."""
    if name in _REPEATS:
        return bool(av[0] == 0 and av[1] == 1)
    return name == "BRANCH" and any(not b for b in av[1])


def _repeats_in(body: Sequence[Node]) -> list[Any]:
    """Repeats of more than one iteration inside `body` that can backtrack."""
    out = []
    for op, av in body:
        name = str(op)
        if name in _REPEATS and av[1] >= 2:
            out.append(av)
        if name in _REPEATS or name in ("SUBPATTERN", "BRANCH"):
            for inner in _children(name, av):
                out += _repeats_in(inner)
    return out


def _branches_in(body: Sequence[Node]) -> list[Sequence[Sequence[Node]]]:
    out: list[Sequence[Sequence[Node]]] = []
    for op, av in body:
        name = str(op)
        if name == "BRANCH":
            out.append(av[1])
        if name in _REPEATS or name in ("SUBPATTERN", "BRANCH"):
            for inner in _children(name, av):
                out += _branches_in(inner)
    return out


def _repeated_groups(pattern: str) -> list[str]:
    """The contents of the capturing and `(?:` groups that a quantifier repeats often."""
    found: list[str] = []
    opened: list[int] = []
    for i, c in structure(pattern):
        if c == "(":
            opened.append(i)
        elif c == ")" and opened:
            start = opened.pop()
            content = _plain_group(pattern[start + 1:i])
            if content is not None and _often(pattern, i + 1):
                found.append(content)
    return found


def _plain_group(content: str) -> str | None:
    """The pattern inside `(...)`, `(?:...)` or a named group; None for the others
    (lookarounds, atomic groups, flags)."""
    if not content.startswith("?"):
        return content
    if content.startswith("?:"):
        return content[2:]
    named = re.match(r"\?P?<[A-Za-z_]\w*>", content)
    return content[named.end():] if named else None


def _often(pattern: str, at: int) -> bool:
    """Does a quantifier at `at` let the group before it repeat `_MANY` times or more?"""
    q = _QUANTIFIER.match(pattern, at)
    if q is None:
        return False
    if q.group(0) in "+*":
        return True
    most = q.group(3) if q.group(2) else q.group(1)
    return not most or int(most) >= _MANY
