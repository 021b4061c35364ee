"""`create_app`: the desk as one Starlette app, with the channels' webhooks mounted in it.

Two routers, one inside the other. The outer one answers `/healthz` (no sign-in, for
systemd and load balancers) and each webhook path (a channel's own endpoint, which
checks its own secret), and hands everything else to the desk. The desk is the inner
app, so what guards pages (sign-in, CSRF, coming next) wraps the desk alone and never
sees a post from Telegram. The security headers wrap both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from channels.base import RawParser
from inbox.core.config import WebSettings
from inbox.core.directory import Directory, ListedDirectory
from inbox.sla.clock import Policies
from inbox.store.blobs import BlobStore
from inbox.web.assets import Assets
from inbox.web.auth import SignedIn, SignIn, signed
from inbox.web.events import ChangeFeed
from inbox.web.mailview import MailView
from inbox.web.pages import Desk
from inbox.web.presence import Collab
from inbox.web.security import SecurityHeaders

TEMPLATES = Path(__file__).parent / "templates"


def _utcnow() -> datetime:
    return datetime.now(UTC)
# Languages written right to left: the page's `dir` follows its language.
RTL = frozenset({"ar", "fa", "he", "ur", "ps", "ckb", "sd", "ug", "yi", "dv"})


@dataclass(frozen=True)
class WebContext:
    """What the runtime gives the desk (inbox.runtime.app builds it)."""

    name: str  # the deployment's name, shown on every page
    engine: Engine
    secret: str  # the deployment's: CSRF tokens are keyed by it
    web: WebSettings = field(default_factory=WebSettings)
    clock: Callable[[], datetime] = _utcnow
    language: str = "en"  # of the desk's own words
    # The queue and conversations (inbox.web.pages, inbox.web.events):
    domain: str = "localhost"  # of our Message-IDs, for replies
    zone: str = "UTC"  # the team's time zone ([business_hours]): times on pages
    policies: Policies = field(default_factory=Policies)  # snoozing pauses the clock
    directory: Directory = field(default_factory=lambda: ListedDirectory([], []))
    blobs: BlobStore | None = None  # attachments (None: none can be downloaded)
    parsers: Mapping[str, RawParser] = field(default_factory=dict)  # by channel
    channels: tuple[str, ...] = ()  # configured, for the queue's filter
    feed: ChangeFeed | None = None  # None: one of the desk's own, on `engine`


def text_direction(language: str) -> str:
    return "rtl" if language.split("-", maxsplit=1)[0].lower() in RTL else "ltr"


class Pages:
    """The desk's pages; each renders a template with the context every page shares."""

    def __init__(self, ctx: WebContext, assets: Assets) -> None:
        self.ctx = ctx
        self.templates = Jinja2Templates(directory=TEMPLATES)
        self.templates.env.globals["static"] = assets.url

    def render(self, request: Request, name: str, status: int = 200,
               **values: object) -> Response:
        shared: dict[str, object] = {"name": self.ctx.name, "lang": self.ctx.language,
                                     "dir": text_direction(self.ctx.language)}
        if "signed" in request.scope.get("state", {}):
            who = signed(request)
            shared |= {"agent": who.agent, "csrf": who.csrf}
        return self.templates.TemplateResponse(request, name, {**shared, **values},
                                               status_code=status)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def desk_routes(ctx: WebContext, assets: Assets, pages: Pages) -> list[BaseRoute]:
    sign_in = SignIn(ctx, pages)
    desk = Desk(ctx, pages)
    return [*desk.routes(), *MailView(ctx).routes(desk.seen),
            *Collab(ctx, pages).routes(desk.seen),
            Route("/login", sign_in.login, methods=["GET", "POST"]),
            Route("/logout", sign_in.logout, methods=["POST"]),
            Route("/static/{path:path}", assets.serve)]


def create_app(ctx: WebContext, webhooks: Mapping[str, ASGIApp] | None = None) -> Starlette:
    """The desk, with each webhook endpoint at its path; ValueError for a webhook path
    the desk itself uses."""
    assets = Assets()
    routes = desk_routes(ctx, assets, Pages(ctx, assets))
    desk = Starlette(routes=routes, middleware=[Middleware(SignedIn, ctx=ctx, routes=routes)])
    outer: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET", "HEAD"])]
    for path, endpoint in (webhooks or {}).items():
        if _claimed(path, [*outer, *desk.routes]):
            raise ValueError(f"the webhook path {path} is the desk's own; give the webhook "
                             "URL another path, e.g. /telegram/<bot>")
        outer.append(Route(path, _Asgi(endpoint)))
    return Starlette(routes=[*outer, Mount("", app=desk)],
                     middleware=[Middleware(SecurityHeaders)])


class _Asgi:
    """An ASGI app as a route's endpoint, whatever its kind: Starlette would take a plain
    function for a request handler, and give it GET only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _claimed(path: str, routes: list[BaseRoute]) -> bool:
    scope = {"type": "http", "path": path, "root_path": "", "method": "POST"}
    return any(route.matches(scope)[0] != Match.NONE for route in routes)
