"""A conversation's language in Chromium against a real `inbox run`: an agent sees a
Persian conversation's language in its own name and that it was detected, answers it in
English from now on, for the contact too, and the page and its trail say who chose it.
Persian and Thai read as their readers expect: right to left, and not clipped."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.peers import WAIT, free_port
from tests.web.conftest import DeskProcess, add_agent, opened_live, sign_in, watch
from tests.web.desk_helpers import ingest, mail
from tests.web.test_desk_pages import deployment_app

PERSIAN = "سلام، سفارش من هنوز نرسیده است. لطفاً بگویید کی به دستم می‌رسد؟ ممنون"
THAI = "สวัสดีค่ะ สั่งซื้อสินค้าไปเมื่อสัปดาห์ที่แล้ว ยังไม่ได้รับของเลยค่ะ ช่วยตรวจสอบให้หน่อย"


def customers_write(desk: DeskProcess) -> tuple[str, str]:
    """A Persian and a Thai customer's mails, as the e-mail connector hands them over;
    the queue shows each by its text (unique to this test)."""
    tag = free_port()
    persian, thai = f"{PERSIAN} {tag}", f"{THAI} {tag}"
    app = deployment_app(desk)
    ingest(app, mail(tag, subject="", text=persian, sender=f"reza{tag}@example.ir",
                     name="رضا احمدی", at=datetime.now(UTC)),
           mail(tag + 1, subject="", text=thai, sender=f"som{tag}@example.th",
                name="สมชาย ใจดี", at=datetime.now(UTC)))
    app.close()
    return persian, thai


def open_row(page: Page, text: str) -> None:
    page.locator("#queue-rows a", has_text=text).click()


def text_hugs_the_right(page: Page, text: str) -> bool:
    """Whether the message's text ends at its block's right edge (right to left)."""
    found: bool = page.locator(".message .text", has_text=text).evaluate(
        "el => { const r = document.createRange(); r.selectNodeContents(el);"
        " const t = r.getBoundingClientRect(), b = el.getBoundingClientRect();"
        " return getComputedStyle(el).direction === 'rtl'"
        " && Math.abs(b.right - t.right) < 2 && t.left - b.left > 20; }")
    return found


def unclipped(page: Page, text: str) -> bool:
    """Whether the text's block shows all of it: nothing hidden above or below (Thai
    vowel and tone marks stack over and under the line)."""
    found: bool = page.locator(".message .text", has_text=text).evaluate(
        "el => el.scrollHeight <= el.clientHeight + 1 && el.scrollWidth <= el.clientWidth + 1")
    return found


def test_an_agent_sees_persian_detected_and_answers_in_english_for_the_contact(
        desk: DeskProcess, browser: Browser, tmp_path: Path) -> None:
    persian, thai = customers_write(desk)
    name = f"Kim{free_port()}"
    email, password = add_agent(desk, name)
    for watched in watch(browser, viewport={"width": 1100, "height": 900}):
        page = watched.page
        sign_in(page, desk.url, email, password)
        opened_live(page, partial(open_row, page, thai))
        expect(page.locator("#conv-live .language")).to_have_text(re.compile(
            r"^ไทย \(th\) — detected$"))
        assert unclipped(page, thai)
        page.screenshot(path=tmp_path / "thai.png", full_page=True)

        page.goto(desk.url + "/")
        opened_live(page, partial(open_row, page, persian))
        language = page.locator("#conv-live .language")
        expect(language).to_have_text(re.compile(r"^فارسی \(fa\) — detected$"))
        assert text_hugs_the_right(page, persian) and unclipped(page, persian)
        page.screenshot(path=tmp_path / "persian.png", full_page=True)

        page.get_by_label("Answer in").select_option(label="English")
        page.get_by_label("Also for this contact's next conversations").check()
        with page.expect_response(lambda r: r.url.endswith("/language")) as done:
            page.get_by_role("button", name="Set language").click()
        assert done.value.status in (200, 303), done.value.text()
        expect(language).to_have_text(f"English (en) — set by {name}", timeout=WAIT * 1000)
        page.locator(".trail summary").click()  # "Why did this happen?", read when opened
        expect(page.locator(".trail")).to_contain_text(
            re.compile(rf"language set to en by \W?{name}\W? and as the contact's preference "
                       r"\(was fa\)"))
        page.reload()  # a new page: the agent's choice is what the select shows
        expect(page.get_by_label("Answer in")).to_have_value("en")
        assert watched.console_errors() == [] and watched.errors == []
