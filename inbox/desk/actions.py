"""What agents do to a conversation: reply, note, assign, change status and language.

Each action is one function over an open session with `now` passed in, leaving an Event.
Replies go out through the outbox on the conversation's own channel.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from channels.base import Address, TextLimit
from inbox.core import tokens
from inbox.core.config import CsatSettings
from inbox.core.directory import Directory, check
from inbox.core.errors import Conflict, Invalid, NotFound
from inbox.core.vocab import MAIL_CHANNELS, Direction, Kind, Status
from inbox.csat import surveys
from inbox.lang.choose import AGENT
from inbox.outbox.enqueue import enqueue, reply_address
from inbox.sla import clock as sla
from inbox.store.models import Contact, Conversation, Event, Identity, Message

AUTO = "auto"  # the language argument that hands the choice back to detection


class ActionError(Invalid):
    """The action cannot be done; the message says why in the agent's terms."""


class NoConversation(ActionError, NotFound):
    """The conversation named does not exist."""


class TooLong(ActionError):
    """A reply longer than its channel takes in one message (and it does not split)."""


class ReplyCollision(Conflict):
    """Someone else replied after the newest message the agent had seen: sending now
    may answer the customer twice. `meanwhile` lists those replies (id, author, text,
    created_at); sending again without `seen_up_to` goes through."""

    def __init__(self, meanwhile: list[dict[str, object]]) -> None:
        self.meanwhile = meanwhile
        self.names = sorted({str(m["author"] or "someone") for m in meanwhile})
        super().__init__(f"{' and '.join(self.names)} replied meanwhile: send anyway?")


# Channels whose replies may copy others (Cc); a chat has no such thing.
CC_CHANNELS = frozenset({"email"})
MAX_CC = 20  # copies on one reply: more is a mailing, not an answer
# An address as mail servers take it: local@domain.tld, no spaces or brackets (any script).
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\".]+")
UNIT_WORDS = {"chars": "characters", "utf16": "characters (UTF-16 units)",
              "graphemes": "characters"}


def get_conversation(s: Session, conv_id: int, lock: bool = False) -> Conversation:
    conv = s.get(Conversation, conv_id, with_for_update=lock)
    if conv is None:
        raise NoConversation(f"no conversation {conv_id}")
    return conv


def reply(s: Session, conv_id: int, text: str, *, author: str, now: datetime,
          secret: str, domain: str, seen_up_to: int | None = None,
          cc: Iterable[str] = (),
          limits: Mapping[tuple[str, str], TextLimit] | None = None) -> Message:
    """Queue an agent's answer to the customer's latest message; stops the SLA clock.
    With `seen_up_to` (the newest message id the agent saw), a reply by someone else
    after it raises ReplyCollision instead. `cc`: addresses to copy (e-mail only);
    `limits`: the connectors' declared lengths, by (channel, account): a reply longer
    than a channel that does not split takes is refused."""
    # Locked (PostgreSQL; SQLite writers take turns anyway): two agents sending at
    # once are checked one after the other, so the second is asked.
    conv = get_conversation(s, conv_id, lock=seen_up_to is not None)
    if not text.strip():
        raise ActionError("the reply is empty")
    copies = cc_addresses(cc)
    if copies and conv.channel not in CC_CHANNELS:
        raise ActionError(f"a reply on {conv.channel} cannot copy anyone (Cc is for e-mail)")
    _within(text, conv, (limits or {}).get((conv.channel, conv.account)))
    if seen_up_to is not None:
        _no_reply_since(s, conv_id, seen_up_to, author)
    last = _last_inbound(s, conv_id)
    if last is None:
        raise ActionError(f"conversation {conv_id} has no customer message to answer")
    to = _recipient(s, conv, last)
    subject = reply_subject(conv, secret) if conv.channel in MAIL_CHANNELS else None
    message_id, _ = enqueue(s.connection(), conv, to, text, kind=Kind.AGENT, now=now,
                            domain=domain, subject=subject, in_reply_to=last.external_id,
                            references=(*last.references, last.external_id), author=author,
                            cc=[a for a in copies if a != to.address])
    assert message_id is not None  # a session's connection: written at once
    msg = s.get(Message, message_id)
    assert msg is not None
    stop = sla.stop_clock(conv, now)
    conv.updated_at = now
    detail: dict[str, object] = {"author": author, "to": to.address,
                                 "sla": stop.outcome.value if stop else None}
    if copies:
        detail["cc"] = msg.recipients[1:]
    if stop is not None:
        # `inbox report sla` reads response times from here, outcomes from sla.* events.
        detail.update({f"sla_{k}": v for k, v in stop.detail().items()})
        if stop.outcome == sla.SlaState.MET or stop.newly_breached:
            s.add(Event(conversation_id=conv.id, message_id=msg.id, created_at=now,
                        kind=f"sla.{stop.outcome}", detail={**stop.detail(), "by": author}))
    s.add(Event(conversation_id=conv.id, message_id=msg.id, kind="reply.queued",
                created_at=now, detail=detail))
    return msg


