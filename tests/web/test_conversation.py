"""A conversation's page and what agents do there, through inbox.desk.actions, in
process; the browser side is in test_desk_pages.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from channels.base import InboundAttachment
from inbox.core.vocab import Role
from inbox.desk import views
from inbox.runtime.app import App
from inbox.store.models import Conversation, Outbox
from tests.web.desk_helpers import agent_client, ingest, mail


def shown(app: App, conv_id: int = 1) -> dict[str, Any]:
    with Session(app.engine) as s:
        found = views.conversation(s, conv_id, datetime.now(UTC), app.secret)
    assert found is not None
    return found


def test_the_page_shows_every_message_escaped_with_its_direction_and_the_trail(
        app: App) -> None:
    desk = agent_client(app, "ana")
    ingest(app, mail(1, subject="<b>Order</b> 42", text="سلام\n<script>window.pwned=1</script>"))
    page = (desk.get("/c/1")).text
    assert '<div class="text" dir="auto">سلام\n&lt;script&gt;window.pwned=1&lt;/script&gt;</div>' \
        in page
    assert "&lt;b&gt;Order&lt;/b&gt; 42" in page and "<b>Order" not in page
    assert 'data-load="/c/1/trail"' in page, page  # read when opened
    assert "ack queued" in desk.get("/c/1/trail").text  # in the words `inbox show` uses
    assert 'sse-connect="/events?conversation=1"' in page
    assert "Subject: <span dir=\"auto\">Re: &lt;b&gt;Order&lt;/b&gt; 42 [#1-" in page
    assert (desk.get("/c/99")).status_code == 404


def test_reply_note_assign_and_status_go_through_the_desk_actions(app: App) -> None:
    desk = agent_client(app, "ana")
    ingest(app, mail(1))
    answer = desk.post("/c/1/reply", data={"text": "It left today."})
    assert answer.status_code == 200 and answer.text.startswith('<section id="conv-live"')
    assert "It left today." in answer.text and answer.headers["HX-Trigger"] == "desk-done"
    with Session(app.engine) as s:
        [_ack, reply] = s.query(Outbox).order_by(Outbox.id).all()
        assert (reply.kind, reply.recipient) == ("reply", "anna@example.com")
    desk.post("/c/1/note", data={"text": "Called the courier."})
    desk.post("/c/1/assign", data={"assignee": "me"})
    conv = shown(app)
    assert conv["assignee"] == "ana"
    assert [m["kind"] for m in conv["messages"]] == ["customer", "auto-ack", "agent", "note"]
    snooze = desk.post("/c/1/status", data={"status": "snoozed",
                                                 "until": "2099-01-02T09:30",
                                                 "tz": "Asia/Tehran"})
    assert snooze.status_code == 200
    assert shown(app)["sla"]["snoozed_until"] == "2099-01-02T06:00:00Z"
    desk.post("/c/1/status", data={"status": "resolved"})
    assert shown(app)["status"] == "resolved"
    desk.post("/c/1/status", data={"status": "open"})
    assert shown(app)["status"] == "open"


def test_refusals_say_why_where_the_page_shows_problems(app: App) -> None:
    desk = agent_client(app, "ana")
    agent_client(app, "bo")
    ingest(app, mail(1))
    for path, data, status, why in [
            ("/c/1/reply", {"text": "  "}, 422, "write something first"),
            ("/c/1/assign", {"assignee": "bo"}, 403, "only a supervisor"),
            ("/c/1/assign", {"team": "billing"}, 403, "only a supervisor"),
            ("/c/1/status", {"status": "snoozed", "until": "2000-01-01T00:00"}, 422, "past"),
            ("/c/1/status", {"status": "closed"}, 422, "unknown status"),
            ("/c/7/note", {"text": "x"}, 404, "no conversation 7")]:
        answer = desk.post(path, data=data)
        assert (answer.status_code, answer.headers["HX-Retarget"]) == (status, "#problem"), path
        assert why in answer.text
    assert shown(app)["assignee"] is None


def test_a_supervisor_gives_work_to_others(app: App) -> None:
    agent_client(app, "bo")  # both before the directory is first read
    boss = agent_client(app, "kim", Role.SUPERVISOR)
    ingest(app, mail(1))
    assert (boss.post("/c/1/assign", data={"assignee": "bo"})).status_code == 200
    assert shown(app)["assignee"] == "bo"
    page = (boss.get("/c/1")).text
    assert '<select id="assign-to" name="assignee">' in page
    agent = agent_client(app, "ana")
    assert '<select id="assign-to"' not in (agent.get("/c/1")).text


def test_without_script_a_form_post_comes_back_to_the_page(app: App) -> None:
    desk = agent_client(app, "ana")
    ingest(app, mail(1))
    del desk.headers["HX-Request"]
    answer = desk.post("/c/1/note", data={"text": "plain form"}, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/c/1")


def test_attachments_download_and_never_render(app: App) -> None:
    desk = agent_client(app, "ana")
    html = InboundAttachment("<img src=x onerror=alert(1)>.html", "text/html",
                             b"<script>alert(1)</script>")
    ingest(app, mail(1, channel="telegram", attachments=(html,)))
    page = (desk.get("/c/1")).text
    [link] = re.findall(r'href="(/c/1/a/\d+)" download', page)
    answer = desk.get(link)
    assert answer.content == b"<script>alert(1)</script>"
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"].startswith("attachment; ")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in answer.headers["content-security-policy"]
    ingest(app, mail(2, sender="bo@example.com"))
    with Session(app.engine) as s:
        assert s.get(Conversation, 2) is not None
    assert (desk.get(link.replace("/c/1/", "/c/2/"))).status_code == 404
