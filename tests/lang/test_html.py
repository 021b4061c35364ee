"""Right-to-left mail: an HTML part with lang and dir, and a text part whose lines stay
right to left even when they begin with a reference or a Latin name."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from inbox.lang.html import RLM, html_part, is_rtl, text_part

ACK = ("[#42-k7q2m] پیام شما رسید\n"
       "زهرا احمدی گرامی، سلام\n"
       "\n"
       "پیامتان به دست ما رسید.\n"
       "شماره پیگیری: [#42-k7q2m]\n"
       "\n"
       "Acme <Billing> & Co")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(document: str) -> _Page:
    page = _Page()
    page.feed(document)
    return page


def test_a_persian_mail_gets_an_html_part_marked_persian_and_right_to_left() -> None:
    document = html_part(ACK, "fa")
    assert document is not None
    page = parse(document)
    assert ("html", {"lang": "fa", "dir": "rtl"}) in page.tags
    assert [t for t, _ in page.tags].count("p") == 3  # one per paragraph
    assert [t for t, _ in page.tags].count("br") == 2  # the lines inside them kept
    # Escaped on the way in, so the text comes out as written.
    assert "".join(page.text).count("Acme <Billing> & Co") == 1
    assert "<Billing>" not in document


@pytest.mark.parametrize("language", ["ar", "he", "ur", "fa-IR", "FA"])
def test_every_right_to_left_language_gets_its_own_lang(language: str) -> None:
    document = html_part("שלום", language)
    assert document is not None and f'lang="{language}" dir="rtl"' in document


def test_a_hostile_language_tag_cannot_break_the_attribute() -> None:
    document = html_part("سلام", 'fa-"><script>')
    assert document is not None and "<script>" not in document
    assert '<html lang="fa" dir="rtl">' in document


@pytest.mark.parametrize("language", ["en", "pl", "th", "vi", "tl", None, ""])
def test_left_to_right_languages_are_sent_as_text_alone(language: str | None) -> None:
    assert html_part(ACK, language) is None
    assert text_part(ACK, language) == ACK
    assert not is_rtl(language)


def test_lines_that_would_run_left_to_right_start_with_a_mark() -> None:
    lines = text_part(ACK, "fa").split("\n")
    assert lines[0] == RLM + "[#42-k7q2m] پیام شما رسید"  # the reference first
    assert lines[1] == "زهرا احمدی گرامی، سلام"  # already right to left: untouched
    assert lines[2] == ""
    assert lines[4] == "شماره پیگیری: [#42-k7q2m]"
    assert lines[6] == RLM + "Acme <Billing> & Co"
    # Nothing but the marks is added, and marking twice adds nothing.
    assert text_part(ACK, "fa").replace(RLM, "") == ACK
    assert text_part(text_part(ACK, "fa"), "fa") == text_part(ACK, "fa")


def test_a_line_of_digits_alone_is_marked_too() -> None:
    assert text_part("12345\n۱۲۳", "fa") == f"{RLM}12345\n{RLM}۱۲۳"
