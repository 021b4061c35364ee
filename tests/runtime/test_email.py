"""E-mail end to end: the daemon on a real Dovecot mailbox and a real SMTP server.

A customer's mail is APPENDed to the support mailbox as a delivery would put it there;
the daemon, woken by IDLE, stores and acknowledges it; the acknowledgement is delivered
into the customer's own Dovecot mailbox, read back over IMAP and answered the way a mail
client would; the agent's reply arrives threaded under the customer's mail. Servers are
restarted mid-run, and two installations acknowledge each other.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from email.message import EmailMessage
from email.utils import getaddresses

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from channels.base import AuthError, TransientError
from inbox.core import tokens
from inbox.desk import actions
from inbox.runtime.app import App, utcnow
from inbox.runtime.daemon import Daemon
from inbox.store.models import Conversation, Event, Message, Outbox
from tests import mailcorpus as mc
from tests.channels.email.test_email_smtp import unflowed
from tests.peers import Desk, running

ACK_SECONDS = 8.0  # IDLE pushes in ~0.5 s; a polling connector (30 s) would miss this


def rows(app: App, model: type, **where: object) -> list:  # type: ignore[type-arg]
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(model).filter_by(**where)).all())


def read(raw: bytes) -> EmailMessage:
    """A message as a mail client sees it."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def customer_mail(desk: Desk, message_id: str, subject: str = "Order 1234 is late",
                  **kw: object) -> bytes:
    return mc.plain_mail(sender=f"Anna Nowak <{desk.customer}>", to=desk.support,
                         subject=subject, message_id=message_id,
                         body="Hello,\nmy order 1234 has not arrived.\nAnna\n",
                         **kw)  # type: ignore[arg-type]


async def test_mail_is_acknowledged_at_once_and_replies_thread_both_ways(desk: Desk) -> None:
    app = desk.configure()
    [watched] = desk.connectors(app).values()
    daemon = Daemon(app, {("email", "support"): watched})
    first = "first-1@example.com"
    async with running(daemon):
        await watched.watching()
        desk.dovecot.append(desk.support, customer_mail(desk, f"<{first}>"))
        await desk.sink.arrived(1, timeout=ACK_SECONDS)

        # The customer's mail client finds our acknowledgement in their inbox.
        [raw_ack] = await asyncio.to_thread(desk.dovecot.messages, desk.customer)
        ack = read(raw_ack)
        [conv] = rows(app, Conversation)
        reference = tokens.reference(app.secret, conv.id)
        assert getaddresses([str(ack["From"])]) == [("Acme Support", desk.support)]
        assert getaddresses([str(ack["To"])]) == [("Anna Nowak", desk.customer)]
        assert reference in str(ack["Subject"]) and "Order 1234 is late" in str(ack["Subject"])
        assert ack["In-Reply-To"] == f"<{first}>" and ack["References"] == f"<{first}>"
        assert str(ack["Message-ID"]).endswith("@helpdesk.test>")
        assert ack["Auto-Submitted"] == "auto-replied"
        assert ack["X-Auto-Response-Suppress"] == "All"
        assert ack["Date"] is not None
        body = ack.get_body(("plain",))
        assert body is not None and "Hello Anna," in body.get_content()  # her first name

        # They answer it from their client: the answer joins the conversation, unacked.
        answer_id = "answer-2@example.com"
        desk.dovecot.append(desk.support, mc.reply_mail(
            sender=f"Anna Nowak <{desk.customer}>", to=desk.support,
            subject=f"Re: {ack['Subject']}", message_id=f"<{answer_id}>",
            in_reply_to=str(ack["Message-ID"]), references=[f"<{first}>"]))
        await watched.committed(answer_id)
        assert [c.id for c in rows(app, Conversation)] == [conv.id]
        assert len(rows(app, Outbox)) == 1

        # An agent answers; it arrives threaded under the customer's latest mail.
        with Session(app.engine) as s, s.begin():
            actions.reply(s, conv.id, "It ships today.", author="kim", now=utcnow(),
                          secret=app.secret, domain=app.settings.domain)
        daemon.dispatcher.wake.set()
        await desk.sink.arrived(2)
    raw_ack2, raw_reply = await asyncio.to_thread(desk.dovecot.messages, desk.customer)
    assert raw_ack2 == raw_ack
    reply = read(raw_reply)
    assert reply["In-Reply-To"] == f"<{answer_id}>"
    assert str(reply["References"]).split() == [f"<{first}>", str(ack["Message-ID"]),
                                                f"<{answer_id}>"]
    assert str(reply["Subject"]) == f"Re: Order 1234 is late {reference}"
    assert reply["Auto-Submitted"] is None
    body = reply.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "It ships today."


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
async def test_the_ack_signs_with_the_name_its_from_shows_in_lines_clients_reflow(
        desk: Desk) -> None:
    # The shipped template writes each paragraph as one line, as people write in an editor.
    template = desk.deployment / "templates" / "ack" / "email.txt"
    assert "has reached us and a person from our team" in template.read_text()
    always = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
              "hours": "00:00-23:59:59.999999"}  # not the after-hours ack, whenever run
    app = desk.configure({"support": desk.account(name="Acme Billing")}, name="Acme Support",
                         business_hours=always)
    [watched] = desk.connectors(app).values()
    async with running(Daemon(app, {("email", "support"): watched})):
        await watched.watching()
        desk.dovecot.append(desk.support, customer_mail(desk, "<sig-1@example.com>"))
        await desk.sink.arrived(1, timeout=ACK_SECONDS)
    [raw] = await asyncio.to_thread(desk.dovecot.messages, desk.customer)
    ack = read(raw)
    assert getaddresses([str(ack["From"])]) == [("Acme Billing", desk.support)]
    assert (ack.get_param("format"), ack.get_param("delsp")) == ("flowed", "no")
    lines = ack.get_content().replace("\r\n", "\n").split("\n")
    assert max(len(line) for line in lines) <= 78
    text = unflowed("\n".join(lines))
    assert text.rstrip("\n").split("\n")[-1] == "Acme Billing"  # the sign-off
    [paragraph] = [p for p in text.split("\n") if p.startswith("thank you for writing")]
    assert paragraph.startswith("thank you for writing to Acme Billing. Your message has "
                                "reached us and a person from our team will answer by ")
    assert paragraph.endswith("at the latest — usually much sooner.")
    assert "Acme Support" not in text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
