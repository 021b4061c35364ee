"""Searching from the queue, in Chromium against a real `inbox run`: `/` goes to the
search box, and a word found inside a Thai run without spaces narrows the queue."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.peers import free_port
from tests.web.conftest import DeskProcess, Watched
from tests.web.desk_helpers import ingest, mail
from tests.web.test_desk_pages import deployment_app


def test_the_queue_searches_inside_thai_words_and_says_when_a_query_is_too_short(
        desk: DeskProcess, agent_page: Watched) -> None:
    tag = str(free_port())
    app = deployment_app(desk)
    try:
        ingest(app, mail(free_port(), subject=f"สินค้าเสียหายระหว่างจัดส่ง {tag}",
                         sender=f"somsak{tag}@example.th", name="สมศักดิ์ ใจดี"),
               mail(free_port(), subject=f"Reklamacja zamówienia {tag}",
                    sender=f"zofia{tag}@example.pl", name="Zofia Wójcik"))
    finally:
        app.close()
    page = agent_page.page
    page.goto(f"{desk.url}/")
    page.keyboard.press("/")
    expect(page.locator("#f-q")).to_be_focused()
    page.keyboard.type(f"เสียหาย {tag}")
    page.keyboard.press("Enter")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("สมศักดิ์ ใจดี")
    page.locator("#f-q").fill("zb")
    page.locator("#f-q").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("at least 3 characters")
