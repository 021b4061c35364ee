"""A deterministic benchmark corpus of e-mail, written as a Maildir.

`generate_corpus(dest, count, seed)` writes `count` messages into `dest/cur/` (with the
empty `new/` and `tmp/` that make `dest` a Maildir, so `inbox ingest dest` and
`channels.email.mailfiles.iter_mail_files([dest])` read it). The same seed gives the same bytes.

The mix imitates a helpdesk's inbound mail:
* short plain-text, HTML-only and multipart/alternative messages from a pool of customers
  writing English (UTF-8), Polish (ISO-8859-2), Thai (TIS-620), Vietnamese
  (windows-1258 or UTF-8), Persian (UTF-8) and German (ISO-8859-1), with RFC 2047
  subjects and names, in quoted-printable, base64 or 8-bit;
* about a third are replies whose In-Reply-To/References point at earlier messages of the
  corpus, so threads form;
* about 5% are robots: out-of-office replies, mailing-list posts and bounces;
* one in ten carries a random 0.2-2 MB attachment in base64.

Run `python -m bench.corpus DEST --count N [--seed S]`.
"""

from __future__ import annotations

import argparse
import base64
import quopri
import random
import sys
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

__all__ = ["generate_corpus", "main"]

START = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Language:
    tag: str
    charset: str
    names: tuple[str, ...]
    subjects: tuple[str, ...]
    lines: tuple[str, ...]
    reply_prefix: str = "Re: "


LANGUAGES = (
    Language("en", "utf-8", ("Alice Smith", "Bob Jones", "Carol White", "Dan Brown"),
             ("Printer on fire", "Where is my order?", "Refund request", "Login fails"),
             ("Hello,", "my order has not arrived yet.", "Could you please check it?",
              "The invoice shows the wrong amount.", "Thanks in advance,")),
    Language("pl", "iso-8859-2", ("Łukasz Żółtowski", "Zofia Wójcik", "Paweł Gęślak"),
             ("Reklamacja zamówienia", "Zażółć gęślą jaźń", "Prośba o zwrot"),
             ("Dzień dobry,", "zamówienie nie dotarło.", "Proszę o szybką odpowiedź.",
              "Pozdrawiam serdecznie,"), "Odp: "),
    Language("th", "tis-620", ("สมชาย ใจดี", "สมหญิง รักไทย"),
             ("สอบถามเรื่องสินค้า", "ขอความช่วยเหลือ"),
             ("สวัสดีครับ", "สินค้าที่สั่งยังไม่ได้รับครับ", "ขอบคุณครับ")),
    Language("vi", "windows-1258", ("Nguyễn Thị Hương", "Trần Văn Nam"),
             ("Xin hỗ trợ đơn hàng", "Yêu cầu hoàn tiền"),
             ("Xin chào,", "tôi cần hỗ trợ về đơn hàng của tôi.", "Cảm ơn bạn rất nhiều!")),
    Language("vi", "utf-8", ("Lê Thị Mai",), ("Câu hỏi về sản phẩm",),
             ("Xin chào,", "sản phẩm bị lỗi.", "Trân trọng,")),
    Language("fa", "utf-8", ("علی رضایی", "مریم احمدی"),
             ("درخواست پشتیبانی", "سفارش نرسیده"),
             ("سلام،", "سفارش من هنوز نرسیده است.", "با تشکر")),
    Language("de", "iso-8859-1", ("Jürgen Müller", "Grete Weiß"),
             ("Rückerstattung für Bestellung", "Lieferung verspätet"),
             ("Guten Tag,", "meine Bestellung ist noch nicht angekommen.",
              "Mit freundlichen Grüßen,"), "AW: "),
)
SUPPORT = "support@helpdesk.example"


def cp1258_encode(text: str) -> bytes:
    """windows-1258 has no tone-marked letters: write the tone as a combining mark."""
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones))
            out += (base + "".join(c for c in parts if c in tones)).encode("cp1258")
    return bytes(out)


