"""Chat edits: a customer who edits a sent message changes that message, not the queue.

Chat channels report an edit as the same message again with new text. The pipeline step
`apply_edit` runs first: when the edited message is stored, its text is replaced, the
previous text is kept in an `edited` event (so "what did they write at first?" stays
answerable) and the run ends: no new message, no acknowledgement, no SLA change. Only
text changes: the connector does not hand attachments over again with an edit.

An edit of a message we never stored (written before the channel was connected, or one
that was not for us then) is what the customer says now, so it is stored, under the
id of the message it edits (a later edit then changes it), with an `edit.unseen` event
(`note_unseen_edit`). It is not acknowledged: to the customer it is an old message
corrected, not a new one written to us; their next message is acknowledged as usual.

A deletion (`Inbound.deleted`, a Mastodon status its author deleted) keeps the stored
text, because we never lose what a customer told us: the message is flagged "deleted by
its author" (the desk and `inbox show` print a message's flags) and a `deleted` event
says who and when. Nothing else changes; a deletion of a message we never stored is
dropped, as there is nothing to mark.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from inbox.store import batch as store

if TYPE_CHECKING:
    from inbox.ingest.work import Work


def apply_edit(w: Work) -> None:
    i = w.inbound
    if i.edit_of is None:
        return
    original = store.find_message(w.conn, i.channel, i.account, i.edit_of)
    if i.deleted:
        _apply_delete(w, original)
        return
    if original is None:  # kept as the message it edits; `edit_of` says how it came
        w.inbound = replace(i, external_id=i.edit_of)
        return
    message_id, conversation_id, previous = original[:3]
    w.message_id = message_id
    w.outcome, w.done = "duplicate", True
    if previous == i.text:
        return  # the same edit delivered again (a replayed batch, a webhook retry)
    store.edit_message(w.conn, message_id, i.text)
    w.db.add_event("edited", w.now, conversation_id=conversation_id, message_id=message_id,
                   previous=previous, edit=i.external_id,
                   edited_at=i.received_at.isoformat())
    w.outcome = "edited"


def deleted_mark(channel: str) -> str:
    """The flag a deleted message carries (the channel's name as people write it)."""
    return f"deleted by its author on {channel.capitalize()}"


def _apply_delete(w: Work, original: store.StoredText | None) -> None:
    w.outcome, w.done = "duplicate", True
    if original is None:
        return
    w.message_id = original.id
    mark = deleted_mark(w.inbound.channel)
    if mark in original.problems:
        return  # the same deletion delivered again (a replayed batch, a reconnect)
    store.flag_message(w.conn, original.id, [*original.problems, mark])
    w.db.add_event("deleted", w.now, conversation_id=original.conversation_id,
                   message_id=original.id, by=original.sender,
                   deleted_at=w.inbound.received_at.isoformat())
    w.outcome = "deleted"


def note_unseen_edit(w: Work) -> None:
    """After `store_message`: say why a message arrived as an edit (see the docstring)."""
    i = w.inbound
    if i.edit_of is None or w.message_id is None:
        return
    w.event("edit.unseen", edit=i.edit_of, edited_at=i.received_at.isoformat(),
            why="an edit of a message we never stored: kept as that message")


def unseen_edit(w: Work) -> bool:
    """True for an edit of a message we never stored (`apply_edit` ended other edits)."""
    return w.inbound.edit_of is not None
