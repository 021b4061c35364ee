"""Real mail servers for the e-mail tests: a private Dovecot and an aiosmtpd sink.

tests/conftest.py registers this module as a plugin (pytest rewrites its asserts as it
does a test module's), so every test can ask for these fixtures by name:

* `dovecot` (session): a private Dovecot 2.3 on a free 127.0.0.1 port, plain IMAP with
  STARTTLS and implicit TLS on a second port; every user name logs in with PASSWORD and
  tests name the mailboxes they use with `dovecot.add_user()`. Installed with apt-get
  when missing (CI machines start without it), run unprivileged in the foreground,
  stopped at the end of the session.
* `tls` (session): a throw-away CA (trustme) whose certificate both servers use.
* `desk` (per test): the `app` deployment with its own support and customer mailboxes,
  configured through its inbox.toml (see `Desk`).
* `smtp_sink` (per test): an aiosmtpd Controller on 127.0.0.1 that records what it
  accepts, can refuse on demand (4xx/5xx at RCPT or DATA, refused logins) and can
  deliver what it accepts into Dovecot mailboxes as an MTA would, so a test reads the
  acknowledgement back over IMAP the way the customer's mail client does.

Nothing here sleeps to wait: servers report readiness on a pipe or a socket, and tests
wait on conditions (`SmtpSink.wait_for`, `Watched.committed`) with timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import tomllib
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from imapclient import IMAPClient

from channels.base import (
    ASGIApp,
    Connector,
    FetchResult,
    Outbound,
    SendResult,
    WebhookReceiver,
)
from inbox.core.config import load_settings
from inbox.runtime.app import App
from inbox.runtime.connectors import build_connectors
from inbox.runtime.daemon import Daemon
from inbox.runtime.deployment import init_deployment
from inbox.store.db import upgrade

DOVECOT = Path("/usr/sbin/dovecot")
PASSWORD = "secret"  # of every Dovecot user
WAIT = 10.0  # seconds: generous for CI, never reached when things work


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def desk_on_any_port(config: Path) -> None:
    """Have a deployment's desk listen on a free port the OS picks (`[web] listen` port
    0), not on 8025: daemons of other tests, or a real one, may hold that."""
    text = config.read_text()
    default = 'listen = "127.0.0.1:8025"'
    assert default in text, "inbox init no longer writes the desk's listen address"
    config.write_text(text.replace(default, 'listen = "127.0.0.1:0"'))


def ensure_installed(binary: Path, package: str) -> None:
    """Install Debian's `package` when `binary` is missing (root only, as on CI): a new
    machine has none of the peers, and the project's own tests install what they use."""
    if binary.exists():
        return
    if os.geteuid() != 0:
        pytest.fail(f"{binary} is needed: apt-get install {package} (or run tests as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # The suite's workers (pytest-xdist) may want a package at once: apt takes turns.
    with open("/tmp/inbox-tests-apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():  # another worker installed it while we waited
            return
        for cmd in (["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", package]):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                pytest.fail(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")


def ensure_dovecot() -> None:
    ensure_installed(DOVECOT, "dovecot-imapd")


# ------------------------------------------------------------------------------ TLS

@dataclass
class Tls:
    ca: trustme.CA
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_tls(directory: Path) -> Tls:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    tls = Tls(ca, directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    ca.cert_pem.write_to_path(str(tls.ca_file))
    cert.cert_chain_pems[0].write_to_path(str(tls.cert_file))
    cert.private_key_pem.write_to_path(str(tls.key_file))
    return tls


# --------------------------------------------------------------------------- Dovecot

_CONF = """\
instance_name = inbox-test-{port}
base_dir = {root}/run
state_dir = {root}/state
log_path = /dev/stderr
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u/Maildir
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
mail_max_userip_connections = 200
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
  # No growing delay for the whole of 127.0.0.1 after a test's deliberately bad login.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
"""


class Dovecot:
    """A private Dovecot instance; mailboxes live in a temporary directory."""

    def __init__(self, tls: Tls) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="inbox-dovecot-"))  # not under a 0700 dir
        self.port, self.tls_port = free_port(), free_port()
        self.host = "127.0.0.1"
        self.users: set[str] = set()
        self.tls = tls
        self.proc: subprocess.Popen[str] | None = None
        as_root = os.geteuid() == 0
        self.user = "nobody" if as_root else pwd.getpwuid(os.getuid()).pw_name
        self.group = "nogroup" if as_root else self.user
        for src, name in ((tls.cert_file, "cert.pem"), (tls.key_file, "key.pem")):
            shutil.copyfile(src, self.root / name)
        (self.root / "dovecot.conf").write_text(_CONF.format(
            root=self.root, port=self.port, tls_port=self.tls_port, user=self.user,
            group=self.group, password=PASSWORD))
        if as_root:
            shutil.chown(self.root, self.user, self.group)
            for path in self.root.iterdir():
                shutil.chown(path, self.user, self.group)

    def start(self) -> None:
        as_root = os.geteuid() == 0
        self.proc = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(self.root / "dovecot.conf")],
            stderr=subprocess.PIPE, text=True, start_new_session=True,
            user=self.user if as_root else None, group=self.group if as_root else None,
            extra_groups=[] if as_root else None)
        assert self.proc.stderr is not None
        log: list[str] = []
        for line in self.proc.stderr:  # the master says so once its listeners are bound
            log.append(line)
            if "starting up" in line:
                break
        else:
            raise RuntimeError("dovecot did not start:\n" + "".join(log))
        # Keep draining its log, or a chatty Dovecot would block on a full pipe.
        threading.Thread(target=_drain, args=(self.proc.stderr,), daemon=True).start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # The whole process group: signalled through the master alone, an imap
            # process with a client attached takes 10 s to say goodbye.
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=WAIT)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def add_user(self, name: str) -> str:
        """A mailbox (named by an e-mail address) that mail can be delivered to.

        Every name logs in with PASSWORD (a static passdb: a passwd-file is reread at
        most once a second, too slow for tests that make users as they go).
        """
        self.users.add(name)
        return name

    def client(self, user: str) -> IMAPClient:
        client = IMAPClient(self.host, self.port, ssl=False, timeout=WAIT)
        client.normalise_times = False
        client.login(user, PASSWORD)
        return client

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> int:
        """Put a message in a mailbox as another client would; returns its UID."""
        with contextlib.closing(_Logout(self.client(user))) as c:
            if folder != "INBOX" and not c.client.folder_exists(folder):
                c.client.create_folder(folder)
            reply = c.client.append(folder, raw)
        return int(reply.split(b"]")[0].split()[-1])  # [APPENDUID validity uid]

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Every message in a mailbox, oldest first, read without changing anything."""
        with contextlib.closing(_Logout(self.client(user))) as c:
            c.client.select_folder(folder, readonly=True)
            uids = c.client.search("ALL")
            found = c.client.fetch(uids, [b"BODY.PEEK[]"])
            return [found[u][b"BODY[]"] for u in sorted(found)]

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _drain(stream: Any) -> None:
    with contextlib.suppress(ValueError, OSError):  # closed when the server stops
        for _ in stream:
            pass


@dataclass
class _Logout:
    client: IMAPClient

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.logout()


# ------------------------------------------------------------------------- SMTP sink

@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float  # time.monotonic() when the message was accepted
    peer: object = None  # the client's (host, port): one per SMTP connection


@dataclass
class SinkHandler:
    """aiosmtpd handler: records, refuses on demand, delivers into Dovecot."""

    received: list[Received] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    # Replies to give instead of accepting, in order: a refusal per RCPT or DATA.
    rcpt_replies: deque[str] = field(default_factory=deque)
    data_replies: deque[str] = field(default_factory=deque)
    reject: dict[str, str] = field(default_factory=dict)  # address -> permanent refusal
    deliver: Callable[[str, bytes], None] | None = None

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.lower() in self.reject:
            return self.reject[address.lower()]
        if self.rcpt_replies:
            return self.rcpt_replies.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.popleft()
        content = envelope.original_content or b""
        data = b"Return-Path: <" + (envelope.mail_from or "").encode() + b">\r\n" + content
        if self.deliver is not None:
            for rcpt in envelope.rcpt_tos:
                self.deliver(rcpt, data)
        with self.cond:
            self.received.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos),
                                          data, time.monotonic(), session.peer))
            self.cond.notify_all()
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server on 127.0.0.1 that tests can stop, restart and make misbehave."""

    def __init__(self, tls: Tls, *, auth: tuple[str, str] | None = None,
                 mode: str = "plain") -> None:
        self.handler = SinkHandler()
        self.host, self.port = "127.0.0.1", free_port()
        self.tls, self.auth, self.mode = tls, auth, mode
        self.controller: Controller | None = None

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        ok = (self.auth is not None and isinstance(auth_data, LoginPassword)
              and (auth_data.login.decode(), auth_data.password.decode()) == self.auth)
        # handled=False lets aiosmtpd answer 535; True would leave the client hanging.
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        kwargs: dict[str, Any] = {"hostname": self.host, "port": self.port,
                                  "ready_timeout": WAIT}
        if self.mode == "tls":
            kwargs["ssl_context"] = self.tls.server_context()
        elif self.mode == "starttls":
            kwargs.update(tls_context=self.tls.server_context(), require_starttls=True)
        if self.auth is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=self.mode != "plain")
        self.controller = Controller(self.handler, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[Received]:
        with self.handler.cond:
            return list(self.handler.received)

    def wait_for(self, count: int, timeout: float = WAIT) -> list[Received]:
        """Block until `count` messages were accepted (call via asyncio.to_thread)."""
        with self.handler.cond:
            if not self.handler.cond.wait_for(lambda: len(self.handler.received) >= count,
                                              timeout):
                raise TimeoutError(f"{len(self.handler.received)} of {count} messages "
                                   f"arrived in {timeout}s")
            return list(self.handler.received)

    async def arrived(self, count: int, timeout: float = WAIT) -> list[Received]:
        return await asyncio.to_thread(self.wait_for, count, timeout)


def deliver_to(dovecot: Dovecot) -> Callable[[str, bytes], None]:
    """An MTA's last step: mail for a known Dovecot user lands in its INBOX."""

    def deliver(rcpt: str, data: bytes) -> None:
        user = parseaddr(rcpt)[1].lower()
        if user in dovecot.users:
            dovecot.append(user, data)

    return deliver


# ------------------------------------------------------------------ watching a daemon

class Watched:
    """A real connector, observed: tells a test when the daemon committed a message.

    The daemon fetches, ingests and saves the cursor in one transaction, then fetches
    again with that cursor; so a fetch called with the cursor a batch came back with
    proves the batch is committed. Errors from fetch are recorded too.
    """

    def __init__(self, inner: Connector) -> None:
        self.inner = inner
        self.cond = asyncio.Condition()
        self.committed_ids: list[str] = []
        self.errors: list[BaseException] = []
        self.send_errors: list[BaseException] = []
        self.started = False  # a first start's position is committed: new mail counts
        self._pending: tuple[str | None, list[str]] | None = None

    @property
    def channel(self) -> str:
        return self.inner.channel

    @property
    def account(self) -> str:
        return self.inner.account

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        async with self.cond:
            if cursor is not None and not self.started:
                self.started = True
                self.cond.notify_all()
            if self._pending is not None and self._pending[0] == cursor:
                self.committed_ids += self._pending[1]
                self.cond.notify_all()
            self._pending = None
        try:
            result = await self.inner.fetch(cursor, wait)
        except BaseException as exc:
            async with self.cond:
                self.errors.append(exc)
                self.cond.notify_all()
            raise
        self._pending = (result.cursor, [i.external_id for i in result.items])
        return result

    def webhooks(self) -> Mapping[str, ASGIApp]:
        """The inner connector's endpoints, for the daemon to serve (WebhookReceiver)."""
        return self.inner.webhooks() if isinstance(self.inner, WebhookReceiver) else {}

    async def send(self, message: Outbound) -> SendResult:
        try:
            return await self.inner.send(message)
        except BaseException as exc:
            async with self.cond:
                self.send_errors.append(exc)
                self.cond.notify_all()
            raise

    async def close(self) -> None:
        await self.inner.close()

    async def watching(self, timeout: float = WAIT) -> None:
        """Until the account is watched: mail that arrives from now on is new mail."""
        async with asyncio.timeout(timeout), self.cond:
            await self.cond.wait_for(lambda: self.started)

    async def committed(self, *external_ids: str, timeout: float = WAIT) -> None:
        async with asyncio.timeout(timeout), self.cond:
            await self.cond.wait_for(lambda: set(external_ids) <= set(self.committed_ids))

    async def failed(self, kind: type[BaseException], timeout: float = WAIT) -> BaseException:
        """The first error of `kind` that fetch raised (waiting for one if needed)."""
        return await self._error(self.errors, kind, timeout)

    async def send_failed(self, kind: type[BaseException],
                          timeout: float = WAIT) -> BaseException:
        return await self._error(self.send_errors, kind, timeout)

    async def _error(self, errors: list[BaseException], kind: type[BaseException],
                     timeout: float) -> BaseException:
        async with asyncio.timeout(timeout), self.cond:
            await self.cond.wait_for(lambda: any(isinstance(e, kind) for e in errors))
        return next(e for e in errors if isinstance(e, kind))


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[asyncio.Task[None]]:
    """The daemon as a task for the duration of a `with` block, stopped gracefully."""
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)


