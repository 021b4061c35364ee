"""Answers to our own notifications: staff talking, not the customer.

Rule and SLA notifications are stored in the customer's conversation (that is where an
agent looks for them) and go out to agents with their own Message-ID. An agent who
answers one by e-mail, or replies to it in Telegram, writes into that reply chain; were
it threaded like any message, the agent would join the conversation as if they were the
customer: a new customer message, the SLA clock restarted, a resolved conversation
reopened. The pipeline step `record_staff_reply` runs before all that: a message whose
reply chain leads to one of our notifications is filed in that conversation as an
internal note by its sender (an agent's name when their address is known), and the run
ends. An automatic answer to a notification (an agent's out-of-office) is filed as a
system message. Neither is acknowledged, routed or counted against the SLA; the
notification templates tell agents that their answer stays internal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inbox.core.vocab import Delivery, Direction, Kind
from inbox.ingest.ack import automatic, parts_of
from inbox.store import batch as store
from inbox.store.blobs import offload

if TYPE_CHECKING:
    from inbox.ingest.work import Work


def record_staff_reply(w: Work) -> None:
    """Pipeline step: a reply to one of our notifications becomes a note (see above)."""
    i = w.inbound
    if not i.references or i.headers.get("content-type", "").lower().startswith(
            "multipart/report"):  # a delivery report is record_bounce's
        return
    found = w.db.notification(i.channel, i.references)
    if found is None:
        return
    about, conv_id = found
    w.conversation = w.db.load_conversation(conv_id)
    robot = automatic(i.sender.address, i.headers, i.subject, parts_of(i.attachments))
    author = None if robot else _author(w)
    w.message_id = _store(w, conv_id, author)
    w.event("staff-reply", about=about, sender=i.sender.address, author=author,
            automatic=robot)
    w.done = True


def _author(w: Work) -> str:
    address = w.inbound.sender.address
    return w.ctx.staff.get((w.inbound.channel, address.lower()), address)


def _store(w: Work, conv_id: int, author: str | None) -> int:
    i = w.inbound = offload(w.inbound, w.ctx.blobs, w.ctx.max_attachment_bytes)
    w.db.before_message_in(conv_id)
    # A note is ours (direction out, never sent); a robot's answer is filed as it came.
    kind, direction = (Kind.NOTE, Direction.OUT) if author else (Kind.SYSTEM, Direction.IN)
    message_id = store.insert(
        w.conn, store.message, conversation_id=conv_id, channel=i.channel,
        account=i.account, external_id=i.external_id, direction=direction, kind=kind,
        author=author, sender=i.sender.address, sender_name=i.sender.name,
        recipients=[a.address for a in i.recipients], subject=i.subject, text=i.text,
        html=i.html, references=list(i.references), headers=dict(i.headers),
        raw_sha256=i.raw_sha256, problems=list(i.problems), delivery=Delivery.NONE,
        created_at=i.received_at)
    if i.attachments:
        w.db.add_attachments(store.attachment_rows(message_id, i.attachments))
    w.db.saw(w.key)
    return message_id
