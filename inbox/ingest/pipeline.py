"""Ingest: every inbound message passes the same steps, atomically.

    (storable) -> edit -> dedupe -> staff reply -> contact -> automated? -> bounce
         -> thread -> detect language -> store -> unseen edit? -> choose language
         -> route -> acknowledge -> stamp SLA -> save

Steps are plain functions in the ordered tuple `STEPS`; each reads and fills one `Work`
value and may end the run early (a duplicate or a chat edit ends it at once). The SQL
lives in `inbox.store.batch` (SQLAlchemy Core: this is the hot path). A batch shares one
transaction, so throughput does not cost a commit per message, yet each message is
atomic: one that fails is rolled back alone, then stored raw and flagged for a human
("quarantined") so that nothing is ever dropped (see `ingest_batch`). Nothing is sent
from here; an acknowledgement is an Outbox row that the dispatcher sends after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from channels.base import Address, Inbound
from inbox.core import tokens
from inbox.core.routing import Notice, RouteDecision, RouteFacts
from inbox.core.vocab import (
    AUTOMATED,
    MAIL_CHANNELS,
    Delivery,
    Direction,
    Kind,
    Status,
    template_channel,
)
from inbox.csat import surveys
from inbox.ingest import doubles, threads
from inbox.ingest.ack import (
    AckDecision,
    AckFacts,
    automatic,
    can_acknowledge,
    parts_of,
)
from inbox.ingest.bounces import record_bounce
from inbox.ingest.edits import apply_edit, note_unseen_edit, unseen_edit
from inbox.ingest.staff import record_staff_reply
from inbox.ingest.storable import clean, storable
from inbox.ingest.work import PipelineContext, Result, Step, Work
from inbox.lang.choose import ContactLanguage, choose, learn
from inbox.lang.dates import when, zone_from_date_header
from inbox.lang.names import given_name
from inbox.lang.quoting import new_words
from inbox.lang.render import TemplateError, builtin
from inbox.outbox.enqueue import enqueue, reply_address
from inbox.sla import clock as sla
from inbox.store import batch as store
from inbox.store.batch import ContactRef, ConvState
from inbox.store.blobs import offload

log = logging.getLogger(__name__)

UNKNOWN_SENDER = "(unknown sender)"


def dedupe(w: Work) -> None:
    """Stop at a message stored before: under this account, or, where ids are global
    (e-mail), under another account; that one is recorded as `also-received`."""
    if w.db.message_exists(w.key) or doubles.received_elsewhere(w):
        w.outcome, w.done = "duplicate", True


def identify_contact(w: Work) -> None:
    w.contact = find_or_create_contact(w.db, w.inbound.channel, w.inbound.sender, w.now)


def judge_automated(w: Work) -> None:
    """Decide once whether a machine sent the message: a robot's message is stored and
    shown, never acknowledged, never starts an SLA clock nor reopens a conversation.

    A message we could not read is not judged: it is flagged for a person anyway, and a
    robot mistaken for a person costs an agent a look, never a mail loop (no ack).
    """
    i = w.inbound
    if not i.problems:
        w.automated = automatic(i.sender.address, i.headers, i.subject, parts_of(i.attachments))


def thread(w: Work) -> None:
    found = threads.find_conversation(w)
    conv = found.conversation or _surveyed_chat(w)
    if conv is None:
        conv = _new_conversation(w)
    elif w.survey_answer or (conv.status == Status.RESOLVED and _answers_survey(w, conv)):
        w.survey_answer = True  # "4, thanks": the answer to our survey, not a new question
    elif conv.status != Status.OPEN and not w.automated:  # a robot joins, quietly
        w.db.add_event("reopened", w.now, conversation_id=conv.id,
                       by=w.inbound.external_id, previous=conv.status)
        conv.status = Status.OPEN
    conv.updated_at = w.now
    if w.inbound.attributes:
        conv.attributes = {**(conv.attributes or {}), **w.inbound.attributes}
    w.conversation = conv
    threads.record(w, found)


def _answers_survey(w: Work, conv: ConvState) -> bool:
    """Whether this message answers the conversation's survey (then recorded)."""
    return not w.automated and conv.id is not None and surveys.answer_by_reply(
        w.conn, conv.id, new_words(w.inbound.text), w.now)


