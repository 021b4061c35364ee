"""Text as rules see it, in any script.

`fold` makes matching case- and form-insensitive: NFC, Unicode case folding, and the
variants people type interchangeably (Arabic and Persian yeh and kaf, teh marbuta and
heh, alef with hamza, tatweel, optional Arabic vowel marks, zero-width joiners, bidi
marks, Persian and Arabic-Indic digits). Words are runs of letters, marks and digits —
marks included, because Thai vowels and tone marks and Devanagari vowel signs are marks,
and a plain `\\w+` would cut those words apart.

Persian writes the two parts of one word together, with a zero-width non-joiner or with
a space ("پیگیری", "پی‌گیری", "پی گیری"), so in Arabic script a two-part keyword is
joined and a text's words also count joined with the next one (`Text.tokens`).

Customers often type without diacritics ("hoan tien", "platnosc"): a text with no
accented Latin letter at all (`Text.plain`) also matches a keyword's unaccented form.
A keyword ending in `*` matches words that start with it (`faktur*`).

Thai, Lao, Khmer, Burmese, Chinese and Japanese are written without spaces between
words, so neither a `\\b` nor a split on spaces finds them. A keyword in those scripts
matches where it occurs in the text, provided the match does not cut a letter off its
vowel or tone marks (the text right after it must not be a combining mark).
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar, overload

S = TypeVar("S")
T = TypeVar("T")


class lazy(Generic[S, T]):
    """`functools.cached_property` without its per-instance lock (Python 3.11 takes one
    on every first access, a measurable cost on the routing hot path)."""

    def __init__(self, fn: Callable[[S], T]) -> None:
        self.fn, self.name = fn, fn.__name__

    @overload
    def __get__(self, obj: None, owner: Any) -> lazy[S, T]: ...

    @overload
    def __get__(self, obj: S, owner: Any) -> T: ...

    def __get__(self, obj: S | None, owner: Any) -> T | lazy[S, T]:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value

_DROP = ["\u0640", "\u0670", "\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",
         *(chr(c) for c in range(0x064B, 0x0660)),  # tatweel, harakat, invisible joiners
         # Bidi marks: phones and pasted right-to-left text put them inside words.
         "\u061c", "\u200e", "\u200f", *(chr(c) for c in range(0x202A, 0x202F)),
         *(chr(c) for c in range(0x2066, 0x206A))]
_MAP = {"\u064a": "\u06cc", "\u0649": "\u06cc", "\u0643": "\u06a9",  # yeh, kaf -> Persian
        # Teh marbuta and the ezafe heh (ۀ) are written as plain heh by most Persian
        # writers; alef with hamza as plain alef (the hamza is as optional as a vowel).
        "\u0629": "\u0647", "\u06c0": "\u0647", "\u0623": "\u0627", "\u0625": "\u0627",
        "\u00a0": " ", "\u2019": "'", "\u2018": "'"}
_DIGITS = {**{chr(0x0660 + i): str(i) for i in range(10)},
           **{chr(0x06F0 + i): str(i) for i in range(10)},
           **{chr(0x0E50 + i): str(i) for i in range(10)}}
_TABLE = str.maketrans({**dict.fromkeys(_DROP), **_MAP, **_DIGITS})
# translate() looks every character up in a dict: slow, so done only when needed.
_NEEDS_TABLE = re.compile("[" + re.escape("".join([*_DROP, *_MAP, *_DIGITS])) + "]")


def _mark_ranges() -> str:
    """A character class of every combining mark of the Basic Multilingual Plane.

    The stdlib's `\\w` leaves marks out and the `regex` module's `\\p{M}` is much slower
    to scan with, so the class is built once from the Unicode database (~20 ms).
    """
    out, start, prev = [], -2, -2
    for c in range(0x300, 0x10000):
        if unicodedata.category(chr(c))[0] != "M":
            continue
        if c != prev + 1:
            if start >= 0:
                out.append(f"\\u{start:04x}-\\u{prev:04x}")
            start = c
        prev = c
    out.append(f"\\u{start:04x}-\\u{prev:04x}")
    return "".join(out)


# Internal scans use the stdlib `re`: several times faster than `regex` for these.
_WORD = re.compile(r"[\w" + _mark_ranges() + "]+")


def _unaccented() -> dict[int, str | None]:
    """Accented Latin letters -> their base letter; combining accents dropped.

    Only Latin: Thai vowels and Arabic vowel marks are marks too, but they are part of
    how those words are spelled, not accents customers leave out.
    """
    table: dict[int, str | None] = {c: None for c in range(0x0300, 0x0370)}
    for c in [*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)]:
        base = unicodedata.normalize("NFD", chr(c))[0]
        if base != chr(c) and base.isascii():
            table[c] = base
    # Letters whose stroke is not a combining mark, so NFD keeps them whole.
    table.update({ord(k): v for k, v in {"đ": "d", "ł": "l", "ø": "o", "ı": "i",
                                         "ħ": "h", "ŧ": "t"}.items()})
    return table


_BARE = _unaccented()
_ACCENTED = re.compile("[" + re.escape("".join(map(chr, _BARE))) + "]")
_ARABIC = re.compile(r"[\u0600-\u06FF]")


def arabic(text: str) -> bool:
    """Whether `text` holds a letter of the Arabic block (U+0600-U+06FF): the characters
    whose UTF-16 high byte is 0x06. Twice as fast as a regex scan on the routing path."""
    return b"\x06" in text.encode("utf-16-be", "surrogatepass")[::2]


def unaccented(folded: str) -> str:
    return folded.translate(_BARE)


def compounds(word_list: list[str]) -> list[str]:
    """Each word joined with the next: "پی گیری" -> "پیگیری". Only texts in Arabic script
    ask; a pair with a word of another script is harmless, as no keyword can equal it."""
    return [a + b for a, b in itertools.pairwise(word_list)]


# Scripts written without spaces between words: Thai, Lao, Burmese, Khmer, CJK, kana.
_UNSPACED = re.compile(r"[\u0E00-\u0EFF\u1000-\u109F\u1780-\u17FF\u3040-\u30FF"
                       r"\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF]")


def nfc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """The form both keywords and messages take before they are compared."""
    if text.isascii():
        return text.lower()  # casefold() == lower() for ASCII, and much faster
    folded = unicodedata.normalize("NFC", text).casefold()
    return folded.translate(_TABLE) if _NEEDS_TABLE.search(folded) else folded


def words(folded: str) -> list[str]:
    return _WORD.findall(folded)


def unspaced(text: str) -> bool:
    """True when `text` holds a script that does not put spaces between words."""
    return _UNSPACED.search(text) is not None


def find_unspaced(word: str, folded: str) -> bool:
    """`word` occurs in `folded` without cutting a letter off its marks."""
    start = folded.find(word)
    while start >= 0:
        end = start + len(word)
        if end == len(folded) or not unicodedata.category(folded[end]).startswith("M"):
            return True
        start = folded.find(word, start + 1)
    return False


class Text:
    """One field of a message, with its folded form and words computed when first asked."""

    def __init__(self, raw: str) -> None:
        self.raw = raw

    @lazy
    def nfc(self) -> str:
        return nfc(self.raw)

    @lazy
    def folded(self) -> str:
        return fold(self.raw)

    @lazy
    def word_list(self) -> list[str]:
        return words(self.folded)

    @lazy
    def tokens(self) -> frozenset[str]:
        """The words, and in Arabic script also the words joined with their neighbours."""
        folded = self.folded
        if folded.isascii() or not arabic(folded):
            return frozenset(self.word_list)
        return frozenset(self.word_list).union(compounds(self.word_list))

    @lazy
    def joined(self) -> str:
        """Words separated by single spaces and padded, for phrase matching."""
        return " " + " ".join(self.word_list) + " "

    @lazy
    def plain(self) -> bool:
        """No accented Latin letter anywhere: typed without diacritics."""
        folded = self.folded
        return folded.isascii() or _ACCENTED.search(folded) is None

    @lazy
    def exact_tokens(self) -> frozenset[str]:
        return frozenset(_WORD.findall(self.nfc))

    @lazy
    def exact_joined(self) -> str:
        return " " + " ".join(_WORD.findall(self.nfc)) + " "

    @lazy
    def unspaced(self) -> bool:
        return unspaced(self.folded)


class Joined(Text):
    """Subject and body together, built from the parts' work instead of redoing it."""

    def __init__(self, first: Text, second: Text) -> None:
        super().__init__(f"{first.raw}\n{second.raw}")
        self.parts = (first, second)

    @lazy
    def folded(self) -> str:
        return f"{self.parts[0].folded}\n{self.parts[1].folded}"

    @lazy
    def word_list(self) -> list[str]:
        return self.parts[0].word_list + self.parts[1].word_list

    @lazy
    def tokens(self) -> frozenset[str]:
        return self.parts[0].tokens | self.parts[1].tokens

    @lazy
    def joined(self) -> str:
        """Each part padded on its own, so that no phrase runs from subject into body."""
        return self.parts[0].joined + self.parts[1].joined

    @lazy
    def unspaced(self) -> bool:
        return self.parts[0].unspaced or self.parts[1].unspaced

    @lazy
    def plain(self) -> bool:
        return self.parts[0].plain and self.parts[1].plain