def cc_addresses(values: Iterable[str]) -> list[str]:
    """The addresses to copy, as typed: each value may hold several ("a@x.pl, Bob
    <b@y.com>"; commas, semicolons or lines between). Lower-cased, each once; a value
    that is no address, or more than MAX_CC of them, is refused (Invalid), naming it."""
    values = list(values)
    if sum(len(v) for v in values) > MAX_CC * 320:  # 20 addresses with their names
        raise ActionError(f"that is too much for a Cc (at most {MAX_CC} addresses)")
    found: list[str] = []
    for value in values:
        for typed in re.split(r"[,;\n]", value):
            piece = typed.strip()
            if not piece:
                continue
            # "Name <addr>" is read as mail clients write it; a bare address is taken
            # as typed (parseaddr would join "a@exam ple.com" into another address).
            addr = email.utils.parseaddr(piece)[1] if piece.endswith(">") else piece
            if len(addr) > 254 or not _ADDRESS.fullmatch(addr):
                raise ActionError(f"{piece!r} is not an e-mail address (Cc)")
            found.append(addr.lower())
    unique = list(dict.fromkeys(found))
    if len(unique) > MAX_CC:
        raise ActionError(f"at most {MAX_CC} addresses in Cc, not {len(unique)}")
    return unique


def _within(text: str, conv: Conversation, limit: TextLimit | None) -> None:
    """Refuse a reply longer than a channel that sends one message per reply takes,
    counted as the channel (and the reply box) counts."""
    if limit is None or limit.splits:
        return
    length = limit.count(text.strip())
    if length > limit.max:
        raise TooLong(f"the reply is {length} {UNIT_WORDS[limit.unit]} long; "
                          f"{conv.channel} takes at most {limit.max}")


def suggested_cc(s: Session, conv_id: int, ours: Collection[str]) -> list[str]:
    """Whom the customer copied on their latest message (its Cc), for the reply box to
    copy by default ("reply all"): never the customer, never one of `ours` (our
    accounts' and agents' addresses, lower-case), at most MAX_CC. Not the other To
    addresses: there our own address stands, under names we may not know (an
    alias, a forwarding list)."""
    last = _last_inbound(s, conv_id)
    if last is None or last.channel not in CC_CHANNELS:
        return []
    answered = reply_address(last.headers, Address(last.sender, last.sender_name)).address
    skip = {*ours, answered.lower(), last.sender.lower()}
    listed = email.utils.getaddresses([last.headers.get("cc", "")])
    found = [a.lower() for _, a in listed if _ADDRESS.fullmatch(a)]
    return [a for a in dict.fromkeys(found) if a not in skip][:MAX_CC]


def _no_reply_since(s: Session, conv_id: int, seen_up_to: int, author: str) -> None:
    found = s.scalars(sa.select(Message).where(
        col(Message.conversation_id) == conv_id, col(Message.id) > seen_up_to,
        col(Message.kind) == Kind.AGENT,
        sa.or_(col(Message.author).is_(None), col(Message.author) != author))
        .order_by(col(Message.id))).all()
    if found:
        raise ReplyCollision([{"id": m.id, "author": m.author, "text": m.text,
                               "created_at": m.created_at} for m in found])


def _last_inbound(s: Session, conv_id: int) -> Message | None:
    return s.scalars(sa.select(Message).where(
        col(Message.conversation_id) == conv_id,
        col(Message.direction) == Direction.IN,
        col(Message.kind) == Kind.CUSTOMER)  # not a bounce filed in the conversation
        .order_by(col(Message.created_at).desc(), col(Message.id).desc())
        .limit(1)).first()


def _recipient(s: Session, conv: Conversation, last: Message) -> Address:
    addr = reply_address(last.headers, Address(last.sender, last.sender_name))
    ident = s.scalars(sa.select(Identity).where(
        col(Identity.channel) == conv.channel,
        col(Identity.address) == addr.address)).first()
    if ident is not None and ident.unreachable:
        raise ActionError(f"{addr.address} cannot be reached on {conv.channel}: "
                          f"{ident.unreachable}")
    return addr


