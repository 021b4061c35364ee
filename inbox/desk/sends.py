"""What an admin does with sends the outbox gave up on: look at them, and send one again.

A dead send is one the channel refused for good (a 550, a blocked bot) or that failed
`max_attempts` times. When the cause is mended (the customer fixed their mailbox, the
admin fixed the account), `retry` puts it back in the outbox as a fresh send: same
message, same Message-ID (so the customer's answer threads), attempts from zero, due
now. It goes through the one retry loop like every other send, so a retry that fails
again is retried and dead-lettered by the same rules.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.errors import Conflict, NotFound
from inbox.core.vocab import Delivery, OutboxState
from inbox.store.models import Event, Identity, Message, Outbox


def retry(s: Session, outbox_id: int, *, by: str, now: datetime) -> Outbox:
    """Send a dead send again; Conflict if it is not dead (already retried, or sent).

    The recipient's address is taken as reachable again: whoever retries says so, and
    replies to it would otherwise still be refused."""
    row = s.get(Outbox, outbox_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no send {outbox_id} in the outbox")
    if row.state != OutboxState.DEAD:
        raise Conflict(f"send {outbox_id} is {row.state}, not dead: nothing to retry")
    error = row.last_error
    row.state, row.attempts, row.next_attempt_at = OutboxState.PENDING, 0, now
    row.claimed_until = row.claimed_by = None
    if row.message_id is None:  # a webhook delivery: no message, no customer address
        return row
    msg = s.get(Message, row.message_id)
    if msg is not None:
        msg.delivery = Delivery.QUEUED
    s.execute(sa.update(Identity).where(
        col(Identity.channel) == row.channel, col(Identity.address) == row.recipient)
        .values(unreachable=None))
    s.add(Event(conversation_id=row.conversation_id, message_id=row.message_id,
                created_at=now, kind=f"{row.kind}.retried",
                detail={"by": by, "recipient": row.recipient, "error": error}))
    return row
