"""The daemon's whole-system runs (the crash-and-fault run) use the local Bot API beside
the mail peers every test has (tests/peers.py)."""

from tests.channels.telegram.bot_api import telegram

__all__ = ["telegram"]
