"""Builders of realistic and hostile e-mail, as raw bytes, for tests.

Every builder is a plain function returning the bytes of one message (CRLF line ends, as
IMAP and SMTP deliver them). They take keyword arguments for what a test wants to vary
and have sensible defaults for everything else; each call gets a fresh Message-ID
unless `message_id` is given, so two calls are two different messages.

Common keywords (all builders that make ordinary mail):
    sender="Alice Customer <alice@example.com>", to="support@helpdesk.example",
    subject=..., message_id=None (fresh one; pass a str such as "<x@y>" to fix it),
    date=DEFAULT_DATE, in_reply_to=None, references=(), extra_headers=() of (name, value).

Ordinary mail:
    plain_mail(body=...)                     text/plain (charset=..., cte="8bit" |
                                             "quoted-printable" | "base64")
    html_mail(html=...)                      HTML only
    alternative_mail(body=..., html=...)     multipart/alternative
    mixed_mail(...)                          mixed + related: text, HTML with a cid: image, PDF
    attachment_mail(filename=, data=, content_type=, name_style="rfc2231"|"encoded-word"|"utf8")
    reply_mail(in_reply_to=..., references=(...))   a reply in a thread
    no_message_id_mail()                     no Message-ID header at all

Languages (the expected Unicode is in POLISH_*, THAI_*, VIETNAMESE_*, PERSIAN_*; each
builder also takes sender_address=, name=, subject=, body= to say something else, and
sends Content-Language):
    polish_mail()      ISO-8859-2 quoted-printable body, encoded-word subject and name
    thai_mail()        TIS-620 8-bit body, TIS-620 base64 subject and name
    vietnamese_mail()  windows-1258 body (tone marks as combining characters)
    persian_mail(charset="utf-8" | "windows-1256")   Persian body, UTF-8 B subject/name
    without_content_language(raw)   the same mail as most clients send it (no header);
                       TAGALOG_* and ENGLISH_* are the other two languages we serve

Helpers: new_message_id(), encoded_word(text, charset="utf-8", encoding="B"),
cp1258_encode(text), assemble(headers, body). Parsed text has its trailing newlines
stripped, so compare with e.g. POLISH_BODY.rstrip().

Robots (must never be acknowledged):
    auto_reply_mail()   out-of-office, Auto-Submitted: auto-replied
    bounce_mail(original=...)   DSN multipart/report from MAILER-DAEMON, Return-Path: <>
    list_post_mail()    List-Id, List-Unsubscribe, List-Post, Precedence: list

Hostile:
    malformed_mail()          garbage header line, multipart without boundary
    truncated_mail()          multipart whose closing boundary never comes
    bad_base64_mail()         a text part whose base64 does not decode
    not_an_email()            bytes that are no e-mail at all
    raw_8bit_headers_mail(charset="iso-8859-2")   Subject and From name as raw bytes
    mislabelled_mail(label="iso-8859-1", actual="utf-8", body=...)   wrong charset label
    large_mail(size=...)      text parts plus a big base64 attachment (the fast engine)

Fixed payloads: PDF_BYTES, PNG_BYTES.
"""

from __future__ import annotations

import base64
import itertools
import quopri
import random
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import quote

__all__ = [
    "DEFAULT_DATE", "ENGLISH_BODY", "ENGLISH_NAME", "ENGLISH_SUBJECT", "PDF_BYTES",
    "PERSIAN_BODY", "PERSIAN_NAME", "PERSIAN_SUBJECT", "PNG_BYTES", "POLISH_BODY",
    "POLISH_FILENAME", "POLISH_NAME", "POLISH_SUBJECT", "SENDER", "SUPPORT",
    "TAGALOG_BODY", "TAGALOG_NAME", "TAGALOG_SUBJECT", "THAI_BODY", "THAI_FILENAME",
    "THAI_NAME", "THAI_SUBJECT", "VIETNAMESE_BODY", "VIETNAMESE_NAME",
    "VIETNAMESE_SUBJECT", "alternative_mail", "assemble", "attachment_mail",
    "auto_reply_mail", "bad_base64_mail", "bounce_mail", "cp1258_encode",
    "encoded_word", "html_mail", "large_mail", "list_post_mail", "malformed_mail",
    "mislabelled_mail", "mixed_mail", "new_message_id", "no_message_id_mail",
    "not_an_email", "persian_mail", "plain_mail", "polish_mail",
    "raw_8bit_headers_mail", "reply_mail", "thai_mail", "truncated_mail",
    "vietnamese_mail", "without_content_language",
]

