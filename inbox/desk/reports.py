"""How often the promise was kept: the read model of `inbox report sla`. The dict is its
`--json` shape (docs/cli-json.md); add keys freely, never rename or remove one. What is
at risk now (`inbox sla`) is inbox.sla.risk.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.vocab import AUTOMATED, Status, iso
from inbox.desk.tally import AGENT, CHANNEL, TEAM, Metric
from inbox.desk.terms import terms as words_of
from inbox.store.models import (
    Conversation,
    Escalation,
    Event,
    Message,
    ReportCount,
    ReportTerm,
    Survey,
)

JSON = dict[str, Any]


@dataclass
class _Tally:
    met: int = 0
    breached: int = 0
    first_waits: list[float] = field(default_factory=list)

    def json(self) -> JSON:
        decided = self.met + self.breached
        waits = sorted(self.first_waits)
        return {"met": self.met, "breached": self.breached,
                "kept_percent": round(100 * self.met / decided, 1) if decided else None,
                "first_responses": len(waits),
                "first_response_p50_seconds": percentile(waits, 50),
                "first_response_p90_seconds": percentile(waits, 90)}


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list: a value that really occurred."""
    if not ordered:
        return None
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


REPORTED = ("sla.met", "sla.breached", "reply.queued")


def sla_report(s: Session, since: datetime, until: datetime) -> JSON:
    """Met and breached promises and first-response times in [since, until), overall,
    per team and per channel.

    Every clock ends at most once in `sla.met` (an agent answered in time) or
    `sla.breached` (the due time passed: recorded by the sweep, or by a late reply if no
    sweep saw it first); first-response times come from the replies that stopped a
    first-response clock (wall-clock time since the customer's first unanswered message).
    """
    q = (sa.select(col(Event.kind), col(Event.detail), col(Conversation.team),
                   col(Conversation.channel))
         .join(Conversation, col(Conversation.id) == col(Event.conversation_id))
         .where(col(Event.kind).in_(REPORTED), col(Event.created_at) >= since,
                col(Event.created_at) < until))
    overall, teams, channels = _Tally(), dict[str, _Tally](), dict[str, _Tally]()
    for kind, detail, team, channel in s.execute(q):
        first = kind == "reply.queued" and detail.get("sla_target") == "first"
        if kind == "reply.queued" and not first:
            continue  # a reply that stopped no clock, or a next-response clock
        for tally in (overall, teams.setdefault(team or "(none)", _Tally()),
                      channels.setdefault(channel, _Tally())):
            if kind == "sla.met":
                tally.met += 1
            elif kind == "sla.breached":
                tally.breached += 1
            else:
                tally.first_waits.append(float(detail["sla_waited_seconds"]))
    return {"since": iso(since), "until": iso(until),
            "days": round((until - since) / timedelta(days=1), 2),
            "overall": overall.json(),
            "by_team": {k: v.json() for k, v in sorted(teams.items())},
            "by_channel": {k: v.json() for k, v in sorted(channels.items())}}


# ------------------------------------------------------------------ the kept counts
# Every report below reads `report_count` (inbox.desk.tally), never the events: a
# period is cut into whole months (one row per bucket and month) and the days at its
# ends, and each breakdown reads the one cube that holds it.

DAILY_UP_TO_DAYS = 92  # a longer period's series has a point per month


