"""Signing in to the desk, and the guard around every page (docs/desk.md, docs/agents.md).

A session is a row the server can revoke (inbox.desk.accounts); the browser holds only
its random token, in the `inbox_session` cookie: HttpOnly (no script reads it),
SameSite=Lax (no other site's form posts with it), Secure behind HTTPS, and a new one at
every sign-in (a token planted before it signs nobody in). Every change (any method but
GET and HEAD) must also carry the session's CSRF token, as the `X-CSRF-Token` header
htmx sends or a `csrf` form field, and come from our own origin when the browser says
where it came from. Sign-in itself has no session yet: the origin check guards it.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inbox.desk import accounts
from inbox.store.db import reader
from inbox.store.models import Agent

if TYPE_CHECKING:
    from inbox.web.context import Pages, WebContext

SESSION_COOKIE = "inbox_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reachable without a session: the sign-in page and the files it needs.
OPEN_PATHS = ("/login", "/static/")
MAX_FORM_BYTES = 1 << 20  # a reply is text; anything bigger is not a desk form


@dataclass(frozen=True)
class Signed:
    """Who a request comes from: the agent, their session's token and CSRF token."""

    agent: Agent
    token: str
    csrf: str


class SignedIn:
    """The desk's guard: a request without a live session goes to /login (a page) or
    is refused (anything else); a change without its CSRF token, or from another
    origin, is refused. Sets `request.state.signed` (a `Signed`) for the pages."""

    def __init__(self, app: ASGIApp, ctx: WebContext, routes: Sequence[BaseRoute]) -> None:
        self.app, self.ctx, self.routes = app, ctx, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"].startswith(OPEN_PATHS)
                or not any(r.matches(scope)[0] != Match.NONE for r in self.routes)):
            # Open pages, and addresses that are nothing of ours: a 404 says so to
            # anyone (a webhook URL with a typo reads "not found", not "sign in").
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        token = request.cookies.get(SESSION_COOKIE, "")
        signed = await run_in_threadpool(self._signed, token) if token else None
        if signed is None:
            await _not_signed_in(request)(scope, receive, send)
            return
        if request.method not in SAFE_METHODS:
            body = await _body(receive)
            if body is None:
                await PlainTextResponse("too large", 413)(scope, receive, send)
                return
            if not (same_origin(request) and _carries(request, body, signed.csrf)):
                await PlainTextResponse("refused: this change did not come from the desk's "
                                        "own page (reload it)", 403)(scope, receive, send)
                return
            receive = _replay(body, receive)
        scope.setdefault("state", {})["signed"] = signed
        await self.app(scope, receive, send)

    def _signed(self, token: str) -> Signed | None:
        ctx = self.ctx
        now = ctx.clock()
        # Read without the write lock (every request passes here); write only when the
        # session's activity is due to be noted, about once a minute.
        with Session(reader(ctx.engine), expire_on_commit=False) as s:
            found = accounts.signed_in(s, token, now, web=ctx.web)
        if found is None:
            return None
        agent, due = found
        if due:
            with Session(ctx.engine, expire_on_commit=False) as s, s.begin():
                agent = accounts.session_agent(s, token, now, web=ctx.web) or agent
        return Signed(agent, token, accounts.csrf_token(ctx.secret, token))


def signed(request: Request) -> Signed:
    """The signed-in agent of a request the guard let through."""
    found: Signed = request.state.signed
    return found


class SignIn:
    """GET and POST /login, POST /logout."""

    def __init__(self, ctx: WebContext, pages: Pages,
                 hasher: accounts.Hasher | None = None) -> None:
        self.ctx, self.pages, self.hasher = ctx, pages, hasher

    async def login(self, request: Request) -> Response:
        target = safe_next(request.query_params.get("next", "/"))
        if request.method != "POST":
            return self.pages.render(request, "login.html", next=target)
        if not same_origin(request):
            return PlainTextResponse("refused: sign in from the desk's own page", 403)
        form = await request.form(max_files=0, max_fields=10)
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        try:
            token = await run_in_threadpool(self._sign_in, email, password, request)
        except accounts.LockedOut as exc:
            return self._refused(request, 429, f"Too many failed sign-ins. Try again "
                                 f"after {exc.until:%H:%M} UTC.", email, target)
        except accounts.SignInFailed as exc:
            return self._refused(request, 401, f"{exc}".capitalize() + ".", email, target)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, token, max_age=int(self.ctx.web.session_days
                                                                * 86400),
                            path="/", secure=self._secure(request), httponly=True,
                            samesite="lax")
        return response

    def _sign_in(self, email: str, password: str, request: Request) -> str:
        ctx, now = self.ctx, self.ctx.clock()
        address = request.client.host if request.client else ""
        with Session(ctx.engine, expire_on_commit=False) as s:
            agent = accounts.authenticate(s, email, password, address, now, web=ctx.web,
                                          hasher=self.hasher)
            with s.begin():
                token, _ = accounts.open_session(
                    s, agent, address, request.headers.get("user-agent", ""), now,
                    secret=ctx.secret, web=ctx.web)
        return token

    def _refused(self, request: Request, status: int, error: str, email: str,
                 target: str) -> Response:
        return self.pages.render(request, "login.html", status=status, error=error,
                                 email=email, next=target)

    def _secure(self, request: Request) -> bool:
        wanted = self.ctx.web.secure_cookies
        return request.url.scheme == "https" if wanted == "auto" else bool(wanted)

    async def logout(self, request: Request) -> Response:
        token = signed(request).token
        await run_in_threadpool(self._sign_out, token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def _sign_out(self, token: str) -> None:
        with Session(self.ctx.engine) as s, s.begin():
            accounts.sign_out(s, token, self.ctx.clock())


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another site (Origin, else
    Referer); true when it says nothing (not a browser, or an old one: the CSRF token
    and SameSite cookie still stand)."""
    said = request.headers.get("origin") or request.headers.get("referer")
    if not said or said == "null":
        return not said
    source = urlsplit(said)
    return (source.scheme, source.netloc) == (request.url.scheme, request.url.netloc)


def safe_next(target: str) -> str:
    """Where to go after signing in: a path of ours, never another site."""
    if not target.startswith("/") or target.startswith(("//", "/\\")) or "\n" in target:
        return "/"
    return target


def _not_signed_in(request: Request) -> Response:
    if request.method in ("GET", "HEAD") and "hx-request" not in request.headers:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
    response = PlainTextResponse("sign in first", 401)
    response.headers["HX-Redirect"] = "/login"  # htmx: the whole page goes to sign-in
    return response


def _carries(request: Request, body: bytes, csrf: str) -> bool:
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        given = next(iter(parse_qs(body.decode("latin-1")).get("csrf", [])), None)
    return given is not None and hmac.compare_digest(csrf, given)


async def _body(receive: Receive) -> bytes | None:
    """The whole body, or None past MAX_FORM_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    """A `receive` that hands the app the body the guard already read, then listens to
    the client again (for a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay

