"""Jinja2's sandbox with limits on work and size, for templates admins edit.

Jinja's sandbox stops a template from reaching Python's internals, not from asking for
a billion characters (`'x' * 10**9`, `2 ** 10**9`, `'x'|center(10**9)`), looping for
hours or doubling a string forty times. Here every place a big value can be born is
checked *before* it is built where the size can be foreseen (binary operators, padding,
`replace`, `join`, format widths) and right after otherwise (`~`, filter and call
results, captured blocks); loops are counted and every hook looks at the clock. The
limits live in a per-render `Budget` (a ContextVar, so renders in several threads or
tasks do not share one). A breach raises `SecurityError`, which the renderer reports
as a `TemplateError` naming file:line.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_VALUE = 100_000  # characters (or items) of one value built while rendering
MAX_INT_BITS = 10_000  # a number of about 3000 digits; more is a runaway, not a price
MAX_ITERATIONS = 100_000  # loop turns in one render, all loops together
MAX_LIPSUM = 1000  # paragraphs or words a paragraph of lipsum()
MAX_FILL = 100  # characters of an indent, a wrap string or a truncation mark

# A format pattern that asks for a huge width or precision, or one the caller chooses.
_WIDE_FORMAT = re.compile(r"%[-#0 +]*(?:\*|\d{6,}|\d*\.(?:\*|\d{6,}))"
                          r"|\{[^{}]*:[^{}]*(?:\{|\d{6,})")
_PADDING = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "indent",
                      "wordwrap", "truncate"})


@dataclass
class Budget:
    deadline: float = float("inf")
    iterations: int = 0


budget: ContextVar[Budget | None] = ContextVar("render_budget", default=None)


def check_time() -> None:
    current = budget.get()
    if current is not None and time.monotonic() > current.deadline:
        raise SecurityError("the template took too long to render")


def size(value: object, depth: int = 0) -> int:
    """Characters or items in `value`, nested sequences counted in (3 levels)."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, list | tuple) and depth < 3:
        return len(value) + sum(size(v, depth + 1) for v in value)
    return 1


def _too_big(what: str) -> SecurityError:
    return SecurityError(f"{what} would be too large (limit {MAX_VALUE} characters)")


def checked(value: Any) -> Any:
    """`value` unless it is already too big to go on with."""
    if isinstance(value, str | list | tuple) and size(value) > MAX_VALUE:
        raise _too_big("a value")
    return value


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result can be foreseen to be huge."""
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "**" and ints and abs(left) > 1 and right > 0 and (
            right * math.log2(abs(left)) > MAX_INT_BITS):
        raise SecurityError(f"a number over {MAX_INT_BITS} bits")
    if operator == "*" and ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise SecurityError(f"a number over {MAX_INT_BITS} bits")
    if operator == "*" and not ints:
        sequence, count = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(count, int) and isinstance(sequence, str | list | tuple) and (
                size(sequence) * count > MAX_VALUE):
            raise _too_big("the repeated value")
    if operator == "+" and size(left) + size(right) > MAX_VALUE:
        raise _too_big("the sum")
    if operator == "%" and isinstance(left, str):
        check_format(left)


def check_format(pattern: str) -> None:
    if _WIDE_FORMAT.search(pattern):
        raise SecurityError("a format with a huge or computed width is not allowed")


def check_arguments(name: str, target: Any, args: Iterable[Any]) -> None:
    """Padding with a huge width, `replace` or `join` that would build a huge text."""
    args = list(args)
    if name in _PADDING and any(isinstance(a, int) and a > MAX_VALUE for a in args):
        raise _too_big(f"{name}()")
    if name in _PADDING and any(isinstance(a, str) and len(a) > MAX_FILL for a in args):
        raise SecurityError(f"{name}(): a fill or indent over {MAX_FILL} characters")
    if name == "generate_lorem_ipsum" and any(isinstance(a, int) and a > MAX_LIPSUM
                                              for a in args):  # lipsum(n, html, min, max)
        raise SecurityError(f"lipsum() over {MAX_LIPSUM} paragraphs or words")
    if name in ("indent", "expandtabs") and isinstance(target, str) and args:
        # every line (or tab) gets the fill: foresee lines x width
        width = args[0] if isinstance(args[0], int) else len(str(args[0]))
        per = target.count("\t") if name == "expandtabs" else target.count("\n") + 1
        if len(target) + per * width > MAX_VALUE:
            raise _too_big(f"{name}()")
    if name == "join":
        items = target if isinstance(target, list | tuple) else (args[0] if args else ())
        separator = target if isinstance(target, str) else ""
        if isinstance(items, list | tuple) and (
                size(items) + len(items) * len(separator) > MAX_VALUE):
            raise _too_big("join()")
    if name == "replace" and isinstance(target, str) and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        hits = target.count(old) if old else len(target) + 1
        if len(target) + hits * max(0, len(new) - len(old)) > MAX_VALUE:
            raise _too_big("replace()")
    if name == "format" and isinstance(target, str):
        check_format(target)


def loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every turn of every loop: count it against the budget, look at the clock."""
    current = budget.get() or Budget()
    for item in iterable:
        current.iterations += 1
        if current.iterations > MAX_ITERATIONS:
            raise SecurityError(f"loops ran over {MAX_ITERATIONS} times")
        check_time()
        yield item


def _guard_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)  # keeps Jinja's pass_context/pass_environment marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        check_time()
        values = [a for a in args
                  if not isinstance(a, Context | EvalContext | SandboxedEnvironment)]
        if values:
            check_arguments(name, values[0], [*values[1:], *kwargs.values()])
        return checked(fn(*args, **kwargs))

    return guarded


class _Guards(NodeTransformer):
    """Wrap every loop's iterable in `loop_guard` and every `~` in a size check."""

    def visit_For(self, node: nodes.For) -> nodes.Node:  # Jinja's visitor names
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_loop_guard", [], [], None, None,
                                 lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, "_checked", [], [], None, None, lineno=node.lineno)


class BoundedEnvironment(SandboxedEnvironment):
    """SandboxedEnvironment whose operators, calls, filters and loops are bounded."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _guard_filter(name, fn) for name, fn in self.filters.items()}
        self.filters["_loop_guard"] = loop_guard
        self.filters["_checked"] = checked

    @staticmethod
    def concat(parts: Iterable[str]) -> str:
        """Joins captured output ({% set %} blocks, macros, filter blocks): bounded."""
        items = list(parts)
        if sum(len(p) for p in items) > MAX_VALUE:
            raise _too_big("a captured block")
        return "".join(items)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        guarded = _Guards().visit(tree)
        assert isinstance(guarded, nodes.Template)
        return guarded

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_time()
        check_binop(operator, left, right)
        return checked(super().call_binop(context, operator, left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        check_time()
        check_arguments(getattr(obj, "__name__", ""), getattr(obj, "__self__", None),
                        [*args, *kwargs.values()])
        return checked(super().call(context, obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        check_time()
        return checked(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: str | Any) -> Any:
        check_time()
        return checked(super().getitem(obj, argument))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        check_format(value.__self__)
        fmt = wrapped

        def bounded(*args: Any, **kwargs: Any) -> str:
            result: str = checked(fmt(*args, **kwargs))
            return result

        return bounded
