"""What `inbox run` says about each message, read from a real daemon's stderr.

A real `inbox run` (a subprocess on a deployment made by `inbox init`) serves an e-mail
account on the test's Dovecot and SMTP sink. Its log must say, per message, what came in
(channel, account, conversation reference, external id) and whether it was acknowledged
or why not, in the readable format and as JSON, and never what the customer wrote.
Tests wait for lines to appear on the stream (with a deadline), never for time to pass.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from channels.base import Address, FetchResult, Inbound, Outbound, SendResult
from inbox.core import tokens
from inbox.core.config import ConfigError, load_settings
from inbox.runtime.app import App
from inbox.runtime.daemon import Daemon
from inbox.runtime.logs import JsonFormatter
from inbox.store.models import Message
from tests import mailcorpus as mc
from tests.channels.telegram.test_telegram_crash import START_SECONDS
from tests.peers import Desk

LINE_SECONDS = 10.0  # IDLE pushes new mail in well under a second
BODY = "my parcel 7781 never came, here is my card number 4111"
SUBJECT = "Where is parcel 7781"
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@dataclass
class DaemonLog:
    """A running `inbox run` and the lines it has written to stderr so far."""

    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)

    async def line(self, wanted: Callable[[str], bool],
                   timeout: float = LINE_SECONDS) -> str:
        """The first line (seen or still to come) for which `wanted` holds."""
        for seen in self.lines:
            if wanted(seen):
                return seen
        assert self.proc.stderr is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stderr.readline()
                assert raw, "the daemon ended:\n" + "".join(self.lines)
                self.lines.append(raw.decode())
                if wanted(self.lines[-1]):
                    return self.lines[-1]

    async def stop(self) -> str:
        """SIGTERM, then everything it wrote."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.stderr is not None
        rest = await asyncio.wait_for(self.proc.stderr.read(), LINE_SECONDS)
        await asyncio.wait_for(self.proc.wait(), LINE_SECONDS)
        self.lines += rest.decode().splitlines(keepends=True)
        return "".join(self.lines)


@pytest.fixture
async def started(desk: Desk) -> AsyncIterator[Callable[..., Any]]:
    made: list[DaemonLog] = []

    async def start(*args: str) -> DaemonLog:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "inbox", "run", *args, cwd=desk.deployment,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "INBOX_CONFIG": str(desk.deployment / "inbox.toml")})
        made.append(DaemonLog(proc))
        # The first start reads only mail that arrives after it (`start = "now"`).
        await made[-1].line(lambda s: "watching INBOX" in s, START_SECONDS)
        return made[-1]

    yield start
    for daemon in made:
        if daemon.proc.returncode is None:
            daemon.proc.kill()
            await daemon.proc.wait()


def reference(app: App, external_id: str) -> str:
    with Session(app.engine) as s:
        conv_id = s.scalars(sa.select(col(Message.conversation_id))
                            .where(col(Message.external_id) == external_id)).one()
    assert conv_id is not None
    return tokens.reference(app.secret, conv_id)


def customer_mail(desk: Desk, message_id: str) -> bytes:
    return mc.plain_mail(sender=f"Anna Nowak <{desk.customer}>", to=desk.support,
                         subject=SUBJECT, body=f"Hello,\n{BODY}\nAnna\n",
                         message_id=f"<{message_id}>")


@sqlite_only  # what is logged does not depend on the database
async def test_each_message_says_what_came_in_and_whether_it_was_acknowledged(
        desk: Desk, started: Callable[..., Any]) -> None:
    app = desk.configure()
    daemon: DaemonLog = await started()

    desk.dovecot.append(desk.support, customer_mail(desk, "q1@example.com"))
    got = await daemon.line(lambda s: "received" in s and "q1@example.com" in s)
    ref = reference(app, "q1@example.com")
    assert "INFO" in got and "email/support" in got and ref in got and "new" in got
    queued = await daemon.line(lambda s: "ack queued" in s)
    assert ref in queued and "q1@example.com" in queued

    desk.dovecot.append(desk.support, mc.auto_reply_mail(
        sender="Bob Away <bob@robots.example>", to=desk.support,
        message_id="<away1@robots.example>"))
    await daemon.line(lambda s: "received" in s and "away1@robots.example" in s)
    suppressed = await daemon.line(lambda s: "ack suppressed" in s)
    assert "away1@robots.example" in suppressed
    assert "auto-submitted" in suppressed.lower()  # the reason the pipeline recorded

    log = await daemon.stop()
    assert BODY not in log and "7781" not in log  # neither the text nor the subject