def _surveyed_chat(w: Work) -> ConvState | None:
    """A chat's message after its conversation was resolved starts a new one (the
    reopen window), unless it is the answer to that conversation's survey: "5"."""
    i = w.inbound
    if i.thread_key is None or surveys.parse_reply(i.text) is None:
        return None
    cid = store.conversation_by_thread_key(w.conn, i.channel, i.account, i.thread_key,
                                           resolved_too=True)
    conv = w.db.load_conversation(cid) if cid is not None else None
    if conv is None or conv.status != Status.RESOLVED or not _answers_survey(w, conv):
        return None
    w.survey_answer = True
    return conv


def _new_conversation(w: Work) -> ConvState:
    i = w.inbound
    assert w.contact is not None
    conv = ConvState(channel=i.channel, account=i.account, contact_id=w.contact.id,
                     subject=title(i.subject), language=i.language,
                     thread_key=i.thread_key, created_at=w.now, updated_at=w.now,
                     tags=[AUTOMATED] if w.automated else [])
    w.db.save_conversation(conv)  # the id is needed for the reference token
    w.new_conversation = True
    return conv


def title(subject: str | None) -> str:
    """A conversation's title: one line (a decoded Subject may hold line breaks), bounded."""
    return " ".join((subject or "").split())[:500]


def store_message(w: Work) -> None:
    i = w.inbound = offload(w.inbound, w.ctx.blobs, w.ctx.max_attachment_bytes)
    conv_id = w.conv.id
    assert conv_id is not None  # thread() saved it
    w.db.before_message_in(conv_id)
    w.message_id = store.insert(
        w.conn, store.message, conversation_id=conv_id, channel=i.channel,
        account=i.account, external_id=i.external_id, direction=Direction.IN,
        kind=_kind(w), sender=i.sender.address, sender_name=i.sender.name,
        recipients=[a.address for a in i.recipients], subject=i.subject, text=i.text,
        html=i.html, references=list(i.references), headers=dict(i.headers),
        raw_sha256=i.raw_sha256, problems=list(i.problems), delivery=Delivery.NONE,
        created_at=i.received_at, language=w.detection.language if w.detection else None,
        language_confidence=w.detection.confidence if w.detection else None)
    w.db.saw(w.key)
    if i.references:
        w.db.add_references(w.message_id, conv_id, i.channel, i.references)
    if i.attachments:
        w.db.add_attachments(store.attachment_rows(w.message_id, i.attachments))
    if i.problems:
        w.event("flagged", problems=list(i.problems))
        w.conv.tags = sorted({*(w.conv.tags or ()), "needs-attention"})
    if i.reachable and store.clear_unreachable(w.conn, i.channel, i.sender.address):
        w.event("reachable", address=i.sender.address, why="the customer wrote to us again")


def _kind(w: Work) -> Kind:
    """A robot answering in a customer's conversation (an out-of-office to our reply) is a
    system message there: an agent's next reply must go to the customer, not to it."""
    return Kind.SYSTEM if w.automated and not w.new_conversation else Kind.CUSTOMER


def detect_language(w: Work) -> None:
    """What language the customer's new words are in (kept on the message for audit).
    A robot's words are not asked: they would teach the contact a robot's language."""
    detector, i = w.ctx.detector, w.inbound
    if detector is None or w.automated:
        return
    w.detection = detector.detect(i.text, i.subject, subject_is_ours=not w.new_conversation)


