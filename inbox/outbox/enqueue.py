"""Queue an outgoing message: the only way anything leaves is a Message row and its
Outbox row, written in the caller's transaction; the dispatcher sends it after the commit.

The pipeline queues acks and rule notifications here, agents' replies come through
inbox.desk.actions, and the SLA's notifications through inbox.sla.notify.

An e-mail to a customer whose conversation is in a right-to-left language (Persian) gets
an HTML part with `lang` and `dir="rtl"`, and its text part direction marks where a line
would otherwise run left to right (inbox.lang.html); notices to staff are not theirs.
"""

from __future__ import annotations

import email.utils
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy.engine import Connection

from channels.base import Address
from inbox.core.vocab import MAIL_CHANNELS, Delivery, Direction, Kind, OutboxState
from inbox.lang.html import html_part, text_part
from inbox.store import batch as store
from inbox.store.batch import ConvState
from inbox.store.models import Conversation


def enqueue(target: Connection | store.Batch, conv: ConvState | Conversation, to: Address,
            text: str, *,
            kind: Kind, now: datetime, domain: str, subject: str | None = None,
            in_reply_to: str | None = None, references: Sequence[str] = (),
            author: str | None = None, outbox_kind: str | None = None,
            channel: str | None = None, account: str | None = None,
            cc: Sequence[str] = ()) -> tuple[int | None, str]:
    """Store an outgoing message and its Outbox row; the dispatcher sends it later.

    By default it goes to the customer on the conversation's own channel and account; a
    notification names another (`channel`, `account`, `outbox_kind="notify"`). `cc`
    (e-mail addresses, checked by the caller) are kept after `to` in the message's
    recipients; the dispatcher copies them there.
    Returns the message's id and its external id (our Message-ID, fixed from now on).
    Given a prefetched ingest batch, both rows are written with the batch's other
    appends, and the id is None until then.
    """
    assert conv.id is not None
    db = target if isinstance(target, store.Batch) else store.Batch(target)
    external_id = f"{uuid.uuid4().hex}@{domain}"
    channel, account = channel or conv.channel, account or conv.account
    html = None
    if channel in MAIL_CHANNELS and outbox_kind in (None, "csat"):  # to the customer
        html = html_part(text, conv.language)
        text = text_part(text, conv.language)
    message = {
        "conversation_id": conv.id, "channel": channel, "account": account,
        "external_id": external_id, "direction": Direction.OUT, "kind": kind, "sender": "",
        "sender_name": "", "recipients": [to.address, *cc], "subject": subject, "text": text,
        "html": html, "references": [r for r in references if r], "raw_sha256": None,
        "delivery": Delivery.QUEUED, "author": author, "created_at": now, "sent_at": None,
        "problems": [], "headers": {"in-reply-to": in_reply_to} if in_reply_to else {}}
    send = {"conversation_id": conv.id,
            "kind": outbox_kind or ("ack" if kind == Kind.AUTO_ACK else "reply"),
            "channel": channel, "account": account, "recipient": to.address,
            "state": OutboxState.PENDING, "attempts": 0, "next_attempt_at": now,
            "created_at": now}
    return db.add_outgoing(message, send), external_id


def reply_address(headers: Mapping[str, str], sender: Address) -> Address:
    """Where answers go: Reply-To when the customer set one, else the sender."""
    reply_to = headers.get("reply-to")
    if reply_to:
        name, addr = email.utils.parseaddr(reply_to)
        if "@" in addr:
            return Address(addr.lower(), name or sender.name)
    return sender
