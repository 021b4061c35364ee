"""Escalating in Chromium against a real `inbox run`: an agent asks, a supervisor finds
it in the Escalations view with the reason, and marks it handled."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import Browser, expect

from tests.peers import WAIT, free_port
from tests.web.conftest import DeskProcess, Watched, add_agent, sign_in, watch
from tests.web.desk_helpers import ingest, mail
from tests.web.test_desk_pages import deployment_app, subject

REASON = "Asks for 500 EUR back — over my limit. ขอคืนเงิน"


def test_an_agent_escalates_and_a_supervisor_handles_it(
        desk: DeskProcess, agent_page: Watched, browser: Browser) -> None:
    app = deployment_app(desk)
    late = subject(1)
    ingest(app, mail(free_port(), subject=late, sender=f"e{free_port()}@example.com",
                     at=datetime.now(UTC)))
    app.close()
    page = agent_page.page
    page.goto(desk.url + "/")
    page.locator("#queue-rows a", has_text=late).click()
    page.get_by_label("Why escalate to a supervisor?").fill(REASON)
    page.get_by_role("button", name="Escalate").click()
    banner = page.locator("#conv-live .escalation")
    expect(banner).to_contain_text("Escalated to the supervisors")
    expect(banner.locator(".reason")).to_have_text(REASON)
    expect(page.get_by_role("button", name="Mark handled")).to_have_count(0)

    email, password = add_agent(desk, f"Boss{free_port()}", role="supervisor")
    for watched in watch(browser):
        boss = watched.page
        sign_in(boss, desk.url, email, password)
        boss.get_by_role("link", name=re.compile(r"^Escalations \(\d+\)$")).click()
        row = boss.locator("#queue-rows tr", has_text=late)
        expect(row.locator(".escalated .reason")).to_have_text(REASON)
        row.get_by_role("link", name=late).click()
        expect(boss.locator("#conv-live .escalation .reason")).to_have_text(REASON)
        with boss.expect_response(lambda r: r.url.endswith("/escalation/handled")) as done:
            boss.get_by_role("button", name="Mark handled").click()
        assert done.value.status in (200, 303), done.value.text()
        expect(boss.locator("#conv-live .escalation")).to_have_count(0, timeout=WAIT * 1000)
        boss.locator(".trail summary").click()  # "Why did this happen?", read when opened
        expect(boss.locator(".trail")).to_contain_text("handled by")
        boss.goto(desk.url + "/?escalated=1")
        expect(boss.locator("#queue-rows tr", has_text=late)).to_have_count(0)
        assert watched.console_errors() == [] and watched.errors == []
    expect(banner).to_have_count(0, timeout=WAIT * 1000)  # the agent's page heard it, live
