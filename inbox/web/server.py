"""An ASGI app served by uvicorn inside the daemon's own event loop.

The daemon serves the desk (and the webhooks mounted in it) this way; tests serve their
local peers the same way. uvicorn leaves signals to the daemon (its SIGTERM handler
stops everything in order) and tells us when it listens through an event, not a log
line. The socket is bound before uvicorn starts, so a port already taken is our own
one-line error instead of uvicorn's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

GRACEFUL_SECONDS = 5  # requests in flight at shutdown get this long to finish


def split_listen(listen: str) -> tuple[str, int]:
    """`"127.0.0.1:8025"` -> ("127.0.0.1", 8025); `"[::1]:8025"` -> ("::1", 8025)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; OSError naming host:port when it cannot be had.

    Made with IPPROTO_TCP spelled out: asyncio turns Nagle's algorithm off only for
    connections whose socket says so, and uvicorn answers in two writes (head, body),
    which Nagle plus delayed ACKs would hold back ~40 ms per response.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


class _Uvicorn(uvicorn.Server):
    """uvicorn inside someone else's event loop: readiness as an event, no signal capture."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Served:
    """A running ASGI app; `stop()` ends it."""

    server: _Uvicorn
    task: asyncio.Task[None]
    sock: socket.socket

    @property
    def port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        host = self.sock.getsockname()[0]
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task
        self.sock.close()


async def serve(app: ASGIApp, sock: socket.socket) -> Served:
    """Run `app` on an already bound socket in this event loop; returns once it listens."""
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=GRACEFUL_SECONDS)
    server = _Uvicorn(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    ready = asyncio.create_task(server.ready.wait())
    await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
    if not server.ready.is_set():
        ready.cancel()
        sock.close()
        await task  # raises what stopped it
        raise RuntimeError("the HTTP server stopped while starting")
    return Served(server, task, sock)
