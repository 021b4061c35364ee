"""Ingest: every inbound message passes the same steps, atomically.

    dedupe -> contact -> thread -> store -> route -> acknowledge -> stamp SLA

Steps are plain functions in the ordered tuple `STEPS`; each reads and fills one `Work`
value and may end the run early (a duplicate ends it at once). A batch shares one
transaction with a SAVEPOINT per message: throughput does not cost a commit per message,
and a message that fails is rolled back alone, then stored raw and flagged for a human
("quarantined") so that nothing is ever dropped. Nothing is sent from here; an
acknowledgement is an Outbox row that the dispatcher sends after the commit.
"""

from __future__ import annotations

import email.utils
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from channels.base import Address, Inbound
from inbox import sla, threads
from inbox.ack import AckFacts, can_acknowledge
from inbox.blobs import BlobStore
from inbox.config import AckSettings
from inbox.models import (
    Attachment,
    Contact,
    Conversation,
    Cursor,
    Delivery,
    Direction,
    Event,
    Identity,
    Kind,
    Message,
    Outbox,
    Status,
)
from inbox.render import Renderer, TemplateError
from inbox.routing import RouteDecision, RouteFacts, Router

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineContext:
    """Everything the steps need besides the message; built once, never global."""

    secret: str
    renderer: Renderer
    router: Router
    blobs: BlobStore
    sla: sla.SlaPolicy
    ack: AckSettings
    team_name: str = "Support"
    our_addresses: frozenset[str] = frozenset()
    our_domain: str = "inbox.invalid"
    max_attachment_bytes: int = 25 * 1024 * 1024
    send_acks: bool = True  # False for backfills: store and route, acknowledge nobody


@dataclass
class Work:
    inbound: Inbound
    session: Session
    ctx: PipelineContext
    now: datetime
    identity: Identity | None = None
    contact: Contact | None = None
    conversation: Conversation | None = None
    new_conversation: bool = False
    message: Message | None = None
    decision: RouteDecision = field(default_factory=RouteDecision)
    outcome: str = "stored"
    acked: bool = False
    done: bool = False


@dataclass(frozen=True)
class Result:
    external_id: str
    outcome: str  # "stored", "duplicate", "quarantined"
    conversation_id: int | None
    message_id: int | None
    acked: bool = False


Step = Callable[[Work], None]


def dedupe(w: Work) -> None:
    i = w.inbound
    seen = w.session.scalar(
        sa.select(col(Message.id)).where(
            col(Message.channel) == i.channel,
            col(Message.account) == i.account,
            col(Message.external_id) == i.external_id,
        )
    )
    if seen is not None:
        w.outcome, w.done = "duplicate", True


def identify_contact(w: Work) -> None:
    w.identity, w.contact = find_or_create_contact(w.session, w.inbound.channel,
                                                   w.inbound.sender, w.now)


def thread(w: Work) -> None:
    conv = threads.find_conversation(w.session, w.inbound, w.ctx.secret)
    if conv is None:
        conv = _new_conversation(w)
    elif conv.status != Status.OPEN:
        w.session.add(Event(conversation_id=conv.id, kind="reopened", created_at=w.now,
                            detail={"from": conv.status, "by": w.inbound.external_id}))
        conv.status = Status.OPEN
    conv.updated_at = w.now
    w.conversation = conv


def _new_conversation(w: Work) -> Conversation:
    i = w.inbound
    assert w.contact is not None and w.contact.id is not None
    conv = Conversation(channel=i.channel, account=i.account, contact_id=w.contact.id,
                        subject=(i.subject or "").strip()[:500], language=i.language,
                        thread_key=i.thread_key, created_at=w.now, updated_at=w.now)
    w.session.add(conv)
    w.session.flush()
    w.new_conversation = True
    return conv


def store(w: Work) -> None:
    i, conv = w.inbound, w.conversation
    assert conv is not None
    raw_sha = w.ctx.blobs.put(i.raw) if i.raw is not None else None
    msg = Message(conversation_id=conv.id, channel=i.channel, account=i.account,
                  external_id=i.external_id, direction=Direction.IN, kind=Kind.CUSTOMER,
                  sender=i.sender.address, sender_name=i.sender.name,
                  recipients=[a.address for a in i.recipients], subject=i.subject,
                  text=i.text, html=i.html, references=list(i.references),
                  headers=dict(i.headers), raw_sha256=raw_sha, problems=list(i.problems),
                  created_at=i.received_at)
    w.session.add(msg)
    w.session.flush()
    w.message = msg
    _store_attachments(w, msg)
    if i.problems:
        w.session.add(Event(conversation_id=conv.id, message_id=msg.id, kind="flagged",
                            detail={"problems": list(i.problems)}, created_at=w.now))
        conv.tags = sorted({*conv.tags, "needs-attention"})


def _store_attachments(w: Work, msg: Message) -> None:
    assert msg.id is not None
    for a in w.inbound.attachments:
        fits = len(a.data) <= w.ctx.max_attachment_bytes
        digest = w.ctx.blobs.put(a.data) if fits else None
        w.session.add(Attachment(message_id=msg.id, filename=a.filename[:255],
                                 content_type=a.content_type, size=len(a.data), sha256=digest,
                                 content_id=a.content_id, inline=a.inline))


