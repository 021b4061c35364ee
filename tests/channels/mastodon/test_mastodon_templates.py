"""The shipped Mastodon acknowledgements are public posts: short, in each language we
ship, and never with the conversation's reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from inbox.lang.render import Renderer
from inbox.runtime.app import PUBLIC

TEMPLATES = Path(__file__).parents[3] / "templates"
CONTEXT = {"customer_name": "Ana", "subject": "Order", "reference": "[#42-k7q2m]",
           "team_name": "Acme", "account_name": "Acme Support", "due_at": "Mon 10:00",
           "channel": "mastodon", "language": "en"}


@pytest.mark.parametrize("language", ["en", "pl", "th", "fa", "tl", "vi", "de"])
@pytest.mark.parametrize("kind", ["ack", "ack-after-hours"])
def test_no_mastodon_ack_prints_a_reference(kind: str, language: str) -> None:
    rendered = Renderer(TEMPLATES).render(kind, "mastodon", language, CONTEXT, fallback="ack")
    assert rendered.name.split("/")[1].startswith("mastodon"), rendered.name
    assert "k7q2m" not in rendered.body and len(rendered.body) < 300
    assert rendered.subject is None
    assert "mastodon" in PUBLIC
