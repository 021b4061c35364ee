"""The HTTP API under /api/v1 (docs/api.md): what an agent does in the desk, as JSON.

A program sends `Authorization: Bearer <token>` (`inbox token create`) and acts as that
agent, with the agent's role and the teams it may see, through the same inbox.desk
functions as the desk and the CLI; the JSON has the shapes of the CLI's `--json`
(inbox.desk.views). Errors are `{"error": {"code": ..., "message": ...}}`, mapped once
from the core's error families (`_ERRORS`). A POST that makes something accepts an
`Idempotency-Key` header: the same key again gets the first answer, and nothing is done
twice (`ApiRequest`).

The API lives beside the desk, not inside it: no session cookie, no CSRF token (a
bearer token is not sent by a browser on its own), never a redirect to /login.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import html
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from channels.base import Address, Inbound
from inbox.core.errors import Conflict, InboxError, Invalid, NotFound, Unavailable
from inbox.core.vocab import ID_MAX, Role, Status
from inbox.desk import (
    accounts,
    actions,
    apitokens,
    canned,
    contacts,
    mentions,
    sends,
    views,
    webhooks,
)
from inbox.desk.access import Scope, scope_of
from inbox.desk.accounts import Action, can
from inbox.desk.export import KINDS, Kind
from inbox.store import changes
from inbox.store.db import reader
from inbox.store.models import Agent, ApiRequest, Conversation, Message
from inbox.store.rawdb import Reader, reading
from inbox.web import exports, openapi
from inbox.web.context import WebContext

JSON = dict[str, Any]
T = TypeVar("T")
MAX_BODY = 1_000_000  # bytes of one request's JSON
MAX_PAGE = 200  # conversations in one page of the queue
MAX_KEY = 255  # characters of an Idempotency-Key


class Unauthorized(InboxError):
    """No token, or one that does not (or no longer) work: 401."""


class Forbidden(InboxError):
    """The token's agent may not do this: 403."""


_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (Unauthorized, 401, "unauthorized"), (Forbidden, 403, "forbidden"),
    (NotFound, 404, "not_found"), (actions.ReplyCollision, 409, "collision"),
    (Conflict, 409, "conflict"), (actions.TooLong, 422, "too_long"),
    (Invalid, 422, "invalid"), (Unavailable, 503, "unavailable"))


def error(exc: Exception) -> JSONResponse:
    """The JSON answer for a refusal: a stable code, a message a person can act on."""
    status, code = next(((s, c) for kind, s, c in _ERRORS if isinstance(exc, kind)),
                        (500, "internal"))
    body: JSON = {"code": code, "message": str(exc) if status < 500 else
                  "the server failed: its log says why"}
    if isinstance(exc, actions.ReplyCollision):
        body["meanwhile"] = [{k: v.isoformat() if isinstance(v, datetime) else v
                              for k, v in m.items()} for m in exc.meanwhile]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": body}, status, headers=headers)


