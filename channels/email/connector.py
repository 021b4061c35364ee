"""The e-mail channel: one connector per `[channels.email.<account>]` section.

An account is a mailbox we answer from: new mail comes in over IMAP (channels/email/imap.py:
IDLE push, UIDVALIDITY+UID cursor, the mailbox left unchanged unless asked), answers go
out over SMTP (channels/email/smtp.py: threaded headers, one reused connection), and the raw
bytes become `Inbound` values in channels/email/mime.py. This module puts the three together
behind the `Connector` protocol, with the account's settings and passwords read by
channels/email/settings.py (docs/email.md is the operator's guide to its keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from pydantic import ValidationError

from channels.base import Address, FetchResult, Outbound, SendResult
from channels.email.imap import ImapSource, Prepare, WatchOptions, connect
from channels.email.mime import parse_email
from channels.email.settings import (
    AccountConfig,
    EmailConfigError,
    Endpoint,
    endpoint,
)
from channels.email.smtp import SmtpSender

log = logging.getLogger(__name__)


class SentCopies:
    """Appends what we sent to the account's Sent folder, off the send path.

    Its own IMAP connection and thread: the fetching connection sits in IDLE. A failed
    copy is logged, never retried as a send: the customer already has the mail.
    """

    def __init__(self, account: str, endpoint: Endpoint, folder: str) -> None:
        self.account, self.endpoint, self.folder = account, endpoint, folder
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"imap-sent-{account}")
        self._client: IMAPClient | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._closed = False

    def add(self, data: bytes) -> None:
        task = asyncio.get_running_loop().run_in_executor(self._pool, self._append, data)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _append(self, data: bytes) -> None:
        for attempt in (1, 2):  # a kept connection may have timed out: once more, fresh
            try:
                if self._client is None:
                    self._client = connect(self.endpoint)
                self._client.append(self.folder, data, flags=[b"\\Seen"])
                return
            except Exception as exc:
                self._drop()
                if attempt == 2:
                    log.warning("%s: copy to %s failed: %s", self.account, self.folder, exc)

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.endpoint.timeout)
        await asyncio.get_running_loop().run_in_executor(self._pool, self._drop)
        self._pool.shutdown(wait=False)


class EmailConnector:
    """One mailbox account behind the `Connector` protocol."""

    channel = "email"

    def __init__(self, account: str, source: ImapSource, sender: SmtpSender,
                 sent: SentCopies | None = None) -> None:
        self.account = account
        self.source, self.sender, self.sent = source, sender, sent

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        return await self.source.fetch(cursor, wait)

    async def send(self, message: Outbound) -> SendResult:
        data = await self.sender.send(message)
        if self.sent is not None:
            self.sent.add(data)
        return SendResult()

    async def close(self) -> None:
        await self.sender.close()
        await self.source.close()
        if self.sent is not None:
            await self.sent.close()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def build(account: str, options: Mapping[str, Any], *, name: str, base_dir: Path,
          env: Mapping[str, str] | None = None, clock: Callable[[], datetime] = _utcnow,
          prepare: Prepare | None = None) -> EmailConnector:
    """The connector for `[channels.email.<account>]`; EmailConfigError names what is wrong.

    `prepare` is applied to each message in the IMAP thread (the core passes one that
    puts the raw bytes in its blob store).
    """
    try:
        cfg = AccountConfig.model_validate(dict(options))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise EmailConfigError(f"{where}: {first['msg']}" if where else first["msg"]) from None
    env = os.environ if env is None else env
    imap = endpoint("imap", cfg.imap, cfg.address, base_dir, env)
    smtp = endpoint("smtp", cfg.smtp, cfg.address, base_dir, env)
    watch = WatchOptions(folders=tuple(cfg.folders), start=cfg.start,
                         backfill_days=cfg.backfill_days, after_ingest=cfg.after_ingest,
                         move_to=cfg.move_to, idle=cfg.idle, poll_seconds=cfg.poll_seconds)
    source = ImapSource(account, imap, watch, parse_email, clock, prepare=prepare)
    sender = SmtpSender(smtp, Address(cfg.address.lower(), cfg.name or name), clock)
    sent = SentCopies(account, imap, cfg.sent_folder) if cfg.sent_folder else None
    return EmailConnector(account, source, sender, sent)
