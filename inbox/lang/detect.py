"""Which language a customer writes in now, from the new words of one message.

`Detector(languages, threshold).detect(text, subject)` answers a `Detection`: a language
of the deployment's, or None ("unknown": the caller falls back), its confidence, and the
reason in words for the audit trail. It reads only `new_words(text)` (a quoted English
thread would outvote a Polish answer) and the subject unless the subject is ours.

The classifier is py3langid 0.4's naive Bayes model with normalised probabilities, asked
once about all the languages it knows. Two answers come from that one pass:
- whether it is one of ours at all: a best guess we do not serve, with hardly any
  belief (under `_OURS`) left for the deployment's languages, means a language we do
  not serve (Indonesian, Czech, Arabic): unknown, rather than the nearest served one
  (Tagalog, Polish, Persian);
- which served language, its probability renormalised among the served ones (as if the
  model knew only those): restricted, short Persian is not lost to Arabic or Urdu;
  normalised, a short or odd text (Vietnamese typed without diacritics) gets a low
  confidence instead of a confident wrong answer.
docs/languages.md has the measurements behind these choices. The model ships inside the
package (no network) and is loaded once per process, lazily, whatever the number of
detectors: it costs about a second and 90 MB.
"""

from __future__ import annotations

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
# English at any confidence; two of these words, common in Finglish and rare in our
# Latin languages, give it away. ("bayad", Persian "must", is left out: it is Tagalog's
# "payment", and a Tagalog customer must be answered in Tagalog.)
_FINGLISH = frozenset({
    "aghaye", "alan", "avaz", "avazesh", "baraye", "bargardoonid", "bargardunid", "baste",
    "basteh", "bedid", "bedin", "bedoonam", "befrestid", "begirid", "chejoori",
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
# The share of the model's belief that must go to served languages, unless its best
# guess is one: unserved messages measured 0.04 and less; served ones always had a
# served best guess, and a share of 0.11 ("pls refund asap") and more.
_OURS = 0.2
# Only Thai writes in Thai letters, among all the model's languages: most letters Thai,
# the answer is Thai without asking the model (a sixth of its cost). Persian gets no such
# short-cut: Arabic and Urdu customers write in the same letters.
_THAI = re.compile("[\u0e00-\u0e7f]")
# What is not a letter (marks included, as str.isalpha() has it): the letters are what is
# left when these are taken out, several times faster than a test per character. Unlike
# isalpha(), number signs such as ² and Ⅻ are kept; too rare to change a count.
_NOT_LETTERS = re.compile(r"[\W\d_]+")


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
    def get(cls) -> Any:
        with cls._lock:
            if cls._identifier is None:
                from py3langid.langid import (  # type: ignore[import-untyped]
                    MODEL_FILE,
                    LanguageIdentifier,
                )
                cls._identifier = LanguageIdentifier.from_model_file(
                    MODEL_FILE, norm_probs=True)
                cls.loads += 1
            return cls._identifier


def model_loads() -> int:
    """How many times this process loaded the model: at most once."""
    return _Model.loads


# The languages the pinned model knows (a test checks them against the model itself):
# a deployment's setting is checked when the detector is built, without loading it.
_KNOWN_CODES = """
af am ar as az be bg bn br bs ca cs cy da de el en eo es et eu fa fi fr fy ga gd gl gu ha
he hi hr ht hu hy id ig is it ja jv ka kk km kn ko ku ky la lg ln lo lt lv mg mk ml mn mr
ms my ne nl no om or pa pl ps pt qu ro ru sa si sk sl so sq sr sv sw ta te th tl tr ug uk
ur uz vi xh yo zh zu zxx ace bcl dz ext gcf gom grc gug hbo kik nso pcm rw se sn st an ary
crh fo fuv gcr guw kab lb lij ltg uzs wa sdh arz ba mt nn oc tg tk tt vec vo wuu yue
"""
KNOWN = frozenset(_KNOWN_CODES.split())


class Detector:
    """Language detection restricted to `languages`, answering below `threshold` as
    unknown. Safe to share between threads. The model is loaded at the first message,
    not when the detector is built: a daemon or command that is never given a message
    never pays for it (~0.6 s and ~90 MB)."""

    def __init__(self, languages: Sequence[str] = DEFAULT_LANGUAGES,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        self.languages = tuple(languages)
        self.threshold = threshold
        unknown = sorted(set(self.languages) - KNOWN)
        if unknown:
            raise ValueError(f"no detection for language codes {unknown}")
        self._thai = "th" in self.languages
        self._model: tuple[Any, list[int]] | None = None

    def _loaded(self) -> tuple[Any, list[int]]:
        """The model, and the columns of our languages among its scores."""
        if self._model is None:
            identifier = _Model.get()
            known = list(identifier.nb_classes)  # an alias's score sits at its first
            self._model = identifier, [known.index(lang) for lang in self.languages]
        return self._model

    def detect(self, text: str, subject: str | None = None, *,
               subject_is_ours: bool = False) -> Detection:
        """The language of the customer's new words (and their own subject)."""
        words = new_words(text[:_READ * 4])[:_READ]
        if subject and not subject_is_ours:
            words = f"{_REPLY_PREFIX.sub('', subject)}\n{words}"
        words = _NOISE.sub(" ", words)
        letters = _NOT_LETTERS.sub("", words)
        if len(letters) < MIN_LETTERS:
            return Detection(None, 0.0, "too few letters")
        if _is_finglish(words, letters):
            return Detection(None, 0.0, "Persian in Latin letters (Finglish)")
        if self._thai and len(_THAI.findall(letters)) * 2 > len(letters):
            return Detection("th", 1.0, "detected by script (Thai letters)")
        return self._classify(words)

    def _classify(self, words: str) -> Detection:
        # `_decide` is the one pass behind classify() and rank(): every language's
        # probability, aliases folded (the pin on py3langid keeps it there)
        identifier, columns = self._loaded()
        every = identifier._decide(words)
        ours = every[columns]
        share = float(ours.sum())
        best = int(every.argmax())
        if share < _OURS and best not in columns:
            return Detection(None, 0.0, f"not a served language "
                                        f"({identifier.nb_classes[best]} "
                                        f"{float(every[best]):.2f})")
        i = int(ours.argmax())
        lang, confidence = self.languages[i], round(float(ours[i]) / share, 4)
        if confidence < self.threshold:
            return Detection(None, confidence,
                             f"below threshold {self.threshold:g} ({lang} {confidence:.2f})")
        return Detection(lang, confidence, "detected")


def _is_finglish(words: str, letters: str) -> bool:
    if not letters.isascii():
        return False
    tokens = re.findall(r"[a-z]+", words.lower())
    return sum(t in _FINGLISH for t in set(tokens)) >= _FINGLISH_WORDS
