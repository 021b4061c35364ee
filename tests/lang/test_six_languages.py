"""Every message we send, in each of the six languages we serve, through the real
Renderer and the shipped templates: in the customer's own words, greeting them the way
their language does, with the due time as they read it, short, and with the reference
wherever the channel is private.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import regex

from inbox.cli.templates import samples
from inbox.lang.dates import when
from inbox.lang.html import RLM, html_part, text_part
from inbox.lang.names import given_name
from inbox.lang.render import Renderer

SHIPPED = Path(__file__).resolve().parents[2] / "templates"
RENDERER = Renderer(SHIPPED)
LANGUAGES = ("th", "fa", "pl", "tl", "vi", "en")
ACK_KINDS = ("ack", "ack-after-hours")
ACK_CHANNELS = ("email", "telegram", "mastodon", "bluesky", "default")
PUBLIC = frozenset({"mastodon", "bluesky"})
STAFF_KINDS = ("notify", "sla", "escalation", "mention")
REFERENCE = "[#42-k7q2m]"
DUE = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # a Tuesday


class Customer:
    def __init__(self, name: str, zone: tzinfo | None, greeted: str, never: str,
                 date: str) -> None:
        self.name, self.zone, self.greeted, self.never, self.date = (
            name, zone, greeted, never, date)


CUSTOMERS = {
    "th": Customer("สมชาย ใจดี", ZoneInfo("Asia/Bangkok"), "สวัสดีค่ะ คุณสมชาย", "ใจดี",
                   "วันอังคารที่ 1 ธันวาคม พ.ศ. 2569 เวลา 22:30 น. (GMT+07:00)"),
    "fa": Customer("زهرا احمدی", timezone(timedelta(hours=3, minutes=30)), "زهرا احمدی",
                   "خانم", "سه‌شنبه ۱ دسامبر ۲۰۲۶، ساعت ۱۹:۰۰ (+۰۳:۳۰ گرینویچ)"),
    "pl": Customer("Anna Nowak", ZoneInfo("Europe/Warsaw"), "Dzień dobry, Anna Nowak", "Pani",
                   "najpóźniej do 1 grudnia 2026 (wtorek), godz. 16:30 GMT+01:00"),
    "tl": Customer("Maria Clara Santos", ZoneInfo("Asia/Manila"), "Maria", "Santos",
                   "Martes, Disyembre 1, 2026, 11:30 PM GMT+08:00"),
    "vi": Customer("Nguyễn Văn An", ZoneInfo("Asia/Ho_Chi_Minh"), "Chào bạn An", "Nguyễn",
                   "22:30 GMT+07:00, Thứ Ba, ngày 1 tháng 12 năm 2026"),
    "en": Customer("Anna Nowak", None, "Anna", "Nowak", "Tuesday 1 December 2026, 15:30 UTC"),
}
# Words of our English templates that must not be left in another language's ack.
ENGLISH = re.compile(r"\b(Hello|Hi|Thanks|Thank|Reference|reference|message|answer|"
                     r"team|latest|soon|reply|Simply|your|the)\b")
# What an English staff notice says that a translated one must say in its own words.
ENGLISH_STAFF = re.compile(r"\b(Assignee|Team|Priority|Open it|Why|Subject|From|rule|"
                           r"mentioned|asks|must be answered|overdue|no subject|left)\b")


def ack_context(language: str, channel: str, **values: object) -> dict[str, object]:
    customer = CUSTOMERS[language]
    context: dict[str, object] = {
        "customer_name": customer.name,
        "customer_given_name": given_name(customer.name, language),
        "subject": "Zamówienie 1234", "reference": "" if channel in PUBLIC else REFERENCE,
        "team_name": "Acme", "account_name": "Acme", "channel": channel,
        "due_at": when(DUE, language, customer.zone), "language": language}
    return context | values


def size(text: str, language: str) -> int:
    """Words, or what stands for them: Thai writes no spaces between words (graphemes
    then), and Vietnamese spaces every syllable (a word is about 1.4 of them)."""
    if language == "th":
        return len(regex.findall(r"\X", text))
    return len(text.split())


BUDGET = {"th": 350, "vi": 85}  # graphemes, syllables; the others: 60 words


@pytest.mark.parametrize("channel", ACK_CHANNELS)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", ACK_KINDS)
def test_every_ack_speaks_the_customers_language(kind: str, language: str,
                                                 channel: str) -> None:
    rendered = RENDERER.render(kind, channel, language, ack_context(language, channel))
    stem = channel if language == "en" else f"{channel}.{language}"
    assert rendered.name == f"{kind}/{stem}.txt"  # its own file, no English fallback
    customer, text = CUSTOMERS[language], rendered.body
    assert size(text, language) <= BUDGET.get(language, 60), text
    assert customer.greeted in text.split("\n")[0]
    assert customer.never not in text  # Vietnamese given name only; no gender guessed
    assert customer.date in text
    if language != "en":
        assert not ENGLISH.search(f"{rendered.subject or ''} {text}"), text
    if channel == "email":
        assert rendered.subject is not None and rendered.subject.startswith(REFERENCE)
    else:
        assert rendered.subject is None


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", ACK_KINDS)
def test_the_reference_is_given_on_private_channels_and_never_in_public(
        kind: str, language: str) -> None:
    for channel in ACK_CHANNELS:
        # Even when a caller passes it, a public post must not show it: anyone who
        # knows it could write into the conversation by e-mail.
        context = ack_context(language, channel, reference=REFERENCE)
        body = RENDERER.render(kind, channel, language, context).body
        assert (REFERENCE in body) == (channel not in PUBLIC), (channel, body)


def test_the_localised_dates_are_the_ones_each_reader_expects() -> None:
    thai = RENDERER.render("ack", "telegram", "th", ack_context("th", "telegram")).body
    assert "พ.ศ. 2569" in thai and "2026" not in thai
    persian = RENDERER.render("ack", "email", "fa", ack_context("fa", "email")).body
    assert "۲۰۲۶" in persian and "2026" not in persian
    polish = RENDERER.render("ack", "telegram", "pl", ack_context("pl", "telegram")).body
    assert "do 1 grudnia 2026 (wtorek)" in polish and "do wtorek" not in polish


@pytest.mark.parametrize("channel", ACK_CHANNELS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_an_ack_without_a_name_greets_without_one(language: str, channel: str) -> None:
    for kind in ACK_KINDS:
        named = RENDERER.render(kind, channel, language, ack_context(language, channel))
        nameless = RENDERER.render(kind, channel, language, ack_context(
            language, channel, customer_name="anna@example.com", customer_given_name=""))
        assert CUSTOMERS[language].greeted not in nameless.body
        assert "anna@example.com" not in nameless.body
        assert CUSTOMERS[language].date in nameless.body
        assert len(nameless.body) < len(named.body)
        assert "คุณ " not in nameless.body.split("\n")[0]
        assert not re.search(r" [,!،]|  |\( \)", nameless.body), nameless.body


@pytest.mark.parametrize("language", LANGUAGES)
def test_templates_still_greet_when_the_caller_gives_no_given_name(language: str) -> None:
    # A caller that knows only the display name (the variable came later).
    context = ack_context(language, "email")
    del context["customer_given_name"]
    body = RENDERER.render("ack", "email", language, context).body
    assert CUSTOMERS[language].name in body.split("\n")[0]


@pytest.mark.parametrize("channel", ["email", "telegram"])
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", STAFF_KINDS)
def test_every_staff_notice_exists_in_every_language(kind: str, language: str,
                                                     channel: str) -> None:
    stem = "email" if channel == "email" else "default"
    for label, values in samples(kind, channel, language).items():
        rendered = RENDERER.render(kind, channel, language, values)
        assert rendered.name == (f"{kind}/{stem}.txt" if language == "en"
                                 else f"{kind}/{stem}.{language}.txt")
        assert "#42" in f"{rendered.subject} {rendered.body}"
        if label == "usual" and language != "en":
            # The values are English samples; only the template's own words count.
            own = rendered.body
            for value in values.values():
                if isinstance(value, str) and value:
                    own = own.replace(value, "")
            assert not ENGLISH_STAFF.search(own), own
        if label == "breached":
            assert "overdue" not in rendered.body or language == "en"
            assert "1h 20m" in rendered.body


def test_a_persian_email_ack_reads_right_to_left_in_text_and_html() -> None:
    context = ack_context("fa", "email", customer_given_name="Anna Nowak")
    body = RENDERER.render("ack", "email", "fa", context).body
    lines = text_part(body, "fa").split("\n")
    assert lines[0] == f"{RLM}Anna Nowak گرامی، سلام"  # a Latin name first: marked
    assert all(line == "" or line.startswith(RLM) or "\u0600" <= line[0] <= "\u06ff"
               for line in lines)
    document = html_part(body, "fa")
    assert document is not None and '<html lang="fa" dir="rtl">' in document
    assert "Anna Nowak گرامی، سلام</p>" in document


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", ACK_KINDS)
def test_public_acks_fit_in_one_post_with_the_mention(kind: str, language: str) -> None:
    handle = "@maria-clara.santos.bsky.social "  # a long handle, as the connector adds it
    for channel, limit in (("bluesky", 300), ("mastodon", 500)):
        context = ack_context(language, channel, account_name="Acme Billing & Support",
                              customer_given_name=CUSTOMERS[language].name)
        body = RENDERER.render(kind, channel, language, context).body.strip()
        assert len(regex.findall(r"\X", handle + body)) <= limit - 40, body  # room left


@pytest.mark.parametrize("channel", ("email", "telegram"))
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_survey_asks_in_the_customers_language(language: str, channel: str) -> None:
    """How did we do? (inbox.csat): its own file per language, the five links in a mail
    (none in a chat, where a digit is the answer), and the scale's ends in the reader's
    digits."""
    links = [f"https://help.example.com/csat/7.1.x?score={n}" for n in range(1, 6)]
    rendered = RENDERER.render("csat", channel, language, {
        "customer_name": CUSTOMERS[language].name, "subject": "Zamówienie 1234",
        "reference": REFERENCE, "account_name": "Acme", "channel": channel,
        "language": language, "links": links if channel == "email" else []})
    stem = "email" if channel == "email" else "default"
    assert rendered.name == f"csat/{stem}{'' if language == 'en' else '.' + language}.txt"
    text = rendered.body
    assert all((link in text) == (channel == "email") for link in links)
    one, five = ("۱", "۵") if language == "fa" else ("1", "5")
    assert one in text and five in text
    if language != "en":
        words = re.sub(r"https://\S+", "", f"{rendered.subject or ''} {text}")
        assert not ENGLISH.search(words), text
    assert (rendered.subject is not None) == (channel == "email")