Header = tuple[str, str | bytes]

DEFAULT_DATE = datetime(2024, 3, 4, 9, 30, tzinfo=UTC)
SENDER = "Alice Customer <alice@example.com>"
SUPPORT = "support@helpdesk.example"

POLISH_SUBJECT = "Zażółć gęślą jaźń - reklamacja"
POLISH_NAME = "Łukasz Żółtowski"
POLISH_BODY = "Dzień dobry,\nzamówienie nr 12 nie dotarło. Proszę o pomoc.\nŁukasz\n"
POLISH_FILENAME = "faktura-żółć.pdf"
THAI_SUBJECT = "สวัสดีครับ ขอความช่วยเหลือ"
THAI_NAME = "สมชาย ใจดี"
THAI_BODY = "สวัสดีครับ\nสินค้าที่สั่งยังไม่ได้รับครับ\nขอบคุณครับ\n"
THAI_FILENAME = "ใบเสร็จ.txt"
VIETNAMESE_SUBJECT = "Xin hỗ trợ đơn hàng"
VIETNAMESE_NAME = "Nguyễn Thị Hương"
VIETNAMESE_BODY = "Xin chào,\ntôi cần hỗ trợ về đơn hàng của tôi.\nCảm ơn bạn rất nhiều!\n"
PERSIAN_SUBJECT = "درخواست پشتیبانی"
PERSIAN_NAME = "علی رضایی"
PERSIAN_BODY = "سلام،\nبسته من گم شده است.\nبا تشکر\n"  # also encodable in windows-1256

# The smallest files a viewer would accept; tests compare bytes, so keep them fixed.
PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def _png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(
        b"IEND", b""
    )


PNG_BYTES = _png_1x1()

_ids = itertools.count(1)


def new_message_id(domain: str = "mail.example.com") -> str:
    """A fresh Message-ID (with angle brackets), unique within the test process."""
    return f"<corpus-{next(_ids)}.{random.getrandbits(32):08x}@{domain}>"


def encoded_word(text: str, charset: str = "utf-8", encoding: str = "B") -> str:
    """One RFC 2047 encoded-word for `text`."""
    data = text.encode(charset)
    if encoding.upper() == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode('ascii')}?="
    quoted = quopri.encodestring(data, header=True).decode("ascii").replace("=\n", "")
    return f"=?{charset}?Q?{quoted.replace('?', '=3F')}?="


def cp1258_encode(text: str) -> bytes:
    """Vietnamese text in windows-1258: tone marks become combining characters.

    windows-1258 has vowels with circumflex/breve/horn but no tone-marked letters, so a
    letter like "ệ" is written as "ê" followed by a combining dot below.
    """
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        parts = unicodedata.normalize("NFD", char)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones))
        out += (base + "".join(c for c in parts if c in tones)).encode("cp1258")
    return bytes(out)


