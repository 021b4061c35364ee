"""The seam between the core and every channel.

A connector turns a channel's wire format into `Inbound` values and sends `Outbound`
values; the core never imports a network library. Connectors are built in one place
(the daemon) and injected, so tests can hand the core a connector that talks to a local
server. Errors are sorted into a small taxonomy that the outbox's single retry loop
understands: retry later (optionally after a server-given delay), give up on this send,
or stop the account because its credentials are wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import regex
from pydantic import ValidationError

# Ids are indexed: past this length one is kept as `bounded_key`'s digest (a 5 MB
# Message-ID does not fit a PostgreSQL index row, and no mail client writes one).
MAX_KEY = 255


def bounded_key(value: str) -> str:
    """`value`, or past `MAX_KEY` characters a stable `sha256:<hex>` stand-in for it, so
    that a reply citing a giant id still finds the message it answers."""
    if len(value) <= MAX_KEY:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Address:
    """Who a message is from or to, in the channel's own terms.

    `address` is the channel's stable identity of the person: a lower-cased e-mail address,
    a Telegram user id, a Mastodon account URI. `name` is what they call themselves.
    """

    address: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class InboundAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False
    # Set by the core's `offload` (then `data` is empty): bulk imports hash and store in
    # their parser processes, off the database's thread.
    sha256: str | None = None
    size: int | None = None
    stored: bool = False


@dataclass(frozen=True, slots=True)
class Inbound:
    """One customer message as a connector hands it to the pipeline.

    `external_id` is unique per (channel, account): the Message-ID for e-mail, the update's
    message id for Telegram. `references` lists external ids this message answers, nearest
    last (In-Reply-To and References for e-mail). `headers` keeps the channel's metadata
    that loop protection and rules look at, with lower-case keys.
    """

    channel: str
    account: str
    external_id: str
    sender: Address
    received_at: datetime
    text: str = ""
    subject: str | None = None
    html: str | None = None
    recipients: tuple[Address, ...] = ()
    references: tuple[str, ...] = ()
    thread_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    attachments: tuple[InboundAttachment, ...] = ()
    raw: bytes | None = None
    raw_sha256: str | None = None  # set when `raw` is already in the blob store
    language: str | None = None
    # History fetched on a first start (e.g. "backfill 30 days"): stored, never acknowledged.
    backfill: bool = False
    # Why this message could not be read as it should: it is stored raw and flagged.
    problems: tuple[str, ...] = ()
    # A chat edit: the external id of the message this is a new version of. The stored
    # message gets the new text (the old one is kept in an `edited` event); no new message.
    edit_of: str | None = None
    # With `edit_of`: the customer deleted that message (a Mastodon status). The stored
    # message keeps its text and is marked; nothing new is stored, nothing is answered.
    deleted: bool = False
    # Facts about how the customer came (a chat's deep-link payload, say), kept on the
    # conversation; a later value for the same key replaces the earlier one.
    attributes: Mapping[str, str] = field(default_factory=dict)
    # How long after its conversation was resolved this message may still reopen it; a
    # later one starts a new conversation. None: any time (e-mail answers reopen).
    reopen_window: timedelta | None = None
    # True when the message proves we can write back to its sender (a private chat: a
    # user who blocked the bot cannot write to it); it clears an unreachable mark.
    reachable: bool = False
    # False when the system that posted it asked for no acknowledgement (POST
    # /api/v1/inbound with "acknowledge": false: it tells the customer itself).
    acknowledge: bool = True


@dataclass(frozen=True, slots=True)
class Outbound:
    """One send, built by the outbox from a stored message.

    `message_ref` is our own external id for the message, fixed when it was queued (for
    e-mail the Message-ID we put on it), so a retried send is the same message and the
    customer's answer threads back even if it arrives before we learn the send succeeded.
    """

    outbox_id: int
    kind: str  # "ack", "reply", "notify", "webhook"
    channel: str
    account: str
    recipient: Address
    text: str
    message_ref: str
    subject: str | None = None
    html: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    thread_key: str | None = None
    auto_reply: bool = False
    # Copied on an e-mail reply (Cc): a channel without copies never gets one (the
    # desk refuses a Cc there before anything is queued).
    cc: tuple[Address, ...] = ()
    # When the send was queued (fixed, like message_ref): a channel that names its posts
    # itself (Bluesky's record keys are times) derives the name from it, the same at
    # every try and after a restart.
    queued_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the channel said about a successful send: its id for the message, if any,
    and what the far end answered, where that is worth keeping (a webhook's response)."""

    external_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    items: Sequence[Inbound]
    cursor: str | None


class ChannelError(Exception):
    """Base of the taxonomy; anything else a connector raises counts as transient."""


class TransientError(ChannelError):
    """Try again later; `retry_after` is the server's own wish, in seconds, if it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ChannelError):
    """This send can never succeed (a 5xx reply, a blocked bot): dead-letter it, say why."""

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        # True when the recipient itself is gone, so the contact is marked unreachable.
        self.unreachable = unreachable


class AuthError(ChannelError):
    """The account's credentials were refused: stop this account loudly, keep the work."""