@dataclass(frozen=True)
class Scope:
    """What a report covers: local days [since, until), and one team and/or channel."""

    since: date
    until: date
    team: str | None = None
    channel: str | None = None

    def json(self) -> JSON:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(),
                "team": self.team, "channel": self.channel}

    def instants(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The period as UTC instants: local midnight to local midnight."""
        return (datetime.combine(self.since, time(), zone).astimezone(UTC),
                datetime.combine(self.until, time(), zone).astimezone(UTC))

    @property
    def daily(self) -> bool:
        return (self.until - self.since).days <= DAILY_UP_TO_DAYS


def _spans(since: date, until: date) -> list[tuple[str, date, date]]:
    """[since, until) as (grain, first, last) ranges: whole months as months, whole
    weeks (Monday to Sunday) of what is left as weeks, the rest as days: a year is
    twelve months, a month's edge at most three weeks and twelve days."""
    first_month = since if since.day == 1 else next_month(since)
    last_month = until.replace(day=1)  # months starting before this one are whole
    if first_month >= last_month:
        return _weeks(since, until)
    out = [("m", first_month, _prev_month(last_month))]
    return out + _weeks(since, first_month) + _weeks(last_month, until)


def _weeks(since: date, until: date) -> list[tuple[str, date, date]]:
    """[since, until) as whole weeks and the days around them (none if it is empty)."""
    monday = since + (-since.weekday() % 7) * ONE_DAY  # the first Monday from `since`
    weeks = (until - monday).days // 7 if monday < until else 0
    if weeks == 0:
        return [("d", since, until - ONE_DAY)] if since < until else []
    end = monday + weeks * 7 * ONE_DAY
    out = [("w", monday, end - 7 * ONE_DAY)]
    if since < monday:
        out.append(("d", since, monday - ONE_DAY))
    if end < until:
        out.append(("d", end, until - ONE_DAY))
    return out


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _prev_month(day: date) -> date:
    return (day.replace(day=1) - ONE_DAY).replace(day=1)


ONE_DAY = timedelta(days=1)
_DIMS = ((TEAM, "team"), (CHANNEL, "channel"), (AGENT, "agent"))


@dataclass(frozen=True)
class Count:
    """One summed row: its metric, the dimensions asked for, its bucket, how many."""

    metric: str
    dims: tuple[str, ...]
    bucket: int
    n: int
    period: date | None = None


def counts(s: Session, scope: Scope, metrics: Iterable[Metric], by: int = 0, *,
           series: bool = False) -> list[Count]:
    """The counts of `metrics` in `scope`, kept apart by the cube bits `by` (and by day,
    or month for a long period, when `series`)."""
    cube = by | (TEAM if scope.team is not None else 0) \
        | (CHANNEL if scope.channel is not None else 0)
    rc = ReportCount.__table__  # type: ignore[attr-defined]
    dims = [rc.c[name] for bit, name in _DIMS if by & bit]
    spans = [("d", scope.since, scope.until - ONE_DAY)] if series and scope.daily \
        else _spans(scope.since, scope.until)
    found: Counter[tuple[str, tuple[str, ...], int, date | None]] = Counter()
    # Summed in the database over the span's days or months (by point, for a series):
    # what comes back is one row per breakdown and bucket, not one per stored row.
    keys = [rc.c.metric, *dims, rc.c.bucket, *([rc.c.period] if series else [])]
    for grain, first, last in spans:
        q = (sa.select(*keys, sa.func.sum(rc.c.n))
             .where(rc.c.metric.in_([m.value for m in metrics]), rc.c.cube == cube,
                    rc.c.grain == grain, rc.c.period.between(first, last))
             .group_by(*keys))
        if scope.team is not None:
            q = q.where(rc.c.team == scope.team)
        if scope.channel is not None:
            q = q.where(rc.c.channel == scope.channel)
        for row in s.execute(q):
            period = _point(row[-2], scope) if series else None
            found[(row[0], tuple(row[1:1 + len(dims)]), row[1 + len(dims)], period)] \
                += int(row[-1])
    return [Count(m, d, b, n, p) for (m, d, b, p), n in sorted(
        found.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3] or date.min))]


def _point(period: date | str, scope: Scope) -> date:
    day = period if isinstance(period, date) else date.fromisoformat(period)
    return day if scope.daily else day.replace(day=1)


def points(scope: Scope) -> list[date]:
    """The x axis of a series: each day, or the first day of each month."""
    if scope.daily:
        return [scope.since + i * ONE_DAY for i in range((scope.until - scope.since).days)]
    out, month = [], scope.since.replace(day=1)
    while month < scope.until:
        out.append(month)
        month = next_month(month)
    return out


def times(hist: Counter[int]) -> JSON:
    """How many, and the median and p90 (nearest rank) of a histogram of times: each
    the end of the step it fell in (inbox.desk.tally.STEPS)."""
    total = sum(hist.values())
    return {"count": total, "p50_seconds": _rank(hist, total, 50),
            "p90_seconds": _rank(hist, total, 90)}


