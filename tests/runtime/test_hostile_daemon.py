"""A poisoned message in a real mailbox never holds back the mail behind it.

Before the stored forms were bounded, a 5 MB Message-ID or a NUL in a Subject failed
the whole batch on PostgreSQL, and `inbox run` fetched the same batch again forever:
every later customer in that folder waited. Here they are stored flagged, and the good
mail behind them is acknowledged as usual, on both databases.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from inbox.runtime.daemon import Daemon
from inbox.store.models import Message, Outbox
from tests import mailcorpus as mc
from tests.peers import Desk, running
from tests.runtime.test_email import ACK_SECONDS


async def test_poisoned_mail_is_stored_flagged_and_the_next_customer_is_acked(
        desk: Desk) -> None:
    app = desk.configure()
    [watched] = desk.connectors(app).values()
    poisoned = [
        mc.plain_mail(sender=f"Eve <{desk.customer}>", to=desk.support,
                      message_id="<" + "x" * (5 * 1024 * 1024) + "@attacker.example>"),
        # IMAP stores no raw NUL (Dovecot rewrites it); an encoded word decodes to one.
        mc.plain_mail(sender=f"Eve <{desk.customer}>", to=desk.support,
                      subject="=?utf-8?B?AAAA?= hello", message_id="<nul@attacker.example>"),
    ]
    good = mc.plain_mail(sender="Anna Nowak <anna@customer.example>", to=desk.support,
                         message_id="<good-after-poison@example.com>")
    async with running(Daemon(app, {("email", "support"): watched})):
        await watched.watching()
        for raw in [*poisoned, good]:
            desk.dovecot.append(desk.support, raw)
        await watched.committed("good-after-poison@example.com")
        await desk.sink.arrived(1, timeout=ACK_SECONDS)
    with Session(app.engine) as s:
        stored = s.scalars(sa.select(Message).where(Message.direction == "in")).all()
        acks = s.scalars(sa.select(Outbox.recipient)).all()
    assert len(stored) == 3
    assert sum(bool(m.problems) for m in stored) == 2
    assert acks == ["anna@customer.example"]