class Keyword:
    """One entry of a `words:` list, prepared for the way its script is matched."""

    __slots__ = ("bare", "bare_phrase", "exact", "folded", "phrase", "prefix", "shown",
                 "tokens", "unspaced")

    def __init__(self, shown: str, case_sensitive: bool = False) -> None:
        self.shown = shown
        self.exact = case_sensitive
        body = shown.strip()
        self.prefix = body.endswith("*")  # `faktur*`: words that start with `faktur`
        body = body.removesuffix("*")
        self.folded = nfc(body) if case_sensitive else fold(body)
        self.unspaced = unspaced(self.folded)
        self.tokens = self._parts(self.folded)
        end = "" if self.prefix else " "
        self.phrase = " " + " ".join(self.tokens) + end
        bare = () if case_sensitive or self.unspaced else \
            self._parts(unaccented(self.folded))
        # The form a customer typing without diacritics writes, when it differs.
        self.bare = bare if bare != self.tokens else ()
        self.bare_phrase = " " + " ".join(self.bare) + end if self.bare else ""

    def _parts(self, folded: str) -> tuple[str, ...]:
        parts = tuple(_WORD.findall(folded))
        if len(parts) == 2 and not self.exact and all(_ARABIC.match(p) for p in parts):
            return ("".join(parts),)  # "پی گیری" is "پیگیری" (see `compounds`)
        return parts

    @property
    def empty(self) -> bool:
        return not self.tokens

    @property
    def single(self) -> bool:
        """One whole word of a spaced script: tested for all of a rule at once, by set."""
        return not (self.exact or self.unspaced or self.prefix) and len(self.tokens) == 1

    @property
    def index_keys(self) -> tuple[tuple[str, str], ...]:
        """What the text must hold for this keyword to match: ("word", a folded word of
        the text), ("in", a folded substring, for prefixes) or, for scripts without
        spaces, ("sub", a folded substring); the unaccented form counts too."""
        if self.unspaced:
            return (("sub", fold(self.folded)),)
        kind = "in" if self.prefix else "word"
        first = fold(self.tokens[0]) if self.exact else self.tokens[0]
        return ((kind, first), (kind, self.bare[0])) if self.bare else ((kind, first),)

    def found_in(self, text: Text) -> bool:
        if self.unspaced:
            return find_unspaced(self.folded, text.nfc if self.exact else text.folded)
        if len(self.tokens) == 1 and not self.prefix:
            if self.tokens[0] in (text.exact_tokens if self.exact else text.tokens):
                return True
            return bool(self.bare) and self.bare[0] in text.tokens and text.plain
        hay = text.exact_joined if self.exact else text.joined
        return self.phrase in hay or \
            (bool(self.bare_phrase) and self.bare_phrase in hay and text.plain)

    def only_unaccented(self, text: Text) -> bool:
        """Of a keyword `found_in` the text: by its unaccented form only (`explain` says
        so)."""
        if not self.bare:
            return False
        if len(self.tokens) == 1 and not self.prefix:
            return self.tokens[0] not in text.tokens
        return self.phrase not in text.joined


