"""The desk's app in process (httpx's ASGI transport): headers, assets, mounts."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from inbox.web.app import create_app
from inbox.web.context import WebContext
from inbox.web.security import CSP
from tests.web.desk_helpers import in_own_loop

# No request below reaches the database (nobody signs in): an empty one will do.
CTX = WebContext(name="Acme Support", engine=sa.create_engine("sqlite://"), secret="s" * 32)


def client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk")


async def hook(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    await PlainTextResponse(f"hook {request.method}")(scope, receive, send)


def test_every_response_carries_the_security_headers() -> None:
    in_own_loop(_every_response_carries_the_security_headers())


async def _every_response_carries_the_security_headers() -> None:
    desk = client(create_app(CTX, {"/telegram/support": hook}))
    for method, path in [("GET", "/login"), ("GET", "/no-such-page"), ("GET", "/healthz"),
                         ("POST", "/telegram/support"), ("POST", "/logout")]:
        answer = await desk.request(method, path, follow_redirects=False)
        assert answer.headers["content-security-policy"] == CSP, path
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert answer.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in CSP and "script-src 'self'" in CSP


def test_the_queue_sends_a_stranger_to_sign_in_and_refuses_a_cross_site_form() -> None:
    in_own_loop(_the_queue_sends_a_stranger_to_sign_in_and_refuses_a_cross_site_form())


async def _the_queue_sends_a_stranger_to_sign_in_and_refuses_a_cross_site_form() -> None:
    desk = client(create_app(CTX))
    answer = await desk.get("/", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/login?next=/")
    page = (await desk.get("/login")).text
    assert '<html lang="en" dir="ltr">' in page and '<p class="deployment" dir="auto">' in page
    assert "<script>" not in page and " on" not in re.sub(r"\s+", " ", page).replace(
        " one", "")  # no inline handlers (onclick=...)
    foreign = {"Origin": "https://evil.example"}
    assert (await desk.post("/login", headers=foreign)).status_code == 403
    assert (await desk.post("/logout", headers=foreign)).status_code == 401  # no session


def test_static_files_have_versioned_names_and_a_long_cache() -> None:
    in_own_loop(_static_files_have_versioned_names_and_a_long_cache())


async def _static_files_have_versioned_names_and_a_long_cache() -> None:
    desk = client(create_app(CTX))
    page = (await desk.get("/login")).text
    [css] = re.findall(r'href="(/static/desk\.[0-9a-f]{12}\.css)"', page)
    answer = await desk.get(css)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/css")
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert (await desk.get("/static/desk.css")).status_code == 404  # no digest: no guess
    assert (await desk.get(css.replace(css[-16:-4], "0" * 12))).status_code == 404


def test_a_webhook_is_served_at_its_path_unless_the_desk_uses_it() -> None:
    in_own_loop(_a_webhook_is_served_at_its_path_unless_the_desk_uses_it())


async def _a_webhook_is_served_at_its_path_unless_the_desk_uses_it() -> None:
    desk = client(create_app(CTX, {"/telegram/support": hook}))
    assert (await desk.post("/telegram/support")).text == "hook POST"
    for taken in ("/login", "/healthz", "/static/x.js", "/"):
        with pytest.raises(ValueError, match=f"webhook path {taken} is the desk's own"):
            create_app(CTX, {taken: hook})
