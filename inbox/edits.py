"""Chat edits: a customer who edits a sent message changes that message, not the queue.

Chat channels report an edit as the same message again with new text. The pipeline step
`apply_edit` runs first: when the edited message is stored, its text is replaced, the
previous text is kept in an `edited` event (so "what did they write at first?" stays
answerable) and the run ends: no new message, no acknowledgement, no SLA change. Only
text changes: the connector does not hand attachments over again with an edit. An edit
of a message we never stored (written before the channel was connected, or one that was
not for us then) goes on through the pipeline as a message of its own.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from inbox import store

if TYPE_CHECKING:
    from inbox.pipeline import Work


def apply_edit(w: Work) -> None:
    i = w.inbound
    if i.edit_of is None:
        return
    original = store.find_message(w.conn, i.channel, i.account, i.edit_of)
    if original is None:
        w.inbound = replace(i, edit_of=None)
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
