"""Agents as records: signing in, the lockout, sessions, CSRF and roles, on both
databases. Time is passed in; argon2 runs with fast parameters through a hasher that
counts its verifications, which is how a lockout is shown to check no password."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from inbox.core.config import WebSettings
from inbox.core.directory import ListedDirectory
from inbox.core.errors import InboxError
from inbox.core.vocab import Role
from inbox.desk import accounts
from inbox.desk.accounts import Action, can
from inbox.runtime.app import App
from inbox.store.models import Agent, AgentSession
from inbox.store.rawdb import reading

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
SECRET = "test-secret"
WEB = WebSettings(session_idle_minutes=30, session_days=2, max_failures_per_account=5,
                  max_failures_per_address=8, failure_window_minutes=15, lockout_minutes=15)


class CountingHasher(PasswordHasher):
    """Fast argon2id that counts how often a password was checked."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def s(app: App, hasher: CountingHasher) -> Iterator[Session]:
    with Session(app.engine, expire_on_commit=False) as session:
        with session.begin():
            accounts.add_team(session, "billing", NOW)
            accounts.add_agent(session, email="Ana@Shop.example", name="ana", role=Role.AGENT,
                               password=PASSWORD, now=NOW, teams=["billing"], hasher=hasher)
            accounts.add_agent(session, email="kim@shop.example", name="kim",
                               role=Role.ADMIN, password=PASSWORD, now=NOW, hasher=hasher)
        yield session


def sign_in(s: Session, hasher: CountingHasher, email: str = "ana@shop.example",  # noqa: PLR0917
            password: str = PASSWORD, address: str = "192.0.2.1",
            at: datetime = NOW) -> Agent:
    return accounts.authenticate(s, email, password, address, at, web=WEB, hasher=hasher)


def test_the_right_password_signs_in_and_a_wrong_one_or_unknown_email_does_not(
        s: Session, hasher: CountingHasher) -> None:
    assert sign_in(s, hasher, email=" ANA@shop.example ").name == "ana"
    for email, password in (("ana@shop.example", "wrong password!"),
                            ("nobody@shop.example", PASSWORD)):
        before = hasher.verified
        with pytest.raises(accounts.SignInFailed, match="wrong e-mail or password"):
            sign_in(s, hasher, email=email, password=password)
        assert hasher.verified == before + 1  # an unknown e-mail costs a check too


def test_five_failures_lock_the_account_without_checking_passwords(
        s: Session, hasher: CountingHasher) -> None:
    for minute in range(5):
        with pytest.raises(accounts.SignInFailed):
            sign_in(s, hasher, password="wrong password!", at=NOW + timedelta(minutes=minute),
                    address=f"192.0.2.{minute}")
    checked = hasher.verified
    with pytest.raises(accounts.LockedOut) as locked:
        sign_in(s, hasher, address="198.51.100.7", at=NOW + timedelta(minutes=5))
    assert hasher.verified == checked  # the right password, not even looked at
    assert locked.value.until == NOW + timedelta(minutes=4 + 15)
    assert sign_in(s, hasher, email="kim@shop.example").name == "kim"  # others sign in
    assert sign_in(s, hasher, at=NOW + timedelta(minutes=19)).name == "ana"


def test_failures_from_one_address_lock_that_address_for_every_account(
        s: Session, hasher: CountingHasher) -> None:
    for n in range(8):
        with pytest.raises(accounts.SignInFailed):
            sign_in(s, hasher, email=f"guess{n}@shop.example", address="203.0.113.9")
    checked = hasher.verified
    with pytest.raises(accounts.LockedOut):
        sign_in(s, hasher, address="203.0.113.9")
    assert hasher.verified == checked
    assert sign_in(s, hasher, address="192.0.2.50").name == "ana"


def test_failures_spread_wider_than_the_window_do_not_lock(
        s: Session, hasher: CountingHasher) -> None:
    for n in range(6):
        with pytest.raises(accounts.SignInFailed):
            sign_in(s, hasher, password="wrong password!", at=NOW + timedelta(minutes=4 * n))
    assert sign_in(s, hasher, at=NOW + timedelta(minutes=21)).name == "ana"


