"""The conversation's language on the desk, in process on both databases: shown in its
own name with where it came from, changed by an agent (for the conversation or also the
contact), and refused without the page's CSRF token, for a language not served, and on
a conversation the agent may not see. The browser side is test_language_browser.py."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.desk import accounts
from inbox.runtime.app import App
from inbox.store.models import Contact, Conversation, Event
from tests.web.desk_helpers import agent_client, ingest, mail

PERSIAN = "سلام، سفارش من هنوز نرسیده است. لطفاً بگویید کی به دستم می‌رسد؟ ممنون"
THAI = "สวัสดีค่ะ สั่งซื้อสินค้าไปเมื่อสัปดาห์ที่แล้ว ยังไม่ได้รับของเลยค่ะ ช่วยตรวจสอบให้หน่อย"


def chosen(app: App, cid: int = 1) -> tuple[str | None, str | None, str | None, str | None]:
    """The conversation's language and source, and its contact's."""
    with Session(app.engine) as s:
        conv = s.get(Conversation, cid)
        assert conv is not None
        contact = s.get(Contact, conv.contact_id)
        assert contact is not None
        return conv.language, conv.language_source, contact.language, contact.language_source


def language_events(app: App) -> int:
    with Session(app.engine) as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Event).where(
            col(Event.kind) == "language")) or 0


def test_the_page_shows_the_language_in_its_own_name_and_where_it_came_from(app: App) -> None:
    ana = agent_client(app, "ana")
    ingest(app, mail(1, subject="", text=PERSIAN, sender="reza@example.ir", name="Reza"),
           mail(2, subject="", text=THAI, sender="som@example.th", name="Somchai"))
    page = ana.get("/c/1").text
    assert '<bdi lang="fa">فارسی</bdi> (fa) — <span class="source">detected</span>' in page
    assert 'action="/c/1/language"' in page and '<option value="auto">Automatic</option>' in page
    for code, name in [("th", "ไทย"), ("pl", "Polski"), ("tl", "Tagalog"),
                       ("vi", "Tiếng Việt"), ("en", "English")]:
        assert f'<option value="{code}" lang="{code}">{name}</option>' in page
    assert "Also for this contact's next conversations" in page
    assert '<bdi lang="th">ไทย</bdi> (th)' in ana.get("/c/2").text
    queue = ana.get("/").text  # the row's tag names the language when pointed at
    assert '<span class="lang" title="فارسی">fa</span>' in queue
    assert '<span class="lang" title="ไทย">th</span>' in queue


def test_an_agent_changes_it_for_the_contact_and_hands_it_back(app: App) -> None:
    ana = agent_client(app, "ana")
    ingest(app, mail(1, subject="", text=PERSIAN, sender="reza@example.ir", name="Reza"))
    done = ana.post("/c/1/language", data={"language": "en", "contact": "1"})
    assert done.status_code == 200 and done.headers["HX-Trigger"] == "desk-done"
    assert '<bdi lang="en">English</bdi> (en) — <span class="source">set by ana</span>' \
        in done.text
    assert chosen(app) == ("en", "agent", "en", "agent")
    page = ana.get("/c/1").text  # the select keeps the agent's choice
    assert '<option value="en" lang="en" selected>English</option>' in page
    assert "language set to en by \u2068ana\u2069 and as the contact&#39;s preference (was fa)" in \
        ana.get("/c/1/trail").text

    back = ana.post("/c/1/language", data={"language": "auto"})
    assert back.status_code == 200
    assert "— <span class=\"source\">chosen again at the customer&#39;s next message</span>" \
        in back.text
    assert chosen(app) == ("en", None, "en", "agent")  # the contact's preference stays


def test_a_plain_form_post_goes_back_to_the_page(app: App) -> None:
    ana = agent_client(app, "ana")
    ana.headers.pop("HX-Request")
    ingest(app, mail(1, subject="", text=THAI, sender="som@example.th", name="Somchai"))
    done = ana.post("/c/1/language", data={"language": "vi"})
    assert done.status_code == 303 and done.headers["location"] == "/c/1"
    assert chosen(app) == ("vi", "agent", None, None)


def test_a_language_not_served_is_refused_with_the_reason(app: App) -> None:
    ana = agent_client(app, "ana")
    ingest(app, mail(1, subject="", text=THAI, sender="som@example.th", name="Somchai"))
    before, events = chosen(app), language_events(app)
    for wanted in ("de", "", "<b>fa</b>"):
        refused = ana.post("/c/1/language", data={"language": wanted, "contact": "1"})
        assert refused.status_code == 422, wanted
        assert "is not a language this deployment serves" in refused.text
        assert refused.headers["HX-Retarget"] == "#problem"
    assert chosen(app) == before and language_events(app) == events


def test_changing_it_needs_the_pages_csrf_token(app: App) -> None:
    ana = agent_client(app, "ana")
    ingest(app, mail(1, subject="", text=THAI, sender="som@example.th", name="Somchai"))
    before = chosen(app)
    ana.headers.pop("X-CSRF-Token")
    forged = ana.post("/c/1/language", data={"language": "en", "csrf": "0" * 64})
    bare = ana.post("/c/1/language", data={"language": "en"})
    assert [forged.status_code, bare.status_code] == [403, 403]
    assert chosen(app) == before


def test_an_agent_who_may_not_see_it_changes_nothing(app: App) -> None:
    ingest(app, mail(1, subject="", text=THAI, sender="som@example.th", name="Somchai"))
    with Session(app.engine) as s, s.begin():
        for team in ("billing", "tech"):
            accounts.add_team(s, team, datetime.now(UTC))
        conv = s.get(Conversation, 1)
        assert conv is not None
        conv.team = "tech"
    before = chosen(app)
    ana = agent_client(app, "ana", teams=("billing",))
    refused = ana.post("/c/1/language", data={"language": "en", "contact": "1"})
    assert refused.status_code == 404 and "no conversation 1" in refused.text
    assert chosen(app) == before
