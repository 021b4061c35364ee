"""The dev network itself: a customer's mention reaches the business as on Bluesky."""

from __future__ import annotations

from tests.channels.bluesky.devnet import Devnet


def test_a_customers_mention_is_a_notification_of_the_business(bluesky: Devnet) -> None:
    shop, alice = bluesky.account("shop"), bluesky.account("alice")
    post = bluesky.post(alice, f"@{shop.handle} my parcel never came", mention=shop)

    got = shop.client.app.bsky.notification.list_notifications()

    assert [(n.reason, n.uri, n.author.handle) for n in got.notifications] == [
        ("mention", post.uri, alice.handle)]
