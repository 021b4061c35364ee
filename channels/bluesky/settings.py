"""`[channels.bluesky.<account>]`: which account, where its app password is, and whether
mentions are acknowledged in public. The password is never in inbox.toml."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from channels.base import first_problem, read_secret


class BlueskyConfigError(ValueError):
    """An account's settings cannot work; the message names the key."""


class AccountConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str = "https://bsky.social"  # the account's PDS (its host, not the AppView)
    handle: str
    app_password_env: str | None = None
    app_password_file: str | None = None  # relative to inbox.toml
    # Answer a mention with a short public reply in the thread (no reference in it).
    public_ack: bool = True
    # How often to ask for new notifications while waiting (Bluesky has no push for them).
    poll_seconds: float = Field(default=5.0, gt=0)

    @field_validator("handle")
    @classmethod
    def _bare_handle(cls, value: str) -> str:
        handle = value.strip().removeprefix("@").lower()
        if "." not in handle:
            raise ValueError("a handle has a domain, e.g. acme.bsky.social")
        return handle

    @field_validator("service")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("service is the PDS's URL, e.g. https://bsky.social")
        return value.rstrip("/")


def parse(options: Mapping[str, Any], base_dir: Path,
          env: Mapping[str, str]) -> tuple[AccountConfig, str]:
    """The account's settings and its app password; BlueskyConfigError says what is
    wrong."""
    if "app_password" in options or "password" in options:
        raise BlueskyConfigError("never put the password in inbox.toml; name an environment "
                                 "variable (app_password_env) or a file (app_password_file)")
    try:
        cfg = AccountConfig.model_validate(dict(options))
    except ValidationError as exc:
        raise BlueskyConfigError(first_problem(exc)) from None
    return cfg, _password(cfg, base_dir, env)


def _password(cfg: AccountConfig, base_dir: Path, env: Mapping[str, str]) -> str:
    found = read_secret("app_password", cfg.app_password_env, cfg.app_password_file,
                        base_dir=base_dir, env=env, error=BlueskyConfigError)
    if found is None:
        raise BlueskyConfigError("set app_password_env or app_password_file (an app "
                                 "password from Settings > Privacy and security > App "
                                 "passwords)")
    return found
