"""The one Jinja2 environment that renders admin-edited templates.

Sandboxed, because templates are edited by admins, not developers; StrictUndefined,
because a typo must be an error an admin sees, not a blank in a customer's mail.
Templates are looked up per channel and language, the language first, e.g. for an e-mail
ack in Polish: `ack/email.pl.txt`, `ack/default.pl.txt`, `ack/email.txt`,
`ack/default.txt`. A special kind chosen by a rule (`ack-after-hours`) falls back on the
standard one in the customer's language before any English text.

A template may start with header lines (`Subject: ...`) followed by a blank line; those
become fields of the result, the rest is the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment


class TemplateError(Exception):
    """A template is missing or fails to render; the message names the file and line."""


@dataclass(frozen=True)
class Rendered:
    name: str
    body: str
    subject: str | None = None


class Renderer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(directory)),
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

    def render(
        self, kind: str, channel: str, language: str | None, context: dict[str, Any],
        fallback: str | None = None,
    ) -> Rendered:
        """Render the first template that exists; `fallback` is a kind to fall back on."""
        names = self.candidates(kind, channel, language, fallback)
        try:
            template = self.env.select_template(names)
            text = template.render(context)
        except jinja2.TemplatesNotFound:
            raise TemplateError(f"no template found in {self.directory}: tried "
                                + ", ".join(names)) from None
        except jinja2.TemplateError as exc:
            raise TemplateError(_describe(exc, names[0])) from None
        return split_headers(str(template.name), text)


def _describe(exc: jinja2.TemplateError, fallback: str) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.name or fallback}:{exc.lineno}: {exc.message}"
    return f"{fallback}: {exc}"


def split_headers(name: str, text: str) -> Rendered:
    """Peel `Subject:` off the top of a rendered template; other text is the body."""
    head, sep, body = text.partition("\n\n")
    if sep and head.lower().startswith("subject:") and "\n" not in head.strip():
        return Rendered(name, body.strip() + "\n", head.split(":", 1)[1].strip())
    return Rendered(name, text.strip() + "\n")