def _rank(hist: Counter[int], total: int, p: float) -> int | None:
    if not total:
        return None
    wanted, seen = max(math.ceil(p / 100 * total), 1), 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= wanted:
            return value
    raise AssertionError("unreachable: the ranks add up to the total")


def _name(dims: tuple[str, ...]) -> str:
    return dims[0] if dims and dims[0] else "(none)"


# ------------------------------------------------------------------ the named reports

def volume(s: Session, scope: Scope) -> JSON:
    """New conversations by channel and day (or month); robots and messages beside."""
    xs = points(scope)
    at = {x: i for i, x in enumerate(xs)}
    series: dict[str, list[int]] = {}
    for c in counts(s, scope, [Metric.CONVERSATIONS], CHANNEL, series=True):
        assert c.period is not None
        series.setdefault(c.dims[0], [0] * len(xs))[at[c.period]] += c.n
    by_channel: dict[str, dict[str, int]] = {}
    for c in counts(s, scope, _VOLUME, CHANNEL):
        by_channel.setdefault(c.dims[0], dict.fromkeys(_VOLUME, 0))[c.metric] += c.n
    total = {m: sum(v[m] for v in by_channel.values()) for m in _VOLUME}
    return {**_head("volume", scope), "points": [x.isoformat() for x in xs],
            "conversations_by_channel": dict(sorted(series.items())),
            "by_channel": dict(sorted(by_channel.items())), "total": total}


_VOLUME = (Metric.CONVERSATIONS, Metric.AUTOMATED, Metric.MESSAGES)
_BREAKDOWNS = (("by_team", TEAM), ("by_channel", CHANNEL), ("by_agent", AGENT))


def response_times(s: Session, scope: Scope) -> JSON:
    """First-response and resolution times (median, p90): overall, by team, channel
    and agent. Working time where a calendar applies."""
    out: JSON = {**_head("times", scope)}
    for metric in (Metric.FIRST_RESPONSE, Metric.RESOLUTION):
        out[metric.value] = {"overall": times(_hists(s, scope, metric, 0).get("", Counter()))}
        for key, bit in _BREAKDOWNS:
            out[metric.value][key] = {name: times(h) for name, h in
                                      sorted(_hists(s, scope, metric, bit).items())}
    return out


def _hists(s: Session, scope: Scope, metric: Metric, by: int) -> dict[str, Counter[int]]:
    found: dict[str, Counter[int]] = {}
    for c in counts(s, scope, [metric], by):
        found.setdefault(_name(c.dims) if by else "", Counter())[c.bucket] += c.n
    return found


def promise(s: Session, scope: Scope) -> JSON:
    """The 24-hour promise kept or broken: overall, by team and channel, and kept per
    day (or month) by team."""
    kept = (Metric.SLA_MET, Metric.SLA_BREACHED)
    out: JSON = {**_head("promise", scope), "overall": _kept(counts(s, scope, kept)).get(
        "", {"met": 0, "breached": 0, "kept_percent": None})}
    for key, bit in _BREAKDOWNS[:2]:
        out[key] = dict(sorted(_kept(counts(s, scope, kept, bit)).items()))
    xs = points(scope)
    at, series = {x: i for i, x in enumerate(xs)}, dict[str, list[list[int]]]()
    for c in counts(s, scope, kept, TEAM, series=True):
        assert c.period is not None
        pair = series.setdefault(_name(c.dims), [[0, 0] for _ in xs])[at[c.period]]
        pair[0 if c.metric == Metric.SLA_MET else 1] += c.n
    out["points"] = [x.isoformat() for x in xs]
    out["kept_percent_by_team"] = {team: [share_percent(m, m + b) for m, b in pairs]
                                   for team, pairs in sorted(series.items())}
    return out


def _kept(rows: list[Count]) -> dict[str, JSON]:
    tally: dict[str, list[int]] = {}
    for c in rows:
        pair = tally.setdefault(_name(c.dims) if c.dims else "", [0, 0])
        pair[0 if c.metric == Metric.SLA_MET else 1] += c.n
    return {k: {"met": m, "breached": b, "kept_percent": share_percent(m, m + b)}
            for k, (m, b) in tally.items()}


