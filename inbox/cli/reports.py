"""`inbox report NAME`: the reports of docs/reports.md over local days, as a table, JSON
(docs/cli-json.md) or CSV. Each first counts what the daemon has not counted yet
(inbox.desk.tally), so a deployment fed only by `inbox ingest` reports right too."""

from __future__ import annotations

import csv
import sys
import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from inbox.cli.common import JsonOpt, app_of, friendly, print_json
from inbox.cli.screen import Column, table, terminal_width
from inbox.cli.sla import parse_since, parse_when, report_cli

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from inbox.desk.reports import Scope

JSON = dict[str, Any]
Rows = list[dict[str, Any]]

SinceOpt = Annotated[str, typer.Option(help="First day: 30d, 2w or a date (local).")]
UntilOpt = Annotated[str, typer.Option(help="End: now, or a date (the day before is the "
                                            "last one counted).")]
TeamOpt = Annotated[str | None, typer.Option(help="Only this team's conversations.")]
ChannelOpt = Annotated[str | None, typer.Option(help="Only this channel's conversations.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV: one row per figure.")]


def period(since: str, until: str, now: datetime, zone: zoneinfo.ZoneInfo) -> tuple[date, date]:
    """Local days [first, end): `until` at a local midnight ends the day before it, any
    later moment counts its own day too."""
    first = parse_since(since, now, zone).astimezone(zone).date()
    end_at = parse_when(until, now, zone).astimezone(zone)
    end = end_at.date() if end_at.time() == time() else end_at.date() + timedelta(days=1)
    if first >= end:
        raise ValueError("--since must be before --until")
    return first, end


def _run(ctx: typer.Context, name: str, *, since: str, until: str, team: str | None,
         channel: str | None, as_json: bool, as_csv: bool) -> None:
    from sqlalchemy.orm import Session

    from inbox.desk.reports import Scope
    from inbox.desk.tally import Fold, catch_up
    from inbox.runtime.app import utcnow
    from inbox.store.db import check_schema, reader

    app = app_of(ctx)
    check_schema(app.engine)
    zone, now = app.settings.report_zone, utcnow()
    first, end = period(since, until, now, zone)
    catch_up(app.engine, Fold(), app.sla, zone, now)
    scope = Scope(first, end, team, channel)
    with Session(reader(app.engine)) as s:  # no write lock: the daemon writes on
        data = _reads()[name](s, scope, zone, now)
    if as_json:
        print_json(data)
        return
    rows = _ROWS[name](data)
    if as_csv:
        _csv(rows)
        return
    _print(name, data, rows, zone)


def _csv(rows: Rows) -> None:
    """Each text a customer or an admin wrote (a term, a team's name) guarded as the
    export guards it: a spreadsheet never runs it as a formula."""
    from inbox.desk.export import neutralised

    if not rows:
        return
    out = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
    out.writeheader()
    out.writerows({k: neutralised(v) if isinstance(v, str) else v for k, v in r.items()}
                  for r in rows)


def _print(name: str, data: JSON, rows: Rows, zone: zoneinfo.ZoneInfo) -> None:
    from inbox.sla.clock import duration

    scope = f"{data['since']} .. {data['until']} (the last day not counted; {zone.key})"
    if data.get("team") or data.get("channel"):
        scope += f", team {data.get('team') or 'any'}, channel {data.get('channel') or 'any'}"
    typer.echo(f"{name}: {scope}")
    if not rows:
        typer.echo("nothing in this period")
        return

    def cell(key: str, value: Any) -> str:
        if value is None:
            return "-"
        if key.endswith("_seconds"):
            return duration(timedelta(seconds=value))
        return str(value)

    keys = list(rows[0])
    columns = [Column(k.removesuffix("_seconds"), right=isinstance(rows[0][k], int | float)
                      or k.endswith("_seconds")) for k in keys]
    for line in table(columns, [[cell(k, r[k]) for k in keys] for r in rows],
                      terminal_width()):
        typer.echo(line)


# ------------------------------------------------------------------ report -> rows

def _volume_rows(data: JSON) -> Rows:
    return sorted(({"day": day, "channel": channel, "conversations": n}
                   for channel, values in data["conversations_by_channel"].items()
                   for day, n in zip(data["points"], values, strict=True) if n),
                  key=lambda r: (r["day"], r["channel"])) \
        + [{"day": "total", "channel": channel, "conversations": v["conversations"]}
           for channel, v in data["by_channel"].items()]


def _times_rows(data: JSON) -> Rows:
    out: Rows = []
    for metric in ("first_response", "resolution"):
        part = data[metric]
        out.append({"time": metric, "of": "all", **part["overall"]})
        for key in ("by_team", "by_channel", "by_agent"):
            out += [{"time": metric, "of": f"{key[3:]} {name}", **t}
                    for name, t in part[key].items()]
    return out


