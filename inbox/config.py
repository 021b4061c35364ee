"""Typed settings from `inbox.toml` plus `INBOX_*` environment variables.

The file holds what an operator would put under version control; secrets come from the
environment (`INBOX_SECRET_KEY`, `INBOX_DATABASE_URL`, channel passwords) or from files
named in the config, never from the file itself. Everything is validated at start, and a
mistake is reported as one line naming the setting.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONFIG_NAME = "inbox.toml"


class ConfigError(Exception):
    """The configuration cannot be used; the message says which setting and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AckSettings(_Strict):
    enabled: bool = True
    # An automatic answer per sender per rolling day, at most: a loop breaker of last resort.
    per_sender_daily_cap: int = Field(default=3, ge=0)
    default_language: str = "en"


class SlaSettings(_Strict):
    first_response_hours: float = Field(default=24, gt=0)
    next_response_hours: float = Field(default=24, gt=0)
    warn_before_hours: float = Field(default=4, ge=0)


class OutboxSettings(_Strict):
    max_attempts: int = Field(default=10, ge=1)
    backoff_base_seconds: float = Field(default=15, gt=0)
    backoff_cap_seconds: float = Field(default=3600, gt=0)
    # How long a claimed row stays ours; a daemon that dies mid-send frees it after this.
    claim_seconds: float = Field(default=300, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)


class StorageSettings(_Strict):
    blobs_dir: str = "blobs"
    max_attachment_bytes: int = Field(default=25 * 1024 * 1024, ge=0)


class Settings(_Strict):
    name: str = "Support"
    # Our own addresses: mail from them is never acknowledged (loop protection).
    addresses: list[str] = Field(default_factory=list)
    # Domain for the Message-IDs we generate.
    domain: str = "inbox.invalid"
    database_url: str = "sqlite:///inbox.db"
    secret_key: str = Field(default="", repr=False)
    templates_dir: str = "templates"
    rules_dir: str = "rules"
    log_level: str = "INFO"
    ack: AckSettings = AckSettings()
    sla: SlaSettings = SlaSettings()
    outbox: OutboxSettings = OutboxSettings()
    storage: StorageSettings = StorageSettings()
    channels: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    # Where the config file lives: relative paths in it are relative to this.
    base_dir: Path = Path(".")

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def resolved_database_url(self) -> str:
        """SQLite paths are relative to the config file, not to wherever `inbox` was run."""
        prefix = "sqlite:///"
        url = self.database_url
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.path(url[len(prefix) :]))
        return url


def find_config(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    """The config file: `--config`, else `INBOX_CONFIG`, else ./inbox.toml if present."""
    if explicit is not None:
        return explicit
    if env.get("INBOX_CONFIG"):
        return Path(env["INBOX_CONFIG"])
    here = Path.cwd() / CONFIG_NAME
    return here if here.exists() else None


def load_settings(path: Path | None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        data = _read_toml(path)
        base = path.resolve().parent
    data["base_dir"] = base
    _apply_env(data, env, base)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (`inbox init DIR` makes one)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _apply_env(data: dict[str, Any], env: Mapping[str, str], base: Path) -> None:
    if env.get("INBOX_DATABASE_URL"):
        data["database_url"] = env["INBOX_DATABASE_URL"]
    if env.get("INBOX_SECRET_KEY"):
        data["secret_key"] = env["INBOX_SECRET_KEY"]
    elif not data.get("secret_key"):
        key_file = env.get("INBOX_SECRET_KEY_FILE") or data.pop("secret_key_file", None)
        if key_file:
            data["secret_key"] = _read_secret(base / Path(key_file).expanduser())
    data.pop("secret_key_file", None)
    if env.get("INBOX_LOG_LEVEL"):
        data["log_level"] = env["INBOX_LOG_LEVEL"]


def _read_secret(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"secret_key_file {path}: {exc.strerror}") from None


def _describe(exc: ValidationError, path: Path | None) -> str:
    where = str(path) if path else "settings"
    first = exc.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    return f"{where}: {key}: {first['msg']}"
