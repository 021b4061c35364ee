"""The weekly digest to supervisors (docs/reports.md "Weekly digest"): the figures of
the last whole week and of the week before, e-mailed through the outbox to every enabled
supervisor and admin, each in their own language.

`content` reads the week from the kept counts (inbox.desk.reports), so it costs a few
small queries. `send_due` is called by the daemon after each fold: once the local time
of the reports' zone is past `[reports] digest_day` at `digest_hour`, it queues the
digest of the week that ended before that day. Exactly once per week: the last week
sent is kept in the `cursor` table (report/digest), read locked (SKIP LOCKED on
PostgreSQL: another daemon at it means nothing to do) and written in the transaction
that queues the mail, so neither a second daemon nor a restart sends a week twice. Only
the last whole week is ever considered, so a daemon that was down on the day sends it
when it comes back that week, and never a stale one for weeks ago.

Every outbox row and outgoing message belongs to a conversation (outbox.conversation_id
is NOT NULL), and a digest is about none. So the digests are kept in one conversation
of their own, made with the first digest (its id is kept beside the week in the
cursor): closed (no queue, no backlog, no SLA clock), tagged automated, of the team
SUPERVISORS, which no team can be named (agents do not see it; supervisors and admins,
who see every team, do), and with no customer message, so no report counts it. A
supervisor's answer to a digest is filed there as a note, as answers to notices are.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel import Locale, UnknownLocaleError
from babel.dates import format_interval
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col

from channels.base import Address
from inbox.core.config import WEEKDAYS, Settings
from inbox.core.errors import Invalid
from inbox.core.vocab import AUTOMATED, Kind, Status, iso
from inbox.desk.accounts import Action, can
from inbox.desk.reports import AGES, Scope, backlog, counts, recurring, share_percent, times
from inbox.desk.tally import BEYOND, Metric
from inbox.lang.render import Rendered, Renderer, TemplateError, one_line
from inbox.outbox.enqueue import enqueue
from inbox.store.models import Agent, Contact, Conversation, Cursor, Event

log = logging.getLogger(__name__)

JSON = dict[str, Any]
WEEK = timedelta(days=7)
KIND = "digest"  # templates/digest/email[.LANG].txt
CHANNEL = "email"  # a digest is a mail: it is read at a desk, not on a phone's chat
SUPERVISORS = "(supervisors)"  # the digests' team: not a team name (accounts._NAME)
_CURSOR = ("report", "", "digest")  # value: "MONDAY CONVERSATION", "-" for none yet
RISING = 5  # terms in a digest


# ------------------------------------------------------------------ which week, when

def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def last_week(now: datetime, zone: ZoneInfo) -> date:
    """The Monday of the last whole week (Monday to Sunday, local days) before `now`."""
    return monday(now.astimezone(zone).date()) - WEEK


def due_at(week: date, day: str, hour: int, zone: ZoneInfo) -> datetime:
    """When the digest of `week` (a Monday) is due: `day` at `hour` o'clock of the
    week after it, local time."""
    return datetime.combine(week + WEEK + timedelta(days=WEEKDAYS.index(day)),
                            time(hour), zone)


# ------------------------------------------------------------------ the figures

_WEEKLY = (Metric.CONVERSATIONS, Metric.SLA_MET, Metric.SLA_BREACHED, Metric.FIRST_RESPONSE,
           Metric.RESOLVED, Metric.CSAT_SENT, Metric.CSAT_ANSWERED, Metric.ESCALATED)
_COUNTED = ("conversations", "resolved", "escalations")  # those with a change in percent


def content(s: Session, week: date, zone: ZoneInfo, *, now: datetime) -> JSON:
    """The digest of the week starting on Monday `week`: its figures, the week
    before's, the change of the counts in percent, the backlog at `now` and the terms
    rising in customers' words."""
    if week.weekday() != 0:
        raise Invalid(f"{week} is not a Monday: a week starts on Monday")
    scope, before = Scope(week, week + WEEK), Scope(week - WEEK, week)
    figures, earlier = _figures(s, scope), _figures(s, before)
    return {"week": scope.json() | {"timezone": zone.key}, "figures": figures,
            "before": earlier,
            "change_percent": {k: _change(figures[k], earlier[k]) for k in _COUNTED},
            "backlog": _backlog(s, scope, now), "rising": _rising(s, scope, zone)}


