"""`inbox templates check`: render every template before it goes live.

Every `KIND/STEM[.LANG].txt` file in the deployment's templates folder is rendered with
sample values of its kind, ordinary ones and hostile ones (line breaks in the subject,
an empty name, right-to-left and Thai text, very long values), exactly as the daemon
renders it: the same sandbox, the same limits. Each problem is one line naming
file:line; any problem makes the exit code 1, so the check can guard a deploy.
Which variables a file gets follows from its folder: `sla/` the SLA notice's,
`escalation/` an escalation notice's, `mention/` a mention's, `csat/` a survey's,
`digest/` the weekly digest's, a folder whose name starts with `ack` an
acknowledgement's, any other a rule notification's.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from inbox.cli.common import friendly, print_json
from inbox.core.config import find_config, load_settings

templates_cli = typer.Typer(help="Templates: check them before they go live.",
                            no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]

_FILE = re.compile(r"(?P<kind>[A-Za-z0-9_-]+)/(?P<stem>[A-Za-z0-9_-]+)"
                   r"(?:\.(?P<lang>[A-Za-z0-9_-]+))?\.txt")
LONG = "Zamówienie " * 300  # 3300 characters: more than anyone types in a subject
HOSTILE = {"customer_name": "\u202eمحمد بن سلمان\u200f\r\nBcc: boss@example.com",
           "customer_given_name": "\u202eمحمد\r\nBcc: boss@example.com",
           "subject": "Hi\r\n\r\nINJECTED line\u2028สวัสดีครับ ผมมีปัญหา " + LONG,
           "customer_address": "a\r\nb@example.com"}
EMPTY = {"customer_name": "", "customer_given_name": "", "subject": "",
         "customer_address": ""}
DUE = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Problem:
    template: str
    sample: str
    error: str


def _ack(channel: str, language: str) -> dict[str, object]:
    """What the pipeline gives an ack (inbox.ingest.pipeline.queue_ack), in `language`."""
    from inbox.lang.dates import when  # Babel: only when templates are checked
    from inbox.lang.names import given_name

    return {"customer_name": "Anna Nowak", "subject": "Order 1234",
            "customer_given_name": given_name("Anna Nowak", language),
            "reference": "[#42-k7q2m]", "team_name": "Support",
            "account_name": "Acme Billing", "due_at": when(DUE, language or None),
            "channel": channel, "language": language}


def _notify(channel: str, language: str) -> dict[str, object]:
    return {"rule": "vip", "conversation_id": 42, "subject": "Order 1234",
            "reference": "[#42-k7q2m]", "channel": channel, "customer_name": "Anna Nowak",
            "customer_address": "anna@example.com", "team": "billing", "assignee": "ana",
            "priority": "high", "excerpt": "Where is my order?\nIt was due on Monday.",
            "team_name": "Support"}


def _sla(channel: str, language: str) -> dict[str, object]:
    return _notify(channel, language) | {
        "state": "at-risk", "policy": "default", "calendar": "business hours",
        "due_at": "Fri 27 Nov 09:00 CET", "time_left": "3h 00m",
        "waiting_since": "Thu 26 Nov 09:00 CET"}


def _escalation(channel: str, language: str) -> dict[str, object]:
    notify = _notify(channel, language)
    return {k: v for k, v in notify.items() if k not in ("rule", "excerpt")} | {
        "by": "ana", "to": "", "reason": "The customer asks for a refund over our limit.\n"
        "Can you decide?", "desk_url": "https://help.example.com/c/42"}


def _mention(channel: str, language: str) -> dict[str, object]:
    notify = _notify(channel, language)
    return {k: v for k, v in notify.items() if k not in ("rule", "excerpt", "priority",
                                                          "customer_address")} | {
        "by": "ana", "note": "@kim the courier says it left on Monday.\nCan you check?",
        "desk_url": "https://help.example.com/c/42"}


def _csat(channel: str, language: str) -> dict[str, object]:
    """What a survey gets (inbox.csat.surveys), with its five links."""
    link = "https://help.example.com/csat/7.1797388760.i9H3DbB32i0JtQFu6UnNaA?score="
    return {"customer_name": "Anna Nowak", "subject": "Order 1234",
            "reference": "[#42-k7q2m]", "account_name": "Acme Billing",
            "links": [f"{link}{n}" for n in range(1, 6)], "channel": channel,
            "language": language}


_FIGURES = {"conversations": 1234, "sla_met": 40, "sla_breached": 3,
            "kept_percent": 93.0, "first_responses": 43, "first_response_p50_seconds": 8100,
            "first_response_p90_seconds": 108000, "resolved": 1180, "csat_sent": 300,
            "csat_answered": 96, "csat_response_percent": 32.0, "csat_average": 4.37,
            "escalations": 7}
_NOTHING = dict.fromkeys(_FIGURES, 0) | {
    "kept_percent": None, "first_response_p50_seconds": None,
    "first_response_p90_seconds": None, "csat_response_percent": None, "csat_average": None}
_COUNTED = ("conversations", "resolved", "escalations")
WEEK = {"week": {"since": "2026-12-28", "until": "2027-01-04", "team": None, "channel": None,
                 "timezone": "Europe/Warsaw"},
        "figures": _FIGURES, "before": _FIGURES | {"conversations": 1100, "escalations": 0},
        "change_percent": {"conversations": 12, "resolved": 0, "escalations": None},
        "backlog": {"at": "2027-01-04T07:00:00Z", "total": 58, "older_than_24h": 9},
        "rising": [{"term": "zwrot", "language": "pl", "n": 31, "before": 4,
                    "change_percent": 675},
                   {"term": "คืนเงิน", "language": "th", "n": 12, "before": 0,
                    "change_percent": None}]}


def _digest(language: str) -> dict[str, dict[str, object]]:
    """What the weekly digest gets (inbox.desk.digest.values): a busy week, a week with
    nothing in it and no link, and customers' words at their worst."""
    from inbox.desk.digest import values

    def made(data: dict[str, object], url: str) -> dict[str, object]:
        return values(data, language, team_name="Support", public_url=url)

    url = "https://help.example.com"
    hostile = [{"term": HOSTILE["customer_name"] + LONG, "language": "fa", "n": 10 ** 9,
                "before": 0, "change_percent": None}] * 5
    return {"usual": made(WEEK, url),
            "empty": made(WEEK | {"figures": _NOTHING, "before": _NOTHING, "rising": [],
                                  "change_percent": dict.fromkeys(_COUNTED),
                                  "backlog": {"total": 0, "older_than_24h": 0}}, ""),
            "hostile": made(WEEK | {"rising": hostile}, url)}


