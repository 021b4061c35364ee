"""A pass-through in front of the dev network's PDS that lets a test pick the moment to
kill a daemon: it forwards every XRPC call unchanged, and holds the one a test names
(before Bluesky sees it, or after Bluesky answered it) until the test lets it go.

The only change to what passes: the session's `didDoc` is left out, because the SDK
would otherwise follow the PDS address written in it and go round the proxy (a session
without one is what a PDS that does not say gives).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox.web.server import Served, bind, serve

SESSIONS = frozenset({"com.atproto.server.createSession", "com.atproto.server.refreshSession",
                      "com.atproto.server.getSession"})
# Hop-by-hop or rewritten by the proxy's own HTTP client: never copied across.
DROPPED = frozenset({"host", "content-length", "transfer-encoding", "content-encoding",
                     "connection", "accept-encoding"})


@dataclass
class Hold:
    """One call held: `reached` is set when it came, and it waits for `release`."""

    method: str
    answered: bool  # held after Bluesky answered (True) or before Bluesky saw it (False)
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Proxy:
    pds: str
    holds: list[Hold] = field(default_factory=list)
    served: Served | None = None
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=60))

    @property
    def url(self) -> str:
        assert self.served is not None
        return self.served.url

    def hold(self, method: str, *, answered: bool = False) -> Hold:
        """The next call of `method` waits until the test releases it."""
        self.holds.append(Hold(method, answered))
        return self.holds[-1]

    async def _forward(self, request: Request) -> Response:
        method, content = request.path_params["method"], await request.body()
        held = next((h for h in self.holds if h.method == method and not h.reached.is_set()),
                    None)
        if held is not None and not held.answered:
            await self._wait(held)
        got = await self.client.request(
            request.method, f"{self.pds}/xrpc/{method}", params=request.url.query,
            content=content,
            headers={k: v for k, v in request.headers.items() if k not in DROPPED})
        if held is not None and held.answered:
            await self._wait(held)
        body = got.content
        if method in SESSIONS and got.is_success:
            body = json.dumps({k: v for k, v in got.json().items() if k != "didDoc"}).encode()
        return Response(body, got.status_code, {k: v for k, v in got.headers.items()
                                                if k not in DROPPED})

    @staticmethod
    async def _wait(held: Hold) -> None:
        held.reached.set()
        await held.release.wait()

    async def stop(self) -> None:
        for held in self.holds:
            held.release.set()
        if self.served is not None:
            await self.served.stop()
        await self.client.aclose()


@contextlib.asynccontextmanager
async def proxy(pds: str) -> AsyncIterator[Proxy]:
    """A running proxy to `pds` on 127.0.0.1."""
    made = Proxy(pds)
    app = Starlette(routes=[Route("/xrpc/{method}", made._forward, methods=["GET", "POST"])])
    made.served = await serve(app, bind("127.0.0.1", 0))
    try:
        yield made
    finally:
        await made.stop()
