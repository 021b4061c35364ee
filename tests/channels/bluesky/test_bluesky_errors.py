"""Bluesky's refusals sorted into the outbox's taxonomy (answers the dev network does not
give on demand: rate limits)."""

from __future__ import annotations

import time

from atproto_client import exceptions as atx
from atproto_client.models.common import XrpcError
from atproto_client.request import Response

from channels.base import AuthError, PermanentError, TransientError
from channels.bluesky.connector import new_record_key, translate


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


def test_record_keys_are_valid_tids_in_time_order() -> None:
    first, later = new_record_key(1_700_000_000_000_000), new_record_key(1_700_000_000_000_001)
    assert len(first) == 13 and first[0] in "234567abcdefghij" and first < later
