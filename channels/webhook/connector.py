"""One registered webhook as a send-only connector: the outbox hands it a delivery (the
event's JSON as the text, its event id as the reference) and it POSTs it.

Each try is signed afresh, as Standard Webhooks says: `webhook-id` (the event's id, the
same on every retry: the receiver drops repeats by it), `webhook-timestamp` (now, in
Unix seconds: the receiver refuses old ones, so a captured request cannot be replayed
later) and `webhook-signature` ("v1," and base64 of HMAC-SHA256 over
"id.timestamp.body" with the hook's secret).

Answers map onto the outbox's error taxonomy: 2xx delivered (status and the start of
the body kept as the response); 410 Gone is the receiver asking us to stop (dead
letter); anything else, a timeout or a refused connection is tried again with backoff,
after the receiver's Retry-After when it gives one. Redirects are not followed: a
signed body goes only where the admin said.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from channels.base import FetchResult, Outbound, PermanentError, SendResult, TransientError

TIMEOUT_SECONDS = 10.0
KEPT_BODY = 300  # characters of a receiver's answer kept with the delivery
USER_AGENT = "inbox-webhooks/1"


class WebhookConnector:
    """Send-only: the daemon never runs a fetch loop for it."""

    channel = "webhook"

    def __init__(self, name: str, url: str, secret: str, client: httpx.AsyncClient,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.account, self.url, self.secret = name, url, secret
        self._signer = Webhook(secret)
        self._client, self._clock = client, clock

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        return FetchResult([], cursor)

    async def send(self, message: Outbound) -> SendResult:
        at = self._clock()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message.message_ref,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self._signer.sign(message.message_ref, at, message.text),
        }
        try:
            answer = await self._client.post(self.url, content=message.text.encode(),
                                             headers=headers, timeout=TIMEOUT_SECONDS)
        except httpx.TimeoutException:
            raise TransientError(f"no answer from {self.url} within "
                                 f"{TIMEOUT_SECONDS:g} s") from None
        except httpx.HTTPError as exc:
            raise TransientError(f"{self.url}: {exc or type(exc).__name__}") from None
        said = f"HTTP {answer.status_code}: {answer.text[:KEPT_BODY]}".strip()
        if answer.is_success:
            return SendResult(detail=said)
        if answer.status_code == 410:
            raise PermanentError(f"{said} (the receiver asked us to stop)")
        raise TransientError(said, _retry_after(answer))

    async def close(self) -> None:
        """The client is the daemon's, shared by every hook: it closes it."""


def _retry_after(answer: httpx.Response) -> float | None:
    value = answer.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None
