"""The Bluesky channel: one connector per `[channels.bluesky.<account>]` section.

Built on the `atproto` SDK's AsyncClient, which refreshes the session before the access
token expires; when the refresh token itself is refused, the connector signs in again
with the app password once, and only a refused password stops the account (AuthError).

Fetching: app.bsky.notification.listNotifications, mentions and replies only, paged back
to our cursor `<indexedAt>|<cid>` (the newest notification stored). The daemon stores
the cursor in the same transaction as the messages; the next fetch is handed that
committed cursor, and only then is Bluesky told the notifications were seen (updateSeen):
a crash before the commit reads the same notifications again, and dedupe (the post's URI
is the message's id) makes that harmless. A thread is one conversation: the thread key is
the root post's URI.

Sending: a post in the customer's thread, `reply.parent` the customer's post and
`reply.root` its thread's root (strong refs: URI + CID, read fresh, so a deleted post is
a PermanentError), starting with a mention of the customer (a facet over UTF-8 byte
offsets) when it fits in Bluesky's 300 graphemes. Its record key is computed from the
outbox message itself (its queue time and message_ref), so every try of one message,
also by a daemon restarted after a crash between Bluesky's answer and our commit, names
the same record: a try that finds it already there posts nothing. This closes the
outbox's at-least-once window for Bluesky.
docs/bluesky.md is the operator's guide.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from atproto import AsyncClient, models
from atproto_client import exceptions as atx

from channels.base import (
    Address,
    AuthError,
    ChannelError,
    FetchResult,
    Inbound,
    Outbound,
    PermanentError,
    SendResult,
    TextLimit,
    TransientError,
)
from channels.bluesky.settings import AccountConfig, BlueskyConfigError, parse

log = logging.getLogger(__name__)

CHANNEL = "bluesky"
POST = "app.bsky.feed.post"
REASONS = frozenset({"mention", "reply"})
PAGE = 50
# Bluesky's limit: 300 graphemes per post (Thai and Vietnamese marks are no graphemes of
# their own); a longer reply is refused before it is queued, never split.
TEXT_LIMIT = TextLimit(300, "graphemes", splits=False)
_EXPIRED = frozenset({"ExpiredToken", "InvalidToken"})  # said with a 400 by the PDS
_TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

__all__ = ["TEXT_LIMIT", "BlueskyConfigError", "BlueskyConnector", "build", "record_key"]


def record_key(message: Outbound) -> str:
    """The post's record key, the same at every try of `message`, in any process.

    A TID (53 bits of microseconds since 1970, a 10-bit clock id, base32-sortable) whose
    time is the millisecond the message was queued, as a client's own TID is the time it
    posts: never in the future, and close to the post's `createdAt`. The microseconds
    within that millisecond and the clock id come from its message_ref (random per
    message), so two messages queued in the same millisecond still get different keys.
    """
    if message.queued_at is None:
        raise PermanentError("a Bluesky post needs its queue time to name its record")
    mixed = int.from_bytes(hashlib.sha256(message.message_ref.encode()).digest()[:4], "big")
    millis = (message.queued_at - _EPOCH) // timedelta(milliseconds=1)
    return tid(millis * 1000 + mixed % 1000, (mixed // 1000) & 1023)


def tid(micros: int, clock: int) -> str:
    number = (micros << 10) | clock
    return "".join(_TID_CHARS[(number >> (60 - 5 * i)) & 31] for i in range(13))


def _order(cursor: str | None) -> tuple[str, str]:
    indexed_at, _, cid = (cursor or "").partition("|")
    return indexed_at, cid


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)


def translate(exc: Exception) -> ChannelError:
    """The SDK's error in the outbox's terms (and the daemon's, for fetches)."""
    if isinstance(exc, ChannelError):
        return exc
    response = getattr(exc, "response", None)
    said = _said(response) or type(exc).__name__
    if isinstance(exc, atx.RateLimitExceededError):
        reset = (response.headers or {}).get("ratelimit-reset") if response else None
        wait = max(float(reset) - time.time(), 1.0) if reset else None
        return TransientError(f"Bluesky rate limit: {said}", retry_after=wait)
    if isinstance(exc, atx.UnauthorizedError):
        return AuthError(f"Bluesky refused the app password: {said}")
    if isinstance(exc, atx.BadRequestError):
        return PermanentError(f"Bluesky: {said}")
    return TransientError(f"Bluesky: {said}")


def _said(response: Any) -> str:
    content = getattr(response, "content", None)
    error, message = getattr(content, "error", None), getattr(content, "message", None)
    return ": ".join(str(p) for p in (error, message) if p)


class BlueskyConnector:
    """One Bluesky account behind the `Connector` protocol."""

    channel = CHANNEL

    def __init__(self, account: str, cfg: AccountConfig, password: str,
                 client: AsyncClient | None = None) -> None:
        self.account, self.cfg, self._password = account, cfg, password
        self.client = client or AsyncClient(base_url=cfg.service)
        self._did: str | None = None
        self._seen: str | None = None  # the cursor Bluesky was last told about
        self._lock = asyncio.Lock()

    @property
    def text_limit(self) -> TextLimit:
        return TEXT_LIMIT

    async def close(self) -> None:
        await self.client.request.close()

    # ------------------------------------------------------------------ session

    async def _me(self) -> str:
        async with self._lock:
            if self._did is None:
                await self._login()
            assert self._did is not None
            return self._did

    async def _login(self) -> None:
        try:
            profile = await self.client.login(self.cfg.handle, self._password)
        except atx.AtProtocolError as exc:
            raise translate(exc) from exc
        self._did = str(profile.did)

    @contextlib.asynccontextmanager
    async def _mapped(self) -> AsyncIterator[None]:
        try:
            yield
        except (atx.UnauthorizedError, atx.BadRequestError) as exc:
            if isinstance(exc, atx.BadRequestError) and _said(exc.response).split(":")[0] \
                    not in _EXPIRED:
                raise translate(exc) from exc
            # The SDK refreshes the access token by itself; a refused refresh token (a
            # long-running daemon whose session was revoked) gets one new sign-in.
            self._did = None
            raise TransientError("Bluesky session expired; signing in again") from exc
        except atx.AtProtocolError as exc:
            raise translate(exc) from exc

    # ------------------------------------------------------------------ fetching

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        me = await self._me()
        await self._confirm(cursor)
        deadline = time.monotonic() + wait
        while True:
            items, newest = await self._since(cursor, me)
            if items or time.monotonic() >= deadline:
                return FetchResult(items, newest)
            await asyncio.sleep(min(self.cfg.poll_seconds, max(deadline - time.monotonic(), 0)))

    async def _confirm(self, cursor: str | None) -> None:
        """Tell Bluesky the notifications up to `cursor` were seen: the daemon hands each
        fetch the cursor it committed, so this runs only after the messages are stored."""
        if cursor is None or cursor == self._seen:
            return
        seen_at, _ = _order(cursor)
        try:
            async with self._mapped():
                await self.client.app.bsky.notification.update_seen(
                    models.AppBskyNotificationUpdateSeen.Data(seen_at=seen_at))
            self._seen = cursor
        except TransientError as exc:  # only the unread badge: try again next time
            log.debug("bluesky/%s: updateSeen failed: %s", self.account, exc)

    async def _since(self, cursor: str | None, me: str) -> tuple[list[Inbound], str | None]:
        """Mentions and replies after `cursor`, oldest first, and the new cursor. With no
        cursor yet (a first start), the unread ones are new."""
        after, fresh, page = _order(cursor), [], None
        while True:
            async with self._mapped():
                # priority=False: every account's mentions, not only those we follow
                # (an account's "priority notifications" setting would hide customers).
                got = await self.client.app.bsky.notification.list_notifications(
                    params={"limit": PAGE, "priority": False,
                            **({"cursor": page} if page else {})})
            older = [n for n in got.notifications if (n.indexed_at, n.cid) > after
                     and (cursor is not None or not n.is_read)]
            fresh.extend(older)
            page = got.cursor
            if len(older) < len(got.notifications) or not page or not got.notifications:
                break
        fresh.sort(key=lambda n: (n.indexed_at, n.cid))
        newest = f"{fresh[-1].indexed_at}|{fresh[-1].cid}" if fresh else cursor
        if cursor is None and not fresh and got.notifications:
            top = got.notifications[0]  # nothing unread: start from the newest
            newest = f"{top.indexed_at}|{top.cid}"
        return [self._inbound(n, me) for n in fresh if n.reason in REASONS], newest

    def _inbound(self, n: Any, me: str) -> Inbound:
        author, record = n.author, n.record
        reply = getattr(record, "reply", None)
        headers = {"bluesky-handle": "@" + author.handle, "bluesky-did": author.did,
                   "bluesky-reason": n.reason}
        if author.did == me:
            headers["own-account"] = "our own Bluesky account"
        if any(label.val == "bot" for label in author.labels or ()):
            headers["auto-submitted"] = "auto-generated"  # a self-declared bot
        langs = getattr(record, "langs", None) or []
        return Inbound(
            channel=CHANNEL, account=self.account, external_id=n.uri,
            sender=Address(author.did, author.display_name or author.handle),
            received_at=_when(n.indexed_at), text=getattr(record, "text", "") or "",
            references=(reply.parent.uri,) if reply else (),
            # One customer's thread, not everyone's: anyone may answer a public post.
            thread_key=f"{reply.root.uri if reply else n.uri} {author.did}", headers=headers,
            language=langs[0].split("-")[0].lower() if langs else None, reachable=True)

    # ------------------------------------------------------------------ sending

    async def send(self, message: Outbound) -> SendResult:
        me = await self._me()
        if not message.in_reply_to:
            raise PermanentError("a Bluesky message can only answer a post")
        rkey = record_key(message)
        # Before reading the parent: a post made by an earlier try stays made even if
        # the customer deleted theirs since.
        if (done := await self._existing(me, rkey)) is not None:
            return SendResult(done)
        record = self._record(message.text, await self._post(message.in_reply_to))
        async with self._mapped():
            made = await self.client.com.atproto.repo.create_record(
                models.ComAtprotoRepoCreateRecord.Data(repo=me, collection=POST, rkey=rkey,
                                                       record=record))
        return SendResult(str(made.uri))

    async def _post(self, uri: str) -> Any:
        async with self._mapped():
            got = await self.client.app.bsky.feed.get_posts(params={"uris": [uri]})
        if not got.posts:
            raise PermanentError(f"the post {uri} was deleted: nothing to answer in its thread")
        return got.posts[0]

    async def _existing(self, me: str, rkey: str) -> str | None:
        try:
            async with self._mapped():
                got = await self.client.com.atproto.repo.get_record(
                    params={"repo": me, "collection": POST, "rkey": rkey})
        except PermanentError as exc:
            if "RecordNotFound" in str(exc):  # not posted yet
                return None
            raise
        return str(got.uri)

    def _record(self, text: str, parent: Any) -> models.AppBskyFeedPost.Record:
        here = models.ComAtprotoRepoStrongRef.Main(uri=parent.uri, cid=parent.cid)
        above = getattr(parent.record, "reply", None)
        mention = f"@{parent.author.handle}"
        body, facets = text.strip(), []
        # The mention goes first when it fits; a reply notifies its parent's author anyway.
        if TEXT_LIMIT.count(f"{mention} {body}") <= TEXT_LIMIT.max:
            body = f"{mention} {body}"
            facets.append(models.AppBskyRichtextFacet.Main(
                index=models.AppBskyRichtextFacet.ByteSlice(
                    byte_start=0, byte_end=len(mention.encode("utf-8"))),
                features=[models.AppBskyRichtextFacet.Mention(did=parent.author.did)]))
        if TEXT_LIMIT.count(body) > TEXT_LIMIT.max:
            raise PermanentError(f"longer than Bluesky's {TEXT_LIMIT.max} graphemes")
        return models.AppBskyFeedPost.Record(
            text=body, created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            reply=models.AppBskyFeedPost.ReplyRef(parent=here, root=above.root if above
                                                  else here),
            facets=facets or None)


def build(account: str, options: Mapping[str, Any], *, base_dir: Path,
          env: Mapping[str, str] | None = None) -> BlueskyConnector:
    """The connector for `[channels.bluesky.<account>]`; BlueskyConfigError says what is
    wrong."""
    cfg, password = parse(options, base_dir, os.environ if env is None else env)
    # One INFO line per poll is noise in the daemon's log.
    if logging.getLogger("httpx").level == logging.NOTSET:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    return BlueskyConnector(account, cfg, password)
