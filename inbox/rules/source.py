"""Reading rule files: YAML nodes with their line numbers, and problems an admin can act on.

Files are read with the YAML composer rather than `safe_load`, so every value keeps the
line it came from: each problem names file:line, and the compiled rules remember where
they were written. Problems are collected, not raised one by one, so `inbox rules check`
lists every mistake in one run.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import yaml

from inbox.core.config import ConfigError

try:  # libyaml is much faster; the pure-Python composer gives the same nodes
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_CONSTRUCT = yaml.SafeLoader("")
Node = yaml.Node


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class RulesError(ConfigError):
    """Rules that cannot be used; `problems` lists each one with file:line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(problems)
        more = len(self.problems) - 1
        tail = f" (and {more} more: run `inbox rules check`)" if more else ""
        super().__init__(f"{self.problems[0]}{tail}" if self.problems else "bad rules")


def suggest(word: str, options: Collection[str]) -> str:
    """" (did you mean 'x'?)", or the list of choices when there are few and none is near."""
    near = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    if near:
        return f" (did you mean {near[0]!r}?)"
    if 0 < len(options) <= 12:
        return f" (expected one of: {', '.join(sorted(options))})"
    return ""


def compose(text: str, path: str) -> tuple[Node | None, list[Problem]]:
    """The file's node tree, or the YAML syntax error as a problem."""
    try:
        return yaml.compose(text, Loader=_Loader), []
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        return None, [Problem(path, line, f"not valid YAML: {exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return None, [Problem(path, 1, f"not valid YAML: {exc}")]


def line(node: Node) -> int:
    return int(node.start_mark.line) + 1


class Reader:
    """Typed access to one file's nodes; a wrong type becomes a problem and None."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []  # usable, but likely to hurt (a slow regex)

    def problem(self, node: Node, message: str) -> None:
        self.problems.append(Problem(self.path, line(node), message))

    def warn(self, node: Node, message: str) -> None:
        self.warnings.append(Problem(self.path, line(node), message))

    def mapping(self, node: Node, what: str, allowed: Collection[str] | None = None
                ) -> dict[str, tuple[Node, Node]] | None:
        """Key -> (key node, value node); duplicate and (if `allowed`) unknown keys reported."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping of keys to values")
            return None
        out: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                self.problem(key, f"{what}: a key must be a plain word")
                continue
            name = str(key.value)
            if name in out:
                self.problem(key, f"{what}: {name!r} is given twice")
            elif allowed is not None and name not in allowed:
                self.problem(key, f"{what}: unknown key {name!r}{suggest(name, allowed)}")
            else:
                out[name] = (key, value)
        return out

    def items(self, node: Node, what: str) -> list[Node] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"{what} must be a list")
            return None
        return list(node.value)

    def text(self, node: Node, what: str) -> str | None:
        """A scalar as written: `no` stays the string "no" (Norwegian), not False."""
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
            self.problem(node, f"{what} must be a single value")
            return None
        value = str(node.value)
        if not value.strip():
            self.problem(node, f"{what} is empty")
            return None
        return value

    def texts(self, node: Node, what: str) -> list[tuple[str, Node]] | None:
        """One value or a list of values."""
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if not nodes:
            self.problem(node, f"{what} is an empty list")
            return None
        out = [(v, n) for n in nodes if (v := self.text(n, what)) is not None]
        return out if len(out) == len(nodes) else None

    def flag(self, node: Node, what: str) -> bool | None:
        value = self.value(node)
        if not isinstance(value, bool):
            self.problem(node, f"{what} must be true or false")
            return None
        return value

    def integer(self, node: Node, what: str) -> int | None:
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.problem(node, f"{what} must be a whole number, 0 or more")
            return None
        return value

    def choice(self, node: Node, what: str, known: Collection[str]) -> str | None:
        value = self.text(node, what)
        if value is not None and value not in known:
            hint = suggest(value, known) or " (none are configured yet)"
            self.problem(node, f"{what}: unknown {value!r}{hint}")
            return None
        return value

    def value(self, node: Node) -> object:
        """A scalar resolved the YAML way (true, 12, null); None for lists and mappings."""
        if not isinstance(node, yaml.ScalarNode):
            return None
        return _CONSTRUCT.construct_object(node)
