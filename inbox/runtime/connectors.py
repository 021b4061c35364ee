"""Builds the configured connectors, one per `[channels.<channel>.<account>]` section.

Channel modules register a factory here; the daemon receives the built connectors and
never constructs a client itself.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from channels.base import Connector, RawParser
from inbox.core.config import ConfigError, Settings
from inbox.core.retry import FETCH_BACKOFF
from inbox.outbox.dispatcher import AccountKey
from inbox.store.blobs import BlobStore, offload

Factory = Callable[[str, dict[str, Any], Settings, BlobStore], Connector]

FACTORIES: dict[str, Factory] = {}


def raw_parser(channel: str) -> RawParser | None:
    """How to read `channel`'s stored raw bytes again, if it keeps any (e-mail does)."""
    if channel == "email":
        from channels.email.mime import parse_email

        return parse_email
    return None


def raw_parsers() -> dict[str, RawParser]:
    return {c: p for c in ("email",) if (p := raw_parser(c)) is not None}


def _email(account: str, options: dict[str, Any], settings: Settings,
           blobs: BlobStore) -> Connector:
    # imapclient and aiosmtplib load only when e-mail is used
    from channels.email import connector as email
    from channels.email.settings import EmailConfigError

    # Raw bytes go to the blob store in the connector's thread, beside the next IMAP
    # read, rather than on the ingest transaction's (the importer's parsers do the same).
    store = partial(offload, blobs=blobs,
                    max_attachment_bytes=settings.storage.max_attachment_bytes)
    try:
        return email.build(account, options, name=settings.name, base_dir=settings.base_dir,
                           prepare=store)
    except EmailConfigError as exc:
        raise ConfigError(f"[channels.email.{account}]: {exc}") from None


FACTORIES["email"] = _email


def _telegram(account: str, options: dict[str, Any], settings: Settings,
              blobs: BlobStore) -> Connector:
    # python-telegram-bot loads only when a bot is configured
    from channels.telegram import connector as telegram

    try:
        return telegram.build(account, options, base_dir=settings.base_dir,
                              max_file_bytes=settings.storage.max_attachment_bytes)
    except telegram.TelegramConfigError as exc:
        raise ConfigError(f"[channels.telegram.{account}]: {exc}") from None


FACTORIES["telegram"] = _telegram


def _mastodon(account: str, options: dict[str, Any], settings: Settings,
              blobs: BlobStore) -> Connector:
    # Mastodon.py (requests underneath) loads only when a Mastodon account is configured
    from channels.mastodon import connector as mastodon

    def reconnect(failures: int, retry_after: float | None) -> float:
        # a dropped stream waits as a failed fetch does: the project's one retry policy
        return FETCH_BACKOFF.delay(failures, retry_after).total_seconds()

    try:
        return mastodon.build(account, options, base_dir=settings.base_dir,
                              reconnect_delay=reconnect)
    except mastodon.MastodonConfigError as exc:
        raise ConfigError(f"[channels.mastodon.{account}]: {exc}") from None


FACTORIES["mastodon"] = _mastodon


def _bluesky(account: str, options: dict[str, Any], settings: Settings,
             blobs: BlobStore) -> Connector:
    # the atproto SDK loads only when a Bluesky account is configured
    from channels.bluesky import connector as bluesky

    try:
        return bluesky.build(account, options, base_dir=settings.base_dir)
    except bluesky.BlueskyConfigError as exc:
        raise ConfigError(f"[channels.bluesky.{account}]: {exc}") from None


FACTORIES["bluesky"] = _bluesky


def _relays(settings: Settings, built: dict[AccountKey, Connector]) -> None:
    """`[channels.api.<system>]`: messages posted by that system are answered by e-mail
    through `reply_via` (an e-mail account; default: the first one)."""
    from channels.api.relay import ApiRelay

    for system, options in settings.channels.get("api", {}).items():
        unknown = set(options) - {"reply_via", "name"}
        if unknown:
            raise ConfigError(f"[channels.api.{system}]: unknown {', '.join(sorted(unknown))}")
        emails = list(settings.channels.get("email", {}))
        via = options.get("reply_via") or (emails[0] if emails else None)
        if via is None or ("email", via) not in built:
            raise ConfigError(f"[channels.api.{system}]: reply_via names no "
                              f"[channels.email.<account>] (there are: "
                              f"{', '.join(emails) or 'none'})")
        built[("api", system)] = ApiRelay(system, built[("email", via)])


def build_connectors(settings: Settings,
                     blobs: BlobStore | None = None) -> dict[AccountKey, Connector]:
    """One connector per configured account. Callers that hold an App pass its blob
    store (`App.connectors` does); raw bytes then go where the pipeline reads them."""
    blobs = blobs or BlobStore(settings.path(settings.storage.blobs_dir))
    built: dict[AccountKey, Connector] = {}
    for channel, accounts in settings.channels.items():
        if channel == "api":  # relays to e-mail accounts: after those are built
            continue
        factory = FACTORIES.get(channel)
        if factory is None:
            known = ", ".join(sorted(FACTORIES)) or "none yet"
            raise ConfigError(f"[channels.{channel}]: unknown channel (known: api, {known})")
        for account, options in accounts.items():
            built[(channel, account)] = factory(account, options, settings, blobs)
    _relays(settings, built)
    return built
