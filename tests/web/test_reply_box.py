"""The reply box knows its channel, in process on both databases: Cc on e-mail,
prefilled with whom the customer copied and posted with the reply; a chat's length
limit from its connector, shown and enforced by the server. The live count in the
browser is in test_desk_pages.py."""

from __future__ import annotations

import html
import re
from dataclasses import replace

from sqlalchemy.orm import Session

from channels.base import FetchResult, Outbound, SendResult, TextLimit
from inbox.runtime.app import App
from inbox.store.models import Message, Outbox
from tests.web.desk_helpers import agent_client, ingest, mail


class Chat:
    """A chat connector that sends one message per reply, of at most 10 graphemes."""

    channel, account = "telegram", "bot"
    text_limit = TextLimit(10, "graphemes", splits=False)

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        return FetchResult([], cursor)

    async def send(self, message: Outbound) -> SendResult:
        raise AssertionError("nothing is sent in these tests")

    async def close(self) -> None:
        pass


def replies(app: App) -> list[list[str]]:
    with Session(app.engine) as s:
        return [s.get_one(Message, o.message_id).recipients
                for o in s.query(Outbox).filter(Outbox.kind == "reply").order_by(Outbox.id)]


def test_the_email_box_offers_whom_the_customer_copied_and_posts_cc(app: App) -> None:
    desk = agent_client(app, "Ana")
    ingest(app, replace(mail(1), headers={
        "return-path": "<anna@example.com>", "to": "support@helpdesk.test",
        "cc": "Bob <bob@example.pl>, ana@helpdesk.test, Ewa <ewa@example.com>"}))
    page = desk.get("/c/1").text
    field = re.search(r'<input id="reply-cc" name="cc" type="text" value="([^"]*)"', page)
    assert field is not None  # the agent's own address is never offered
    assert html.unescape(field.group(1)) == "bob@example.pl, ewa@example.com"
    assert 'data-limit' not in page  # e-mail declares no length limit
    sent = desk.post("/c/1/reply", data={"text": "It left today.",
                                         "cc": "bob@example.pl, lee@example.com"})
    assert sent.status_code == 200
    assert replies(app) == [["anna@example.com", "bob@example.pl", "lee@example.com"]]
    bad = desk.post("/c/1/reply", data={"text": "Again.", "cc": "lee@"})
    assert (bad.status_code, bad.text) == (422, "'lee@' is not an e-mail address (Cc)")
    assert bad.headers["HX-Retarget"] == "#problem"


def test_a_chat_box_counts_to_its_limit_and_the_server_refuses_past_it(app: App) -> None:
    desk = agent_client(app, "Ana", connectors={("telegram", "bot"): Chat()})
    ingest(app, mail(1, channel="telegram"))
    page = desk.get("/c/1").text
    assert 'id="reply-cc"' not in page
    assert 'data-limit="10" data-limit-unit="graphemes" data-limit-splits="no"' in page
    assert '<output id="reply-count" class="count" for="reply-text" aria-live="polite">' \
        '0 / 10</output>' in page
    assert "/static/replybox." in page
    long = desk.post("/c/1/reply", data={"text": "สวัสดีครับ สวัสดี"})  # 12 graphemes
    assert (long.status_code, long.text) == (
        422, "the reply is 12 characters long; telegram takes at most 10")
    copied = desk.post("/c/1/reply", data={"text": "สวัสดีครับ", "cc": "bob@example.pl"})
    assert copied.status_code == 422 and "cannot copy anyone" in copied.text
    assert desk.post("/c/1/reply", data={"text": "สวัสดีครับ", "cc": ""}).status_code == 200
    assert replies(app) == [[mail(1, channel="telegram").sender.address]]
