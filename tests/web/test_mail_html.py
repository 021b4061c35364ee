"""A customer's HTML mail in Chromium, against a real `inbox run`: shown as written in
its sandboxed frame, running nothing, calling no one until the agent asks for remote
images; Persian reads right to left; quoted text folded in the text view.

The "remote" host is an HTTP server of the test's own on 127.0.0.1 (another origin
than the desk): it records every request, so "no request left" is what it saw."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Frame, Page, expect
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.desk import actions
from inbox.runtime.app import App
from inbox.store.models import Conversation
from tests.peers import WAIT, free_port
from tests.web.conftest import INBOX, DeskProcess, Watched, opened_live, operator_env
from tests.web.test_desk_pages import deployment_app
from tests.web.test_mailview import PIXEL


class Remote(ThreadingHTTPServer):
    """Somebody else's server: a tracker, a shop. Answers a 1x1 PNG to anything."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Pixel)
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_for(self, path: str) -> None:
        deadline = time.monotonic() + WAIT
        while path not in self.paths:
            if time.monotonic() > deadline:
                pytest.fail(f"{path} was never asked for; asked: {self.paths}")
            time.sleep(0.02)  # polling a condition with a deadline


class _Pixel(BaseHTTPRequestHandler):
    server: Remote

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PIXEL)))
        self.end_headers()
        self.wfile.write(PIXEL)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def remote() -> Iterator[Remote]:
    server = Remote()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def deliver(desk: DeskProcess, directory: Path, text: str, html: str | None = None,
            subject: str = "Order") -> str:
    """A mail from a new customer, ingested as an operator would; its subject."""
    tag = str(free_port())
    m = EmailMessage()
    m["From"], m["To"] = f"Customer {tag} <c{tag}@example.net>", "support@helpdesk.test"
    m["Subject"], m["Message-ID"] = f"{subject} {tag}", f"<mail{tag}@example.net>"
    m.set_content(text)
    if html is not None:
        m.add_alternative(html, subtype="html")
    path = directory / f"{tag}.eml"
    path.write_bytes(bytes(m))
    subprocess.run([*INBOX, "ingest", "--no-ack", str(path)], cwd=desk.directory,
                   env=operator_env(), check=True, capture_output=True)
    return f"{subject} {tag}"


def open_conversation(page: Page, desk: DeskProcess, subject: str) -> None:
    page.goto(f"{desk.url}/")
    opened_live(page, page.get_by_role("link", name=subject).click)
    expect(page.locator("#conv-title")).to_contain_text(subject)


def mail_frame(page: Page) -> Frame:
    handle = page.locator("iframe[name^=mail-]").element_handle()
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    return frame


def test_a_hostile_html_mail_runs_nothing_and_calls_no_one_until_asked(
        desk: DeskProcess, agent_page: Watched, remote: Remote, tmp_path: Path) -> None:
    html = ("<p>Your order 4711 is on its way.</p><script>window.pwned=1</script>"
            '<img src="x" onerror="window.pwned=2;window.top.pwned=2">'
            f'<img src="{remote.url}/pixel.png" alt="tracking pixel">'
            f'<div style="background:url({remote.url}/background.png)">Background</div>'
            f'<form action="{remote.url}/steal"><input name="card"><button>Pay</button></form>'
            f'<a href="{remote.url}/track">Track your order</a>')
    subject = deliver(desk, tmp_path, "Your order 4711 is on its way.", html)
    page = agent_page.page
    open_conversation(page, desk, subject)
    expect(page.frame_locator("iframe[name^=mail-]").get_by_text(
        "Your order 4711 is on its way.")).to_be_visible()
    frame = mail_frame(page)
    frame.wait_for_load_state("load")  # images included: whatever it would fetch, it has
    expect(frame.get_by_role("link", name="Track your order")).to_be_visible()
    assert frame.evaluate("typeof window.pwned") == "undefined"
    assert page.evaluate("typeof window.pwned") == "undefined"
    # Its own origin: the frame can neither read the desk nor act in it.
    assert frame.evaluate("window.origin") == "null"
    assert frame.evaluate("() => { try { return parent.document.title } "
                          "catch (e) { return e.name } }") == "SecurityError"
    assert remote.paths == []  # the pixel, the background, nothing was asked for

    page.get_by_role("link", name="Show remote images").click()
    remote.wait_for("/pixel.png")  # now, and only now
    frame = mail_frame(page)
    expect(frame.get_by_role("img", name="tracking pixel")).to_be_visible()
    assert frame.evaluate("typeof window.pwned") == "undefined"
    assert "/background.png" not in remote.paths and "/steal" not in remote.paths
    with page.context.expect_page() as opened:  # a link opens a tab of its own
        frame.get_by_role("link", name="Track your order").click()
    tab = opened.value
    tab.wait_for_url(f"{remote.url}/track")
    assert tab.evaluate("window.opener") is None  # noopener: it cannot reach the desk
    assert agent_page.errors == []


