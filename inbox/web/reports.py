"""/reports: the reports of inbox.desk.reports as charts (inbox.web.charts), each point a
link to /reports/conversations, the conversations behind it. A supervisor's and an
admin's (Action.SEE_ALL_TEAMS: the reports cover every team); 403 for others.

The period is local days of the reports' zone, from the query (`since`, `until`: the
day after the last; `team`, `channel`), by default the last 30 days. The counts are the
daemon's (inbox.desk.tally, a few seconds behind at most).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from inbox.desk import reports
from inbox.desk.accounts import Action, can
from inbox.desk.reports import Scope
from inbox.desk.tally import Metric
from inbox.sla.clock import duration
from inbox.store.db import reader
from inbox.web import charts
from inbox.web.charts import Bar, Series

if TYPE_CHECKING:
    from inbox.web.context import Pages, WebContext

JSON = dict[str, Any]
DEFAULT_DAYS = 30
MOST_DAYS = 3 * 366


def seconds(value: float) -> str:
    return duration(timedelta(seconds=value))


def percent(value: float) -> str:
    return f"{value:.0f}%"


class ReportPages:
    def __init__(self, ctx: WebContext, pages: Pages) -> None:
        self.ctx, self.pages = ctx, pages

    def routes(self) -> list[BaseRoute]:
        return [Route("/reports", self.page), Route("/reports/conversations", self.behind)]

    async def page(self, request: Request) -> Response:
        if not can(request.state.signed.agent, Action.SEE_ALL_TEAMS):
            return PlainTextResponse("the reports are a supervisor's", 403)
        scope = self.scope(request.query_params)
        if isinstance(scope, str):
            return PlainTextResponse(scope, 400)
        data = await run_in_threadpool(self.read, scope)
        return self.pages.render(request, "reports.html", scope=scope, data=data,
                                 charts=self.charts(scope, data), link=_linker(scope),
                                 seconds=seconds, zone=self.ctx.report_zone)

    async def behind(self, request: Request) -> Response:
        if not can(request.state.signed.agent, Action.SEE_ALL_TEAMS):
            return PlainTextResponse("the reports are a supervisor's", 403)
        q = request.query_params
        scope = self.scope(q)
        metric = q.get("metric", "")
        if isinstance(scope, str) or metric not in Metric.__members__.values():
            return PlainTextResponse(scope if isinstance(scope, str) else "no such figure",
                                     400)

        def read() -> list[JSON]:
            with Session(reader(self.ctx.engine)) as s:
                return reports.behind(s, Metric(metric), scope, self.ctx.report_zone,
                                      agent=q.get("agent") or None)

        rows = await run_in_threadpool(read)
        return self.pages.render(request, "reports_behind.html", scope=scope, rows=rows,
                                 metric=metric, agent=q.get("agent"),
                                 most=reports.BEHIND_MOST, zone=self.ctx.report_zone)

    def scope(self, q: Mapping[str, str]) -> Scope | str:
        """The period asked for, or what is wrong with it."""
        today = self.ctx.clock().astimezone(self.ctx.report_zone).date()
        try:
            until = date.fromisoformat(q["until"]) if q.get("until") else today + ONE_DAY
            since = date.fromisoformat(q["since"]) if q.get("since") \
                else until - DEFAULT_DAYS * ONE_DAY
        except ValueError:
            return "since and until are dates: 2026-10-01"
        if not since < until or (until - since).days > MOST_DAYS:
            return f"since must be before until, at most {MOST_DAYS} days apart"
        return Scope(since, until, q.get("team") or None, q.get("channel") or None)

    def read(self, scope: Scope) -> JSON:
        zone, now = self.ctx.report_zone, self.ctx.clock()
        with Session(reader(self.ctx.engine)) as s:
            return {"volume": reports.volume(s, scope),
                    "times": reports.response_times(s, scope),
                    "promise": reports.promise(s, scope),
                    "workload": reports.workload(s, scope),
                    "backlog": reports.backlog(s, scope, now),
                    "csat": reports.csat(s, scope, zone),
                    "escalations": reports.escalations(s, scope, zone),
                    "recurring": reports.recurring(s, scope, zone)}

    def charts(self, scope: Scope, data: JSON) -> dict[str, Markup]:
        link = _linker(scope)
        points = [date.fromisoformat(p) for p in data["volume"]["points"]]
        labels = [_label(p, scope) for p in points]
        volume = data["volume"]["conversations_by_channel"]
        kept = data["promise"]["kept_percent_by_team"]
        escal = data["escalations"]["per_point"]
        first = data["times"]["first_response"]
        return {
            "volume": charts.columns(
                [Series(ch, values, [link(Metric.CONVERSATIONS, p, channel=ch)
                                     for p in points]) for ch, values in volume.items()],
                labels, title="New conversations by channel"),
            "promise": charts.lines(
                [Series(team, values, [link(Metric.SLA_BREACHED, p, team=_team(team))
                                       for p in points]) for team, values in kept.items()],
                labels, title="Promise kept, by team", percent=True),
            "first_by_team": _time_bars(first["by_team"], "Median first response by team",
                                        lambda name: link(Metric.FIRST_RESPONSE,
                                                          team=_team(name))),
            "first_by_agent": _time_bars(first["by_agent"], "Median first response by agent",
                                         lambda name: link(Metric.FIRST_RESPONSE,
                                                           agent=_team(name) or "")),
            "escalations": charts.columns(
                [Series("escalations", escal, [link(Metric.ESCALATED, p) for p in points])],
                labels, title="Escalations"),
        }


ONE_DAY = timedelta(days=1)


def _team(name: str) -> str | None:
    return None if name == "(none)" else name


def _label(day: date, scope: Scope) -> str:
    return f"{day.day} {day:%b}" if scope.daily else f"{day:%b %Y}"


def _time_bars(by: Mapping[str, JSON], title: str, href: Callable[[str], str]) -> Markup:
    return charts.bars([Bar(name, t["p50_seconds"], href(name),
                            f"p90 {seconds(t['p90_seconds'])} · {t['count']}"
                            if t["p90_seconds"] is not None else "")
                        for name, t in by.items()], title=title, format=seconds)


def _linker(scope: Scope) -> Callable[..., str]:
    """Links to the conversations behind a figure: the whole period, or one point of a
    series (a day, or a month of a long period), narrowed to a team, channel or agent."""
    def link(metric: Metric | str, point: date | None = None, *, team: str | None = None,
             channel: str | None = None, agent: str | None = None) -> str:
        since, until = scope.since, scope.until
        if point is not None:
            since = point
            until = point + ONE_DAY if scope.daily else reports.next_month(point)
            since, until = max(since, scope.since), min(until, scope.until)
        given = {"metric": Metric(metric).value, "since": since.isoformat(),
                 "until": until.isoformat(), "team": team or scope.team,
                 "channel": channel or scope.channel, "agent": agent}
        return "/reports/conversations?" + urlencode({k: v for k, v in given.items()
                                                      if v is not None})
    return link
