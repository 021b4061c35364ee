"""`inbox export conversations|messages`: a period's rows as CSV or JSON lines, for
analysis elsewhere (docs/export.md; the rows are inbox.desk.export's).

The rows go to standard output, or to `--output FILE`, which appears only once it is
whole (written beside it first, then renamed), so a failed export never leaves a
complete-looking short file. What was written is said on standard error, as is the
progress when that is a terminal. Times are in the team's time zone, as for
`inbox report sla`: `--since 30d`, `--since 2026-11-01 --until 2026-12-01`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, Literal

import typer

from inbox.cli.common import app_of, friendly
from inbox.cli.sla import parse_since, parse_when
from inbox.runtime.app import utcnow

if TYPE_CHECKING:
    from inbox.desk.export import Kind, Period

export_cli = typer.Typer(help="A period's conversations or messages as CSV or JSON lines.",
                         no_args_is_help=True)
SinceOpt = Annotated[str, typer.Option(
    help="Start: 30d, 2w, 12h ago, or a date or time (2026-11-01, '2026-11-01 09:00') "
         "in the team's time zone.")]
UntilOpt = Annotated[str, typer.Option(help="End, not included (default: now).")]
TeamOpt = Annotated[str | None, typer.Option(help="Only this team's.")]
ChannelOpt = Annotated[str | None, typer.Option(help="Only this channel's (email, telegram...).")]
FormatOpt = Annotated[Literal["csv", "jsonl"], typer.Option(
    "--format", help="csv (a header line, then a row per line) or jsonl (a JSON object "
                     "per line).")]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write to FILE (default: standard output).")]


@export_cli.command("conversations")
@friendly
def conversations(ctx: typer.Context, *, since: SinceOpt, until: UntilOpt = "now",
                  team: TeamOpt = None, channel: ChannelOpt = None,
                  fmt: FormatOpt = "csv", output: OutputOpt = None) -> None:
    """Conversations started in the period: status, team, contact, SLA, survey score."""
    _export(ctx, "conversations", (since, until, team, channel), fmt, output)


@export_cli.command("messages")
@friendly
def messages(ctx: typer.Context, *, since: SinceOpt, until: UntilOpt = "now",
             team: TeamOpt = None, channel: ChannelOpt = None,
             fmt: FormatOpt = "csv", output: OutputOpt = None) -> None:
    """Messages written in the period, both ways, with their plain text."""
    _export(ctx, "messages", (since, until, team, channel), fmt, output)


def _export(ctx: typer.Context, kind: Kind, wanted: tuple[str, str, str | None, str | None],
            fmt: Literal["csv", "jsonl"], output: Path | None) -> None:
    from inbox.desk import export
    from inbox.store.db import check_schema

    app = app_of(ctx)
    check_schema(app.engine)
    zone = zoneinfo.ZoneInfo(app.settings.business_hours.timezone)
    now, (since, until, team, channel) = utcnow(), wanted
    period = export.Period(parse_since(since, now, zone), parse_when(until, now, zone),
                           team=team, channel=channel)
    started, count = time.monotonic(), 0
    bar = _progress(kind) if sys.stderr.isatty() else None
    with _target(output) as out:
        out.write(export.header(fmt, kind).encode())
        for found in export.pages(app.engine, kind, period, now):
            out.write(export.chunk(fmt, kind, found).encode())
            count += len(found)
            if bar is not None:
                bar.update(len(found))
    if bar is not None:
        bar.close()
    _summary(kind, count, period, zone, output=output, seconds=time.monotonic() - started)


@contextmanager
def _target(output: Path | None) -> Iterator[BinaryIO]:
    """Standard output's bytes (UTF-8 whatever the locale says), or a file that gets
    its name only once everything is in it."""
    if output is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    fd, part = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.",
                                suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(part, output)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise


def _progress(kind: str) -> Any:
    from tqdm import tqdm

    return tqdm(unit=f" {kind}", file=sys.stderr)


def _summary(kind: str, count: int, period: Period, zone: zoneinfo.ZoneInfo, *,
             output: Path | None, seconds: float) -> None:
    def local(at: datetime) -> str:
        return f"{at.astimezone(zone):%Y-%m-%d %H:%M}"

    where = f" to {output}" if output else ""
    narrowed = "".join(f", {k} {v}" for k, v in (("team", period.team),
                                                   ("channel", period.channel)) if v)
    typer.echo(f"exported {count} {kind} created {local(period.since)} .. "
               f"{local(period.until)} ({zone.key}{narrowed}){where} in {seconds:.1f} s",
               err=True)
