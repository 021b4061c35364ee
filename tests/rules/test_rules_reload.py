"""Rules go live while the daemon is quiet: a save is checked, and logged, within moments.

Before, the daemon looked at the rule files only when a message was routed, so a good
rule saved in a quiet hour was not live, and a broken one was not reported, until the
next customer wrote. Here no message arrives until the rules have changed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from channels.base import Address, FetchResult, Inbound, Outbound, SendResult
from inbox.runtime.app import App
from inbox.runtime.daemon import Daemon
from inbox.store.models import Conversation, Identity
from tests.channels.telegram.test_telegram_crash import START_SECONDS, inbox_run
from tests.peers import running

# The promise is two seconds (RULES_CHECK_SECONDS at the latest; the watcher takes
# about 0.1 s here). The deadline leaves a slow machine room: the old code never logged.
RELOADED_WITHIN = 5.0

BROKEN = "- name: vip\n  when: {sender_domain: vip.example}\n  then: {team: tehc}\n"
GOOD = "- name: vip\n  when: {sender_domain: vip.example}\n  then: {team: tech}\n"


class Lines(logging.Handler):
    """The daemon's log lines, as the operator reads them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    async def said(self, text: str, timeout: float = RELOADED_WITHIN) -> None:
        await poll(lambda: any(text in line for line in self.lines), timeout,
                   lambda: f"no log line with {text!r} in {self.lines}")


async def poll(condition: Callable[[], bool], timeout: float, why: Callable[[], str]) -> None:
    """Wait until `condition` holds; past the deadline, fail saying `why()`."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(why()) from None


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("inbox")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


class Chat:
    """A channel whose customers write only when the test says so."""

    channel, account = "telegram", "quiet"

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Inbound] = asyncio.Queue()
        self.count = 0

    def write(self, sender: str, text: str) -> None:
        self.count += 1
        self.inbox.put_nowait(Inbound(
            channel=self.channel, account=self.account, external_id=str(self.count),
            sender=Address(sender), received_at=datetime.now(UTC), text=text))

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        item = await self.inbox.get()
        return FetchResult([item], item.external_id)

    async def send(self, message: Outbound) -> SendResult:
        return SendResult()

    async def close(self) -> None:
        pass


def save_by_rename(path: Path, text: str) -> None:
    """How vim, sed -i and most deploy tools save: a new file renamed over the old."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def team_of(app: App, sender: str) -> str | None:
    """The team of the sender's conversation; None while there is none (or no team)."""
    with Session(app.engine) as s:
        return s.scalar(sa.select(col(Conversation.team))
                        .join(Identity, col(Identity.contact_id) == col(Conversation.contact_id))
                        .where(col(Identity.address) == sender))


def conversations(app: App) -> int:
    with Session(app.engine) as s:
        return len(s.scalars(sa.select(col(Conversation.id))).all())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
async def test_a_quiet_daemon_reports_a_broken_save_and_puts_a_fixed_one_live(
        app: App, lines: Lines) -> None:
    rule = app.settings.path(app.settings.rules_dir) / "60-vip.yaml"
    chat = Chat()
    async with running(Daemon(app, {("telegram", "quiet"): chat})):
        await lines.said("watching")
        rule.write_text(BROKEN)
        # No message arrives: the refusal is logged anyway, with the file and line.
        await lines.said("rules edit refused: rules/60-vip.yaml:3: team: unknown 'tehc'")
        save_by_rename(rule, GOOD)
        await lines.said("rules reloaded: ")
        assert lines.lines[-1].endswith("from 6 files"), lines.lines[-1]
        chat.write("boss@vip.example", "Hello, where is my order?")
        await poll(lambda: conversations(app) == 1, RELOADED_WITHIN, lambda: "nothing stored")
    assert team_of(app, "boss@vip.example") == "tech"  # routed by the rule saved last


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_burst_of_saves_ends_with_the_last_one_live(app: App, lines: Lines) -> None:
    rule = app.settings.path(app.settings.rules_dir) / "60-vip.yaml"
    chat = Chat()
    async with running(Daemon(app, {("telegram", "quiet"): chat})):
        await lines.said("watching")
        for team in ("support", "tehc", "billing", "tech"):  # a script, an editor's autosave
            rule.write_text(GOOD.replace("tech", team))
        await lines.said("rules reloaded: ")
        chat.write("boss@vip.example", "Hello")
        await poll(lambda: conversations(app) == 1, RELOADED_WITHIN, lambda: "nothing stored")
    assert team_of(app, "boss@vip.example") == "tech"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_rule_naming_a_template_goes_live_when_the_template_is_added(
        app: App, lines: Lines) -> None:
    s = app.settings
    rule = s.path(s.rules_dir) / "60-vip.yaml"
    async with running(Daemon(app, {})):
        await lines.said("watching")
        rule.write_text(GOOD.replace("{team: tech}", "{ack: ack-vip}"))
        await lines.said("rules/60-vip.yaml:3: ack (a template folder in templates/): "
                         "unknown 'ack-vip'")
        folder = s.path(s.templates_dir) / "ack-vip"
        folder.mkdir()
        (folder / "default.txt").write_text("Subject: Thank you\n\nWe are on it.\n")
        await lines.said("rules reloaded: ")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_inbox_run_logs_a_save_without_any_traffic(app: App) -> None:
    """The operator's view: `inbox run` in a shell, a rule file edited beside it."""
    deployment = app.settings.base_dir
    log = deployment / "daemon.log"
    daemon = await inbox_run(deployment)
    try:
        await poll(lambda: log.exists() and "watching" in log.read_text(), START_SECONDS,
                   lambda: "the daemon did not start")
        (deployment / "rules" / "60-vip.yaml").write_text(BROKEN)
        await poll(lambda: "rules/60-vip.yaml:3" in log.read_text(), RELOADED_WITHIN,
                   log.read_text)
        save_by_rename(deployment / "rules" / "60-vip.yaml", GOOD)
        await poll(lambda: "rules reloaded: " in log.read_text(), RELOADED_WITHIN,
                   log.read_text)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(daemon.wait(), START_SECONDS) == 0
