"""The Mastodon channel: one connector per `[channels.mastodon.<account>]` section.

Built on Mastodon.py, which is synchronous: every call runs in a thread, one client for
reading and one for sending, so a rate limit met by one never stalls the other.

Reading: mention notifications (`types[]=mention`, and `update`: a status we
interacted with was edited) after our cursor, the newest notification id the daemon
stored in the same transaction as the messages: pages follow the server's `Link` header
(`min_id`, oldest page first), and nothing is marked read on the server. A crash before
the commit reads the same mentions again; dedupe by status id makes the replay harmless.
The first start with no cursor reads the newest page as history (stored, never
acknowledged). Between empty polls the connector waits `poll_seconds`, or less: where the
server streams (stream.py), a notification wakes it at once, and edited and deleted
statuses come from the stream (they are not behind our cursor: one that arrives while
the daemon is down, or whose batch fails, is not seen again).

Sending: a status in reply to the customer's status, starting with @their acct, with the
visibility of the status it answers (read from the server when sending: a direct
message is answered directly, never in public), within the instance's
`max_characters` (read once from /api/v2/instance), with `Idempotency-Key` = our message
ref, so a retried send never posts twice. Errors go into the outbox's taxonomy: 429 ->
TransientError(retry_after from X-RateLimit-Reset), 401 -> AuthError, 422 (a reply to a
deleted status) and 404 -> PermanentError with Mastodon's reason.
docs/mastodon.md is the operator's guide.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from channels.base import (
    AuthError,
    ChannelError,
    FetchResult,
    Inbound,
    Outbound,
    PermanentError,
    SendResult,
    TextLimit,
    TransientError,
    first_problem,
    read_secret,
)
from channels.mastodon import statuses as st
from channels.mastodon.statuses import Me
from channels.mastodon.stream import Delay, UserStream

DEFAULT_MAX = 500  # Mastodon's own default, until the instance says otherwise
MENTION_ROOM = 32  # "@" + a username (at most 30) + a space, before every reply
PAGE = 40
TYPES = ["mention", "update"]  # update: a status we boosted (or quoted) was edited
MAX_PAGES = 10  # per fetch: a flood is read over several fetches, each committed


class MastodonConfigError(ValueError):
    """An account's settings cannot work; the message names the key."""


class AccountConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_base_url: str
    access_token_env: str | None = None
    access_token_file: str | None = None
    name: str | None = None  # how this account's acks sign off; default: top-level `name`
    public_ack: bool = True  # false: no acknowledgement in public (the SLA still runs)
    split_replies: bool = False  # a long reply as a numbered thread instead of refused
    poll_seconds: float = Field(default=15, gt=0)
    streaming: bool = True  # false: never open the streaming API, poll only

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("must be the instance's address, e.g. https://mastodon.social")
        return value.rstrip("/")


def translate(exc: MastodonError, api: Mastodon) -> ChannelError:
    """Mastodon's answer in the outbox's (and the daemon's) terms."""
    if isinstance(exc, MastodonRatelimitError):
        reset = api.ratelimit_reset
        wait = max(float(reset) - time.time(), 0.0) if reset else None
        return TransientError("Mastodon rate limit"
                              + (f": retry after {wait:.0f}s" if wait is not None else ""),
                              retry_after=wait)
    if isinstance(exc, MastodonUnauthorizedError):
        return AuthError("Mastodon refused the access token: revoked or mistyped? Make a "
                         "new one under Preferences > Development")
    if isinstance(exc, MastodonServerError | MastodonNetworkError):
        return TransientError(f"Mastodon: {_said(exc)}")
    if isinstance(exc, MastodonAPIError):
        return PermanentError(f"Mastodon: {_said(exc)}")
    return TransientError(f"Mastodon: {exc}")


def _said(exc: MastodonError) -> str:
    """Mastodon's own words: the API error's `error`, with the HTTP status."""
    args = exc.args
    if len(args) >= 4 and isinstance(args[1], int):
        return f"{args[3] or args[2]} (HTTP {args[1]})"
    return str(exc)


@contextlib.contextmanager
def _mapped(api: Mastodon) -> Iterator[None]:
    try:
        yield
    except MastodonError as exc:
        raise translate(exc, api) from exc


def _id_key(value: str) -> tuple[int, str]:
    """Mastodon ids are numbers written as strings (snowflakes): compare them as such."""
    return (len(value), value)


@dataclass(frozen=True, slots=True)
class Listening:
    """What a connector needs to stream: its own client (the stream blocks its session)
    and how long to wait before connecting again."""

    api: Mastodon
    delay: Delay


