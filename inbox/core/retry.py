"""The project's one retry policy: delays doubling from a base, capped.

The outbox waits this long between tries of a send (`[outbox] backoff_*`), a connector
loop between fetches of an account whose server is away; a server's own Retry-After,
when longer, wins in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Backoff:
    base_seconds: float
    cap_seconds: float

    def delay(self, failures: int, retry_after: float | None = None) -> timedelta:
        """How long to wait after the `failures`-th failure in a row (1 for the first)."""
        seconds = min(self.base_seconds * 2 ** max(failures - 1, 0), self.cap_seconds)
        return timedelta(seconds=max(seconds, retry_after or 0.0))


# Between fetches of a channel account that is away, and between reconnects of a
# connector's stream (Mastodon's): the daemon and the connector factories share it.
FETCH_BACKOFF = Backoff(base_seconds=1.0, cap_seconds=300.0)
