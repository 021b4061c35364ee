"""Bounces of our own mail: the address is marked unreachable, the report is filed in
the conversation it is about, and nobody acknowledges it. On both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from channels.email.mime import parse_email
from inbox.desk import actions
from inbox.ingest.bounces import read_report
from inbox.ingest.pipeline import ingest_batch
from inbox.ingest.work import Result
from inbox.runtime.app import App
from inbox.store.models import Conversation, Event, Identity, Message, Outbox
from tests import mailcorpus as mc

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SUPPORT = "support@helpdesk.example"


def ingest(app: App, raw: bytes) -> Result:
    with app.engine.begin() as conn:
        [result] = ingest_batch(conn, [parse_email(raw, "support", NOW)],
                                app.pipeline_context(), NOW)
    return result


def rows(app: App, model: type, **where: object) -> list:  # type: ignore[type-arg]
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(model).filter_by(**where)).all())


def acknowledged(app: App, sender: str = "anna@example.com") -> tuple[Result, Message]:
    """A customer's mail and the acknowledgement we queued for it."""
    first = ingest(app, mc.plain_mail(sender=f"Anna Nowak <{sender}>", to=SUPPORT))
    [ack] = rows(app, Message, kind="auto-ack")
    return first, ack


def our_mail(message: Message) -> bytes:
    """The acknowledgement as it went out (what a bounce quotes back)."""
    return mc.plain_mail(sender=SUPPORT, to=message.recipients[0],
                         subject=message.subject, message_id=f"<{message.external_id}>")


def headers_only_dsn(original_id: str, recipient: str, action: str = "failed") -> bytes:
    """A report that quotes only the original's headers (text/rfc822-headers)."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        f"To: {SUPPORT}\r\nSubject: Delivery Status Notification\r\n"
        "Message-ID: <dsn-2@mx.example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nDelivery has failed.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822;<{recipient}>\r\nAction: {action}\r\nStatus: 5.2.2\r\n"
        "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {SUPPORT}\r\nMessage-ID: <{original_id}>\r\nSubject: x\r\n"
        "--b--\r\n").encode()


def test_a_bounced_ack_marks_the_address_and_joins_the_conversation(app: App) -> None:
    first, ack = acknowledged(app)
    bounce = ingest(app, mc.bounce_mail(original=our_mail(ack),
                                        failed_recipient="anna@example.com", to=SUPPORT))
    assert bounce.outcome == "stored" and not bounce.acked
    assert bounce.conversation_id == first.conversation_id
    assert len(rows(app, Conversation)) == 1 and len(rows(app, Outbox)) == 1
    [anna] = rows(app, Identity, address="anna@example.com")
    assert anna.unreachable == "bounced: 5.1.1 smtp; 550 5.1.1 User unknown"
    [event] = rows(app, Event, kind="bounce")
    assert event.conversation_id == first.conversation_id
    assert event.detail["recipient"] == "anna@example.com"
    assert event.detail["about"] == ack.external_id
    assert first.conversation_id is not None
    with Session(app.engine) as s, pytest.raises(actions.ActionError,
                                                  match="cannot be reached"):
        actions.reply(s, first.conversation_id, "Hello?", author="kim", now=NOW,
                      secret=app.secret, domain="helpdesk.example")


def test_a_report_quoting_only_headers_counts_too(app: App) -> None:
    _, ack = acknowledged(app)
    ingest(app, headers_only_dsn(ack.external_id, "anna@example.com"))
    [anna] = rows(app, Identity, address="anna@example.com")
    assert anna.unreachable is not None and "Mailbox full" in anna.unreachable


@pytest.mark.parametrize("case", ["not our mail", "another recipient", "only delayed"])
def test_reports_that_do_not_prove_an_address_dead_mark_nothing(app: App,
                                                                case: str) -> None:
    _, ack = acknowledged(app)
    original = "someone-else@example.org" if case == "not our mail" else ack.external_id
    recipient = "bob@example.com" if case == "another recipient" else "anna@example.com"
    action = "delayed" if case == "only delayed" else "failed"
    ingest(app, mc.plain_mail(sender="Bob <bob@example.com>", to=SUPPORT))
    report = ingest(app, headers_only_dsn(original, recipient, action))
    assert not report.acked
    assert all(i.unreachable is None for i in rows(app, Identity))
    assert rows(app, Event, kind="bounce") == []


def test_what_a_report_says() -> None:
    raw = mc.bounce_mail(original=mc.plain_mail(message_id="<ack-9@helpdesk.example>"),
                         failed_recipient="Anna@Example.com")
    report = read_report(parse_email(raw, "support", NOW))
    assert report is not None and report.original == "ack-9@helpdesk.example"
    assert [f.address for f in report.failures] == ["anna@example.com"]
    assert read_report(parse_email(mc.plain_mail(), "support", NOW)) is None