def _encode(text: str, charset: str) -> bytes:
    return cp1258_encode(text) if charset == "windows-1258" else text.encode(charset)


def _word(text: str, charset: str, rng: random.Random) -> str:
    """`text` as an RFC 2047 encoded-word when it needs one."""
    if text.isascii():
        return text
    data = _encode(text, charset)
    if rng.random() < 0.5:
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    quoted = quopri.encodestring(data, header=True).decode().replace("=\n", "")
    return f"=?{charset}?Q?{quoted.replace('?', '=3F')}?="


def _body_bytes(text: str, charset: str, rng: random.Random) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, encoded body) for a text part."""
    data = _encode(text, charset)
    if data.isascii():
        return "7bit", data
    cte = rng.choice(("quoted-printable", "base64", "8bit"))
    if cte == "base64":
        return cte, base64.encodebytes(data)
    if cte == "quoted-printable":
        return cte, quopri.encodestring(data)
    return cte, data


def _text_part(text: str, subtype: str, charset: str, rng: random.Random) -> bytes:
    cte, body = _body_bytes(text, charset, rng)
    head = f"Content-Type: text/{subtype}; charset={charset}\nContent-Transfer-Encoding: {cte}"
    return head.encode() + b"\n\n" + body


def _multipart(subtype: str, parts: list[bytes], boundary: str) -> bytes:
    chunks = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'.encode()]
    for part in parts:
        chunks += [b"--", boundary.encode(), b"\n", part.rstrip(b"\n"), b"\n"]
    chunks += [b"--", boundary.encode(), b"--\n"]
    return b"".join(chunks)


@dataclass
class _Thread:
    subject: str
    language: Language
    references: list[str]
    sender: str  # replies come from the person who wrote, as in a real mailbox


class _Generator:
    """Builds message after message, remembering earlier ones so replies can thread."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.threads: list[tuple[str, _Thread]] = []

    def message(self, index: int) -> bytes:
        roll = self.rng.random()
        if roll < 0.05:
            body = self._robot(index)
        elif roll < 0.35 and self.threads:
            body = self._reply(index)
        else:
            body = self._new(index)
        if self.rng.random() < 0.1:
            body = self._with_attachment(body, index)
        return body

    def _headers(self, index: int, lang: Language, sender: str, subject: str,
                 extra: list[str]) -> tuple[str, bytes]:
        message_id = f"<bench-{self.seed}-{index}@mail{index % 7}.example.com>"
        date = format_datetime(START + timedelta(minutes=index))
        lines = [f"Return-Path: <{sender.rsplit('<', 1)[-1].rstrip('>')}>",
                 f"From: {sender}", f"To: {SUPPORT}", f"Subject: {subject}",
                 f"Date: {date}", f"Message-ID: {message_id}", "MIME-Version: 1.0",
                 f"Content-Language: {lang.tag}", *extra]
        return message_id, ("\n".join(lines) + "\n").encode()

    def _sender(self, lang: Language) -> str:
        name = self.rng.choice(lang.names)
        address = f"customer{self.rng.randrange(2000)}@example-{lang.tag}.com"
        return f"{_word(name, lang.charset, self.rng)} <{address}>"

    def _content(self, lang: Language) -> bytes:
        lines = [self.rng.choice(lang.lines) for _ in range(self.rng.randint(2, 8))]
        text = "\n".join(lines) + "\n"
        kind = self.rng.random()
        if kind < 0.6:
            return _text_part(text, "plain", lang.charset, self.rng)
        html = "<html><body>" + "".join(f"<p>{line}</p>" for line in lines) + "</body></html>"
        if kind < 0.8:
            return _text_part(html, "html", lang.charset, self.rng)
        parts = [_text_part(text, "plain", lang.charset, self.rng),
                 _text_part(html, "html", lang.charset, self.rng)]
        return _multipart("alternative", parts, f"alt-{self.rng.getrandbits(48):012x}")

    def _new(self, index: int) -> bytes:
        lang = self.rng.choice(LANGUAGES)
        subject, sender = self.rng.choice(lang.subjects), self._sender(lang)
        message_id, head = self._headers(index, lang, sender,
                                         _word(subject, lang.charset, self.rng), [])
        self.threads.append((message_id, _Thread(subject, lang, [message_id], sender)))
        return head + self._content(lang)

    def _reply(self, index: int) -> bytes:
        parent_id, thread = self.rng.choice(self.threads[-2000:])
        lang = thread.language
        subject = _word(lang.reply_prefix + thread.subject, lang.charset, self.rng)
        refs = thread.references[-10:]
        extra = [f"In-Reply-To: {parent_id}", "References: " + "\n ".join(refs)]
        message_id, head = self._headers(index, lang, thread.sender, subject, extra)
        self.threads.append((message_id, _Thread(thread.subject, lang, [*refs, message_id],
                                                 thread.sender)))
        return head + self._content(lang)

    def _robot(self, index: int) -> bytes:
        lang = LANGUAGES[0]
        kind = self.rng.randrange(3)
        if kind == 0:
            extra = ["Auto-Submitted: auto-replied", "X-Autoreply: yes"]
            _id, head = self._headers(index, lang, self._sender(lang),
                                      "Automatic reply: out of office", extra)
            return head + _text_part("I am away until Monday.\n", "plain", "utf-8", self.rng)
        if kind == 1:
            extra = ["List-Id: <users.lists.example.org>", "Precedence: list",
                     "List-Unsubscribe: <mailto:leave@lists.example.org>"]
            _id, head = self._headers(index, lang, "Lister <poster@lists.example.org>",
                                      "[users] Weekly digest", extra)
            return head + _text_part("Digest of the week.\n", "plain", "utf-8", self.rng)
        return self._bounce(index)

    def _bounce(self, index: int) -> bytes:
        _id, head = self._headers(index, LANGUAGES[0], "MAILER-DAEMON@mx.example.net",
                                  "Undelivered Mail Returned to Sender",
                                  ["Auto-Submitted: auto-replied"])
        head = head.replace(b"Return-Path: <MAILER-DAEMON@mx.example.net>", b"Return-Path: <>")
        status = (b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net"
                  b"\n\nFinal-Recipient: rfc822; gone@example.net\nAction: failed\n"
                  b"Status: 5.1.1\n")
        original = b"Content-Type: text/rfc822-headers\n\nFrom: support@helpdesk.example\n"
        parts = [_text_part("Delivery failed.\n", "plain", "utf-8", self.rng), status, original]
        report = _multipart("report", parts, f"dsn-{index}")
        return head + report.replace(b"multipart/report;", b"multipart/report; "
                                     b"report-type=delivery-status;", 1)

    def _with_attachment(self, message: bytes, index: int) -> bytes:
        """Wrap `message`'s body with a random 0.2-2 MB base64 attachment."""
        head, _, body = message.partition(b"\nContent-Type: ")
        size = self.rng.randint(200_000, 2_000_000)
        data = base64.encodebytes(self.rng.randbytes(size))
        attachment = (f'Content-Type: application/octet-stream; name="scan-{index}.bin"\n'
                      f'Content-Disposition: attachment; filename="scan-{index}.bin"\n'
                      "Content-Transfer-Encoding: base64\n\n").encode() + data
        inner = b"Content-Type: " + body
        return head + b"\n" + _multipart("mixed", [inner, attachment], f"mix-{index}")


def generate_corpus(dest: Path, count: int = 10_000, seed: int = 1) -> Path:
    """Write `count` messages as a Maildir at `dest`; returns `dest`."""
    for sub in ("cur", "new", "tmp"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    generator = _Generator(seed)
    for index in range(count):
        (dest / "cur" / f"{index:06d}.bench:2,S").write_bytes(generator.message(index))
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest", type=Path, help="directory to create (a Maildir)")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    generate_corpus(args.dest, args.count, args.seed)
    elapsed = time.perf_counter() - started
    print(f"{args.count} messages in {args.dest} ({elapsed:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
