"""The browser rig: Debian's Chromium driven by Playwright, against a real `inbox run`.

Chromium comes from apt (installed here when missing, as tests/peers.py does for
Dovecot; `playwright install` downloads a browser of its own and is never used), and
is launched with the flags ../shared/peers.md lists. One browser serves every test of
this folder; each test gets a fresh context (no cookies, no cache) and a page that
records what it asked for and what the console said.

`desk` is a deployment made by `inbox init`, migrated with `inbox db upgrade` and
served by `inbox run` in a subprocess, as an operator would, on a free port; the
fixture waits for /healthz and yields the base URL. axe-core is vendored under
vendor/ (see vendor/README.md), so the accessibility check runs offline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from tests.peers import WAIT, ensure_installed, free_port

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
INBOX = [sys.executable, "-m", "inbox"]


def ensure_chromium() -> None:
    ensure_installed(CHROMIUM, "chromium")


def operator_env() -> dict[str, str]:
    """The operator's shell: no INBOX_* variables set by another fixture."""
    return {k: v for k, v in os.environ.items() if not k.startswith("INBOX_")}


@dataclass
class DeskProcess:
    """`inbox run` on a deployment; `url` is where its desk answers."""

    directory: Path
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=WAIT * 3)


def make_deployment(directory: Path, port: int) -> Path:
    """`inbox init` and `inbox db upgrade`, with the desk on `port`."""
    env = operator_env()
    subprocess.run([*INBOX, "init", str(directory)], env=env, check=True, capture_output=True)
    config = directory / "inbox.toml"
    config.write_text(config.read_text().replace(
        'listen = "127.0.0.1:8025"', f'listen = "127.0.0.1:{port}"'))
    subprocess.run([*INBOX, "db", "upgrade"], cwd=directory, env=env, check=True,
                   capture_output=True)
    return directory


def start_desk(directory: Path, port: int) -> DeskProcess:
    """`inbox run` in `directory`; returns once /healthz answers (or fails the test)."""
    log = directory / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*INBOX, "run"], cwd=directory, env=operator_env(),
                                stdout=out, stderr=subprocess.STDOUT)
    desk = DeskProcess(directory, f"http://127.0.0.1:{port}", proc, log)
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


@pytest.fixture(scope="package")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeskProcess]:
    """One real `inbox run` for this folder's browser tests."""
    port = free_port()
    running = start_desk(make_deployment(tmp_path_factory.mktemp("web") / "desk", port), port)
    yield running
    assert running.stop() == 0, running.output()


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


@pytest.fixture
def agent_page(browser: Browser, desk: DeskProcess) -> Iterator[Watched]:
    """A page signed in as a new agent (named in `agent_page.page` by the header)."""
    name = f"Agent{free_port()}"
    email, password = add_agent(desk, name)
    for watched in watch(browser):
        sign_in(watched.page, desk.url, email, password)
        watched.page.wait_for_url(f"{desk.url}/")
        yield watched
