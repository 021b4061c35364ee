"""Customers writing in six languages, in the charsets their mail programs really use and
with no Content-Language header, get their acknowledgement in their own language: fed
to the `inbox ingest` command, read back with `inbox queue` and `inbox show`, as an
operator would, on both databases.

What each customer must read (greeting, due date, reference) is written out here from
the mail itself and the due time the store reports, not taken from the code under test;
tests/lang/test_language_daemon.py holds the same customers up to a running daemon.
"""

from __future__ import annotations

import email
import email.policy
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from babel.dates import format_date

from channels.base import Address, Outbound
from channels.email.smtp import build_message
from tests import mailcorpus as mc
from tests.cli.test_cli import inbox_json

PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
BABEL_LOCALE = {"tl": "fil"}  # Babel knows Tagalog by its official name


@dataclass(frozen=True)
class Customer:
    """One customer's mail and what their acknowledgement must say to them."""

    language: str
    address: str
    name: str
    offset: timedelta  # of their Date header: where they are, so where the due time is
    build: Callable[..., bytes]  # (sender_address=, to=, date=) -> raw mail
    greeting: str  # the ack's first line starts with it
    never: str  # a part of the name the greeting must leave out ("" when none)

    def mail(self, to: str, now: datetime, tag: str = "") -> bytes:
        local = now.astimezone(timezone(self.offset))
        return mc.without_content_language(
            self.build(sender_address=self.address.replace("@", f"{tag}@"), to=to,
                       date=local))


def _tagalog(*, sender_address: str, to: str, date: datetime) -> bytes:
    # UTF-8 in base64, as some webmail and phone clients send every text part.
    return mc.plain_mail(sender=f"{mc.TAGALOG_NAME} <{sender_address}>", to=to, date=date,
                         subject=mc.TAGALOG_SUBJECT, body=mc.TAGALOG_BODY, cte="base64")


def _english(*, sender_address: str, to: str, date: datetime) -> bytes:
    return mc.plain_mail(sender=f"\"{mc.ENGLISH_NAME}\" <{sender_address}>", to=to,
                         date=date, subject=mc.ENGLISH_SUBJECT, body=mc.ENGLISH_BODY,
                         cte="quoted-printable")


CUSTOMERS = (
    # TIS-620, 8 bit; the name in TIS-620 base64 encoded-words.
    Customer("th", "somchai@example.co.th", mc.THAI_NAME, timedelta(hours=7),
             mc.thai_mail, "สวัสดีค่ะ คุณสมชาย", "ใจดี"),
    # UTF-8 quoted-printable.
    Customer("fa", "ali@example.ir", mc.PERSIAN_NAME, timedelta(hours=3, minutes=30),
             mc.persian_mail, "علی رضایی گرامی، سلام", ""),
    # ISO-8859-2 quoted-printable, the name Q-encoded in ISO-8859-2.
    Customer("pl", "lukasz@example.pl", mc.POLISH_NAME, timedelta(hours=1),
             mc.polish_mail, "Dzień dobry, Łukasz Żółtowski", ""),
    # UTF-8 base64.
    Customer("tl", "maria@example.ph", mc.TAGALOG_NAME, timedelta(hours=8), _tagalog,
             "Magandang araw, Maria!", "Santos"),
    # windows-1258, tone marks as combining characters (as Outlook writes it).
    Customer("vi", "huong@example.vn", mc.VIETNAMESE_NAME, timedelta(hours=7),
             mc.vietnamese_mail, "Chào bạn Hương,", "Nguyễn"),
    Customer("en", "mary@example.com", mc.ENGLISH_NAME, timedelta(hours=-5), _english,
             "Hello Mary,", "O'Brien"),
)


def due_date_says(language: str, local: datetime) -> list[str]:
    """What the ack must say of the due time `local` (in the customer's zone)."""
    month = format_date(local, "MMMM", locale=BABEL_LOCALE.get(language, language))
    clock = f"{local:%H:%M}"
    says = {
        "th": [f"{local.day} {month} พ.ศ. {local.year + 543}", f"เวลา {clock} น."],
        "fa": [f"{local.day} {month} {local.year}".translate(PERSIAN_DIGITS),
               f"{local.hour}:{local.minute:02d}".translate(PERSIAN_DIGITS)],
        "pl": [f"do {local.day} {month} {local.year}", f"godz. {clock}"],
        "tl": [f"{month} {local.day}, {local.year}",
               f"{local.hour % 12 or 12}:{local.minute:02d} {local:%p}"],
        "vi": [f"{clock}", f"ngày {local.day} tháng {local.month} năm {local.year}"],
        "en": [f"{local.day} {month} {local.year}, {clock}"],
    }
    return says[language]


