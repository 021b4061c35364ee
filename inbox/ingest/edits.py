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
    if original is None:  # kept as the message it edits; `edit_of` says how it came
        w.inbound = replace(i, external_id=i.edit_of)
        return
    message_id, conversation_id, previous = original
    w.message_id = message_id
    w.outcome, w.done = "duplicate", True
    if previous == i.text:
        return  # the same edit delivered again (a replayed batch, a webhook retry)
    store.edit_message(w.conn, message_id, i.text)
    w.db.add_event("edited", w.now, conversation_id=conversation_id, message_id=message_id,
                   previous=previous, edit=i.external_id,
                   edited_at=i.received_at.isoformat())
    w.outcome = "edited"


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
