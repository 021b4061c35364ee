"""A local Mastodon server for the tests: the documented client API, on 127.0.0.1.

No Mastodon can be installed here, so this one speaks the part of the REST API that
the connector uses, and the real Mastodon.py talks to it unmodified: mention
notifications with `types[]`, `max_id`/`since_id`/`min_id` and the `Link` header for
paging; `GET /api/v2/instance` (the status length limit); `POST /api/v1/statuses` (form or
JSON, `in_reply_to_id`, `visibility`, and the `Idempotency-Key` header: the same key
answers the same status and posts nothing twice); `GET /api/v1/statuses/:id` and its
`/context`; 401 for a bad token, 429 with `X-RateLimit-Reset`, 422 for a reply to a
deleted status, worded as Mastodon words them.

The streaming API as Mastodon serves it over HTTP: `GET /api/v1/instance` names the
streaming server (`urls.streaming_api`, a ws:// address Mastodon.py reads as http://),
`GET /api/v1/streaming/health` answers `OK`, and `GET /api/v1/streaming/user` is a
server-sent event stream: `notification` (a new notification, its JSON), `status.update`
(an edited status, its JSON) and `delete` (a status id), with a `:thump` comment as
heartbeat. Mastodon sends `status.update` and `delete` to the user streams whose home
feed holds the status; here, to the streams of the accounts it mentions.

Tests play the customers (`mention`, `edit`, `delete`), inject failures (`fail`), turn
streaming off (`streaming = False`) or cut every stream (`drop_streams`), and wait for
what our account posted (`posted`) and for streams (`streams_open`) on conditions, never
by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import tomllib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from inbox.web.server import Served, bind, serve
from tests.peers import merged, toml

WAIT = 10.0
JSON = dict[str, Any]
HOST = "social.test"


class Changes:
    """Wakes whoever waits for a condition on the server's state, whenever it changes."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._event.wait()


