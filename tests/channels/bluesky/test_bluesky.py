"""The connector against the real dev network: customers' mentions come in once, in their
thread, and our replies appear in that thread mentioning the customer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels.base import Address, AuthError, Outbound, PermanentError
from channels.bluesky.connector import BlueskyConnector, build
from tests.channels.bluesky.devnet import Account, Devnet, Post


def connect(service: str, account: Account, password: str, base_dir: Path) -> BlueskyConnector:
    return build("shop", {"service": service, "handle": account.handle,
                          "app_password_env": "SHOP_APP_PASSWORD", "poll_seconds": 0.1},
                 base_dir=base_dir, env={"SHOP_APP_PASSWORD": password})


@dataclass
class Shop:
    account: Account
    connector: BlueskyConnector
    password: str
    base_dir: Path

    def restarted(self, service: str) -> BlueskyConnector:
        """A new connector for the same account, as a restarted daemon builds it."""
        return connect(service, self.account, self.password, self.base_dir)


@pytest.fixture
async def shop(bluesky: Devnet, tmp_path: Path) -> AsyncIterator[Shop]:
    account = bluesky.account("shop")
    password = bluesky.app_password(account)
    connector = connect(bluesky.pds, account, password, tmp_path)
    yield Shop(account, connector, password, tmp_path)
    await connector.close()


# The AppView writes notifications a moment after it indexed the post: the connector's
# own wait (it polls) waits for them.
WAIT = 60.0


def reply(post: Post | str, text: str, ref: str = "ref-1") -> Outbound:
    return Outbound(outbox_id=1, kind="reply", channel="bluesky", account="shop",
                    recipient=Address("x"), text=text, message_ref=ref,
                    in_reply_to=post if isinstance(post, str) else post.uri,
                    queued_at=datetime.now(UTC))


async def test_a_mention_comes_in_once_as_its_own_thread(bluesky: Devnet, shop: Shop) -> None:
    alice = bluesky.account("alice")
    post = bluesky.post(alice, f"@{shop.account.handle} my parcel never came", mention=shop.account)

    first = await shop.connector.fetch(None, WAIT)
    again = await shop.connector.fetch(first.cursor, 0)

    [got] = first.items
    assert (got.external_id, got.thread_key, got.sender.address, got.headers["bluesky-handle"]) \
        == (post.uri, f"{post.uri} {alice.did}", alice.did, "@" + alice.handle)
    assert got.text == f"@{shop.account.handle} my parcel never came"
    assert again.items == [] and again.cursor == first.cursor


async def test_seen_is_told_only_once_the_cursor_comes_back(bluesky: Devnet, shop: Shop) -> None:
    bob = bluesky.account("bob")
    bluesky.post(bob, f"hello @{shop.account.handle}", mention=shop.account)
    client = shop.account.client

    first = await shop.connector.fetch(None, 0)  # fetched, not yet stored
    unread_before = client.app.bsky.notification.get_unread_count().count
    await shop.connector.fetch(first.cursor, 0)  # the daemon committed `first`
    bluesky.settle()

    assert unread_before == 1
    assert client.app.bsky.notification.get_unread_count().count == 0


async def test_our_reply_lands_in_the_thread_mentioning_the_customer(
        bluesky: Devnet, shop: Shop) -> None:
    carol = bluesky.account("carol")
    root = bluesky.post(carol, f"@{shop.account.handle} ร้านเปิดกี่โมงคะ", mention=shop.account)
    [mention] = (await shop.connector.fetch(None, WAIT)).items

    sent = await shop.connector.send(reply(mention.external_id, "Chào bạn, 9 giờ sáng ạ"))

    [ours] = bluesky.thread(carol, root)
    assert ours.uri == sent.external_id and ours.author.did == shop.account.did
    assert ours.record.text == f"@{carol.handle} Chào bạn, 9 giờ sáng ạ"
    [facet] = ours.record.facets
    assert facet.features[0].did == carol.did
    assert ours.record.text.encode()[facet.index.byte_start:facet.index.byte_end].decode() \
        == "@" + carol.handle
    assert (ours.record.reply.root.uri, ours.record.reply.parent.uri) == (root.uri, root.uri)


async def test_a_reply_deeper_in_the_thread_stays_in_its_conversation(
        bluesky: Devnet, shop: Shop) -> None:
    dana = bluesky.account("dana")
    root = bluesky.post(dana, f"@{shop.account.handle} is my order late?", mention=shop.account)
    first = await shop.connector.fetch(None, 0)
    sent = await shop.connector.send(reply(root, "Looking into it!"))
    ours = Post(sent.external_id or "", bluesky.thread(dana, root)[0].cid)
    answer = bluesky.post(dana, "thanks, order 1234", reply_to=ours, root=root)

    [got] = (await shop.connector.fetch(first.cursor, WAIT)).items
    sent_again = await shop.connector.send(reply(answer, "It ships today", ref="ref-2"))

    assert (got.external_id, got.thread_key, got.references) == (
        answer.uri, f"{root.uri} {dana.did}", (ours.uri,))  # her thread: its root, her
    last = bluesky.thread(dana, root, replies=3)[-1]
    assert last.uri == sent_again.external_id
    assert (last.record.reply.root.uri, last.record.reply.parent.uri) == (root.uri, answer.uri)


async def test_a_send_tried_again_posts_once(bluesky: Devnet, shop: Shop) -> None:
    erin = bluesky.account("erin")
    root = bluesky.post(erin, f"@{shop.account.handle} hi", mention=shop.account)

    message = reply(root, "Hello!", ref="same-outbox-row")
    first = await shop.connector.send(message)
    second = await shop.connector.send(message)
    bluesky.settle()

    assert first == second
    assert [p.uri for p in bluesky.thread(erin, root)] == [first.external_id]


async def test_a_send_repeated_after_a_crash_posts_once(bluesky: Devnet, shop: Shop) -> None:
    # Bluesky took the post, and the daemon died before it recorded that: the restarted
    # daemon (a new connector, nothing in memory) sends the same outbox row again.
    hal = bluesky.account("hal")
    root = bluesky.post(hal, f"@{shop.account.handle} where is it?", mention=shop.account)
    message = reply(root, "We are on it", ref="4f1c@acme.example")

    first = await shop.connector.send(message)
    restarted = shop.restarted(bluesky.pds)
    try:
        second = await restarted.send(message)
    finally:
        await restarted.close()
    bluesky.settle()

    assert [p.uri for p in bluesky.thread(hal, root)] == [first.external_id]
    assert second == first


async def test_a_deleted_post_cannot_be_answered(bluesky: Devnet, shop: Shop) -> None:
    fay = bluesky.account("fay")
    root = bluesky.post(fay, f"@{shop.account.handle} never mind", mention=shop.account)
    fay.client.delete_post(root.uri)
    bluesky.settle()

    with pytest.raises(PermanentError, match="deleted"):
        await shop.connector.send(reply(root, "Hello?"))


async def test_a_wrong_app_password_stops_the_account(bluesky: Devnet, tmp_path: Path) -> None:
    gus = bluesky.account("gus")
    (tmp_path / "pw").write_text("aaaa-bbbb-cccc-dddd\n")
    connector = build("gus", {"service": bluesky.pds, "handle": gus.handle,
                              "app_password_file": "pw"}, base_dir=tmp_path)
    try:
        with pytest.raises(AuthError):
            await connector.fetch(None, 0)
    finally:
        await connector.close()
