"""`create_app`: the desk as one Starlette app, with the channels' webhooks mounted in it.

Two routers, one inside the other. The outer one answers `/healthz` (no sign-in, for
systemd and load balancers) and each webhook path (a channel's own endpoint, which
checks its own secret), and hands everything else to the desk. The desk is the inner
app, so what guards pages (sign-in, CSRF, coming next) wraps the desk alone and never
sees a post from Telegram. The security headers wrap both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from inbox.web.api import Api
from inbox.web.assets import Assets
from inbox.web.auth import SignedIn, SignIn
from inbox.web.canned import Canned
from inbox.web.context import Pages, WebContext
from inbox.web.csat import SurveyPage
from inbox.web.mailview import MailView
from inbox.web.pages import Desk
from inbox.web.presence import Collab
from inbox.web.reports import ReportPages
from inbox.web.security import SecurityHeaders
from inbox.web.sends import Sends

API = "/api/v1"


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def desk_routes(ctx: WebContext, assets: Assets, pages: Pages) -> list[BaseRoute]:
    sign_in = SignIn(ctx, pages)
    desk = Desk(ctx, pages)
    return [*desk.routes(), *MailView(ctx).routes(desk.seen),
            *Collab(ctx, pages).routes(desk.seen), *Canned(ctx, pages).routes(desk.seen),
            *Sends(ctx, pages).routes(), *ReportPages(ctx, pages).routes(),
            Route("/login", sign_in.login, methods=["GET", "POST"]),
            Route("/logout", sign_in.logout, methods=["POST"]),
            Route("/static/{path:path}", assets.serve)]


def create_app(ctx: WebContext, webhooks: Mapping[str, ASGIApp] | None = None) -> Starlette:
    """The desk, with each webhook endpoint at its path; ValueError for a webhook path
    the desk itself uses."""
    assets = Assets()
    routes = desk_routes(ctx, assets, Pages(ctx, assets))
    desk = Starlette(routes=routes, middleware=[Middleware(SignedIn, ctx=ctx, routes=routes)])
    # No sign-in: the customers' survey page (its signed link is the permission).
    outer: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET", "HEAD"]),
                              *SurveyPage(ctx, Pages(ctx, assets)).routes()]
    for path, endpoint in (webhooks or {}).items():
        if _claimed(path, [*outer, *desk.routes]):
            raise ValueError(f"the webhook path {path} is the desk's own; give the webhook "
                             "URL another path, e.g. /telegram/<bot>")
        outer.append(Route(path, _Asgi(endpoint)))
    api = Api(ctx)
    under_api = Mount(API, app=api.app())  # its own sign-in: a bearer token
    # Every path under /api/v1 is the API's, even one holding a newline (%0A), which
    # Mount's pattern would leave to the desk's HTML pages.
    under_api.path_regex = re.compile(under_api.path_regex.pattern, re.DOTALL)
    outer.append(under_api)
    outer.append(Route("/api/docs", api.docs))
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
