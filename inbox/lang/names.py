"""The part of a customer's name an acknowledgement greets them by, per language.

Thai greets with คุณ and the given name, which comes first ("คุณสมชาย"). Vietnamese
greets by the given name, which comes last ("Nguyễn Văn An" -> "An"), unless the name
was written in Western order ("An Nguyen"). Polish and Persian greet politely with the
whole name: their polite forms (Pani/Pan, جناب/سرکار خانم) need a gender we would have
to guess, and a wrong guess offends more than the full name. English and Tagalog greet
by the first name (the whole name when it starts with a title or an initial: "Dr.",
"Ma."). Any other language gets the whole name.

A display name that is no name (an e-mail address, a @handle, a user name such as
"ana_k93", an empty one) gives "": the templates then greet without a name.
"""

from __future__ import annotations

import re
import unicodedata

# The family names most Vietnamese carry: with them a name's order can be told.
# (Mai, Lâm, Hà are left out: they are given names as often.)
_VIETNAMESE_FAMILIES = frozenset({
    "nguyen", "tran", "le", "pham", "hoang", "huynh", "phan", "vu", "vo", "dang", "bui",
    "do", "ho", "ngo", "duong", "ly", "dinh", "dao", "trinh", "truong", "luong"})
_VIETNAMESE_LETTERS = re.compile("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữự"
                                 "ỳỵỷỹ]", re.IGNORECASE)
# Middle names that are never a given name: a name that ends with one is not in
# Vietnamese order.
_MIDDLE_ONLY = frozenset({"thi", "van"})
_THAI = re.compile("[\u0e00-\u0e7f]")
_HANDLE = re.compile(r"[@_0-9/:]|\.\w")  # ana_k93, user123, @ana, a.b.c, http://...
_CUSTOM_EMOJI = re.compile(r":[\w+-]+:")  # Mastodon's :blobcat: in display names
# Bidi controls: a name must not be able to reverse the greeting line it is put in.
# (Zero-width joiners and non-joiners stay: Persian names are spelt with them.)
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_THAI_TITLE = "คุณ"
_LATIN_ACCENTS = str.maketrans("àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụ"
                               "ưừứửữựỳýỷỹỵ",
                               "aaaaaaaaaaaaaaaaadeeeeeeeeeeeiiiiiooooooooooooooooouuuuu"
                               "uuuuuuyyyyy")


def given_name(display_name: str, language: str | None) -> str:
    """The form of `display_name` a greeting in `language` uses; "" when it is no name."""
    # Composed: a name typed with combining tone marks (Unikey's "Unicode tổ hợp")
    # must meet the family names and letters below as one typed precomposed does.
    words = _words(unicodedata.normalize("NFC", display_name))
    if not words:
        return ""
    code = (language or "en").split("-")[0].split("_")[0].lower()
    if code == "th":
        return _thai(words[0])
    if code == "vi":
        return _vietnamese(words)
    if code in ("en", "tl", "fil") and not words[0].endswith("."):
        return words[0]  # (after a title or an initial, "Dr. Anna Nowak": the whole name)
    return " ".join(words)


def _words(display_name: str) -> list[str]:
    """The words of a name, without quotes, emoji or decorations; [] if it is no name."""
    text = _CUSTOM_EMOJI.sub(" ", " ".join(_BIDI_CONTROLS.sub("", display_name).split()))
    if "," in text and text.count(",") == 1:  # "Nowak, Anna": a directory's order
        family, given = text.split(",")
        text = f"{given} {family}"
    words = [w.strip("\"'()[]<>«»“”„") for w in text.split()]
    words = [w for w in words if any(c.isalpha() for c in w)]
    if not words or any(_HANDLE.search(w) for w in words):
        return []
    return words


def _thai(first: str) -> str:
    if first.startswith(_THAI_TITLE) and len(first) > len(_THAI_TITLE):
        return first  # already "คุณสมชาย"
    # Thai letters join the title; a Latin name reads better a space apart.
    return _THAI_TITLE + ("" if _THAI.match(first) else " ") + first


def _plain(word: str) -> str:
    return word.lower().translate(_LATIN_ACCENTS)


def _vietnamese(words: list[str]) -> str:
    def family(word: str) -> bool:
        return _plain(word) in _VIETNAMESE_FAMILIES

    if len(words) == 1 or family(words[0]):
        return words[-1]
    if family(words[-1]) or _plain(words[-1]) in _MIDDLE_ONLY:
        # Western order, "An Nguyen"; or a profile's "last name" field holding the
        # family and middle names after the given one ("Hương Nguyễn Thị").
        return words[0]
    # Neither end is a Vietnamese family name: a Vietnamese spelling is still in
    # Vietnamese order; anything else is a foreign name, greeted by its first word.
    return words[-1] if _VIETNAMESE_LETTERS.search(" ".join(words)) else words[0]
