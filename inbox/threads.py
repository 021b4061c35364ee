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

from sqlalchemy.engine import Connection

from channels.base import Inbound
from inbox import store
from inbox.models import Status
from inbox.store import ConvState

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


def find_conversation(conn: Connection, inbound: Inbound, secret: str) -> ConvState | None:
    """The existing conversation this message continues, or None for a new one."""
    conv_id = None
    if inbound.references:
        conv_id = store.conversation_by_references(conn, inbound.channel, inbound.references)
    if conv_id is None and inbound.thread_key is not None:
        conv_id = store.conversation_by_thread_key(conn, inbound.channel, inbound.account,
                                                   inbound.thread_key)
    if conv_id is not None:
        return _continuable(store.load_conversation(conn, conv_id))
    texts = [inbound.subject or ""] + [a.address for a in inbound.recipients]
    for cid in tokens_in(secret, texts):
        conv = _continuable(store.load_conversation(conn, cid))
        if conv is not None:
            return conv
    return None


def _continuable(conv: ConvState | None) -> ConvState | None:
    """A closed conversation is finished for good; a follow-up starts a new one."""
    if conv is None or conv.status == Status.CLOSED:
        return None
    return conv