def thai_letters(folded: str) -> int | None:
    """How many letters (marks not counted) a Thai keyword has; None if not Thai."""
    if _THAI.search(folded) is None:
        return None
    return sum(1 for c in folded if not c.isspace() and
               not unicodedata.category(c).startswith("M"))


_THAI = re.compile(r"[\u0E00-\u0E7F]")


# Where a reply's new text ends and the quoted conversation begins, in the forms the
# common mail clients write (several languages); `>` lines are dropped as well.
_QUOTE_HEADER = re.compile(
    r"^[ \t]*(?:"
    r"(?:On|Am|Le|El|Il|Op|Em|W dniu|Den)\b[^\n]{0,200}(?:\n[^\n]{0,200})?"
    r"(?:wrote|schrieb|a écrit|escribió|ha scritto|schreef|escreveu|napisał\(a\)|"
    r"napisał|napisała|skrev)\s*:"
    r"|-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|"
    r"Forwarded message|Původní zpráva)\s*-{2,}"
    r"|_{20,}\s*$"
    r"|From:[^\n]+\n(?:Sent|Date):"
    r")", re.M | re.I)


def trim_quotes(text: str) -> str:
    """The new text of a reply: the quoted history below it removed.

    A message that is nothing but a quote (a bare forward) keeps its text, so that rules
    still see what was sent.
    """
    # Every quote header holds one of these; most messages have none (a cheap test first).
    cut = _QUOTE_HEADER.search(text) if ":" in text or "--" in text or "__" in text \
        else None
    new = text[:cut.start()] if cut else text
    if ">" in new:
        new = "\n".join(ln for ln in new.split("\n") if not ln.lstrip().startswith(">"))
    return new if new.strip() else text


