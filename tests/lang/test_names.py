"""Greeting by name the way each language does, with real names in each script."""

from __future__ import annotations

import pytest

from inbox.lang.names import given_name


@pytest.mark.parametrize(("name", "language", "greeted"), [
    # Thai: คุณ and the given name, which comes first.
    ("สมชาย ใจดี", "th", "คุณสมชาย"),
    ("คุณสุภาพร วงศ์ใหญ่", "th", "คุณสุภาพร"),
    ("Somchai Jaidee", "th", "คุณ Somchai"),
    # Vietnamese: the given name, which comes last; Western order told by the family name.
    ("Nguyễn Văn An", "vi", "An"),
    ("Trần Thị Mai Anh", "vi", "Anh"),
    ("Nguyen Van An", "vi", "An"),
    ("An Nguyen", "vi", "An"),
    ("Hoàng Yến", "vi", "Yến"),
    ("John Smith", "vi", "John"),
    # Polish and Persian: the whole name, no gender guessed.
    ("Anna Nowak", "pl", "Anna Nowak"),
    ("Łukasz Żółkiewski", "pl", "Łukasz Żółkiewski"),
    ("زهرا احمدی", "fa", "زهرا احمدی"),
    ("محمدرضا شجاعی‌فر", "fa", "محمدرضا شجاعی‌فر"),
    # English and Tagalog: the first name.
    ("Maria Clara Santos", "tl", "Maria"),
    ("Juan dela Cruz", "tl", "Juan"),
    ("Anna Nowak", "en", "Anna"),
    ("Mary-Jane O'Neil", "en", "Mary-Jane"),
    ("Nowak, Anna", "en", "Anna"),  # a company directory's order
    ("Dr. Anna Nowak", "en", "Dr. Anna Nowak"),
    ("Ma. Theresa Reyes", "tl", "Ma. Theresa Reyes"),
    # Any other language: the whole name.
    ("Anna Nowak", "de", "Anna Nowak"),
    ("Anna Nowak", None, "Anna"),
    ("  Anna \t Nowak ", "en-GB", "Anna"),
    ("\"Anna Nowak\"", "en", "Anna"),
    ("Ana Kowalska 🌻", "pl", "Ana Kowalska"),
    ("Ana :blobcat:", "en", "Ana"),
])
def test_each_language_greets_by_its_own_part_of_the_name(
        name: str, language: str | None, greeted: str) -> None:
    assert given_name(name, language) == greeted


@pytest.mark.parametrize("name", [
    "", "   ", "anna@example.com", "<anna@example.com>", "@ana@elsewhere.test", "@ana",
    "ana_k93", "user12345", "🌻", "http://spam.example", "ana.bsky.social"])
@pytest.mark.parametrize("language", ["th", "fa", "pl", "tl", "vi", "en"])
def test_no_name_gives_an_empty_greeting(name: str, language: str) -> None:
    assert given_name(name, language) == ""


def test_bidi_controls_in_a_name_cannot_turn_the_greeting_around() -> None:
    assert given_name("\u202eAnna\u202c Nowak\u200f", "en") == "Anna"
    assert given_name("\u2067زهرا احمدی\u2069", "fa") == "زهرا احمدی"
    # The zero-width non-joiner is spelling, not a control: it stays.
    assert given_name("محمدرضا شجاعی\u200cفر", "fa") == "محمدرضا شجاعی\u200cفر"