def test_a_disabled_agent_cannot_sign_in_and_loses_every_session(
        s: Session, hasher: CountingHasher) -> None:
    with s.begin():
        ana = accounts.find_agent(s, "ana")
        token, _ = accounts.open_session(s, ana, "192.0.2.1", "Firefox", NOW, secret=SECRET,
                                         web=WEB)
        assert accounts.set_enabled(s, ana, False, NOW) == 1
    with s.begin():
        assert accounts.session_agent(s, token, NOW, web=WEB) is None
    with pytest.raises(accounts.AccountDisabled):
        sign_in(s, hasher)


def test_a_new_password_ends_every_session_and_only_it_signs_in(
        s: Session, hasher: CountingHasher) -> None:
    with s.begin():
        ana = accounts.find_agent(s, "ana@shop.example")
        tokens = [accounts.open_session(s, ana, "192.0.2.1", "ua", NOW, secret=SECRET,
                                        web=WEB)[0] for _ in range(2)]
        with pytest.raises(accounts.WeakPassword):
            accounts.set_password(s, ana, "short", NOW, hasher=hasher)
        assert accounts.set_password(s, ana, "a much better one", NOW, hasher=hasher) == 2
    with s.begin():
        assert [accounts.session_agent(s, t, NOW, web=WEB) for t in tokens] == [None, None]
    with pytest.raises(accounts.SignInFailed):
        sign_in(s, hasher)
    assert sign_in(s, hasher, password="a much better one").name == "ana"


def test_a_session_ends_when_idle_and_when_too_old(s: Session) -> None:
    with s.begin():
        ana = accounts.find_agent(s, "ana")
        token, _ = accounts.open_session(s, ana, "192.0.2.1", "ua", NOW, secret=SECRET,
                                         web=WEB)
        [stored] = s.scalars(sa.select(AgentSession)).all()
    assert token not in stored.token_sha256 and stored.user_agent == "ua"
    at = NOW
    for _ in range(5 * 24):  # active every 25 minutes: never idle, until two days are up
        at += timedelta(minutes=25)
        with s.begin():
            agent = accounts.session_agent(s, token, at, web=WEB)
        assert (agent is not None) == (at < NOW + timedelta(days=2)), at
    with s.begin():
        token, _ = accounts.open_session(s, ana, "192.0.2.1", "ua", at, secret=SECRET, web=WEB)
    with s.begin():
        assert accounts.session_agent(s, token, at + timedelta(minutes=29), web=WEB)
        assert accounts.session_agent(s, token, at + timedelta(minutes=60), web=WEB) is None


def test_signing_out_ends_that_session_only(s: Session) -> None:
    with s.begin():
        ana = accounts.find_agent(s, "ana")
        first, _ = accounts.open_session(s, ana, "a", "ua", NOW, secret=SECRET)
        second, _ = accounts.open_session(s, ana, "b", "ua", NOW, secret=SECRET)
        assert first != second
        assert accounts.sign_out(s, first, NOW)
        assert accounts.session_agent(s, first, NOW) is None
        assert accounts.session_agent(s, second, NOW) is not None
        assert accounts.session_agent(s, "made-up", NOW) is None


def test_the_csrf_token_belongs_to_its_session(s: Session) -> None:
    with s.begin():
        ana = accounts.find_agent(s, "ana")
        token, csrf = accounts.open_session(s, ana, "a", "ua", NOW, secret=SECRET)
        other, other_csrf = accounts.open_session(s, ana, "a", "ua", NOW, secret=SECRET)
    assert accounts.check_csrf(SECRET, token, csrf)
    assert not accounts.check_csrf(SECRET, token, other_csrf)
    assert not accounts.check_csrf(SECRET, other, csrf)
    assert not accounts.check_csrf("another deployment", token, csrf)
    assert not accounts.check_csrf(SECRET, token, "")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_each_role_does_what_the_one_below_does_and_more(s: Session) -> None:
    agent, supervisor, admin = (Agent(name=r, role=r) for r in Role)
    assert [a for a in Action if can(agent, a)] == [Action.WORK_QUEUE]
    assert {a for a in Action if can(supervisor, a)} == {
        Action.WORK_QUEUE, Action.SEE_ALL_TEAMS, Action.REASSIGN, Action.RECEIVE_ESCALATIONS,
        Action.MERGE_CONTACTS, Action.EXPORT}
    assert all(can(admin, a) for a in Action)
    assert not can(Agent(name="x", role=Role.ADMIN, enabled=False), Action.WORK_QUEUE)


