"""Sending e-mail: the messages customers receive and how SMTP failures are sorted.

The server is aiosmtpd on 127.0.0.1 (plain, STARTTLS or implicit TLS, with or without
a login), told to refuse when a test wants it to; the client is the connector exactly
as `inbox run` builds it.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from channels.base import Address, AuthError, Outbound, PermanentError, TransientError
from channels.email.connector import EmailConnector, build
from channels.email.flowed import flowed
from channels.email.smtp import build_message
from inbox.cli.main import cli
from inbox.lang.render import Renderer
from inbox.outbox.dispatcher import Dispatcher
from inbox.runtime.app import App, utcnow
from tests import mailcorpus as mc
from tests.cli.test_cli import add_agents
from tests.peers import SmtpSink, Tls

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"

ACK = Outbound(outbox_id=1, kind="ack", channel="email", account="support",
               recipient=Address("anna@example.com", "Anna Nowak"),
               text="Hello Anna Nowak,\nwe have your message.\n",
               message_ref="ack-1@helpdesk.test",
               subject="[#1-abcde] We have your message: Order 1234",
               in_reply_to="m1@example.com", references=("m1@example.com",),
               auto_reply=True)


@pytest.fixture
def sink(tls: Tls) -> Iterator[SmtpSink]:
    server = SmtpSink(tls)
    server.start()
    yield server
    server.stop()


def options(sink: SmtpSink, **smtp: Any) -> dict[str, Any]:
    return {"address": "support@helpdesk.test",
            "imap": {"host": "127.0.0.1", "password_env": "IMAP_PASSWORD"},
            "smtp": {"host": sink.host, "port": sink.port, "security": "none", **smtp}}


@pytest.fixture
async def sender(sink: SmtpSink, tmp_path: Path) -> AsyncIterator[EmailConnector]:
    connector = build("support", options(sink), name="Acme Support", base_dir=tmp_path,
                      env={"IMAP_PASSWORD": "x"})
    yield connector
    await connector.close()


def read(data: bytes) -> EmailMessage:
    """As a mail client shows it (which does not care for CRLF line ends)."""
    msg = email.message_from_bytes(data.replace(b"\r\n", b"\n"), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


async def test_an_ack_is_a_threaded_auto_reply_from_the_team(
        sender: EmailConnector, sink: SmtpSink) -> None:
    await sender.send(ACK)
    [got] = sink.received
    assert got.mail_from == "support@helpdesk.test" and got.rcpt_tos == ["anna@example.com"]
    msg = read(got.data)
    assert getaddresses([str(msg["From"])]) == [("Acme Support", "support@helpdesk.test")]
    assert getaddresses([str(msg["To"])]) == [("Anna Nowak", "anna@example.com")]
    assert msg["Subject"] == "[#1-abcde] We have your message: Order 1234"
    assert msg["Message-ID"] == "<ack-1@helpdesk.test>"
    assert msg["In-Reply-To"] == msg["References"] == "<m1@example.com>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Date"].datetime.tzinfo is not None
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == ACK.text


async def test_a_reply_with_html_is_multipart_and_survives_odd_input(
        sender: EmailConnector, sink: SmtpSink) -> None:
    reply = Outbound(
        outbox_id=2, kind="reply", channel="email", account="support",
        recipient=Address("lukasz@example.pl", "Łukasz Żółtowski"),
        text="Dzień dobry,\nzamówienie wysłane.\n", html="<p>Dzień dobry,</p>",
        message_ref="r-2@helpdesk.test", subject="Re: Reklamacja\r\nBcc: evil@example.com",
        in_reply_to="m2@example.pl",
        references=("m1@example.pl", "not an id", "<bad>", "m2@example.pl"))
    await sender.send(reply)
    msg = read(sink.received[0].data)
    assert msg["Subject"] == "Re: Reklamacja Bcc: evil@example.com"  # no header injected
    assert msg["Bcc"] is None
    assert getaddresses([str(msg["To"])]) == [("Łukasz Żółtowski", "lukasz@example.pl")]
    assert str(msg["References"]).split() == ["<m1@example.pl>", "<m2@example.pl>"]
    assert msg["Auto-Submitted"] is None
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = (p.get_content() for p in msg.iter_parts())
    assert plain == reply.text and "Dzień dobry," in html


async def test_a_reply_with_copies_goes_to_everyone_with_a_cc_header_threaded(
        sender: EmailConnector, sink: SmtpSink) -> None:
    reply = replace(ACK, kind="reply", auto_reply=False, subject="Re: Order 1234 [#1-abcde]",
                    cc=(Address("bob@example.pl", "Bob Żółw"), Address("ewa@example.com")))
    await sender.send(reply)
    [got] = sink.received
    assert got.rcpt_tos == ["anna@example.com", "bob@example.pl", "ewa@example.com"]
    msg = read(got.data)
    assert getaddresses([str(msg["To"])]) == [("Anna Nowak", "anna@example.com")]
    assert getaddresses([str(msg["Cc"])]) == [("Bob Żółw", "bob@example.pl"),
                                              ("", "ewa@example.com")]
    assert msg["In-Reply-To"] == msg["References"] == "<m1@example.com>"
    assert msg["Bcc"] is None and msg["Auto-Submitted"] is None


async def test_a_notification_to_an_agent_is_marked_automatic(
        sender: EmailConnector, sink: SmtpSink) -> None:
    notice = replace(ACK, kind="notify", auto_reply=False, in_reply_to=None, references=(),
                     recipient=Address("kim@helpdesk.test", ""), subject="VIP waiting")
    await sender.send(notice)
    msg = read(sink.received[0].data)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["In-Reply-To"] is None and msg["To"] == "kim@helpdesk.test"


async def test_one_connection_serves_many_sends_and_a_restart_is_survived(
        sender: EmailConnector, sink: SmtpSink) -> None:
    for _ in range(3):
        await sender.send(ACK)
    assert len({r.peer for r in sink.received}) == 1
    sink.stop()
    with pytest.raises(TransientError, match="Connect"):
        await sender.send(ACK)
    sink.start()
    await sender.send(ACK)
    assert len(sink.received) == 4 and len({r.peer for r in sink.received}) == 2


@pytest.mark.parametrize(("refusal", "error", "unreachable"), [
    (("rcpt", "450 4.2.1 Mailbox busy"), TransientError, False),
    (("rcpt", "550 5.1.1 No such user"), PermanentError, True),
    (("rcpt", "553 5.1.3 Bad recipient address syntax"), PermanentError, True),
    (("data", "451 4.3.0 Try again later"), TransientError, False),
    (("data", "552 5.3.4 Message too big"), PermanentError, False),
])
async def test_refusals_are_sorted_and_the_connection_goes_on(
        sender: EmailConnector, sink: SmtpSink, refusal: tuple[str, str],
        error: type[Exception], unreachable: bool) -> None:
    where, reply = refusal
    (sink.handler.rcpt_replies if where == "rcpt" else sink.handler.data_replies).append(reply)
    with pytest.raises(error) as caught:
        await sender.send(ACK)
    assert reply in str(caught.value)
    assert getattr(caught.value, "unreachable", False) is unreachable
    await sender.send(ACK)
    assert len(sink.received) == 1


# aiosmtpd cannot tell implicit TLS from plain text, so it offers AUTH over STARTTLS only.
@pytest.mark.parametrize(("mode", "login"), [("starttls", True), ("tls", False)])
async def test_tls_and_login(tls: Tls, tmp_path: Path, mode: str, login: bool) -> None:
    sink = SmtpSink(tls, auth=("support@helpdesk.test", "s3cret") if login else None,
                    mode=mode)
    sink.start()
    (tmp_path / "smtp.password").write_text("s3cret\n")
    extra = {"password_file": "smtp.password"} if login else {}
    connector = build("support", options(sink, security=mode, ca_file=str(tls.ca_file),
                                         **extra),
                      name="Acme Support", base_dir=tmp_path, env={"IMAP_PASSWORD": "x"})
    try:
        await connector.send(ACK)
    finally:
        await connector.close()
        sink.stop()
    assert len(sink.received) == 1


@pytest.mark.parametrize(("mode", "smtp", "message"), [
    ("starttls", {"password_env": "SMTP_PASSWORD"}, "login as support@helpdesk.test refused"),
    ("starttls", {"password_env": "SMTP_PASSWORD", "ca_file": None}, "certificate"),
    ("plain", {"security": "starttls"}, "STARTTLS"),
    ("tls", {"password_env": "SMTP_PASSWORD"}, "AUTH"),
])
async def test_what_no_send_can_get_past_stops_the_account(
        tls: Tls, tmp_path: Path, mode: str, smtp: dict[str, Any], message: str) -> None:
    auth = ("support@helpdesk.test", "s3cret") if mode != "plain" else None
    sink = SmtpSink(tls, auth=auth, mode=mode)
    sink.start()
    settings = {"security": mode, "ca_file": str(tls.ca_file), **smtp}
    connector = build("support", options(sink, **{k: v for k, v in settings.items() if v}),
                      name="Acme Support", base_dir=tmp_path,
                      env={"IMAP_PASSWORD": "x", "SMTP_PASSWORD": "wrong-password"})
    try:
        with pytest.raises(AuthError, match=message) as caught:
            await connector.send(ACK)
    finally:
        await connector.close()
        sink.stop()
    assert "wrong-password" not in str(caught.value)
    assert sink.received == []


async def test_a_refused_recipient_is_dead_lettered_with_the_reason_in_inbox_outbox(
        app: App, sender: EmailConnector, sink: SmtpSink, tmp_path: Path) -> None:
    mail = tmp_path / "anna.eml"
    mail.write_bytes(mc.plain_mail(sender="Anna Nowak <anna@example.com>",
                                   to="support@helpdesk.test"))
    inbox("ingest", "--account", "support", "--workers", "1", str(mail))
    sink.handler.reject["anna@example.com"] = "550 5.1.1 <anna@example.com>: User unknown"
    dispatcher = Dispatcher(app.engine, {("email", "support"): sender}, app.settings.outbox,
                            utcnow)
    assert [a.outcome for a in await dispatcher.drain_once()] == ["dead"]
    [row] = json.loads(inbox("outbox", "--json").stdout)
    assert row["state"] == "dead" and row["recipient"] == "anna@example.com"
    assert "550 5.1.1 <anna@example.com>: User unknown" in row["last_error"]
    add_agents("kim", config=app.settings.base_dir / "inbox.toml")
    refused = inbox("reply", str(row["conversation_id"]), "-m", "Hello?", "--as", "kim",
                    ok=False)
    assert refused.exit_code != 0 and "cannot be reached" in refused.output
    assert sink.received == []


def inbox(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


GIANT_ID = "x" * (5 * 1024 * 1024) + "@example.com"


def well_formed(data: bytes) -> bool:
    """RFC 5322: CRLF line ends, no line over 998 characters, headers then the body."""
    lines = data.split(b"\r\n")
    return b"\n" not in data.replace(b"\r\n", b"") and all(len(x) <= 998 for x in lines)


async def test_giant_and_endless_threads_make_a_small_ack(
        sender: EmailConnector, sink: SmtpSink) -> None:
    chain = tuple(f"m{i}@example.com" for i in range(40))
    await sender.send(replace(ACK, in_reply_to=GIANT_ID,
                              references=(*chain, GIANT_ID, "not an id", "last@example.com")))
    [got] = sink.received
    assert len(got.data) < 4096 and well_formed(got.data)
    msg = read(got.data)
    assert msg["In-Reply-To"] is None  # an id no Message-ID can be is left out
    assert str(msg["References"]).split() == [  # the root and the last ten
        "<m0@example.com>", *(f"<m{i}@example.com>" for i in range(31, 40)),
        "<last@example.com>"]


async def test_a_long_thread_of_long_ids_gets_a_small_well_formed_ack(
        app: App, sender: EmailConnector, sink: SmtpSink, tmp_path: Path) -> None:
    def long_id(n: int) -> str:  # as long as an id may be and still be stored as it is
        return f"{n:03d}{'x' * 237}@example.com"

    mail = tmp_path / "long.eml"
    mail.write_bytes(mc.plain_mail(sender="Anna Nowak <anna@example.com>",
                                   to="support@helpdesk.test", message_id=f"<{long_id(99)}>",
                                   references=[f"<{long_id(n)}>" for n in range(49)]))
    inbox("ingest", "--account", "support", "--workers", "1", str(mail))
    dispatcher = Dispatcher(app.engine, {("email", "support"): sender}, app.settings.outbox,
                            utcnow)
    assert [a.outcome for a in await dispatcher.drain_once()] == ["sent"]
    [got] = sink.received
    assert len(got.data) < 6000 and well_formed(got.data)
    msg = read(got.data)
    assert msg["In-Reply-To"] == f"<{long_id(99)}>"
    assert str(msg["References"]).split() == [  # the root, the nearest, the mail itself
        f"<{long_id(n)}>" for n in (0, *range(40, 49), 99)]
    assert msg.get_content().startswith("Hello Anna,")


OUR_HEADERS = {"From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
               "Auto-Submitted", "X-Auto-Response-Suppress", "X-Inbox-Ref", "MIME-Version",
               "Content-Type", "Content-Transfer-Encoding"}
hostile = st.text(st.one_of(st.sampled_from("\r\n\x00\x0b\x0c\x85\u2028\u2029\u200f\u202e"
                                            "\t :;,<>@\"\\=?Bcc: ก์אב"),
                            st.characters(codec="utf-8")), max_size=200)
addresses = st.builds("{}@{}".format,
                      st.text(st.sampled_from("abc.+_-=?!#'\"\\\r\n\u2028 ก"), min_size=1,
                              max_size=30),
                      st.sampled_from(["example.com", "пример.рф", "x\r\nBcc: e@v.il"]))
RENDERER = Renderer(TEMPLATES)


@settings(max_examples=200, deadline=None)
@given(subject=hostile, name=hostile, address=addresses)
def test_the_ack_as_sent_has_our_headers_and_our_first_line(
        subject: str, name: str, address: str) -> None:
    context = {"customer_name": name, "subject": subject, "reference": "[#7-abcde]",
               "team_name": "Acme", "account_name": "Acme", "due_at": "Friday 09:00 UTC",
               "channel": "email",
               "language": "en"}
    rendered = RENDERER.render("ack", "email", None, context)
    out = replace(ACK, recipient=Address(address, name), subject=rendered.subject,
                  text=rendered.body)
    try:
        data = build_message(out, Address("support@helpdesk.test", "Acme"), utcnow()
                             ).as_bytes()
    except (ValueError, TypeError, MessageError):  # an address no header can hold:
        return  # the send is refused for good (PermanentError), nothing goes out
    assert well_formed(data)
    msg = read(data)
    assert sorted(msg.keys()) == sorted(OUR_HEADERS)  # each once, none added
    assert len(msg.get_all("To") or []) == 1 and msg["Bcc"] is None
    assert str(msg["Subject"]).startswith("[#7-abcde] We have your message:")
    assert "\n" not in str(msg["Subject"]) and "\r" not in str(msg["Subject"])
    first = msg.get_content().split("\n")[0]
    assert first.startswith("Hello") and first.endswith(",")


async def test_an_address_no_header_can_hold_is_refused_for_good(
        sender: EmailConnector, sink: SmtpSink) -> None:
    with pytest.raises(PermanentError, match="cannot write this e-mail"):
        await sender.send(replace(ACK, recipient=Address(" @example.com", "")))
    assert sink.received == []


# --------------------------------------------------------------- format=flowed (RFC 3676)

def unflowed(text: str) -> str:
    """What a format=flowed reader (DelSp=no) shows, written out from RFC 3676 4.1-4.5:
    quote depth by leading '>', one stuffing space removed, a line ending in a space
    (other than the signature separator) joined with the next line of the same depth."""
    out: list[str] = []
    joining: tuple[int, str] | None = None
    for raw in text.split("\n"):
        depth = len(raw) - len(raw.lstrip(">"))
        line = raw[depth:].removeprefix(" ")
        if joining is not None and joining[0] == depth:
            line = joining[1] + line
        elif joining is not None:
            out.append(">" * joining[0] + (" " if joining[0] else "") + joining[1])
        joining = None
        if line.endswith(" ") and line != "-- ":
            joining = (depth, line)
        else:
            out.append(">" * depth + (" " if depth and line else "") + line)
    return "\n".join(out)


PARAGRAPH = ("thank you for writing to Acme Billing. Your message has reached us and a "
             "person from our team will answer by Friday 27 November 2026, 09:00 UTC at the "
             "latest — usually much sooner. Simply reply to this mail to add anything.")
URL = "https://shop.example/orders/1234?token=" + "k" * 90
# Thai writes no spaces between words, only between phrases: the second phrase is longer
# than a line and must stay whole (no dictionary here to find its word breaks).
THAI = ("ขอบคุณสำหรับข้อความของคุณ "
        "ข้อความของคุณถึงเราแล้วและเจ้าหน้าที่ของเราจะตอบกลับภายในวันศุกร์ที่ยี่สิบเจ็ดพฤศจิกายน "
        "อย่างช้าที่สุด โดยปกติจะเร็วกว่านั้นมาก หมายเลขอ้างอิงของคุณคือ [#1-abcde] "
        "ตอบกลับอีเมลนี้เพื่อเพิ่มข้อมูล")
LONG_TEXT = (f"Hello Anna Nowak,\n\n{PARAGRAPH}\n\nThe tracking page: {URL} (open it on "
             f"any device).\n\n{THAI}\n\n> On Monday Anna wrote: {PARAGRAPH}\n>\n"
             f"From our side: all is well.\n   an indented line stays indented, however "
             f"long it is: {PARAGRAPH}\n\n-- \nAcme Billing\n")


async def test_long_lines_arrive_flowed_within_78_and_reflow_to_what_was_written(
        sender: EmailConnector, sink: SmtpSink) -> None:
    await sender.send(replace(ACK, text=LONG_TEXT))
    msg = read(sink.received[0].data)
    assert msg.get_content_type() == "text/plain"
    assert (msg.get_param("format"), msg.get_param("delsp")) == ("flowed", "no")
    lines = msg.get_content().split("\n")
    long = [line.strip(" ") for line in lines if len(line) > 78]
    assert long == [URL, THAI.split(" ")[1]]  # no space to break at: never cut inside
    assert unflowed("\n".join(lines)) == LONG_TEXT
    assert lines[-3:] == ["-- ", "Acme Billing", ""]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([" ", "  ", ">", "\n", "\r\n", "a", "From ", "-- ", "ก",
                                 "xyz", "https://e.example/" + "p" * 70, "word "]),
                max_size=120).map("".join))
def test_flowed_text_reads_back_as_written(text: str) -> None:
    expected = "\n".join(map(_as_read, text.replace("\r\n", "\n").split("\n")))
    lines = flowed(text).split("\n")
    assert unflowed("\n".join(lines)) == expected
    for line in lines:  # longer only for a word with no space to break at (a line that
        # is "-- " alone would read as the signature separator, so it keeps the next word)
        word = line.lstrip(">").strip(" ").removeprefix("-- ")
        assert len(line) <= 78 or " " not in word, line


def _as_read(line: str) -> str:
    """A line as a flowed reader shows it: no spaces at its end (but the signature
    separator's), a quoted one as its quote marks and one space before the words."""
    body = line.lstrip(">")
    marks = line[:len(line) - len(body)]
    body = body.removeprefix(" ") if marks else body
    body = body if body == "-- " else body.rstrip(" ")
    return f"{marks} {body}" if marks and body else marks + body
