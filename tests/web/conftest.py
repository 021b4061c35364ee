"""The browser rig: Debian's Chromium driven by Playwright, against a real `inbox run`.

Chromium comes from apt (installed here when missing, as tests/peers.py does for
Dovecot; `playwright install` downloads a browser of its own and is never used), and
is launched with the flags ../shared/peers.md lists. One browser serves every test of
this folder; each test gets a fresh context (no cookies, no cache) and a page that
records what it asked for and what the console said.

`desk` is a deployment made by `inbox init`, migrated with `inbox db upgrade` and
served by `inbox run` in a subprocess, as an operator would, on a free port, with real
peers (tests/web/peers.py): an e-mail account on the private Dovecot sending to an SMTP
sink, and a Telegram bot on the local Bot API. It is started once per database for the
whole folder (package scope) and parametrised over SQLite and PostgreSQL (a database
created for it, dropped after), so every browser test runs on both; a module that
checks only page mechanics, the same whatever the database, says so and runs on SQLite
alone (`ON_SQLITE_ONLY`). The fixture waits for /healthz and for the mailbox to be
watched, then yields the `DeskProcess`. axe-core is vendored under vendor/ (see
vendor/README.md), so the accessibility check runs offline.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.config import load_settings
from inbox.runtime.app import App
from inbox.store.models import Cursor
from tests.channels.telegram.bot_api import TOKEN
from tests.conftest import PG_ADMIN
from tests.peers import (
    PASSWORD,
    WAIT,
    Dovecot,
    SmtpSink,
    Tls,
    ensure_installed,
    free_port,
    merged,
    toml,
)
from tests.web.peers import BOT_ACCOUNT, BotApi, Peers

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
INBOX = [sys.executable, "-m", "inbox"]


# A font with Thai letters: without one, Chromium draws empty boxes for Thai, and what a
# test measures of Thai text (clipping, width) is measured of boxes. (Persian is in
# DejaVu, which chromium brings.)
THAI_FONT = Path("/usr/share/fonts/truetype/tlwg/Loma.ttf")


def ensure_chromium() -> None:
    ensure_installed(CHROMIUM, "chromium")
    ensure_installed(THAI_FONT, "fonts-thai-tlwg-ttf")


def operator_env() -> dict[str, str]:
    """The operator's shell: no INBOX_* variables set by another fixture."""
    return {k: v for k, v in os.environ.items() if not k.startswith("INBOX_")}


@dataclass
class DeskProcess:
    """`inbox run` on a deployment; `url` is where its desk answers. The `desk`
    fixture's also names its database and its peers (`peers_of` asks for them)."""

    directory: Path
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    database: str = "sqlite"
    peers: Peers | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=WAIT * 3)


def make_deployment(directory: Path, port: int,
                    configure: Callable[[Path], None] = lambda directory: None) -> Path:
    """`inbox init` and `inbox db upgrade`, with the desk on `port`; `configure` edits
    the deployment before its database is made."""
    env = operator_env()
    subprocess.run([*INBOX, "init", str(directory)], env=env, check=True, capture_output=True)
    config = directory / "inbox.toml"
    config.write_text(config.read_text().replace(
        'listen = "127.0.0.1:8025"', f'listen = "127.0.0.1:{port}"'))
    configure(directory)
    subprocess.run([*INBOX, "db", "upgrade"], cwd=directory, env=env, check=True,
                   capture_output=True)
    return directory


def start_desk(directory: Path, port: int, **more: Any) -> DeskProcess:
    """`inbox run` in `directory`; returns once /healthz answers (or fails the test).
    `more`: the `DeskProcess` fields after `log`."""
    log = directory / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*INBOX, "run"], cwd=directory, env=operator_env(),
                                stdout=out, stderr=subprocess.STDOUT)
    desk = DeskProcess(directory, f"http://127.0.0.1:{port}", proc, log, **more)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"inbox run exited with {proc.returncode}:\n{desk.output()}")
        try:
            if httpx.get(f"{desk.url}/healthz", timeout=1).status_code == 200:
                return desk
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling a condition with a deadline, not waiting for time
    desk.stop()
    pytest.fail(f"the desk did not answer /healthz within {WAIT}s:\n{desk.output()}")