class Api:
    """The endpoints, each run as the token's agent (`_as_agent`)."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def app(self) -> Starlette:
        call = self._as_agent
        return Starlette(routes=[
            Route("/openapi.json", self.openapi),
            _path("/conversations", QUEUE_QUERY, GET=call(self.conversations)),
            _path("/conversations/{cid:int}", GET=call(self.conversation),
                  PATCH=call(self.change, Action.WORK_QUEUE)),
            _path("/conversations/{cid:int}/replies",
                  POST=call(self.reply, Action.WORK_QUEUE)),
            _path("/conversations/{cid:int}/notes", POST=call(self.note, Action.WORK_QUEUE)),
            _path("/events", ("after",), GET=call(self.events)),
            _path("/inbound", POST=call(self.inbound, Action.WORK_QUEUE)),
            _path("/contacts/{contact:int}", GET=call(self.contact)),
            _path("/contacts/{contact:int}/merge",
                  POST=call(self.contact_merge, Action.MERGE_CONTACTS)),
            _path("/agents", GET=call(self.agents),
                  POST=call(self.agent_add, Action.MANAGE_AGENTS)),
            _path("/agents/{who}", PATCH=call(self.agent_change, Action.MANAGE_AGENTS),
                  DELETE=call(self.agent_disable, Action.MANAGE_AGENTS)),
            _path("/teams", GET=call(self.teams), POST=call(self.team_add, Action.MANAGE_TEAMS)),
            _path("/teams/{team}", PATCH=call(self.team_change, Action.MANAGE_TEAMS)),
            _path("/canned-answers", ("team",), GET=call(self.canned),
                  POST=call(self.canned_add, Action.MANAGE_CANNED_ANSWERS)),
            _path("/canned-answers/{aid:int}", GET=call(self.canned_one),
                  PATCH=call(self.canned_change, Action.MANAGE_CANNED_ANSWERS),
                  DELETE=call(self.canned_remove, Action.MANAGE_CANNED_ANSWERS)),
            _path("/outbox", ("state", "limit"), GET=call(self.outbox, Action.RETRY_DEAD_SENDS)),
            _path("/outbox/{oid:int}/retry", POST=call(self.retry, Action.RETRY_DEAD_SENDS)),
            _path("/webhooks", GET=call(self.webhooks, Action.MANAGE_WEBHOOKS),
                  POST=call(self.webhook_add, Action.MANAGE_WEBHOOKS)),
            _path("/webhooks/{hid:int}", GET=call(self.webhook, Action.MANAGE_WEBHOOKS),
                  PATCH=call(self.webhook_change, Action.MANAGE_WEBHOOKS),
                  DELETE=call(self.webhook_remove, Action.MANAGE_WEBHOOKS)),
            _path("/webhooks/{hid:int}/deliveries", ("limit",),
                  GET=call(self.webhook_deliveries, Action.MANAGE_WEBHOOKS)),
            *(_path(f"/export/{kind}", exports.QUERY, GET=call(self._export(kind), Action.EXPORT))
              for kind in KINDS),
        ], exception_handlers={HTTPException: _http_error})

    # ---------------------------------------------------------------- the document

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI document (inbox.web.openapi): no token needed to read it."""
        return JSONResponse(openapi.document(request.scope.get("root_path", "") or "/api/v1"))

    async def docs(self, request: Request) -> Response:
        """/api/docs: the document as a page to read, drawn on the server (no script)."""
        doc = openapi.document()
        rows = []
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if method == "parameters":
                    continue
                codes = ", ".join(op.get("responses", {}))
                rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>"
                            f"/api/v1{html.escape(path)}</code></td><td>"
                            f"{html.escape(op.get('summary', ''))}</td><td>{codes}</td></tr>")
        page = ("<!doctype html><html lang=en><meta charset=utf-8><title>inbox API</title>"
                "<h1>inbox API</h1><p>Send <code>Authorization: Bearer &lt;token&gt;</code> "
                "(<code>inbox token create</code>). The whole document: <a href="
                "\"/api/v1/openapi.json\">/api/v1/openapi.json</a>; the guide: docs/api.md."
                "</p><table><thead><tr><th>method</th><th>path</th><th>what</th>"
                "<th>answers</th></tr></thead><tbody>" + "".join(rows) +
                "</tbody></table></html>")
        return HTMLResponse(page)

    # ---------------------------------------------------------------- the frame

    def _as_agent(self, endpoint: Callable[[Request, Agent], Awaitable[Response]],
                  action: Action | None = None) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                if any(isinstance(v, int) and v > ID_MAX
                       for v in request.path_params.values()):
                    raise NotFound("no such id: ids fit in 31 bits")
                agent = await self._agent(request)
                if action is not None and not can(agent, action):
                    raise Forbidden(f"{agent.name}'s role ({agent.role}) may not do this")
                return await endpoint(request, agent)
            except InboxError as exc:
                return error(exc)
        return run

    async def _agent(self, request: Request) -> Agent:
        """The agent the request's bearer token acts as; its use noted when due."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send Authorization: Bearer <token> (inbox token create)")
        now = self.ctx.clock()
        found = await self._db(lambda s: apitokens.token_agent(s, token.strip(), now))
        if found is None:
            raise Unauthorized("this token does not work: unknown, revoked, expired, "
                               "or its agent is disabled")
        agent, token_id, due = found
        if due:
            await self._db(lambda s: apitokens.note_use(s, token_id, now), write=True)
        request.state.api_token = token.strip()
        return agent

    async def _db(self, work: Callable[[Session], T], write: bool = False) -> T:
        def run() -> T:
            if not write:
                with Session(reader(self.ctx.engine), expire_on_commit=False) as s:
                    return work(s)
            with Session(self.ctx.engine, expire_on_commit=False) as s, s.begin():
                return work(s)
        return await run_in_threadpool(run)

    async def _visible(self, agent: Agent, cid: int) -> Scope:
        """The agent's scope, after making sure it covers conversation `cid` (else 404,
        as for one that does not exist: nothing tells an agent what another team has)."""
        def read(s: Session) -> tuple[Scope, tuple[str | None, str | None] | None]:
            found = s.execute(sa.select(col(Conversation.team), col(Conversation.assignee))
                              .where(col(Conversation.id) == cid)).first()
            return scope_of(s, agent), (found[0], found[1]) if found else None
        scope, found = await self._db(read)
        if found is None or not scope.sees(*found):
            raise NotFound(f"no conversation {cid}")
        return scope

    # ---------------------------------------------------------------- reading

    async def conversations(self, request: Request, agent: Agent) -> Response:
        """The queue, most urgent first, a page at a time (`next_cursor`)."""
        q = request.query_params
        now, after = self.ctx.clock(), None
        if q.get("cursor"):
            now, after = _cursor_read(q["cursor"])
        f = _queue_filter(q, agent.name)

        def read(s: Session) -> tuple[list[JSON], views.Rank | None]:
            wanted = replace(f, scope=scope_of(s, agent), after=after, paged=True)
            return views.queue_page(s, wanted, now, self.ctx.secret)
        rows, last = await self._db(read)
        return JSONResponse({"conversations": rows,
                             "next_cursor": _cursor(now, last) if last else None})

    async def conversation(self, request: Request, agent: Agent) -> Response:
        cid = request.path_params["cid"]
        await self._visible(agent, cid)
        found = await self._db(lambda s: views.conversation(s, cid, self.ctx.clock(),
                                                            self.ctx.secret))
        if found is None:
            raise NotFound(f"no conversation {cid}")
        return JSONResponse(found)

    # ---------------------------------------------------------------- acting

    async def reply(self, request: Request, agent: Agent) -> Response:
        """Queue a reply on the customer's channel: 201 with the queued message."""
        cid = request.path_params["cid"]
        await self._visible(agent, cid)
        body = await _body(request)
        text, cc = _text(body), body.get("cc") or []
        seen = body.get("seen_up_to")
        if not isinstance(cc, list) or not all(isinstance(a, str) for a in cc):
            raise Invalid("cc: a list of addresses")
        if seen is not None and (not isinstance(seen, int) or isinstance(seen, bool)):
            raise Invalid("seen_up_to: the id of the newest message the caller read")

        def work(s: Session) -> JSON:
            msg = actions.reply(s, cid, text, author=agent.name, now=self.ctx.clock(),
                                secret=self.ctx.secret, domain=self.ctx.domain,
                                seen_up_to=seen, cc=cc, limits=self.ctx.text_limits)
            s.flush()
            return {"conversation_id": cid, "message_id": msg.id,
                    "external_id": msg.external_id, "delivery": msg.delivery,
                    "cc": msg.recipients[1:]}
        return await self._once(request, agent, body, work)

    async def note(self, request: Request, agent: Agent) -> Response:
        """An internal note (never sent); colleagues it @mentions are told."""
        cid = request.path_params["cid"]
        await self._visible(agent, cid)
        body = await _body(request)
        text = _text(body)

        def work(s: Session) -> JSON:
            msg = mentions.note(s, cid, text, author=agent.name, now=self.ctx.clock(),
                                tell=self.ctx.mentions)
            s.flush()
            return {"conversation_id": cid, "message_id": msg.id, "kind": msg.kind}
        return await self._once(request, agent, body, work)

    async def change(self, request: Request, agent: Agent) -> Response:
        """PATCH: status (with `snoozed_until`), assignee and team, language; the
        conversation as it is after."""
        cid = request.path_params["cid"]
        await self._visible(agent, cid)
        body = await _body(request)
        unknown = set(body) - {"status", "snoozed_until", "assignee", "team", "language"}
        if unknown:
            raise Invalid(f"cannot change {', '.join(sorted(unknown))} here")
        if ("assignee" in body or "team" in body) and not _may_assign(agent, body):
            raise Forbidden("an agent may only take a conversation (assignee: themself)")

        def work(s: Session) -> None:
            now = self.ctx.clock()
            if "assignee" in body or "team" in body:
                actions.assign(s, cid, assignee=_name(body, "assignee"),
                               team=_name(body, "team"), now=now, by=agent.name,
                               directory=self.ctx.directory)
            if "status" in body:
                actions.set_status(s, cid, _status(body["status"]), now=now, by=agent.name,
                                   policies=self.ctx.policies,
                                   until=_when(body.get("snoozed_until")), csat=self.ctx.csat)
            if "language" in body:
                actions.set_language(s, cid, str(body["language"]),
                                     served=self.ctx.languages, for_contact=False, now=now,
                                     by=agent.name)
        await self._db(work, write=True)
        return await self.conversation(request, agent)

    # ---------------------------------------------------------------- who

    async def contact(self, request: Request, agent: Agent) -> Response:
        """The contact, its identities on every channel, and its conversations the agent
        may see; 404 when it sees none of them (nothing tells who writes to others)."""
        found = await self._db(lambda s: views.contact(s, request.path_params["contact"],
                                                       scope_of(s, agent)))
        if found is None:
            raise NotFound(f"no contact {request.path_params['contact']}")
        return JSONResponse(found)

    async def contact_merge(self, request: Request, agent: Agent) -> Response:
        """`{"from": other}` (supervisors): the other contact becomes part of this one
        (inbox.desk.contacts); the contact as after, with what moved as `merged`."""
        keep, body = request.path_params["contact"], await _body(request)
        other = body.get("from")
        if not isinstance(other, int) or isinstance(other, bool):
            raise Invalid("from: the id of the contact to merge into this one")

        def work(s: Session) -> JSON:
            merged = contacts.merge(s, keep, other, by=agent.name, now=self.ctx.clock())
            return {**(views.contact(s, keep, scope_of(s, agent)) or {}), "merged": merged}
        return JSONResponse(await self._db(work, write=True))

    async def agents(self, request: Request, agent: Agent) -> Response:
        """Who answers (as `inbox agent list --json`): names to assign and mention."""
        return JSONResponse({"agents": await self._db(accounts.agent_rows)})

    async def teams(self, request: Request, agent: Agent) -> Response:
        return JSONResponse({"teams": await self._db(accounts.team_rows)})

    async def agent_add(self, request: Request, agent: Agent) -> Response:
        """`{"email", "name", "role"?, "teams"?}` (admins): 201. No password travels
        through the API: the new agent signs in once `inbox agent passwd` set one."""
        body = await _body(request)
        role = _role(body.get("role", Role.AGENT))
        teams = _names(body, "teams")

        def work(s: Session) -> JSON:
            made = accounts.add_agent(s, email=_field(body, "email"),
                                      name=_field(body, "name"), role=role, password=None,
                                      now=self.ctx.clock(), teams=teams)
            return _agent_row(s, made.name)
        return JSONResponse(await self._db(work, write=True), 201)

    async def agent_change(self, request: Request, agent: Agent) -> Response:
        """`{"enabled"?, "language"?}` (admins): disabling ends the agent's sessions
        and stops its tokens."""
        body, who = await _body(request), request.path_params["who"]
        unknown = set(body) - {"enabled", "language"}
        if unknown:
            raise Invalid(f"cannot change {', '.join(sorted(unknown))} here")
        if "enabled" in body and not isinstance(body["enabled"], bool):
            raise Invalid("enabled: true or false")
        if body.get("language") is not None and not isinstance(body["language"], str):
            raise Invalid("language: a served code, or null for the default")

        def work(s: Session) -> JSON:
            found = accounts.find_agent(s, who)
            if "enabled" in body:
                accounts.set_enabled(s, found, body["enabled"], self.ctx.clock())
            if "language" in body:
                accounts.set_language(s, found, body["language"], self.ctx.languages)
            s.flush()
            return _agent_row(s, found.name)
        return JSONResponse(await self._db(work, write=True))

    async def agent_disable(self, request: Request, agent: Agent) -> Response:
        """An agent is never deleted (their name stays on what they wrote): disabled."""
        who = request.path_params["who"]

        def work(s: Session) -> None:
            accounts.set_enabled(s, accounts.find_agent(s, who), False, self.ctx.clock())
        await self._db(work, write=True)
        return Response(status_code=204)

    async def team_add(self, request: Request, agent: Agent) -> Response:
        """`{"name", "agents"?}` (admins): 201, its agents in that round-robin order."""
        body = await _body(request)
        members = _names(body, "agents")

        def work(s: Session) -> JSON:
            team = accounts.add_team(s, _field(body, "name"), self.ctx.clock())
            for who in members:
                accounts.add_member(s, team, accounts.find_agent(s, who))
            return _team_row(s, team.name)
        return JSONResponse(await self._db(work, write=True), 201)

    async def team_change(self, request: Request, agent: Agent) -> Response:
        """`{"add"?: [agents], "remove"?: [agents]}` (admins): added ones go last in the
        round-robin order."""
        body, name = await _body(request), request.path_params["team"]
        adding, removing = _names(body, "add"), _names(body, "remove")

        def work(s: Session) -> JSON:
            team = accounts.find_team(s, name)
            for who in adding:
                accounts.add_member(s, team, accounts.find_agent(s, who))
            for who in removing:
                accounts.remove_member(s, team, accounts.find_agent(s, who))
            return _team_row(s, team.name)
        return JSONResponse(await self._db(work, write=True))

    # ---------------------------------------------------------------- canned answers

    async def canned(self, request: Request, agent: Agent) -> Response:
        """Every version (`?team=`: that team's and every team's), as `inbox canned list
        --json`."""
        team = request.query_params.get("team") or None
        rows = await self._db(lambda s: [canned.as_json(a) for a in canned.listing(s, team)])
        return JSONResponse({"canned_answers": rows})

    async def canned_one(self, request: Request, agent: Agent) -> Response:
        aid = request.path_params["aid"]
        return JSONResponse(await self._db(lambda s: canned.as_json(canned.get(s, aid))))

    async def canned_add(self, request: Request, agent: Agent) -> Response:
        """`{"name", "team"?, "language"?, "body"}`: 201; a body that cannot be filled is
        refused with its line, as in the desk."""
        body = await _body(request)

        def work(s: Session) -> JSON:
            made = canned.add(s, _version(body), _field(body, "body"), by=agent.name,
                              now=self.ctx.clock(), directory=self.ctx.directory)
            s.flush()
            return canned.as_json(made)
        return JSONResponse(await self._db(work, write=True), 201)

    async def canned_change(self, request: Request, agent: Agent) -> Response:
        aid, body = request.path_params["aid"], await _body(request)

        def work(s: Session) -> JSON:
            was = canned.as_json(canned.get(s, aid))
            given = {**was, **{k: v for k, v in body.items() if k in was}}
            changed = canned.update(s, aid, _version(given), _field(given, "body"),
                                    by=agent.name, now=self.ctx.clock(),
                                    directory=self.ctx.directory)
            return canned.as_json(changed)
        return JSONResponse(await self._db(work, write=True))

    async def canned_remove(self, request: Request, agent: Agent) -> Response:
        aid = request.path_params["aid"]
        await self._db(lambda s: canned.remove(s, canned.get(s, aid)), write=True)
        return Response(status_code=204)

    # ---------------------------------------------------------------- the event stream

    async def events(self, request: Request, agent: Agent) -> Response:
        """Server-sent events: each new event and message of the conversations the agent
        may see, as it commits. Each carries its position as the SSE `id`; a client
        that reconnects with `Last-Event-ID` (or `?after=`) misses nothing."""
        given = request.headers.get("last-event-id") or request.query_params.get("after")
        at = changes.Position.parse(given) if given else None
        if given and at is None:
            raise Invalid("Last-Event-ID: give back an id of this stream as it came")
        url = self.ctx.engine.url.render_as_string(hide_password=False)

        token: str = request.state.api_token
        reader_engine = reader(self.ctx.engine)

        def look(reader: Reader, where: changes.Position,
                 now: float) -> tuple[list[changes.Row], Scope] | None:
            """The next rows, and what the agent may see of them now; None once the
            token stopped working (revoked, expired, the agent disabled)."""
            with Session(reader_engine) as s:
                if apitokens.token_agent(s, token, self.ctx.clock()) is None:
                    return None
                scope = scope_of(s, agent)
            return changes.new_rows(reader, where, now), scope
        return StreamingResponse(_stream(url, at, look), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    # ---------------------------------------------------------------- inbound

    async def inbound(self, request: Request, agent: Agent) -> Response:
        """A customer's message from another system (docs/api.md "Inbound"): stored,
        routed, acknowledged by e-mail unless `acknowledge` is false, SLA stamped, as
        the pipeline does for every channel. 201 when taken in; 200 with the same
        conversation when this `id` came before (nothing is done twice)."""
        accept = self.ctx.accept
        if accept is None:
            raise Unavailable("messages are taken in by `inbox run`, which serves this API")
        item = _inbound(await _body(request), self.ctx.api_systems, self.ctx.clock())
        done = dict(await run_in_threadpool(accept, item))
        if done["outcome"] != "duplicate":
            return JSONResponse(done, 201)

        def earlier(s: Session) -> tuple[int, int] | None:
            found = s.scalars(sa.select(Message).where(
                col(Message.channel) == "api", col(Message.account) == item.account,
                col(Message.external_id) == item.external_id)).first()
            return (found.conversation_id or 0, found.id or 0) if found else None
        found = await self._db(earlier)
        if found is not None:
            done["conversation_id"], done["message_id"] = found
        return JSONResponse(done, 200)

    # ---------------------------------------------------------------- webhooks

    async def webhooks(self, request: Request, agent: Agent) -> Response:
        return JSONResponse({"webhooks": await self._db(webhooks.listing)})

    async def webhook_add(self, request: Request, agent: Agent) -> Response:
        """`{"name", "url", "events"}`: 201 with the signing secret, shown this once."""
        body = await _body(request)

        def work(s: Session) -> JSON:
            hook = webhooks.register(s, _field(body, "name"), _field(body, "url"),
                                     _names(body, "events"), by=agent.name,
                                     now=self.ctx.clock())
            return webhooks.as_json(hook, secret=True)
        return JSONResponse(await self._db(work, write=True), 201)

    async def webhook(self, request: Request, agent: Agent) -> Response:
        hid = request.path_params["hid"]
        return JSONResponse(await self._db(lambda s: webhooks.as_json(webhooks.get(s, hid))))

    async def webhook_change(self, request: Request, agent: Agent) -> Response:
        """`{"url"?, "events"?, "enabled"?, "rotate_secret"?}`; a new secret is shown once."""
        hid, body = request.path_params["hid"], await _body(request)
        unknown = set(body) - {"url", "events", "enabled", "rotate_secret"}
        if unknown:
            raise Invalid(f"cannot change {', '.join(sorted(unknown))} here")
        for flag in ("enabled", "rotate_secret"):
            if flag in body and not isinstance(body[flag], bool):
                raise Invalid(f"{flag}: true or false")

        def work(s: Session) -> JSON:
            hook = webhooks.change(
                s, hid, url=_field(body, "url") if "url" in body else None,
                events=_names(body, "events") if "events" in body else None,
                enabled=body.get("enabled"), rotate_secret=bool(body.get("rotate_secret")),
                now=self.ctx.clock())
            return webhooks.as_json(hook, secret=bool(body.get("rotate_secret")))
        return JSONResponse(await self._db(work, write=True))

    async def webhook_remove(self, request: Request, agent: Agent) -> Response:
        hid = request.path_params["hid"]
        await self._db(lambda s: webhooks.remove(s, hid, now=self.ctx.clock()), write=True)
        return Response(status_code=204)

    async def webhook_deliveries(self, request: Request, agent: Agent) -> Response:
        """The latest deliveries, newest first, with the receiver's last answers."""
        hid, limit = request.path_params["hid"], request.query_params.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            raise Invalid("limit: 1 to 1000")
        rows = await self._db(lambda s: webhooks.deliveries(s, hid, int(limit)))
        return JSONResponse({"deliveries": rows})

    # ---------------------------------------------------------------- exports

    def _export(self, kind: Kind) -> Callable[[Request, Agent], Awaitable[Response]]:
        """A period's conversations or messages as a CSV or JSON-lines download
        (supervisors): every team's, as a supervisor sees them all."""
        async def download(request: Request, agent: Agent) -> Response:
            return exports.download(self.ctx.engine, kind, request.query_params,
                                    self.ctx.clock())
        return download

    # ---------------------------------------------------------------- the outbox

    async def outbox(self, request: Request, agent: Agent) -> Response:
        """Sends by state (`state`, repeatable: pending, failed, sending, sent, dead or
        all; default all but sent), as `inbox outbox --json`. An admin's."""
        wanted = tuple(request.query_params.getlist("state")) or tuple(
            st for st in views.OUTBOX_STATES if st != "sent")
        states = views.OUTBOX_STATES if "all" in wanted else wanted
        unknown = set(states) - set(views.OUTBOX_STATES)
        if unknown:
            raise Invalid(f"state: {', '.join(views.OUTBOX_STATES)} or all")
        limit = request.query_params.get("limit", "200")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            raise Invalid("limit: 1 to 1000")
        rows = await self._db(lambda s: views.outbox(s, states, int(limit)))
        return JSONResponse({"sends": rows})

    async def retry(self, request: Request, agent: Agent) -> Response:
        """Send a dead send again (attempts from zero, due now); 409 if it is not dead."""
        oid = request.path_params["oid"]

        def work(s: Session) -> JSON:
            row = sends.retry(s, oid, by=agent.name, now=self.ctx.clock())
            s.flush()
            return views.outbox_row(row)
        return JSONResponse(await self._db(work, write=True))

    async def _once(self, request: Request, agent: Agent, body: JSON,
                    work: Callable[[Session], JSON]) -> Response:
        """Do `work` and answer 201, once per Idempotency-Key: the answer is stored in
        the same transaction as what `work` did, so a retry finds either both or
        neither."""
        key = request.headers.get("idempotency-key", "").strip()
        if len(key) > MAX_KEY:
            raise Invalid(f"Idempotency-Key: at most {MAX_KEY} characters")
        fingerprint = hashlib.sha256(json.dumps(
            [request.method, request.url.path, body], sort_keys=True).encode()).hexdigest()

        def run(s: Session) -> tuple[int, JSON, bool]:
            if key:
                earlier = _earlier(s, agent, key, fingerprint)
                if earlier is not None:
                    return earlier.status, earlier.body, True
            made = work(s)
            if key:
                s.add(ApiRequest(agent_id=agent.id or 0, key=key, fingerprint=fingerprint,
                                 status=201, body=made, created_at=self.ctx.clock()))
            return 201, made, False
        try:
            status, made, replayed = await self._db(run, write=True)
        except IntegrityError:  # the same key, at the same moment: the other one won
            if not key:
                raise
            status, made, replayed = await self._db(
                lambda s: _replayed(s, agent, key, fingerprint))
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return JSONResponse(made, status, headers=headers)


# -------------------------------------------------------------------- helpers

Handler = Callable[[Request], Awaitable[Response]]
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    """The router's own refusals (no such path: /conversations/abc; a method the path
    does not take) in the API's JSON, with their headers (a 405's Allow)."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "invalid")
    message = "no such path in this API (see /api/v1/openapi.json)" \
        if exc.status_code == 404 else str(exc.detail)
    return JSONResponse({"error": {"code": code, "message": message}}, exc.status_code,
                        headers=dict(exc.headers or {}))


QUEUE_QUERY = ("status", "team", "assignee", "channel", "tag", "language", "mine",
               "unassigned", "automated", "escalated", "limit", "cursor")


def _path(path: str, query: tuple[str, ...] = (), **by_method: Handler) -> Route:
    """One route per path, whatever its methods: a 405 then names them all (`Allow`).
    A query parameter the path does not take is refused (a typo such as `?stauts=`
    would otherwise quietly give the default)."""
    async def endpoint(request: Request) -> Response:
        unknown = sorted(set(request.query_params) - set(query))
        if unknown:
            return error(Invalid(f"{path} takes no {', '.join(unknown)}"
                                 + (f": only {', '.join(query)}" if query else "")))
        method = "GET" if request.method == "HEAD" else request.method
        return await by_method[method](request)
    return Route(path, endpoint, methods=list(by_method))

STREAM_POLL_SECONDS = 0.5
KEEP_ALIVE_SECONDS = 15.0
# A look: the rows after a position, and the scope to show them in; None ends the stream.
Look = Callable[[Reader, changes.Position, float], tuple[list[changes.Row], Scope] | None]


async def _stream(url: str, at: changes.Position | None, look: Look) -> AsyncIterator[str]:
    """The stream's lines: one thread and one connection of its own (sqlite3
    connections belong to their thread), a look every STREAM_POLL_SECONDS."""
    thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="api-events")
    loop = asyncio.get_running_loop()
    stack = contextlib.ExitStack()
    try:
        db = await loop.run_in_executor(thread, stack.enter_context, reading(url))
        if at is None:  # from now on
            at = await loop.run_in_executor(thread, changes.position_now, db)
        yield f"retry: 2000\nid: {at.text()}\n\n"
        quiet = 0.0
        while True:
            seen = await loop.run_in_executor(thread, look, db, at, time.monotonic())
            if seen is None:
                yield "event: revoked\ndata: the token no longer works\n\n"
                return
            rows, scope = seen
            said = [_sse(r, at) for r in rows if scope.sees(r.team, r.assignee)]
            for line in said:
                yield line
            quiet = 0.0 if said else quiet + STREAM_POLL_SECONDS
            if quiet >= KEEP_ALIVE_SECONDS:
                quiet = 0.0
                yield f": keep-alive\nid: {at.text()}\n\n"
            await asyncio.sleep(STREAM_POLL_SECONDS)
    finally:
        thread.submit(stack.close)
        thread.shutdown(wait=False)


def _sse(row: changes.Row, at: changes.Position) -> str:
    """One row as an SSE message. Its id is the stream's position after the whole look
    (rows of one look are given together), which is where a reconnect resumes."""
    if row.table == "message":
        data: JSON = {"type": "message.created", "conversation_id": row.conversation_id,
                      "message_id": row.id, "kind": row.kind, "direction": row.detail}
    else:
        data = {"type": row.kind, "conversation_id": row.conversation_id,
                "message_id": row.message_id, "detail": row.detail}
    data["at"] = row.at.isoformat() if row.at else None
    return f"id: {at.text()}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _earlier(s: Session, agent: Agent, key: str, fingerprint: str) -> ApiRequest | None:
    found = s.scalars(sa.select(ApiRequest).where(col(ApiRequest.agent_id) == agent.id,
                                                  col(ApiRequest.key) == key)).first()
    if found is not None and found.fingerprint != fingerprint:
        raise Invalid("this Idempotency-Key was used for another request: use a new key "
                      "for each new reply or note")
    return found


def _replayed(s: Session, agent: Agent, key: str, fingerprint: str) -> tuple[int, JSON, bool]:
    found = _earlier(s, agent, key, fingerprint)
    if found is None:
        raise Unavailable("the request could not be recorded: try again")
    return found.status, found.body, True


async def _body(request: Request) -> JSON:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise Invalid(f"the body is over {MAX_BODY} bytes")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise Invalid("the body is not JSON") from None
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    if not _storable(body):
        raise Invalid("the body holds a NUL character or an unpaired surrogate (\\ud800-"
                      "\\udfff), which no text can be stored with")
    return body


def _storable(value: object) -> bool:
    """Whether every text in `value` can be stored: JSON can spell a NUL or half of a
    surrogate pair, which PostgreSQL's text and UTF-8 cannot hold."""
    if isinstance(value, str):
        return "\x00" not in value and not _SURROGATE.search(value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


_SURROGATE = re.compile("[\ud800-\udfff]")


def _inbound(body: JSON, systems: frozenset[str], now: datetime) -> Inbound:
    """The posted message as the pipeline takes it, or Invalid naming the field."""
    source = _field(body, "source")
    if source not in systems:
        raise Invalid(f"source: no [channels.api.{source}] in inbox.toml (there are: "
                      f"{', '.join(sorted(systems)) or 'none'})")
    sender = body.get("from")
    if not isinstance(sender, dict):
        raise Invalid('from: {"email": ..., "name"?: ...}')
    email = sender.get("email")
    if not isinstance(email, str) or not _EMAIL.fullmatch(email.strip()):
        raise Invalid("from.email: the customer's e-mail address (answers go there)")
    given = {k: body.get(k) for k in ("id", "subject", "thread", "language", "name")}
    for key, most in (("id", 255), ("subject", 998), ("thread", 255), ("language", 16)):
        value = given[key]
        if (value is not None or key == "id") and not (
                isinstance(value, str) and 0 < len(value) <= most):
            raise Invalid(f"{key}: text of 1 to {most} characters")
    name = sender.get("name", "")
    attributes = body.get("attributes", {})
    if not isinstance(name, str) or not isinstance(attributes, dict) or not all(
            isinstance(v, str) for v in attributes.values()):
        raise Invalid("from.name: text; attributes: an object of texts")
    acknowledge = body.get("acknowledge", True)
    if not isinstance(acknowledge, bool):
        raise Invalid("acknowledge: true or false")
    return Inbound(channel="api", account=source, external_id=str(given["id"]),
                   sender=Address(email.strip().lower(), name), received_at=now,
                   text=_text(body), subject=given["subject"], thread_key=given["thread"],
                   language=given["language"], attributes=attributes,
                   acknowledge=acknowledge)


_EMAIL = re.compile(r"[^@\s<>\"]{1,64}@[^@\s<>\"]{1,253}\.[^@\s<>\"]{2,63}")


def _field(body: JSON, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise Invalid(f"{name}: text")
    return value


def _names(body: JSON, field: str) -> list[str]:
    value = body.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(f"{field}: a list of names")
    return value


def _role(value: object) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        raise Invalid(f"role: one of {', '.join(r.value for r in Role)}") from None


def _agent_row(s: Session, name: str) -> JSON:
    return next(r for r in accounts.agent_rows(s) if r["name"] == name)


def _team_row(s: Session, name: str) -> JSON:
    return next(r for r in accounts.team_rows(s) if r["name"] == name)


def _version(body: JSON) -> canned.Version:
    for name in ("team", "language"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise Invalid(f"{name}: text, or null")
    return canned.version(_field(body, "name"), body.get("team"), body.get("language"))


def _text(body: JSON) -> str:
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise Invalid("text: the words to send, not empty")
    return text


def _name(body: JSON, field: str) -> str | None:
    """A name to set ("" or null takes it away), or None when not given."""
    if field not in body:
        return None
    value = body[field]
    if value is not None and not isinstance(value, str):
        raise Invalid(f"{field}: a name, or null")
    return value or ""


def _may_assign(agent: Agent, body: JSON) -> bool:
    return can(agent, Action.REASSIGN) or (
        body.get("assignee") == agent.name and "team" not in body)


def _status(value: object) -> Status:
    try:
        return Status(str(value))
    except ValueError:
        raise Invalid(f"status: one of {', '.join(s.value for s in Status)}") from None


def _when(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise Invalid("snoozed_until: an ISO 8601 time with its offset") from None
    if at.tzinfo is None:
        raise Invalid("snoozed_until: give the offset (Z, +07:00...)")
    return at


def _queue_filter(q: Any, me: str) -> views.QueueFilter:
    statuses = tuple(q.getlist("status")) or (Status.OPEN.value,)
    if "all" in statuses:
        statuses = tuple(s.value for s in Status)
    for given in statuses:
        _status(given)
    limit = q.get("limit", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_PAGE:
        raise Invalid(f"limit: 1 to {MAX_PAGE}")
    flag = {k: _flag(q, k) for k in ("mine", "unassigned", "automated", "escalated")}
    return views.QueueFilter(
        statuses=statuses, team=q.get("team") or None,
        assignee=me if flag["mine"] else (q.get("assignee") or None),
        channel=q.get("channel") or None, tag=q.get("tag") or None,
        language=q.get("language") or None, limit=int(limit), automated=flag["automated"],
        unassigned=flag["unassigned"], escalated=flag["escalated"])


def _flag(q: Any, name: str) -> bool:
    value = q.get(name)
    if value not in (None, "0", "1", "true", "false"):
        raise Invalid(f"{name}: 1 or true, 0 or false")
    return value in ("1", "true")


def _cursor(now: datetime, last: views.Rank) -> str:
    """Where the next page starts, opaque to the caller: the first page's time (the
    ranks compare only at one `now`) and the last rank given."""
    data = json.dumps([now.isoformat(), *last]).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _cursor_read(text: str) -> tuple[datetime, views.Rank]:
    try:
        at, group, value, cid = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return datetime.fromisoformat(at), (int(group), float(value), int(cid))
    except (ValueError, TypeError, binascii.Error):
        raise Invalid("cursor: give back a next_cursor as it came") from None
