"""A local Telegram Bot API server for the tests and the benchmark.

No Telegram server can run here, so this one speaks the Bot API's documented wire
format on 127.0.0.1 and the real `telegram.Bot` talks to it through its `base_url` and
`base_file_url`, unmodified: `POST /bot<token>/<method>` with form-encoded (or JSON)
parameters, answers `{"ok": true, "result": ...}`, and Telegram's error replies
(`{"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the
user"}`, 429 with `parameters.retry_after`, 400 Bad Request, 401 for a bad token, 409
for a second poller or a webhook). Methods: getMe, getUpdates (long polling; an update
is confirmed, and forgotten, by a later call with a higher offset), sendMessage (HTML
checked and measured as Telegram does), getFile and the file download, setWebhook and
deleteWebhook; with a webhook set, updates are posted to it with the secret-token
header and posted again until it answers 2xx, as Telegram does.

Tests play the customers (`send`, `edit`), inject failures (`fail`, `block`), hold a
method until they let it go (`hold`), and wait for what the bot did (`sent`, `called`)
on conditions, never by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.core.config import load_settings
from inbox.outbox.dispatcher import Attempt
from inbox.runtime.app import App
from inbox.runtime.connectors import build_connectors
from inbox.runtime.daemon import Daemon
from inbox.web.server import Served, bind, serve
from tests.peers import Watched, merged, toml

WAIT = 10.0  # seconds: generous for CI, never reached when things work
JSON = dict[str, Any]
_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
                 "tg-spoiler", "a", "code", "pre", "blockquote", "tg-emoji"}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{3,32}")
_COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?")


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


def telegram_text(markup: str) -> str:
    """What the user sees of a parse_mode=HTML text; ApiError as Telegram words it."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(markup):
        ch = markup[i]
        if ch == "<":
            m = _TAG.match(markup, i)
            offset = len(markup[:i].encode())
            if m is None or m.group(2).lower() not in _ALLOWED_TAGS:
                name = m.group(2) if m else markup[i + 1:i + 10].split(" ", maxsplit=1)[0]
                raise ApiError(400, "Bad Request: can't parse entities: Unsupported start "
                                    f'tag "{name}" at byte offset {offset}')
            name = m.group(2).lower()
            if m.group(1):
                if not stack or stack.pop() != name:
                    raise ApiError(400, "Bad Request: can't parse entities: Unmatched end "
                                        f'tag at byte offset {offset}, found "</{name}>"')
            else:
                stack.append(name)
            i = m.end()
        elif ch == "&":
            m = _ENTITY.match(markup, i)
            if m is None:
                raise ApiError(400, "Bad Request: can't parse entities: Unsupported HTML "
                                    f"entity at byte offset {len(markup[:i].encode())}")
            out.append(html.unescape(m.group(0)))
            i = m.end()
        elif ch == ">":
            raise ApiError(400, "Bad Request: can't parse entities: Unexpected end of name "
                                f"token at byte offset {len(markup[:i].encode())}")
        else:
            out.append(ch)
            i += 1
    if stack:
        raise ApiError(400, "Bad Request: can't parse entities: Can't find end tag "
                            f'corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def entities(text: str) -> list[JSON]:
    """Mentions and a leading bot command, as Telegram's server marks them up."""
    found = []
    m = _COMMAND.match(text)
    if m:
        found.append({"type": "bot_command", "offset": 0, "length": utf16_len(m.group(0))})
    for m in _MENTION.finditer(text):
        found.append({"type": "mention", "offset": utf16_len(text[:m.start()]),
                      "length": utf16_len(m.group(0))})
    return found


@dataclass
class Sent:
    """A message a bot sent, as the customer sees it."""

    bot: str  # the bot's username
    chat_id: int
    message_id: int
    text: str  # after HTML parsing: what shows in the chat
    markup: str  # what the bot posted
    reply_to: int | None
    at: float = field(default_factory=time.perf_counter)


@dataclass
class Call:
    bot: str
    method: str
    params: JSON
    at: float = field(default_factory=time.perf_counter)


@dataclass
class FakeBot:
    token: str
    id: int
    username: str
    first_name: str
    updates: list[JSON] = field(default_factory=list)  # unconfirmed, oldest first
    next_update: int = 100_000
    webhook: JSON | None = None
    allowed: list[str] | None = None
    polls: int = 0  # getUpdates calls so far: a newer one ends an older one (409)
    chats: dict[int, JSON] = field(default_factory=dict)
    messages: dict[int, set[int]] = field(default_factory=dict)  # chat -> message ids
    available_at: dict[int, float] = field(default_factory=dict)  # update id -> when
    queued: asyncio.Event = field(default_factory=asyncio.Event)  # for webhook delivery

    @property
    def user(self) -> JSON:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name,
                "username": self.username}