def _figures(s: Session, scope: Scope) -> JSON:
    """One query per span for every figure: the whole-deployment cube."""
    n: dict[str, int] = dict.fromkeys((m.value for m in _WEEKLY), 0)
    waits, scores = Counter[int](), Counter[int]()
    for c in counts(s, scope, _WEEKLY):
        n[c.metric] += c.n
        if c.metric == Metric.FIRST_RESPONSE:
            waits[c.bucket] += c.n
        elif c.metric == Metric.CSAT_ANSWERED:
            scores[c.bucket] += c.n
    met, breached = n[Metric.SLA_MET], n[Metric.SLA_BREACHED]
    sent, answered = n[Metric.CSAT_SENT], n[Metric.CSAT_ANSWERED]
    first = times(waits)
    return {"conversations": n[Metric.CONVERSATIONS], "sla_met": met,
            "sla_breached": breached, "kept_percent": share_percent(met, met + breached),
            "first_responses": first["count"],
            "first_response_p50_seconds": first["p50_seconds"],
            "first_response_p90_seconds": first["p90_seconds"],
            "resolved": n[Metric.RESOLVED], "csat_sent": sent, "csat_answered": answered,
            "csat_response_percent": share_percent(answered, sent),
            "csat_average": round(sum(k * v for k, v in scores.items()) / answered, 2)
            if answered else None,
            "escalations": n[Metric.ESCALATED]}


def _change(now: int, before: int) -> int | None:
    return round(100 * (now - before) / before) if before else None


# Ages past a day: the backlog bands whose lower end is 24 hours or more.
_OLD = tuple(label for (low, _), (_, label) in pairwise(AGES)
             if low is not None and low >= 86400)


def _backlog(s: Session, scope: Scope, now: datetime) -> JSON:
    """What is not done at `now`, as the backlog report counts it."""
    found = backlog(s, scope, now)
    return {"at": iso(now), "total": found["total"],
            "older_than_24h": sum(found["ages"][label] for label in _OLD)}


def _rising(s: Session, scope: Scope, zone: ZoneInfo) -> list[JSON]:
    """The terms of new conversations rising most against the week before, over every
    language (inbox.desk.reports.recurring)."""
    found = recurring(s, scope, zone, top=RISING)
    terms = [{"term": t["term"], "language": language, "n": t["n"], "before": t["before"],
              "change_percent": t["change_percent"]}
             for language, kinds in found["languages"].items()
             for t in kinds["terms"]["rising"]]
    return sorted(terms, key=lambda t: (t["before"] - t["n"], t["term"]))[:RISING]


# ------------------------------------------------------------------ in the reader's words

@functools.lru_cache(maxsize=64)
def _locale(language: str) -> tuple[Locale, str]:
    """Babel's locale and the primary language code ("tl" is Babel's "fil")."""
    try:
        locale = Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        locale = Locale.parse("en")
    return locale, "tl" if locale.language == "fil" else locale.language


_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
NONE = "–"  # a figure nobody could measure (no first response, no survey answered)