def share_percent(part: int, whole: int) -> float | None:
    """`part` of `whole` in percent, one decimal; None of nothing."""
    return round(100 * part / whole, 1) if whole else None


OPEN_STATES = (Status.OPEN.value, Status.PENDING.value, Status.SNOOZED.value)


def workload(s: Session, scope: Scope) -> JSON:
    """Per agent: conversations open with them now, resolved ("handled") and replies
    sent in the period."""
    agents: dict[str, dict[str, int]] = {}
    for c in counts(s, scope, (Metric.RESOLVED, Metric.REPLIES), AGENT):
        row = agents.setdefault(_name(c.dims), {"open": 0, "handled": 0, "replies": 0})
        row["handled" if c.metric == Metric.RESOLVED else "replies"] += c.n
    q = (sa.select(col(Conversation.assignee), sa.func.count())
         .where(col(Conversation.status).in_(OPEN_STATES))
         .group_by(col(Conversation.assignee)))
    for assignee, n in s.execute(_scoped(q, scope)):
        agents.setdefault(assignee or "(none)", {"open": 0, "handled": 0,
                                                 "replies": 0})["open"] = int(n)
    return {**_head("workload", scope), "by_agent": dict(sorted(agents.items()))}


def _scoped(q: Any, scope: Scope) -> Any:
    if scope.team is not None:
        q = q.where(col(Conversation.team) == (scope.team or None))
    if scope.channel is not None:
        q = q.where(col(Conversation.channel) == scope.channel)
    return q


# Backlog ages: (upper end in seconds, label); what is older falls in the last.
AGES = ((3600, "< 1 h"), (4 * 3600, "1-4 h"), (86400, "4-24 h"), (3 * 86400, "1-3 d"),
        (7 * 86400, "3-7 d"), (None, "> 7 d"))


def backlog(s: Session, scope: Scope, now: datetime) -> JSON:
    """What is not done now, by age (since the conversation began) and team; the ten
    oldest. A look at this moment: the period does not apply."""
    q = _scoped(sa.select(col(Conversation.id), col(Conversation.team),
                          col(Conversation.created_at), col(Conversation.awaiting_since))
                .where(col(Conversation.status).in_(OPEN_STATES)), scope)
    bands = dict.fromkeys((label for _, label in AGES), 0)
    by_team: dict[str, dict[str, int]] = {}
    waiting, oldest = 0, list[tuple[datetime, int]]()
    for conv_id, team, created, awaiting in s.execute(q):
        label = _age(now - created)
        bands[label] += 1
        by_team.setdefault(team or "(none)", dict.fromkeys(bands, 0))[label] += 1
        waiting += awaiting is not None
        oldest.append((created, conv_id))
    return {**_head("backlog", scope), "at": iso(now), "total": sum(bands.values()),
            "waiting_for_us": waiting, "ages": bands, "by_team": dict(sorted(by_team.items())),
            "oldest": [{"id": i, "since": iso(c)} for c, i in sorted(oldest)[:10]]}


def _age(age: timedelta) -> str:
    for limit, label in AGES:
        if limit is None or age.total_seconds() < limit:
            return label
    raise AssertionError("unreachable: the last band has no limit")


def csat(s: Session, scope: Scope, zone: ZoneInfo, comments: int = 50) -> JSON:
    """Surveys sent and answered, the response rate, the score (average, share of 4 and
    5, each score's count): overall, by team, channel and agent; the latest comments."""
    asked = (Metric.CSAT_SENT, Metric.CSAT_ANSWERED)
    out: JSON = {**_head("csat", scope),
                 "overall": _scores(counts(s, scope, asked)).get("", _scores([])[""])}
    for key, bit in _BREAKDOWNS:
        out[key] = dict(sorted(_scores(counts(s, scope, asked, bit)).items()))
    out["comments"] = _comments(s, scope, zone, comments)
    return out


