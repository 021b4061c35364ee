"""Agents and teams as records, what each role may do, and signing in (docs/agents.md).

Every face calls these: `inbox agent` / `inbox team` now, the web desk's sign-in next.

- Passwords are argon2id hashes (argon2-cffi's recommended profile, RFC 9106); a hash
  made with weaker parameters is redone at the next good sign-in.
- Sign-in is refused without checking any password while the account or the address
  it comes from is locked out: `max_failures_per_*` failures within
  `failure_window_minutes` lock it for `lockout_minutes` ([web]). Failures are rows in
  the database, so every daemon of a deployment counts the same ones. An e-mail that
  belongs to nobody costs a dummy verification, so timing tells nothing.
- Sessions are server-side: the browser holds a random token, the database its SHA-256
  only; a session ends when idle too long, when too old, on sign-out, and for all of an
  agent's sessions when the agent is disabled or the password changes.
- CSRF: the token a page embeds is an HMAC of the session token, keyed by the
  deployment's secret (`csrf_token`). Nothing more to store; it changes with every
  session, and a page can always be given it again from the cookie it came with.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core import directory as d
from inbox.core.config import Settings, WebSettings
from inbox.core.errors import Conflict, Invalid, Unavailable
from inbox.core.vocab import Role, iso
from inbox.store.models import Agent, AgentSession, SignInFailure, Team, TeamMember
from inbox.store.rawdb import Reader

MIN_PASSWORD = 12  # characters; with no other rule (NIST SP 800-63B asks for length)
# A name is one word that rules, `--as` and notifications can use as it is: not an
# address (a notification target with "@" is an e-mail) nor one of the notify keywords.
_NAME = re.compile(r"^[\w][\w.-]{0,63}$")
_RESERVED = frozenset({"owner", "assignee", "team"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often


class Action(StrEnum):
    """What the desk lets a role do; `can` is the one place that decides."""

    WORK_QUEUE = "work_queue"
    SEE_ALL_TEAMS = "see_all_teams"
    REASSIGN = "reassign"
    RECEIVE_ESCALATIONS = "receive_escalations"
    MANAGE_AGENTS = "manage_agents"
    MANAGE_TEAMS = "manage_teams"
    MANAGE_CANNED_ANSWERS = "manage_canned_answers"
    RETRY_DEAD_SENDS = "retry_dead_sends"
    MANAGE_WEBHOOKS = "manage_webhooks"
    MERGE_CONTACTS = "merge_contacts"
    EXPORT = "export"  # conversations and messages of a period (inbox.desk.export)


_AGENT = frozenset({Action.WORK_QUEUE})
_SUPERVISOR = _AGENT | {Action.SEE_ALL_TEAMS, Action.REASSIGN, Action.RECEIVE_ESCALATIONS,
                        Action.MERGE_CONTACTS, Action.EXPORT}
_ADMIN = _SUPERVISOR | {Action.MANAGE_AGENTS, Action.MANAGE_TEAMS,
                        Action.MANAGE_CANNED_ANSWERS, Action.RETRY_DEAD_SENDS,
                        Action.MANAGE_WEBHOOKS}
ALLOWED: dict[Role, frozenset[Action]] = {Role.AGENT: _AGENT, Role.SUPERVISOR: _SUPERVISOR,
                                          Role.ADMIN: _ADMIN}


def can(agent: Agent | d.Agent, action: Action) -> bool:
    """Whether `agent` may do `action`: an agent works the queue; a supervisor also sees
    every team, reassigns, merges contacts, exports and receives escalations; an admin also
    manages agents, teams and canned answers, retries dead sends and registers webhooks.
    A disabled agent may do nothing."""
    return agent.enabled and action in ALLOWED.get(Role(agent.role), frozenset())


class SignInFailed(Invalid):
    """Wrong e-mail or password (which one is not said)."""


class AccountDisabled(SignInFailed):
    """The password was right, but the agent is disabled."""


class LockedOut(Unavailable):
    """Too many failed sign-ins; no password is checked until `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many failed sign-ins: try again after {until:%H:%M} UTC")
        self.until = until


class WeakPassword(Invalid):
    pass


class Hasher(Protocol):
    """argon2.PasswordHasher's methods that we use (tests pass a faster one)."""

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str: ...
    def verify(self, hash: str | bytes, password: str | bytes) -> bool: ...
    def check_needs_rehash(self, hash: str | bytes) -> bool: ...


@cache
def default_hasher() -> Hasher:
    """argon2id with argon2-cffi's recommended parameters (RFC 9106, low memory)."""
    from argon2 import PasswordHasher

    return PasswordHasher()


_dummies: dict[int, str] = {}  # per hasher, so a dummy costs what a real hash costs


def _dummy_hash(hasher: Hasher) -> str:
    if id(hasher) not in _dummies:
        _dummies[id(hasher)] = hasher.hash(secrets.token_hex(16))
    return _dummies[id(hasher)]


def _id(value: int | None) -> int:
    assert value is not None, "a record is flushed before its id is used"
    return value


def _verify(hasher: Hasher, hashed: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash, a verification of a dummy hash first,
    so an unknown e-mail takes as long as a wrong password."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return hasher.verify(hashed or _dummy_hash(hasher), password) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


# Records ------------------------------------------------------------------------------

def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"the password is too short: at least {MIN_PASSWORD} characters")


def _check_name(name: str) -> None:
    if not _NAME.match(name) or name in _RESERVED:
        raise Invalid(f"{name!r} cannot be a name: one word of letters, digits, '.', '-' "
                      f"or '_' (not {', '.join(sorted(_RESERVED))})")


def find_agent(s: Session, who: str) -> Agent:
    """The agent named `who`, or whose e-mail it is; NotFound lists the names."""
    found = s.scalars(sa.select(Agent).where(sa.or_(
        col(Agent.name) == who, col(Agent.email) == who.strip().lower()))).first()
    if found is None:
        raise d.UnknownName(d.unknown("agent", who, s.scalars(sa.select(col(Agent.name))).all()))
    return found


def find_team(s: Session, name: str) -> Team:
    found = s.scalars(sa.select(Team).where(col(Team.name) == name)).first()
    if found is None:
        raise d.UnknownName(d.unknown("team", name, s.scalars(sa.select(col(Team.name))).all()))
    return found


def add_agent(s: Session, *, email: str, name: str, role: Role, password: str | None,
              now: datetime, teams: Sequence[str] = (), telegram: str | None = None,
              hasher: Hasher | None = None) -> Agent:
    """A new agent (in `teams`, last in their round-robin order). Refused: a name or
    e-mail taken, a malformed one, a password shorter than MIN_PASSWORD. None as the
    password makes an agent who cannot sign in yet."""
    email = email.strip().lower()
    _check_name(name)
    if not _EMAIL.match(email):
        raise Invalid(f"{email!r} is not an e-mail address")
    if password is not None:
        check_password(password)
    taken = s.scalars(sa.select(Agent).where(sa.or_(
        col(Agent.name) == name, col(Agent.email) == email))).first()
    if taken is not None:
        what = "name" if taken.name == name else "e-mail"
        raise Conflict(f"an agent with this {what} exists already: {taken.name}")
    in_teams = [find_team(s, t) for t in teams]
    agent = Agent(name=name, email=email, role=role, telegram=telegram, created_at=now,
                  password_hash=(hasher or default_hasher()).hash(password)
                  if password is not None else None)
    s.add(agent)
    s.flush()
    for team in in_teams:
        add_member(s, team, agent)
    return agent


def set_password(s: Session, agent: Agent, password: str, now: datetime,
                 hasher: Hasher | None = None) -> int:
    """A new password; every session of the agent ends. Returns how many ended."""
    check_password(password)
    agent.password_hash = (hasher or default_hasher()).hash(password)
    s.add(agent)
    return revoke_sessions(s, agent.id, now)


def set_language(s: Session, agent: Agent, language: str | None,
                 served: Sequence[str]) -> None:
    """The language the agent's notices come in; None: the deployment's default."""
    if language is not None and language not in served:
        raise Invalid(f"{language!r} is not a language this deployment serves: use "
                      f"{', '.join(served)}, or none for the default")
    agent.language = language
    s.add(agent)


def set_enabled(s: Session, agent: Agent, enabled: bool, now: datetime) -> int:
    """Enable or disable; disabling ends every session. Returns how many ended."""
    agent.enabled = enabled
    s.add(agent)
    return 0 if enabled else revoke_sessions(s, agent.id, now)


def add_team(s: Session, name: str, now: datetime) -> Team:
    _check_name(name)
    if s.scalars(sa.select(Team).where(col(Team.name) == name)).first() is not None:
        raise Conflict(f"team {name!r} exists already")
    team = Team(name=name, created_at=now)
    s.add(team)
    s.flush()
    return team


def add_member(s: Session, team: Team, agent: Agent) -> bool:
    """Put `agent` last in `team`'s round-robin order; False if already a member."""
    if s.get(TeamMember, (team.id, agent.id)) is not None:
        return False
    last = s.scalar(sa.select(sa.func.max(TeamMember.position)).where(
        col(TeamMember.team_id) == team.id))
    s.add(TeamMember(team_id=_id(team.id), agent_id=_id(agent.id), position=(last or 0) + 1))
    s.flush()
    return True


def remove_member(s: Session, team: Team, agent: Agent) -> bool:
    member = s.get(TeamMember, (team.id, agent.id))
    if member is not None:
        s.delete(member)
        s.flush()
    return member is not None


def _members(s: Session) -> dict[int, list[str]]:
    """team id -> its agents' names in round-robin order."""
    rows = s.execute(sa.select(col(TeamMember.team_id), col(Agent.name))
                     .join(Agent, col(Agent.id) == col(TeamMember.agent_id))
                     .order_by(col(TeamMember.team_id), col(TeamMember.position)))
    out: dict[int, list[str]] = {}
    for team_id, name in rows:
        out.setdefault(team_id, []).append(name)
    return out


def read_directory(reader: Reader) -> d.ListedDirectory:
    """The records, as the directory everything names (inbox.core.directory). Read with
    the plain driver: the daemon reads it again while its own transaction holds SQLite's
    write lock, which a SQLAlchemy transaction here (BEGIN IMMEDIATE) would wait for."""
    agents = reader.rows("SELECT name, email, telegram, away, role, enabled, language "
                         "FROM agent ORDER BY name")
    teams = reader.rows("SELECT id, name FROM team ORDER BY name")
    members: dict[int, list[str]] = {}
    for team_id, name in reader.rows(
            "SELECT m.team_id, a.name FROM team_member m JOIN agent a ON a.id = m.agent_id "
            "ORDER BY m.team_id, m.position"):
        members.setdefault(team_id, []).append(name)
    return d.ListedDirectory(
        [d.Agent(n, e, tg, bool(away), role, bool(on), lang)
         for n, e, tg, away, role, on, lang in agents],
        [d.Team(name, tuple(members.get(team_id, ()))) for team_id, name in teams])


def agent_rows(s: Session) -> list[dict[str, Any]]:
    """`inbox agent list --json` (docs/cli-json.md)."""
    teams = {t.id: t.name for t in s.scalars(sa.select(Team))}
    of: dict[int, list[str]] = {}
    for team_id, agent_id in s.execute(sa.select(col(TeamMember.team_id), col(TeamMember.agent_id))
                                       .order_by(col(TeamMember.team_id))):
        of.setdefault(agent_id, []).append(teams[team_id])
    return [{"name": a.name, "email": a.email, "role": a.role, "enabled": a.enabled,
             "away": a.away, "can_sign_in": a.enabled and a.password_hash is not None,
             "teams": of.get(a.id or 0, []), "telegram": a.telegram,
             "language": a.language, "created_at": iso(a.created_at)}
            for a in s.scalars(sa.select(Agent).order_by(col(Agent.name)))]


def team_rows(s: Session) -> list[dict[str, Any]]:
    """`inbox team list --json`: each team with its agents in round-robin order."""
    members = _members(s)
    return [{"name": t.name, "agents": members.get(t.id or 0, [])}
            for t in s.scalars(sa.select(Team).order_by(col(Team.name)))]


def adopt_settings(s: Session, settings: Settings, now: datetime) -> tuple[list[str], list[str]]:
    """Copy the agents and teams inbox.toml names into records that do not exist yet
    (`inbox db upgrade`), without passwords: they sign in after `inbox agent passwd`.
    Returns the names of the agents and teams made."""
    config = d.SettingsDirectory.from_settings(settings)
    have = set(s.scalars(sa.select(col(Agent.name))))
    emails = set(s.scalars(sa.select(col(Agent.email))))
    made: list[str] = []
    for a in config.agents():
        if a.name in have:
            continue
        email = a.email.strip().lower() if a.email else None
        s.add(Agent(name=a.name, email=None if email in emails else email,
                    telegram=a.telegram, away=a.away, created_at=now))
        emails.add(email)
        made.append(a.name)
    s.flush()
    teams = set(s.scalars(sa.select(col(Team.name))))
    made_teams = [t.name for t in config.teams() if t.name not in teams]
    for name in made_teams:
        team = add_team(s, name, now)
        for member in config.team(name).agents:  # type: ignore[union-attr]
            add_member(s, team, find_agent(s, member))
    return made, made_teams


# Signing in ---------------------------------------------------------------------------

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _locked_until(s: Session, column: Any, value: str, limit: int, *, web: WebSettings,
                  now: datetime) -> datetime | None:
    """The end of the lockout that `limit` failures within the window started, if it
    has not ended. Refused attempts while locked are not failures, so the lockout ends
    `lockout_minutes` after the failure that started it."""
    window = timedelta(minutes=web.failure_window_minutes)
    lockout = timedelta(minutes=web.lockout_minutes)
    times = s.scalars(sa.select(col(SignInFailure.created_at)).where(
        column == value, col(SignInFailure.created_at) > now - window - lockout)
        .order_by(col(SignInFailure.created_at))).all()
    ends = [times[j] + lockout for j in range(limit - 1, len(times))
            if times[j] - times[j - limit + 1] <= window]
    return max(ends) if ends and max(ends) > now else None


def _record_failure(s: Session, email: str, address: str, web: WebSettings,
                    now: datetime) -> None:
    keep = timedelta(minutes=web.failure_window_minutes + web.lockout_minutes)
    with s.begin():
        s.execute(sa.delete(SignInFailure).where(
            col(SignInFailure.created_at) < now - keep))
        s.add(SignInFailure(email=email, address=address, created_at=now))


def authenticate(s: Session, email: str, password: str, address: str, now: datetime, *,
                 web: WebSettings | None = None, hasher: Hasher | None = None) -> Agent:
    """The enabled agent whose e-mail and password these are, else SignInFailed,
    AccountDisabled or LockedOut (then no password is checked at all).

    `s` must have no transaction open: this one commits its own short ones, so that a
    failure counts although it raises, and the slow hash check holds no lock."""
    web, hasher = web or WebSettings(), hasher or default_hasher()
    email, address = email.strip().lower()[:320], address[:64]
    with s.begin():
        until = max(
            (u for u in (
                _locked_until(s, col(SignInFailure.email), email,
                              web.max_failures_per_account, web=web, now=now),
                _locked_until(s, col(SignInFailure.address), address,
                              web.max_failures_per_address, web=web, now=now)) if u), default=None)
        agent = s.scalars(sa.select(Agent).where(col(Agent.email) == email)).first()
        hashed, enabled = (agent.password_hash, agent.enabled) if agent else (None, False)
    if until is not None:
        raise LockedOut(until)
    if not _verify(hasher, hashed, password) or agent is None or hashed is None:
        _record_failure(s, email, address, web, now)
        raise SignInFailed("wrong e-mail or password")
    if not enabled:
        raise AccountDisabled("this account is disabled: ask an admin")
    with s.begin():
        if hasher.check_needs_rehash(hashed):
            agent.password_hash = hasher.hash(password)
            s.add(agent)
        s.execute(sa.delete(SignInFailure).where(col(SignInFailure.email) == email))
    return agent


def open_session(s: Session, agent: Agent, address: str, user_agent: str, now: datetime, *,
                 secret: str, web: WebSettings | None = None) -> tuple[str, str]:
    """A new session for `agent`: (token for the cookie, CSRF token for the pages).
    A new token at every sign-in: a token planted before it (fixation) signs nobody in."""
    web = web or WebSettings()
    token = secrets.token_urlsafe(32)
    s.add(AgentSession(token_sha256=_digest(token), agent_id=_id(agent.id), created_at=now,
                       last_seen_at=now, expires_at=now + timedelta(days=web.session_days),
                       address=address[:64], user_agent=user_agent[:512]))
    s.flush()
    return token, csrf_token(secret, token)


def _live(s: Session, token: str, now: datetime, web: WebSettings) -> AgentSession | None:
    found = s.scalars(sa.select(AgentSession).where(
        col(AgentSession.token_sha256) == _digest(token))).first()
    idle = timedelta(minutes=web.session_idle_minutes)
    if (found is None or found.revoked_at is not None or now >= found.expires_at
            or now - found.last_seen_at >= idle):
        return None
    return found


def session_agent(s: Session, token: str, now: datetime, *,
                  web: WebSettings | None = None) -> Agent | None:
    """The agent a session token signs in, or None: unknown, revoked, idle longer than
    `session_idle_minutes`, older than `session_days`, or the agent disabled. Notes the
    activity (at most once a minute, so reading pages rarely writes); the caller commits."""
    found = _signed_in(s, token, now, web or WebSettings())
    if found is None:
        return None
    session, agent = found
    if now - session.last_seen_at >= _SEEN_EVERY:
        session.last_seen_at = now
        s.add(session)
    return agent


def signed_in(s: Session, token: str, now: datetime, *,
              web: WebSettings | None = None) -> tuple[Agent, bool] | None:
    """What `session_agent` answers, without writing: the agent, and whether the session's
    activity is due to be noted (then call `session_agent` in a write transaction)."""
    found = _signed_in(s, token, now, web or WebSettings())
    if found is None:
        return None
    session, agent = found
    return agent, now - session.last_seen_at >= _SEEN_EVERY


def _signed_in(s: Session, token: str, now: datetime,
               web: WebSettings) -> tuple[AgentSession, Agent] | None:
    session = _live(s, token, now, web)
    if session is None:
        return None
    agent = s.get(Agent, session.agent_id)
    if agent is None or not agent.enabled:
        return None
    return session, agent


def revoke_sessions(s: Session, agent_id: int | None, now: datetime) -> int:
    """End every live session of the agent; returns how many."""
    done = s.execute(sa.update(AgentSession).where(
        col(AgentSession.agent_id) == agent_id, col(AgentSession.revoked_at).is_(None))
        .values(revoked_at=now))
    return int(getattr(done, "rowcount", 0) or 0)


def sign_out(s: Session, token: str, now: datetime) -> bool:
    """End this session; False if it was not a live one."""
    done = s.execute(sa.update(AgentSession).where(
        col(AgentSession.token_sha256) == _digest(token),
        col(AgentSession.revoked_at).is_(None)).values(revoked_at=now))
    return bool(getattr(done, "rowcount", 0))


def csrf_token(secret: str, session_token: str) -> str:
    """The token a session's pages send back with every change: an HMAC of the session
    token, so only someone who holds the session cookie's value can know it."""
    mac = hmac.new(secret.encode(), b"csrf\0" + session_token.encode(), hashlib.sha256)
    return mac.hexdigest()


def check_csrf(secret: str, session_token: str, given: str) -> bool:
    return hmac.compare_digest(csrf_token(secret, session_token), given)
