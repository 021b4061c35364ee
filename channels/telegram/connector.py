"""The Telegram channel: one connector per `[channels.telegram.<bot>]` section.

Built on python-telegram-bot's `Bot` alone. Its Application/Updater confirm updates to
Telegram (the next getUpdates with a higher offset) before we have stored them; here
the offset is our cursor: `fetch` asks for updates after the cursor the daemon saved in
the same transaction as the messages, so an update is confirmed only by the first fetch
after its commit. A crash anywhere before that gets the same updates again; dedupe
makes the replay harmless. Webhook mode (channels/telegram/webhook.py) keeps the same
promise by answering Telegram only after the commit.

Sending: acks and agent replies go out with sendMessage as a reply to the customer's
message, in parts of at most 4096 characters, the text HTML-escaped so that whatever an
agent types arrives literally. Telegram's own answers are sorted into the outbox's error
taxonomy: flood control (429) -> TransientError(retry_after), a user who blocked the bot
(403) -> PermanentError(unreachable=True), a revoked token -> AuthError.

The bot token comes from the environment (`token_env`) or a file (`token_file`), never
from inbox.toml, and never reaches the log: the Bot API puts it in every URL, and
httpx and PTB log URLs, so every log record is scrubbed of it (see `hide_in_logs`).
docs/telegram.md is the operator's guide.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import html
import logging
import os
import re
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from telegram import Bot, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from channels.base import (
    ASGIApp,
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
from channels.telegram import updates as tu
from channels.telegram import webhook as wh

log = logging.getLogger(__name__)

MAX_MESSAGE = 4096  # Telegram's limit, in UTF-16 code units of the text after parsing
BOT_API_FILE_LIMIT = 20 * 1024 * 1024  # getFile on api.telegram.org serves no more
DOWNLOADS_AT_ONCE = 4
QUIET_RESET = timedelta(days=6)  # Telegram may renumber updates after a quiet week
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")

# PTB 22 warns whenever it reads a time period as an int (they become timedeltas in PTB
# 23), inside its own code too (building RetryAfter); that would be one warning per
# flood-control reply. Opting in to the PTB 23 types silences it; this module reads both.
os.environ.setdefault("PTB_TIMEDELTA", "true")


Parsed = Update | dict[str, Any]  # an update, or its JSON when PTB cannot read it


class TelegramConfigError(ValueError):
    """A bot's settings cannot work; the message names the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookConfig(_Model):
    url: str  # the public HTTPS address Telegram posts to; served at its path
    secret_token_env: str | None = None  # default: derived from the bot token
    secret_token_file: str | None = None
    max_connections: int = Field(default=40, ge=1, le=100)

    @model_validator(mode="before")
    @classmethod
    def _no_listen(cls, data: Any) -> Any:
        # The endpoint had its own server once; a config that still names one must not
        # start with the proxy pointing at a port nobody listens on.
        if isinstance(data, dict) and "listen" in data:
            raise ValueError("webhook.listen is gone: the webhook is served on the desk's "
                             "address ([web] listen); remove it and point your proxy there "
                             "(docs/telegram.md)")
        return data

    @model_validator(mode="after")
    def _https(self) -> WebhookConfig:
        parts = urlsplit(self.url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("webhook.url must be an https:// URL that reaches this daemon")
        if parts.path in ("", "/"):
            raise ValueError("webhook.url needs a path of its own, e.g. "
                             "https://help.example.com/telegram/support")
        return self


class BotConfig(_Model):
    name: str | None = None  # how this bot's acks sign off; default: the top-level `name`
    token_env: str | None = None  # name of an environment variable holding the token
    token_file: str | None = None  # a file holding it (relative to inbox.toml)
    mode: Literal["polling", "webhook"] = "polling"
    api_url: str = "https://api.telegram.org"  # or a local Bot API server
    groups: tu.Groups = "mention"
    reopen_window_hours: float = Field(default=0, ge=0)
    max_file_bytes: int = Field(default=BOT_API_FILE_LIMIT, ge=0)
    webhook: WebhookConfig | None = None

    @model_validator(mode="after")
    def _webhook_needs_settings(self) -> BotConfig:
        if self.mode == "webhook" and self.webhook is None:
            raise ValueError('mode = "webhook" needs a [channels.telegram.<bot>.webhook] '
                             "table with url")
        return self


# ------------------------------------------------------------------ tokens and logs

_HIDDEN: set[str] = set()


def hide_in_logs(secret: str) -> None:
    """Scrub `secret` from every log record this process makes, whoever logs it.

    A record factory, not a filter: filters sit on one logger or one handler, and the
    token shows up in records of httpx, httpcore and several PTB loggers, at levels an
    operator may switch on while debugging. Records are scrubbed when made, before any
    handler formats them; tracebacks too.
    """
    if not _HIDDEN:
        make = logging.getLogRecordFactory()

        def scrubbed(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return _scrub(make(*args, **kwargs))

        logging.setLogRecordFactory(scrubbed)
        # One INFO line per long poll is noise in the daemon's log.
        if logging.getLogger("httpx").level == logging.NOTSET:
            logging.getLogger("httpx").setLevel(logging.WARNING)
    _HIDDEN.add(secret)


def redact(text: str) -> str:
    for secret in _HIDDEN:
        text = text.replace(secret, "<bot token>")
    return text


def _scrub(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: logging reports it later, as usual
        return record
    if any(s in message for s in _HIDDEN):
        record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if any(s in text for s in _HIDDEN):
            record.exc_text = redact(text)
    return record


def _secret(what: str, env_name: str | None, file_name: str | None, base_dir: Path,
            env: Mapping[str, str]) -> str | None:
    return read_secret(what, env_name, file_name, base_dir=base_dir, env=env,
                       error=TelegramConfigError)


# ------------------------------------------------------------------ errors

def translate(exc: TelegramError, *, private_chat: bool = False) -> ChannelError:
    """Telegram's answer in the outbox's terms (and the daemon's, for fetches)."""
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():  # int now, timedelta in PTB 23: same value
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return TransientError(f"Telegram flood control: retry after {seconds:.0f}s",
                              retry_after=seconds)
    # PTB puts the token itself in some messages; these end up in the outbox table.
    said = redact(exc.message)
    if isinstance(exc, InvalidToken):
        return AuthError("Telegram refused the bot token: revoked or mistyped? "
                         "Get the current one from @BotFather")
    if isinstance(exc, Forbidden):
        return PermanentError(f"Telegram: {said}", unreachable=private_chat)
    if isinstance(exc, BadRequest):
        gone = private_chat and "chat not found" in said.lower()
        return PermanentError(f"Telegram: {said}", unreachable=gone)
    if isinstance(exc, Conflict):
        return TransientError(f"Telegram: {said} (is this bot polled by another "
                              "program, or does it have a webhook elsewhere?)")
    return TransientError(f"Telegram: {said}")


@contextlib.contextmanager
def _mapped(private_chat: bool = False) -> Iterator[None]:
    try:
        yield
    except ChatMigrated:
        raise  # the sender handles it: same message, new chat id
    except TelegramError as exc:
        raise translate(exc, private_chat=private_chat) from exc


# ------------------------------------------------------------------ text

# Telegram's limit, in UTF-16 code units of the text after parsing; longer replies go
# out as several messages. What the desk's reply box counts with (channels.base).
TEXT_LIMIT = TextLimit(MAX_MESSAGE, "utf16", splits=True)


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """`text` in parts of at most `limit` UTF-16 units (Telegram's measure), cut at a
    paragraph, else a line, else a word when one is in the second half of the part."""
    return TextLimit(limit, "utf16", splits=True).parts(text)


def as_html(text: str) -> str:
    """Plain text for parse_mode=HTML: only <, > and & are special (Bot API docs)."""
    return html.escape(text, quote=False)


# ------------------------------------------------------------------ the connector

@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str
    max_connections: int

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


class TelegramConnector:
    """One bot behind the `Connector` protocol (and `WebhookReceiver`, in webhook mode)."""

    channel = "telegram"

    def __init__(self, account: str, bot: Bot, policy: tu.Policy,
                 webhook: Webhook | None = None,
                 clock: Callable[[], datetime] = tu.utcnow) -> None:
        self.account = account
        self.bot, self.policy, self.webhook, self.clock = bot, policy, webhook, clock
        self.bot_id = int(bot.token.split(":", 1)[0])  # the token starts with the bot's id
        self._me: tu.Bot | None = None
        # Made now, so the daemon can serve the endpoint before Telegram is told of it.
        self._inbox = wh.WebhookInbox() if webhook is not None else None
        self._endpoint = wh.WebhookEndpoint(webhook.path, webhook.secret, self._inbox,
                                            self._now) if webhook and self._inbox else None
        self._started = False
        self._lock = asyncio.Lock()
        self._downloads = asyncio.Semaphore(DOWNLOADS_AT_ONCE)
        # Parts of a long reply already delivered, by outbox id: a retry after a failed
        # second part must not send the first one again.
        self._delivered: dict[int, list[int]] = {}

    @property
    def text_limit(self) -> TextLimit:
        """What one reply may hold before it goes out in parts (channels.base.Limited)."""
        return TEXT_LIMIT

    def webhooks(self) -> dict[str, ASGIApp]:
        """This bot's endpoint by path, for the daemon to serve; none when polling."""
        return {self._endpoint.path: self._endpoint} if self._endpoint is not None else {}

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        me = await self._start()
        if self._inbox is not None:
            raw, new_cursor = await self._inbox.take(cursor, wait)
            updates = [self._parse(u) for u in raw]
        else:
            updates, new_cursor = await self._poll(cursor, wait)
        items = await asyncio.gather(*(self._inbound(u, me) for u in updates))
        return FetchResult([i for i in items if i is not None], new_cursor)

    async def _poll(self, cursor: str | None, wait: float) -> tuple[list[Parsed], str | None]:
        # Asking for updates after our cursor confirms, to Telegram, exactly those the
        # daemon has committed; nothing later.
        offset = self._offset(cursor)
        try:
            with _mapped():
                got: Sequence[Parsed] = await self.bot.get_updates(
                    offset=offset, timeout=int(wait), limit=100,
                    allowed_updates=list(tu.ALLOWED_UPDATES))
        except ChannelError:
            raise
        except Exception:  # PTB cannot read one of them: read them one by one
            got = [self._parse(u) for u in await self._raw_updates(offset)]
        ids = [u.update_id if isinstance(u, Update) else u.get("update_id") for u in got]
        numbers = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
        if not numbers:  # nothing, or nothing Telegram could have numbered
            return list(got), cursor
        return list(got), f"{max(numbers)}@{int(self.clock().timestamp())}"

    def _offset(self, cursor: str | None) -> int | None:
        """The update after our cursor `<last update id>@<when it came>`.

        After a week without updates Telegram numbers the next one at random, possibly
        below our cursor, and asking past it would confirm (drop) it unseen. So after a
        long quiet spell we ask for every unconfirmed update instead: all we stored was
        confirmed by the poll after it, and a repeat would be skipped as a duplicate.
        """
        last, _, when = (cursor or "").partition("@")
        if not last.isdigit():
            return None
        if when.isdigit() and self.clock().timestamp() - int(when) > QUIET_RESET.total_seconds():
            return None
        return int(last) + 1

    async def _raw_updates(self, offset: int | None) -> list[dict[str, Any]]:
        with warnings.catch_warnings():  # PTB says "use get_updates": that one just failed
            warnings.simplefilter("ignore")
            with _mapped():
                raw = await self.bot.do_api_request("getUpdates", api_kwargs={
                    "offset": offset, "limit": 100, "timeout": 0,
                    "allowed_updates": list(tu.ALLOWED_UPDATES)})
        return [u for u in raw if isinstance(u, dict)] if isinstance(raw, list) else []

    def _parse(self, data: dict[str, Any]) -> Parsed:
        try:
            return Update.de_json(data, self.bot)
        except Exception:
            log.exception("telegram/%s: python-telegram-bot cannot read update %s",
                          self.account, data.get("update_id"))
            return data

    async def _inbound(self, update: Parsed, me: tu.Bot) -> Inbound | None:
        """The update as the core's Inbound; one we cannot read is kept, flagged."""
        if not isinstance(update, Update):
            return tu.unreadable(update, self.account, me,
                                 "Telegram sent an update python-telegram-bot cannot read",
                                 self.clock())
        try:
            return await tu.to_inbound(update, self.account, me, self.policy, self._download)
        except ChannelError:
            raise  # a download failed for now: the whole batch is fetched again
        except Exception as exc:
            log.exception("telegram/%s: cannot read update %s", self.account,
                          update.update_id)
            return tu.unreadable(_as_json(update), self.account, me,
                                 f"could not read this update: {type(exc).__name__}: {exc}",
                                 self.clock())

    def _now(self) -> datetime:
        return self.clock()  # looked up at each call: tests move the clock

    async def _download(self, file_id: str) -> bytes:
        async with self._downloads:
            try:
                with _mapped():
                    found = await self.bot.get_file(file_id)
                    if found.file_size and found.file_size > self.policy.max_file_bytes:
                        raise tu.FileSkipped(f"{found.file_size} bytes, over the limit")
                    return bytes(await found.download_as_bytearray(read_timeout=120))
            except PermanentError as exc:  # too big for the Bot API, expired: say so, go on
                raise tu.FileSkipped(str(exc)) from exc

    async def _identity(self) -> tu.Bot:
        if self._me is None:
            with _mapped():
                await self.bot.initialize()  # getMe: our id and @username
            self._me = tu.Bot(self.bot.id, self.bot.username)
        return self._me

    async def _start(self) -> tu.Bot:
        """Once: who we are, then polling or the webhook set up with Telegram."""
        async with self._lock:
            me = await self._identity()
            if self._started:
                return me
            if self.webhook is None:
                # A webhook left from an earlier setup makes getUpdates fail; its
                # pending updates stay with Telegram for us to poll.
                with _mapped():
                    await self.bot.delete_webhook(drop_pending_updates=False)
                log.info("telegram/%s: polling as @%s", self.account, me.username)
            else:
                await self._start_webhook(self.webhook)
            self._started = True
            return me

    async def _start_webhook(self, hook: Webhook) -> None:
        # The daemon serves the endpoint (webhooks()) before any fetch: posts that come
        # once Telegram knows the URL are held until the next fetch takes them.
        with _mapped():
            await self.bot.set_webhook(
                hook.url, secret_token=hook.secret, max_connections=hook.max_connections,
                allowed_updates=list(tu.ALLOWED_UPDATES), drop_pending_updates=False)
        log.info("telegram/%s: @%s receives updates at %s", self.account,
                 self._me.username if self._me else "?", hook.url)

    async def send(self, message: Outbound) -> SendResult:
        await self._identity()
        chat, reply_to = self.target(message)
        parts = split_text(message.text)
        if not parts:
            raise PermanentError("nothing to send: the message is empty")
        done = self._delivered.setdefault(message.outbox_id, [])
        try:
            for n in range(len(done), len(parts)):
                chat, sent = await self._send_part(chat, parts[n], reply_to if n == 0 else None)
                done.append(sent)
        except PermanentError:
            self._delivered.pop(message.outbox_id, None)
            raise
        del self._delivered[message.outbox_id]
        return SendResult(external_id=tu.ref(self.bot_id, chat, done[0]))

    def target(self, message: Outbound) -> tuple[int, int | None]:
        """The chat to write to and the message to answer there.

        Answers name the customer's message (`in_reply_to`), which names its chat (a
        group's, for a customer who wrote in a group); a notification to an agent has
        only the recipient, a chat id.
        """
        answered = tu.parse_ref(message.in_reply_to)
        if answered is not None and answered.bot == self.bot_id:
            return answered.chat, answered.message
        try:
            return int(message.recipient.address), None
        except ValueError:
            raise PermanentError(f"{message.recipient.address!r} is not a Telegram chat id"
                                 ) from None

    async def _send_part(self, chat: int, text: str, reply_to: int | None) -> tuple[int, int]:
        answer = ReplyParameters(reply_to, allow_sending_without_reply=True) \
            if reply_to is not None else None
        for _ in range(3):  # a group that became a supergroup has a new chat id
            try:
                with _mapped(private_chat=chat > 0):
                    sent = await self.bot.send_message(chat, as_html(text),
                                                       parse_mode=ParseMode.HTML,
                                                       reply_parameters=answer)
                return chat, sent.message_id
            except ChatMigrated as exc:
                log.info("telegram/%s: chat %s moved to %s", self.account, chat,
                         exc.new_chat_id)
                chat = exc.new_chat_id
        raise TransientError(f"Telegram: chat {chat} keeps moving")

    async def close(self) -> None:
        if self._inbox is not None:
            self._inbox.close()  # waiting requests get a 503: Telegram posts them again
        await self.bot.shutdown()  # a no-op for a bot that never made a request


def _as_json(update: Update) -> dict[str, Any]:
    """The update as JSON again, or what is left of it when PTB cannot write it back."""
    try:
        return update.to_dict()
    except Exception:
        return {"update_id": update.update_id, **update.api_kwargs}


# ------------------------------------------------------------------ building one

def build(account: str, options: Mapping[str, Any], *, base_dir: Path,
          max_file_bytes: int | None = None, env: Mapping[str, str] | None = None,
          clock: Callable[[], datetime] = tu.utcnow) -> TelegramConnector:
    """The connector for `[channels.telegram.<account>]`; TelegramConfigError says what
    is wrong."""
    if "token" in options:
        raise TelegramConfigError("token: never put the bot token in inbox.toml; name an "
                                  "environment variable (token_env) or a file (token_file)")
    try:
        cfg = BotConfig.model_validate(dict(options))
    except ValidationError as exc:
        raise TelegramConfigError(first_problem(exc)) from None
    env = os.environ if env is None else env
    token = _secret("token", cfg.token_env, cfg.token_file, base_dir, env)
    if token is None:
        raise TelegramConfigError("set token_env or token_file (the token from @BotFather)")
    if not _TOKEN.match(token):
        raise TelegramConfigError("the bot token does not look like 123456:ABC-... "
                                  "(check the variable or file it comes from)")
    hide_in_logs(token)
    limit = min(cfg.max_file_bytes, max_file_bytes if max_file_bytes is not None
                else cfg.max_file_bytes)
    policy = tu.Policy(cfg.groups, timedelta(hours=cfg.reopen_window_hours), limit)
    api = cfg.api_url.rstrip("/")
    bot = Bot(token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot",
              request=HTTPXRequest(connection_pool_size=DOWNLOADS_AT_ONCE + 2),
              get_updates_request=HTTPXRequest(connection_pool_size=1))
    return TelegramConnector(account, bot, policy, _webhook(cfg, token, base_dir, env), clock)


def _webhook(cfg: BotConfig, token: str, base_dir: Path,
             env: Mapping[str, str]) -> Webhook | None:
    if cfg.mode != "webhook" or cfg.webhook is None:
        return None
    w = cfg.webhook
    secret = _secret("webhook.secret_token", w.secret_token_env, w.secret_token_file,
                     base_dir, env)
    if secret is None:  # one secret fewer to manage: derived, stable, not the token
        secret = hmac.new(token.encode(), b"inbox telegram webhook", hashlib.sha256).hexdigest()
    elif not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise TelegramConfigError("webhook.secret_token: 1-256 of A-Z a-z 0-9 _ - "
                                  "(Telegram's rule)")
    hide_in_logs(secret)
    return Webhook(w.url, secret, w.max_connections)