DATABASES = ("sqlite", "postgresql")
# A module whose tests check page mechanics (assets, headers, the policy) that no
# database changes: `pytestmark = ON_SQLITE_ONLY`.
ON_SQLITE_ONLY = pytest.mark.parametrize("desk", ["sqlite"], indirect=True)
IMAP_PASSWORD_FILE, TOKEN_FILE = "imap.password", "telegram.token"  # in the deployment


@pytest.fixture(scope="package", params=DATABASES)
def desk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         dovecot: Dovecot, tls: Tls) -> Iterator[DeskProcess]:
    """One real `inbox run` per database for this folder's browser tests, with an
    e-mail account and a Telegram bot on real peers."""
    database: str = request.param
    directory = tmp_path_factory.mktemp(f"web-{database}") / "desk"
    with running_desk(database, directory, dovecot, tls) as running:
        yield running


More = Callable[[str], dict[str, Any]]  # the desk's URL -> more of inbox.toml


@contextlib.contextmanager
def running_desk(database: str, directory: Path, dovecot: Dovecot, tls: Tls,
                 more: More = lambda url: {}) -> Iterator[DeskProcess]:
    """`inbox run` on a new deployment in `directory` with real peers (a mailbox on
    Dovecot, an SMTP sink, a local Bot API) and `more` settings, until the block ends."""
    port = free_port()
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(new_database()) if database == "postgresql" else None
        sink = SmtpSink(tls)
        sink.start()
        stack.callback(sink.stop)
        telegram = BotApi()
        stack.callback(telegram.stop)
        peers = Peers(dovecot, dovecot.add_user(f"support-{port}@helpdesk.test"), sink,
                      telegram)
        extra = more(f"http://127.0.0.1:{port}")
        make_deployment(directory, port, lambda d: with_peers(d, peers, url, extra))
        running = start_desk(directory, port, database=database, peers=peers)
        stack.callback(lambda: _stopped(running))
        _watching_the_mailbox(running)
        yield running


def _stopped(running: DeskProcess) -> None:
    assert running.stop() == 0, running.output()


def peers_of(desk: DeskProcess) -> Peers:
    """The `desk` fixture's peers (a `start_desk` of a test's own has none)."""
    assert desk.peers is not None, "not the `desk` fixture's daemon"
    return desk.peers


@contextlib.contextmanager
def new_database() -> Iterator[str]:
    """A PostgreSQL database of its own (as tests/conftest.py pg_url makes one), dropped
    after; its URL."""
    name = f"inbox_web_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is needed for the tests: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def with_peers(directory: Path, peers: Peers, database_url: str | None,
               more: dict[str, Any] | None = None) -> None:
    """The deployment's inbox.toml, as its admin would write it: the support mailbox,
    the sink for sending, the bot on the local Bot API; secrets in files beside it (so
    every `inbox` command run there sees them), and on `database_url` if given."""
    (directory / IMAP_PASSWORD_FILE).write_text(PASSWORD)
    (directory / TOKEN_FILE).write_text(TOKEN)
    config = directory / "inbox.toml"
    data = tomllib.loads(config.read_text())
    server = {"host": "127.0.0.1", "security": "none"}
    data = merged(data, {
        "addresses": [*data.get("addresses", []), peers.support], "domain": "helpdesk.test",
        "outbox": {"poll_seconds": 0.05, "backoff_base_seconds": 0.05,
                   "probe_seconds": 0.05},
        # Always open: the shipped after-hours rule must not depend on when tests run.
        "business_hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                           "hours": "00:00-23:59:59.999999"},
        # The weekly digest goes by the real clock (Mondays 08:00): off, so no test's
        # sink meets a digest to its supervisors (tests/desk/test_digest.py has it on).
        "reports": {"digest": False},
        "channels": {
            "email": {"support": {
                "address": peers.support,
                "imap": {**server, "port": peers.dovecot.port,
                         "password_file": IMAP_PASSWORD_FILE},
                "smtp": {**server, "port": peers.sink.port}}},
            "telegram": {BOT_ACCOUNT: {"token_file": TOKEN_FILE,
                                       "api_url": peers.telegram.server.url}},
            # the shop's contact form posts to /api/v1/inbound; answered by e-mail
            "api": {"shop": {"reply_via": "support"}}},
        **({"database_url": database_url} if database_url else {})})
    config.write_text(toml(merged(data, more or {})))