class Words:
    """Numbers, times and dates as a reader of `language` writes them (CLDR through
    Babel, as inbox.lang.dates writes due times): Persian digits for Persian, the
    Buddhist-era year for Thai."""

    def __init__(self, language: str) -> None:
        self.locale, self.code = _locale(language)

    def _native(self, text: str) -> str:
        if self.code != "fa":
            return text
        return text.translate(_PERSIAN_DIGITS).replace("%", "\u066a")  # ٪, the Persian sign

    def number(self, value: float | None, pattern: str | None = None) -> str:
        if value is None:
            return NONE
        return self._native(format_decimal(value, pattern, locale=self.locale,
                                           numbering_system="default"))

    def percent(self, value: float | None, *, signed: bool = False) -> str:
        if value is None:
            return "" if signed else NONE
        pattern = "+#,##0%;-#,##0%" if signed else "#,##0.#%"
        return self._native(format_percent(value / 100, pattern, locale=self.locale,
                                           numbering_system="default"))

    def duration(self, seconds: float | None) -> str:
        """`2 h 15 min`, `30 h`, `4 d 6 h`: the two largest units (days past 72 h)."""
        if seconds is None:
            return NONE
        if seconds >= BEYOND:
            return "> " + self._unit(90, "day")
        s = int(seconds)
        parts = ((s // 86400, "day"), (s % 86400 // 3600, "hour")) if s >= 72 * 3600 \
            else ((s // 3600, "hour"), (s % 3600 // 60, "minute"), (s % 60, "second"))
        shown = [(n, unit) for n, unit in parts if n][:2]
        return " ".join(self._unit(n, unit) for n, unit in shown) or self._unit(0, "minute")

    def _unit(self, n: int, unit: str) -> str:
        return self._native(format_unit(n, f"duration-{unit}", length="short",
                                        locale=self.locale))

    def days(self, first: date, last: date) -> str:
        """`26 października – 1 listopada 2026`: a week as the language writes it."""
        text = format_interval(first, last, "yMMMMd", locale=self.locale)
        if self.code == "th":  # Thai readers count years from the Buddha
            for year in sorted({first.year, last.year}, reverse=True):
                text = text.replace(str(year), str(year + 543))
        return self._native(text)


def values(data: JSON, language: str, *, team_name: str,
           public_url: str = "") -> dict[str, object]:
    """What templates/digest/*.txt may use (templates/README.md), in `language`: the
    figures of `data` (`content`'s) as its readers write them, each a string."""
    words = Words(language)
    week = data["week"]
    since = date.fromisoformat(week["since"])
    link = urlencode({"since": week["since"], "until": week["until"]})
    return {
        "team_name": team_name, "language": language,
        "week": words.days(since, since + timedelta(days=6)),
        "week_start": week["since"], "timezone": week["timezone"],
        "figures": _shown(data["figures"], words), "before": _shown(data["before"], words),
        "change": {k: words.percent(v, signed=True) for k, v in data["change_percent"].items()},
        "backlog": words.number(data["backlog"]["total"]),
        "backlog_old": words.number(data["backlog"]["older_than_24h"]),
        "rising": [{"term": _term(t["term"]), "language": t["language"],
                    "n": words.number(t["n"]), "before": words.number(t["before"]),
                    "change": words.percent(t["change_percent"], signed=True)}
                   for t in data["rising"]],
        "reports_url": f"{public_url}/reports?{link}" if public_url else "",
    }


_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _term(text: str) -> str:
    """A customer's word as a line of our mail may hold it: one line, short, and no
    direction control that would turn the rest of the line around."""
    return one_line(_BIDI.sub("", text))[:60]


def _shown(f: JSON, words: Words) -> dict[str, str]:
    return {"conversations": words.number(f["conversations"]),
            "promise_kept": words.percent(f["kept_percent"]),
            "first_median": words.duration(f["first_response_p50_seconds"]),
            "first_p90": words.duration(f["first_response_p90_seconds"]),
            "resolved": words.number(f["resolved"]),
            "csat_average": words.number(f["csat_average"], "0.0#"),
            "csat_rate": words.percent(f["csat_response_percent"]),
            "escalations": words.number(f["escalations"])}


def render(renderer: Renderer, data: JSON, language: str, settings: Settings) -> Rendered:
    """The digest in `language` (its template, else the English one); TemplateError
    when it fails."""
    return renderer.render(KIND, CHANNEL, language, values(
        data, language, team_name=settings.name, public_url=settings.web.public_url))


def builtin(data: JSON, settings: Settings) -> Rendered:
    """The safe English text sent when a digest template fails: our own figures only."""
    v = values(data | {"rising": []}, "en", team_name=settings.name,
               public_url=settings.web.public_url)
    f, b = v["figures"], v["before"]
    assert isinstance(f, dict) and isinstance(b, dict)
    lines = [f"{label}: {f[key]} (the week before: {b[key]})" for key, label in (
        ("conversations", "New conversations"), ("promise_kept", "Promise kept"),
        ("first_median", "First response, median"), ("first_p90", "First response, p90"),
        ("resolved", "Resolved"), ("csat_average", "Satisfaction, average of 5"),
        ("csat_rate", "Surveys answered"), ("escalations", "Escalations"))]
    body = "\n".join([
        f"The week of {v['week']} at {settings.name}. The digest template failed, so "
        "this is the built-in text; the log says why.", "", *lines, "",
        f"Open now: {v['backlog']}, of them older than 24 hours: {v['backlog_old']}.",
        *([f"\nThe whole week: {v['reports_url']}"] if v["reports_url"] else [])])
    return Rendered("(built-in digest)", body + "\n", f"Weekly digest, {v['week']}")


# ------------------------------------------------------------------ sending

def recipients(s: Session) -> list[Agent]:
    """Who gets the digest: enabled supervisors and admins (those who may read the
    reports) with an e-mail address, by name."""
    found = s.scalars(sa.select(Agent).order_by(col(Agent.name)))
    return [a for a in found if can(a, Action.SEE_ALL_TEAMS) and a.email]


def due_week(now: datetime, settings: Settings) -> date | None:
    """The week whose digest is due at `now` (sent or not), if any."""
    r, zone = settings.reports, settings.report_zone
    week = last_week(now, zone)
    if not r.digest or now < due_at(week, r.digest_day, r.digest_hour, zone):
        return None
    return week


def pending(s: Session, now: datetime, settings: Settings) -> bool:
    """Whether a digest is due and not sent yet, as a look without a lock tells
    (`send_due` looks again, locked). The daemon asks this first, in a read-only
    transaction: on SQLite, rounds after the digest went then take no write lock."""
    week = due_week(now, settings)
    if week is None:
        return False
    stored = s.scalar(sa.select(col(Cursor.value)).where(*_where())) or ""
    return _sent(stored) < week


def send_due(s: Session, now: datetime, settings: Settings, renderer: Renderer) -> int:
    """Queue the weekly digest if it is due and not sent yet (see the module's
    docstring); how many were queued. In the caller's transaction."""
    week = due_week(now, settings)
    if week is None:
        return 0
    cursor = _cursor(s, now, wait=False)
    if cursor is None or _sent(cursor.value) >= week:
        return 0  # another daemon is at it, or it went
    return len(_queue(s, cursor, week, now=now, settings=settings, renderer=renderer))


def send(s: Session, week: date, now: datetime, settings: Settings,
         renderer: Renderer) -> list[str]:
    """Queue the digest of `week` (a Monday, the week ended) now, whatever the day
    (`inbox report digest --send`); those told as "email:ADDRESS". The daemon will not
    send that week again."""
    if week + WEEK > now.astimezone(settings.report_zone).date():
        raise Invalid(f"the week of {week} has not ended yet: its digest goes out after "
                      "it, on [reports] digest_day")
    cursor = _cursor(s, now, wait=True)
    assert cursor is not None
    return _queue(s, cursor, week, now=now, settings=settings, renderer=renderer)


def _queue(s: Session, cursor: Cursor, week: date, *, now: datetime, settings: Settings,
           renderer: Renderer) -> list[str]:
    """One digest per recipient, rendered once per language; the cursor moves on to
    `week` (never back) in the same transaction."""
    people, account = recipients(s), _account(settings)
    told: list[str] = []
    if account is None:
        log.warning("weekly digest of %s not sent: no [channels.email] account to send it "
                    "from", week)
    elif not people:
        log.info("weekly digest of %s: no supervisor or admin with an e-mail address", week)
    else:
        holder = _holder(s, cursor, account, now)
        data = content(s, week, settings.report_zone, now=now)
        texts: dict[str, Rendered] = {}
        for agent in people:
            assert agent.email is not None
            language = agent.language or settings.default_language
            if language not in texts:
                texts[language] = _rendered(s, holder, data, language, now=now,
                                            settings=settings, renderer=renderer)
            text = texts[language]
            enqueue(s.connection(), holder, Address(agent.email), text.body, kind=Kind.SYSTEM,
                    now=now, domain=settings.domain, subject=text.subject,
                    outbox_kind="notify", channel=CHANNEL, account=account)
            told.append(f"{CHANNEL}:{agent.email}")
        s.add(Event(conversation_id=holder.id, kind="digest.queued", created_at=now,
                    detail={"week": week.isoformat(), "notified": told}))
    _record(cursor, max(week, _sent(cursor.value)), _holder_id(cursor.value), now)
    return told


def _rendered(s: Session, holder: Conversation, data: JSON, language: str, *,
              now: datetime, settings: Settings, renderer: Renderer) -> Rendered:
    """The digest's template in `language`, else the built-in text (with a
    `digest.template-error` event): a typo must not cost the supervisors their week."""
    try:
        return render(renderer, data, language, settings)
    except TemplateError as exc:
        log.error("weekly digest uses the built-in text: %s", exc)
        s.add(Event(conversation_id=holder.id, kind=f"{KIND}.template-error", created_at=now,
                    detail={"channel": CHANNEL, "language": language, "error": str(exc)}))
        return builtin(data, settings)


def _account(settings: Settings) -> str | None:
    """The e-mail account notices come from ([sla] notify_from, else the first)."""
    accounts = settings.channels.get(CHANNEL, {})
    return settings.sla.notify_from.get(CHANNEL) or next(iter(accounts), None)


# ------------------------------------------------------------------ the cursor and the holder

def _where() -> tuple[sa.ColumnElement[bool], ...]:
    return (col(Cursor.channel) == _CURSOR[0], col(Cursor.account) == _CURSOR[1],
            col(Cursor.key) == _CURSOR[2])


def _sent(value: str) -> date:
    """The last week sent, from the cursor's value (date.min: none yet)."""
    text = value.partition(" ")[0]
    try:
        return date.fromisoformat(text)
    except ValueError:
        return date.min


def _holder_id(value: str) -> int | None:
    """The conversation the digests are kept in, from the cursor's value (None: none
    yet)."""
    parts = value.split(" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _record(cursor: Cursor, week: date, holder: int | None, now: datetime) -> None:
    cursor.value = f"{'-' if week == date.min else week.isoformat()} {holder or '-'}"
    cursor.updated_at = now


def _cursor(s: Session, now: datetime, *, wait: bool) -> Cursor | None:
    """The digest's cursor row, locked; None when another daemon holds it and we do
    not `wait` (PostgreSQL; SQLite's writers take turns anyway)."""
    where = _where()
    if s.scalar(sa.select(sa.func.count()).select_from(Cursor).where(*where)) == 0:
        insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" \
            else sqlite.insert
        s.execute(insert(Cursor).values(channel=_CURSOR[0], account=_CURSOR[1],
                                        key=_CURSOR[2], value="- -", updated_at=now)
                  .on_conflict_do_nothing())  # two daemons at once: one row
    q = sa.select(Cursor).where(*where).execution_options(populate_existing=True)
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=not wait)
    return s.scalar(q)


def _holder(s: Session, cursor: Cursor, account: str, now: datetime) -> Conversation:
    """The conversation the digests are kept in (see the module's docstring)."""
    found = _holder_id(cursor.value)
    conv = s.get(Conversation, found) if found is not None else None
    if conv is not None:
        return conv
    contact = Contact(name="Weekly digest", created_at=now)
    s.add(contact)
    s.flush()
    assert contact.id is not None
    conv = Conversation(channel=CHANNEL, account=account, contact_id=contact.id,
                        subject="Weekly digest to supervisors", status=Status.CLOSED,
                        team=SUPERVISORS, tags=[AUTOMATED], created_at=now, updated_at=now)
    s.add(conv)
    s.flush()
    _record(cursor, _sent(cursor.value), conv.id, now)
    return conv
