"""What a customer wrote about, as words and two-word phrases: the raw material of the
"what keeps coming back" report (docs/reports.md "Recurring problems").

Only the customer's new words count (quotes and signatures cut, inbox.lang.quoting),
folded the way the rules fold them (inbox.rules.text: case, Persian and Arabic letter
variants, zero-width joiners, digits), so "پی‌گیری" and "پیگیری" are one term. Thai
is written without spaces between words: its runs of letters are cut into words by
PyThaiNLP's dictionary segmenter (newmm). Stop words of the conversation's language
(stopwords-iso; PyThaiNLP's longer Thai list) and of English, which customers mix in,
are dropped, and a phrase is never made across one: "refund for my order" gives
"refund" and "order", not "refund order". Vietnamese writes a word as several
syllables, so its words are mostly found among the phrases ("hoàn tiền").

Each term counts once per conversation, however often it is repeated, and a long mail
gives at most MOST of each: the report counts how many conversations speak of a thing.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise

from inbox.lang.quoting import new_words
from inbox.rules.text import fold, words

MOST = 40  # terms and phrases, each, from one message
MIN_LETTERS = 2
_THAI = re.compile(r"[\u0E00-\u0E7F]")
_DIGITS = re.compile(r"\d")
# English is dropped everywhere (customers mix it in), from a short list of its function
# words and greetings: stopwords-iso's English list is a search engine's, with "order",
# "problem" and "number" in it, words a support team must see.
_ENGLISH = """
a about above after again against all am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for
from further had has have having he her here hers herself him himself his how i if in
into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up
very was we were what when where which while who whom why will with would you your
yours yourself yourselves i'm i've i'd i'll it's don't didn't doesn't can't won't isn't
wasn't aren't haven't hasn't hadn't couldn't wouldn't shouldn't let's that's there's
also still yet already ever even however though get got also via per etc
hello hi hey dear thanks thank thx please pls regards kind best sincerely cheers ok okay
yes yeah sir madam team good morning afternoon evening day want like would
"""
ENGLISH = frozenset(_ENGLISH.split())
# Greetings and particles the lists lack: politeness, not a problem.
EXTRA = {"tl": frozenset({"po", "opo", "ho", "salamat", "sana", "lang", "naman"}),
         "fa": frozenset({"سلام", "ممنون", "مرسی", "لطفا", "باتشکر", "خسته", "نباشید"}),
         "pl": frozenset({"dzień", "dobry", "pozdrawiam", "dziękuję", "proszę", "witam"}),
         "vi": frozenset({"chào", "xin", "cảm", "ơn", "bạn", "shop", "ạ", "nhé"}),
         "th": frozenset({"ค่ะ", "ครับ", "คะ", "นะคะ", "นะครับ", "สวัสดี", "ขอบคุณ", "ไหม",
                         "หน่อย", "จ้า"})}


def terms(text: str, language: str | None) -> tuple[list[str], list[str]]:
    """The words and the two-word phrases of a customer's message, each once, in the
    order they first appear."""
    stop = stop_words(language)
    tokens = [None if t in stop or not _meaningful(t) else t for t in _tokens(text)]
    found = list(dict.fromkeys(t for t in tokens if t is not None))
    phrases = (f"{a} {b}" for a, b in pairwise(tokens) if a is not None and b is not None)
    return found[:MOST], list(dict.fromkeys(p for p in phrases if p not in stop))[:MOST]


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    for word in words(fold(new_words(text))):
        out += _thai_words(word) if _THAI.search(word) else [word]
    return out


def _meaningful(token: str) -> bool:
    """Not an order number, a date or a stray letter."""
    if _DIGITS.search(token):
        return False
    return len(token) >= MIN_LETTERS


@lru_cache(maxsize=4096)
def _thai_words(run: str) -> list[str]:
    from pythainlp.tokenize import word_tokenize  # its dictionary loads on first use

    return [w for w in word_tokenize(run, engine="newmm", keep_whitespace=False) if w.strip()]


@lru_cache(maxsize=32)
def stop_words(language: str | None) -> frozenset[str]:
    """The words not worth counting in `language` (and English), folded."""
    import stopwordsiso

    code = (language or "en").split("-")[0].lower()
    found = set(ENGLISH | EXTRA.get(code, frozenset()))
    if code == "th":
        from pythainlp.corpus import thai_stopwords

        found |= set(thai_stopwords())
    elif code != "en" and stopwordsiso.has_lang(code):
        found |= set(stopwordsiso.stopwords(code))
    return frozenset(fold(w) for w in found)
