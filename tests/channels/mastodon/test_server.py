"""The local server answers the unmodified Mastodon.py as a Mastodon instance would."""

from __future__ import annotations

import asyncio

import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonUnauthorizedError

from tests.channels.mastodon.server import MastodonServer


def client(server: MastodonServer, token: str = "tok") -> Mastodon:
    return Mastodon(access_token=token, api_base_url=server.url, ratelimit_method="throw")


async def test_mentions_page_by_link_and_a_key_posts_once(mastodon: MastodonServer) -> None:
    us = mastodon.account("support", "Acme Support", token="tok")
    ana = mastodon.account("ana", "Ana", host="elsewhere.test")
    sent = [mastodon.mention(ana, us, f"question {n}") for n in range(5)]
    mastodon.notify_other(us, ana)
    api = client(mastodon)

    def read() -> list[str]:
        page = api.notifications(types=["mention"], limit=2, min_id=0)
        seen: list[str] = []
        while page:
            seen += [str(n.status.id) for n in reversed(page)]
            page = api.fetch_previous(page)
        return seen

    assert await asyncio.to_thread(read) == [s["id"] for s in sent]
    first = await asyncio.to_thread(api.status_post, "@ana@elsewhere.test hi",
                                    in_reply_to_id=sent[0]["id"], visibility="direct",
                                    idempotency_key="k1")
    again = await asyncio.to_thread(api.status_post, "@ana@elsewhere.test hi",
                                    in_reply_to_id=sent[0]["id"], visibility="direct",
                                    idempotency_key="k1")
    assert first.id == again.id and len(mastodon.posted) == 1
    assert mastodon.posted[0].visibility == "direct"

    mastodon.delete(sent[1])
    with pytest.raises(MastodonAPIError) as deleted:
        await asyncio.to_thread(api.status_post, "x", in_reply_to_id=sent[1]["id"])
    assert deleted.value.args[1] == 422
    with pytest.raises(MastodonUnauthorizedError):
        await asyncio.to_thread(client(mastodon, "wrong").notifications)
