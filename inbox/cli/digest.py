"""`inbox report digest`: the weekly digest (inbox.desk.digest) as a supervisor reads
it, for an admin trying a template; with --send, queued for every supervisor and admin
now, each in their own language, as the daemon sends it on [reports] digest_day."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from inbox.cli.common import CliError, JsonOpt, app_of, friendly, print_json
from inbox.cli.sla import report_cli

WeekOpt = Annotated[str | None, typer.Option(
    help="A day of the week to show (its Monday to Sunday), e.g. 2026-10-19; by default "
         "the last whole week.")]
LanguageOpt = Annotated[str | None, typer.Option(
    help="The language to show it in, e.g. pl; by default the deployment's default.")]
SendOpt = Annotated[bool, typer.Option(
    "--send", help="Also queue it now for every supervisor and admin, each in their own "
                   "language (the daemon then does not send that week again).")]


@report_cli.command("digest")
@friendly
def digest(ctx: typer.Context, week: WeekOpt = None, language: LanguageOpt = None,
           send: SendOpt = False, as_json: JsonOpt = False) -> None:
    """The weekly digest to supervisors: printed as it is mailed (or its figures as
    JSON); --send queues it."""
    from sqlalchemy.orm import Session

    from inbox.desk import digest as weekly
    from inbox.desk.tally import Fold, catch_up
    from inbox.runtime.app import utcnow
    from inbox.store.db import check_schema

    app = app_of(ctx)
    check_schema(app.engine)
    zone, now = app.settings.report_zone, utcnow()
    start = weekly.monday(_day(week)) if week else weekly.last_week(now, zone)
    catch_up(app.engine, Fold(), app.sla, zone, now)  # what the daemon has not counted
    with Session(app.engine) as s:
        data = weekly.content(s, start, zone, now=now)
    if as_json:
        print_json(data)
    else:
        shown = weekly.render(app.renderer, data, language or app.settings.default_language,
                              app.settings)
        typer.echo(f"Subject: {shown.subject or ''}\n\n{shown.body}", nl=False)
    if send:
        with Session(app.engine) as s, s.begin():
            told = weekly.send(s, start, now, app.settings, app.renderer)
        typer.echo(f"queued for {', '.join(told)}" if told else
                   "queued for nobody: no supervisor or admin with an e-mail address, or "
                   "no [channels.email] account to send from", err=True)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"--week {text!r} is not a date like 2026-10-19") from None
