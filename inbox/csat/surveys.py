"""Surveys: scheduled when a conversation is resolved, sent when due, answered once.

A conversation is asked at most once, ever (one `survey` row per conversation): the row
is made at the first resolution, whether the survey is then sent or skipped, and says
why. Skipped: the channel is not asked (`[csat] channels`), a robot wrote it, nobody
answered it, or the contact was asked within `once_per_contact_days`. The survey waits
`delay_minutes`, and is cancelled if by then the conversation is no longer resolved or
the customer wrote again (a quick "thanks!" needs no survey after it).

An answer is a score 1-5 and maybe a comment: by a signed link (inbox.web.csat: the page
asks, a POST records) or by a reply that starts with the digit (the pipeline, which then
neither reopens the conversation nor starts an SLA clock). Only the first answer counts.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlmodel import col

from channels.base import Address
from inbox.core import tokens
from inbox.core.config import CsatSettings
from inbox.core.vocab import (
    AUTOMATED,
    MAIL_CHANNELS,
    NO_CSAT,
    Direction,
    Kind,
    Status,
    iso,
    template_channel,
)
from inbox.lang.render import Renderer, TemplateError
from inbox.outbox.enqueue import enqueue, reply_address
from inbox.store import batch as store
from inbox.store.models import Conversation, Event, Message, Survey

log = logging.getLogger(__name__)

JSON = dict[str, Any]
SCORES = range(1, 6)
# A reply that answers: the digit first (after spaces), alone or followed by something
# that is not a digit ("4", "5 thanks!", "3. slow but fine"), in any script's digits.
_REPLY = re.compile(r"^\s*([1-5])(?!\d)[\s.,:;!)/-]*(.*)$", re.DOTALL)
_DIGITS = str.maketrans("١٢٣٤٥۱۲۳۴۵๑๒๓๔๕", "123451234512345")


@dataclass(frozen=True)
class Asking:
    """What sending a survey needs (inbox.runtime builds it)."""

    settings: CsatSettings
    renderer: Renderer
    secret: str
    domain: str  # of our Message-IDs
    public_url: str  # of the desk; "" means no links, only "reply with a digit"
    names: dict[tuple[str, str], str]  # what each account signs with
    default_language: str = "en"


# ------------------------------------------------------------------ scheduling

def schedule(s: Session, conv: Conversation, settings: CsatSettings,
             now: datetime) -> Survey | None:
    """At a resolution: the conversation's survey, scheduled or skipped (with why);
    None when surveys are off or it has one already (never twice)."""
    if not settings.enabled or conv.id is None:
        return None
    if s.scalar(sa.select(col(Survey.id)).where(col(Survey.conversation_id) == conv.id)):
        return None
    why = _skip(s, conv, settings, now)
    survey = Survey(conversation_id=conv.id, contact_id=conv.contact_id, channel=conv.channel,
                    state="skipped" if why else "scheduled", reason=why,
                    language=conv.language,
                    due_at=now + timedelta(minutes=settings.delay_minutes), created_at=now)
    s.add(survey)
    s.add(Event(conversation_id=conv.id, kind="csat.skipped" if why else "csat.scheduled",
                created_at=now, detail={"reason": why} if why else {
                    "due_at": iso(survey.due_at)}))
    return survey


def _skip(s: Session, conv: Conversation, settings: CsatSettings, now: datetime) -> str | None:
    if conv.channel not in settings.channels:
        return f"surveys are not sent on {conv.channel} ([csat] channels)"
    if AUTOMATED in (conv.tags or []):
        return "a robot wrote it"
    if NO_CSAT in (conv.tags or []):
        return f"tagged {NO_CSAT} (a rule's skip_csat, or an agent)"
    if conv.first_response_at is None:
        return "nobody answered it"
    since = now - timedelta(days=settings.once_per_contact_days)
    asked = s.scalar(sa.select(sa.func.count()).select_from(Survey).where(
        col(Survey.contact_id) == conv.contact_id, col(Survey.sent_at) > since))
    if asked:
        return (f"the contact was asked within {settings.once_per_contact_days:g} days "
                "([csat] once_per_contact_days)")
    return None


# ------------------------------------------------------------------ sending

def send_due(s: Session, now: datetime, asking: Asking, limit: int = 100) -> int:
    """Send (queue in the outbox) the surveys due by `now`, or cancel those no longer
    wanted; how many were queued."""
    q = (sa.select(Survey).where(col(Survey.state) == "scheduled", col(Survey.due_at) <= now)
         .order_by(col(Survey.due_at)).limit(limit))
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    sent = 0
    for survey in s.scalars(q).all():
        conv = s.get(Conversation, survey.conversation_id)
        assert conv is not None
        why = _cancel(s, survey, conv)
        if why is None:
            why = _send(s, survey, conv, asking, now)
        if why is not None:
            survey.state, survey.reason = "cancelled", why
            s.add(Event(conversation_id=conv.id, kind="csat.cancelled", created_at=now,
                        detail={"reason": why}))
            continue
        sent += 1
    return sent


def _cancel(s: Session, survey: Survey, conv: Conversation) -> str | None:
    if conv.status != Status.RESOLVED:
        return f"the conversation is {conv.status} again"
    wrote = s.scalar(sa.select(sa.func.count()).select_from(Message).where(
        col(Message.conversation_id) == conv.id, col(Message.direction) == Direction.IN,
        col(Message.created_at) > survey.created_at))
    return "the customer wrote again" if wrote else None


def _send(s: Session, survey: Survey, conv: Conversation, asking: Asking,
          now: datetime) -> str | None:
    """Queue the survey; a reason instead when it cannot be (no address, a template
    that fails: a survey is not worth a built-in English text)."""
    last = _last_inbound(s, conv)
    if last is None:
        return "no message of the customer's to answer"
    survey.expires_at = now + timedelta(days=asking.settings.link_days)
    language = conv.language or asking.default_language
    try:
        rendered = asking.renderer.render("csat", template_channel(conv.channel), language,
                                          _context(survey, conv, last, asking))
    except TemplateError as exc:
        log.error("survey of conversation %s not sent: %s", conv.id, exc)
        return f"its template failed: {exc}"
    to = reply_address(last.headers or {}, Address(last.sender, last.sender_name))
    enqueue(s.connection(), conv, to, rendered.body, kind=Kind.SURVEY, now=now,
            domain=asking.domain, outbox_kind="csat",
            subject=rendered.subject if conv.channel in MAIL_CHANNELS else None,
            in_reply_to=last.external_id, references=tuple(last.references or ()))
    survey.state, survey.sent_at = "sent", now
    s.add(Event(conversation_id=conv.id, kind="csat.queued", created_at=now,
                detail={"expires_at": iso(survey.expires_at)}))
    return None


def _last_inbound(s: Session, conv: Conversation) -> Message | None:
    return s.scalars(sa.select(Message).where(
        col(Message.conversation_id) == conv.id, col(Message.direction) == Direction.IN,
        col(Message.kind) == Kind.CUSTOMER)
        .order_by(col(Message.created_at).desc(), col(Message.id).desc()).limit(1)).first()


def _context(survey: Survey, conv: Conversation, last: Message, asking: Asking) -> JSON:
    assert survey.id is not None and survey.expires_at is not None and conv.id is not None
    token = tokens.survey_token(asking.secret, survey.id,
                                int(survey.expires_at.timestamp()))
    base = asking.public_url.rstrip("/")
    return {"customer_name": last.sender_name, "subject": conv.subject,
            "reference": tokens.reference(asking.secret, conv.id),
            "account_name": asking.names.get((conv.channel, conv.account), ""),
            "links": [f"{base}/csat/{token}?score={n}" for n in SCORES] if base else [],
            "channel": conv.channel, "language": conv.language}


# ------------------------------------------------------------------ answers

class SurveyError(Exception):
    """A link that is not ours, has expired, or a survey answered already; `language`
    is the survey's when the link names one of ours (the refusal is said in it)."""

    def __init__(self, why: str, language: str | None = None) -> None:
        super().__init__(why)
        self.why, self.language = why, language  # why: invalid, expired, answered