def remote_image_loaded(page: Page) -> bool:
    """Whether the mail's frame, as it is now, drew the tracking pixel from its host
    (False while a refresh replaces the frame under the question)."""
    try:
        return bool(mail_frame(page).evaluate(
            "() => { const i = document.querySelector('img[alt=\"tracking pixel\"]');"
            " return i !== null && i.complete && i.naturalWidth > 0 }"))
    except (PlaywrightError, AssertionError):  # detached, or not yet attached
        return False


def test_remote_images_once_asked_for_stay_shown_through_live_refreshes(
        desk: DeskProcess, agent_page: Watched, remote: Remote, tmp_path: Path) -> None:
    """The agent's choice holds for that message while the page is open: a colleague's
    note (pushed live) or the agent's own one re-renders the conversation, and the
    images stay. A new page asks again: no tracker learns of a later look unasked."""
    html = f'<p>Your order</p><img src="{remote.url}/pixel.png" alt="tracking pixel">'
    subject = deliver(desk, tmp_path, "Your order", html)
    page = agent_page.page
    open_conversation(page, desk, subject)
    page.get_by_role("link", name="Show remote images").click()
    remote.wait_for("/pixel.png")
    until_loaded(page)

    app = deployment_app(desk)
    try:
        conv = conversation_of(app, subject)
        with Session(app.engine) as s, s.begin():
            actions.note(s, conv, "Checked with the courier.", author="Colleague",
                         now=datetime.now(UTC))
    finally:
        app.close()
    expect(page.locator(".message.kind-note")).to_contain_text("Checked with the courier.",
                                                                timeout=WAIT * 1000)
    until_loaded(page)
    page.get_by_label("Internal note (never sent)").fill("Told the customer.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".message.kind-note")).to_have_count(2)
    until_loaded(page)

    page.reload()
    img = page.frame_locator("iframe[name^=mail-]").get_by_role("img", name="tracking pixel")
    expect(img).to_be_attached()
    assert img.get_attribute("src") is None  # blocked again until asked
    assert agent_page.errors == []


def until_loaded(page: Page) -> None:
    """Until the frame on the page now shows the remote image (fails after WAIT)."""
    deadline = time.monotonic() + WAIT
    while not remote_image_loaded(page):
        if time.monotonic() > deadline:
            pytest.fail(f"the remote image is not shown within {WAIT}s")
        time.sleep(0.05)  # polling a condition with a deadline


def conversation_of(app: App, subject: str) -> int:
    with Session(app.engine) as s:
        found: int | None = s.scalar(sa.select(col(Conversation.id)).where(
            col(Conversation.subject) == subject))
    assert found is not None
    return found


def test_persian_mail_reads_right_to_left_and_quotes_are_folded(
        desk: DeskProcess, agent_page: Watched, tmp_path: Path) -> None:
    words = "سلام، سفارش من هنوز نرسیده است."
    subject = deliver(desk, tmp_path, words, f"<p>{words}</p>", subject="سفارش")
    page = agent_page.page
    open_conversation(page, desk, subject)
    body = page.frame_locator("iframe[name^=mail-]").locator("body")
    expect(body).to_contain_text(words)
    assert body.evaluate("b => getComputedStyle(b).direction") == "rtl"

    reply = ("It still has not come.\n\n"
             "On Mon, 3 Mar 2025 at 10:12, Support <support@helpdesk.test> wrote:\n"
             "> Your parcel left today.\n")
    open_conversation(page, desk, deliver(desk, tmp_path, reply, subject="Re: Parcel"))
    expect(page.get_by_text("It still has not come.")).to_be_visible()
    quoted = page.get_by_text("Your parcel left today.")
    expect(quoted).to_be_hidden()
    page.get_by_text("Show quoted text").click()
    expect(quoted).to_be_visible()
