"""One account's user stream (Mastodon's streaming API) in a thread its connector owns.

Mastodon.py reads a stream with requests, blocking, so it runs in a thread of its own.
The stream only tells; it never decides: a `notification` wakes the connector's poller,
which reads mentions from our committed cursor as it always does (a crash never loses
nor repeats a mention); an edited status (`status.update`) and a deleted one (`delete`)
are handed over as they come. Every (re)connection wakes the poller too, so mentions
posted while the stream was away are read at once.

A stream that drops is opened again after the owner's `Delay` (the project's one retry
policy, injected: channels cannot import it): its base after a stream that was up, longer
after each failed connection in a row. A server whose health check says 404 or 401 has
no streaming for us: the thread ends, and polling every `poll_seconds` goes on.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from mastodon import (
    Mastodon,
    MastodonNotFoundError,
    MastodonUnauthorizedError,
    StreamListener,
)

log = logging.getLogger(__name__)

# How long the stream may stay silent before it counts as dead: Mastodon's streaming
# server sends a heartbeat comment every few seconds, so a minute of nothing is a cut
# connection that nobody told us about (a NAT that forgot it, say).
READ_SECONDS = 60.0
# `failures` in a row (1 for the first) and the server's own wait, if any -> seconds.
Delay = Callable[[int, float | None], float]
T = TypeVar("T")


class Events(Protocol):
    """What the stream tells its owner; called in the stream's thread."""

    def woke(self) -> None:
        """Something new may be waiting after the cursor: read now."""

    def edited(self, status: Mapping[str, Any]) -> None: ...

    def deleted(self, status_id: str) -> None: ...


class _Listener(StreamListener):
    def __init__(self, owner: UserStream) -> None:
        self.owner = owner

    def handle_stream(self, response: Any) -> None:
        if not self.owner.opened(response):
            return
        super().handle_stream(response)  # type: ignore[no-untyped-call]

    def on_notification(self, notification: Mapping[str, Any]) -> None:
        self.owner.events.woke()

    def on_status_update(self, status: Mapping[str, Any]) -> None:
        self.owner.told(self.owner.events.edited, status)

    def on_delete(self, status_id: object) -> None:
        self.owner.told(self.owner.events.deleted, str(status_id))


class UserStream:
    """`GET /api/v1/streaming/user` for as long as its owner runs (`close` ends it)."""

    def __init__(self, api: Mastodon, events: Events, delay: Delay, name: str) -> None:
        self.api, self.events, self.delay, self.name = api, events, delay, name
        self._closing = threading.Event()
        self._response: Any = None
        self._up = False  # the current connection was answered 200
        self._thread = threading.Thread(target=self._run, name=f"{name} stream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def opened(self, response: Any) -> bool:
        """The stream is up (in the thread): catch up on what came while it was away.
        False when `close` came first."""
        self._response, self._up = response, True
        if self._closing.is_set():
            return False
        log.info("%s: streaming", self.name)
        self.events.woke()
        return True

    def told(self, handle: Callable[[T], None], payload: T) -> None:
        """One event to its handler: one that cannot be read (or whose thread cannot be
        looked up just now) is skipped, and the stream goes on."""
        try:
            handle(payload)
        except Exception as exc:
            log.warning("%s: skipped a stream event that could not be read: %s", self.name,
                        exc)

    def close(self) -> None:
        """Stop the thread: a blocked read ends when its socket is shut (a response's
        close() does not wake it)."""
        self._closing.set()
        response = self._response
        with contextlib.suppress(AttributeError, OSError):
            response.raw.connection.sock.shutdown(socket.SHUT_RDWR)

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._closing.is_set():
            if not self._available():
                return
            failures, wait = self._once(failures)
            self._closing.wait(wait)

    def _available(self) -> bool:
        try:
            self.api.stream_healthy()
        except (MastodonNotFoundError, MastodonUnauthorizedError) as exc:
            log.warning("%s: the server offers no streaming (%s): polling only", self.name,
                        exc.args[1] if len(exc.args) > 1 else exc)
            return False
        except Exception:  # down for now: the stream's own try says more
            pass
        return True

    def _once(self, failures: int) -> tuple[int, float]:
        """One connection, read until it ends; the failures so far and the wait after."""
        try:
            self.api.stream_user(_Listener(self), timeout=READ_SECONDS)
            problem = "the stream ended"
        except Exception as exc:  # a bad event or a cut: connect again
            problem = f"{type(exc).__name__}: {exc}"
        if self._closing.is_set():
            return failures, 0.0
        failures = 1 if self._up else failures + 1
        self._up = False
        wait = self.delay(failures, None)
        level = logging.WARNING if failures == 1 else logging.DEBUG
        log.log(level, "%s: stream lost (%s); connecting again in %.1fs", self.name, problem,
                wait)
        return failures, wait