class Changes:
    """Wakes whoever waits for a condition on the server's state, whenever it changes."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()  # wakes the waiters of this round
        self._event = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._event.wait()


@dataclass
class Hold:
    when: Callable[[JSON], bool]
    release: asyncio.Event
    reached: asyncio.Event


class TelegramServer:
    def __init__(self) -> None:
        self.bots: dict[str, FakeBot] = {}
        self.files: dict[str, tuple[bytes, int | None]] = {}  # file_id -> data, size
        self.sent: list[Sent] = []
        self.calls: list[Call] = []
        self.blocked: set[tuple[str, int]] = set()  # (bot username, chat id)
        self.failures: dict[str, list[ApiError]] = {}
        self.holds: dict[str, list[Hold]] = {}
        self.changed = Changes()
        self.ids = itertools.count(1)
        self.served: Served | None = None
        self.webhook_client = httpx.AsyncClient(timeout=30)
        self.deliveries: dict[str, asyncio.Task[None]] = {}
        self.webhook_answers: list[int] = []  # HTTP status of each webhook post
        self.closing = False

    # ------------------------------------------------------------ running
    async def start(self) -> TelegramServer:
        app = Starlette(routes=[
            Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
            Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
        ])
        self.served = await serve(app, bind("127.0.0.1", 0))
        return self

    @property
    def url(self) -> str:
        assert self.served is not None
        return f"http://127.0.0.1:{self.served.port}"

    async def stop(self) -> None:
        for task in self.deliveries.values():
            task.cancel()
        self.closing = True  # long polls still open end now
        for hold in itertools.chain(*self.holds.values()):
            hold.release.set()
        self.changed.notify()
        if self.served is not None:
            await self.served.stop()
        await self.webhook_client.aclose()

    def add_bot(self, token: str, username: str) -> FakeBot:
        bot = FakeBot(token, int(token.split(":", maxsplit=1)[0]), username, username.title())
        self.bots[token] = bot
        return bot

    # ------------------------------------------------------------ customers
    def user(self, user_id: int, first_name: str, last_name: str | None = None,
             username: str | None = None, language_code: str | None = "en") -> JSON:
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        extra = {"last_name": last_name, "username": username, "language_code": language_code}
        user.update({k: v for k, v in extra.items() if v is not None})
        return user

    def group(self, chat_id: int, title: str) -> JSON:
        return {"id": chat_id, "type": "supergroup", "title": title}

    def send(self, bot: FakeBot, user: JSON, text: str | None = None, *,
             chat: JSON | None = None, reply_to: JSON | None = None,
             date: int | None = None, **content: Any) -> JSON:
        """A customer writes to `bot`: the update is available at once."""
        if chat is None:
            chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
            chat.update({k: user[k] for k in ("last_name", "username") if k in user})
        bot.chats[chat["id"]] = chat
        ids = bot.messages.setdefault(chat["id"], set())
        message: JSON = {"message_id": max(ids, default=0) + 1, "from": user, "chat": chat,
                         "date": date or int(time.time())}
        ids.add(message["message_id"])
        if text is not None:
            key = "caption" if any(k in content for k in ("photo", "document", "voice")) \
                else "text"
            message[key] = text
            if entities(text):
                message[f"{'caption_' if key == 'caption' else ''}entities"] = entities(text)
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(content)
        self._queue(bot, {"message": message})
        return message

    def edit(self, bot: FakeBot, message: JSON, text: str, *, date: int | None = None
             ) -> JSON:
        edited = {**message, "text": text, "edit_date": date or int(time.time())}
        self._queue(bot, {"edited_message": edited})
        return edited

    def raw_update(self, bot: FakeBot, body: JSON) -> int:
        """An update exactly as given (say, one a client library cannot read); its id."""
        self._queue(bot, body)
        return bot.next_update

    def _queue(self, bot: FakeBot, update: JSON) -> None:
        bot.next_update += 1
        update = {"update_id": bot.next_update, **update}
        bot.updates.append(update)
        bot.available_at[bot.next_update] = time.perf_counter()
        bot.queued.set()
        self._notify()
        if bot.webhook is not None:
            self._deliver_soon(bot)

    def bot_message(self, sent: Sent) -> JSON:
        """A message the bot sent, as `reply_to_message` when a customer answers it."""
        bot = next(b for b in self.bots.values() if b.username == sent.bot)
        return {"message_id": sent.message_id, "from": bot.user,
                "chat": bot.chats[sent.chat_id], "date": int(time.time()), "text": sent.text}

    # ------------------------------------------------------------ files
    def add_file(self, data: bytes, size: int | None = -1) -> JSON:
        """Store a file; `size` is what Telegram says it is (-1: its length, None: nothing)."""
        n = next(self.ids)
        size = len(data) if size == -1 else size
        self.files[f"file-{n}"] = (data, size)
        ref: JSON = {"file_id": f"file-{n}", "file_unique_id": f"u{n}"}
        if size is not None:
            ref["file_size"] = size
        return ref

    def photo(self, data: bytes) -> list[JSON]:
        thumb = self.add_file(data[:16])
        return [{**thumb, "width": 90, "height": 90},
                {**self.add_file(data), "width": 1280, "height": 960}]

    def document(self, data: bytes, name: str, mime: str, size: int | None = -1) -> JSON:
        return {**self.add_file(data, size), "file_name": name, "mime_type": mime}

    def voice(self, data: bytes, duration: int) -> JSON:
        return {**self.add_file(data), "duration": duration, "mime_type": "audio/ogg"}

    def sticker(self, emoji: str, set_name: str) -> JSON:
        return {**self.add_file(b"RIFF....WEBP"), "type": "regular", "width": 512,
                "height": 512, "is_animated": False, "is_video": False, "emoji": emoji,
                "set_name": set_name}

    # ------------------------------------------------------------ steering
    def fail(self, method: str, code: int, description: str,
             parameters: JSON | None = None, times: int = 1) -> None:
        """The next `times` calls of `method` get this error reply."""
        self.failures.setdefault(method, []).extend(
            ApiError(code, description, parameters) for _ in range(times))

    def block(self, bot: FakeBot, chat_id: int) -> None:
        """The user blocks the bot: its sends to them get 403 from now on."""
        self.blocked.add((bot.username, chat_id))

    def hold(self, method: str, when: Callable[[JSON], bool] = lambda p: True) -> Hold:
        """Calls of `method` matching `when` wait until `hold.release` is set;
        `hold.reached` is set when the first one arrives."""
        hold = Hold(when, asyncio.Event(), asyncio.Event())
        self.holds.setdefault(method, []).append(hold)
        return hold

    async def sent_messages(self, count: int, timeout: float = WAIT,
                            where: Callable[[Sent], bool] = lambda s: True) -> list[Sent]:
        """Wait until at least `count` sends match `where`; all that match."""
        await self.changed.wait_for(lambda: len([s for s in self.sent if where(s)]) >= count,
                                    timeout)
        return [s for s in self.sent if where(s)]

    async def called(self, method: str, where: Callable[[JSON], bool] = lambda p: True,
                     timeout: float = WAIT) -> Call:
        await self.changed.wait_for(lambda: any(
            c.method == method and where(c.params) for c in self.calls), timeout)
        return next(c for c in self.calls if c.method == method and where(c.params))

    async def until(self, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        """Wait until `predicate` holds of the server's state."""
        await self.changed.wait_for(predicate, timeout)

    def _notify(self) -> None:
        self.changed.notify()

    # ------------------------------------------------------------ HTTP
    async def _api(self, request: Request) -> Response:
        bot = self.bots.get(request.path_params["token"])
        if bot is None:
            return _error(ApiError(401, "Unauthorized"))
        method = request.path_params["method"]
        params = await _params(request)
        self.calls.append(Call(bot.username, method, params))
        self._notify()
        handler = self._methods().get(method.lower())
        try:
            await self._maybe_hold(method, params)
            queued = self.failures.get(method)
            if queued:
                raise queued.pop(0)
            if handler is None:
                raise ApiError(404, "Not Found")
            result = await handler(bot, params)
        except ApiError as exc:
            return _error(exc)
        return JSONResponse({"ok": True, "result": result})

    async def _maybe_hold(self, method: str, params: JSON) -> None:
        for hold in self.holds.get(method, []):
            if not hold.release.is_set() and hold.when(params):
                hold.reached.set()
                await hold.release.wait()

    def _methods(self) -> dict[str, Callable[[FakeBot, JSON], Any]]:
        return {"getme": self._get_me, "getupdates": self._get_updates,
                "sendmessage": self._send_message, "getfile": self._get_file,
                "setwebhook": self._set_webhook, "deletewebhook": self._delete_webhook,
                "getwebhookinfo": self._webhook_info}

    async def _get_me(self, bot: FakeBot, params: JSON) -> JSON:
        return {**bot.user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def _get_updates(self, bot: FakeBot, params: JSON) -> list[JSON]:
        if bot.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                                "active; use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        if offset > 0:  # confirms every update before it: Telegram forgets them
            bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
        if "allowed_updates" in params:
            bot.allowed = list(params["allowed_updates"]) or None
        bot.polls += 1
        mine, limit = bot.polls, int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        with contextlib.suppress(TimeoutError):
            await self.changed.wait_for(
                lambda: bool(self._ready(bot)) or bot.polls != mine or self.closing, timeout)
        if bot.polls != mine:
            raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure "
                                "that only one bot instance is running")
        return self._ready(bot)[:limit]

    def _ready(self, bot: FakeBot) -> list[JSON]:
        return [u for u in bot.updates
                if bot.allowed is None or any(k in u for k in bot.allowed)]

    async def _send_message(self, bot: FakeBot, params: JSON) -> JSON:
        chat_id = int(params["chat_id"])
        if chat_id not in bot.chats:
            raise ApiError(400, "Bad Request: chat not found")
        if (bot.username, chat_id) in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        markup = str(params.get("text", ""))
        text = telegram_text(markup) if params.get("parse_mode") == "HTML" else markup
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        reply_to = self._reply_to(bot, chat_id, params.get("reply_parameters"))
        ids = bot.messages.setdefault(chat_id, set())
        message_id = max(ids, default=0) + 1
        ids.add(message_id)
        self.sent.append(Sent(bot.username, chat_id, message_id, text, markup, reply_to))
        self._notify()
        result: JSON = {"message_id": message_id, "from": bot.user, "chat": bot.chats[chat_id],
                        "date": int(time.time()), "text": text}
        return result

    def _reply_to(self, bot: FakeBot, chat_id: int, reply: Any) -> int | None:
        if not reply:
            return None
        message_id = int(reply["message_id"])
        if message_id not in bot.messages.get(chat_id, set()):
            if not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
            return None
        return message_id

    async def _get_file(self, bot: FakeBot, params: JSON) -> JSON:
        file_id = str(params.get("file_id", ""))
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: wrong file_id or the file is temporarily "
                                "unavailable")
        data, size = self.files[file_id]
        if len(data) > 20 * 1024 * 1024:
            raise ApiError(400, "Bad Request: file is too big")
        found: JSON = {"file_id": file_id, "file_unique_id": "u" + file_id,
                       "file_path": f"documents/{file_id}.bin"}
        if size is not None:
            found["file_size"] = size
        return found

    async def _file(self, request: Request) -> Response:
        if request.path_params["token"] not in self.bots:
            return Response(status_code=401)
        path = request.path_params["path"]
        self.calls.append(Call("", "download", {"path": path}))
        self._notify()
        await self._maybe_hold("download", {"path": path})
        file_id = path.rsplit("/", 1)[-1].removesuffix(".bin")
        if file_id not in self.files:
            return Response(status_code=404)
        return Response(self.files[file_id][0], media_type="application/octet-stream")

    # ------------------------------------------------------------ webhooks
    async def _set_webhook(self, bot: FakeBot, params: JSON) -> bool:
        if not str(params.get("url", "")).startswith(("https://", "http://127.0.0.1")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided "
                                "for webhook")
        bot.webhook = {"url": params["url"], "secret": params.get("secret_token"),
                       "max_connections": int(params.get("max_connections") or 40)}
        bot.allowed = list(params.get("allowed_updates") or []) or None
        if params.get("drop_pending_updates"):
            bot.updates.clear()
        bot.polls += 1  # a running long poll ends, as with Telegram
        self._notify()
        self._deliver_soon(bot)
        return True

    async def _delete_webhook(self, bot: FakeBot, params: JSON) -> bool:
        bot.webhook = None
        if params.get("drop_pending_updates"):
            bot.updates.clear()
        return True

    async def _webhook_info(self, bot: FakeBot, params: JSON) -> JSON:
        hook = bot.webhook or {}
        return {"url": hook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(bot.updates)}

    def _deliver_soon(self, bot: FakeBot) -> None:
        task = self.deliveries.get(bot.token)
        if task is None or task.done():
            self.deliveries[bot.token] = asyncio.get_running_loop().create_task(
                self._deliver(bot))

    async def _deliver(self, bot: FakeBot) -> None:
        """Post pending updates, up to max_connections at a time, each again (after a
        short pause) until answered with a 2xx; answered ones are confirmed."""
        flying: dict[int, asyncio.Task[bool]] = {}
        retry_at: dict[int, float] = {}
        while bot.webhook is not None and (bot.updates or flying):
            hook, now = bot.webhook, time.perf_counter()
            for u in bot.updates:
                uid = u["update_id"]
                if len(flying) >= hook["max_connections"]:
                    break
                if uid not in flying and retry_at.get(uid, 0) <= now:
                    flying[uid] = asyncio.create_task(self._post(hook, u))
            if not flying:  # everything pending failed a moment ago: Telegram waits too
                await asyncio.sleep(max(min(retry_at.values()) - now, 0.001))
                continue
            bot.queued.clear()
            arrival = asyncio.create_task(bot.queued.wait())
            await asyncio.wait([*flying.values(), arrival], return_when=asyncio.FIRST_COMPLETED)
            arrival.cancel()
            for uid, task in list(flying.items()):
                if task.done():
                    del flying[uid]
                    if task.result():
                        bot.updates = [u for u in bot.updates if u["update_id"] != uid]
                        retry_at.pop(uid, None)
                    else:
                        retry_at[uid] = time.perf_counter() + 0.05

    async def _post(self, hook: JSON, update: JSON) -> bool:
        headers = {"X-Telegram-Bot-Api-Secret-Token": hook["secret"]} if hook["secret"] else {}
        try:
            answer = await self.webhook_client.post(hook["url"], json=update, headers=headers)
        except httpx.HTTPError:
            answer = None
        self.webhook_answers.append(answer.status_code if answer is not None else 0)
        self._notify()
        return answer is not None and 200 <= answer.status_code < 300


