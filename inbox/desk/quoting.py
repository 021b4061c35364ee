"""What in a message the customer wrote now, and what is quoted or signed.

`fold(text)` cuts a message's text into parts, in order, that join back into the text
exactly: `new` words, and `quoted` ones (an earlier mail quoted below or between the
answer, a signature). The desk folds the quoted parts behind "Show quoted text"; the
language work reads `new_words` to tell which language the customer writes in now.

What counts as quoted, from the mail programs customers use:
- lines starting with ">" (a run of them, interleaved answers stay new);
- an attribution line and everything after it: "On ... wrote:" (English), "W dniu ...
  napisał(a):" (Polish), "Vào ... đã viết:" (Vietnamese), "Noong ... isinulat ni ...:"
  (Tagalog), "เมื่อ ... เขียนว่า:" (Thai), "در تاریخ ... نوشت:" (Persian), and a few
  more; Gmail may wrap one over two lines;
- "-----Original Message-----" (and its translations), and Outlook's header block
  ("From: ..." then "Sent: ..." within a few lines, in the languages above);
- a signature: from a "-- " line (RFC 3676) to the end.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["new", "quoted"]

# Bidi marks Persian mail programs put around names and dates.
_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ATTRIBUTION = re.compile("|".join([
    r"^On\s.+\swrote\s*:$",  # English (Gmail, Apple Mail, Thunderbird)
    r"^(W dniu|Dnia)\s.+\s(napisał\(a\)|napisała|napisał|pisze)\s*:$",  # Polish
    r"^Vào\s.+\sđã viết\s*:$",  # Vietnamese
    r"^Noong\s.+\s(isinulat ni\s.+|ay sumulat)\s*:$",  # Tagalog (Filipino)
    r"^เมื่อ.+เขียน(ว่า)?\s*:$",  # Thai
    r"^در\s.+\sنوشت\s*[:：]$",  # Persian
    r"^Am\s.+\sschrieb\s.+:$", r"^Le\s.+\sa écrit\s*:$", r"^El\s.+\sescribió\s*:$",
]), re.IGNORECASE)
_ORIGINAL = re.compile(
    r"^-{3,}\s*(Original Message|Wiadomość oryginalna|Oryginalna wiadomość|Tin nhắn gốc"
    r"|Thư gốc|Orihinal na Mensahe|ข้อความต้นฉบับ|پیام اصلی|Ursprüngliche Nachricht"
    r"|Message d'origine|Mensaje original|Forwarded message)\s*-{3,}$", re.IGNORECASE)
# Outlook's block: a From line, then a Sent (or Date) line within the next few lines.
_FROM = re.compile(r"^\*?(From|Od|Từ|Mula kay|Mula sa|จาก|از)\s*\*?\s*:", re.IGNORECASE)
_SENT = re.compile(r"^\*?(Sent|Date|Wysłano|Wysłane|Data|Đã gửi|Ngày|Ipinadala|ส่ง|วันที่"
                   r"|ارسال شده|تاریخ)\s*\*?\s*:", re.IGNORECASE)
_RULE = re.compile(r"^_{10,}$")  # Outlook's line above its block
_SIGNATURE = ("-- ", "--")


@dataclass(frozen=True)
class Part:
    kind: Kind
    text: str


def _bare(line: str) -> str:
    return _MARKS.sub("", line).strip()


def _is_quote(line: str) -> bool:
    return _bare(line).startswith(">")


def _history_starts(lines: list[str], i: int) -> bool:
    """Whether an earlier mail, quoted whole, starts at line i."""
    line = _bare(lines[i])
    if _ORIGINAL.match(line) or _ATTRIBUTION.match(line):
        return True
    nxt = _bare(lines[i + 1]) if i + 1 < len(lines) else ""
    if line and nxt and _ATTRIBUTION.match(f"{line} {nxt}"):  # wrapped over two lines
        return True
    if _RULE.match(line) and _FROM.match(nxt):
        return True
    return bool(_FROM.match(line)) and any(_SENT.match(_bare(x)) for x in lines[i + 1:i + 5])


def _kinds(lines: list[str]) -> list[Kind]:
    """Each line's kind: quoted from an earlier mail's start or a signature delimiter
    to the end, and within a '>' run."""
    kinds: list[Kind] = []
    signed = False
    for i, line in enumerate(lines):
        if _history_starts(lines, i):
            return kinds + ["quoted"] * (len(lines) - i)
        signed = signed or line.rstrip("\r\n") in _SIGNATURE
        kinds.append("quoted" if signed or _is_quote(line) else "new")
    return kinds


def _absorb_blank_lines(lines: list[str], kinds: list[Kind]) -> None:
    """Blank lines between two quoted lines belong to the quote, so one fold holds it."""
    before: list[Kind | None] = []
    last: Kind | None = None
    for line, kind in zip(lines, kinds, strict=True):
        before.append(last)
        last = kind if line.strip() else last
    after: Kind | None = None
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip():
            after = kinds[i]
        elif before[i] == "quoted" and after in ("quoted", None):
            kinds[i] = "quoted"


def fold(text: str) -> list[Part]:
    """`text` as new and quoted parts, in order; their texts join back into `text`."""
    if len(text) <= _CACHED_TEXT:  # a conversation page folds each message every time
        return list(_fold_cached(text))
    return _fold(text)


_CACHED_TEXT = 16_384  # characters: the messages of open conversations, not a huge mail


@functools.lru_cache(maxsize=4096)
def _fold_cached(text: str) -> tuple[Part, ...]:
    return tuple(_fold(text))


def _fold(text: str) -> list[Part]:
    lines = text.splitlines(keepends=True)
    if not lines:
        return [Part("new", text)]
    kinds = _kinds(lines)
    _absorb_blank_lines(lines, kinds)
    parts: list[Part] = []
    for line, kind in zip(lines, kinds, strict=True):
        if parts and parts[-1].kind == kind:
            parts[-1] = Part(kind, parts[-1].text + line)
        else:
            parts.append(Part(kind, line))
    return parts


def new_words(text: str) -> str:
    """What the customer wrote in this message: its new parts, quotes and signature
    left out."""
    return "".join(p.text for p in fold(text) if p.kind == "new").strip()
