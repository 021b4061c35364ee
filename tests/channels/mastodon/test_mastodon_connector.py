"""The Mastodon connector against the local server, through the unmodified Mastodon.py:
what an agent reads of a mention, and what a customer sees of our replies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from channels.base import Address, AuthError, Outbound, PermanentError, TransientError
from channels.mastodon.connector import MastodonConfigError, MastodonConnector, build
from tests.channels.mastodon.server import MastodonServer, rate_limited

JSON = dict[str, Any]
TOKEN = "mastodon-test-token"


@pytest.fixture
async def connector(mastodon: MastodonServer, tmp_path: Path
                    ) -> AsyncIterator[MastodonConnector]:
    mastodon.account("support", "Acme Support", token=TOKEN)
    made = build("support", {"api_base_url": mastodon.url, "access_token_env": "TOK"},
                 base_dir=tmp_path, env={"TOK": TOKEN})
    yield made
    await made.close()


def people(server: MastodonServer) -> tuple[JSON, JSON]:
    return server.accounts["support"], server.account("ana", "Ana Kowalska",
                                                      host="elsewhere.test")


def outbound(text: str, to: str, in_reply_to: str | None, ref: str = "ref-1") -> Outbound:
    return Outbound(outbox_id=1, kind="reply", channel="mastodon", account="support",
                    recipient=Address(to), text=text, message_ref=ref,
                    in_reply_to=in_reply_to)


async def test_mentions_are_read_page_by_page_after_our_cursor(
        mastodon: MastodonServer, connector: MastodonConnector) -> None:
    us, ana = people(mastodon)
    first = await connector.fetch(None, wait=0)
    assert first.items == [] and first.cursor == "0"  # nothing yet: later ones are new
    sent = [mastodon.mention(ana, us, f"Question {n}") for n in range(95)]
    mastodon.notify_other(us, ana, "favourite")  # not a mention: never read

    got = await connector.fetch(first.cursor, wait=0)
    assert [i.external_id for i in got.items] == [s["id"] for s in sent]
    assert not any(i.backfill for i in got.items)
    pages = [r for r in mastodon.requests if r.startswith("GET /api/v1/notifications")]
    assert len(pages) == 1 + 4  # 40 + 40 + 15 + the empty page that ends the Link chain
    assert all("types%5B%5D=mention" in r for r in pages)

    again = await connector.fetch(got.cursor, wait=0)
    assert again.items == [] and again.cursor == got.cursor
    later = mastodon.mention(ana, us, "One more")
    assert [i.external_id for i in (await connector.fetch(got.cursor, 0)).items] == [
        later["id"]]


async def test_a_first_start_keeps_earlier_mentions_as_history(
        mastodon: MastodonServer, connector: MastodonConnector) -> None:
    us, ana = people(mastodon)
    old = mastodon.mention(ana, us, "Before you connected")
    got = await connector.fetch(None, wait=0)
    assert [(i.external_id, i.backfill) for i in got.items] == [(old["id"], True)]


async def test_what_an_agent_reads_of_a_mention(
        mastodon: MastodonServer, connector: MastodonConnector) -> None:
    us, ana = people(mastodon)
    photo = {"id": "9", "type": "image", "url": "https://files.test/a.jpg",
             "description": "the broken box"}
    status = mastodon.mention(ana, us, "Order <1234> & the box is broken.\nSee photo.\n\n"
                              "Zamówienie — dziękuję", visibility="direct", media=(photo,),
                              language="pl")
    [item] = (await connector.fetch("0", 0)).items
    assert item.text == ("Order <1234> & the box is broken.\nSee photo.\n\n"
                         "Zamówienie — dziękuję\n\n"
                         "[image: the broken box] https://files.test/a.jpg")
    assert item.sender == Address("ana@elsewhere.test", "Ana Kowalska")
    assert item.subject == "Order <1234> & the box is broken."
    assert item.language == "pl"
    assert item.thread_key == f"mastodon:{status['id']}:ana@elsewhere.test"
    assert item.attributes == {"visibility": "direct"}
    assert item.headers["mastodon-visibility"] == "direct"
    assert "auto-submitted" not in item.headers


async def test_one_customers_thread_is_one_key_and_bots_are_flagged(
        mastodon: MastodonServer, connector: MastodonConnector) -> None:
    us, ana = people(mastodon)
    bob = mastodon.account("bob", "Bob")
    bot = mastodon.account("feedbot", "Feed", bot=True, host="bots.test")
    root = mastodon.mention(ana, us, "Where is my parcel?")
    answer = mastodon.mention(bob, us, "Same here", in_reply_to=root)
    deeper = mastodon.mention(ana, us, "Any news?", in_reply_to=answer)
    robot = mastodon.mention(bot, us, "Automated post")
    items = (await connector.fetch("0", 0)).items
    # Bob joins Ana's thread: his own key, so his own conversation (threads.py)
    assert [i.thread_key for i in items[:3]] == [
        f"mastodon:{root['id']}:{who}" for who in (
            "ana@elsewhere.test", "bob@social.test", "ana@elsewhere.test")]
    assert items[2].references == (answer["id"],)
    assert items[1].sender.address == "bob@social.test"  # a local account gets its host
    assert items[3].external_id == robot["id"]
    assert items[3].headers["auto-submitted"].startswith("auto-generated")
    assert deeper["id"] == items[2].external_id


async def test_a_reply_mentions_the_customer_in_her_thread_with_her_visibility(
        mastodon: MastodonServer, connector: MastodonConnector) -> None:
    us, ana = people(mastodon)
    direct = mastodon.mention(ana, us, "Private question", visibility="direct")
    public = mastodon.mention(ana, us, "Public question", visibility="unlisted")
    await connector.send(outbound("We are on it.", "ana@elsewhere.test", direct["id"]))
    await connector.send(outbound("Answered.", "ana@elsewhere.test", public["id"], "ref-2"))
    [private, open_] = mastodon.posted
    assert (private.text, private.visibility, private.in_reply_to_id) == (
        "@ana@elsewhere.test We are on it.", "direct", direct["id"])
    assert (open_.visibility, open_.in_reply_to_id) == ("unlisted", public["id"])


async def test_a_retried_send_posts_once(mastodon: MastodonServer,
                                         connector: MastodonConnector) -> None:
    us, ana = people(mastodon)
    status = mastodon.mention(ana, us, "Hello")
    reply = outbound("Hi Ana!", "ana@elsewhere.test", status["id"], ref="abc@helpdesk.test")
    first = await connector.send(reply)
    again = await connector.send(reply)  # as after a crash before the outbox row was marked
    assert first.external_id == again.external_id and len(mastodon.posted) == 1
    assert mastodon.posted[0].idempotency_key == "abc@helpdesk.test"


async def test_a_long_reply_is_refused_or_split_as_configured(
        mastodon: MastodonServer, connector: MastodonConnector, tmp_path: Path) -> None:
    us, ana = people(mastodon)
    mastodon.max_characters = 120
    status = mastodon.mention(ana, us, "Tell me everything")
    text = " ".join(["Słowo"] * 40)  # 239 characters
    with pytest.raises(PermanentError, match="split_replies"):
        await connector.send(outbound(text, "ana@elsewhere.test", status["id"]))
    splitting = build("support", {"api_base_url": mastodon.url, "access_token_env": "TOK",
                                  "split_replies": True}, base_dir=tmp_path,
                      env={"TOK": TOKEN})
    await splitting.fetch("0", 0)
    assert splitting.text_limit.splits and splitting.text_limit.max == 120 - 32
    await splitting.send(outbound(text, "ana@elsewhere.test", status["id"]))
    await splitting.close()
    parts = mastodon.posted
    assert len(parts) == 3 and parts[0].in_reply_to_id == status["id"]
    assert [p.in_reply_to_id for p in parts[1:]] == [p.status["id"] for p in parts[:-1]]
    assert [p.text.rsplit(" ", 1)[1] for p in parts] == ["1/3", "2/3", "3/3"]
    assert all(p.text.startswith("@ana@elsewhere.test ") for p in parts)


async def test_errors_are_sorted_for_the_outbox(mastodon: MastodonServer,
                                                connector: MastodonConnector) -> None:
    us, ana = people(mastodon)
    status = mastodon.mention(ana, us, "Hello")
    mastodon.fail("POST /api/v1/statuses", 429, "Too many requests",
                  headers=rate_limited(30))
    with pytest.raises(TransientError) as limited:
        await connector.send(outbound("Hi", "ana@elsewhere.test", status["id"]))
    assert limited.value.retry_after is not None and 20 < limited.value.retry_after <= 31

    mastodon.fail("POST /api/v1/statuses", 422, "The post you are trying to reply to does "
                  "not appear to exist.")
    with pytest.raises(PermanentError, match="does not appear to exist"):
        await connector.send(outbound("Hi", "ana@elsewhere.test", status["id"]))
    mastodon.delete(status)
    with pytest.raises(PermanentError, match="deleted"):
        await connector.send(outbound("Hi", "ana@elsewhere.test", status["id"]))
    assert mastodon.posted == []

    mastodon.tokens.clear()  # the token was revoked
    with pytest.raises(AuthError, match="access token"):
        await connector.fetch("0", 0)


def test_configuration_mistakes_are_named(tmp_path: Path) -> None:
    def error(options: JSON, env: dict[str, str] | None = None) -> str:
        with pytest.raises(MastodonConfigError) as exc:
            build("support", options, base_dir=tmp_path, env=env or {})
        return str(exc.value)

    url = {"api_base_url": "https://social.test"}
    assert "never put the token" in error({**url, "access_token": "x"})
    assert "TOK is not set" in error({**url, "access_token_env": "TOK"})
    assert "access_token_file" in error({**url, "access_token_file": "missing.txt"})
    assert "set access_token_env or access_token_file" in error(url)
    assert "api_base_url" in error({"api_base_url": "social.test", "access_token_env": "T"})
    assert "public_ack" in error({**url, "access_token_env": "T", "public_ack": "maybe"},
                                 {"T": "x"})