def by_link(s: Session, secret: str, token: str, now: datetime, *,
            lock: bool = False) -> Survey:
    """The survey a link names, if it may still be answered (locked, to answer it);
    SurveyError otherwise."""
    found = tokens.read_survey_token(secret, token)
    survey = s.get(Survey, found[0], with_for_update=lock) if found else None
    if found is None or survey is None or survey.state not in ("sent", "answered"):
        raise SurveyError("invalid", survey.language if survey else None)
    if survey.state == "answered":
        raise SurveyError("answered", survey.language)
    if now.timestamp() > found[1]:
        raise SurveyError("expired", survey.language)
    return survey


def answer(s: Session, survey: Survey, score: int, comment: str, *, via: str,
           now: datetime) -> None:
    """Record the first answer (the caller checked it is the first)."""
    if score not in SCORES:
        raise ValueError(f"a score is 1 to 5, not {score}")
    survey.state, survey.score, survey.answered_at = "answered", score, now
    survey.comment, survey.answered_via = _comment(comment), via
    store.add_event(s.connection(), "csat.answered", now,
                    conversation_id=survey.conversation_id, score=score,
                    comment=survey.comment, via=via)


def parse_reply(text: str) -> tuple[int, str] | None:
    """A reply that answers a survey: (score, the rest as the comment); else None."""
    found = _REPLY.match(text.translate(_DIGITS))
    if found is None:
        return None
    return int(found[1]), found[2].strip()


def answer_by_reply(conn: Connection, conversation_id: int, text: str,
                    now: datetime) -> bool:
    """The pipeline's: whether this customer message answers the conversation's open
    survey (recorded here, in the ingest's transaction)."""
    parsed = parse_reply(text)
    if parsed is None:
        return False
    t = Survey.__table__  # type: ignore[attr-defined]
    row = conn.execute(sa.select(t.c.id, t.c.expires_at).where(
        t.c.conversation_id == conversation_id, t.c.state == "sent")).first()
    if row is None or (row.expires_at is not None and row.expires_at < now):
        return False
    score, comment = parsed[0], _comment(parsed[1])
    done = conn.execute(sa.update(t).where(t.c.id == row.id, t.c.state == "sent").values(
        state="answered", score=score, comment=comment, answered_at=now,
        answered_via="reply")).rowcount
    if done:
        store.add_event(conn, "csat.answered", now, conversation_id=conversation_id,
                        score=score, comment=comment, via="reply")
    return bool(done)


def _comment(text: str) -> str | None:
    return text.strip()[:2000] or None


def as_json(survey: Survey | None) -> JSON | None:
    """A conversation's survey as agents see it."""
    if survey is None:
        return None
    return {"state": survey.state, "reason": survey.reason, "score": survey.score,
            "comment": survey.comment, "answered_via": survey.answered_via,
            "due_at": iso(survey.due_at), "sent_at": iso(survey.sent_at),
            "answered_at": iso(survey.answered_at)}
