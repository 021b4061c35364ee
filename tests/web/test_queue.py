"""The queue page: the read model of `inbox queue --json` as a table, its filters, and
what it may show; in process here, in Chromium in test_desk_pages.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inbox.runtime.app import App
from inbox.web.pages import content_disposition
from tests.web.desk_helpers import agent_client, ingest, mail, rows


def test_every_channel_in_one_queue_most_urgent_first(app: App) -> None:
    now = datetime.now(UTC)
    ingest(app, mail(1, subject="Newest mail", at=now),
           mail(2, channel="telegram", text="سلام، سفارش من کجاست؟\nدوم",
                at=now - timedelta(hours=3)),
           mail(3, subject="Oldest mail", sender="bo@example.com", at=now - timedelta(hours=5)))
    desk = agent_client(app, "ana")
    page = desk.get("/")
    assert page.status_code == 200
    # the chat has no subject: its first line stands for it
    assert rows(page.text) == ["Oldest mail", "سلام، سفارش من کجاست؟", "Newest mail"]
    assert "<title>(3) Queue · " in page.text
    assert 'data-due="' in page.text and "sla sla-ok" in page.text
    telegram = desk.get("/", params={"channel": "telegram"})
    assert rows(telegram.text) == ["سلام، سفارش من کجاست؟"]
    fragment = desk.get("/queue/rows", params={"channel": "email"})
    assert fragment.text.lstrip().startswith('<tbody id="queue-rows"')
    assert rows(fragment.text) == ["Oldest mail", "Newest mail"]
    assert 'data-live="/queue/rows?channel=email"' in fragment.text


def test_mine_and_unassigned(app: App) -> None:
    desk = agent_client(app, "ana")  # before the directory is first read
    ingest(app, mail(1, subject="First"), mail(2, subject="Second", sender="bo@example.com"))
    [first] = [r for r in (desk.get("/")).text.split("data-id=\"")[1:2]]
    conv_id = int(first.split('"')[0])
    assert (desk.post(f"/c/{conv_id}/assign", data={"assignee": "me"})).status_code == 200
    assert len(rows((desk.get("/", params={"mine": "1"})).text)) == 1
    assert len(rows((desk.get("/", params={"unassigned": "1"})).text)) == 1
    assert len(rows((desk.get("/")).text)) == 2


def test_customer_text_is_escaped_and_reads_in_its_own_direction(app: App) -> None:
    ingest(app, mail(1, subject="<script>window.pwned=1</script>",
                     name="<img src=x onerror=alert(1)>"))
    page = (agent_client(app, "ana").get("/")).text
    assert "<script>window" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page
    assert '<td dir="auto">&lt;img src=x onerror=alert(1)&gt;</td>' in page


def test_a_stranger_is_sent_to_sign_in(app: App) -> None:
    desk = agent_client(app, "ana")
    desk.cookies.clear()
    answer = desk.get("/", headers={"HX-Request": ""}, follow_redirects=False)
    assert answer.status_code in (303, 401)


def test_attachment_names_are_kept_and_cannot_break_the_header() -> None:
    said = content_disposition('faktura "x";\r\nSet-Cookie: a=b.pdf')
    assert "\r" not in said and "\n" not in said
    assert said.startswith('attachment; filename="faktura _x__')
    assert "filename*=UTF-8''faktura%20%22x%22%3B%0D%0ASet-Cookie" in said
