"""The outbox's takeover tests send through a real Telegram connector: the local Bot API
of the Telegram area, and its `desk` (a bot and a customer)."""

from tests.channels.telegram.bot_api import desk, telegram

__all__ = ["desk", "telegram"]
