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
- a signature: from a "-- " line (RFC 3676) to the end;
- a mail program's own line ("Sent from my iPhone", "Wysłane z mojego iPhone'a", "Gửi từ
  iPhone của tôi", "ส่งจาก iPhone ของฉัน", "ارسال شده از iPhone من", ...): that line only,
  and only when it names a device or an app, so a customer's "Sent from Hanoi on
  Monday" stays new;
- a legal disclaimer ("This e-mail and any attachments are confidential...", "Ta
  wiadomość jest poufna...", and its forms in our languages) starting a paragraph: from
  there to the end, as a signature. A paragraph start is asked for because a customer
  may well write "this e-mail is confidential" in the middle of an answer.

The language detector reads `new_words`: a quoted English thread or an English device
line below a Polish answer would otherwise make the answer look English.
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
_SEPARATOR = re.compile(r"^[-_=*~]{3,}$")
# "Sent from" in our languages (and a few more), followed on the same short line by a
# device or app name: the pair, not the phrase alone, is the mail program's mark.
_SENT_FROM = re.compile(
    r"^(Sent (from|with|via)|Get Outlook|Wysłane (z|przy)|Wysłano (z|przy)|Pobierz"
    r"|(Được )?gửi từ|ส่งจาก|(ارسال|فرستاده)[\s\u200c]*شده از|Ipinadala mula sa"
    r"|Von meinem|Envoyé de|Enviado desde)\b.{0,60}$", re.IGNORECASE)
_DEVICE = re.compile(
    r"iPhone|iPad|Android|Outlook|Samsung|Galaxy|Huawei|Xiaomi|BlackBerry|Yahoo|Gmail"
    r"|\bMail\b|Poczta|Windows|mobile|\bphone\b|telefon|điện thoại|di động|โทรศัพท์"
    r"|มือถือ|موبایل|گوشی|telepono", re.IGNORECASE)
_DISCLAIMER = re.compile("|".join([
    r"^(CONFIDENTIALITY NOTICE|DISCLAIMER|IMPORTANT NOTICE)\b",
    r"^(This|The information (contained )?in this) (e-?mail|message|communication)"
    r"\b.{0,80}\b(confidential|privileged|intended (solely|only) for)",
    r"^(Ta|Niniejsza|Treść tej|Informacje zawarte w tej) (wiadomość|wiadomości)"
    r"\b.{0,80}\b(poufn|przeznaczon|tajemnic)",
    r"^(Thư|Email|E-mail|Thư điện tử) này\b.{0,80}(bảo mật|thông tin mật|bí mật)",
    r"^(อีเมล|ข้อความ)(ฉบับ)?นี้.{0,80}ความลับ",
    r"^این (ایمیل|پیام|نامه)\b.{0,80}محرمانه",
    r"^Ang (e-?mail|mensahe)(ng| na) ito\b.{0,80}(kumpidensyal|confidential)",
]), re.IGNORECASE)
_SIGNATURE = ("-- ", "--")


@dataclass(frozen=True)
class Part:
    kind: Kind
    text: str


def _bare(line: str) -> str:
    return _MARKS.sub("", line).strip()


def _is_quote(line: str) -> bool:
    return _bare(line).startswith(">")


def _is_sent_from(line: str) -> bool:
    bare = _bare(line)
    return bool(_SENT_FROM.match(bare)) and bool(_DEVICE.search(bare))


def _disclaimer_starts(lines: list[str], i: int) -> bool:
    """Whether a legal disclaimer, running to the end, starts at line i: at a paragraph's
    start (after a blank or a separator line), or on a separator line right above one."""
    line = _bare(lines[i])
    if _SEPARATOR.match(line):
        return i + 1 < len(lines) and bool(_DISCLAIMER.match(_bare(lines[i + 1])))
    above = _bare(lines[i - 1]) if i else None
    paragraph = above is not None and (not above or bool(_SEPARATOR.match(above)))
    return paragraph and bool(_DISCLAIMER.match(line))


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
    """Each line's kind: quoted from an earlier mail's start, a signature delimiter or
    a disclaimer to the end, and within a '>' run or a mail program's line."""
    kinds: list[Kind] = []
    signed = False
    for i, line in enumerate(lines):
        if _history_starts(lines, i) or _disclaimer_starts(lines, i):
            return kinds + ["quoted"] * (len(lines) - i)
        signed = signed or line.rstrip("\r\n") in _SIGNATURE
        quoted = signed or _is_quote(line) or _is_sent_from(line)
        kinds.append("quoted" if quoted else "new")
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
    """What the customer wrote in this message: its new parts, with quotes, signature,
    the mail program's "Sent from" line and disclaimers left out. Read once per message
    at ingest, so it skips the desk's cache of open conversations."""
    return "".join(p.text for p in _fold(text) if p.kind == "new").strip()