def route(w: Work) -> None:
    conv, contact = w.conversation, w.contact
    assert conv is not None and contact is not None
    facts = RouteFacts(first_message=w.new_conversation, contact_tags=tuple(contact.tags),
                       contact_vip=contact.vip)
    d = w.ctx.router.route(w.inbound, facts)
    w.decision = d
    if w.new_conversation:
        conv.team = d.team or conv.team
        conv.assignee = d.assignee or conv.assignee
        conv.priority = d.priority or conv.priority
        conv.sla_policy = d.sla_policy or conv.sla_policy
    if d.add_tags:
        conv.tags = sorted({*conv.tags, *d.add_tags})
    for hit in d.hits:
        w.session.add(Event(conversation_id=conv.id, message_id=_mid(w), kind="rule",
                            detail={"rule": hit.rule, "source": hit.source, "why": hit.why},
                            created_at=w.now))


def acknowledge(w: Work) -> None:
    if not w.ctx.send_acks:
        return
    conv, i = w.conversation, w.inbound
    assert conv is not None
    decision = can_acknowledge(_ack_facts(w))
    if decision.ok and i.problems:
        decision = decision.__class__(False, "the message could not be read reliably")
    if not decision.ok:
        w.session.add(Event(conversation_id=conv.id, message_id=_mid(w), created_at=w.now,
                            kind="ack.suppressed", detail={"reason": decision.reason}))
        return
    try:
        queue_ack(w)
    except TemplateError as exc:
        log.error("acknowledgement not sent for conversation %s: %s", conv.id, exc)
        w.session.add(Event(conversation_id=conv.id, message_id=_mid(w), created_at=w.now,
                            kind="ack.template-error", detail={"error": str(exc)}))


def _ack_facts(w: Work) -> AckFacts:
    conv, i, ctx = w.conversation, w.inbound, w.ctx
    assert conv is not None
    return AckFacts(
        sender=i.sender.address, headers=i.headers, external_id=i.external_id,
        unanswered=conv.first_response_at is None, conversation_acked=conv.acked,
        acks_to_sender_today=_acks_today(w.session, reply_address(i.headers, i.sender).address,
                                         w.now),
        daily_cap=ctx.ack.per_sender_daily_cap, our_addresses=ctx.our_addresses,
        our_domain=ctx.our_domain, enabled=ctx.ack.enabled,
        skipped_by_rule=w.decision.skip_ack,
    )


def _acks_today(session: Session, recipient: str, now: datetime) -> int:
    return session.scalar(
        sa.select(sa.func.count()).select_from(Outbox).where(
            col(Outbox.recipient) == recipient,
            col(Outbox.kind) == "ack",
            col(Outbox.created_at) > now - timedelta(days=1),
        )
    ) or 0


def queue_ack(w: Work) -> None:
    conv, i, ctx = w.conversation, w.inbound, w.ctx
    assert conv is not None and conv.id is not None
    sla.start_clock(conv, i.received_at, ctx.sla)  # the ack promises the due time
    context = {
        "customer_name": i.sender.name, "subject": conv.subject,
        "reference": threads.reference(ctx.secret, conv.id), "team_name": ctx.team_name,
        "due_at": _when(conv.sla_due_at), "channel": i.channel,
        "language": conv.language or ctx.ack.default_language,
    }
    kind = w.decision.ack_template or "ack"
    rendered = ctx.renderer.render(kind, i.channel, conv.language, context)
    subject = rendered.subject if i.channel == "email" else None
    enqueue(w.session, conv, reply_address(i.headers, i.sender), rendered.body,
            kind=Kind.AUTO_ACK, now=w.now, domain=ctx.our_domain, subject=subject,
            in_reply_to=i.external_id, references=(*i.references, i.external_id))
    conv.acked = w.acked = True
    w.session.add(Event(conversation_id=conv.id, message_id=_mid(w), created_at=w.now,
                        kind="ack.queued", detail={"template": rendered.name}))


def enqueue(session: Session, conv: Conversation, to: Address, text: str, *, kind: Kind,
            now: datetime, domain: str, subject: str | None = None,
            in_reply_to: str | None = None, references: Sequence[str] = (),
            author: str | None = None) -> Message:
    """Store an outgoing message and its Outbox row; the dispatcher sends it later."""
    assert conv.id is not None
    msg = Message(conversation_id=conv.id, channel=conv.channel, account=conv.account,
                  external_id=f"{uuid.uuid4().hex}@{domain}", direction=Direction.OUT,
                  kind=kind, sender="", recipients=[to.address], subject=subject, text=text,
                  references=[r for r in references if r][-20:], delivery=Delivery.QUEUED,
                  author=author, created_at=now,
                  headers={"in-reply-to": in_reply_to} if in_reply_to else {})
    session.add(msg)
    session.flush()
    assert msg.id is not None
    session.add(Outbox(message_id=msg.id, conversation_id=conv.id,
                       kind="ack" if kind == Kind.AUTO_ACK else "reply", channel=conv.channel,
                       account=conv.account, recipient=to.address, next_attempt_at=now,
                       created_at=now))
    return msg


