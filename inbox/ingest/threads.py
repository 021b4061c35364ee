"""Which conversation a new message belongs to.

In order of trust: the channel's own reply chain (Message-ID / In-Reply-To / References
for e-mail, the replied-to message for chats; the nearest reference wins), then a
channel-native thread key (a Telegram chat), then our own reference token `[#42-k7q2m]`
in the subject or a plus-address `support+42-k7q2m@...` (inbox.core.tokens: signed, so a
customer cannot join someone else's conversation by typing a number), then the reply
chain read backwards (a message that arrives after a reply to it joins the reply's
conversation), then a re-send of a recent message (inbox.ingest.doubles). Never by subject
alone: two customers writing "Invoice" are two conversations. A closed conversation is
never continued; a resolved one is reopened, unless the message gives a reopen window
(chats do) and the window has passed: then a new conversation starts.

A Message-ID is no secret: anyone who saw a mail can cite it, and anyone may answer a
public post. So where ids are global (`inbox.ingest.doubles.GLOBAL_ID_CHANNELS`: e-mail)
and on public social accounts (`PipelineContext.public_accounts`: Mastodon, Bluesky) the
reply chain (either way) joins a conversation only for someone who is part of it: its
contact, an address that sent or was sent a message in it (To/Cc), or one of our agents.
(A private chat's reply can only be written inside the chat, so there it proves
presence.) Anyone else who
cites it gets a conversation of their own, and both carry a `linked` event naming the
other, so an agent can merge them when they do belong together.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from channels.base import Inbound
from inbox.core.tokens import tokens_in
from inbox.core.vocab import Status
from inbox.ingest.doubles import GLOBAL_ID_CHANNELS, repeat_of
from inbox.store import batch as store
from inbox.store.batch import ConvState

if TYPE_CHECKING:
    from inbox.ingest.work import Work


@dataclass
class Found:
    """What threading found: the conversation to continue (None: a new one), and why."""

    conversation: ConvState | None = None
    # A conversation the reply chain named whose thread the sender is not part of.
    refused: int | None = None
    repeat_of: str | None = None  # the external id of the message this one repeats


def find_conversation(w: Work) -> Found:
    """The existing conversation this message continues, or none for a new one.

    Each way of finding one is tried in turn until one gives a conversation the message
    may continue: a chat reply to a message of a long-resolved conversation still lands
    in the chat's open conversation.
    """
    found = Found()
    for conv_id, via in _candidates(w):
        conv = _continuable(w.conn, w.db.load_conversation(conv_id), w.inbound)
        if conv is None:
            continue
        if via == _CHAIN and not _part_of(w, conv):
            found.refused = found.refused or conv.id
            continue
        found.conversation = conv
        return found
    repeat = repeat_of(w)
    if repeat is not None:
        found.conversation = w.db.load_conversation(repeat[0])
        found.repeat_of = repeat[1]
    return found


def record(w: Work, found: Found) -> None:
    """The events that say how the message was threaded, once its conversation is known."""
    conv_id, i = w.conv.id, w.inbound
    if found.repeat_of is not None:
        w.db.add_event("repeat", w.now, conversation_id=conv_id, of=found.repeat_of,
                       message=i.external_id)
    if found.refused is not None and found.refused != conv_id:
        why = (f"{i.sender.address or 'the sender'} cited a message of the other "
               "conversation without being part of it")
        for here, there in ((conv_id, found.refused), (found.refused, conv_id)):
            w.db.add_event("linked", w.now, conversation_id=here, conversation=there,
                           message=i.external_id, why=why)


_CHAIN, _KEY, _TOKEN = "reply chain", "thread key", "token"


def _candidates(w: Work) -> Iterator[tuple[int, str]]:
    db, inbound, conn = w.db, w.inbound, w.conn
    if inbound.references:
        found = store.conversation_by_references(conn, inbound.channel, inbound.references)
        if found is not None:
            yield found, _CHAIN
    if inbound.thread_key is not None:
        found = store.conversation_by_thread_key(
            conn, inbound.channel, inbound.account, inbound.thread_key,
            resolved_too=inbound.reopen_window is not None)
        if found is not None:
            yield found, _KEY
    texts = [inbound.subject or ""] + [a.address for a in inbound.recipients]
    for conv_id in tokens_in(w.ctx.secret, texts):
        yield conv_id, _TOKEN
    # Read backwards: this message arrived after a reply to it (a delayed mail, an
    # out-of-order import); it belongs with that reply.
    replied = db.replied_to(inbound.channel, inbound.external_id)
    if replied is not None:
        yield replied, _CHAIN


def _part_of(w: Work, conv: ConvState) -> bool:
    """Whether the sender is part of the conversation's thread (see the module's doc).
    The first answers need no query; they are the common case."""
    i = w.inbound
    if i.channel not in GLOBAL_ID_CHANNELS and (i.channel, i.account) not in \
            w.ctx.public_accounts:
        return True  # a chat's reply can only be written inside the chat: it proves presence
    if w.contact is not None and conv.contact_id == w.contact.id:
        return True
    address = w.inbound.sender.address.lower()
    if (w.inbound.channel, address) in w.ctx.staff:
        return True
    assert conv.id is not None
    return bool(address) and address in store.participants(w.conn, conv.id)


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