class MastodonConnector:
    """One account behind the `Connector` protocol (and `Limited`)."""

    channel = "mastodon"

    def __init__(self, account: str, reader: Mastodon, writer: Mastodon, cfg: AccountConfig,
                 *, clock: Callable[[], datetime] | None = None,
                 listening: Listening | None = None) -> None:
        self.account = account
        self.reader, self.writer, self.cfg = reader, writer, cfg
        self.clock = clock or (lambda: datetime.now(UTC))
        self.listening = listening if cfg.streaming else None
        self._me: Me | None = None
        self._lock = asyncio.Lock()
        self._stream: UserStream | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._pending: list[Inbound] = []  # edits and deletions the stream handed over

    @property
    def text_limit(self) -> TextLimit:
        """What one reply may hold: the instance's limit (500 until it was read) less
        room for the mention that starts every reply."""
        most = self._me.max_characters if self._me else DEFAULT_MAX
        return TextLimit(most - MENTION_ROOM, "chars", splits=self.cfg.split_replies)

    async def start(self) -> None:
        """Learn the instance's limits before the daemon reports ours (`Starting`)."""
        await self._identity()

    async def _identity(self) -> Me:
        """Who we are and the instance's limits, read once (Mastodon.py calls in a thread)."""
        async with self._lock:
            if self._me is None:
                self._me = await asyncio.to_thread(self._read_identity)
            return self._me

    def _read_identity(self) -> Me:
        with _mapped(self.reader):
            me = self.reader.account_verify_credentials()
            instance = self.reader.instance_v2()
        config = instance.get("configuration") or {}
        most = (config.get("statuses") or {}).get("max_characters") or DEFAULT_MAX
        domain = str(instance.get("domain") or urlsplit(self.cfg.api_base_url).hostname)
        return Me(str(me["id"]), str(me["username"]), domain, int(most))

    # ------------------------------------------------------------ reading
    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        me = await self._identity()
        if wait > 0:  # a daemon that waits for news listens; a burst (`--once`) does not
            self._listen()
        self._wake.clear()  # whatever the stream tells from now on is read next time
        notes, newest = await asyncio.to_thread(self._mentions, cursor)
        items = (await asyncio.to_thread(self._inbounds, notes, me, cursor is None)
                 if notes else [])
        items += self._pending
        self._pending = []
        if not items and wait > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wait, self.cfg.poll_seconds)):
                    await self._wake.wait()
        # a first start with no mention yet: later ones are new, not history
        return FetchResult(items, newest if newest is not None else "0")

    def _mentions(self, cursor: str | None) -> tuple[list[Mapping[str, Any]], str | None]:
        """Mention notifications after `cursor`, oldest first, and the newest id seen."""
        api = self.reader
        got: list[Mapping[str, Any]] = []
        with _mapped(api):
            if cursor is None:  # history: the newest page only
                page = api.notifications(types=TYPES, limit=PAGE)
                got = list(page or ())
            else:
                page = api.notifications(types=TYPES, min_id=cursor, limit=PAGE)
                for _ in range(MAX_PAGES):
                    if not page:
                        break
                    got += list(page)
                    page = api.fetch_previous(page)
        got.sort(key=lambda n: _id_key(str(n["id"])))
        return got, (str(got[-1]["id"]) if got else cursor)

    def _inbounds(self, notes: list[Mapping[str, Any]], me: Me, history: bool
                  ) -> list[Inbound]:
        now, items = self.clock(), []
        for note in notes:
            status = note.get("status")
            if not status:
                continue
            if note.get("type") == "update":
                edited = self._edit(status, me, self.reader)
                items += [edited] if edited is not None else []
            else:
                items.append(st.inbound(status, account=self.account, me=me, now=now,
                                        root=self._root(status, self.reader),
                                        backfill=history))
        return items

    def _edit(self, status: Mapping[str, Any], me: Me, api: Mastodon) -> Inbound | None:
        if not st.for_us(status, me):
            return None
        return st.edit(status, account=self.account, me=me, root=self._root(status, api),
                       now=self.clock())

    def _root(self, status: Mapping[str, Any], api: Mastodon) -> str:
        """The first status of the thread this one is in (itself when it starts one)."""
        if not status.get("in_reply_to_id"):
            return str(status["id"])
        with _mapped(api):
            try:
                ancestors = api.status_context(status["id"]).get("ancestors") or []
            except MastodonNotFoundError:  # deleted meanwhile: it is its own thread
                ancestors = []
        return str(ancestors[0]["id"]) if ancestors else str(status["in_reply_to_id"])

    # ------------------------------------------------------------ streaming
    def _listen(self) -> None:
        """Open the user stream once, where configured (it reconnects by itself)."""
        if self.listening is None or self._stream is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stream = UserStream(self.listening.api, self, self.listening.delay,
                                  f"mastodon/{self.account}")
        self._stream.start()

    def woke(self) -> None:
        self._hand(None)

    def edited(self, status: Mapping[str, Any]) -> None:
        if self._me is None or self.listening is None:
            return
        item = self._edit(status, self._me, self.listening.api)
        if item is not None:
            self._hand(item)

    def deleted(self, status_id: str) -> None:
        self._hand(st.deletion(status_id, account=self.account, now=self.clock()))

    def _hand(self, item: Inbound | None) -> None:
        """From the stream's thread to the event loop's (where `fetch` waits)."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: so is the daemon
                self._loop.call_soon_threadsafe(self._arrived, item)

    def _arrived(self, item: Inbound | None) -> None:
        if item is not None:
            self._pending.append(item)
        self._wake.set()

    # ------------------------------------------------------------ sending
    async def send(self, message: Outbound) -> SendResult:
        me = await self._identity()
        return await asyncio.to_thread(self._send, message, me)

    def _send(self, message: Outbound, me: Me) -> SendResult:
        visibility = self._visibility(message.in_reply_to)
        mention = f"@{message.recipient.address} "
        parts = self._parts(message.text, mention, me)
        reply_to, first = message.in_reply_to, None
        for n, part in enumerate(parts, start=1):
            text = mention + part + (f" {n}/{len(parts)}" if len(parts) > 1 else "")
            key = message.message_ref if n == 1 else f"{message.message_ref}/{n}"
            with _mapped(self.writer):
                posted = self.writer.status_post(text, in_reply_to_id=reply_to,
                                                 visibility=visibility, idempotency_key=key)
            reply_to = str(posted["id"])  # a numbered thread: each part answers the last
            first = first or reply_to
        return SendResult(external_id=first)

    def _visibility(self, answered: str | None) -> str:
        """The visibility of the status we answer (a direct message stays direct); a
        message that answers none (a notification to an agent) goes direct."""
        if not answered:
            return "direct"
        with _mapped(self.writer):
            try:
                status = self.writer.status(answered)
            except MastodonNotFoundError:
                raise PermanentError(f"Mastodon: the status {answered} we answer was "
                                     "deleted (or is no longer visible to us)") from None
        visibility = str(status.get("visibility") or "direct")
        return visibility if visibility in st.VISIBILITIES else "direct"

    def _parts(self, text: str, mention: str, me: Me) -> list[str]:
        room = me.max_characters - st.mention_length(mention)
        if st.mention_length(text) <= room:
            return [text.strip()]
        if not self.cfg.split_replies:
            raise PermanentError(f"Mastodon: {st.mention_length(text)} characters; "
                                 f"{me.domain} takes at most {room} in a reply (set "
                                 "split_replies = true to send a numbered thread)")
        return TextLimit(room - len(" 99/99")).parts(text)

    async def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            await asyncio.to_thread(self._stream.join, 5.0)
        apis = [self.reader, self.writer] + ([self.listening.api] if self.listening else [])
        for api in apis:
            await asyncio.to_thread(api.session.close)


# ------------------------------------------------------------------ building one

def _token(cfg: AccountConfig, base_dir: Path, env: Mapping[str, str]) -> str:
    found = read_secret("access_token", cfg.access_token_env, cfg.access_token_file,
                        base_dir=base_dir, env=env, error=MastodonConfigError)
    if found is None:
        raise MastodonConfigError("set access_token_env or access_token_file (a token made "
                                  "under Preferences > Development, scopes read and write)")
    return found


def build(account: str, options: Mapping[str, Any], *, base_dir: Path,
          env: Mapping[str, str] | None = None,
          reconnect_delay: Delay | None = None) -> MastodonConnector:
    """The connector for `[channels.mastodon.<account>]`; MastodonConfigError says what
    is wrong. `reconnect_delay` (the daemon's retry policy) lets it stream; without
    one it polls."""
    if "access_token" in options:
        raise MastodonConfigError("access_token: never put the token in inbox.toml; name an "
                                  "environment variable (access_token_env) or a file "
                                  "(access_token_file)")
    try:
        cfg = AccountConfig.model_validate(dict(options))
    except ValidationError as exc:
        raise MastodonConfigError(first_problem(exc)) from None
    token = _token(cfg, base_dir, os.environ if env is None else env)

    def client() -> Mastodon:
        # "throw": a rate limit is the outbox's to wait out, never a sleep in a thread
        return Mastodon(access_token=token, api_base_url=cfg.api_base_url,
                        ratelimit_method="throw", request_timeout=30)

    listening = Listening(client(), reconnect_delay) if reconnect_delay else None
    return MastodonConnector(account, client(), client(), cfg, listening=listening)
