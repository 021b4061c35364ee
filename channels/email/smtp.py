"""SMTP out: one `Outbound` as a properly threaded e-mail, over a reused connection.

`build_message` writes the mail a customer's client expects: our Message-ID (fixed when
the message was queued, so a retry is the same message), In-Reply-To and References to
the customer's mail so it threads under it, for acknowledgements the RFC 3834 headers
that keep other robots from answering, and text wrapped as format=flowed
(channels/email/flowed.py). `SmtpSender` keeps one aiosmtplib
connection per account open across sends and reconnects when the server dropped it.

Failures are sorted for the outbox's retry loop: 4xx replies and network trouble are
`TransientError`; 5xx replies to a message are `PermanentError` (a refused recipient,
550/551/553, also marks the address unreachable); refused credentials, an untrusted
certificate or a server that refuses us before any message is `AuthError`: no send of
this account can succeed until an operator acts, so the account stops and keeps its work.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from email import policy
from email.errors import MessageError
from email.header import Header
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING

import aiosmtplib

from channels.base import (
    MAX_KEY,
    Address,
    AuthError,
    ChannelError,
    Outbound,
    PermanentError,
    TransientError,
)
from channels.email.flowed import CONTENT_PARAMS, flowed

if TYPE_CHECKING:
    from channels.email.settings import Endpoint

# Recipients refused for good: the address itself is gone or invalid.
UNREACHABLE_CODES = frozenset({550, 551, 553})
# A connection unused for this long is checked with NOOP before a message is sent on it:
# servers close idle sessions (Postfix after 300 s) and a dead one must not eat a send.
IDLE_CHECK_SECONDS = 30.0
# What we write into headers: ids that look like Message-IDs (id-left@id-right, printable
# ASCII, at most MAX_KEY characters), the root and the last ten of a thread, one-line names
# and subjects; so every header line fits RFC 5322's 998 characters once folded.
_ATEXT = "A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~."
_MESSAGE_ID = re.compile(f"[{_ATEXT}]+@[{_ATEXT}\\[\\]]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
MAX_REFERENCES = 11  # the root and the last ten
MAX_SUBJECT = 500
MAX_NAME = 200


def build_message(out: Outbound, sender: Address, now: datetime) -> EmailMessage:
    """The e-mail for `out`, from `sender` (display name = the account's name)."""
    to = out.recipient
    utf8 = not all(a.address.isascii() for a in (to, sender, *out.cc))
    msg = EmailMessage(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
    msg["From"] = _header_address(sender)
    msg["To"] = _header_address(to)
    if out.cc:
        msg["Cc"] = [_header_address(a) for a in out.cc]
    _set_subject(msg, _one_line(out.subject or "")[:MAX_SUBJECT], utf8)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{out.message_ref}>"
    if out.in_reply_to and _is_message_id(out.in_reply_to):
        msg["In-Reply-To"] = f"<{out.in_reply_to}>"
    references = thread_references(out.references)
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    if out.auto_reply or out.kind == "notify":
        # RFC 3834: robots must not answer this; the second header says so to Exchange.
        msg["Auto-Submitted"] = "auto-replied" if out.auto_reply else "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Inbox-Ref"] = out.message_ref  # another inbox installation never acks us
    # Wrapped as mail clients expect: lines of 78 at most, that flowed-aware clients
    # join back into the paragraphs the template or the agent wrote (RFC 3676).
    text = flowed(out.text)
    msg.set_content(text, charset="utf-8", cte=_cte(text), params=CONTENT_PARAMS)
    if out.html:
        msg.add_alternative(out.html, subtype="html", charset="utf-8", cte=_cte(out.html))
    return msg


def _set_subject(msg: EmailMessage, subject: str, utf8: bool) -> None:
    if utf8 or subject.isascii():
        msg["Subject"] = subject
        return
    # Python 3.11's folder drops a space that falls between two encoded-words where it
    # folds ("wiadomość:Zażółć", "مارسید" in the customer's client); the older Header
    # encoder keeps spaces inside the words it encodes, and a raw value is sent as is.
    msg.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())


def envelope(out: Outbound) -> list[str]:
    """Every address the mail goes to (RCPT TO): the recipient, then each Cc once."""
    return list(dict.fromkeys(a.address for a in (out.recipient, *out.cc)))


def thread_references(ids: Iterable[str]) -> list[str]:
    """What References we write: the ids that can be Message-IDs, once each, keeping the
    thread's root and the last few (RFC 5322 3.6.4 allows trimming the middle)."""
    valid = list(dict.fromkeys(r for r in ids if _is_message_id(r)))
    return valid if len(valid) <= MAX_REFERENCES else [valid[0],
                                                       *valid[1 - MAX_REFERENCES:]]


def _is_message_id(value: str) -> bool:
    return len(value) <= MAX_KEY and _MESSAGE_ID.fullmatch(value) is not None


