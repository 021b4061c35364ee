"""Mail servers going away: sending recovers within seconds, receiving and sending never
wait for each other. A real Dovecot, a real aiosmtpd server, the daemon in this process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import threading
from pathlib import Path

import pytest

from channels.base import TransientError
from inbox.runtime.daemon import Daemon
from inbox.store.models import Message, Outbox
from tests import peers
from tests.outbox.test_outbox_outage import lines as outbox_lines
from tests.peers import WAIT, Desk, running
from tests.runtime.test_email import ACK_SECONDS, customer_mail, read, rows

PROBE_SECONDS = 0.3
# The old code retried after the backoff (here 300 s): sends must go within the probe
# interval and a margin for a slow machine, far below it.
RECOVERY_SECONDS = PROBE_SECONDS + 3.0


async def send_failures(watched: peers.Watched, count: int) -> None:
    async with asyncio.timeout(WAIT), watched.cond:
        await watched.cond.wait_for(lambda: len(watched.send_errors) >= count)


async def test_waiting_acks_go_within_seconds_of_the_smtp_server_coming_back(
        desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    app = desk.configure(outbox={"backoff_base_seconds": 300, "poll_seconds": 0.05,
                                 "probe_seconds": PROBE_SECONDS})
    [watched] = desk.connectors(app).values()
    async with running(Daemon(app, {("email", "support"): watched})):
        await watched.watching()
        desk.sink.stop()
        desk.dovecot.append(desk.support, customer_mail(desk, "<o1@example.com>"))
        await send_failures(watched, 1)
        desk.dovecot.append(desk.support, customer_mail(desk, "<o2@example.com>", "Order 1235"))
        await watched.committed("o1@example.com", "o2@example.com")
        await send_failures(watched, 4)  # the first try and three probes
        desk.sink.start()
        received = await desk.sink.arrived(2, timeout=RECOVERY_SECONDS)
    acked = sorted(str(read(r.data)["In-Reply-To"]) for r in received)
    assert acked == ["<o1@example.com>", "<o2@example.com>"]
    assert {r.state for r in rows(app, Outbox)} <= {"sent", "sending"}  # stopped after "250"
    [began] = outbox_lines(caplog, logging.WARNING, "outage")
    assert "email/support" in began and "Connect" in began
    [over] = outbox_lines(caplog, logging.INFO, "outage over")
    assert "waiting send(s) released" in over
    assert len(outbox_lines(caplog, logging.INFO, " sent to ")) == 2


def bare_env() -> dict[str, str]:
    return dict(os.environ)  # INBOX_CONFIG, the database and the IMAP password: the test's


async def test_an_imap_outage_holds_back_no_ack(desk: Desk, tmp_path: Path) -> None:
    closed = peers.free_port()  # nothing listens here: the IMAP server is down
    app = desk.configure({"support": desk.account(imap={"port": closed})})
    [watched] = desk.connectors(app).values()
    mail = tmp_path / "new.eml"
    mail.write_bytes(customer_mail(desk, "<i1@example.com>"))
    async with running(Daemon(app, {("email", "support"): watched})):
        await watched.failed(TransientError)
        ingest = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "inbox", "ingest", str(mail), env=bare_env(),
            cwd=app.settings.base_dir, stdout=asyncio.subprocess.DEVNULL)
        assert await asyncio.wait_for(ingest.wait(), WAIT * 2) == 0
        [ack] = await desk.sink.arrived(1, timeout=ACK_SECONDS)
    assert read(ack.data)["In-Reply-To"] == "<i1@example.com>"
    assert not watched.started  # IMAP never answered meanwhile


class Hanging:
    """A TCP server that accepts connections and never says a word, until closed: an
    SMTP server that hangs (a full disk, a firewall eating the replies)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.connected = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:  # closed
                return
            self.conns.append(conn)
            self.connected.set()

    def close(self) -> None:
        self.server.close()
        for conn in self.conns:
            conn.close()


async def test_mail_is_received_while_a_send_hangs_on_the_smtp_server(desk: Desk) -> None:
    hanging = Hanging()
    try:
        app = desk.configure({"support": desk.account(smtp={"port": hanging.port})})
        [watched] = desk.connectors(app).values()
        async with running(Daemon(app, {("email", "support"): watched})):
            await watched.watching()
            desk.dovecot.append(desk.support, customer_mail(desk, "<h1@example.com>"))
            assert await asyncio.to_thread(hanging.connected.wait, WAIT)  # the ack hangs
            desk.dovecot.append(desk.support,
                                customer_mail(desk, "<h2@example.com>", "Order 1235"))
            await watched.committed("h1@example.com", "h2@example.com")
            assert watched.send_errors == []  # the first send is still hanging
            hanging.close()
            await watched.send_failed(TransientError)
    finally:
        hanging.close()
    assert len(rows(app, Message, direction="in")) == 2
    assert all(r.state in ("pending", "sending") for r in rows(app, Outbox))