def choose_language(w: Work) -> None:
    """The language the conversation is answered in, and where it came from
    (inbox.lang.choose); the contact learns from a confident detection."""
    conv, contact, ctx = w.conv, w.contact, w.ctx
    assert contact is not None
    known = ContactLanguage(contact.language, contact.language_source,
                            contact.last_language, contact.last_language_count)
    detected = w.detection.language if w.detection else None
    choice = choose(conversation=(conv.language, conv.language_source), contact=known,
                    detected=detected, hint=w.inbound.language, served=ctx.languages,
                    default=ctx.default_language)
    learned = learn(known, detected, ctx.learn_after)
    if learned != known:
        w.contact = replace(contact, language=learned.preferred,
                            language_source=learned.preferred_source,
                            last_language=learned.last, last_language_count=learned.last_count)
        w.db.set_contact_language(w.contact)
    if (choice.language, choice.source) == (conv.language, conv.language_source):
        return
    conv.language, conv.language_source = choice.language, choice.source
    d = w.detection
    w.event("language", language=choice.language, source=choice.source,
            detected=d.language if d else None,
            confidence=round(d.confidence, 3) if d else None, why=d.reason if d else None)


def route(w: Work) -> None:
    conv, contact = w.conv, w.contact
    assert contact is not None
    facts = RouteFacts(first_message=w.new_conversation, contact_tags=contact.tags,
                       contact_vip=contact.vip,
                       count_open=lambda: w.db.open_conversations(contact.id, conv.id),
                       language=conv.language, language_source=conv.language_source or "")
    d = w.ctx.router.route(w.inbound, facts)
    w.decision = d
    if w.new_conversation:  # once a conversation exists, agents own these fields
        conv.team = d.team or conv.team
        conv.assignee = _named_agent(w, d) or _pick_agent(w, d) or conv.assignee
        conv.priority = d.priority or conv.priority
        conv.sla_policy = d.sla_policy or conv.sla_policy
    if d.add_tags or d.remove_tags:
        conv.tags = sorted({*(conv.tags or ()), *d.add_tags} - set(d.remove_tags))
    for hit in d.hits:
        w.event("rule", rule=hit.rule, source=hit.source, why=hit.why)
    if d.over_budget:  # routed by what matched before the time for rules ran out
        over = d.over_budget
        w.event("rules.over-budget", rule=over.rule, source=over.source, why=over.why)
    if d.hits:
        w.event("routed", **d.summary())
    # Spam closes a new conversation, never a customer's open one that a rule happens to
    # call spam now (it gets the tag, for a human to judge).
    if d.close_as_spam and w.new_conversation:
        conv.status = Status.CLOSED
        w.event("status", status=Status.CLOSED, by="rules", reason="spam")
    for notice in d.notify:
        notify(w, notice)


def _named_agent(w: Work, d: RouteDecision) -> str | None:
    """The agent a rule names, unless an admin has disabled them since the rule was
    written: the conversation then waits for the team (or anyone), not for nobody."""
    if not d.assignee or not store.is_disabled(w.conn, d.assignee):
        return d.assignee
    w.event("assigned", assignee=None, by="rules", reason=f"agent {d.assignee} is disabled")
    return None


def _pick_agent(w: Work, d: RouteDecision) -> str | None:
    if not d.assign_mode:
        return None
    w.db.write_conversations()  # least-loaded counts assignments made earlier in the batch
    agent = store.pick_agent(w.conn, d.assign_mode, d.assign_team or "", d.assign_pool,
                             w.now)
    w.event("assigned", assignee=agent, team=d.assign_team, how=d.assign_mode, by="rules",
            **({} if agent else {"reason": "no available agent in the team"}))
    return agent