def _scores(rows: list[Count]) -> dict[str, JSON]:
    sent: Counter[str] = Counter()
    scores: dict[str, Counter[int]] = {"": Counter()} if not rows else {}
    for c in rows:
        name = _name(c.dims) if c.dims else ""
        if c.metric == Metric.CSAT_SENT:
            sent[name] += c.n
        else:
            scores.setdefault(name, Counter())[c.bucket] += c.n
    return {k: _score(sent[k], scores.get(k, Counter())) for k in sent.keys() | scores.keys()}


def _score(sent: int, scores: Counter[int]) -> JSON:
    answered = sum(scores.values())
    return {"sent": sent, "answered": answered, "response_percent": share_percent(answered, sent),
            "average": round(sum(k * n for k, n in scores.items()) / answered, 2)
            if answered else None,
            "satisfied_percent": share_percent(scores[4] + scores[5], answered),
            "scores": {str(k): scores[k] for k in range(1, 6)}}


def _comments(s: Session, scope: Scope, zone: ZoneInfo, limit: int) -> list[JSON]:
    start, end = scope.instants(zone)
    q = _scoped(sa.select(col(Survey.conversation_id), col(Survey.score),
                          col(Survey.comment), col(Survey.answered_at),
                          col(Survey.language), col(Conversation.team),
                          col(Conversation.assignee))
                .join(Conversation, col(Conversation.id) == col(Survey.conversation_id))
                .where(col(Survey.answered_at) >= start, col(Survey.answered_at) < end,
                       col(Survey.comment).is_not(None))
                .order_by(col(Survey.answered_at).desc()).limit(limit), scope)
    return [{"conversation": cid, "score": score, "comment": comment, "at": iso(at),
             "language": language, "team": team, "agent": agent}
            for cid, score, comment, at, language, team, agent in s.execute(q)]


def escalations(s: Session, scope: Scope, zone: ZoneInfo, latest: int = 50) -> JSON:
    """Escalations by team and by the agent who asked, per day (or month); the latest
    with their reasons and whether they were handled."""
    xs = points(scope)
    at, series = {x: i for i, x in enumerate(xs)}, [0] * len(xs)
    for c in counts(s, scope, [Metric.ESCALATED], series=True):
        assert c.period is not None
        series[at[c.period]] += c.n
    out: JSON = {**_head("escalations", scope), "points": [x.isoformat() for x in xs],
                 "per_point": series, "total": sum(series)}
    for key, bit in (("by_team", TEAM), ("by_agent", AGENT)):
        out[key] = {_name(c.dims): c.n for c in counts(s, scope, [Metric.ESCALATED], bit)}
    start, end = scope.instants(zone)
    q = _scoped(sa.select(Escalation, col(Conversation.team))
                .join(Conversation, col(Conversation.id) == col(Escalation.conversation_id))
                .where(col(Escalation.created_at) >= start, col(Escalation.created_at) < end)
                .order_by(col(Escalation.created_at).desc()).limit(latest), scope)
    out["latest"] = [{"conversation": e.conversation_id, "by": e.escalated_by,
                      "reason": e.reason, "at": iso(e.created_at), "team": team,
                      "handled_at": iso(e.handled_at), "handled_by": e.handled_by}
                     for e, team in s.execute(q)]
    return out


def _head(name: str, scope: Scope) -> JSON:
    return {"report": name, **scope.json(),
            "grain": "day" if scope.daily else "month"}


# ------------------------------------------------------------------ behind a figure

# Where each metric's occurrences are written down: the trail event it was counted from.
_BEHIND = {Metric.REPLIES: ("reply.queued",), Metric.FIRST_RESPONSE: ("reply.queued",),
           Metric.SLA_MET: ("sla.met",), Metric.SLA_BREACHED: ("sla.breached",),
           Metric.RESOLVED: ("status",), Metric.RESOLUTION: ("status",),
           Metric.ESCALATED: ("escalated",), Metric.CSAT_SENT: ("csat.queued",),
           Metric.CSAT_ANSWERED: ("csat.answered",)}
BEHIND_MOST = 200


