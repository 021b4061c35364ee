"""The real Bluesky network for the tests: @atproto/dev-env's PLC + PDS + AppView.

npm installs the pinned dev-env once into ~/.cache/inbox-tests/ (about 1.5 minutes and
360 MB the first time; Node 20 runs the 0.3 line, 0.5 and later need Node 22). Each
test session starts it on free 127.0.0.1 ports (devnet.js) against a PostgreSQL
database of its own and a private redis-server, in about 7 seconds, and tears all of it
down at the end. Customers are real accounts posting real mentions; `settle()` waits
until the AppView has indexed what was posted, so tests read without sleeping.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import selectors
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from atproto import Client, models

from tests.peers import free_port

DEV_ENV = "@atproto/dev-env"
VERSION = "0.3.215"  # the newest that declares Node >= 18; 0.5.x wants Node 22
CACHE = Path(os.environ.get("INBOX_TEST_CACHE", Path.home() / ".cache" / "inbox-tests"))
HERE = Path(__file__).parent
PG_ADMIN = os.environ.get("INBOX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
START_TIMEOUT = 120.0
PASSWORD = "customer-password"


def ensure_dev_env() -> Path:
    """The folder holding node_modules with the pinned dev-env, installed if missing
    (one installer at a time: parallel sessions wait on a lock)."""
    home = CACHE / f"atproto-dev-env-{VERSION}"
    marker = home / "node_modules" / "@atproto" / "dev-env" / "package.json"
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and json.loads(marker.read_text())["version"] == VERSION:
            return home
        if shutil.which("npm") is None:
            pytest.fail("npm (Node.js 20) is needed to run the Bluesky dev network")
        (home / "package.json").write_text('{"private": true}\n')
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
             f"{DEV_ENV}@{VERSION}"], cwd=home, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"npm install {DEV_ENV}@{VERSION} failed: {done.stderr[-2000:]}")
    return home


@dataclass
class Account:
    handle: str
    did: str
    password: str
    client: Client


@dataclass
class Post:
    uri: str
    cid: str

    @property
    def ref(self) -> models.ComAtprotoRepoStrongRef.Main:
        return models.ComAtprotoRepoStrongRef.Main(uri=self.uri, cid=self.cid)


@dataclass
class Devnet:
    pds: str
    appview: str
    control: str
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    made: list[Account] = field(default_factory=list)

    def settle(self) -> None:
        """Wait until the AppView has indexed everything posted so far."""
        httpx.post(self.control + "/settle", timeout=60).raise_for_status()

    def account(self, name: str) -> Account:
        """A new account `<name>-<suffix><n>.test` ("support" is a reserved handle)."""
        handle = f"{name}-{self.suffix}{len(self.made)}.test"
        client = Client(base_url=self.pds)
        client.com.atproto.server.create_account(models.ComAtprotoServerCreateAccount.Data(
            handle=handle, email=f"{handle}@example.test", password=PASSWORD))
        self.settle()  # the SDK's login reads the profile from the AppView
        client.login(handle, PASSWORD)
        assert client.me is not None
        self.made.append(Account(handle, client.me.did, PASSWORD, client))
        return self.made[-1]

    def close(self) -> None:
        for account in self.made:
            account.client.request.close()

    def app_password(self, account: Account, name: str = "inbox") -> str:
        made = account.client.com.atproto.server.create_app_password(
            models.ComAtprotoServerCreateAppPassword.Data(name=name))
        return str(made.password)

    def post(self, author: Account, text: str, mention: Account | None = None,
             reply_to: Post | None = None, root: Post | None = None) -> Post:
        """`author` posts `text` (mentioning `mention` where its @handle is in the text),
        optionally as a reply to `reply_to` in the thread of `root`."""
        facets = []
        if mention is not None:
            at = text.encode().index(f"@{mention.handle}".encode())
            facets.append(models.AppBskyRichtextFacet.Main(
                index=models.AppBskyRichtextFacet.ByteSlice(
                    byte_start=at, byte_end=at + len(mention.handle.encode()) + 1),
                features=[models.AppBskyRichtextFacet.Mention(did=mention.did)]))
        reply = None
        if reply_to is not None:
            reply = models.AppBskyFeedPost.ReplyRef(parent=reply_to.ref,
                                                    root=(root or reply_to).ref)
        made = author.client.send_post(text, facets=facets or None, reply_to=reply)
        self.settle()
        return Post(made.uri, made.cid)

    def thread(self, reader: Account, post: Post, replies: int = 1,
               timeout: float = 60.0) -> list[Any]:
        """The replies under `post`, depth first, as `reader` sees the thread, once there
        are `replies` of them (the AppView indexes a moment after the PDS has a post)."""
        deadline = time.monotonic() + timeout
        while len(found := self._replies(reader, post)) < replies \
                and time.monotonic() < deadline:
            self.settle()
        return found

    def notified(self, account: Account, count: int, timeout: float = 60.0) -> None:
        """Wait until `account` has `count` notifications (the AppView writes them a
        moment after it indexed the posts)."""
        deadline = time.monotonic() + timeout
        while len(account.client.app.bsky.notification.list_notifications().notifications) \
                < count and time.monotonic() < deadline:
            self.settle()

    def _replies(self, reader: Account, post: Post) -> list[Any]:
        got = reader.client.app.bsky.feed.get_post_thread({"uri": post.uri, "depth": 20})
        found: list[Any] = []

        def walk(node: Any) -> None:
            for child in getattr(node, "replies", None) or []:
                found.append(child.post)
                walk(child)

        walk(got.thread)
        return found


@contextlib.contextmanager
def running(tmp: Path) -> Iterator[Devnet]:
    """A dev network for the session: its own database and redis, all on 127.0.0.1."""
    home = ensure_dev_env()
    name = f"inbox_bsky_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    admin.execute(f'CREATE DATABASE "{name}"')
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp / "devnet.log"
    env = {**os.environ, "NODE_PATH": str(home / "node_modules"),
           "DB_POSTGRES_URL": PG_ADMIN.rsplit("/", 1)[0] + "/" + name,
           "DB_POSTGRES_SCHEMA": "inbox", "REDIS_HOST": f"127.0.0.1:{redis_port}",
           "LOG_ENABLED": "false", "NODE_NO_WARNINGS": "1"}
    with open(log, "wb") as errors:
        node = subprocess.Popen(["node", str(HERE / "devnet.js")], cwd=home, env=env,
                                stdout=subprocess.PIPE, stderr=errors)
    net: Devnet | None = None
    try:
        net = _started(node, log)
        yield net
    finally:
        if net is not None:
            net.close()
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
        if node.stdout is not None:
            node.stdout.close()
        redis.terminate()
        redis.wait()
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def _started(node: subprocess.Popen[bytes], log: Path) -> Devnet:
    """The addresses devnet.js prints once every server answers."""
    assert node.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(node.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT
        while not sel.select(timeout=max(deadline - time.monotonic(), 0)):
            if time.monotonic() >= deadline:
                break
        line = node.stdout.readline() if node.poll() is None else b""
    if not line:
        node.kill()
        pytest.fail(f"the Bluesky dev network did not start: {log.read_text()[-3000:]}")
    info = json.loads(line)
    loopback = {k: v.replace("//localhost:", "//127.0.0.1:") for k, v in info.items()}
    return Devnet(pds=loopback["pds"], appview=loopback["appview"],
                  control=loopback["control"])