def notify(w: Work, n: Notice) -> None:
    """Queue a rule's notification (to an agent or a team address) through the outbox."""
    conv, i, ctx = w.conv, w.inbound, w.ctx
    assert conv.id is not None
    context = {
        "rule": n.rule, "conversation_id": conv.id, "subject": conv.subject,
        "reference": tokens.reference(ctx.secret, conv.id), "channel": i.channel,
        "customer_name": i.sender.name, "customer_address": i.sender.address,
        "team": conv.team or "", "assignee": conv.assignee or "",
        "priority": conv.priority, "excerpt": i.text.strip()[:500],
        "team_name": ctx.team_name,
    }
    try:
        rendered = ctx.renderer.render(n.template, n.channel,
                                       n.language or ctx.default_language, context)
    except TemplateError as exc:  # the agent is still told, in the built-in words
        log.error("notification of rule %r uses the built-in text: %s", n.rule, exc)
        w.event("notify.template-error", rule=n.rule, error=str(exc))
        rendered = builtin(n.template, context)
    enqueue(w.db, conv, Address(n.recipient), rendered.body, kind=Kind.SYSTEM, now=w.now,
            domain=ctx.our_domain, subject=rendered.subject if n.channel == "email" else None,
            outbox_kind="notify", channel=n.channel, account=n.account)
    w.event("notify.queued", rule=n.rule, to=f"{n.channel}:{n.recipient}",
            template=rendered.name)


def acknowledge(w: Work) -> None:
    if not w.ctx.send_acks:
        return
    decision = (AckDecision(False, "an answer to our survey") if w.survey_answer
                else can_acknowledge(_ack_facts(w)))
    if decision.ok and w.inbound.problems:
        decision = AckDecision(False, "the message could not be read reliably")
    if decision.ok and w.inbound.backfill:
        decision = AckDecision(False, "history from before the channel was connected")
    if decision.ok and not w.inbound.acknowledge:
        decision = AckDecision(False, "the system that sent it asked for none")
    if decision.ok and unseen_edit(w):
        decision = AckDecision(False, "an edit of an earlier message, not a new one")
    if decision.ok and (w.inbound.channel, w.inbound.account) in w.ctx.quiet_accounts:
        decision = AckDecision(False, "public_ack = false: this account does not answer "
                                      "in public")
    if not decision.ok:
        w.ack_suppressed = decision.reason
        w.event("ack.suppressed", reason=decision.reason)
        return
    queue_ack(w)


def _ack_facts(w: Work) -> AckFacts:
    conv, i, ctx = w.conv, w.inbound, w.ctx
    to = reply_address(i.headers, i.sender).address
    return AckFacts(
        sender=i.sender.address, headers=i.headers, external_id=i.external_id,
        unanswered=conv.first_response_at is None, conversation_acked=conv.acked,
        acks_to_sender_today=w.db.acks_today(to, w.now - timedelta(days=1)),
        daily_cap=ctx.ack.per_sender_daily_cap, our_addresses=ctx.our_addresses,
        our_domain=ctx.our_domain, enabled=ctx.ack.enabled,
        skipped_by_rule=w.decision.skip_ack, subject=i.subject, parts=parts_of(i.attachments),
    )


def queue_ack(w: Work) -> None:
    conv, i, ctx = w.conv, w.inbound, w.ctx
    assert conv.id is not None
    sla.start_clock(conv, i.received_at, _sla_policy(w))  # the ack promises the due time
    language = conv.language or ctx.default_language
    # The due time in the customer's zone when their mail's Date says it, else ours.
    zone = zone_from_date_header(i.headers.get("date")) or ctx.zone
    context = {
        "customer_name": i.sender.name, "subject": conv.subject,
        "customer_given_name": given_name(i.sender.name, language),
        "reference": "" if (i.channel, i.account) in ctx.public_accounts
                     else tokens.reference(ctx.secret, conv.id),
        "team_name": ctx.team_name,
        "account_name": ctx.account_names.get((i.channel, i.account), ctx.team_name),
        "due_at": when(conv.sla_due_at, language, zone) if conv.sla_due_at else "",
        "channel": i.channel, "language": language,
    }
    try:
        rendered = ctx.renderer.render(w.decision.ack_template or "ack",
                                       template_channel(i.channel), conv.language, context,
                                       fallback="ack")
    except TemplateError as exc:  # the customer is still acknowledged, in safe words
        log.error("acknowledgement of conversation %s uses the built-in text: %s",
                  conv.id, exc)
        w.event("ack.template-error", error=str(exc))
        rendered = builtin("ack", context)
    to = reply_address(i.headers, i.sender)
    w.db.acked(to.address)
    enqueue(w.db, conv, to, rendered.body,
            kind=Kind.AUTO_ACK, now=w.now, domain=ctx.our_domain,
            subject=rendered.subject if i.channel in MAIL_CHANNELS else None,
            in_reply_to=i.external_id, references=(*i.references, i.external_id))
    conv.acked = w.acked = True
    w.event("ack.queued", template=rendered.name)