# Scripts that name one language (first code point of each block, language). Latin and
# Cyrillic serve many, so they tell nothing — except letters only Vietnamese uses.
_BLOCKS: tuple[tuple[int, str | None], ...] = (
    (0x0370, "el"), (0x0400, None), (0x0530, "hy"), (0x0590, "he"), (0x0600, "ar"),
    (0x0700, None), (0x0900, "hi"), (0x0980, None), (0x0E00, "th"), (0x0E80, "lo"),
    (0x0F00, None), (0x1000, "my"), (0x10A0, "ka"), (0x1100, "ko"), (0x1200, None),
    (0x1780, "km"), (0x1800, None), (0x3040, "ja"), (0x3100, None), (0x3400, "zh"),
    (0xA000, None), (0xAC00, "ko"), (0xD7B0, None), (0xF900, "zh"), (0xFB00, None),
)
_STARTS = [b for b, _ in _BLOCKS]
_DISTINCT = re.compile(r"[\u0370-\u03FF\u0530-\u06FF\u0900-\u097F\u0E00-\u0EFF"
                       r"\u1000-\u11FF\u1780-\u17FF\u3040-\u30FF\u3400-\u9FFF"
                       r"\uAC00-\uD7AF\uF900-\uFAFF]")
_KANA = re.compile(r"[\u3040-\u30FF]")
_PERSIAN = re.compile(r"[\u067E\u0686\u0698\u06AF\u06A9\u06CC]")  # پ چ ژ گ ک ی
_VIETNAMESE = re.compile(r"[ơưđăƠƯĐĂạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]",
                         re.I)


