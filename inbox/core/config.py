"""Typed settings from `inbox.toml` plus `INBOX_*` environment variables.

The file holds what an operator would put under version control; secrets come from the
environment (`INBOX_SECRET_KEY`, `INBOX_DATABASE_URL`, channel passwords) or from files
named in the config, never from the file itself. Everything is validated at start, and a
mistake is reported as one line naming the setting.
"""

from __future__ import annotations

import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from inbox.core.errors import Invalid

CONFIG_NAME = "inbox.toml"


class ConfigError(Invalid):
    """The configuration cannot be used; the message says which setting and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AckSettings(_Strict):
    enabled: bool = True
    # An automatic answer per sender per rolling day, at most: a loop breaker of last resort.
    per_sender_daily_cap: int = Field(default=3, ge=0)
    # The old name of [languages] default, still read: an inbox.toml written by an
    # earlier version keeps working. [languages] default wins when both are set.
    default_language: str | None = None


LANGUAGE_TAG = re.compile(r"[a-z]{2,3}")


class LanguageSettings(_Strict):
    """The languages customers are answered in (docs/languages.md)."""

    # What detection may answer: only these (a detector free to answer anything says
    # Arabic or Urdu for short Persian). Templates should exist for each.
    serve: list[str] = Field(default_factory=lambda: ["th", "fa", "pl", "tl", "vi", "en"])
    # What nobody could tell: the language of customers we know nothing about, and of
    # staff notices to agents without a language of their own.
    default: str | None = None  # None: [ack] default_language, else "en"
    # A detection less sure than this is not used (the probability among `serve`).
    threshold: float = Field(default=0.8, gt=0, le=1)
    # Confident detections in a row that make a language the contact's preference.
    learn_after: int = Field(default=3, ge=1)

    @field_validator("serve")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        tags = [v.strip().lower() for v in value]
        bad = [t for t in tags if not LANGUAGE_TAG.fullmatch(t)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a language code like \"pl\" or \"fa\"")
        if not tags:
            raise ValueError("serve at least one language")
        return list(dict.fromkeys(tags))


PRIORITIES = ("low", "normal", "high", "urgent")
SlaAlert = Literal["at-risk", "breached"]
SLA_ALERTS: tuple[SlaAlert, ...] = ("at-risk", "breached")


class SlaSettings(_Strict):
    """The response-time promise (docs/sla.md).

    A conversation's policy is this default, overridden by its priority's entry in
    `priorities`, then by the named policy a rule chose from `policies`.
    """

    first_response_hours: float = Field(default=24, gt=0)
    next_response_hours: float = Field(default=24, gt=0)
    warn_before_hours: float = Field(default=4, ge=0)
    # Count working time only: true = [business_hours], a name = [sla.calendars.NAME].
    business_hours: bool | str = False
    # Who hears of at-risk and breached conversations: "owner" (the assignee, else the
    # team's agents), "assignee", "team", an agent's name, an address, telegram:CHAT_ID.
    notify: list[str] = Field(default_factory=lambda: ["owner"])
    notify_on: list[SlaAlert] = Field(default_factory=lambda: list(SLA_ALERTS))
    # The account each channel sends notifications from; default: its first account.
    notify_from: dict[str, str] = Field(default_factory=dict)
    sweep_seconds: float = Field(default=5, gt=0)
    priorities: dict[str, SlaPolicySettings] = Field(default_factory=dict)
    policies: dict[str, SlaPolicySettings] = Field(default_factory=dict)
    calendars: dict[str, BusinessHoursSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> SlaSettings:
        unknown = sorted(set(self.priorities) - set(PRIORITIES))
        if unknown:
            raise ValueError(f"priorities: unknown priority {unknown[0]!r}; "
                             f"use {', '.join(PRIORITIES)}")
        layers: dict[str, SlaSettings | SlaPolicySettings] = {"": self}
        layers |= {f"priorities.{k}.": v for k, v in self.priorities.items()}
        layers |= {f"policies.{k}.": v for k, v in self.policies.items()}
        for where, layer in layers.items():
            name = layer.business_hours
            if isinstance(name, str) and name not in self.calendars:
                raise ValueError(f"{where}business_hours: no calendar {name!r} in "
                                 "[sla.calendars] (or use true for [business_hours])")
        return self


class SlaPolicySettings(_Strict):
    """A priority's or a named policy's overrides; what is unset comes from below it."""

    first_response_hours: float | None = Field(default=None, gt=0)
    next_response_hours: float | None = Field(default=None, gt=0)
    warn_before_hours: float | None = Field(default=None, ge=0)
    business_hours: bool | str | None = None
    notify: list[str] | None = None


class AgentSettings(_Strict):
    """An agent: assigned and notified by rules, named by `inbox assign` and `--as`
    (inbox.core.directory reads these; it is what the rest of the code asks)."""

    email: str | None = None
    telegram: str | None = None  # chat id, for notifications through the Telegram bot
    away: bool = False  # left out of round-robin and least-loaded assignment
    language: str | None = None  # of the notices they get; None: [languages] default

    def addresses(self) -> list[tuple[str, str]]:
        """(channel, address) where this agent can be reached, e-mail first."""
        return [(c, a) for c, a in (("email", self.email), ("telegram", self.telegram)) if a]


class TeamSettings(_Strict):
    agents: list[str] = Field(default_factory=list)  # in round-robin order


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_span(value: str) -> tuple[time, time]:
    """`"09:00-17:30"` -> (09:00, 17:30); a span may pass midnight (`"22:00-06:00"`)."""
    try:
        start, end = (time.fromisoformat(p.strip()) for p in value.split("-"))
    except ValueError:
        raise ValueError(f"{value!r} is not a span like \"09:00-17:00\"") from None
    return start, end


class BusinessHoursSettings(_Strict):
    """When the team works; rules' `business_hours` and `time` conditions use this zone."""

    timezone: str = "UTC"
    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    hours: str = "09:00-17:00"
    holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Warsaw)") from None
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        days = [d.strip().lower()[:3] for d in value]
        bad = [d for d in days if d not in WEEKDAYS]
        if bad:
            raise ValueError(f"unknown day {bad[0]!r}; use {', '.join(WEEKDAYS)}")
        return days

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_span(value)
        return value