def behind(s: Session, metric: Metric, scope: Scope, zone: ZoneInfo, *,
           agent: str | None = None, limit: int = BEHIND_MOST) -> list[JSON]:
    """The conversations behind a figure (a chart's point): those whose occurrence of
    `metric` falls in `scope` (and is `agent`'s), newest first, at most `limit`. They
    are found from the trail as it is now, so a conversation moved to another team
    since shows under its new team."""
    start, end = scope.instants(zone)
    if metric in (Metric.CONVERSATIONS, Metric.AUTOMATED, Metric.MESSAGES):
        q = (sa.select(Conversation, col(Conversation.created_at))
             .where(col(Conversation.created_at) >= start, col(Conversation.created_at) < end)
             .order_by(col(Conversation.created_at).desc()))
    else:
        q = (sa.select(Conversation, col(Event.created_at), col(Event.detail))
             .join(Event, col(Event.conversation_id) == col(Conversation.id))
             .where(col(Event.kind).in_(_BEHIND[metric]), col(Event.created_at) >= start,
                    col(Event.created_at) < end)
             .order_by(col(Event.created_at).desc()))
    out: list[JSON] = []
    for row in s.execute(_scoped(q, scope).limit(20 * limit)):
        conv, at = row[0], row[1]
        if len(out) < limit and _counted(metric, agent, conv, row[2] if len(row) > 2 else {}):
            out.append({"id": conv.id, "subject": conv.subject, "channel": conv.channel,
                        "team": conv.team, "assignee": conv.assignee, "status": conv.status,
                        "at": iso(at)})
    return out


def _counted(metric: Metric, agent: str | None, conv: Conversation, detail: Any) -> bool:
    """Whether this trail event is one the fold counted as `metric` for `agent`."""
    d = detail if isinstance(detail, dict) else {}
    if metric in (Metric.CONVERSATIONS, Metric.AUTOMATED) \
            and (AUTOMATED in conv.tags) != (metric == Metric.AUTOMATED):
        return False
    if metric == Metric.FIRST_RESPONSE and d.get("sla_target") != "first":
        return False
    if metric in (Metric.RESOLVED, Metric.RESOLUTION) and d.get("to") != Status.RESOLVED:
        return False
    if agent is None:
        return True
    who = {Metric.REPLIES: d.get("author"), Metric.FIRST_RESPONSE: d.get("author"),
           Metric.ESCALATED: d.get("by"), Metric.SLA_MET: d.get("by") or conv.assignee,
           Metric.SLA_BREACHED: d.get("by") or conv.assignee}.get(metric, conv.assignee)
    return (who or "") == agent


# ------------------------------------------------------------------ what keeps coming back

REPEAT_TIMES = 3  # conversations from one contact about one thing
REPEAT_DAYS = 31  # how far back from the period's end repeat contacts are looked for
RISING_LEAST = 3  # a term must be this frequent to count as rising


def recurring(s: Session, scope: Scope, zone: ZoneInfo, *, top: int = 10) -> JSON:
    """What keeps coming back: per language the most frequent terms and phrases of new
    conversations and those rising most, the most frequent tags and rule hits, each with
    its count in the period before (as long) and the change; and contacts who wrote
    REPEAT_TIMES or more times about the same thing lately. Over all teams and channels."""
    length = scope.until - scope.since
    before = Scope(scope.since - length, scope.since)
    out: JSON = {**_head("recurring", scope), "before": before.json(), "languages": {}}
    for language in _languages(s, scope):
        out["languages"][language or "(unknown)"] = {
            kind + "s": _terms(s, kind, language, scope, before, top=top)
            for kind in ("term", "phrase")}
    for kind in ("tag", "rule"):
        out[kind + "s"] = _terms(s, kind, "", scope, before, top=top)
    out["repeat_contacts"] = _repeats(s, scope, zone)
    return out


def _term_rows(kind: str, language: str, scope: Scope) -> Any:
    """One row per term and span of `scope`, to be summed (a UNION ALL of the spans)."""
    rt = ReportTerm.__table__  # type: ignore[attr-defined]
    parts = [sa.select(rt.c.term, rt.c.n).where(
        rt.c.kind == kind, rt.c.language == language, rt.c.grain == grain,
        rt.c.period.between(first, last)) for grain, first, last in _spans(scope.since,
                                                                           scope.until)]
    return sa.union_all(*parts).subquery()