def stamp_sla(w: Work) -> None:
    conv = w.conversation
    assert conv is not None
    sla.start_clock(conv, w.inbound.received_at, w.ctx.sla)


STEPS: tuple[Step, ...] = (dedupe, identify_contact, thread, store, route, acknowledge,
                           stamp_sla)


def ingest(session: Session, inbound: Inbound, ctx: PipelineContext, now: datetime) -> Result:
    """Run one message through STEPS inside the caller's transaction."""
    w = Work(inbound, session, ctx, now)
    for step in STEPS:
        step(w)
        if w.done:
            break
    conv_id = w.conversation.id if w.conversation else None
    return Result(inbound.external_id, w.outcome, conv_id, _mid(w), acked=w.acked)


def ingest_batch(session: Session, inbounds: Iterable[Inbound], ctx: PipelineContext,
                 now: datetime, cursor: tuple[str, str, str] | None = None) -> list[Result]:
    """Ingest many messages in the caller's open transaction, one SAVEPOINT each.

    `cursor` is (channel, account, value): it is saved in the same transaction, so the
    connector's position moves exactly when the messages are committed.
    """
    results = [_ingest_guarded(session, inbound, ctx, now) for inbound in inbounds]
    if cursor is not None:
        save_cursor(session, *cursor, now=now)
    return results


def _ingest_guarded(session: Session, inbound: Inbound, ctx: PipelineContext,
                    now: datetime) -> Result:
    try:
        with session.begin_nested():
            return ingest(session, inbound, ctx, now)
    except Exception as exc:  # a bug or bad data must not cost the message or the batch
        log.exception("ingest failed for %s/%s %s; quarantining", inbound.channel,
                      inbound.account, inbound.external_id)
        with session.begin_nested():
            return quarantine(session, inbound, ctx, now, exc)


def quarantine(session: Session, inbound: Inbound, ctx: PipelineContext, now: datetime,
               exc: Exception) -> Result:
    """Keep a message the pipeline could not handle: raw bytes, a flag, a conversation."""
    _, contact = find_or_create_contact(session, inbound.channel, inbound.sender, now)
    assert contact.id is not None
    conv = Conversation(channel=inbound.channel, account=inbound.account,
                        contact_id=contact.id, subject=(inbound.subject or "")[:500],
                        tags=["needs-attention"], created_at=now, updated_at=now)
    session.add(conv)
    session.flush()
    problem = f"processing failed: {type(exc).__name__}: {exc}"[:1000]
    msg = Message(conversation_id=conv.id, channel=inbound.channel, account=inbound.account,
                  external_id=inbound.external_id, direction=Direction.IN,
                  kind=Kind.CUSTOMER, sender=inbound.sender.address,
                  sender_name=inbound.sender.name, subject=inbound.subject, text=inbound.text,
                  raw_sha256=ctx.blobs.put(inbound.raw) if inbound.raw else None,
                  problems=[*inbound.problems, problem], created_at=inbound.received_at)
    session.add(msg)
    session.flush()
    session.add(Event(conversation_id=conv.id, message_id=msg.id, kind="quarantined",
                      detail={"error": problem}, created_at=now))
    sla.start_clock(conv, inbound.received_at, ctx.sla)
    return Result(inbound.external_id, "quarantined", conv.id, msg.id)


def find_or_create_contact(session: Session, channel: str, sender: Address,
                           now: datetime) -> tuple[Identity, Contact]:
    address = sender.address or "(unknown sender)"
    ident = session.scalars(
        sa.select(Identity).where(col(Identity.channel) == channel,
                                  col(Identity.address) == address)
    ).first()
    if ident is not None:
        contact = session.get(Contact, ident.contact_id)
        assert contact is not None
        if sender.name and not contact.name:
            contact.name = sender.name
        return ident, contact
    contact = Contact(name=sender.name, created_at=now)
    session.add(contact)
    session.flush()
    assert contact.id is not None
    ident = Identity(contact_id=contact.id, channel=channel, address=address,
                     name=sender.name)
    session.add(ident)
    return ident, contact


def save_cursor(session: Session, channel: str, account: str, value: str, *,
                now: datetime, key: str = "") -> None:
    row = session.get(Cursor, (channel, account, key))
    if row is None:
        session.add(Cursor(channel=channel, account=account, key=key, value=value,
                           updated_at=now))
    else:
        row.value, row.updated_at = value, now


def reply_address(headers: Mapping[str, str], sender: Address) -> Address:
    """Where answers go: Reply-To when the customer set one, else the sender."""
    reply_to = headers.get("reply-to")
    if reply_to:
        name, addr = email.utils.parseaddr(reply_to)
        if "@" in addr:
            return Address(addr.lower(), name or sender.name)
    return sender


def _when(value: datetime | None) -> str:
    return value.strftime("%A %d %B %Y, %H:%M UTC") if value else "soon"


def _mid(w: Work) -> int | None:
    return w.message.id if w.message else None
