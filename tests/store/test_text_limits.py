"""What one message of an account may hold, as the daemon records it for `inbox reply`,
on both databases: read back as written, the latest winning, a broken row ignored."""

from __future__ import annotations

from datetime import UTC, datetime

from channels.base import TextLimit
from inbox.runtime.app import App
from inbox.store.batch import TEXT_LIMIT, save_cursor, save_text_limit, text_limits

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def test_text_limits_are_kept_per_account(app: App) -> None:
    with app.engine.begin() as conn:
        save_text_limit(conn, "mastodon", "support", TextLimit(468), now=NOW)
        save_text_limit(conn, "mastodon", "support", TextLimit(968, splits=True), now=NOW)
        save_text_limit(conn, "bluesky", "shop", TextLimit(300, "graphemes"), now=NOW)
        save_cursor(conn, "telegram", "bot", "{not json", now=NOW, key=TEXT_LIMIT)
        save_cursor(conn, "mastodon", "support", "1100", now=NOW)  # its cursor: untouched
    with app.engine.connect() as conn:
        assert text_limits(conn) == {("mastodon", "support"): TextLimit(968, splits=True),
                                     ("bluesky", "shop"): TextLimit(300, "graphemes")}
