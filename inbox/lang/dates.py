"""A due time as a customer reads it, in their language (CLDR data, through Babel).

Each language we serve has its own shape, chosen so that the text reads right where the
templates put it: Polish "najpóźniej do 1 grudnia 2026 (wtorek), godz. 15:30 UTC" keeps
the weekday in brackets, because after "do" a weekday would have to be inflected
("do wtorku") and a number is read in the right case by itself. Thai shows the
Buddhist-era year (พ.ศ. 2569), as Thai readers write it; Persian uses Persian digits and
the Gregorian calendar with the Persian month names CLDR gives (دسامبر); Vietnamese puts
the time first, as people say it. Any other language gets Babel's full date and short
time; a code Babel does not know gets English.

The zone is "UTC" when the time is in UTC, else its offset as the language writes it
("GMT+07:00", "+۰۳:۳۰ گرینویچ"): an offset is exact, while CLDR's zone names are
sometimes odd out of context ("czas: Tajlandia").
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_tz

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime, get_timezone_gmt

# Babel date patterns, long and short; '{z}' is where the zone goes, '{be}' the
# Buddhist-era year. Quoted text is literal.
_FORMS: dict[str, tuple[str, str]] = {
    "en": ("EEEE d MMMM y, HH:mm '{z}'", "EEE d MMM, HH:mm '{z}'"),
    "th": ("EEEEที่ d MMMM 'พ.ศ.' '{be}' 'เวลา' HH:mm 'น. ({z})'",
           "EEEEที่ d MMM 'เวลา' HH:mm 'น. ({z})'"),
    "fa": ("EEEE d MMMM y، 'ساعت' H:mm '({z})'", "EEEE d MMMM، 'ساعت' H:mm '({z})'"),
    "pl": ("d MMMM y '('EEEE'), godz.' HH:mm '{z}'", "d MMMM '('EEEE'), godz.' HH:mm '{z}'"),
    "tl": ("EEEE, MMMM d, y, h:mm a '{z}'", "EEE, MMM d, h:mm a '{z}'"),
    "vi": ("HH:mm '{z}', EEEE, 'ngày' d 'tháng' M 'năm' y", "HH:mm '{z}', EEEE, d/M"),
}
_UTC_NAME = {"fa": "گرینویچ"}  # "UTC" in Latin letters would break a Persian line
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_MAX_OFFSET = timedelta(hours=14)  # the widest offset any zone has ever used


def when(at: datetime, language: str | None, zone: tzinfo | None = None, *,
         short: bool = False) -> str:
    """`at` in `zone` (UTC when None), as a reader of `language` writes a date and time.

    A naive `at` is UTC (the store keeps UTC without a zone). `short` leaves out the
    year, for chat lines where the due time is at most a few days away.
    """
    local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone or UTC)
    locale, code = _locale(language)
    forms = _FORMS.get(code) or (
        f"{locale.date_formats['full'].pattern}, {locale.time_formats['short'].pattern} '{{z}}'",
        f"{locale.date_formats['medium'].pattern}, {locale.time_formats['short'].pattern} "
        "'{z}'")
    pattern = forms[1 if short else 0].replace("{be}", str(local.year + 543))  # Buddhist era
    text = format_datetime(local, pattern, tzinfo=local.tzinfo, locale=locale)
    text = text.replace("{z}", _zone_name(local, locale, code))
    return text.translate(_PERSIAN_DIGITS) if code == "fa" else text


def zone_from_date_header(value: str | None) -> tzinfo | None:
    """The sender's offset from an e-mail `Date:` header ("+0330" -> UTC+03:30).

    None when the header is missing or unreadable, says "-0000" (RFC 5322: the
    sender's zone is unknown) or gives an offset no place on Earth uses.
    """
    try:
        parsed = parsedate_tz(value or "")
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None or parsed[9] is None or (
            not parsed[9] and "-0000" in (value or "")):  # Python < 3.12 reads it as UTC
        return None
    offset = timedelta(seconds=parsed[9])
    if abs(offset) > _MAX_OFFSET:
        return None
    return UTC if not offset else timezone(offset)


@functools.lru_cache(maxsize=64)
def _locale(language: str | None) -> tuple[Locale, str]:
    """Babel's locale for a language tag, and its primary language code (parsed once:
    every acknowledgement asks)."""
    try:
        locale = Locale.parse((language or "en").replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        locale = Locale.parse("en")
    return locale, "tl" if locale.language == "fil" else locale.language


def _zone_name(local: datetime, locale: Locale, code: str) -> str:
    if local.utcoffset() == timedelta(0):
        return _UTC_NAME.get(code, "UTC")
    return str(get_timezone_gmt(local, locale=locale))
