"""The queue and a conversation in Chromium, against a real `inbox run`: what an agent
sees and does, live updates, keys, direction, accessibility."""

from __future__ import annotations

import os
import subprocess
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from inbox.core.config import load_settings
from inbox.runtime.app import App
from tests.peers import PASSWORD, WAIT, Dovecot, SmtpSink, free_port, merged, toml
from tests.web.conftest import (
    INBOX,
    DeskProcess,
    Watched,
    add_agent,
    axe_violations,
    make_deployment,
    operator_env,
    sign_in,
    start_desk,
)
from tests.web.desk_helpers import ingest, mail

PERSIAN = "سلام، سفارش من هنوز نرسیده است"


def deployment_app(desk: DeskProcess) -> App:
    """The desk's deployment as another process sees it (a connector would write so)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX_")}
    return App(load_settings(desk.directory / "inbox.toml", env))


def subject(n: int) -> str:
    return f"Order {n} late {free_port()}"  # unique across this folder's tests


@pytest.fixture
def queue_page(desk: DeskProcess, agent_page: Watched) -> Iterator[tuple[App, Page]]:
    app = deployment_app(desk)
    yield app, agent_page.page
    app.close()


def test_email_and_telegram_in_one_queue_by_sla_persian_right_to_left(
        desk: DeskProcess, queue_page: tuple[App, Page]) -> None:
    app, page = queue_page
    now, late = datetime.now(UTC), subject(1)
    ingest(app, mail(free_port(), subject=late, at=now - timedelta(hours=1),
                     sender=f"e{free_port()}@example.com"),
           mail(free_port(), channel="telegram", text=PERSIAN, at=now - timedelta(hours=3),
                sender=str(free_port()), name="Dariush"))
    page.goto(desk.url + "/?status=open")
    chat = page.locator("#queue-rows tr", has_text=PERSIAN)
    email = page.locator("#queue-rows tr", has_text=late)
    expect(chat).to_have_count(1)
    order = page.locator("#queue-rows tr").evaluate_all(
        "rows => rows.map(r => r.textContent)")
    assert next(i for i, t in enumerate(order) if PERSIAN in t) < \
        next(i for i, t in enumerate(order) if late in t)
    assert chat.get_by_role("link").evaluate("a => getComputedStyle(a).direction") == "rtl"
    assert email.get_by_role("link").evaluate("a => getComputedStyle(a).direction") == "ltr"
    assert "telegram" in chat.inner_text() and "email" in email.inner_text()
    assert page.title().startswith("(")  # the tab counts what waits
    expect(chat.locator("td.sla")).to_have_class("sla sla-ok")


def test_keys_alone_open_a_conversation(desk: DeskProcess,
                                        queue_page: tuple[App, Page]) -> None:
    app, page = queue_page
    text = subject(2)
    ingest(app, mail(free_port(), subject=text, sender=f"k{free_port()}@example.com",
                     at=datetime.now(UTC) - timedelta(hours=20)))  # the most urgent
    page.goto(desk.url + "/")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{desk.url}/c/*")
    expect(page.get_by_role("heading", level=1)).to_contain_text(text)
    page.keyboard.press("?")
    expect(page.locator("dialog#keys")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    assert page.evaluate("document.activeElement.id") == "note-text"


def test_a_new_mail_appears_on_the_open_queue_without_a_reload(
        desk: DeskProcess, queue_page: tuple[App, Page], tmp_path: Path) -> None:
    _, page = queue_page
    page.goto(desk.url + "/")
    page.evaluate("window.sameDocument = true")
    expect(page.locator("#queue-rows")).to_be_attached()
    page.wait_for_function("document.querySelector('[sse-connect]') && "
                           "htmx.find('[sse-connect]')['htmx-internal-data'].sseEventSource"
                           ".readyState === 1")
    text = subject(3)
    raw = EmailMessage()
    raw["From"], raw["To"] = f"live{free_port()}@example.com", "support@helpdesk.test"
    raw["Subject"], raw["Message-ID"] = text, f"<live{free_port()}@example.com>"
    raw.set_content("It is still not here.")
    (tmp_path / "new.eml").write_bytes(bytes(raw))
    # `inbox ingest` in a shell: another process writes the mail
    subprocess.run([*INBOX, "ingest", str(tmp_path / "new.eml")], cwd=desk.directory,
                   env=operator_env(), check=True, capture_output=True)
    expect(page.locator("#queue-rows tr", has_text=text)).to_have_count(1, timeout=WAIT * 1000)
    assert page.evaluate("window.sameDocument") is True


def test_note_snooze_resolve_in_the_browser(desk: DeskProcess,
                                           queue_page: tuple[App, Page]) -> None:
    app, page = queue_page
    text = subject(4)
    ingest(app, mail(free_port(), subject=text, sender=f"n{free_port()}@example.com"))
    page.goto(desk.url + "/")
    page.locator("#queue-rows a", has_text=text).click()
    page.get_by_label("Internal note (never sent)").fill("Asked the warehouse.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".message.kind-note")).to_contain_text("Asked the warehouse.")
    expect(page.get_by_label("Internal note (never sent)")).to_have_value("")
    page.get_by_label("Snooze until").fill(
        (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT09:00"))
    page.get_by_role("button", name="Snooze").click()
    expect(page.locator("dd.status")).to_contain_text("snoozed until")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("dd.status")).to_have_text("resolved")
    page.get_by_role("button", name="Assign to me").click()
    expect(page.locator("dd.assignee")).not_to_have_text("nobody")


def test_queue_and_conversation_have_no_serious_accessibility_violation(
        desk: DeskProcess, axe_page: Watched) -> None:
    email, password = add_agent(desk, f"Axe{free_port()}")
    sign_in(axe_page.page, desk.url, email, password)
    axe_page.page.wait_for_url(f"{desk.url}/")
    app = deployment_app(desk)
    ingest(app, mail(free_port(), subject=subject(5), text=PERSIAN,
                     sender=f"a{free_port()}@example.com"))
    app.close()
    axe_page.page.goto(desk.url + "/")
    assert axe_violations(axe_page.page) == []
    axe_page.page.locator("#queue-rows a").first.click()
    axe_page.page.wait_for_url(f"{desk.url}/c/*")
    assert axe_violations(axe_page.page) == []


# ------------------------------------------------------- a reply through SMTP, threaded

@pytest.fixture
def mail_desk(tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[DeskProcess]:
    """`inbox run` with an e-mail account on the private Dovecot and the SMTP sink."""
    monkeypatch.setenv("DESK_TEST_IMAP_PASSWORD", PASSWORD)
    support = dovecot.add_user(f"support-{free_port()}@helpdesk.test")
    port = free_port()
    directory = make_deployment(tmp_path / "mail-desk", port)
    config = directory / "inbox.toml"
    config.write_text(toml(merged(tomllib.loads(config.read_text()), {
        "addresses": [support], "domain": "helpdesk.test",
        "outbox": {"poll_seconds": 0.05},
        "channels": {"email": {"support": {
            "address": support,
            "imap": {"host": dovecot.host, "port": dovecot.port, "security": "none",
                     "password_env": "DESK_TEST_IMAP_PASSWORD"},
            "smtp": {"host": smtp_sink.host, "port": smtp_sink.port,
                     "security": "none"}}}}})))
    running = start_desk(directory, port)
    running.support = support  # type: ignore[attr-defined]
    yield running
    assert running.stop() == 0, running.output()


def test_a_reply_from_the_browser_arrives_threaded(mail_desk: DeskProcess, page: Watched,
                                                   dovecot: Dovecot,
                                                   smtp_sink: SmtpSink) -> None:
    support: str = mail_desk.support  # type: ignore[attr-defined]
    raw = EmailMessage()
    raw["From"], raw["To"] = "Anna <anna@example.com>", support
    raw["Subject"], raw["Message-ID"] = "Parcel missing", "<parcel-1@example.com>"
    raw.set_content("Where is it?")
    dovecot.append(support, bytes(raw))
    email, password = add_agent(mail_desk, "Replier")
    sign_in(page.page, mail_desk.url, email, password)
    row = page.page.locator("#queue-rows a", has_text="Parcel missing")
    expect(row).to_have_count(1, timeout=WAIT * 1000)  # fetched by the daemon, live
    row.click()
    expect(page.page.get_by_text("Subject: Re: Parcel missing [#")).to_be_visible()
    page.page.get_by_label("Your reply").fill("It is on its way.")
    page.page.get_by_role("button", name="Send reply").click()
    expect(page.page.locator(".message.kind-agent")).to_contain_text("It is on its way.")
    sent = [BytesParser(policy=default).parsebytes(r.data)
            for r in smtp_sink.wait_for(2)]  # the acknowledgement, then the reply
    reply = next(m for m in sent if "It is on its way." in m.get_content())
    assert reply["In-Reply-To"] == "<parcel-1@example.com>"
    assert reply["To"] == "Anna <anna@example.com>" and reply["Subject"].startswith(
        "Re: Parcel missing [#")
    expect(page.page.locator(".message.kind-agent .delivery")).to_contain_text(
        "sent", timeout=WAIT * 1000)  # and the open page heard it went
