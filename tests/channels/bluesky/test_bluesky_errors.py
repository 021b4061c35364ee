"""Bluesky's refusals sorted into the outbox's taxonomy (answers the dev network does not
give on demand: rate limits)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from atproto_client import exceptions as atx
from atproto_client.models.common import XrpcError
from atproto_client.request import Response

from channels.base import Address, AuthError, Outbound, PermanentError, TransientError
from channels.bluesky.connector import record_key, translate


def answer(status: int, error: str, headers: dict[str, str] | None = None) -> Response:
    return Response(success=False, status_code=status, headers=headers or {},
                    content=XrpcError(error=error, message="said the server"))


def test_a_rate_limit_is_retried_when_the_server_resets_it() -> None:
    reset = str(int(time.time()) + 120)
    got = translate(atx.RateLimitExceededError(answer(429, "RateLimitExceeded",
                                                      {"ratelimit-reset": reset})))
    assert isinstance(got, TransientError) and got.retry_after is not None
    assert 100 < got.retry_after <= 120


def test_a_refused_password_stops_the_account_and_a_bad_request_is_dead_lettered() -> None:
    assert isinstance(translate(atx.UnauthorizedError(answer(401, "AuthFactorTokenRequired"))),
                      AuthError)
    refused = translate(atx.BadRequestError(answer(400, "InvalidRequest")))
    assert isinstance(refused, PermanentError) and "InvalidRequest" in str(refused)


def outbound(ref: str, queued_at: datetime) -> Outbound:
    return Outbound(outbox_id=1, kind="ack", channel="bluesky", account="shop",
                    recipient=Address("did:plc:x"), text="Hi", message_ref=ref,
                    in_reply_to="at://x", queued_at=queued_at)


def tid_time(key: str) -> datetime:
    number = 0
    for char in key:
        number = number * 32 + "234567abcdefghijklmnopqrstuvwxyz".index(char)
    return datetime.fromtimestamp((number >> 10) / 1e6, UTC)


def test_a_record_key_is_a_tid_of_the_queue_time_and_the_same_at_every_try() -> None:
    queued = datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=UTC)
    key = record_key(outbound("a@acme.example", queued))
    same_ms = record_key(outbound("b@acme.example", queued))
    later = record_key(outbound("a@acme.example", queued + timedelta(milliseconds=1)))

    assert key == record_key(outbound("a@acme.example", queued))  # any try, any process
    assert len(key) == 13 and key[0] in "234567abcdefghij" and key < later
    assert same_ms != key
    assert timedelta(0) <= tid_time(key) - queued.replace(microsecond=123000) \
        < timedelta(milliseconds=1)