class CsatSettings(_Strict):
    """Asking customers how it went (docs/csat.md): one short survey after a
    conversation is resolved, on its channel, in its language."""

    enabled: bool = False  # off until an admin turns it on: customers get mail from it
    delay_minutes: float = Field(default=30, ge=0)  # a "thanks!" meanwhile cancels it
    # At most one survey per contact in this many days (another conversation resolved
    # sooner is not surveyed).
    once_per_contact_days: float = Field(default=30, ge=0)
    link_days: float = Field(default=14, gt=0)  # how long an e-mail's links answer
    # Where surveys go: not the public social channels, where a survey is a public post.
    channels: list[str] = Field(default_factory=lambda: ["email", "telegram", "api"])


class ReportSettings(_Strict):
    """The reports (docs/reports.md): the zone whose local days they count in ("" the
    `[business_hours]` zone). Changing it makes the daemon count history again.

    The weekly digest: the last whole week's figures e-mailed to every supervisor and
    admin, on `digest_day` from `digest_hour` o'clock in that zone (inbox.desk.digest)."""

    timezone: str = ""
    digest: bool = True  # on unless turned off: a supervisor should not have to ask
    digest_day: str = "mon"  # mon ... sun; it covers the last whole week before it
    digest_hour: int = Field(default=8, ge=0, le=23)  # local, at the start of a workday

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return BusinessHoursSettings._zone(value) if value else value

    @field_validator("digest_day")
    @classmethod
    def _day(cls, value: str) -> str:
        return BusinessHoursSettings._days([value])[0]


