"""Which language a customer writes in now, from the new words of one message.

`Detector(languages, threshold).detect(text, subject)` answers a `Detection`: a language
of the deployment's, or None ("unknown": the caller falls back), its confidence, and the
reason in words for the audit trail. It reads only `new_words(text)` (a quoted English
thread would outvote a Polish answer) and the subject unless the subject is ours.

The classifier is py3langid 0.4's naive Bayes model restricted to the deployment's
languages, with normalised probabilities: restricted, short Persian is not taken for
Arabic or Urdu; normalised, a short or odd text (Vietnamese typed without diacritics,
Finglish) gets a low confidence instead of a confident wrong answer. docs/languages.md
has the measurements behind the choice. The model ships inside the package (no network)
and is loaded once per process, lazily, whatever the number of detectors: it costs
about 0.7 s and 100 MB.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inbox.lang.quoting import new_words

DEFAULT_LANGUAGES = ("th", "fa", "pl", "tl", "vi", "en")
DEFAULT_THRESHOLD = 0.8
MIN_LETTERS = 3
# A customer's words are at the top; past this the answer does not change, the cost does.
_READ = 2_000

# What carries no language: addresses, links, handles, tags, numbers, our reference token.
_NOISE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+\.\S+|[@#]\w+|\[#[^\]]*\]|\d+", re.IGNORECASE)
_REPLY_PREFIX = re.compile(
    r"^\s*((re|fwd?|fw|odp|aw|wg|tr|sv|vs|rv|enc|pd)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
# Persian written in Latin letters (Finglish) reads to the model as Tagalog, Polish or
# English at any confidence; these words, common in Finglish and in none of our Latin
# languages, give it away.
_FINGLISH = frozenset({
    "aghaye", "alan", "avaz", "avazesh", "baraye", "bargardoonid", "bargardunid", "baste",
    "basteh", "bayad", "bedid", "bedin", "bedoonam", "befrestid", "begirid", "chejoori",
    "chera", "chetor", "chetore", "chetori", "chiye", "dadam", "dige", "dirooz", "dorost",
    "emrooz", "ersal", "farda", "gereftam", "ghabz", "hamin", "hanooz", "hanuz", "hastam",
    "hesabam", "hesabe", "inja", "injast", "jens", "kalaye", "kardam", "kardid", "ke",
    "khanoom", "khanum", "kharid", "kharidam", "kheili", "kheyli", "khob", "kojas", "kojast",
    "komak", "konam", "kone", "konid", "konim", "kuchike", "laghv", "lotfa", "lotfan",
    "mamnoon", "mamnun", "mersi", "mikhaam", "mikham", "mikhastam", "mikonam", "mikonid",
    "mishe", "mishod", "motasefam", "naresid", "nareside", "naresideh", "nashod", "nashode",
    "nemidoonam", "nemidunam", "nemishe", "nist", "pardakht", "poolam", "pul", "pulam",
    "rafte", "ramzam", "ramze", "residesh", "ro", "rooz", "ruz", "sabt", "salam", "sefaresh",
    "sefaresham", "sefareshe", "shod", "shode", "shodeh", "tahvil", "vali", "yadam",
})
_FINGLISH_WORDS = 2
# Scripts that only one language of a deployment may write in: seen in most of the
# letters, they name it without asking the model (and cost a fifth of it): language ->
# (the script's name, its letters, the languages written in it).
_SCRIPTS = {
    "th": ("Thai", re.compile("[\u0e00-\u0e7f]"), frozenset({"th"})),
    "fa": ("Arabic", re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff"
                                "\ufe70-\ufeff]"),
           frozenset({"fa", "ar", "ur", "ps", "ug", "ku", "ckb", "sd"})),
}


@dataclass(frozen=True)
class Detection:
    language: str | None  # None: unknown, use the next source or the default
    confidence: float
    reason: str


class _Model:
    """The py3langid identifier, loaded once per process on first use."""

    _lock = threading.Lock()
    _identifier: Any = None
    loads = 0

    @classmethod
    def restricted(cls, languages: Sequence[str]) -> Any:
        """An identifier for `languages` only, sharing the loaded model's arrays."""
        with cls._lock:
            if cls._identifier is None:
                from py3langid.langid import (  # type: ignore[import-untyped]
                    MODEL_FILE,
                    LanguageIdentifier,
                )
                cls._identifier = LanguageIdentifier.from_model_file(
                    MODEL_FILE, norm_probs=True)
                cls.loads += 1
        identifier = copy.copy(cls._identifier)
        identifier.set_languages(list(languages))
        return identifier


def model_loads() -> int:
    """How many times this process loaded the model: at most once."""
    return _Model.loads


class Detector:
    """Language detection restricted to `languages`, answering below `threshold` as
    unknown. Cheap to build once the model is loaded; safe to share between threads."""

    def __init__(self, languages: Sequence[str] = DEFAULT_LANGUAGES,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        self.languages = tuple(languages)
        self.threshold = threshold
        self._identifier = _Model.restricted(self.languages)
        self._scripts = [(lang, name, letters)
                         for lang, (name, letters, writers) in _SCRIPTS.items()
                         if lang in self.languages and not (writers - {lang}) & set(languages)]

    def detect(self, text: str, subject: str | None = None, *,
               subject_is_ours: bool = False) -> Detection:
        """The language of the customer's new words (and their own subject)."""
        words = new_words(text[:_READ * 4])[:_READ]
        if subject and not subject_is_ours:
            words = f"{_REPLY_PREFIX.sub('', subject)}\n{words}"
        words = _NOISE.sub(" ", words)
        letters = "".join(c for c in words if c.isalpha())
        if len(letters) < MIN_LETTERS:
            return Detection(None, 0.0, "too few letters")
        if _is_finglish(words, letters):
            return Detection(None, 0.0, "Persian in Latin letters (Finglish)")
        by_script = self._by_script(letters)
        if by_script:
            return by_script
        return self._classify(words)

    def _by_script(self, letters: str) -> Detection | None:
        for lang, name, script in self._scripts:
            if len(script.findall(letters)) * 2 > len(letters):
                return Detection(lang, 1.0, f"detected by script ({name} letters)")
        return None

    def _classify(self, words: str) -> Detection:
        lang, confidence = self._identifier.classify(words)
        confidence = round(float(confidence), 4)
        if confidence < self.threshold:
            return Detection(None, confidence,
                             f"below threshold {self.threshold:g} ({lang} {confidence:.2f})")
        return Detection(str(lang), confidence, "detected")


def _is_finglish(words: str, letters: str) -> bool:
    if not letters.isascii():
        return False
    tokens = re.findall(r"[a-z]+", words.lower())
    return sum(t in _FINGLISH for t in set(tokens)) >= _FINGLISH_WORDS
