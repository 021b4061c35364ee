"""An e-mail account's settings: the `[channels.email.<account>]` keys (docs/email.md), and
the two servers it talks to with their passwords resolved (from the environment or a file,
never from inbox.toml, never shown in a repr or a log)."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
