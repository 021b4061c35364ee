"""The Telegram area's peer: a local Bot API server speaking Telegram's documented wire
format (bot_api.py), which python-telegram-bot talks to unmodified. `desk` here is the
`app` deployment with a bot and a customer, and takes the place of the mail `desk` of
tests/peers.py for the tests below this folder."""

from tests.channels.telegram.bot_api import desk, telegram

__all__ = ["desk", "telegram"]
