"""The six customers of test_language_mail.py write to a running `inbox run` (a
subprocess on a deployment made by `inbox init`): their mail is APPENDed to the support
mailbox on the test's Dovecot, and the acknowledgements are read from the SMTP sink as
the real MIME a mail client gets, decoded, and read the way each customer reads them.
Run on both databases, as the daemon's other whole-system tests are.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from itertools import pairwise

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from inbox.core import tokens
from inbox.runtime.app import App
from inbox.store.models import Conversation, Identity
from tests.channels.email.test_email_smtp import unflowed
from tests.channels.telegram.test_telegram_crash import START_SECONDS
from tests.lang.test_language_mail import (
    ACK_SUBJECTS,
    CUSTOMERS,
    THEIR_SUBJECTS,
    Customer,
    check_ack,
)
from tests.peers import Desk
from tests.runtime.test_logs import DaemonLog

ACKS_SECONDS = 30.0  # six messages through a cold detector on a busy 2-CPU machine


@pytest.fixture
async def running_inbox(desk: Desk) -> AsyncIterator[tuple[App, DaemonLog]]:
    """`inbox run` on the desk's deployment, watching the support mailbox."""
    app = desk.configure()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inbox", "run", cwd=desk.deployment,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "INBOX_CONFIG": str(desk.deployment / "inbox.toml")})
    daemon = DaemonLog(proc)
    try:
        # It reads only mail that arrives after it starts (`start = "now"`).
        await daemon.line(lambda s: "watching INBOX" in s, START_SECONDS)
        yield app, daemon
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def read(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(ack: EmailMessage) -> str:
    """The plain text a format=flowed mail client shows."""
    part = ack.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    text = part.get_content().replace("\r\n", "\n")
    return unflowed(text) if part.get_param("format") == "flowed" else text


def filled(ack: EmailMessage) -> None:
    """Read without format=flowed (Outlook does not), each paragraph's lines are full:
    no line breaks early, leaving a word or two alone above the rest."""
    part = ack.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    lines = part.get_content().replace("\r\n", "\n").split("\n")
    for line, after in pairwise(lines):
        if line.strip() and after.strip():
            assert len(line) + len(after.split()[0]) > 70, (line, after)


def conversation_of(app: App, customer: Customer) -> Conversation:
    with Session(app.engine) as s:
        identity = s.scalars(sa.select(Identity).filter_by(
            channel="email", address=customer.address)).one()
        return s.scalars(sa.select(Conversation).filter_by(
            contact_id=identity.contact_id)).one()


async def test_the_daemon_answers_each_customer_in_their_language(
        desk: Desk, running_inbox: tuple[App, DaemonLog]) -> None:
    app, daemon = running_inbox
    now = datetime.now(UTC)
    for customer in CUSTOMERS:
        await asyncio.to_thread(desk.dovecot.append, desk.support,
                                customer.mail(desk.support, now))
    received = await desk.sink.arrived(len(CUSTOMERS), timeout=ACKS_SECONDS)

    acks = {getaddresses([str(m["To"])])[0][1]: m for m in map(read, (r.data for r in received))}
    assert sorted(acks) == sorted(c.address for c in CUSTOMERS)
    for customer in CUSTOMERS:
        ack, conv = acks[customer.address], conversation_of(app, customer)
        assert (conv.language, conv.language_source) == (customer.language, "detected")
        assert conv.sla_due_at is not None
        reference = tokens.reference(app.secret, conv.id or 0)
        check_ack(customer, text_of(ack), reference, conv.sla_due_at.replace(tzinfo=UTC))
        # Every space kept, where the header was folded too ("wiadomość: Zażółć").
        assert str(ack["Subject"]) == (f"{reference} {ACK_SUBJECTS[customer.language]}: "
                                       f"{THEIR_SUBJECTS[customer.language]}")
        assert getaddresses([str(ack["To"])])[0][0] == customer.name
        filled(ack)
        assert ack["Auto-Submitted"] == "auto-replied"
        html = ack.get_body(("html",))
        if customer.language == "fa":  # right to left, and says so
            assert isinstance(html, EmailMessage)
            page = html.get_content()
            assert '<html lang="fa" dir="rtl">' in page and customer.greeting in page
        else:
            assert html is None or f'lang="{customer.language}"' in html.get_content()
    log = await daemon.stop()
    assert "Traceback" not in log