def guess_language(parts: Iterable[str]) -> str | None:
    """A language the writing system gives away, or None when it does not."""
    sample = " ".join(p[:2000] for p in parts)
    found = _DISTINCT.search(sample)
    if found is None:
        return "vi" if _VIETNAMESE.search(sample) else None
    lang = _BLOCKS[bisect.bisect_right(_STARTS, ord(found.group())) - 1][1]
    if lang == "zh" and _KANA.search(sample):  # Japanese mixes kanji with kana
        return "ja"
    if lang == "ar" and _PERSIAN.search(sample):
        return "fa"
    return lang


_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ")
_ARGUMENT_ESCAPES = frozenset("xuUNpPgXo")


def class_end(pattern: str, start: int) -> int:
    """Index of the `]` closing the class opened at `start` (`[]a]`, `[^]a]`, `[\\]]`)."""
    i = start + 1
    if pattern[i] == "^":
        i += 1
    if pattern[i] == "]":
        i += 1
    while pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i


def required_literals(pattern: str) -> frozenset[str] | None:
    """Lower-cased ASCII strings of which a match of `pattern` must contain one, or None.

    It lets the rule index skip a regex rule whose required word is absent. Deliberately
    conservative: anything it does not fully understand (classes, lookarounds, verbose
    mode, non-ASCII) ends a literal or gives up, so it can only be too weak, never wrong.
    """
    if "(?x" in pattern or "(?" in pattern.replace("(?:", ""):
        return None
    try:
        return _alternatives(pattern)
    except (IndexError, ValueError):
        return None


def _alternatives(pattern: str) -> frozenset[str] | None:
    out: set[str] = set()
    for branch in split_alternatives(pattern):
        best = _branch(branch)
        if best is None:
            return None
        out |= best
    return frozenset(out)


def structure(pattern: str) -> Iterator[tuple[int, str]]:
    """The characters that shape a pattern, with their positions: escaped characters and
    whole character classes are passed over, so `(`, `)` and `|` here are real ones."""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1
        elif c == "[":
            i = class_end(pattern, i)
        else:
            yield i, c
        i += 1


def split_alternatives(pattern: str) -> list[str]:
    """Top-level alternatives of a pattern."""
    parts, depth, start = [], 0, 0
    for i, c in structure(pattern):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    return [*parts, pattern[start:]]


def _branch(branch: str) -> frozenset[str] | None:
    """The strongest requirement in one alternative: its longest literal run, or a group's."""
    options: list[frozenset[str]] = []
    run, i = "", 0
    while i < len(branch):
        c, nxt = branch[i], branch[i + 1] if i + 1 < len(branch) else ""
        if c in _LITERAL and not (nxt and nxt in "?*{"):
            run += c
            if nxt == "+":
                options.append(frozenset({run.strip().lower()}))
                run, i = "", i + 1
        else:
            options.append(frozenset({run.strip().lower()}))
            run = ""
            if c == "\\":
                if nxt in _ARGUMENT_ESCAPES or nxt.isdigit():
                    raise ValueError("an escape with an argument")  # \x41, \p{L}, \1
                i += 1
            elif c == "[":
                i = class_end(branch, i)
            elif c == "(":
                end = _close(branch, i)
                if end + 1 >= len(branch) or branch[end + 1] not in "?*{":
                    inner = branch[i + 1:end].removeprefix("?:")
                    found = _alternatives(inner)
                    if found:
                        options.append(found)
                i = end
        i += 1
    options.append(frozenset({run.strip().lower()}))
    good = [o for o in options if all(len(s) >= 3 for s in o)]
    return max(good, key=lambda o: min(map(len, o))) if good else None


def _close(branch: str, start: int) -> int:
    depth, i = 0, start
    while True:
        c = branch[i]
        if c == "\\":
            i += 1
        elif c == "[":
            i = class_end(branch, i)
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