def _one_line(text: str) -> str:
    """A header value on one line: breaks and control characters become spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _header_address(a: Address) -> HeaderAddress:
    name = _one_line(a.name)[:MAX_NAME]
    return HeaderAddress(display_name=name, addr_spec=a.address)


def _cte(text: str) -> str:
    plain = text.isascii() and all(len(line) <= 900 for line in text.splitlines())
    return "7bit" if plain else "quoted-printable"


class SmtpSender:
    """One account's SMTP client: connects on first use, reuses the connection."""

    def __init__(self, endpoint: Endpoint, sender: Address,
                 clock: Callable[[], datetime]) -> None:
        self.endpoint, self.sender, self.clock = endpoint, sender, clock
        self._smtp: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        self._lock = asyncio.Lock()  # one SMTP transaction at a time on the connection

    async def send(self, out: Outbound) -> bytes:
        """Send `out`; returns the bytes sent (for a copy in the Sent folder)."""
        try:
            msg = build_message(out, self.sender, self.clock())
            data = msg.as_bytes()
        except (ValueError, TypeError, MessageError) as exc:  # an address no header holds
            raise PermanentError(f"cannot write this e-mail: {exc}") from exc
        options = ["SMTPUTF8"] if msg.policy is policy.SMTPUTF8 else []
        async with self._lock:
            for attempt in (1, 2):
                reused = await self._ready()
                try:
                    return await self._transaction(out, data, options)
                except aiosmtplib.SMTPServerDisconnected as exc:
                    await self.close()
                    # A reused connection that died under us (the server restarted or
                    # timed it out) gets one more try on a fresh one.
                    if not (reused and attempt == 1):
                        raise TransientError(f"{self._where}: connection lost") from exc
        raise AssertionError("unreachable")

    async def _transaction(self, out: Outbound, data: bytes, options: list[str]) -> bytes:
        assert self._smtp is not None
        try:
            await self._smtp.sendmail(self.sender.address, envelope(out), data,
                                      mail_options=options)
        except aiosmtplib.SMTPServerDisconnected:
            raise
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            if not self._smtp.is_connected:
                await self.close()
            raise send_error(exc, self._where) from exc
        finally:
            self._last_used = time.monotonic()
        return data

    async def _ready(self) -> bool:
        """Connect if needed; True when an existing connection is reused."""
        smtp = self._smtp
        if smtp is not None and smtp.is_connected:
            if time.monotonic() - self._last_used < IDLE_CHECK_SECONDS:
                return True
            try:
                await smtp.noop()
                return True
            except (aiosmtplib.SMTPException, OSError):
                await self.close()
        await self._connect()
        return False

    async def _connect(self) -> None:
        e = self.endpoint
        smtp = aiosmtplib.SMTP(hostname=e.host, port=e.port, timeout=e.timeout,
                               use_tls=e.security == "tls",
                               start_tls=e.security == "starttls",
                               tls_context=e.ssl_context,
                               username=e.username if e.password else None,
                               password=e.password)
        try:
            await smtp.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            smtp.close()
            raise connect_error(exc, self._where, e.username) from exc
        self._smtp = smtp

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        if smtp.is_connected:
            try:
                await asyncio.wait_for(smtp.quit(), timeout=2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()

    @property
    def _where(self) -> str:
        return f"SMTP {self.endpoint.host}:{self.endpoint.port}"


def connect_error(exc: BaseException, where: str, username: str | None) -> ChannelError:
    """Sort a failure to connect, greet, secure or log in."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return AuthError(f"{where}: login as {username} refused: {exc.code} {exc.message}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return AuthError(f"{where}: TLS certificate not trusted: {exc.verify_message}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported) or type(exc) is aiosmtplib.SMTPException:
        # The server lacks what the settings require (STARTTLS, AUTH): no retry helps.
        return AuthError(f"{where}: {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 500:
        return AuthError(f"{where}: the server refuses us: {exc.code} {exc.message}")
    return TransientError(f"{where}: {_describe(exc)}")


def send_error(exc: BaseException, where: str) -> ChannelError:
    """Sort a failure while sending one message."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{exc.code} {exc.message}"
        if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
            text += f" (recipient {exc.recipient})"
        elif isinstance(exc, aiosmtplib.SMTPSenderRefused):
            text += f" (sender {exc.sender})"
        if 400 <= exc.code < 500:
            return TransientError(f"{where}: {text}")
        unreachable = isinstance(exc, aiosmtplib.SMTPRecipientRefused) and (
            exc.code in UNREACHABLE_CODES)
        return PermanentError(f"{where}: {text}", unreachable=unreachable)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):  # e.g. SMTPUTF8 for this address
        return PermanentError(f"{where}: {exc.message}")
    return TransientError(f"{where}: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
