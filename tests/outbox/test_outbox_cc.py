"""An agent's reply with copies, from inbox.desk.actions through the outbox to a real
SMTP server (aiosmtpd on 127.0.0.1), on both databases: everyone gets it, threaded."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import timedelta
from email.utils import getaddresses

from sqlalchemy.orm import Session

from channels.email.connector import EmailConnector
from inbox.desk import actions
from inbox.outbox.dispatcher import Dispatcher
from inbox.runtime.app import App
from tests.channels.email.test_email_smtp import sender, sink
from tests.ingest.test_pipeline import NOW, mail, run
from tests.outbox.test_outbox import Clock
from tests.peers import SmtpSink

__all__ = ["sender", "sink"]  # the e-mail area's fixtures: its connector on the sink


async def test_a_reply_with_cc_arrives_for_to_and_cc_threaded(
        app: App, sender: EmailConnector, sink: SmtpSink) -> None:
    [r] = run(app, replace(mail("m1@example.com"), references=("m0@example.com",)))
    assert r.conversation_id is not None
    later = NOW + timedelta(hours=1)
    with Session(app.engine) as s, s.begin():
        actions.reply(s, r.conversation_id, "It ships today.", author="kim", now=later,
                      secret=app.secret, domain="helpdesk.test",
                      cc=["Bob <bob@example.pl>", "ewa@example.com"])
    dispatcher = Dispatcher(app.engine, {("email", "support"): sender}, app.settings.outbox,
                            Clock(later))
    assert [a.outcome for a in await dispatcher.drain_once()] == ["sent", "sent"]
    got = next(g for g in sink.received if b"It ships today." in g.data)
    assert got.rcpt_tos == ["anna@example.com", "bob@example.pl", "ewa@example.com"]
    msg = email.message_from_bytes(got.data, policy=email.policy.default)
    assert [a for _, a in getaddresses([str(msg["To"])])] == ["anna@example.com"]
    assert [a for _, a in getaddresses([str(msg["Cc"])])] == ["bob@example.pl",
                                                              "ewa@example.com"]
    assert msg["In-Reply-To"] == "<m1@example.com>"
    assert str(msg["References"]).split() == ["<m0@example.com>", "<m1@example.com>"]
    ack = next(g for g in sink.received if g is not got)
    assert ack.rcpt_tos == ["anna@example.com"]  # an acknowledgement copies nobody
