"""The Mastodon area's peer: a local server speaking the documented client API
(server.py), which Mastodon.py talks to unmodified."""

from tests.channels.mastodon.server import mastodon

__all__ = ["mastodon"]
