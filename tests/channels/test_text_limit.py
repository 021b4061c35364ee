"""How channels count a message's length (channels.base): code points, UTF-16 units and
graphemes, on the scripts our customers write; and how a long reply is cut in parts."""

from __future__ import annotations

import unicodedata

import pytest

from channels.base import TextLimit, count

THAI = "สวัสดีครับ"  # 10 code points; three vowel marks combine: 7 graphemes
VIETNAMESE = "Tiếng Việt"  # NFC: 10 code points, 10 graphemes
VIETNAMESE_NFD = unicodedata.normalize("NFD", VIETNAMESE)  # 14 code points, 10 graphemes
PERSIAN = "سلام دنیا"
EMOJI = "👍🏽👨‍👩‍👧"  # a thumb with a skin tone, a family: 2 graphemes, 7 code points


@pytest.mark.parametrize(("text", "chars", "utf16", "graphemes"), [
    (THAI, 10, 10, 7),
    (VIETNAMESE, 10, 10, 10),
    (VIETNAMESE_NFD, 14, 14, 10),
    (PERSIAN, 9, 9, 9),
    (EMOJI, 7, 12, 2),
    ("😀", 1, 2, 1),
    ("Zażółć gęślą jaźń", 17, 17, 17),
    ("", 0, 0, 0),
])
def test_each_unit_counts_as_its_channel_does(text: str, chars: int, utf16: int,
                                              graphemes: int) -> None:
    assert (count(text, "chars"), count(text, "utf16"), count(text, "graphemes")) == (
        chars, utf16, graphemes)
    assert TextLimit(300, "graphemes").count(text) == graphemes


def test_a_long_reply_is_cut_at_paragraphs_lines_then_words_within_the_limit() -> None:
    limit = TextLimit(20, "utf16", splits=True)
    assert limit.parts("Dzień dobry,\n\nzamówienie jest w drodze.") == [
        "Dzień dobry,", "zamówienie jest w", "drodze."]
    emoji = "😀" * 15  # 30 UTF-16 units: 10 emoji fit in 20
    assert limit.parts(emoji) == ["😀" * 10, "😀" * 5]
    assert limit.parts("  short  ") == ["short"]


def test_a_part_never_ends_inside_a_grapheme() -> None:
    thai = THAI * 3  # 30 code points, 21 graphemes
    parts = TextLimit(7, "chars", splits=True).parts(thai)
    assert "".join(parts) == thai
    assert all(count(p, "chars") <= 7 for p in parts)
    assert all(not unicodedata.combining(p[0]) and unicodedata.category(p[0]) != "Mn"
               for p in parts)
    # decomposed Vietnamese: ế is three code points and one character, kept whole
    parts = TextLimit(4, "graphemes", splits=True).parts(VIETNAMESE_NFD)
    assert parts == [unicodedata.normalize("NFD", p) for p in ("Tiến", "g Vi", "ệt")]