def check_ack(customer: Customer, text: str, reference: str, due: datetime) -> None:
    """The acknowledgement `text` speaks to `customer` as they expect."""
    local = due.astimezone(timezone(customer.offset))
    first = text.split("\n", maxsplit=1)[0]
    assert first.startswith(customer.greeting), (customer.language, text)
    if customer.never:
        assert customer.never not in text, (customer.language, text)
    for piece in due_date_says(customer.language, local):
        assert piece in text, (customer.language, piece, text)
    if customer.language in ("th", "fa"):  # their own era or digits, never ours
        assert str(local.year) not in text, text
    assert reference in text, text
    if customer.language != "en":
        assert "Hello" not in text and "thank you" not in text, text


def parse_utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)


WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SHIPPED_HOURS = ('days = ["mon", "tue", "wed", "thu", "fri"]\nhours = "09:00-17:00"\n'
                 'holidays = []')


def team_at_work(deployment: Path, now: datetime, *, working: bool) -> None:
    """Whenever the test runs, the team is at work (the ack) or not (the after-hours
    ack): every day all day, or today a holiday."""
    config = deployment / "inbox.toml"
    hours = (f'days = {json.dumps(WEEK)}\nhours = "00:00-23:59:59.999999"\nholidays = []'
             if working else SHIPPED_HOURS.replace("[]", f"[{now.date().isoformat()}]"))
    assert SHIPPED_HOURS in config.read_text()
    config.write_text(config.read_text().replace(SHIPPED_HOURS, hours))


@pytest.mark.parametrize("working", [True, False], ids=["ack", "after-hours"])
@pytest.mark.usefixtures("app")
def test_mail_in_six_languages_and_their_charsets_is_answered_in_each(
        deployment: Path, tmp_path: Path, working: bool) -> None:
    mails = tmp_path / "mail"
    mails.mkdir()
    now = datetime.now(UTC)
    team_at_work(deployment, now, working=working)
    for customer in CUSTOMERS:
        raw = customer.mail("support@shop.example", now)
        assert b"Content-Language" not in raw
        (mails / f"{customer.language}.eml").write_bytes(raw)
    # Outlook's windows-1258: tone marks as combining characters after the letter.
    vietnamese = (mails / "vi.eml").read_bytes().split(b"\r\n\r\n", 1)[1]
    assert any(unicodedata.combining(c) for c in vietnamese.decode("cp1258"))
    assert inbox_json("ingest", str(mails))["acks_queued"] == len(CUSTOMERS)

    queue: list[dict[str, Any]] = inbox_json("queue")
    by_address = {c["contact"]["address"]: c for c in queue}
    for customer in CUSTOMERS:
        row = by_address[customer.address]
        assert (row["language"], row["language_source"]) == (customer.language, "detected")
        assert row["contact"]["name"] == customer.name  # decoded from its own charset
        shown = inbox_json("show", str(row["id"]))
        [ack] = [m for m in shown["messages"] if m["kind"] == "auto-ack"]
        check_ack(customer, ack["text"], row["reference"], parse_utc(row["sla"]["due_at"]))
        assert ack["subject"].startswith(row["reference"])
        assert ack["has_html"] == (customer.language == "fa")  # right to left
        assert ("after-hours" in row["tags"]) == (not working)


# Our subject line in each language, before the customer's own subject.
ACK_SUBJECTS = {
    "th": "เราได้รับข้อความของคุณแล้ว", "fa": "پیام شما به دست ما رسید",
    "pl": "Otrzymaliśmy Twoją wiadomość", "tl": "Natanggap na namin ang inyong mensahe",
    "vi": "Chúng tôi đã nhận được email của bạn", "en": "We have your message"}
THEIR_SUBJECTS = {
    "th": mc.THAI_SUBJECT, "fa": mc.PERSIAN_SUBJECT, "pl": mc.POLISH_SUBJECT,
    "tl": mc.TAGALOG_SUBJECT, "vi": mc.VIETNAMESE_SUBJECT, "en": mc.ENGLISH_SUBJECT}


@pytest.mark.parametrize("language", sorted(ACK_SUBJECTS))
def test_the_subject_a_mail_client_shows_keeps_every_space(language: str) -> None:
    # Folded at 78 characters, a line may break where a space sits between two
    # encoded-words; a client then shows "wiadomość:Zażółć" unless the space was kept
    # inside one. Every reference length moves the fold.
    for conversation in (1, 12, 123, 1234, 12345, 123456):
        subject = (f"[#{conversation}-k7q2m] {ACK_SUBJECTS[language]}: "
                   f"{THEIR_SUBJECTS[language]}")
        out = Outbound(outbox_id=1, kind="ack", channel="email", account="support",
                       recipient=Address("c@example.com", "C"), text="-",
                       message_ref="a@helpdesk.test", subject=subject, auto_reply=True)
        raw = build_message(out, Address("support@helpdesk.test", "Acme"),
                            datetime.now(UTC)).as_bytes()
        shown = email.message_from_bytes(raw, policy=email.policy.default)["Subject"]
        assert str(shown) == subject
        assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n"))