async def test_restarting_dovecot_loses_nothing_and_duplicates_nothing(desk: Desk) -> None:
    app = desk.configure()
    [watched] = desk.connectors(app).values()
    async with running(Daemon(app, {("email", "support"): watched})):
        await watched.watching()
        desk.dovecot.append(desk.support, customer_mail(desk, "<r1@example.com>"))
        await desk.sink.arrived(1, timeout=ACK_SECONDS)
        await asyncio.to_thread(desk.dovecot.restart)
        # Each a question of its own: the same words again within minutes are a re-send.
        desk.dovecot.append(desk.support, customer_mail(desk, "<r2@example.com>", "Order 1235"))
        desk.dovecot.append(desk.support, customer_mail(desk, "<r3@example.com>", "Order 1236"))
        await desk.sink.arrived(3)
        await watched.committed("r2@example.com", "r3@example.com")
    assert any(isinstance(e, TransientError) for e in watched.errors)  # it did notice
    acked = sorted(str(read(r.data)["In-Reply-To"]) for r in desk.sink.received)
    assert acked == ["<r1@example.com>", "<r2@example.com>", "<r3@example.com>"]
    assert len(rows(app, Message, direction="in")) == 3
    assert len(rows(app, Conversation)) == 3


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_restarting_the_smtp_server_delays_the_ack_once(desk: Desk) -> None:
    app = desk.configure()
    [watched] = desk.connectors(app).values()
    async with running(Daemon(app, {("email", "support"): watched})):
        await watched.watching()
        desk.dovecot.append(desk.support, customer_mail(desk, "<s1@example.com>"))
        await desk.sink.arrived(1, timeout=ACK_SECONDS)
        desk.sink.stop()
        desk.dovecot.append(desk.support, customer_mail(desk, "<s2@example.com>", "Order 1235"))
        await watched.send_failed(TransientError)  # the ack waits in the outbox...
        desk.sink.start()
        await desk.sink.arrived(2)  # ...and goes once the server is back
    acked = [str(read(r.data)["In-Reply-To"]) for r in desk.sink.received]
    assert acked == ["<s1@example.com>", "<s2@example.com>"]
    first, second = sorted(rows(app, Outbox), key=lambda o: o.id)
    assert (first.state, first.attempts) == ("sent", 1)
    # The daemon may stop between the server's "250" and recording it (at least once).
    assert second.state in ("sent", "sending") and "Connect" in (second.last_error or "")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_refused_login_stops_that_account_and_the_other_keeps_working(
        desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    other = desk.dovecot.add_user(desk.support.replace("support-", "sales-"))
    app = desk.configure({
        "support": desk.account(),
        "sales": desk.account(other, imap={"password_env": "INBOX_TEST_NO_SUCH_PASSWORD"}),
    })
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INBOX_TEST_NO_SUCH_PASSWORD", "wrong")
        connectors = desk.connectors(app)
    async with running(Daemon(app, dict(connectors))):
        error = await connectors[("email", "sales")].failed(AuthError)
        await connectors[("email", "support")].watching()
        desk.dovecot.append(desk.support, customer_mail(desk, "<ok@example.com>"))
        await desk.sink.arrived(1, timeout=ACK_SECONDS)
    assert "wrong" not in str(error) and "refused" in str(error)
    assert "sales: credentials refused; this account is stopped" in caplog.text
    assert "wrong" not in caplog.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_two_inboxes_acknowledging_each_other_exchange_one_ack_each(
        desk: Desk, tmp_path_factory: pytest.TempPathFactory) -> None:
    alpha, beta = desk.support, desk.customer  # beta's mailbox is another helpdesk's
    app_a = desk.configure()
    other = Desk(tmp_path_factory.mktemp("beta"), desk.dovecot, desk.sink, beta, alpha)
    app_b = other.configure_new()
    [a] = desk.connectors(app_a).values()
    [b] = other.connectors(app_b).values()
    async with running(Daemon(app_a, {("email", "support"): a})), \
            running(Daemon(app_b, {("email", "support"): b})):
        await a.watching()
        await b.watching()
        # A person writes from each address to the other helpdesk.
        desk.dovecot.append(alpha, mc.plain_mail(sender=beta, to=alpha, message_id="<h1@b>"))
        desk.dovecot.append(beta, mc.plain_mail(sender=alpha, to=beta, message_id="<h2@a>"))
        ack_a, ack_b = sorted(await desk.sink.arrived(2), key=lambda r: r.rcpt_tos[0] != beta)
        # Each helpdesk has read the other's acknowledgement, and stays silent.
        await b.committed(str(read(ack_a.data)["Message-ID"]).strip("<>"))
        await a.committed(str(read(ack_b.data)["Message-ID"]).strip("<>"))
    other.close()
    assert len(desk.sink.received) == 2
    for app in (app_a, app_b):
        assert len(rows(app, Outbox)) == 1
        [suppressed] = rows(app, Event, kind="ack.suppressed")
        assert "Auto-Submitted" in suppressed.detail["reason"]