def stamp_sla(w: Work) -> None:
    """Start the clock at the customer's message (or resume a paused one); a robot's
    message starts nothing, and a person writing after robots makes the conversation work."""
    conv = w.conv
    if w.automated:
        w.event("automated", reason=w.automated, status=conv.status,
                effect="no acknowledgement, no SLA clock, status kept")
        return
    if AUTOMATED in (conv.tags or ()):
        conv.tags = [t for t in conv.tags or () if t != AUTOMATED]
        w.event("automated.cleared", by=w.inbound.sender.address,
                why="a person wrote after the robots")
    if conv.status == Status.CLOSED or w.survey_answer:  # nobody owes an answer
        return
    conv.snoozed_until = None  # the customer wrote: the snooze is over (thread() reopened)
    sla.start_clock(conv, w.inbound.received_at, _sla_policy(w))
    if w.inbound.backfill:  # deadlines that passed before we knew are not news
        sla.settle_silently(conv, w.now)


def _sla_policy(w: Work) -> sla.SlaPolicy:
    """The conversation's policy: its priority's and the rule-chosen policy's overrides."""
    return w.ctx.sla.of(w.conv)


def save(w: Work) -> None:
    w.db.save_conversation(w.conv)


STEPS: tuple[Step, ...] = (apply_edit, dedupe, record_staff_reply, identify_contact,
                           judge_automated, record_bounce, thread, detect_language,
                           store_message, note_unseen_edit, choose_language, route,
                           acknowledge, stamp_sla, save)


def ingest(db: store.Batch, inbound: Inbound, ctx: PipelineContext, now: datetime) -> Result:
    """Run one message through STEPS inside the caller's transaction."""
    w = Work(inbound, db, ctx, now)
    for step in STEPS:
        step(w)
        if w.done:
            break
    conv = w.conversation
    return Result(inbound.external_id, w.outcome, conv.id if conv else None, w.message_id,
                  acked=w.acked, channel=inbound.channel, account=inbound.account,
                  new_conversation=w.new_conversation, team=conv.team if conv else None,
                  assignee=conv.assignee if conv else None, ack_suppressed=w.ack_suppressed,
                  problems=w.inbound.problems)


def ingest_batch(conn: Connection, inbounds: Iterable[Inbound], ctx: PipelineContext,
                 now: datetime, cursor: tuple[str, str, str] | None = None) -> list[Result]:
    """Ingest many messages in the caller's open transaction, each one atomically.

    The whole batch first runs under one SAVEPOINT with its lookups prefetched
    (`store.Batch`); if any message raises, that is rolled back and the batch is run
    again with a SAVEPOINT per message and no cache, so the failing one is quarantined
    alone. (Blob writes are idempotent, so the second run is harmless; the common case
    pays a few statements per batch instead of per message.)

    `cursor` is (channel, account, value): it is saved in the same transaction, so the
    connector's position moves exactly when the messages are committed.
    """
    items = [storable(i) for i in inbounds]  # before the prefetch: it reads stored keys
    try:
        with conn.begin_nested():
            db = store.Batch(conn)
            _prefetch(db, items, now)
            results = [ingest(db, inbound, ctx, now) for inbound in items]
            db.flush()
    except Exception:
        results = [_ingest_guarded(conn, inbound, ctx, now) for inbound in items]
    if cursor is not None:
        store.save_cursor(conn, *cursor, now=now)
    return results