def samples(kind: str, channel: str, language: str) -> dict[str, dict[str, object]]:
    """Named sets of values for a template of `kind`: usual, empty, hostile (and, for
    SLA notices, breached)."""
    if kind == "digest":
        return _digest(language)
    make = (_sla if kind == "sla" else _escalation if kind == "escalation"
            else _mention if kind == "mention" else _csat if kind == "csat"
            else _ack if kind.startswith("ack") else _notify)
    usual = make(channel, language)
    long = ({"reason": ("Line\r\n" + LONG)[:2000], "to": "boss", "desk_url": ""}
            if kind == "escalation" else {"note": ("Line\r\n" + LONG)[:2000], "desk_url": ""}
            if kind == "mention" else {"excerpt": ("Line\r\n" + LONG)[:500]})
    found = {"usual": usual, "empty": usual | EMPTY, "hostile": usual | HOSTILE | long}
    if kind == "sla":
        found["breached"] = usual | {"state": "breached", "time_left": "overdue 1h 20m"}
    if kind == "csat":  # no [web] public_url: no links, "reply with a digit" only
        found["no links"] = usual | {"links": []}
    return found


def check_templates(directory: Path) -> tuple[list[str], list[Problem]]:
    """Render every template file in `directory` with every sample; the names checked
    and the problems found (one per file and error)."""
    from inbox.lang.render import Renderer, TemplateError

    renderer = Renderer(directory)
    names = sorted(p.relative_to(directory).as_posix() for p in directory.glob("*/*.txt"))
    problems: list[Problem] = []
    for name in names:
        match = _FILE.fullmatch(name)
        if match is None:
            problems.append(Problem(name, "-", f"{name}: not a template name "
                                    "(KIND/CHANNEL[.LANGUAGE].txt); it is never used"))
            continue
        stem = match["stem"]
        channel = "email" if stem == "default" else stem
        seen: set[str] = set()
        for label, values in samples(match["kind"], channel, match["lang"] or "en").items():
            try:
                renderer.render_file(name, values)
            except TemplateError as exc:
                if str(exc) not in seen:
                    seen.add(str(exc))
                    problems.append(Problem(name, label, str(exc)))
    return names, problems


@templates_cli.command()
@friendly
def check(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Render every template with sample values (hostile ones too); file:line problems."""
    config = ctx.find_root().params.get("config")
    settings = load_settings(find_config(config, os.environ))
    directory = settings.path(settings.templates_dir)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no templates folder (templates_dir)")
    names, problems = check_templates(directory)
    if as_json:
        print_json({"directory": str(directory), "templates": names,
               "problems": [asdict(p) for p in problems]})
    else:
        for p in problems:
            typer.echo(f"{directory}/{p.error} (with {p.sample} values)")
        typer.echo(f"{directory}: {len(names)} templates, "
                   + (f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
                      if problems else "all render"))
    if problems:
        raise typer.Exit(1)

