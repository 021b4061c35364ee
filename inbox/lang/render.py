"""The one Jinja2 environment that renders admin-edited templates.

Sandboxed, because templates are edited by admins, not developers; StrictUndefined,
because a typo must be an error an admin sees, not a blank in a customer's mail.
Templates are looked up per channel and language, the language first, e.g. for an e-mail
ack in Polish: `ack/email.pl.txt`, `ack/default.pl.txt`, `ack/email.txt`,
`ack/default.txt`. A special kind chosen by a rule (`ack-after-hours`) falls back on the
standard one in the customer's language before any English text.

A template may start with a `Subject: ...` line followed by a blank line. The *source*
is split before anything is rendered, and the subject and the body are rendered apart:
a customer's value can never make a header, and the subject is always one line. Every
customer value (all context strings but `excerpt`) is made one line before it is
inserted, so it cannot put a line above our own text in the body either.

Rendering is bounded: every failure (a syntax error, `1/0`, the sandbox's refusals,
MemoryError...) is a `TemplateError` naming file:line; operators, calls and filters
that would build a huge value, too many loop iterations, a render over its time limit
and output over `max_output` all fail fast. `builtin` is the safe text callers send
when a template fails (templates/README.md).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.nodes
from jinja2 import meta
from jinja2.exceptions import SecurityError

from inbox.core.errors import Invalid
from inbox.lang.sandbox import BoundedEnvironment, Budget, budget, check_time

MAX_OUTPUT = 64 * 1024  # characters of one rendered template
TIME_LIMIT = 1.0  # seconds for one render; a normal one takes well under a millisecond
MAX_HEADER = 500  # characters of a rendered subject; the rest is cut
# Context values that keep their line breaks: a customer's words quoted to agents, an
# agent's reason for an escalation, a note mentioning a colleague. Templates put them
# below their own text.
MULTILINE = frozenset({"excerpt", "reason", "note"})
HEADERS = ("subject",)  # the only header a template may set

# Vertical whitespace and control characters (C0, DEL, C1, the Unicode line and
# paragraph separators): any of them may end a line in some reader.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_HEADER_LINE = re.compile(r"([A-Za-z][A-Za-z0-9-]*)[ \t]*:(.*)")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


class TemplateError(Invalid):
    """A template is missing or fails to render; the message names the file and line."""


@dataclass(frozen=True)
class Rendered:
    name: str
    body: str
    subject: str | None = None


def one_line(text: str) -> str:
    """`text` as one line: breaks and control characters become single spaces."""
    return " ".join(_BREAKS.sub(" ", text).split())


class Renderer:
    def __init__(self, directory: Path, *, time_limit: float = TIME_LIMIT,
                 max_output: int = MAX_OUTPUT) -> None:
        self.directory = directory
        self.time_limit, self.max_output = time_limit, max_output
        self.env = BoundedEnvironment(
            loader=_PartLoader(str(directory)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain-text templates; HTML bodies are escaped by their senders
            keep_trailing_newline=False,
            auto_reload=True,
        )

    def candidates(self, kind: str, channel: str, language: str | None,
                   fallback: str | None = None) -> list[str]:
        """Names to try, the customer's language first: a Polish customer gets the
        standard acknowledgement in Polish rather than a special one in English."""
        kinds = [kind] if fallback in (None, kind) else [kind, str(fallback)]
        langs = [f".{language}", ""] if language else [""]
        return [f"{k}/{stem}{lang}.txt" for lang in langs for k in kinds
                for stem in (channel, "default")]

    def find(self, kind: str, channel: str, language: str | None,
             fallback: str | None = None) -> str:
        """The first template that exists; a name that could leave the folder is skipped."""
        names = self.candidates(kind, channel, language, fallback)
        for name in names:
            if all(_SAFE_NAME.fullmatch(p) for p in name.split("/")) and (
                    self.directory / name).is_file():
                return name
        raise TemplateError(f"no template found in {self.directory}: tried "
                            + ", ".join(names))

    def render(
        self, kind: str, channel: str, language: str | None, context: Mapping[str, Any],
        fallback: str | None = None,
    ) -> Rendered:
        """Render the first template that exists; `fallback` is a kind to fall back on."""
        return self.render_file(self.find(kind, channel, language, fallback), context)

    def render_file(self, name: str, context: Mapping[str, Any]) -> Rendered:
        """Render one template file (e.g. `ack/email.pl.txt`): subject and body apart."""
        values = {k: one_line(v) if isinstance(v, str) and k not in MULTILINE else v
                  for k, v in context.items()}
        token = budget.set(Budget(time.monotonic() + self.time_limit))
        try:
            # A template without a Subject line has an empty subject part: None.
            subject = one_line(self._run(f"{name}#subject", values)) or None
            body = self._run(f"{name}#body", values).strip() + "\n"
        except TemplateError:
            raise
        except Exception as exc:  # whatever a template did, the caller gets one kind
            raise TemplateError(_describe(exc, name, self.directory)) from None
        finally:
            budget.reset(token)
        return Rendered(name, body, subject[:MAX_HEADER] if subject is not None else None)

    def _run(self, part: str, values: Mapping[str, Any]) -> str:
        out: list[str] = []
        size = 0
        for chunk in self.env.get_template(part).generate(values):
            size += len(chunk)
            if size > self.max_output:
                raise SecurityError(f"the text is over {self.max_output} characters")
            check_time()
            out.append(chunk)
        return "".join(out)


# --- a template held as text (a canned answer), not a file ---------------------------

class SourceTemplate:
    """A template kept in the database rather than in a file (a canned answer): the same
    sandbox, bounds and one-line customer values as the files above, and failures as a
    `TemplateError` naming `name:line`. `known` lists the only variables it may use, so
    a misspelt one is refused when it is saved, even in a branch no test render takes."""

    def __init__(self, name: str, source: str, known: frozenset[str], *,
                 time_limit: float = TIME_LIMIT, max_output: int = MAX_OUTPUT) -> None:
        self.name, self.time_limit, self.max_output = name, time_limit, max_output
        self.filename = f"<{name}>"  # what Jinja names the template's frames
        env = _source_env()
        try:
            tree = env.parse(source, name, self.filename)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{name}:{exc.lineno}: {exc.message}") from None
        _only_known(name, tree, known | set(env.globals))
        code = env.compile(tree, name, self.filename)
        self.template = env.template_class.from_code(env, code, env.make_globals(None))

    def render(self, context: Mapping[str, Any]) -> str:
        values = {k: one_line(v) if isinstance(v, str) and k not in MULTILINE else v
                  for k, v in context.items()}
        token = budget.set(Budget(time.monotonic() + self.time_limit))
        try:
            out: list[str] = []
            size = 0
            for chunk in self.template.generate(values):
                size += len(chunk)
                if size > self.max_output:
                    raise SecurityError(f"the text is over {self.max_output} characters")
                check_time()
                out.append(chunk)
        except Exception as exc:  # whatever a template did, the caller gets one kind
            raise TemplateError(f"{self._line(exc)}: {_message(exc)}") from None
        finally:
            budget.reset(token)
        return "".join(out).strip()

    def _line(self, exc: BaseException) -> str:
        where = self.name
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self.filename:
                where = f"{self.name}:{tb.tb_lineno}"
            tb = tb.tb_next
        return where


_source_envs: list[BoundedEnvironment] = []


def _source_env() -> BoundedEnvironment:
    """One environment for every template held as text (built on first use)."""
    if not _source_envs:
        _source_envs.append(BoundedEnvironment(undefined=jinja2.StrictUndefined,
                                               autoescape=False,
                                               keep_trailing_newline=False))
    return _source_envs[0]


def _only_known(name: str, tree: jinja2.nodes.Template, known: AbstractSet[str]) -> None:
    """Refuse a variable the template reads but nobody gives it, naming its line."""
    unknown = meta.find_undeclared_variables(tree) - known
    if not unknown:
        return
    first = min((n for n in tree.find_all(jinja2.nodes.Name) if n.name in unknown),
                key=lambda n: n.lineno)
    raise TemplateError(f"{name}:{first.lineno}: unknown variable {first.name!r} "
                        f"(known: {', '.join(sorted(known - set(_source_env().globals)))})")


def _message(exc: BaseException) -> str:
    message = str(exc) if isinstance(exc, jinja2.TemplateError) else (
        f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    return message[:500]


# --- the template source: header lines and body, rendered apart ----------------------

@dataclass(frozen=True)
class _Parts:
    subject_line: int = 0  # 0: no subject
    subject: str = ""
    body_line: int = 1
    body: str = ""


def _split_source(name: str, source: str) -> _Parts:
    """Headers are the lines above the first blank line when the first one is `Subject:`."""
    lines = source.removeprefix("\ufeff").split("\n")  # a BOM from a Windows editor
    if not re.match(r"subject[ \t]*:", lines[0], re.IGNORECASE):
        return _Parts(body="\n".join(lines))
    end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    subject_line, subject = 0, ""
    for number, line in enumerate(lines[:end], start=1):
        match = _HEADER_LINE.fullmatch(line.rstrip("\r"))
        if match is None or match[1].lower() not in HEADERS:
            what = repr(match[1]) if match else "a line that is not a header"
            raise TemplateError(f"{name}:{number}: a template may only begin with a "
                                f"'Subject:' line and a blank line, not {what}")
        subject_line, subject = number, match[2]
    return _Parts(subject_line, subject, end + 2, "\n".join(lines[end + 1:]))


class _PartLoader(jinja2.FileSystemLoader):
    """`ack/email.txt#subject` and `#body` are parts of `ack/email.txt`, each padded
    with newlines so that an error in it names the file's own line."""

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str, Callable[[], bool]]:
        name, _, part = template.partition("#")
        source, filename, uptodate = super().get_source(environment, name)
        if not part:
            return source, filename, uptodate
        parts = _split_source(name, source)
        if part == "subject":  # (none: an empty part)
            return "\n" * (parts.subject_line - 1) + parts.subject, filename, uptodate
        return "\n" * (parts.body_line - 1) + parts.body, filename, uptodate