class OutboxSettings(_Strict):
    max_attempts: int = Field(default=10, ge=1)
    backoff_base_seconds: float = Field(default=15, gt=0)
    backoff_cap_seconds: float = Field(default=3600, gt=0)
    # How long a claimed row stays ours; a daemon that dies mid-send frees it after this.
    claim_seconds: float = Field(default=300, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    # While an account's sends fail, one of them is tried this often; when it goes,
    # the others go at once instead of waiting out their backoff (docs/reliability.md).
    probe_seconds: float = Field(default=5.0, gt=0)


class ThreadingSettings(_Strict):
    # The same words from the same customer within this many minutes are a re-send: they
    # join the open conversation without a second acknowledgement (0: never).
    repeat_window_minutes: float = Field(default=15, ge=0)


class StorageSettings(_Strict):
    blobs_dir: str = "blobs"
    max_attachment_bytes: int = Field(default=25 * 1024 * 1024, ge=0)


class WebSettings(_Strict):
    """The agents' desk in the browser, served by `inbox run` (docs/desk.md), and how
    agents sign in to it (docs/agents.md)."""

    # Off unless asked for (`inbox init` writes true): an upgraded deployment opens no
    # port it did not ask for.
    enabled: bool = False
    listen: str = "127.0.0.1:8025"  # host:port, [::1]:port for IPv6; port 0: any free one
    # Where agents open the desk, e.g. "https://help.example.com": notifications link
    # to a conversation there. Empty: they name the conversation but link nowhere.
    public_url: str = ""
    # A session ends after this long without a request, and this long after sign-in.
    session_idle_minutes: float = Field(default=120, gt=0)
    session_days: float = Field(default=7, gt=0)
    # Secure cookies: true, false, or "auto" (when the request came over HTTPS).
    secure_cookies: bool | Literal["auto"] = "auto"
    # Sign-in refuses, without checking any password, for `lockout_minutes` once an
    # account (or an address) has failed this often within `failure_window_minutes`.
    max_failures_per_account: int = Field(default=5, ge=1)
    max_failures_per_address: int = Field(default=20, ge=1)
    failure_window_minutes: float = Field(default=15, gt=0)
    lockout_minutes: float = Field(default=15, gt=0)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(f'{value!r} is not the address of the desk, e.g. '
                             '"https://help.example.com"')
        return value.rstrip("/")

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f'{value!r} is not "host:port", e.g. "127.0.0.1:8025"')
        return value


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
    # Seconds all the regexes of one message's rules may take together; past it they
    # count as not matching, so a pattern that backtracks cannot stall a connector.
    rules_time_budget: float = Field(default=0.5, gt=0, le=60)
    # Both also from the environment, which wins: INBOX_LOG_LEVEL, INBOX_LOG_FORMAT.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object per line (docs/logging.md)
    ack: AckSettings = AckSettings()
    languages: LanguageSettings = LanguageSettings()
    sla: SlaSettings = SlaSettings()
    outbox: OutboxSettings = OutboxSettings()
    csat: CsatSettings = CsatSettings()
    reports: ReportSettings = ReportSettings()
    storage: StorageSettings = StorageSettings()
    threading: ThreadingSettings = ThreadingSettings()
    web: WebSettings = WebSettings()
    teams: dict[str, TeamSettings] = Field(default_factory=dict)
    agents: dict[str, AgentSettings] = Field(default_factory=dict)
    business_hours: BusinessHoursSettings = BusinessHoursSettings()
    channels: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    # Where the config file lives: relative paths in it are relative to this.
    base_dir: Path = Path(".")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def report_zone(self) -> zoneinfo.ZoneInfo:
        """Where the reports' days begin and end."""
        return zoneinfo.ZoneInfo(self.reports.timezone or self.business_hours.timezone)

    @property
    def default_language(self) -> str:
        return (self.languages.default or self.ack.default_language or "en").lower()

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def account_name(self, channel: str, account: str) -> str:
        """The name an account answers with: its own `name` (an e-mail account's From:
        display name, a bot's sign-off), else the top-level `name`."""
        name = self.channels.get(channel, {}).get(account, {}).get("name")
        return name if isinstance(name, str) and name.strip() else self.name

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
    if env.get("INBOX_LOG_FORMAT"):
        data["log_format"] = env["INBOX_LOG_FORMAT"]


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
