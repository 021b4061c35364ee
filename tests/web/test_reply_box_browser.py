"""The reply box in Chromium, against a real `inbox run` with an e-mail account and a
Telegram bot (on the local Bot API server): an e-mail conversation's box carries the
customer's Cc; a Telegram one counts as Telegram does and says when a reply goes out
in parts."""

from __future__ import annotations

import asyncio
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.channels.telegram.bot_api import TOKEN, TelegramServer
from tests.peers import free_port, merged, toml
from tests.web.conftest import (
    DeskProcess,
    Watched,
    add_agent,
    make_deployment,
    sign_in,
    start_desk,
)
from tests.web.desk_helpers import ingest, mail
from tests.web.test_desk_pages import deployment_app


@pytest.fixture
def bot_api() -> Iterator[TelegramServer]:
    """The local Bot API server, on an event loop of its own thread (Playwright's sync
    API holds this one)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(TelegramServer().start(), loop).result()
    server.add_bot(TOKEN, "acme_support_bot")
    yield server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result()
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


@pytest.fixture
def chat_desk(tmp_path: Path, bot_api: TelegramServer) -> Iterator[DeskProcess]:
    """`inbox run` with the Telegram bot `bot` (the account tests' chats come in on)."""
    port = free_port()
    directory = make_deployment(tmp_path / "chat-desk", port)
    (directory / "bot.token").write_text(TOKEN)
    config = directory / "inbox.toml"
    config.write_text(toml(merged(tomllib.loads(config.read_text()), {
        "addresses": ["support@helpdesk.test"],
        "channels": {"telegram": {"bot": {"token_file": "bot.token",
                                          "api_url": bot_api.url}}}})))
    running = start_desk(directory, port)
    yield running
    assert running.stop() == 0, running.output()


def test_the_box_has_the_customers_cc_and_a_chats_count(chat_desk: DeskProcess,
                                                        page: Watched) -> None:
    app = deployment_app(chat_desk)
    ingest(app, replace(mail(1, subject="Order 7 late"), headers={
        "return-path": "<anna@example.com>", "to": "support@helpdesk.test",
        "cc": "Bob Żółw <bob@example.pl>, support@helpdesk.test"}),
        mail(2, channel="telegram", text="Gdzie jest moja paczka?", sender="5551"))
    app.close()
    sign_in(page.page, chat_desk.url, *add_agent(chat_desk, "Boxer"))
    page.page.wait_for_url(f"{chat_desk.url}/")

    page.page.goto(f"{chat_desk.url}/c/1")
    expect(page.page.get_by_label("Cc")).to_have_value("bob@example.pl")
    expect(page.page.locator("#reply-count")).to_have_count(0)  # e-mail has no limit

    page.page.goto(f"{chat_desk.url}/c/2")
    expect(page.page.get_by_label("Cc")).to_have_count(0)
    box, count = page.page.get_by_label("Your reply"), page.page.locator("#reply-count")
    expect(count).to_have_text("0 / 4096")
    box.fill("Dzień dobry 👍")  # the emoji is two UTF-16 units, as Telegram counts
    expect(count).to_have_text("14 / 4096")
    box.fill("Paczka jest w drodze. " * 200)  # 4399 units: two messages
    expect(count).to_have_text("4399 / 4096 · sent as 2 messages")
    expect(page.page.get_by_role("button", name="Send reply")).to_be_enabled()
    assert page.errors == [] and page.console_errors() == []