def _terms(s: Session, kind: str, language: str, scope: Scope, before: Scope, *,
           top: int) -> JSON:
    now_rows, then_rows = _term_rows(kind, language, scope), _term_rows(kind, language, before)
    now = sa.select(now_rows.c.term, sa.func.sum(now_rows.c.n).label("n")) \
        .group_by(now_rows.c.term).subquery()
    then = sa.select(then_rows.c.term, sa.func.sum(then_rows.c.n).label("n")) \
        .group_by(then_rows.c.term).subquery()
    base = sa.select(now.c.term, now.c.n, sa.func.coalesce(then.c.n, 0)) \
        .join_from(now, then, now.c.term == then.c.term, isouter=True)
    frequent = s.execute(base.order_by(now.c.n.desc(), now.c.term).limit(top)).all()
    rising = s.execute(base.where(now.c.n >= RISING_LEAST)
                       .order_by((now.c.n - sa.func.coalesce(then.c.n, 0)).desc(), now.c.term)
                       .limit(top)).all()
    return {"frequent": [_change(*r) for r in frequent],
            "rising": [_change(*r) for r in rising if r[1] > r[2]]}


def _change(term: str, n: int, before: int) -> JSON:
    return {"term": term, "n": int(n), "before": int(before),
            "change_percent": round(100 * (n - before) / before) if before else None}


def _languages(s: Session, scope: Scope) -> list[str]:
    rt = ReportTerm.__table__  # type: ignore[attr-defined]
    found: set[str] = set()
    for grain, first, last in _spans(scope.since, scope.until):
        found |= set(s.scalars(sa.select(rt.c.language).distinct().where(
            rt.c.kind == "term", rt.c.grain == grain, rt.c.period.between(first, last))))
    return sorted(found)


def _repeats(s: Session, scope: Scope, zone: ZoneInfo) -> list[JSON]:
    """Contacts with REPEAT_TIMES or more new conversations in the period's last
    REPEAT_DAYS sharing a tag or a term: what they keep writing about."""
    recent = Scope(max(scope.since, scope.until - REPEAT_DAYS * ONE_DAY), scope.until)
    start, end = recent.instants(zone)
    counted = (sa.select(col(Conversation.contact_id))
               .where(col(Conversation.created_at) >= start, col(Conversation.created_at) < end)
               .group_by(col(Conversation.contact_id))
               .having(sa.func.count() >= REPEAT_TIMES).limit(100))
    contacts = list(s.scalars(counted))
    if not contacts:
        return []
    convs = s.scalars(sa.select(Conversation).where(
        col(Conversation.contact_id).in_(contacts), col(Conversation.created_at) >= start,
        col(Conversation.created_at) < end).order_by(col(Conversation.id))).all()
    texts = _first_texts(s, [c.id for c in convs if c.id is not None])
    out: list[JSON] = []
    for contact in contacts:
        theirs = [c for c in convs if c.contact_id == contact and AUTOMATED not in c.tags]
        about = _shared(theirs, texts)
        if len(theirs) >= REPEAT_TIMES and about:
            out.append({"contact": contact, "conversations": [c.id for c in theirs],
                        "about": about})
    return sorted(out, key=lambda r: -len(r["conversations"]))


def _first_texts(s: Session, conv_ids: list[int]) -> dict[int, str]:
    firsts = (sa.select(sa.func.min(col(Message.id))).where(
        col(Message.conversation_id).in_(conv_ids)).group_by(col(Message.conversation_id)))
    rows = s.execute(sa.select(col(Message.conversation_id), col(Message.text))
                     .where(col(Message.id).in_(firsts.scalar_subquery())))
    return {conv: text for conv, text in rows if conv is not None}


def _shared(convs: list[Conversation], texts: dict[int, str]) -> list[str]:
    """The tags and terms at least REPEAT_TIMES of these conversations have."""
    seen: Counter[str] = Counter()
    for conv in convs:
        found, _ = words_of(texts.get(conv.id or 0, ""), conv.language)
        seen.update({*(f"#{t}" for t in conv.tags), *found})
    return [thing for thing, n in seen.most_common(5) if n >= REPEAT_TIMES]