class ApiError(Exception):
    def __init__(self, code: int, error: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.code, self.error, self.headers = code, error, headers or {}


@dataclass
class Posted:
    """A status our account posted, as the network shows it."""

    status: JSON
    text: str  # the status text as posted
    visibility: str
    in_reply_to_id: str | None
    idempotency_key: str | None


@dataclass
class MastodonServer:
    max_characters: int = 500
    accounts: dict[str, JSON] = field(default_factory=dict)  # by acct
    tokens: dict[str, str] = field(default_factory=dict)  # token -> acct
    statuses: dict[str, JSON] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    notifications: dict[str, list[JSON]] = field(default_factory=dict)  # acct -> oldest first
    posted: list[Posted] = field(default_factory=list)
    keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (token, key) -> id
    failures: dict[str, list[ApiError]] = field(default_factory=dict)  # "GET /path" prefix
    requests: list[str] = field(default_factory=list)
    holds: list[tuple[str, asyncio.Event, asyncio.Event]] = field(default_factory=list)
    changed: Changes = field(default_factory=Changes)
    served: Served | None = None
    streaming: bool = True  # False: the health check answers 404, as without a streamer
    heartbeat_seconds: float = 15.0
    streams: dict[str, list[asyncio.Queue[str | None]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = itertools.count(110_000_000_000_000_000)

    # ------------------------------------------------------------ running
    async def start(self) -> MastodonServer:
        app = Starlette(routes=[
            Route("/api/v1/notifications", self._notifications, methods=["GET"]),
            Route("/api/v2/instance", self._instance, methods=["GET"]),
            Route("/api/v1/instance", self._instance_v1, methods=["GET"]),
            Route("/api/v1/streaming/health", self._health, methods=["GET"]),
            Route("/api/v1/streaming/user", self._user_stream, methods=["GET"]),
            Route("/api/v1/accounts/verify_credentials", self._me, methods=["GET"]),
            Route("/api/v1/statuses", self._post_status, methods=["POST"]),
            Route("/api/v1/statuses/{id}", self._status, methods=["GET"]),
            Route("/api/v1/statuses/{id}/context", self._context, methods=["GET"]),
        ])
        self.served = await serve(app, bind("127.0.0.1", 0))
        return self

    @property
    def url(self) -> str:
        assert self.served is not None
        return f"http://127.0.0.1:{self.served.port}"

    async def stop(self) -> None:
        for _, _, release in self.holds:
            release.set()
        self.drop_streams()
        if self.served is not None:
            await self.served.stop()

    # ------------------------------------------------------------ people and posts
    def account(self, username: str, display_name: str = "", *, bot: bool = False,
                token: str | None = None, host: str = HOST) -> JSON:
        acct = username if host == HOST else f"{username}@{host}"
        account: JSON = {
            "id": str(next(self.ids)), "username": username, "acct": acct,
            "display_name": display_name, "bot": bot, "locked": False, "group": False,
            "url": f"https://{host}/@{username}", "uri": f"https://{host}/users/{username}",
            "created_at": "2024-01-01T00:00:00.000Z", "note": "", "avatar": "",
            "avatar_static": "", "header": "", "header_static": "", "followers_count": 0,
            "following_count": 0, "statuses_count": 0, "emojis": [], "fields": []}
        self.accounts[acct] = account
        if token is not None:
            self.tokens[token] = acct
        return account

    def mention(self, author: JSON, us: JSON, text: str, *, visibility: str = "public",
                in_reply_to: JSON | None = None, media: tuple[JSON, ...] = (),
                language: str | None = "en") -> JSON:
        """`author` posts a status mentioning `us` (the mention leads, as clients write
        it); `us` gets the mention notification."""
        handle = (f'<span class="h-card"><a href="{us["url"]}" class="u-url mention">'
                  f'@<span>{us["username"]}</span></a></span>')
        paragraphs = "".join(f"<p>{'<br />'.join(html.escape(ln) for ln in p.split(chr(10)))}"
                             "</p>" for p in text.split("\n\n"))
        content = paragraphs.replace("<p>", f"<p>{handle} ", 1)
        status = self._status_of(author, content, visibility, in_reply_to=in_reply_to,
                                 language=language, mentions=[us], media=media)
        self._notify_mention(us, author, status)
        return status

    def edit(self, status: JSON, text: str, *, interacted: JSON | None = None) -> JSON:
        """The author edits `status` (its leading mention kept): `status.update` on the
        streams of those it mentions; `interacted` (an account that boosted it, say) gets
        an `update` notification, as Mastodon sends."""
        handle = status["content"].split("</span></a></span> ", 1)[0] + "</span></a></span> "
        status["content"] = f"{handle}{html.escape(text)}</p>"
        status["edited_at"] = _now()
        self._to_mentioned(status, "status.update", json.dumps(status))
        if interacted is not None:
            self.notifications.setdefault(interacted["acct"], []).append({
                "id": str(next(self.ids)), "type": "update", "created_at": _now(),
                "account": status["account"], "status": status})
            self._push(interacted["acct"], "notification",
                       json.dumps(self.notifications[interacted["acct"]][-1]))
        self.changed.notify()
        return status

    def _status_of(self, author: JSON, content: str, visibility: str, *,
                   in_reply_to: JSON | None, language: str | None,
                   mentions: list[JSON], media: tuple[JSON, ...] = ()) -> JSON:
        sid = str(next(self.ids))
        status: JSON = {
            "id": sid, "uri": f"{author['uri']}/statuses/{sid}",
            "url": f"{author['url']}/{sid}", "created_at": _now(), "account": author,
            "content": content, "visibility": visibility, "sensitive": False,
            "spoiler_text": "", "language": language,
            "in_reply_to_id": in_reply_to["id"] if in_reply_to else None,
            "in_reply_to_account_id": in_reply_to["account"]["id"] if in_reply_to else None,
            "media_attachments": list(media), "reblog": None, "edited_at": None,
            "mentions": [{"id": m["id"], "username": m["username"], "acct": m["acct"],
                          "url": m["url"]} for m in mentions],
            "tags": [], "emojis": [], "replies_count": 0, "reblogs_count": 0,
            "favourites_count": 0}
        self.statuses[sid] = status
        self.changed.notify()
        return status

    def _notify_mention(self, us: JSON, author: JSON, status: JSON) -> None:
        note = {"id": str(next(self.ids)), "type": "mention",
                "created_at": status["created_at"], "account": author, "status": status}
        self.notifications.setdefault(us["acct"], []).append(note)
        self._push(us["acct"], "notification", json.dumps(note))

    def notify_other(self, us: JSON, author: JSON, kind: str = "favourite") -> None:
        self.notifications.setdefault(us["acct"], []).append({
            "id": str(next(self.ids)), "type": kind, "created_at": _now(), "account": author})

    def delete(self, status: JSON) -> None:
        self.deleted.add(status["id"])
        self._to_mentioned(status, "delete", status["id"])

    # ------------------------------------------------------------ streams
    def _to_mentioned(self, status: JSON, event: str, data: str) -> None:
        for mention in status.get("mentions") or ():
            self._push(mention["acct"], event, data)

    def _push(self, acct: str, event: str, data: str) -> None:
        for queue in self.streams.get(acct, ()):
            queue.put_nowait(f"event: {event}\ndata: {data}\n\n")

    def drop_streams(self) -> None:
        """Every open stream ends, as when the streaming server restarts."""
        for queues in self.streams.values():
            for queue in queues:
                queue.put_nowait(None)

    def streams_open(self, acct: str) -> int:
        return len(self.streams.get(acct, ()))

    async def stream_count(self, acct: str, count: int, timeout: float = WAIT) -> None:
        """Wait until `count` streams of `acct` are open."""
        await self.changed.wait_for(lambda: self.streams_open(acct) == count, timeout)

    async def connects(self, count: int, timeout: float = WAIT) -> None:
        """Wait until the user stream was asked for `count` times in all."""
        await self.asked("GET /api/v1/streaming/user", count, timeout)

    def fail(self, route: str, code: int, error: str, times: int = 1,
             headers: dict[str, str] | None = None) -> None:
        """The next `times` requests starting with `route` ("POST /api/v1/statuses")
        are answered with this error."""
        self.failures.setdefault(route, []).extend(
            ApiError(code, error, headers) for _ in range(times))

    def hold(self, route: str) -> tuple[asyncio.Event, asyncio.Event]:
        """The next request starting with `route` waits, unanswered, until the second
        event is set; the first is set once it arrived."""
        reached, release = asyncio.Event(), asyncio.Event()
        self.holds.append((route, reached, release))
        return reached, release

    async def _maybe_hold(self, route: str) -> None:
        for held in self.holds:
            if route.startswith(held[0]) and not held[1].is_set():
                held[1].set()
                await held[2].wait()
                return

    async def asked(self, route: str, count: int = 1, timeout: float = WAIT) -> None:
        """Wait until `count` requests starting with `route` were made."""
        await self.changed.wait_for(
            lambda: sum(r.startswith(route) for r in self.requests) >= count, timeout)

    async def posts(self, count: int, timeout: float = WAIT) -> list[Posted]:
        await self.changed.wait_for(lambda: len(self.posted) >= count, timeout)
        return self.posted

    # ------------------------------------------------------------ the API
    def _auth(self, request: Request) -> JSON:
        route = f"{request.method} {request.url.path}"
        self.requests.append(f"{route}?{request.url.query}")
        self.changed.notify()
        for prefix, queue in self.failures.items():
            if route.startswith(prefix) and queue:
                raise queue.pop(0)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            raise ApiError(401, "The access token is invalid")
        return self.accounts[self.tokens[token]]

    async def _notifications(self, request: Request) -> Response:
        return await _answer(lambda: self._page(request))

    def _page(self, request: Request) -> Response:
        me = self._auth(request)
        q = request.query_params
        types = q.getlist("types[]")
        items = [n for n in self.notifications.get(me["acct"], [])
                 if not types or n["type"] in types]
        limit = min(int(q.get("limit") or 40), 80)
        if q.get("max_id"):
            items = [n for n in items if int(n["id"]) < int(q["max_id"])]
        if q.get("since_id"):
            items = [n for n in items if int(n["id"]) > int(q["since_id"])]
        if q.get("min_id"):  # the page just after min_id, oldest first
            page = [n for n in items if int(n["id"]) > int(q["min_id"])][:limit]
        else:  # the newest page
            page = items[-limit:]
        page = sorted(page, key=lambda n: int(n["id"]), reverse=True)
        response = JSONResponse(page)
        if page:
            base = f"{self.url}/api/v1/notifications"
            keep = [("types[]", t) for t in types]
            newest, oldest = page[0]["id"], page[-1]["id"]
            response.headers["Link"] = (
                f'<{base}?{urlencode([*keep, ("max_id", oldest)])}>; rel="next", '
                f'<{base}?{urlencode([*keep, ("min_id", newest)])}>; rel="prev"')
        return response

    async def _instance(self, request: Request) -> Response:
        return await _answer(lambda: JSONResponse(self._instance_json(request)))

    def _instance_json(self, request: Request) -> JSON:
        self.requests.append(f"GET {request.url.path}")
        return {"domain": HOST, "title": "Social Test", "version": "4.3.0",
                "source_url": "https://github.com/mastodon/mastodon", "description": "",
                "usage": {"users": {"active_month": 3}}, "thumbnail": {"url": ""},
                "languages": ["en"], "rules": [],
                "configuration": {"urls": {"streaming": ""},
                                  "statuses": {"max_characters": self.max_characters,
                                               "max_media_attachments": 4,
                                               "characters_reserved_per_url": 23}},
                "registrations": {"enabled": False, "approval_required": False},
                "contact": {"email": "", "account": None}}

    async def _instance_v1(self, request: Request) -> Response:
        self.requests.append(f"GET {request.url.path}")
        assert self.served is not None
        return JSONResponse({"uri": HOST, "title": "Social Test", "version": "4.3.0",
                             "urls": {"streaming_api": f"ws://127.0.0.1:{self.served.port}"},
                             "configuration": {"statuses": {
                                 "max_characters": self.max_characters}}})

    async def _health(self, request: Request) -> Response:
        self.requests.append(f"GET {request.url.path}")
        self.changed.notify()
        if not self.streaming:
            return JSONResponse({"error": "Not found"}, status_code=404)
        return PlainTextResponse("OK")

    async def _user_stream(self, request: Request) -> Response:
        await self._maybe_hold(f"GET {request.url.path}")
        try:
            me = self._auth(request)
        except ApiError as exc:
            return JSONResponse({"error": exc.error}, status_code=exc.code)
        if not self.streaming:
            return JSONResponse({"error": "Not found"}, status_code=404)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.streams.setdefault(me["acct"], []).append(queue)
        self.changed.notify()
        return StreamingResponse(self._events(me["acct"], queue),
                                 media_type="text/event-stream")

    async def _events(self, acct: str, queue: asyncio.Queue[str | None]
                      ) -> AsyncIterator[str]:
        try:
            yield ":)\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), self.heartbeat_seconds)
                except TimeoutError:
                    event = ":thump\n"
                if event is None:
                    return
                yield event
        finally:
            self.streams[acct].remove(queue)
            self.changed.notify()

    async def _me(self, request: Request) -> Response:
        return await _answer(lambda: JSONResponse(self._auth(request)))

    async def _status(self, request: Request) -> Response:
        return await _answer(lambda: JSONResponse(self._visible(request)))

    def _visible(self, request: Request) -> JSON:
        self._auth(request)
        sid = request.path_params["id"]
        if sid not in self.statuses or sid in self.deleted:
            raise ApiError(404, "Record not found")
        return self.statuses[sid]

    async def _context(self, request: Request) -> Response:
        await self._maybe_hold(f"GET {request.url.path}")
        return await _answer(lambda: JSONResponse(self._context_of(self._visible(request))))

    def _context_of(self, status: JSON) -> JSON:
        ancestors = []
        parent = status.get("in_reply_to_id")
        while parent in self.statuses:
            ancestors.insert(0, self.statuses[parent])
            parent = self.statuses[parent].get("in_reply_to_id")
        descendants = [s for s in self.statuses.values()
                       if s.get("in_reply_to_id") == status["id"]]
        return {"ancestors": ancestors, "descendants": descendants}

    async def _post_status(self, request: Request) -> Response:
        params = await _params(request)
        return await _answer(lambda: JSONResponse(self._post(request, params)))

    def _post(self, request: Request, params: JSON) -> JSON:
        me = self._auth(request)
        key = request.headers.get("idempotency-key")
        token = request.headers["authorization"]
        if key and (token, key) in self.keys:
            return self.statuses[self.keys[(token, key)]]
        text = str(params.get("status") or "")
        if not text.strip():
            raise ApiError(422, "Validation failed: Text can't be blank")
        if mastodon_length(text) > self.max_characters:
            raise ApiError(422, "Validation failed: Text character limit of "
                                f"{self.max_characters} exceeded")
        parent = None
        if params.get("in_reply_to_id"):
            parent = self.statuses.get(str(params["in_reply_to_id"]))
            if parent is None or parent["id"] in self.deleted:
                raise ApiError(422, "The post you are trying to reply to does not appear "
                                    "to exist.")
        visibility = str(params.get("visibility") or "public")
        mentioned = [a for a in self.accounts.values() if f"@{a['acct']}" in text]
        content = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n"))
        status = self._status_of(me, content, visibility, in_reply_to=parent, language=None,
                                 mentions=mentioned)
        if key:
            self.keys[(token, key)] = status["id"]
        self.posted.append(Posted(status, text, visibility, status["in_reply_to_id"], key))
        for account in mentioned:
            if account["acct"] != me["acct"]:
                self._notify_mention(account, me, status)
        self.changed.notify()
        return status


async def _answer(make: Callable[[], Response]) -> Response:
    try:
        return make()
    except ApiError as exc:
        return JSONResponse({"error": exc.error}, status_code=exc.code, headers=exc.headers)


async def _params(request: Request) -> JSON:
    """Form-encoded (as Mastodon.py sends) or JSON parameters."""
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        loaded: JSON = json.loads(body or b"{}")
        return loaded
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def mastodon_length(text: str) -> int:
    """As Mastodon counts: a link is 23 characters, a mention only its username."""
    text = re.sub(r"https?://\S+", "x" * 23, text)
    return len(re.sub(r"(@[\w.-]+)@[\w.-]+\w", r"\1", text))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rate_limited(seconds: float) -> dict[str, str]:
    """The headers of a 429 that asks to come back in `seconds`."""
    reset = datetime.now(UTC) + timedelta(seconds=seconds)
    return {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds")}


@contextlib.asynccontextmanager
async def mastodon_server() -> AsyncIterator[MastodonServer]:
    server = await MastodonServer().start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def mastodon() -> AsyncIterator[MastodonServer]:
    """The local Mastodon server, for one test."""
    async with mastodon_server() as server:
        yield server


# ------------------------------------------------------------------ a deployment using it

TOKEN = "mastodon-support-token"
TOKEN_ENV = "INBOX_TEST_MASTODON_TOKEN"


def configure(deployment: Path, server: MastodonServer, accounts: dict[str, JSON] | None = None,
              **top: Any) -> Path:
    """The deployment's inbox.toml with Mastodon accounts on `server` (default: `support`
    with the token from TOKEN_ENV), quick retries, and always within business hours."""
    path = deployment / "inbox.toml"
    data = merged(tomllib.loads(path.read_text()), {
        "name": "Acme Support", "domain": "helpdesk.test",
        "outbox": {"backoff_base_seconds": 0.05, "poll_seconds": 0.05, "probe_seconds": 0.05},
        "business_hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                           "hours": "00:00-23:59:59.999999"},
        **top})
    data["channels"] = {"mastodon": accounts if accounts is not None
                        else {"support": options(server)}}
    path.write_text(toml(data))
    return path


def options(server: MastodonServer, **more: Any) -> JSON:
    return {"api_base_url": server.url, "access_token_env": TOKEN_ENV,
            "poll_seconds": 0.05, **more}