def _watching_the_mailbox(desk: DeskProcess) -> None:
    """Until the daemon has saved its first mailbox cursor: the account starts "now",
    so only mail that arrives after that is the customers' new mail."""
    app = App(load_settings(desk.directory / "inbox.toml", operator_env()))
    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with Session(app.engine) as s:
                if s.scalar(sa.select(Cursor).where(col(Cursor.channel) == "email")):
                    return
            time.sleep(0.05)  # polling a condition with a deadline
        pytest.fail(f"the daemon watched no mailbox within {WAIT}s:\n{desk.output()}")
    finally:
        app.close()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    ensure_chromium()
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
    yield launched
    launched.close()


@dataclass
class Watched:
    """A page, and what it did: every request's URL, every console message and error."""

    page: Page
    requests: list[str] = field(default_factory=list)
    console: list[ConsoleMessage] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # uncaught exceptions in the page

    def console_errors(self) -> list[str]:
        return [m.text for m in self.console if m.type == "error"]

    def hosts(self) -> set[str]:
        return {urlsplit(u).netloc for u in self.requests if not u.startswith("data:")}


def watch(browser: Browser, **context: object) -> Iterator[Watched]:
    ctx = browser.new_context(**context)  # type: ignore[arg-type]
    page = ctx.new_page()
    watched = Watched(page)
    page.on("request", lambda r: watched.requests.append(r.url))
    # A lambda, not list.append: Playwright sets an attribute on each handler.
    page.on("console", lambda m: watched.console.append(m))  # noqa: PLW0108
    page.on("pageerror", lambda e: watched.errors.append(str(e)))
    yield watched
    ctx.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Watched]:
    """A fresh browser context's page, watched."""
    yield from watch(browser)


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Watched]:
    """A page whose context lets Playwright inject axe-core: an injected script is
    inline to the page, which the desk's CSP (rightly) refuses."""
    yield from watch(browser, bypass_csp=True)


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")
                   ) -> list[dict[str, object]]:
    """axe-core's violations of the page as it is now, at these impacts."""
    page.add_script_tag(path=AXE)
    found: list[dict[str, object]] = page.evaluate(
        "async () => (await axe.run(document)).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.html)}))")
    return [v for v in found if v["impact"] in impacts]


# The teams `inbox init` writes; an agent sees only their teams' conversations.
TEAMS = ("support", "billing", "tech")


def add_agent(desk: DeskProcess, name: str, role: str = "agent",
              teams: tuple[str, ...] = TEAMS) -> tuple[str, str]:
    """An agent made as an admin makes one (`inbox agent add` in the deployment, the
    password from INBOX_AGENT_PASSWORD); returns (e-mail, password)."""
    email, password = f"{name.lower()}@helpdesk.test", f"correct horse {name} battery"
    in_teams = [arg for team in teams for arg in ("--team", team)]
    subprocess.run([*INBOX, "agent", "add", email, "--name", name, "--role", role, *in_teams],
                   cwd=desk.directory, env={**operator_env(), "INBOX_AGENT_PASSWORD": password},
                   check=True, capture_output=True)
    return email, password


def sign_in(page: Page, url: str, email: str, password: str) -> None:
    """Through the sign-in form, as an agent does."""
    page.goto(f"{url}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def opened_live(page: Page, open_it: Callable[[], object]) -> None:
    """`open_it()` (a click or a goto that opens a conversation), then wait until the
    page's live stream connected and the refresh it brings at once has settled: until
    then, what a test holds of #conv-live (a mail's frame, an opened fold) may be
    replaced under it."""
    with page.expect_response(lambda r: re.fullmatch(r"/c/\d+/live",
                                                     urlsplit(r.url).path) is not None):
        open_it()
    page.wait_for_function("() => !document.querySelector('#conv-box.htmx-request, "
                           ".htmx-swapping, .htmx-added, .htmx-settling')")


@pytest.fixture
def agent_page(browser: Browser, desk: DeskProcess) -> Iterator[Watched]:
    """A page signed in as a new agent (named in `agent_page.page` by the header)."""
    name = f"Agent{free_port()}"
    email, password = add_agent(desk, name)
    for watched in watch(browser):
        sign_in(watched.page, desk.url, email, password)
        watched.page.wait_for_url(f"{desk.url}/")
        yield watched
