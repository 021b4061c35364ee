"""One message reaching us twice: at several of our accounts, or sent again by its author.

*Global ids.* An e-mail's Message-ID names the message everywhere (RFC 5322 3.6.4): the
mail `To: support@`, `Cc: sales@` arrives in both mailboxes with one Message-ID, and is
one message. A Telegram message id only numbers the messages of one bot, so message 7
at two bots is two messages. `GLOBAL_ID_CHANNELS` lists the channels whose external ids
are global; for them, the `dedupe` step files a message already stored under another
account as an `also-received` event (naming the account) on the stored message's
conversation, instead of storing and acknowledging it again.

*Re-sends.* A customer who sends the same words again ("send again" in a mail client,
or a second try when no answer came fast) makes a new message with a new id. Within
`PipelineContext.repeat_window` of a message of theirs with the same normalised subject
and text in one of their open conversations, the repeat joins that conversation with a
`repeat` event; it is stored like any message, and its conversation was acknowledged
already, so no second acknowledgement goes out. A message without words (an attachment
alone) is never taken for a repeat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inbox.store import batch as store

if TYPE_CHECKING:
    from inbox.ingest.work import Work

# Channels whose external ids name one message across all their accounts, and which
# anyone who saw the message can cite from anywhere (inbox.ingest.threads trusts a reply chain
# only from those who are part of it there). A chat's ids are neither.
GLOBAL_ID_CHANNELS: frozenset[str] = frozenset({"email"})


def received_elsewhere(w: Work) -> bool:
    """For `dedupe`: True (and recorded) when this message is stored under another account."""
    if w.inbound.channel not in GLOBAL_ID_CHANNELS:
        return False
    copy = w.db.copy_elsewhere(w.key)
    if copy is None:
        return False
    w.conversation = w.db.load_conversation(copy.conversation_id)
    w.message_id = copy.message_id
    w.db.saw(w.key)  # the same copy again in this batch is a plain duplicate
    if w.inbound.account not in copy.accounts:
        w.db.add_event("also-received", w.now, conversation_id=copy.conversation_id,
                       message_id=copy.message_id, account=w.inbound.account)
    return True


def repeat_of(w: Work) -> tuple[int, str] | None:
    """The open conversation and message that this message repeats, if it is a re-send."""
    i, window = w.inbound, w.ctx.repeat_window
    words = normalised(i.text)
    if not words or window.total_seconds() <= 0 or w.contact is None:
        return None
    conv_ids = w.db.open_conversation_ids(w.contact.id)
    if not conv_ids:
        return None
    subject = normalised(i.subject or "")
    for earlier in store.recent_from(w.conn, conv_ids, i.channel, i.sender.address,
                                     since=i.received_at - window,
                                     until=i.received_at + window):
        if normalised(earlier.text) == words and normalised(earlier.subject or "") == subject:
            return earlier.conversation_id, earlier.external_id
    return None


def normalised(text: str) -> str:
    """Text as a re-send keeps it: re-wrapped lines, spacing and case make no new message."""
    return " ".join(text.split()).casefold()
