"""The conversation store's tables.

One person (Contact) may write from several channels (Identity). A Conversation belongs
to one channel and one contact and holds Messages in both directions; every send leaves
through an Outbox row; every decision leaves an Event. Times are timezone-aware UTC in
Python and stored as naive UTC, so SQLite and PostgreSQL behave the same.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from inbox.core.vocab import Delivery, OutboxState, Role, Status


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database (SQLite keeps no zone)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _time(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_type=sa.JSON, nullable=False)


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = ""
    tags: list[str] = _json(list)
    vip: bool = False
    created_at: datetime = _time()
    # The contact's preferred language (inbox.lang.choose): set by an agent ("agent") or
    # learned from confident detections that agree ("learned"); None: none yet.
    language: str | None = Field(default=None, max_length=16)
    language_source: str | None = Field(default=None, max_length=16)
    # The last confidently detected language and how many detections in a row agreed.
    last_language: str | None = Field(default=None, max_length=16)
    last_language_count: int = 0


class Identity(SQLModel, table=True):
    """A contact's address on one channel; (channel, address) names one person."""

    __table_args__ = (sa.UniqueConstraint("channel", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    channel: str
    address: str
    name: str = ""
    unreachable: str | None = None  # why sends to this address cannot succeed


class Conversation(SQLModel, table=True):
    __table_args__ = (
        # The queue and the SLA sweep read open work by due time; this index answers both.
        sa.Index("ix_conversation_status_due", "status", "sla_due_at"),
        # The sweep reads only conversations whose next SLA transition is due.
        sa.Index("ix_conversation_sla_next", "sla_next_at"),
        # `inbox sla`: running clocks past their warning point, without a scan.
        sa.Index("ix_conversation_status_warn", "status", "sla_warn_at"),
        # The queue orders paused clocks (pending, snoozed) by the time they have left.
        sa.Index("ix_conversation_status_left", "status", "sla_left_seconds"),
        # A report's figure lists the conversations behind it: those started that day.
        sa.Index("ix_conversation_created", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str
    account: str
    contact_id: int = Field(foreign_key="contact.id", index=True)
    subject: str = ""
    status: str = Status.OPEN
    priority: str = "normal"
    team: str | None = None
    assignee: str | None = None
    tags: list[str] = _json(list)
    # What the channel told us about how the customer came, e.g. {"start": "order-1234"}
    # from a Telegram deep link; shown to agents, kept across messages.
    attributes: dict[str, str] = _json(dict)
    language: str | None = None
    # Where `language` came from: agent, contact, detected, history, channel, default.
    language_source: str | None = Field(default=None, max_length=16)
    thread_key: str | None = Field(default=None, index=True)
    sla_policy: str = "default"
    # When the oldest customer message still waiting for a human arrived; None = answered.
    awaiting_since: datetime | None = _time(nullable=True)
    sla_due_at: datetime | None = _time(nullable=True)
    sla_warn_at: datetime | None = _time(nullable=True)
    sla_state: str | None = None
    # When the sweep must next look: sla_state changes, or a snooze ends.
    sla_next_at: datetime | None = _time(nullable=True)
    # A paused clock (pending, snoozed): since when, and the working time it had left
    # (negative: overdue). Running clocks have neither; they have sla_due_at.
    sla_paused_at: datetime | None = _time(nullable=True)
    sla_left_seconds: float | None = None
    snoozed_until: datetime | None = _time(nullable=True)
    first_response_at: datetime | None = _time(nullable=True)
    acked: bool = False
    created_at: datetime = _time()
    updated_at: datetime = _time()


class Message(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("channel", "account", "external_id", name="uq_message_external"),
        # Threading looks up a parent by its id across accounts of one channel.
        sa.Index("ix_message_channel_external", "channel", "external_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    channel: str
    account: str
    external_id: str
    direction: str
    kind: str
    sender: str = ""
    sender_name: str = ""
    recipients: list[str] = _json(list)
    subject: str | None = None
    text: str = ""
    html: str | None = None
    references: list[str] = _json(list)
    headers: dict[str, str] = _json(dict)
    raw_sha256: str | None = None
    problems: list[str] = _json(list)
    delivery: str = Delivery.NONE
    author: str | None = None  # the agent who wrote an outgoing reply or note
    # A customer message's raw language detection, kept for audit (None: unknown).
    language: str | None = Field(default=None, max_length=16)
    language_confidence: float | None = None
    created_at: datetime = _time()
    sent_at: datetime | None = _time(nullable=True)


class MessageRef(SQLModel, table=True):
    """A message our customer's message replies to, by its external id: read backwards,
    so that a message arriving after its replies joins their conversation."""

    __tablename__ = "message_ref"
    __table_args__ = (sa.Index("ix_message_ref_ref", "ref", "channel"),)
    message_id: int = Field(foreign_key="message.id", primary_key=True)
    ref: str = Field(primary_key=True)
    channel: str


class Attachment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    filename: str
    content_type: str
    size: int
    sha256: str  # of the content: identifies it, finds it, dedupes it
    # True: the bytes are in the blob store under sha256. False: they are inside the
    # message's raw bytes (e-mail), or were over the size limit for a channel without raw.
    stored: bool = False
    content_id: str | None = None
    inline: bool = False


class Outbox(SQLModel, table=True):
    __table_args__ = (
        sa.Index("ix_outbox_due", "state", "next_attempt_at"),
        sa.Index("ix_outbox_recipient", "recipient", "kind", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # None for a webhook delivery (channel "webhook"), which carries `payload` instead.
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    kind: str
    channel: str
    account: str
    recipient: str
    state: str = OutboxState.PENDING
    attempts: int = 0
    next_attempt_at: datetime = _time()
    claimed_until: datetime | None = _time(nullable=True)
    # The instance id of the daemon that claimed the row (inbox.store.liveness): when that
    # daemon is known dead, the row goes again at once instead of after the lease.
    claimed_by: str | None = Field(default=None, max_length=32)
    last_error: str | None = None
    created_at: datetime = _time()
    sent_at: datetime | None = _time(nullable=True)
    payload: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON, nullable=True)
    response: str | None = None  # what the far end last answered (webhooks)


class Cursor(SQLModel, table=True):
    channel: str = Field(primary_key=True)
    account: str = Field(primary_key=True)
    key: str = Field(primary_key=True, default="")
    value: str
    updated_at: datetime = _time()


class Event(SQLModel, table=True):
    """An entry in the trail that answers "why did this happen?"."""

    # `inbox report` reads one kind of event over a time range.
    __table_args__ = (sa.Index("ix_event_kind_created", "kind", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    kind: str
    detail: dict[str, Any] = _json(dict)
    created_at: datetime = _time()


class Escalation(SQLModel, table=True):
    """An agent asked a supervisor to look at a conversation (docs/desk.md "Escalating").

    At most one is open (`handled_at` None) per conversation: escalating again while
    one is open adds its reason to `more` instead. Rows stay after they are handled, so
    reports can count who escalated what, when, why, and who handled it when."""

    __table_args__ = (
        # The one open escalation of a conversation, and the supervisors' list of open
        # ones: a partial index holds only the open few, however many conversations.
        sa.Index("ix_escalation_open", "conversation_id", unique=True,
                 sqlite_where=sa.text("handled_at IS NULL"),
                 postgresql_where=sa.text("handled_at IS NULL")),
        # Reports read escalations over a time range.
        sa.Index("ix_escalation_created", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    escalated_by: str  # the agent's name
    supervisor: str | None = None  # the one asked; None: every supervisor
    reason: str
    # Reasons added while it was open: [{"by": name, "at": ISO time, "reason": text}].
    more: list[dict[str, str]] = _json(list)
    created_at: datetime = _time()
    handled_at: datetime | None = _time(nullable=True)
    handled_by: str | None = None


class Team(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)  # what rules, `inbox assign` and conversations name
    created_at: datetime = _time()


class Agent(SQLModel, table=True):
    """A person who answers customers (docs/agents.md): signs in to the desk by e-mail
    and password, is assigned and notified by name."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    # Lowercased. None only for agents copied from inbox.toml without an address.
    email: str | None = Field(default=None, unique=True)
    role: str = Role.AGENT
    # argon2id (PHC string); None: cannot sign in until `inbox agent passwd`.
    password_hash: str | None = None
    enabled: bool = True  # a disabled agent cannot sign in and is assigned no new work
    away: bool = False  # left out of round-robin and least-loaded assignment
    telegram: str | None = None  # a chat id, for notifications through the bot
    # The language staff notices reach this agent in; None: the deployment's default.
    language: str | None = Field(default=None, max_length=16)
    created_at: datetime = _time()


class ApiToken(SQLModel, table=True):
    """A program acting as an agent over the HTTP API (docs/api.md), with that agent's
    role. Only a SHA-256 of the token is kept: it is 256 random bits, so a slow hash
    (argon2, for passwords people choose) would buy nothing and cost every request."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=16)  # the token's start, for lists and logs
    agent_id: int = Field(foreign_key="agent.id", index=True)
    name: str = Field(default="", max_length=200)
    created_at: datetime = _time()
    expires_at: datetime | None = _time(nullable=True)  # None: until revoked
    last_used_at: datetime | None = _time(nullable=True)  # noted at most once a minute
    revoked_at: datetime | None = _time(nullable=True)


class ApiRequest(SQLModel, table=True):
    """An API call made with an Idempotency-Key, and its answer: the same key again
    gets the same answer, and the reply behind it is never sent twice."""

    __tablename__ = "api_request"
    __table_args__ = (sa.UniqueConstraint("agent_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agent.id")
    key: str = Field(max_length=255)
    fingerprint: str = Field(max_length=64)  # SHA-256 of method, path and body
    status: int
    body: dict[str, Any] = _json(dict)
    created_at: datetime = _time(index=True)


class TeamMember(SQLModel, table=True):
    """An agent in a team, at a place in its round-robin order."""

    __tablename__ = "team_member"
    team_id: int = Field(foreign_key="team.id", primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", primary_key=True, index=True)
    position: int = 0


class AgentSession(SQLModel, table=True):
    """A signed-in browser. Only a hash of its token is kept, so a copy of the database
    signs nobody in; the server ends a session by setting `revoked_at`."""

    __tablename__ = "agent_session"
    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(unique=True, max_length=64)
    agent_id: int = Field(foreign_key="agent.id", index=True)
    created_at: datetime = _time()
    last_seen_at: datetime = _time()
    expires_at: datetime = _time()  # the absolute end, whatever the activity
    revoked_at: datetime | None = _time(nullable=True)
    address: str = ""
    user_agent: str = ""


class SignInFailure(SQLModel, table=True):
    """A refused sign-in, counted per account and per address for the lockout; kept in
    the database so that every daemon of a deployment counts the same failures."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (
        sa.Index("ix_sign_in_failure_email", "email", "created_at"),
        sa.Index("ix_sign_in_failure_address", "address", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    email: str  # as typed, lowercased: unknown addresses are counted too
    address: str
    created_at: datetime = _time()


class Presence(SQLModel, table=True):
    """An agent with a conversation open in the desk, and whether they are typing
    (docs/desk.md "Working together"). A row lives while the page says so (every ~10 s);
    in the database, so every daemon of a deployment shows the same people."""

    __table_args__ = (sa.Index("ix_presence_expires", "expires_at"),)
    conversation_id: int = Field(foreign_key="conversation.id", primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", primary_key=True)
    typing: str = ""  # the box being written in ("reply", "note"), or ""
    typing_until: datetime | None = _time(nullable=True)
    expires_at: datetime = _time()


class Draft(SQLModel, table=True):
    """What an agent has typed into a conversation's reply or note box and not sent."""

    agent_id: int = Field(foreign_key="agent.id", primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", primary_key=True)
    box: str = Field(primary_key=True)  # "reply" or "note"
    text: str = ""
    updated_at: datetime = _time()


class CannedAnswer(SQLModel, table=True):
    """A saved reply agents insert by typing "/" and its name (docs/canned.md): one
    version per team and language. "" (not NULL) stands for every team and for the
    fallback version, because NULLs are distinct in a unique constraint on both
    databases and two fallback versions of one name must collide."""

    __tablename__ = "canned_answer"
    __table_args__ = (sa.UniqueConstraint("name", "team", "language",
                                          name="uq_canned_answer_version"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=48)  # lowercased; what is typed after "/"
    team: str = Field(default="", max_length=64)  # "": every team
    language: str = Field(default="", max_length=16)  # "": the fallback version
    body: str = ""  # a Jinja2 template, checked when saved (inbox.desk.canned)
    changed_by: str = ""  # the agent (or "cli") who saved this version last
    changed_at: datetime = _time()


class Webhook(SQLModel, table=True):
    """Another system told of changes as they happen (docs/api.md "Webhooks"): each
    event it wants is an outbox row of channel `webhook`, account `name`, signed with
    `secret` (Standard Webhooks) and retried by the outbox's one loop."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)  # its outbox account: never renamed
    url: str = Field(max_length=2000)
    events: list[str] = _json(list)  # of inbox.outbox.webhooks.EVENTS
    secret: str = Field(max_length=100)  # "whsec_" + base64: needed to sign, so kept
    enabled: bool = True
    # Where in the store's event stream it began: told of what happens after, only.
    after_event: int = 0
    after_message: int = 0
    created_by: str = Field(default="", max_length=200)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class Survey(SQLModel, table=True):
    """Asking a customer how it went (inbox.csat, docs/csat.md): at most one per
    conversation, ever; scheduled when it is resolved, sent after a delay unless the
    customer wrote again, answered once by a signed link or a reply with a digit."""

    __table_args__ = (sa.Index("ix_survey_due", "state", "due_at"),
                      sa.Index("ix_survey_contact", "contact_id", "sent_at"),
                      # The CSAT report's comments: the latest answers of a period.
                      sa.Index("ix_survey_answered", "answered_at"))
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", unique=True)
    contact_id: int = Field(foreign_key="contact.id")
    channel: str = Field(max_length=32)
    # scheduled, sent, answered; cancelled (the customer wrote again) or skipped (why)
    state: str = Field(max_length=16)
    reason: str | None = None  # of a skip or a cancel, in words
    language: str | None = Field(default=None, max_length=16)
    due_at: datetime = _time()
    sent_at: datetime | None = _time(nullable=True)
    expires_at: datetime | None = _time(nullable=True)  # of the links
    answered_at: datetime | None = _time(nullable=True)
    score: int | None = None  # 1 to 5
    comment: str | None = None
    answered_via: str | None = Field(default=None, max_length=16)  # link, reply
    created_at: datetime = _time()


class ReportCount(SQLModel, table=True):
    """The reports' figures, kept as they happen (inbox.desk.tally) so that a report
    over a year of a million conversations reads a few thousand rows, never the events.

    One row counts `n` occurrences of `metric` in a local day (`grain` "d"), week
    ("w", `period` its Monday) or month ("m", its first day), for one combination of
    team, channel and agent. `cube` says which of the three the row keeps apart (bits 1
    team, 2 channel, 4 agent; a dimension not kept is ""): every occurrence is counted
    in all eight cubes, so "by agent within one team" and "overall" are each a range
    read of one cube. `bucket` is 0 for counts, a score (1-5) for surveys, and for times
    the upper end of the step the time fell in (inbox.desk.tally.STEPS), from which
    medians and p90 are read."""

    __tablename__ = "report_count"
    metric: str = Field(primary_key=True, max_length=24)
    cube: int = Field(primary_key=True)
    grain: str = Field(primary_key=True, max_length=1)
    period: date = Field(primary_key=True)
    team: str = Field(primary_key=True)
    channel: str = Field(primary_key=True)
    agent: str = Field(primary_key=True)
    bucket: int = Field(primary_key=True)
    n: int = 0


class ReportTerm(SQLModel, table=True):
    """What keeps coming back (inbox.desk.tally, docs/reports.md "Recurring problems"):
    how many new conversations in a local day, week or month (`grain` "d", "w", "m")
    spoke of a
    `term` in `language` (`kind` "term" or "phrase"), carried a tag ("tag") or were hit
    by a routing rule ("rule"; those two with `language` "")."""

    __tablename__ = "report_term"
    kind: str = Field(primary_key=True, max_length=8)
    language: str = Field(primary_key=True, max_length=16)
    grain: str = Field(primary_key=True, max_length=1)
    period: date = Field(primary_key=True)
    term: str = Field(primary_key=True)
    n: int = 0
