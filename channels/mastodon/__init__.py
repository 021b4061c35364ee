"""The Mastodon channel: mentions of our account become conversations (docs/mastodon.md)."""