def _describe(exc: BaseException, name: str, directory: Path) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = f"{(exc.name or name).partition('#')[0]}:{exc.lineno}"
        return f"{where}: {exc.message}"
    message = str(exc) if isinstance(exc, jinja2.TemplateError) else (
        f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    return f"{_where(exc, name, directory)}: {message[:500]}"


def _where(exc: BaseException, name: str, directory: Path) -> str:
    """file:line of the innermost template frame in the traceback (Jinja maps its
    generated code back to template lines there)."""
    root = os.path.normpath(str(directory))
    where = name
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if os.path.normpath(filename).startswith(root + os.sep):
            relative = os.path.relpath(filename, root).replace(os.sep, "/")
            where = f"{relative}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


# --- the built-in texts sent when a template fails -----------------------------------

_BUILTIN = {
    "ack": (
        "{reference} We have your message",
        "Thank you for your message: it has reached us, and a person will answer by "
        "{due_at} at the latest.\n\nYour reference is {reference}.\n"),
    "notify": (
        "[{priority}] {reference} conversation #{conversation_id} needs attention",
        "The rule \"{rule}\" asked us to tell you about conversation #{conversation_id} "
        "({channel}, priority {priority}). Its notification template failed, so this "
        "is the built-in text; the log says why.\n\n"
        "Open it with: inbox show {conversation_id}\n"
        "A reply to this message is kept as an internal note; it does not reach the "
        "customer.\n"),
    "sla": (
        "[SLA {state}] #{conversation_id}",
        "Conversation #{conversation_id} is {state}: the answer is due {due_at} "
        "({time_left}). Its SLA template failed, so this is the built-in text; the "
        "log says why.\n\n"
        "Answer it with: inbox reply {conversation_id}\n"
        "A reply to this message is kept as an internal note; it does not reach the "
        "customer.\n"),
    "escalation": (
        "[Escalated] #{conversation_id} by {by}",
        "{by} escalated conversation #{conversation_id} ({channel}) to a supervisor. Its "
        "escalation template failed, so this is the built-in text; the log says why.\n\n"
        "Why: {reason}\n\n"
        "Open it with: inbox show {conversation_id}\n"
        "A reply to this message is kept as an internal note; it does not reach the "
        "customer.\n"),
    "mention": (
        "[Note] {by} mentioned you on #{conversation_id}",
        "{by} mentioned you in an internal note on conversation #{conversation_id} "
        "({channel}). Its mention template failed, so this is the built-in text; the log "
        "says why.\n\n"
        "The note: {note}\n\n"
        "Open it with: inbox show {conversation_id}\n"
        "Notes never reach the customer.\n"),
}
_OWN = frozenset({"reference", "due_at", "conversation_id", "rule", "channel", "priority",
                  "state", "time_left"})
# An escalation's agent and reason are our staff's words, not a customer's: without
# them the notice would say nothing worth reading.
_STAFF = {"escalation": frozenset({"by", "reason"}), "mention": frozenset({"by", "note"})}


def builtin(kind: str, context: Mapping[str, Any]) -> Rendered:
    """The safe English text for a template of `kind` that failed: only our own values
    (reference, due time, ids, the rule's name, an escalating agent's words), never a
    customer's."""
    family = ("ack" if kind.startswith("ack") else kind if kind in ("sla", "escalation", "mention")
              else "notify")
    subject, body = _BUILTIN[family]
    allowed = _OWN | _STAFF.get(family, frozenset())
    values = {k: one_line(str(v)) for k, v in context.items() if k in allowed}
    return Rendered(f"(built-in {family})", body.format_map(values),
                    subject.format_map(values))
