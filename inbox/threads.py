"""Which conversation a new message belongs to.

In order of trust: the channel's own reply chain (Message-ID / In-Reply-To / References
for e-mail, the replied-to message for chats), then a channel-native thread key (a
Telegram chat), then our own reference token `[#42-k7q2m]` in the subject or a
plus-address `support+42-k7q2m@...` (inbox.tokens: signed, so a customer cannot join
someone else's conversation by typing a number), then the reply chain read backwards (a
message that arrives after a reply to it joins the reply's conversation). Never by
subject alone: two customers writing "Invoice" are two conversations. A closed
conversation is never continued; a resolved one is reopened, unless the message gives a
reopen window (chats do) and the window has passed: then a new conversation starts.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.engine import Connection

from channels.base import Inbound
from inbox import store
from inbox.store import ConvState
from inbox.tokens import tokens_in
from inbox.vocab import Status


def find_conversation(db: store.Batch, inbound: Inbound, secret: str) -> ConvState | None:
    """The existing conversation this message continues, or None for a new one.

    Each way of finding one is tried in turn until one gives a conversation the message
    may continue: a chat reply to a message of a long-resolved conversation still lands
    in the chat's open conversation.
    """
    for conv_id in _candidates(db, inbound, secret):
        conv = _continuable(db.conn, db.load_conversation(conv_id), inbound)
        if conv is not None:
            return conv
    return None


def _candidates(db: store.Batch, inbound: Inbound, secret: str) -> Iterator[int]:
    conn = db.conn
    if inbound.references:
        found = store.conversation_by_references(conn, inbound.channel, inbound.references)
        if found is not None:
            yield found
    if inbound.thread_key is not None:
        found = store.conversation_by_thread_key(
            conn, inbound.channel, inbound.account, inbound.thread_key,
            resolved_too=inbound.reopen_window is not None)
        if found is not None:
            yield found
    texts = [inbound.subject or ""] + [a.address for a in inbound.recipients]
    yield from tokens_in(secret, texts)
    # Read backwards: this message arrived after a reply to it (a delayed mail, an
    # out-of-order import); it belongs with that reply.
    replied = db.replied_to(inbound.channel, inbound.external_id)
    if replied is not None:
        yield replied


def _continuable(conn: Connection, conv: ConvState | None,
                 inbound: Inbound) -> ConvState | None:
    """A closed conversation is finished for good; a follow-up starts a new one. So is a
    resolved one, for channels that give a reopen window, once the window has passed."""
    if conv is None or conv.status == Status.CLOSED:
        return None
    if conv.status == Status.RESOLVED and inbound.reopen_window is not None:
        assert conv.id is not None
        since = store.status_since(conn, conv.id) or conv.updated_at
        # Message times have whole seconds (chat dates, Date headers): compared at that
        # precision, a message from the second of the resolution counts as after it.
        if inbound.received_at - since.replace(microsecond=0) >= inbound.reopen_window:
            return None
    return conv