def reply_subject(conv: Conversation, secret: str) -> str:
    """The Subject of an e-mail reply: "Re: " once, and the signed reference."""
    assert conv.id is not None
    ref = tokens.reference(secret, conv.id)
    subject = conv.subject or "your message"
    if not subject.lower().startswith("re:"):
        subject = "Re: " + subject
    return subject if ref in subject else f"{subject} {ref}"


def note(s: Session, conv_id: int, text: str, *, author: str, now: datetime) -> Message:
    """An internal note: stored in the conversation, never sent."""
    conv = get_conversation(s, conv_id)
    msg = Message(conversation_id=conv.id, channel=conv.channel, account=conv.account,
                  external_id=f"note-{conv_id}-{now.timestamp()}-{author}",
                  direction=Direction.OUT, kind=Kind.NOTE, author=author, text=text,
                  created_at=now)
    s.add(msg)
    return msg


def assign(s: Session, conv_id: int, *, assignee: str | None, team: str | None,
           now: datetime, by: str, directory: Directory) -> Conversation:
    """Give the conversation to an agent and/or a team ("" takes it away). Names the
    directory does not know are refused (UnknownName) before anything changes."""
    check(directory, agents=[assignee] if assignee else [], teams=[team] if team else [])
    conv = get_conversation(s, conv_id)
    before = {"assignee": conv.assignee, "team": conv.team}
    if assignee is not None:
        conv.assignee = assignee or None
    if team is not None:
        conv.team = team or None
    conv.updated_at = now
    s.add(Event(conversation_id=conv.id, kind="assigned", created_at=now,
                detail={"before": before, "assignee": conv.assignee, "team": conv.team,
                        "by": by}))
    return conv


def set_status(s: Session, conv_id: int, status: Status, *, now: datetime, by: str,
               policies: sla.Policies, until: datetime | None = None,
               csat: CsatSettings | None = None) -> Conversation:
    """Change the status; the SLA clock follows (pending and snoozed pause it, open
    resumes it, resolved and closed drop it). A snooze `until` a time ends by itself.
    Resolved, the customer's survey is scheduled (inbox.csat) when `csat` asks for it."""
    if until is not None and status != Status.SNOOZED:
        raise ActionError("only a snooze has an end time (`until`)")
    if until is not None and until <= now:
        raise ActionError(f"cannot snooze until {until:%Y-%m-%d %H:%M} UTC: that is past")
    conv = get_conversation(s, conv_id)
    before = conv.status
    conv.status = status
    conv.updated_at = now
    change = sla.follow_status(conv, status, now, policies.of(conv), until)
    detail: dict[str, object] = {"from": before, "to": status.value, "by": by}
    if until is not None:
        detail["until"] = until.isoformat()
    if change is not None:
        detail["sla"] = change
        if change == "paused":
            detail["sla_left_seconds"] = conv.sla_left_seconds
    s.add(Event(conversation_id=conv.id, kind="status", created_at=now, detail=detail))
    if status == Status.RESOLVED and before != Status.RESOLVED and csat is not None:
        surveys.schedule(s, conv, csat, now)
    return conv


def set_language(s: Session, conv_id: int, language: str, *, served: Collection[str],
                 for_contact: bool, now: datetime, by: str) -> Conversation:
    """An agent's choice of the language a conversation is answered in; later
    detections never change it. `for_contact` makes it the contact's preference too (their
    next conversations start in it). `auto` hands the choice back to the pipeline: the
    next customer message chooses again (inbox.lang.choose)."""
    language = language.strip().lower()
    if language != AUTO and language not in served:
        raise ActionError(f"{language!r} is not a language this deployment serves: use "
                          f"{', '.join(sorted(served))} or {AUTO}")
    conv = get_conversation(s, conv_id)
    before = {"language": conv.language, "source": conv.language_source}
    if language == AUTO:
        conv.language_source = None  # keeps the language until a customer writes again
    else:
        conv.language, conv.language_source = language, AGENT
    contact = s.get(Contact, conv.contact_id) if for_contact else None
    if contact is not None:
        contact.language, contact.language_source = (
            (None, None) if language == AUTO else (language, AGENT))
    conv.updated_at = now
    s.add(Event(conversation_id=conv.id, kind="language", created_at=now,
                detail={"before": before, "language": conv.language,
                        "source": conv.language_source or "auto", "by": by,
                        "contact": for_contact}))
    return conv
