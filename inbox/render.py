"""The one Jinja2 environment that renders admin-edited templates.

Sandboxed, because templates are edited by admins, not developers; StrictUndefined,
because a typo must be an error an admin sees, not a blank in a customer's mail.
Templates are looked up per channel and language, falling back to the channel's default
and then to the generic one, e.g. for an e-mail ack in Polish:
`ack/email.pl.txt`, `ack/email.txt`, `ack/default.pl.txt`, `ack/default.txt`.

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

    def candidates(self, kind: str, channel: str, language: str | None) -> list[str]:
        names = []
        for stem in (channel, "default"):
            if language:
                names.append(f"{kind}/{stem}.{language}.txt")
            names.append(f"{kind}/{stem}.txt")
        return names

    def render(
        self, kind: str, channel: str, language: str | None, context: dict[str, Any]
    ) -> Rendered:
        names = self.candidates(kind, channel, language)
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