def assemble(headers: Sequence[Header], body: bytes) -> bytes:
    """A message from (name, value) headers and a body; str values must be ASCII."""
    lines = [
        name.encode("ascii") + b": " + (value if isinstance(value, bytes) else value.encode())
        for name, value in headers
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _crlf(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _envelope(
    *,
    sender: str,
    to: str,
    subject: str | None,
    message_id: str | None,
    date: datetime,
    in_reply_to: str | None,
    references: Sequence[str],
    extra_headers: Sequence[Header],
    fresh_id: bool = True,
) -> list[Header]:
    headers: list[Header] = [("From", sender), ("To", to)]
    if subject is not None:
        headers.append(("Subject", subject))
    headers.append(("Date", format_datetime(date)))
    if message_id is not None or fresh_id:
        headers.append(("Message-ID", message_id or new_message_id()))
    if references:
        headers.append(("References", "\r\n ".join(references)))
    if in_reply_to:
        headers.append(("In-Reply-To", in_reply_to))
    headers.append(("MIME-Version", "1.0"))
    return headers + list(extra_headers)


def _encode_body(data: bytes, cte: str) -> bytes:
    if cte == "base64":
        return _crlf(base64.encodebytes(data))
    if cte == "quoted-printable":
        return _crlf(quopri.encodestring(data))
    return _crlf(data)


def _text_part(text: str, subtype: str = "plain", charset: str = "utf-8",
               cte: str = "8bit", encoded: bytes | None = None) -> bytes:
    """A MIME part (headers + body) for text."""
    data = encoded if encoded is not None else text.encode(charset)
    return (
        f"Content-Type: text/{subtype}; charset={charset}\r\n"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    ).encode() + _encode_body(data, cte)


def _multipart(subtype: str, parts: Sequence[bytes], boundary: str, extra: str = "") -> bytes:
    """The part (headers + body) of a multipart container."""
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p.rstrip(b"\r\n") + b"\r\n"
                    for p in parts)
    return (
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"{extra}\r\n\r\n'
        "This is a multi-part message in MIME format.\r\n"
    ).encode() + body + b"--" + boundary.encode() + b"--\r\n"


def _join(headers: Sequence[Header], part: bytes) -> bytes:
    """A message whose top-level MIME part is `part` (its own headers + body)."""
    part_headers, _, body = part.partition(b"\r\n\r\n")
    head = b"\r\n".join(
        name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
        for name, value in headers
    )
    return head + b"\r\n" + part_headers + b"\r\n\r\n" + body


def plain_mail(
    *,
    body: str = "Hello,\nmy printer is on fire. Please help.\n\nAlice\n",
    sender: str = SENDER,
    to: str = SUPPORT,
    subject: str | None = "Printer on fire",
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    extra_headers: Sequence[Header] = (),
    charset: str = "utf-8",
    cte: str = "8bit",
) -> bytes:
    """A text/plain message."""
    headers = _envelope(sender=sender, to=to, subject=subject, message_id=message_id,
                        date=date, in_reply_to=in_reply_to, references=references,
                        extra_headers=extra_headers)
    return _join(headers, _text_part(body, "plain", charset, cte))


def html_mail(
    *,
    html: str = (
        "<html><head><title>Ticket</title><style>p {color: red}</style></head><body>"
        "<h1>Order&nbsp;#42</h1><p>It&#39;s <b>broken</b> &amp; late.</p>"
        "<script>alert('x')</script><ul><li>one</li><li>two</li></ul>"
        '<p><a href="https://example.com/o/42" onclick="steal()">Order</a></p></body></html>'
    ),
    sender: str = SENDER,
    to: str = SUPPORT,
    subject: str | None = "HTML only",
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    extra_headers: Sequence[Header] = (),
    charset: str = "utf-8",
    cte: str = "quoted-printable",
) -> bytes:
    """A message with only an HTML body."""
    headers = _envelope(sender=sender, to=to, subject=subject, message_id=message_id,
                        date=date, in_reply_to=in_reply_to, references=references,
                        extra_headers=extra_headers)
    return _join(headers, _text_part(html, "html", charset, cte))


def alternative_mail(
    *,
    body: str = "Plain version of the message.\n",
    html: str = "<p>HTML <b>version</b> of the message.</p>",
    sender: str = SENDER,
    to: str = SUPPORT,
    subject: str | None = "Two versions",
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    extra_headers: Sequence[Header] = (),
    charset: str = "utf-8",
) -> bytes:
    """multipart/alternative with a text/plain and a text/html version."""
    headers = _envelope(sender=sender, to=to, subject=subject, message_id=message_id,
                        date=date, in_reply_to=in_reply_to, references=references,
                        extra_headers=extra_headers)
    alt = _multipart("alternative", [
        _text_part(body, "plain", charset, "quoted-printable"),
        _text_part(html, "html", charset, "quoted-printable"),
    ], "alt-b0undary")
    return _join(headers, alt)


def _file_part(data: bytes, content_type: str, filename: str | None, *,
               disposition: str = "attachment", content_id: str | None = None,
               name_style: str = "rfc2231") -> bytes:
    lines = [f"Content-Type: {content_type}"]
    if filename is not None:
        lines[0] += f"; {_name_param('name', filename, name_style)}"
        disposition += f"; {_name_param('filename', filename, name_style)}"
    lines.append(f"Content-Disposition: {disposition}")
    if content_id is not None:
        lines.append(f"Content-ID: <{content_id}>")
    lines.append("Content-Transfer-Encoding: base64")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + _encode_body(data, "base64")


def _name_param(param: str, filename: str, style: str) -> str:
    if filename.isascii():
        return f'{param}="{filename}"'
    if style == "encoded-word":
        return f'{param}="{encoded_word(filename)}"'
    if style == "utf8":
        return f'{param}="{filename}"'  # raw UTF-8, RFC 6532 style
    return f"{param}*=utf-8''{quote(filename, safe='')}"


def mixed_mail(
    *,
    body: str = "Please see the attached invoice.\n",
    html: str = '<p>Please see the attached invoice.</p><img src="cid:logo@corpus" alt="logo">',
    pdf: bytes = PDF_BYTES,
    pdf_name: str = "invoice.pdf",
    image: bytes = PNG_BYTES,
    image_cid: str = "logo@corpus",
    image_name: str | None = "logo.png",
    sender: str = SENDER,
    to: str = SUPPORT,
    subject: str | None = "Invoice attached",
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    extra_headers: Sequence[Header] = (),
    name_style: str = "rfc2231",
) -> bytes:
    """mixed[alternative[plain, related[html, inline image]], PDF attachment]."""
    headers = _envelope(sender=sender, to=to, subject=subject, message_id=message_id,
                        date=date, in_reply_to=in_reply_to, references=references,
                        extra_headers=extra_headers)
    related = _multipart("related", [
        _text_part(html, "html", "utf-8", "quoted-printable"),
        _file_part(image, "image/png", image_name, disposition="inline",
                   content_id=image_cid, name_style=name_style),
    ], "rel-b0undary", '; type="text/html"')
    alternative = _multipart("alternative", [
        _text_part(body, "plain", "utf-8", "quoted-printable"), related,
    ], "alt-b0undary")
    mixed = _multipart("mixed", [
        alternative, _file_part(pdf, "application/pdf", pdf_name, name_style=name_style),
    ], "mix-b0undary")
    return _join(headers, mixed)


def attachment_mail(
    *,
    filename: str = POLISH_FILENAME,
    data: bytes = PDF_BYTES,
    content_type: str = "application/pdf",
    name_style: str = "rfc2231",
    body: str = "File attached.\n",
    sender: str = SENDER,
    to: str = SUPPORT,
    subject: str | None = "A file",
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
    extra_headers: Sequence[Header] = (),
) -> bytes:
    """Text plus one attachment whose name is written in `name_style`."""
    headers = _envelope(sender=sender, to=to, subject=subject, message_id=message_id,
                        date=date, in_reply_to=None, references=(),
                        extra_headers=extra_headers)
    part = _file_part(data, content_type, filename, name_style=name_style)
    return _join(headers, _multipart("mixed", [_text_part(body), part], "att-b0undary"))


def reply_mail(
    *,
    in_reply_to: str,
    references: Sequence[str] = (),
    body: str = "Thanks, but it is still broken.\n\n> earlier text\n",
    sender: str = SENDER,
    to: str = SUPPORT,
    subject: str | None = "Re: Printer on fire",
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
    extra_headers: Sequence[Header] = (),
) -> bytes:
    """A reply: References is `references` + `in_reply_to` (when not already there)."""
    refs = list(references)
    if in_reply_to not in refs:
        refs.append(in_reply_to)
    return plain_mail(body=body, sender=sender, to=to, subject=subject,
                      message_id=message_id, date=date, in_reply_to=in_reply_to,
                      references=refs, extra_headers=extra_headers)


def no_message_id_mail(
    *,
    body: str = "A message without Message-ID.\n",
    sender: str = SENDER,
    to: str = SUPPORT,
    subject: str | None = "No id",
    date: datetime = DEFAULT_DATE,
) -> bytes:
    """A text/plain message that has no Message-ID header."""
    headers = _envelope(sender=sender, to=to, subject=subject, message_id=None, date=date,
                        in_reply_to=None, references=(), extra_headers=(), fresh_id=False)
    return _join(headers, _text_part(body))


@dataclass(frozen=True)
class _Language:
    tag: str
    name: str
    subject: str
    body: str
    header_charset: str
    header_encoding: str
    body_charset: str
    cte: str


def _language_mail(
    lang: _Language, *, sender_address: str, name: str | None, to: str, subject: str | None,
    body: str | None, message_id: str | None, date: datetime, in_reply_to: str | None,
    references: Sequence[str], extra_headers: Sequence[Header],
) -> bytes:
    def word(text: str) -> str:
        try:
            return encoded_word(text, lang.header_charset, lang.header_encoding)
        except UnicodeEncodeError:  # a caller's text beyond the legacy charset
            return encoded_word(text)

    text = lang.body if body is None else body
    data = (cp1258_encode(text) if lang.body_charset == "windows-1258"
            else text.encode(lang.body_charset))
    headers = _envelope(
        sender=f"{word(lang.name if name is None else name)} <{sender_address}>", to=to,
        subject=word(lang.subject if subject is None else subject), message_id=message_id,
        date=date, in_reply_to=in_reply_to, references=references,
        extra_headers=[("Content-Language", lang.tag), *extra_headers],
    )
    return _join(headers, _text_part("", "plain", lang.body_charset, lang.cte, data))


_POLISH = _Language("pl", POLISH_NAME, POLISH_SUBJECT, POLISH_BODY, "iso-8859-2", "Q",
                    "iso-8859-2", "quoted-printable")
_THAI = _Language("th", THAI_NAME, THAI_SUBJECT, THAI_BODY, "tis-620", "B", "tis-620", "8bit")
_VIETNAMESE = _Language("vi", VIETNAMESE_NAME, VIETNAMESE_SUBJECT, VIETNAMESE_BODY, "utf-8",
                        "B", "windows-1258", "8bit")


def polish_mail(
    *,
    sender_address: str = "lukasz@example.pl",
    name: str | None = None,
    to: str = SUPPORT,
    subject: str | None = None,
    body: str | None = None,
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    extra_headers: Sequence[Header] = (),
) -> bytes:
    """ISO-8859-2 quoted-printable body; Q-encoded ISO-8859-2 subject and sender name.

    name/subject/body default to POLISH_NAME/POLISH_SUBJECT/POLISH_BODY."""
    return _language_mail(_POLISH, sender_address=sender_address, name=name, to=to,
                          subject=subject, body=body, message_id=message_id, date=date,
                          in_reply_to=in_reply_to, references=references,
                          extra_headers=extra_headers)


def thai_mail(
    *,
    sender_address: str = "somchai@example.co.th",
    name: str | None = None,
    to: str = SUPPORT,
    subject: str | None = None,
    body: str | None = None,
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    extra_headers: Sequence[Header] = (),
) -> bytes:
    """TIS-620 8-bit body; B-encoded TIS-620 subject and sender name (THAI_* defaults)."""
    return _language_mail(_THAI, sender_address=sender_address, name=name, to=to,
                          subject=subject, body=body, message_id=message_id, date=date,
                          in_reply_to=in_reply_to, references=references,
                          extra_headers=extra_headers)


def vietnamese_mail(
    *,
    sender_address: str = "huong@example.vn",
    name: str | None = None,
    to: str = SUPPORT,
    subject: str | None = None,
    body: str | None = None,
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    extra_headers: Sequence[Header] = (),
) -> bytes:
    """windows-1258 8-bit body; UTF-8 B subject and sender name (VIETNAMESE_* defaults)."""
    return _language_mail(_VIETNAMESE, sender_address=sender_address, name=name, to=to,
                          subject=subject, body=body, message_id=message_id, date=date,
                          in_reply_to=in_reply_to, references=references,
                          extra_headers=extra_headers)


def persian_mail(
    *,
    charset: str = "utf-8",
    sender_address: str = "ali@example.ir",
    name: str | None = None,
    to: str = SUPPORT,
    subject: str | None = None,
    body: str | None = None,
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    extra_headers: Sequence[Header] = (),
) -> bytes:
    """Persian quoted-printable body in `charset` ("utf-8" or "windows-1256"); UTF-8 B
    subject and sender name (PERSIAN_* defaults)."""
    lang = _Language("fa", PERSIAN_NAME, PERSIAN_SUBJECT, PERSIAN_BODY, "utf-8", "B",
                     charset, "quoted-printable")
    return _language_mail(lang, sender_address=sender_address, name=name, to=to,
                          subject=subject, body=body, message_id=message_id, date=date,
                          in_reply_to=in_reply_to, references=references,
                          extra_headers=extra_headers)


def auto_reply_mail(
    *,
    in_reply_to: str | None = None,
    sender: str = "Bob Away <bob@example.org>",
    to: str = SUPPORT,
    subject: str = "Automatic reply: Your request",
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
) -> bytes:
    """An out-of-office reply (RFC 3834 Auto-Submitted plus the Microsoft headers)."""
    extra: list[Header] = [
        ("Auto-Submitted", "auto-replied"),
        ("X-Autoreply", "yes"),
        ("X-Auto-Response-Suppress", "All"),
    ]
    return plain_mail(body="I am out of the office until Monday.\n", sender=sender, to=to,
                      subject=subject, message_id=message_id, date=date,
                      in_reply_to=in_reply_to,
                      references=(in_reply_to,) if in_reply_to else (), extra_headers=extra)


def bounce_mail(
    *,
    original: bytes | None = None,
    failed_recipient: str = "nobody@example.net",
    to: str = SUPPORT,
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
) -> bytes:
    """A delivery status notification (RFC 3464) for `original`, with Return-Path: <>."""
    original = original if original is not None else plain_mail(
        sender=SUPPORT, to=failed_recipient, subject="We received your message"
    )
    envelope = _envelope(
        sender="MAILER-DAEMON@mx.example.net (Mail Delivery System)", to=to,
        subject="Undelivered Mail Returned to Sender", message_id=message_id, date=date,
        in_reply_to=None, references=(), extra_headers=[("Auto-Submitted", "auto-replied")],
    )
    headers: list[Header] = [("Return-Path", "<>"), *envelope]
    status = (
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {failed_recipient}\r\nAction: failed\r\n"
        "Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
    ).encode()
    report = _multipart("report", [
        _text_part(f"Your message could not be delivered to {failed_recipient}.\n"),
        status,
        b"Content-Type: message/rfc822\r\n\r\n" + _crlf(original),
    ], "dsn-b0undary", "; report-type=delivery-status")
    return _join(headers, report)


def list_post_mail(
    *,
    list_id: str = "Users of Widgets <users.widgets.example.org>",
    sender: str = "Carol Poster <carol@example.org>",
    to: str = "users@widgets.example.org",
    subject: str = "[widgets] Release 2.0",
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
) -> bytes:
    """A mailing-list post as the list server delivers it."""
    extra: list[Header] = [
        ("List-Id", list_id),
        ("List-Unsubscribe", "<mailto:users-leave@widgets.example.org>, "
                             "<https://widgets.example.org/unsub>"),
        ("List-Post", "<mailto:users@widgets.example.org>"),
        ("Precedence", "list"),
    ]
    return plain_mail(body="Release 2.0 is out.\n", sender=sender, to=to, subject=subject,
                      message_id=message_id, date=date, extra_headers=extra)


def malformed_mail(*, message_id: str | None = "<malformed@example.com>") -> bytes:
    """Garbage in the header block and a multipart/mixed without boundary."""
    id_line = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (
        "From: Broken Sender <broken@example.com>\r\n"
        f"Subject: broken message\r\n{id_line}"
        "Content-Type: multipart/mixed\r\n"
        "this header line has no colon at all\r\n"
        "X-Garbage: \x01\x02\r\n\r\n"
        "--nowhere\r\nContent-Type: text/plain\r\n\r\nPlease salvage this text.\r\n"
    ).encode()


def truncated_mail(*, message_id: str | None = None) -> bytes:
    """A multipart whose closing boundary never comes (the sender's connection broke)."""
    headers = _envelope(sender=SENDER, to=SUPPORT, subject="Truncated",
                        message_id=message_id, date=DEFAULT_DATE, in_reply_to=None,
                        references=(), extra_headers=())
    mixed = _multipart("mixed", [_text_part("The beginning survived.\n")], "cut-b0undary")
    return _join(headers, mixed).rsplit(b"--cut-b0undary--", 1)[0]


def bad_base64_mail(*, message_id: str | None = None) -> bytes:
    """A text part labelled base64 whose body is not base64."""
    headers = _envelope(sender=SENDER, to=SUPPORT, subject="Bad base64",
                        message_id=message_id, date=DEFAULT_DATE, in_reply_to=None,
                        references=(), extra_headers=())
    part = (b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n!!!! this is not base64 $$$$ #\r\n")
    return _join(headers, part)


def not_an_email() -> bytes:
    """Bytes that are not an e-mail at all (no headers, no separator)."""
    return b"\x00\xff\xfe binary junk\nwithout any headers\x00 at all\n"


def raw_8bit_headers_mail(
    *,
    charset: str = "iso-8859-2",
    message_id: str | None = None,
    date: datetime = DEFAULT_DATE,
) -> bytes:
    """Subject and From display name as raw bytes in `charset`, as old mailers send."""
    headers: list[Header] = [
        ("From", POLISH_NAME.encode(charset) + b" <lukasz@example.pl>"),
        ("To", SUPPORT),
        ("Subject", POLISH_SUBJECT.encode(charset)),
        ("Date", format_datetime(date)),
        ("Message-ID", message_id or new_message_id()),
    ]
    return _join(headers, _text_part(POLISH_BODY, "plain", charset, "8bit"))


def mislabelled_mail(
    *,
    label: str = "iso-8859-1",
    actual: str = "utf-8",
    body: str = "Grüße aus Köln – “quoted” €\n",
    subject: str = "Mislabelled charset",
    message_id: str | None = None,
) -> bytes:
    """A text/plain body encoded in `actual` but declared as `label`."""
    headers = _envelope(sender=SENDER, to=SUPPORT, subject=subject, message_id=message_id,
                        date=DEFAULT_DATE, in_reply_to=None, references=(),
                        extra_headers=())
    return _join(headers, _text_part("", "plain", label, "8bit", body.encode(actual)))


def large_mail(
    *,
    size: int = 400_000,
    seed: int = 7,
    filename: str = POLISH_FILENAME,
    message_id: str | None = None,
    extra_parts: Sequence[bytes] = (),
) -> bytes:
    """A message above the fast-engine threshold: Polish ISO-8859-2 and Thai TIS-620 text,
    an HTML part, an inline image, `extra_parts` (raw MIME parts) and a `size`-byte
    random attachment."""
    blob = random.Random(seed).randbytes(size)
    headers = _envelope(sender=SENDER, to=SUPPORT, subject=encoded_word(POLISH_SUBJECT),
                        message_id=message_id, date=DEFAULT_DATE, in_reply_to=None,
                        references=(), extra_headers=())
    alternative = _multipart("alternative", [
        _text_part(POLISH_BODY, "plain", "iso-8859-2", "quoted-printable"),
        _text_part(f"<p>{POLISH_BODY}</p>", "html", "iso-8859-2", "quoted-printable"),
    ], "big-alt")
    parts = [
        alternative,
        _text_part(THAI_BODY, "plain", "tis-620", "8bit"),
        _file_part(PNG_BYTES, "image/png", "logo.png", disposition="inline",
                   content_id="logo@corpus"),
        *extra_parts,
        _file_part(blob, "application/octet-stream", filename),
    ]
    return _join(headers, _multipart("mixed", parts, "big-mixed"))


# Customers of the six languages we serve, as they write without a Content-Language
# header (almost no mail client sends one): the display names in their own scripts.
TAGALOG_NAME = "Maria Clara Santos"
TAGALOG_SUBJECT = "Hindi pa dumarating ang order ko"
TAGALOG_BODY = ("Magandang araw po,\nhindi pa po dumarating ang order ko na binayaran ko "
                "noong isang linggo. Pakitingnan naman po kung nasaan na ito.\nSalamat po!\n")
ENGLISH_NAME = "Mary O'Brien"
ENGLISH_SUBJECT = "My order has not arrived"
ENGLISH_BODY = ("Hello,\nI ordered a pair of shoes last week and they still have not "
                "arrived. Could you check where they are?\nThanks,\nMary\n")


def without_content_language(raw: bytes) -> bytes:
    """`raw` with its Content-Language header taken out: the language builders above
    send one, and a test of detection needs mail as customers' clients really send it."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    kept = [line for line in head.split(b"\r\n")
            if not line.lower().startswith(b"content-language:")]
    return b"\r\n".join(kept) + sep + body