def _promise_rows(data: JSON) -> Rows:
    out: Rows = [{"of": "all", **data["overall"]}]
    for key in ("by_team", "by_channel"):
        out += [{"of": f"{key[3:]} {name}", **t} for name, t in data[key].items()]
    return out


def _workload_rows(data: JSON) -> Rows:
    return [{"agent": name, **v} for name, v in data["by_agent"].items()]


def _backlog_rows(data: JSON) -> Rows:
    out: Rows = [{"team": "all", **data["ages"]}]
    return out + [{"team": name, **ages} for name, ages in data["by_team"].items()]


def _csat_rows(data: JSON) -> Rows:
    def flat(of: str, v: JSON) -> dict[str, Any]:
        scores = {f"score_{k}": n for k, n in v["scores"].items()}
        return {"of": of, **{k: x for k, x in v.items() if k != "scores"}, **scores}
    out = [flat("all", data["overall"])]
    for key in ("by_team", "by_channel", "by_agent"):
        out += [flat(f"{key[3:]} {name}", v) for name, v in data[key].items()]
    return out


def _escalation_rows(data: JSON) -> Rows:
    return [{"day": day, "escalations": n}
            for day, n in zip(data["points"], data["per_point"], strict=True) if n]


def _recurring_rows(data: JSON) -> Rows:
    out: Rows = []
    parts = [(f"{kind} ({language})", v[kind + "s"])
             for language, v in data["languages"].items() for kind in ("term", "phrase")]
    for label, part in [*parts, ("tag", data["tags"]), ("rule", data["rules"])]:
        out += [{"what": label, "list": which, **t}
                for which in ("frequent", "rising") for t in part[which]]
    return out + [{"what": "repeat contact", "list": str(r["contact"]),
                   "term": " ".join(r["about"]), "n": len(r["conversations"]), "before": None,
                   "change_percent": None} for r in data["repeat_contacts"]]


def _reads() -> dict[str, Callable[[Session, Scope, zoneinfo.ZoneInfo, datetime], JSON]]:
    from inbox.desk import reports as r
    return {"volume": lambda s, scope, zone, now: r.volume(s, scope),
            "times": lambda s, scope, zone, now: r.response_times(s, scope),
            "promise": lambda s, scope, zone, now: r.promise(s, scope),
            "workload": lambda s, scope, zone, now: r.workload(s, scope),
            "backlog": lambda s, scope, zone, now: r.backlog(s, scope, now),
            "csat": lambda s, scope, zone, now: r.csat(s, scope, zone),
            "escalations": lambda s, scope, zone, now: r.escalations(s, scope, zone),
            "recurring": lambda s, scope, zone, now: r.recurring(s, scope, zone)}


_ROWS: dict[str, Callable[[JSON], Rows]] = {
    "volume": _volume_rows, "times": _times_rows, "promise": _promise_rows,
    "workload": _workload_rows, "backlog": _backlog_rows, "csat": _csat_rows,
    "escalations": _escalation_rows, "recurring": _recurring_rows}


_HELP = {
    "volume": "New conversations by channel and day (month, past 92 days).",
    "times": "First-response and resolution times, median and p90, by team, channel "
             "and agent (working time where a calendar applies).",
    "promise": "The promise kept or broken, by team and channel, and kept per day by team.",
    "workload": "Per agent: open now, handled (resolved) and replies in the period.",
    "backlog": "What is not done now, by age and team (the period does not apply).",
    "csat": "Surveys: sent, answered, score; by team, channel and agent; comments.",
    "escalations": "Escalations by team, by agent and per day; the latest ones.",
    "recurring": "What keeps coming back: terms and phrases per language, tags and rules, "
                 "against the period before; contacts who wrote three times or more.",
}


def _command(name: str) -> None:
    @friendly
    def command(ctx: typer.Context, *, since: SinceOpt = "30d", until: UntilOpt = "now",
                team: TeamOpt = None, channel: ChannelOpt = None, as_json: JsonOpt = False,
                as_csv: CsvOpt = False) -> None:
        _run(ctx, name, since=since, until=until, team=team, channel=channel,
             as_json=as_json, as_csv=as_csv)
    command.__doc__ = _HELP[name]
    report_cli.command(name)(command)


for _name in _HELP:
    _command(_name)


@report_cli.command("rebuild")
@friendly
def rebuild(ctx: typer.Context) -> None:
    """Count every report's figures again from the whole history (after a change of the
    reports' time zone the daemon does this by itself)."""
    from inbox.desk import tally
    from inbox.runtime.app import utcnow
    from inbox.store.db import check_schema

    app = app_of(ctx)
    check_schema(app.engine)
    tally.rebuild(app.engine, utcnow())
    read = tally.catch_up(app.engine, tally.Fold(), app.sla, app.settings.report_zone,
                          utcnow())
    typer.echo(f"counted again: {read} rows of history")
