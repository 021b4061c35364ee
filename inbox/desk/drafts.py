"""Working together on a conversation: drafts kept per agent, and who else is there.

Drafts: what an agent has typed into a conversation's reply or note box and not sent,
saved as they type, so a reload, a closed tab or a dropped connection loses nothing;
sending removes it. Presence: who has the conversation open, and who is typing, with
rows that lapse by themselves (a browser that vanishes says nothing). Both live in the
database, so every daemon on one PostgreSQL shows the same (docs/desk.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.errors import Invalid
from inbox.store.models import Agent, Draft, Presence

BOXES = ("reply", "note")
VIEWING_SECONDS = 30  # a page says it is open every ~10 s: three missed, it is gone
TYPING_SECONDS = 6  # since the last keystroke the page told of
MAX_DRAFT = 100_000  # characters, as a reply


def _upsert(s: Session, table: Any, values: dict[str, object], keys: list[str]) -> None:
    """Insert or update one row, in one statement (two tabs may write at once)."""
    dialect = s.get_bind().dialect.name
    insert: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    changed = {k: v for k, v in values.items() if k not in keys}
    s.execute(insert.values(**values).on_conflict_do_update(index_elements=keys,
                                                            set_=changed))


def _box(box: str) -> str:
    if box not in BOXES:
        raise Invalid(f"no such box {box!r} (reply or note)")
    return box


def save_draft(s: Session, agent_id: int, conv_id: int, box: str, text: str, *,
               now: datetime) -> None:
    """Keep what is typed in `box`; an empty box keeps nothing."""
    if len(text) > MAX_DRAFT:
        raise Invalid(f"that is longer than {MAX_DRAFT} characters")
    if not text.strip():
        discard(s, agent_id, conv_id, box)
        return
    _upsert(s, Draft, {"agent_id": agent_id, "conversation_id": conv_id, "box": _box(box),
                       "text": text, "updated_at": now},
            ["agent_id", "conversation_id", "box"])


def discard(s: Session, agent_id: int, conv_id: int, box: str) -> None:
    s.execute(sa.delete(Draft).where(col(Draft.agent_id) == agent_id,
                                     col(Draft.conversation_id) == conv_id,
                                     col(Draft.box) == _box(box)))


def drafts(s: Session, agent_id: int, conv_id: int) -> dict[str, str]:
    """The agent's unsent text in this conversation, by box."""
    found = s.execute(sa.select(col(Draft.box), col(Draft.text)).where(
        col(Draft.agent_id) == agent_id, col(Draft.conversation_id) == conv_id)).all()
    return {box: text for box, text in found}


@dataclass(frozen=True)
class Present:
    """Someone with the conversation open."""

    agent: str
    typing: str  # "reply", "note", or "" (only viewing)


def announce(s: Session, agent_id: int, conv_id: int, typing: str, now: datetime) -> None:
    """The agent has the conversation open (and types in the box `typing`, if any);
    rows that lapsed anywhere are dropped on the way."""
    s.execute(sa.delete(Presence).where(col(Presence.expires_at) < now))
    _upsert(s, Presence, {
        "conversation_id": conv_id, "agent_id": agent_id,
        "typing": _box(typing) if typing else "",
        "typing_until": now + timedelta(seconds=TYPING_SECONDS) if typing else None,
        "expires_at": now + timedelta(seconds=VIEWING_SECONDS)},
        ["conversation_id", "agent_id"])


def leave(s: Session, agent_id: int, conv_id: int) -> None:
    """The agent closed the conversation's page."""
    s.execute(sa.delete(Presence).where(col(Presence.agent_id) == agent_id,
                                        col(Presence.conversation_id) == conv_id))


def present(s: Session, conv_id: int, now: datetime, *, besides: int | None = None
            ) -> list[Present]:
    """Who has the conversation open now (but `besides`), by name."""
    rows = s.execute(sa.select(col(Agent.name), col(Presence.typing), col(Presence.typing_until))
                     .join(Agent, col(Agent.id) == col(Presence.agent_id))
                     .where(col(Presence.conversation_id) == conv_id,
                            col(Presence.expires_at) > now,
                            col(Presence.agent_id) != (besides or 0))
                     .order_by(col(Agent.name))).all()
    return [Present(name, typing if until is not None and until > now else "")
            for name, typing, until in rows]
