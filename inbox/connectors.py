"""Builds the configured connectors, one per `[channels.<channel>.<account>]` section.

Channel modules register a factory here; the daemon receives the built connectors and
never constructs a client itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.base import Connector
from inbox.config import ConfigError, Settings
from inbox.outbox import AccountKey

Factory = Callable[[str, dict[str, Any], Settings], Connector]

FACTORIES: dict[str, Factory] = {}


def build_connectors(settings: Settings) -> dict[AccountKey, Connector]:
    built: dict[AccountKey, Connector] = {}
    for channel, accounts in settings.channels.items():
        factory = FACTORIES.get(channel)
        if factory is None:
            known = ", ".join(sorted(FACTORIES)) or "none yet"
            raise ConfigError(f"[channels.{channel}]: unknown channel (known: {known})")
        for account, options in accounts.items():
            built[(channel, account)] = factory(account, options, settings)
    return built
