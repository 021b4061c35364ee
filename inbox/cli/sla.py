"""`inbox sla` (what is at risk, now or at a given time) and `inbox report sla` (how
often the promise was kept). Both only read.

Times on the command line are in the team's time zone (`[business_hours] timezone`):
`--at "tomorrow 09:00"`, `--at friday`, `--at +3h`, `--since 30d`, `--since 2026-11-01`.
"""

from __future__ import annotations

import json
import os
import re
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from inbox.cli.common import friendly, opened

if TYPE_CHECKING:
    from inbox.runtime.app import App


report_cli = typer.Typer(help="Reports over a period.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/cli-json.md).")]

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SPAN = re.compile(r"^\+?(\d+)\s*([mhdw])$")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_when(text: str, now: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """A moment, for `--at` and `--until`: `now`, `+3h`, `in 2d`, `tomorrow 09:00`,
    `friday 17:00` (the next Friday), `2026-12-01 09:00`; local to `zone`."""
    words = text.strip().lower().removeprefix("in ").split()
    if words in (["now"], []):
        return now
    if len(words) == 1 and (m := _SPAN.match(words[0])):
        return now + timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    day = _day(words[0], now.astimezone(zone).date())
    if day is None:
        return _iso(text, zone)
    try:
        clock = time.fromisoformat(words[1]) if len(words) == 2 else time(0, 0)
    except ValueError:
        raise ValueError(f"{text!r}: the time of day should be like 09:00") from None
    if len(words) > 2:
        raise ValueError(f"{text!r}: give a day and a time, like tomorrow 09:00")
    return datetime.combine(day, clock, zone).astimezone(UTC)


def _day(word: str, today: date) -> date | None:
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    for i, name in enumerate(_DAYS):
        if len(word) >= 3 and name.startswith(word):
            return today + timedelta(days=(i - today.weekday() - 1) % 7 + 1)  # never today
    return None


def _iso(text: str, zone: zoneinfo.ZoneInfo) -> datetime:
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r}: give now, +3h, tomorrow 09:00, friday 17:00 or "
                         "2026-12-01 09:00") from None
    return (at if at.tzinfo else at.replace(tzinfo=zone)).astimezone(UTC)


def parse_since(text: str, now: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """The start of a period: `30d`, `12h`, `2w` ago, or a date/time as for `parse_when`."""
    m = _SPAN.match(text.strip().lower())
    if m and not text.strip().startswith("+"):
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    return parse_when(text, now, zone)


def _app(ctx: typer.Context) -> App:
    from inbox.core.config import find_config, load_settings
    from inbox.runtime.app import App

    return App(load_settings(find_config(ctx.find_root().params.get("config"), os.environ)))


@friendly
def watch(ctx: typer.Context, *,
          at: Annotated[str, typer.Option(help='When: now, +3h, "tomorrow 09:00", friday.')
                        ] = "now",
          team: str | None = None, assignee: str | None = None, limit: int = 500,
          as_json: JsonOpt = False) -> None:
    """Conversations at risk or breached (now, or --at a later time), most urgent first."""
    # The plain driver, not SQLAlchemy: this command's budget is 300 ms (inbox.store.rawdb).
    from inbox.runtime.app import utcnow
    from inbox.sla.risk import at_risk
    from inbox.store.rawdb import reading

    app = _app(ctx)
    zone = zoneinfo.ZoneInfo(app.settings.business_hours.timezone)
    now = utcnow()
    when = parse_when(at, now, zone)
    with reading(app.settings.resolved_database_url) as db:
        db.check_schema()
        rows = at_risk(db, when, now, app.sla, app.secret, team=team, assignee=assignee,
                       limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    _print_watch(rows, when, now, zone, limit)


def _print_watch(rows: list[dict[str, Any]], when: datetime, now: datetime,
                 zone: zoneinfo.ZoneInfo, limit: int) -> None:
    from inbox.sla.clock import duration

    moment = "now" if when == now else f"at {when.astimezone(zone):%a %d %b %H:%M %Z}"
    if not rows:
        typer.echo(f"nothing is at risk {moment}", err=True)
        return
    more = " (the limit: --limit N shows more)" if len(rows) >= limit else ""
    typer.echo(f"{len(rows)} at risk or breached {moment}{more}:")
    for r in rows:
        due = datetime.fromisoformat(r["due_at"]).astimezone(zone)
        left = duration(timedelta(seconds=r["seconds_left"]))
        typer.echo(f"{r['id']:>7}  {r['state']:<8}  {left:>15}  due {due:%a %d %b %H:%M}  "
                   f"{r['priority']:<6}  {(r['assignee'] or '-'):<10} {(r['team'] or '-'):<10} "
                   f"{r['subject'][:50]}")


@report_cli.command("sla")
@friendly
def report(ctx: typer.Context, *,
           since: Annotated[str, typer.Option(help="Start: 30d, 2w, 12h or a date.")] = "30d",
           until: Annotated[str, typer.Option(help="End (default: now).")] = "now",
           as_json: JsonOpt = False) -> None:
    """How often the promise was kept: met and breached, first-response p50/p90,
    overall, per team and per channel."""
    from sqlalchemy.orm import Session

    from inbox.desk.reports import sla_report
    from inbox.runtime.app import utcnow
    from inbox.store.db import check_schema

    app = opened(_app(ctx))
    check_schema(app.engine)
    zone = zoneinfo.ZoneInfo(app.settings.business_hours.timezone)
    now = utcnow()
    start, end = parse_since(since, now, zone), parse_when(until, now, zone)
    if start >= end:
        raise ValueError("--since must be before --until")
    with Session(app.engine) as s:
        data = sla_report(s, start, end)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    _print_report(data, zone)


def _print_report(data: dict[str, Any], zone: zoneinfo.ZoneInfo) -> None:
    from inbox.sla.clock import duration

    def when(value: str) -> str:
        return f"{datetime.fromisoformat(value).astimezone(zone):%Y-%m-%d %H:%M}"

    def line(name: str, t: dict[str, Any]) -> str:
        kept = "-" if t["kept_percent"] is None else f"{t['kept_percent']:.0f}%"
        p50, p90 = (("-" if v is None else duration(timedelta(seconds=v)))
                    for v in (t["first_response_p50_seconds"],
                              t["first_response_p90_seconds"]))
        return (f"{name[:24]:<24} {t['met']:>6} {t['breached']:>9} {kept:>6} "
                f"{t['first_responses']:>8} {p50:>9} {p90:>9}")

    typer.echo(f"SLA {when(data['since'])} .. {when(data['until'])} ({zone.key})")
    typer.echo(f"{'':<24} {'met':>6} {'breached':>9} {'kept':>6} {'answers':>8} "
               f"{'p50':>9} {'p90':>9}")
    typer.echo(line("all", data["overall"]))
    for key, title in (("by_team", "team"), ("by_channel", "channel")):
        for name, tally in data[key].items():
            typer.echo(line(f"{title} {name}", tally))