@runtime_checkable
class Connector(Protocol):
    """What every channel implements. Instances are built by the daemon and injected."""

    @property
    def channel(self) -> str: ...

    @property
    def account(self) -> str: ...

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        """New messages after `cursor`, waiting up to `wait` seconds for some to arrive.

        Must not mark anything read on the server: the core stores the batch and the
        returned cursor in one transaction, and only then is the work considered done.
        """
        ...

    async def send(self, message: Outbound) -> SendResult: ...

    async def close(self) -> None: ...


class RawParser(Protocol):
    """Reads a channel's stored raw bytes again as an `Inbound` (never raises: problems are
    flagged on the result). The core asks for one by channel name (inbox.runtime builds
    them), so it can look into a stored e-mail's parts without importing e-mail code."""

    def __call__(self, raw: bytes, account: str, received_at: datetime) -> Inbound: ...


# How a channel measures a message's length: Unicode code points ("chars"), UTF-16 code
# units (Telegram: an emoji outside the BMP is 2), or user-perceived characters
# ("graphemes": Bluesky; Thai and Vietnamese combining marks are no characters of their own).
Unit = Literal["chars", "utf16", "graphemes"]
UNITS: tuple[Unit, ...] = ("chars", "utf16", "graphemes")
_GRAPHEME = regex.compile(r"\X")  # an extended grapheme cluster (Unicode UAX #29)


def count(text: str, unit: Unit) -> int:
    """The length of `text` as a channel counts it (the desk's replybox.js counts alike)."""
    if unit == "utf16":
        return len(text.encode("utf-16-le", "surrogatepass")) // 2
    if unit == "graphemes":
        return sum(1 for _ in _GRAPHEME.finditer(text))
    return len(text)


def _fitting(text: str, limit: int, unit: Unit) -> int:
    """How many code points of `text` fit in `limit` units, never cutting a grapheme."""
    used = at = 0
    for match in _GRAPHEME.finditer(text):
        cluster = match.group()
        used += count(cluster, unit) if unit != "graphemes" else 1
        if used > limit:
            break
        at += len(cluster)
    return at


@dataclass(frozen=True, slots=True)
class TextLimit:
    """What one message of a channel may hold, as its connector declares it (e-mail
    declares none). `splits`: a longer text goes out as several messages; otherwise
    it is refused before it is queued."""

    max: int
    unit: Unit = "chars"
    splits: bool = False

    def count(self, text: str) -> int:
        return count(text, self.unit)

    def parts(self, text: str) -> list[str]:
        """`text` in parts of at most `max` units, cut at a paragraph, else a line, else
        a space in the second half of the part, else where the part is full (never
        inside a grapheme). replybox.js cuts the same way to say how many go out."""
        parts: list[str] = []
        rest = text.strip()
        while self.count(rest) > self.max:
            fits = max(_fitting(rest, self.max, self.unit), 1)
            window = rest[:fits]
            cut = next((i for sep in ("\n\n", "\n", " ")
                        if (i := window.rfind(sep)) > fits // 2), fits)
            parts.append(rest[:cut].rstrip())
            rest = rest[cut:].lstrip()
        if rest:
            parts.append(rest)
        return parts


@runtime_checkable
class Limited(Protocol):
    """A connector whose messages have a length limit (a chat, a social network)."""

    @property
    def text_limit(self) -> TextLimit | None: ...


@runtime_checkable
class Starting(Protocol):
    """A connector that must learn something from its server before its declared facts
    hold (a Mastodon instance's character limit): the daemon awaits `start` before it
    records the connector's text limit and fetches."""

    async def start(self) -> None: ...


# An ASGI application, spelled as the ASGI spec does (Starlette's `ASGIApp` is the same
# type), so that channels need no web framework to offer an endpoint.
ASGIScope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
ASGIApp = Callable[[ASGIScope, Callable[[], Awaitable[ASGIMessage]],
                    Callable[[ASGIMessage], Awaitable[None]]], Awaitable[None]]


@runtime_checkable
class WebhookReceiver(Protocol):
    """A connector that is told of new messages by HTTP posts (a Telegram webhook).

    The core serves its endpoints in the daemon's one web app, on the desk's address,
    each on its own path; the connector's `fetch` hands out what they received.
    """

    def webhooks(self) -> Mapping[str, ASGIApp]:
        """The endpoints to serve, by URL path (e.g. "/telegram/support"); none when the
        connector polls instead."""
        ...


# ------------------------------------------------------------------ configuration

def read_secret(what: str, env_name: str | None, file_name: str | None, *, base_dir: Path,
                env: Mapping[str, str], error: type[ValueError]) -> str | None:
    """A secret an account names by `<what>_env` (an environment variable) or
    `<what>_file` (a file, relative to inbox.toml), never given in the file itself;
    None when neither is set. A problem is raised as `error` (the channel's own
    configuration error), saying which setting is wrong."""
    if env_name and file_name:
        raise error(f"{what}_env and {what}_file: choose one")
    if env_name:
        value = env.get(env_name, "").strip()
        if not value:
            raise error(f"{what}_env: {env_name} is not set")
        return value
    if not file_name:
        return None
    path = base_dir / Path(file_name).expanduser()
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise error(f"{what}_file {path}: {exc.strerror}") from None
    if not value:
        raise error(f"{what}_file {path} is empty")
    return value


def first_problem(exc: ValidationError) -> str:
    """The first thing pydantic found wrong with an account's settings, as `where: why`."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])
