"""Which conversation a new message belongs to.

In order of trust: the channel's own reply chain (Message-ID / In-Reply-To / References
for e-mail, the replied-to message for chats), then a channel-native thread key (a
Telegram chat), then our own reference token `[#42-k7q2m]` in the subject or a
plus-address `support+42-k7q2m@...`. The token carries an HMAC of the conversation id,
so a customer cannot join someone else's conversation by typing a number. Never by
subject alone: two customers writing "Invoice" are two conversations.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from channels.base import Inbound
from inbox.models import Conversation, Message, Status

_TOKEN = re.compile(r"\[#(\d{1,12})-([a-z2-7]{5})\]", re.IGNORECASE)
_PLUS = re.compile(r"\+(\d{1,12})-([a-z2-7]{5})@", re.IGNORECASE)


def _signature(secret: str, conversation_id: int) -> str:
    mac = hmac.new(secret.encode(), f"conversation:{conversation_id}".encode(), hashlib.sha256)
    return base64.b32encode(mac.digest()).decode()[:5].lower()


def reference(secret: str, conversation_id: int) -> str:
    """The token we print in acks and subjects, e.g. `[#42-k7q2m]`."""
    return f"[#{conversation_id}-{_signature(secret, conversation_id)}]"


def plus_tag(secret: str, conversation_id: int) -> str:
    """The `+42-k7q2m` local-part suffix for a reply-to address."""
    return f"+{conversation_id}-{_signature(secret, conversation_id)}"


def tokens_in(secret: str, texts: Iterable[str]) -> list[int]:
    """Conversation ids whose valid signed token appears in any of `texts`."""
    found = []
    for text in texts:
        for pattern in (_TOKEN, _PLUS):
            for num, sig in pattern.findall(text):
                cid = int(num)
                if hmac.compare_digest(sig.lower(), _signature(secret, cid)):
                    found.append(cid)
    return found


def find_conversation(session: Session, inbound: Inbound, secret: str) -> Conversation | None:
    """The existing conversation this message continues, or None for a new one."""
    for finder in (_by_references, _by_thread_key):
        conv = finder(session, inbound)
        if conv is not None:
            return conv
    return _by_token(session, inbound, secret)


def _by_references(session: Session, inbound: Inbound) -> Conversation | None:
    if not inbound.references:
        return None
    rows = session.execute(
        sa.select(col(Message.external_id), col(Message.conversation_id)).where(
            col(Message.channel) == inbound.channel,
            col(Message.external_id).in_(inbound.references),
            col(Message.conversation_id).is_not(None),
        )
    ).all()
    by_id = {ext: conv for ext, conv in rows}
    # The nearest parent is last in the chain; prefer it when references disagree.
    for ref in reversed(inbound.references):
        if ref in by_id:
            return _continuable(session.get(Conversation, by_id[ref]))
    return None


def _by_thread_key(session: Session, inbound: Inbound) -> Conversation | None:
    if inbound.thread_key is None:
        return None
    conv = session.scalars(
        sa.select(Conversation)
        .where(
            col(Conversation.channel) == inbound.channel,
            col(Conversation.account) == inbound.account,
            col(Conversation.thread_key) == inbound.thread_key,
            col(Conversation.status).in_([Status.OPEN, Status.PENDING]),
        )
        .order_by(col(Conversation.id).desc())
        .limit(1)
    ).first()
    return conv


def _by_token(session: Session, inbound: Inbound, secret: str) -> Conversation | None:
    texts = [inbound.subject or ""] + [a.address for a in inbound.recipients]
    for cid in tokens_in(secret, texts):
        conv = _continuable(session.get(Conversation, cid))
        if conv is not None:
            return conv
    return None


def _continuable(conv: Conversation | None) -> Conversation | None:
    """A closed conversation is finished for good; a follow-up starts a new one."""
    if conv is None or conv.status == Status.CLOSED:
        return None
    return conv
