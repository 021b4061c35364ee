"""What the pipeline's steps share: the context built once per process, the `Work` one
message fills as it passes the steps, and the `Result` its caller reports after the commit.

Its own module so that the steps (threads, staff, bounces, edits, doubles) import these
types without importing the pipeline that calls them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy.engine import Connection

from channels.base import Inbound, RawParser
from inbox.core.config import AckSettings
from inbox.core.routing import RouteDecision, Router
from inbox.lang.choose import Detected, Detects
from inbox.lang.render import Renderer
from inbox.sla import clock as sla
from inbox.store import batch as store
from inbox.store.batch import ContactRef, ConvState
from inbox.store.blobs import BlobStore


@dataclass(frozen=True)
class PipelineContext:
    """Everything the steps need besides the message; built once, never global."""

    secret: str
    renderer: Renderer
    router: Router
    blobs: BlobStore
    sla: sla.Policies  # resolves each conversation's policy (priority, rule's choice)
    ack: AckSettings
    team_name: str = "Support"
    # (channel, account) -> the name the account answers with (Settings.account_name):
    # an e-mail account's From: display name, so the ack signs with the name it shows.
    account_names: Mapping[tuple[str, str], str] = field(default_factory=dict)
    our_addresses: frozenset[str] = frozenset()
    our_domain: str = "inbox.invalid"
    max_attachment_bytes: int = 25 * 1024 * 1024
    send_acks: bool = True  # False for backfills: store and route, acknowledge nobody
    # (channel, address) -> agent name, from `[agents]`: who answered a notification
    staff: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # A customer's same words again within this long are a re-send (inbox.ingest.doubles).
    repeat_window: timedelta = timedelta(minutes=15)
    # channel -> how to read its stored raw bytes again (bounce reports: their parts)
    parsers: Mapping[str, RawParser] = field(default_factory=dict)
    # (channel, account) of social-network accounts: acks there are posted in public,
    # so they never carry the conversation's reference token (whose link is a secret),
    # and anyone may answer a thread there, so threading asks who is part of it.
    public_accounts: frozenset[tuple[str, str]] = frozenset()
    # (channel, account) whose configuration says `public_ack = false`: no ack at all
    # (the SLA clock still runs), with an `ack.suppressed` event saying why.
    quiet_accounts: frozenset[tuple[str, str]] = frozenset()
    # Languages (inbox.lang.choose): what detection may answer, what nobody could tell,
    # and after how many agreeing detections a language becomes the contact's.
    detector: Detects | None = None  # None: no detection (the channel's hint decides)
    languages: frozenset[str] = frozenset({"th", "fa", "pl", "tl", "vi", "en"})
    default_language: str = "en"
    learn_after: int = 3
    # The business's zone: a due time is shown in it when the customer's is not known.
    zone: tzinfo = UTC


@dataclass
class Work:
    inbound: Inbound
    db: store.Batch
    ctx: PipelineContext
    now: datetime
    contact: ContactRef | None = None
    conversation: ConvState | None = None
    new_conversation: bool = False
    message_id: int | None = None
    decision: RouteDecision = field(default_factory=RouteDecision)
    outcome: str = "stored"
    acked: bool = False
    ack_suppressed: str | None = None  # the reason of the `ack.suppressed` event
    done: bool = False
    automated: str | None = None  # why a machine sent it (judge_automated), else None
    survey_answer: bool = False  # it answered the conversation's survey (inbox.csat)
    detection: Detected | None = None  # the language of the customer's new words

    @property
    def conn(self) -> Connection:
        return self.db.conn

    @property
    def key(self) -> store.MessageKey:
        return (self.inbound.channel, self.inbound.account, self.inbound.external_id)

    @property
    def conv(self) -> ConvState:
        assert self.conversation is not None, "step ordering: thread() comes first"
        return self.conversation

    def event(self, kind: str, **detail: object) -> None:
        self.db.add_event(kind, self.now, conversation_id=self.conv.id,
                          message_id=self.message_id, **detail)


@dataclass(frozen=True, slots=True)
class Result:
    """What became of one message: what the caller reports or logs after the commit."""

    external_id: str
    outcome: str  # "stored", "duplicate", "quarantined", "edited", "deleted"
    conversation_id: int | None
    message_id: int | None
    acked: bool = False
    channel: str = ""
    account: str = ""
    new_conversation: bool = False
    team: str | None = None  # the conversation's, after routing
    assignee: str | None = None
    ack_suppressed: str | None = None  # why no acknowledgement, when one was considered
    problems: tuple[str, ...] = ()  # why it was flagged or quarantined


Step = Callable[[Work], None]
