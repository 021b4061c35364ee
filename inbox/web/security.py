"""Security headers on every response the desk sends, webhooks and errors included.

The Content-Security-Policy allows scripts, styles and connections from the desk itself
only: no inline script or style (htmx is configured by a meta tag, its inline indicator
style turned off), no eval, no plugin, no framing by anyone, no form posted elsewhere.
Should a customer's text ever reach a page unescaped, the browser still runs nothing.

A response may set its own header of the same name (the sandboxed frame that shows a
mail's HTML has a stricter policy of its own, and may be framed by the desk); the
middleware fills in only what is missing. Pages are `no-store`: they show customers'
messages, which a shared machine's disk cache must not keep; static files set their own
long cache.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "frame-src 'self'",  # a mail's HTML, in its sandboxed frame (inbox.web.mailview)
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
])

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # Nothing of ours (a conversation's address) leaks to a site a customer's link
    # leads to; our own pages still say their origin, which the sign-in and CSRF checks
    # read (under no-referrer a browser sends `Origin: null` with every form).
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """ASGI middleware: HEADERS on every HTTP response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
