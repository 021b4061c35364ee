"""The Telegram channel: a bot's updates in (long polling or a webhook), Bot API calls
out; connector.py puts them behind the `Connector` protocol."""
