"""Mail in a right-to-left language that reads right in every client.

A plain-text part has no direction of its own: each line (paragraph) takes the
direction of its first strong character. A Persian ack line that begins with the
reference "[#42-k7q2m]" or a Latin name would be laid out left to right, its Persian
words in the wrong order around it. `text_part` starts such lines with a RIGHT-TO-LEFT
MARK (invisible, and harmless where a line is already right to left). `html_part`
gives the same text as a small HTML document with `lang` and `dir="rtl"`, which clients
that show HTML honour as a whole. Left-to-right languages are sent as text only, as
before: their text part already reads right, and an HTML part would only be a second
copy to keep in step.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Primary language subtags written right to left (Persian, Arabic, Hebrew, Urdu,
# Pashto, Sindhi, Sorani Kurdish, Dhivehi, Yiddish, Uyghur).
RTL_LANGUAGES = frozenset({"fa", "ar", "he", "iw", "ur", "ps", "sd", "ckb", "dv", "yi",
                           "ug"})
RLM = "\u200f"
_TAG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")
_PARAGRAPHS = re.compile(r"\n[ \t]*\n+")


def is_rtl(language: str | None) -> bool:
    """Whether `language` (a tag such as "fa" or "fa-IR") is written right to left."""
    primary = (language or "").replace("_", "-").split("-")[0].lower()
    return primary in RTL_LANGUAGES


def text_part(text: str, language: str | None) -> str:
    """`text` with an RLM before each line that would otherwise run left to right; the
    text unchanged for a left-to-right language.

    Apply it to the text as it is sent (after wrapping), so every line is marked.
    """
    if not is_rtl(language):
        return text
    return "\n".join(line if not line.strip() or _starts_rtl(line) else RLM + line
                     for line in text.split("\n"))


def html_part(text: str, language: str | None) -> str | None:
    """`text` as an HTML document with the language's `lang` and `dir="rtl"`, for a
    right-to-left language; None for any other (send the text part alone).

    Blank lines separate paragraphs (`<p>`), single line breaks are kept (`<br>`), and
    every character of the text is escaped.
    """
    if not is_rtl(language) or language is None:
        return None
    tag = language.replace("_", "-")
    lang = tag if _TAG.fullmatch(tag) else tag.split("-")[0]
    paragraphs = [p.strip("\n") for p in _PARAGRAPHS.split(text.replace("\r\n", "\n"))]
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs if p.strip())
    return (f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}" dir="rtl">\n'
            '<head><meta charset="utf-8"><title></title></head>\n'
            f'<body dir="rtl">\n{body}\n</body>\n</html>\n')


def _starts_rtl(line: str) -> bool:
    """Whether the first strong character of `line` is right to left (none: no)."""
    for char in line:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False