async def _params(request: Request) -> JSON:
    """Form-encoded (as PTB sends) or JSON parameters; PTB JSON-encodes non-strings."""
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        loaded: JSON = json.loads(body or b"{}")
        return loaded
    params: JSON = dict(parse_qsl(body.decode(), keep_blank_values=True))
    params.update(request.query_params)
    for key, value in params.items():
        if key not in ("text", "caption", "chat_id", "url", "secret_token", "file_id"):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    return params


def _error(exc: ApiError) -> JSONResponse:
    body: JSON = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return JSONResponse(body, status_code=exc.code)


# ------------------------------------------------------------------ a deployment using it

TOKEN = "7001:TEST-support-bot-token-000000000000"
TOKEN_ENV = "INBOX_TEST_TELEGRAM_TOKEN"


@dataclass
class TelegramDesk:
    """A deployment whose inbox.toml names bots on the local Bot API server.

    `bot` is the `support` bot; `anna` a customer who writes to it in Polish, as Telegram
    tells us from her app's language. Settings live in the deployment's own inbox.toml, so
    the daemon and the `inbox` command see the same.
    """

    deployment: Path
    server: TelegramServer
    bot: FakeBot
    anna: JSON
    apps: list[App] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)  # sends the daemon recorded
    built: list[Watched] = field(default_factory=list)
    changes: Changes = field(default_factory=Changes)

    def options(self, token_env: str = TOKEN_ENV, **options: Any) -> JSON:
        return {"token_env": token_env, "api_url": self.server.url, **options}

    def configure(self, bots: dict[str, JSON] | None = None, **top: Any) -> App:
        path = self.deployment / "inbox.toml"
        data = merged(tomllib.loads(path.read_text()), {
            "name": "Acme Support", "domain": "helpdesk.test",
            # Retries that wait a second or more would make tests slow.
            "outbox": {"backoff_base_seconds": 0.05, "poll_seconds": 0.05,
                       "probe_seconds": 0.05},
            # Always open: the shipped after-hours rule must not depend on when tests run.
            "business_hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                               "hours": "00:00-23:59:59.999999"},
            **top})
        data["channels"] = {"telegram": bots if bots is not None
                            else {"support": self.options()}}
        path.write_text(toml(data))
        app = App(load_settings(path))
        self.apps.append(app)
        return app

    def daemon(self, app: App) -> tuple[Daemon, dict[tuple[str, str], Watched]]:
        """A daemon on this deployment whose recorded sends `attempted` can wait for."""
        connectors = {key: Watched(c) for key, c in build_connectors(app.settings).items()}
        self.built += connectors.values()
        daemon = Daemon(app, connectors)
        drain = daemon.dispatcher.drain_once

        async def drain_and_tell() -> list[Attempt]:
            done = await drain()  # returns once every outcome is committed
            self.attempts += done
            self.changes.notify()
            return done

        daemon.dispatcher.drain_once = drain_and_tell  # type: ignore[method-assign]
        return daemon, connectors

    async def attempted(self, count: int, outcome: str = "sent",
                        timeout: float = WAIT) -> list[Attempt]:
        """Wait until the daemon has recorded `count` sends with this outcome."""
        def matching() -> list[Attempt]:
            return [a for a in self.attempts if a.outcome == outcome]
        await self.changes.wait_for(lambda: len(matching()) >= count, timeout)
        return matching()

    async def close(self) -> None:
        """Close what tests left open (a daemon that ran closes its own; twice is fine)."""
        for connector in self.built:
            await connector.close()
        for app in self.apps:
            app.close()


@contextlib.asynccontextmanager
async def telegram_server() -> AsyncIterator[TelegramServer]:
    server = await TelegramServer().start()
    try:
        yield server
    finally:
        await server.stop()


# ------------------------------------------------------------------ fixtures

@pytest.fixture
async def telegram() -> AsyncIterator[TelegramServer]:
    """The local Bot API server, for one test."""
    async with telegram_server() as server:
        yield server


@pytest.fixture
async def desk(app: App, telegram: TelegramServer,
               monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TelegramDesk]:
    """The `app` deployment with the `support` bot and Anna, who writes in Polish."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    bot = telegram.add_bot(TOKEN, "acme_support_bot")
    anna = telegram.user(5551, "Anna", "Nowak", username="anna_n", language_code="pl")
    made = TelegramDesk(app.settings.base_dir, telegram, bot, anna)
    yield made
    await made.close()
