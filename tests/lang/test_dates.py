"""Due times as customers read them: each language's own words, digits and calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from inbox.lang.dates import when, zone_from_date_header

DUE = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # a Tuesday
TEHRAN = timezone(timedelta(hours=3, minutes=30))


@pytest.mark.parametrize(("language", "zone", "expected"), [
    ("en", None, "Tuesday 1 December 2026, 15:30 UTC"),
    ("th", ZoneInfo("Asia/Bangkok"),
     "วันอังคารที่ 1 ธันวาคม พ.ศ. 2569 เวลา 22:30 น. (GMT+07:00)"),
    ("fa", TEHRAN, "سه‌شنبه ۱ دسامبر ۲۰۲۶، ساعت ۱۹:۰۰ (+۰۳:۳۰ گرینویچ)"),
    ("fa", None, "سه‌شنبه ۱ دسامبر ۲۰۲۶، ساعت ۱۵:۳۰ (گرینویچ)"),
    ("pl", ZoneInfo("Europe/Warsaw"), "1 grudnia 2026 (wtorek), godz. 16:30 GMT+01:00"),
    ("tl", ZoneInfo("Asia/Manila"), "Martes, Disyembre 1, 2026, 11:30 PM GMT+08:00"),
    ("vi", ZoneInfo("Asia/Ho_Chi_Minh"), "22:30 GMT+07:00, Thứ Ba, ngày 1 tháng 12 năm 2026"),
])
def test_each_language_reads_the_due_time_its_own_way(
        language: str, zone: timezone | ZoneInfo | None, expected: str) -> None:
    assert when(DUE, language, zone) == expected


def test_thai_years_are_buddhist_and_persian_digits_are_persian() -> None:
    thai = when(DUE, "th", None)
    assert "2569" in thai and "2026" not in thai
    persian = when(DUE, "fa", None)
    assert not any(c.isascii() and c.isdigit() for c in persian)


def test_a_polish_deadline_reads_right_after_do() -> None:
    # "do wtorek" would be wrong: the weekday stays out of the sentence, in brackets.
    text = f"najpóźniej do {when(DUE, 'pl', None)}"
    assert text == "najpóźniej do 1 grudnia 2026 (wtorek), godz. 15:30 UTC"


def test_the_short_form_leaves_out_the_year() -> None:
    assert when(DUE, "en", None, short=True) == "Tue 1 Dec, 15:30 UTC"
    assert when(DUE, "th", None, short=True) == "วันอังคารที่ 1 ธ.ค. เวลา 15:30 น. (UTC)"
    assert when(DUE, "pl", None, short=True) == "1 grudnia (wtorek), godz. 15:30 UTC"
    assert "2026" not in when(DUE, "vi", None, short=True)


def test_a_naive_time_is_utc_and_the_zone_moves_the_day() -> None:
    naive = DUE.replace(tzinfo=None, hour=22)
    assert when(naive, "en", None) == "Tuesday 1 December 2026, 22:30 UTC"
    assert when(naive, "en", ZoneInfo("Asia/Bangkok")) == (
        "Wednesday 2 December 2026, 05:30 GMT+07:00")


@pytest.mark.parametrize("language", ["de", "es", "pt-BR", "fil", "xx", "", None, "a b"])
def test_other_languages_get_babels_form_and_unknown_ones_english(
        language: str | None) -> None:
    text = when(DUE, language, None)
    assert "2026" in text and "UTC" in text
    if language in ("xx", "", None, "a b"):
        assert text == "Tuesday 1 December 2026, 15:30 UTC"
    if language == "de":
        assert text == "Dienstag, 1. Dezember 2026, 15:30 UTC"


@pytest.mark.parametrize(("header", "offset"), [
    ("Tue, 1 Dec 2026 10:00:00 +0330", timedelta(hours=3, minutes=30)),
    ("Tue, 01 Dec 2026 10:00:00 +0700 (ICT)", timedelta(hours=7)),
    ("1 Dec 2026 10:00 -0500", timedelta(hours=-5)),
    ("Tue, 1 Dec 2026 10:00:00 +0000", timedelta(0)),
])
def test_the_date_header_gives_the_senders_offset(header: str, offset: timedelta) -> None:
    zone = zone_from_date_header(header)
    assert zone is not None and zone.utcoffset(None) == offset


@pytest.mark.parametrize("header", [
    "Tue, 1 Dec 2026 10:00:00 -0000", "", None, "yesterday", "Tue, 1 Dec 2026 +9959",
    "\x00\udcff", "Tue, 1 Dec 2026 10:00:00 +0330 +0330 +0330 garbage"])
def test_an_unknown_or_unreadable_zone_is_none(header: str | None) -> None:
    zone = zone_from_date_header(header)
    assert zone is None or zone.utcoffset(None) == timedelta(hours=3, minutes=30)
    if header != "Tue, 1 Dec 2026 10:00:00 +0330 +0330 +0330 garbage":
        assert zone is None


def test_a_persian_customer_sees_their_own_clock() -> None:
    zone = zone_from_date_header("Tue, 1 Dec 2026 10:00:00 +0330")
    assert when(DUE, "fa", zone) == "سه‌شنبه ۱ دسامبر ۲۰۲۶، ساعت ۱۹:۰۰ (+۰۳:۳۰ گرینویچ)"
