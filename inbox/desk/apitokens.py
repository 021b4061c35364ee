"""API tokens: a program acts as one agent, with that agent's role (docs/api.md).

`inbox token create` prints a token once; only its SHA-256 is stored (see
`ApiToken`). A token stops working when revoked, when it expires, or when its agent is
disabled. Its last use is noted at most once a minute, so reading the API rarely writes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.errors import Invalid, NotFound
from inbox.store.models import Agent, ApiToken

PREFIX = "inbox_"  # says what the secret is when it turns up in a file or a log
_NOTE_EVERY = timedelta(minutes=1)
_SHOWN = 12  # characters of the token kept to tell tokens apart in lists
_DURATION = re.compile(r"(\d{1,5})([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_expiry(text: str, now: datetime) -> datetime | None:
    """`90d`, `12h`, `2w`, or `never`: when a new token stops working."""
    if text.strip().lower() == "never":
        return None
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None or int(found[1]) == 0:
        raise Invalid(f"--expires {text!r}: give a duration such as 90d, 12h, 2w, or never")
    return now + timedelta(**{_UNITS[found[2]]: int(found[1])})


def create(s: Session, agent: Agent, name: str, expires_at: datetime | None,
           now: datetime) -> tuple[ApiToken, str]:
    """A new token for `agent`: its row and the token itself, which is not kept."""
    if agent.id is None or not agent.enabled:
        raise Invalid(f"{agent.name} is disabled: enable the agent first")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(token_sha256=digest(token), prefix=token[:_SHOWN], agent_id=agent.id,
                   name=name.strip()[:200], created_at=now, expires_at=expires_at)
    s.add(row)
    s.flush()
    return row, token


def state(row: ApiToken, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and now >= row.expires_at:
        return "expired"
    return "active"


def rows(s: Session, now: datetime) -> list[dict[str, Any]]:
    """Every token, newest first, as `inbox token list --json` prints them."""
    found = s.execute(sa.select(ApiToken, col(Agent.name), col(Agent.email))
                      .join(Agent, col(Agent.id) == col(ApiToken.agent_id))
                      .order_by(col(ApiToken.id).desc()))
    return [{"id": t.id, "name": t.name, "prefix": t.prefix, "agent": name, "email": email,
             "state": state(t, now), "created_at": _iso(t.created_at),
             "expires_at": _iso(t.expires_at), "last_used_at": _iso(t.last_used_at),
             "revoked_at": _iso(t.revoked_at)} for t, name, email in found]


def revoke(s: Session, token_id: int, now: datetime) -> ApiToken:
    """Stop a token at once (a revoked token stays listed, as revoked)."""
    row = s.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no API token {token_id} (see inbox token list)")
    if row.revoked_at is None:
        row.revoked_at = now
        s.add(row)
    return row


def token_agent(s: Session, token: str, now: datetime) -> tuple[Agent, int, bool] | None:
    """The enabled agent a live token acts as, the token's id, and whether its use is
    due to be noted (then `note_use` in a write transaction); else None. Only reads:
    a call that reads never waits for the write lock."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = s.scalars(sa.select(ApiToken).where(
        col(ApiToken.token_sha256) == digest(token))).first()
    if row is None or row.id is None or state(row, now) != "active":
        return None
    agent = s.get(Agent, row.agent_id)
    if agent is None or not agent.enabled:
        return None
    due = row.last_used_at is None or now - row.last_used_at >= _NOTE_EVERY
    return agent, row.id, due


def note_use(s: Session, token_id: int, now: datetime) -> None:
    s.execute(sa.update(ApiToken).where(col(ApiToken.id) == token_id)
              .values(last_used_at=now))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