def toml(data: dict[str, Any], prefix: str = "") -> str:
    """Enough of a TOML writer for a test's inbox.toml: tables, scalars, dates, lists."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append(toml(value, f"{prefix}{key}."))
        else:
            lines.append(f"{key} = {_toml_value(value)}\n")
    head = f"[{prefix.rstrip('.')}]\n" if prefix and (lines or not tables) else ""
    return head + "".join(lines) + "\n" + "".join(tables)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return repr(value)


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` laid over it, table by table."""
    out = dict(base)
    for key, value in changes.items():
        old = out.get(key)
        out[key] = merged(old, value) if isinstance(old, dict) and isinstance(
            value, dict) else value
    return out


PASSWORD_ENV = "INBOX_TEST_IMAP_PASSWORD"


@dataclass
class Desk:
    """A deployment whose inbox.toml names real mailboxes on the test's servers.

    `support` is the address customers write to; `customer` has a mailbox too, so a test
    reads our mail back as the customer's client would. Settings live in the
    deployment's own inbox.toml, so the daemon and the `inbox` command see the same.
    """

    deployment: Path
    dovecot: Dovecot
    sink: SmtpSink
    support: str
    customer: str
    apps: list[App] = field(default_factory=list)
    env: dict[str, str] | None = None  # instead of os.environ when loading settings
    initial: dict[str, Any] | None = None

    def account(self, address: str | None = None, **options: Any) -> dict[str, Any]:
        imap = {"host": self.dovecot.host, "port": self.dovecot.port, "security": "none",
                "password_env": PASSWORD_ENV, **options.pop("imap", {})}
        smtp = {"host": self.sink.host, "port": self.sink.port, "security": "none",
                **options.pop("smtp", {})}
        return {"address": address or self.support, **options, "imap": imap, "smtp": smtp}

    def configure(self, accounts: dict[str, dict[str, Any]] | None = None,
                  **top: Any) -> App:
        """Write inbox.toml (one `support` account unless told) and load it."""
        path = self.deployment / "inbox.toml"
        if self.initial is None:  # what `inbox init` wrote: everything else stays as is
            self.initial = tomllib.loads(path.read_text())
        data = merged(self.initial, {
            "name": "Acme Support", "addresses": [self.support], "domain": "helpdesk.test",
            # Retries that wait a second or more would make restart tests slow.
            "outbox": {"backoff_base_seconds": 0.05, "poll_seconds": 0.05,
                       "probe_seconds": 0.05},
            **top,
        })
        data["channels"] = {"email": accounts if accounts is not None
                            else {"support": self.account()}}
        path.write_text(toml(data))
        app = App(load_settings(self.deployment / "inbox.toml", self.env))
        self.apps.append(app)
        return app

    def configure_new(self) -> App:
        """Another installation: a deployment of its own with its own SQLite database."""
        init_deployment(self.deployment, force=True)
        desk_on_any_port(self.deployment / "inbox.toml")
        self.initial = None
        self.env = {"INBOX_DATABASE_URL": f"sqlite:///{self.deployment / 'inbox.db'}"}
        app = self.configure()
        upgrade(app.engine)
        return app

    def connectors(self, app: App) -> dict[tuple[str, str], Watched]:
        return {key: Watched(c) for key, c in build_connectors(app.settings).items()}

    def close(self) -> None:
        for app in self.apps:
            app.close()


# -------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def dovecot(tls: Tls) -> Iterator[Dovecot]:
    ensure_dovecot()
    server = Dovecot(tls)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def smtp_sink(tls: Tls, dovecot: Dovecot) -> Iterator[SmtpSink]:
    sink = SmtpSink(tls)
    sink.handler.deliver = deliver_to(dovecot)
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def desk(app: App, dovecot: Dovecot, smtp_sink: SmtpSink,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    """The `app` deployment with a support mailbox and a customer mailbox of its own."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    tag = uuid.uuid4().hex[:8]
    made = Desk(app.settings.base_dir, dovecot, smtp_sink,
                support=dovecot.add_user(f"support-{tag}@helpdesk.test"),
                customer=dovecot.add_user(f"anna-{tag}@example.com"))
    yield made
    made.close()