@sqlite_only
async def test_json_lines_carry_the_message_fields(
        desk: Desk, started: Callable[..., Any]) -> None:
    app = desk.configure()
    daemon: DaemonLog = await started("--log-format", "json")

    desk.dovecot.append(desk.support, customer_mail(desk, "j1@example.com"))
    await daemon.line(lambda s: '"ack.queued"' in s)
    log = await daemon.stop()
    records = [json.loads(line) for line in log.splitlines()]  # every line is an object
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert all(r["time"].endswith("Z") for r in records)  # ISO 8601 in UTC
    [got] = [r for r in records if r.get("event") == "received"]
    assert got["level"] == "INFO"
    assert (got["channel"], got["account"], got["external_id"]) == (
        "email", "support", "j1@example.com")
    assert got["conversation"] == reference(app, "j1@example.com")
    assert got["new_conversation"] is True
    [queued] = [r for r in records if r.get("event") == "ack.queued"]
    assert queued["conversation"] == got["conversation"]
    assert BODY not in log and SUBJECT not in log


# ---------------------------------------------------------------- in-process details

class Once:
    """A connector that hands out the given messages on each fetch, then nothing."""

    channel, account = "email", "support"

    def __init__(self) -> None:
        self.batches: list[list[Inbound]] = []

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        items = self.batches.pop(0) if self.batches else []
        return FetchResult(items, str(int(cursor or 0) + 1))

    async def send(self, message: Outbound) -> SendResult:
        return SendResult()

    async def close(self) -> None:
        pass


def inbound(external_id: str, problems: tuple[str, ...] = ()) -> Inbound:
    return Inbound(channel="email", account="support", external_id=external_id,
                   sender=Address("anna@example.com", "Anna"),
                   received_at=datetime.now(UTC), subject=SUBJECT, text=BODY,
                   headers={"return-path": "<anna@example.com>"}, raw=b"raw",
                   problems=problems)


@sqlite_only
async def test_duplicates_are_debug_and_flagged_messages_warn_with_their_problems(
        app: App, caplog: pytest.LogCaptureFixture) -> None:
    channel = Once()
    channel.batches = [[inbound("d1@example.com"),
                        inbound("f1@example.com", problems=("no From header",))],
                       [inbound("d1@example.com")]]
    daemon = Daemon(app, {("email", "support"): channel})
    with caplog.at_level(logging.DEBUG, logger="inbox"):
        await daemon.run_once()
        await daemon.run_once()
    mine = [r for r in caplog.records if getattr(r, "event", None)]
    flagged = [r for r in mine if getattr(r, "external_id", "") == "f1@example.com"]
    assert [(r.levelname, r.event) for r in flagged] == [  # type: ignore[attr-defined]
        ("WARNING", "received"), ("INFO", "ack.suppressed")]
    assert "no From header" in flagged[0].getMessage()
    d1 = [(r.levelname, r.event) for r in mine  # type: ignore[attr-defined]
          if getattr(r, "external_id", "") == "d1@example.com"]
    assert d1 == [("INFO", "received"), ("INFO", "ack.queued"), ("DEBUG", "duplicate")]
    assert not any(BODY in r.getMessage() or SUBJECT in r.getMessage()
                   for r in caplog.records if r.levelno >= logging.INFO)


def test_the_environment_chooses_level_and_format_over_the_file(tmp_path: Path) -> None:
    config = tmp_path / "inbox.toml"
    config.write_text('log_level = "warning"\nlog_format = "text"\n')
    assert (load_settings(config, {}).log_level, load_settings(config, {}).log_format) == (
        "WARNING", "text")
    chosen = load_settings(config, {"INBOX_LOG_LEVEL": "debug", "INBOX_LOG_FORMAT": "json"})
    assert (chosen.log_level, chosen.log_format) == ("DEBUG", "json")
    with pytest.raises(ConfigError, match="log_level"):
        load_settings(config, {"INBOX_LOG_LEVEL": "LOUD"})


def test_json_keeps_a_scrubbed_traceback_on_one_line() -> None:
    try:
        raise RuntimeError("token 7001:secret in a URL")
    except RuntimeError:
        record = logging.LogRecord("channels.telegram.connector", logging.ERROR, __file__, 1,
                                   "fetch failed", None, sys.exc_info())
    record.exc_text = "Traceback ... <bot token> ..."  # what the scrubbing factory leaves
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["exception"] == "Traceback ... <bot token> ..."
