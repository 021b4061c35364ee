"""`inbox canned ...`: the library of saved replies agents insert with "/" in the desk.

The same functions as the desk's admin page (inbox.desk.canned; docs/canned.md): a body
that cannot be filled is refused here, with its line, before anything is saved. The
text comes from --text, --file or standard input, so a long answer is written in an
editor and piped in.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from inbox.cli.common import CliError, JsonOpt, app_of, friendly, print_json, writing
from inbox.runtime.app import utcnow

canned_cli = typer.Typer(help="Canned answers: saved replies agents insert with '/'.",
                         no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="What agents type after '/', e.g. refund-status.")]
TeamOpt = Annotated[str | None, typer.Option(
    help="Only in this team's conversations (default: every team).")]
LanguageOpt = Annotated[str | None, typer.Option(
    help="The version for customers of this language, e.g. pl (default: the fallback).")]


def _by() -> str:
    return os.environ.get("INBOX_AGENT") or os.environ.get("USER") or "cli"


def _body(text: str | None, file: Path | None) -> str:
    if text is not None and file is not None:
        raise CliError("give the text once: --text or --file")
    if text is not None:
        return text
    if file is not None:
        return file.read_text(encoding="utf-8")
    if sys.stdin.isatty():
        raise CliError("no text: give --text, --file, or pipe it in")
    return sys.stdin.read()


@canned_cli.command("add")
@friendly
def canned_add(ctx: typer.Context,  # noqa: PLR0917 - typer maps each option to a parameter
               name: Name, team: TeamOpt = None, language: LanguageOpt = None,
               text: Annotated[str | None, typer.Option(help="The answer's text.")] = None,
               file: Annotated[Path | None, typer.Option(
                   help="A UTF-8 file holding the text.")] = None,
               replace: Annotated[bool, typer.Option(
                   help="Change the version if it exists already.")] = False) -> None:
    """Add a version of an answer (a Jinja2 template: docs/canned.md)."""
    from inbox.core.errors import NotFound
    from inbox.desk import canned

    body = _body(text, file)
    app = app_of(ctx)
    v = canned.version(name, team, language)
    with writing(ctx) as s:
        try:
            found = canned.find(s, v) if replace else None
        except NotFound:
            found = None
        if found is not None:
            canned.update(s, int(found.id or 0), v, body, by=_by(), now=utcnow(),
                          directory=app.directory)
        else:
            canned.add(s, v, body, by=_by(), now=utcnow(), directory=app.directory)
    typer.echo(f"canned answer {v.label()} {'changed' if found else 'added'}")


@canned_cli.command("list")
@friendly
def canned_list(ctx: typer.Context, team: Annotated[str | None, typer.Option(
                    help="Only what this team's conversations are offered.")] = None,
                as_json: JsonOpt = False) -> None:
    """Every version, by name: team, language and first line."""
    from sqlalchemy.orm import Session

    from inbox.desk import canned
    from inbox.store.db import check_schema

    app = app_of(ctx)
    check_schema(app.engine)
    with Session(app.engine) as s:
        rows = [canned.as_json(a) for a in canned.listing(s, team)]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        first = next((line for line in r["body"].splitlines() if line.strip()), "")
        typer.echo(f"{r['name']:<24} {r['team'] or '*':<12} {r['language'] or '*':<6} "
                   f"{first[:60]}")
    if not rows:
        typer.echo("no canned answers yet: add one with `inbox canned add NAME --text ...`",
                   err=True)


@canned_cli.command("show")
@friendly
def canned_show(ctx: typer.Context, name: Name, team: TeamOpt = None,
                language: LanguageOpt = None, as_json: JsonOpt = False) -> None:
    """One version's text as saved (its template, not filled)."""
    from sqlalchemy.orm import Session

    from inbox.desk import canned
    from inbox.store.db import check_schema

    app = app_of(ctx)
    check_schema(app.engine)
    with Session(app.engine) as s:
        found = canned.find(s, canned.version(name, team, language))
    if as_json:
        print_json(canned.as_json(found))
        return
    typer.echo(found.body.rstrip("\n"))


@canned_cli.command("remove")
@friendly
def canned_remove(ctx: typer.Context, name: Name, team: TeamOpt = None,
                  language: LanguageOpt = None) -> None:
    """Remove one version (the others of that name stay)."""
    from inbox.desk import canned

    v = canned.version(name, team, language)
    with writing(ctx) as s:
        canned.remove(s, canned.find(s, v))
    typer.echo(f"canned answer {v.label()} removed")
