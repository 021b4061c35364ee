"""The e-mail channel: one connector per `[channels.email.<account>]` section.

An account is a mailbox we answer from: new mail comes in over IMAP (channels/imap.py:
IDLE push, UIDVALIDITY+UID cursor, the mailbox left unchanged unless asked), answers go
out over SMTP (channels/smtp.py: threaded headers, one reused connection), and the raw
bytes become `Inbound` values in channels/mime.py. This module reads the account's
settings, resolves its passwords (from the environment or a file, never from
inbox.toml, never logged) and puts the three together behind the `Connector` protocol.
docs/email.md is the operator's guide to the keys below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from imapclient import IMAPClient
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from channels.base import Address, FetchResult, Outbound, SendResult
from channels.imap import ImapSource, Prepare, WatchOptions, connect
from channels.mime import parse_email
from channels.smtp import SmtpSender

log = logging.getLogger(__name__)

Security = Literal["tls", "starttls", "none"]
_DEFAULT_PORTS = {"imap": {"tls": 993, "starttls": 143, "none": 143},
                  "smtp": {"tls": 465, "starttls": 587, "none": 25}}


class EmailConfigError(ValueError):
    """An account's settings cannot work; the message names the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Model):
    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Security
    username: str | None = None  # defaults to the account's address
    password_env: str | None = None  # name of an environment variable holding it
    password_file: str | None = None  # a file holding it (relative to inbox.toml)
    ca_file: str | None = None  # trust this CA too (a private or self-signed server)
    timeout_seconds: float = Field(default=30, gt=0)


class ImapConfig(ServerConfig):
    security: Security = "tls"


class SmtpConfig(ServerConfig):
    security: Security = "starttls"


class AccountConfig(_Model):
    address: str
    name: str | None = None  # display name on our mail; defaults to the top-level `name`
    folders: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1)
    start: Literal["now", "backfill"] = "now"
    backfill_days: int = Field(default=30, ge=1)
    after_ingest: Literal["keep", "seen", "move"] = "keep"
    move_to: str | None = None
    sent_folder: str | None = None
    idle: bool = True
    poll_seconds: float = Field(default=30, gt=0)
    imap: ImapConfig
    smtp: SmtpConfig

    @model_validator(mode="after")
    def _move_needs_a_target(self) -> AccountConfig:
        if self.after_ingest == "move" and not self.move_to:
            raise ValueError('after_ingest = "move" needs move_to = "<folder>"')
        if self.move_to and self.move_to in self.folders:
            raise ValueError(f"move_to = {self.move_to!r} is a watched folder")
        return self


@dataclass(frozen=True)
class Endpoint:
    """A mail server and how to log in to it; the password never shows in a repr."""

    host: str
    port: int
    security: Security
    username: str | None
    password: str | None = field(repr=False)
    ssl_context: ssl.SSLContext | None
    timeout: float


def endpoint(kind: Literal["imap", "smtp"], cfg: ServerConfig, default_user: str,
             base_dir: Path, env: Mapping[str, str]) -> Endpoint:
    password = _password(kind, cfg, base_dir, env)
    if kind == "imap" and password is None:
        raise EmailConfigError("imap: set password_env or password_file")
    context = None
    if cfg.security != "none":
        cafile = str(base_dir / Path(cfg.ca_file).expanduser()) if cfg.ca_file else None
        try:
            context = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise EmailConfigError(f"{kind}.ca_file: {exc}") from None
    return Endpoint(cfg.host, cfg.port or _DEFAULT_PORTS[kind][cfg.security], cfg.security,
                    cfg.username or default_user, password, context, cfg.timeout_seconds)


def _password(kind: str, cfg: ServerConfig, base_dir: Path,
              env: Mapping[str, str]) -> str | None:
    if cfg.password_env and cfg.password_file:
        raise EmailConfigError(f"{kind}: password_env and password_file: choose one")
    if cfg.password_env:
        if cfg.password_env not in env:
            raise EmailConfigError(f"{kind}.password_env: {cfg.password_env} is not set")
        return env[cfg.password_env]
    if cfg.password_file:
        path = base_dir / Path(cfg.password_file).expanduser()
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise EmailConfigError(f"{kind}.password_file {path}: {exc.strerror}") from None
    return None


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