def _prefetch(db: store.Batch, items: list[Inbound], now: datetime) -> None:
    # Another account's copy of one of these, ingested at this moment, commits first.
    store.lock_ids(db.conn, [(i.channel, i.external_id) for i in items
                             if i.channel in doubles.GLOBAL_ID_CHANNELS])
    db.prefetch(keys=[(i.channel, i.account, i.external_id) for i in items],
                senders=[(i.channel, i.sender.address or UNKNOWN_SENDER) for i in items],
                recipients=[reply_address(i.headers, i.sender).address for i in items],
                references=[r for i in items for r in i.references],
                since=now - timedelta(days=1))


def _ingest_guarded(conn: Connection, inbound: Inbound, ctx: PipelineContext,
                    now: datetime) -> Result:
    try:
        with conn.begin_nested():
            return ingest(store.Batch(conn), inbound, ctx, now)
    except Exception as exc:  # a bug or bad data must not cost the message or the batch
        log.exception("ingest failed for %s/%s %s; quarantining", inbound.channel,
                      inbound.account, inbound.external_id)
        problem = clean(f"processing failed: {type(exc).__name__}: {exc}")[:1000]
    try:
        with conn.begin_nested():
            return quarantine(conn, inbound, ctx, now, problem)
    except Exception:  # even the plain row failed: keep the bytes and the bare facts
        log.exception("quarantine failed for %s/%s %s; storing it bare", inbound.channel,
                      inbound.account, inbound.external_id)
        with conn.begin_nested():
            return quarantine(conn, _bare(inbound), ctx, now, problem)


def quarantine(conn: Connection, inbound: Inbound, ctx: PipelineContext, now: datetime,
               problem: str) -> Result:
    """Keep a message the pipeline could not handle: raw bytes, a flag, a conversation.

    It writes only values `storable` made safe, so message content cannot make it fail
    too: a message that cannot be stored must still let the cursor move past it.
    """
    inbound = storable(inbound)
    contact = find_or_create_contact(store.Batch(conn), inbound.channel, inbound.sender, now)
    conv = ConvState(channel=inbound.channel, account=inbound.account, contact_id=contact.id,
                     subject=title(inbound.subject), tags=["needs-attention"],
                     created_at=now, updated_at=now)
    sla.start_clock(conv, inbound.received_at, ctx.sla.of(conv))
    store.save_conversation(conn, conv)
    # Only the essentials, not store_message's full row: whatever broke the pipeline may
    # be in the headers or references, and the raw bytes keep all of it anyway.
    message_id = store.insert(
        conn, store.message, conversation_id=conv.id, channel=inbound.channel,
        account=inbound.account, external_id=inbound.external_id, direction=Direction.IN,
        kind=Kind.CUSTOMER, sender=inbound.sender.address, sender_name=inbound.sender.name,
        subject=inbound.subject, text=inbound.text, recipients=[], references=[], headers={},
        raw_sha256=offload(inbound, ctx.blobs, ctx.max_attachment_bytes).raw_sha256,
        problems=[*inbound.problems, problem], delivery=Delivery.NONE,
        created_at=inbound.received_at)
    store.add_event(conn, "quarantined", now, conversation_id=conv.id,
                    message_id=message_id, error=problem)
    return Result(inbound.external_id, "quarantined", conv.id, message_id,
                  channel=inbound.channel, account=inbound.account, new_conversation=True,
                  problems=(*inbound.problems, problem))


def _bare(inbound: Inbound) -> Inbound:
    """The least of a message worth keeping: who, which one, and its bytes."""
    return Inbound(channel=inbound.channel, account=inbound.account,
                   external_id=inbound.external_id, sender=inbound.sender,
                   received_at=inbound.received_at, raw=inbound.raw,
                   raw_sha256=inbound.raw_sha256, problems=inbound.problems)


def find_or_create_contact(db: store.Batch, channel: str, sender: Address,
                           now: datetime) -> ContactRef:
    address = sender.address or UNKNOWN_SENDER
    found = db.contact(channel, address)
    if found is None:
        return db.new_contact(channel, address, sender.name, now)
    if sender.name and not found.name:
        return db.name_contact(channel, address, found, sender.name)
    return found