def test_names_and_emails_are_unique_and_usable(app: App, s: Session,
                                                 hasher: CountingHasher) -> None:
    for email, name, problem in (("ANA@shop.example", "ana2", "e-mail exists"),
                                 ("new@shop.example", "ana", "name exists"),
                                 ("new@shop.example", "an a", "cannot be a name"),
                                 ("new@shop.example", "owner", "cannot be a name"),
                                 ("new-at-shop", "neo", "not an e-mail")):
        with s.begin(), pytest.raises(InboxError, match=problem):
            accounts.add_agent(s, email=email, name=name, role=Role.AGENT,
                               password=PASSWORD, now=NOW, hasher=hasher)
    with reading(app.settings.resolved_database_url) as reader:
        directory = accounts.read_directory(reader)
    assert [a.name for a in directory.agents()] == ["ana", "kim"]
    assert directory.team("billing") is not None
    assert directory.team("billing").agents == ("ana",)  # type: ignore[union-attr]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_rule_naming_an_agent_added_while_the_daemon_runs_goes_live(
        app: App, s: Session, hasher: CountingHasher) -> None:
    """The daemon's rules and directory read the records again: no restart needed."""
    from inbox.core.directory import LiveDirectory, SettingsDirectory, merged
    from inbox.rules import Known, LiveRules

    seconds = [0.0]
    config = SettingsDirectory.from_settings(app.settings)  # the shipped rules' teams

    def read() -> ListedDirectory:
        with reading(app.settings.resolved_database_url) as reader:
            return merged(accounts.read_directory(reader), config)

    names = LiveDirectory(read, max_age=5, clock=lambda: seconds[0])
    rules = app.settings.path(app.settings.rules_dir)
    live = LiveRules(rules, Known.from_settings(app.settings, names), clock=lambda: seconds[0],
                     names=names)
    (rules / "60-lee.yaml").write_text("- name: to lee\n  when: always\n  then: {assign: lee}\n")
    assert not live.reload(wait=True) and live.problems  # lee is nobody yet
    with s.begin():
        accounts.add_agent(s, email="lee@shop.example", name="lee", role=Role.AGENT,
                           password=None, now=NOW, hasher=hasher)
    seconds[0] = 5.0
    assert live.reload(wait=True) and not live.problems
    assert names.agent("lee") is not None


def test_a_name_the_directory_does_not_know_yet_is_read_again_at_once() -> None:
    """An agent added a moment ago can be assigned at once; an unknown name does not
    send the desk to the database more than every miss_age seconds."""
    from inbox.core.directory import Agent as Listed
    from inbox.core.directory import LiveDirectory

    seconds, agents, loads = [0.0], [Listed("ana", "ana@shop.example")], [0]

    def read() -> ListedDirectory:
        loads[0] += 1
        return ListedDirectory(list(agents), [])

    names = LiveDirectory(read, max_age=5, clock=lambda: seconds[0], miss_age=0.5)
    agents.append(Listed("lee", "lee@shop.example"))
    seconds[0] = 1.0
    assert names.agent("lee") is not None and loads[0] == 2  # read again on the miss
    assert names.agent("nobody") is None and names.agent("nobody") is None
    assert loads[0] == 2  # not again within miss_age
    seconds[0] = 1.6
    assert names.agent("nobody") is None and loads[0] == 3
