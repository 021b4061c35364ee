"""An account whose sends fail: one warning when it starts, probes, one line when it ends.

When a channel stops answering, its sends wait; the dispatcher tries one of them every
`outbox.probe_seconds` and, as soon as one goes, sends all the others at once instead
of leaving them to their backoff. A try before a send's own time (a probe) costs it no
attempt, so an outage of any length dead-letters nothing sooner than the backoff
schedule would. The channel here is a small `Connector` of our own that is down or up
on demand; tests/runtime/test_email_outage.py does the same with a real SMTP server.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from channels.base import FetchResult, Outbound, SendResult, TransientError
from inbox.core.config import OutboxSettings
from inbox.outbox.dispatcher import Dispatcher
from inbox.runtime.app import App
from inbox.store.models import Outbox
from tests.ingest.test_pipeline import NOW, mail, rows, run
from tests.outbox.test_outbox import Clock

DOWN = "SMTP 127.0.0.1:25: ConnectionRefusedError: [Errno 111] Connection refused"


class Server:
    """A channel that refuses every send while `down`; counts the tries."""

    channel, account = "email", "support"

    def __init__(self, *, retry_after: float | None = None) -> None:
        self.down = True
        self.retry_after = retry_after
        self.tries = 0
        self.sent: list[Outbound] = []

    async def fetch(self, cursor: str | None, wait: float) -> FetchResult:
        return FetchResult([], cursor)

    async def send(self, message: Outbound) -> SendResult:
        self.tries += 1
        if self.down:
            raise TransientError(DOWN, retry_after=self.retry_after)
        self.sent.append(message)
        return SendResult()

    async def close(self) -> None:
        pass


def dispatcher(app: App, server: Server, clock: Clock, **settings: float) -> Dispatcher:
    outbox = app.settings.outbox.model_copy(update=settings)
    return Dispatcher(app.engine, {("email", "support"): server}, outbox, clock)


def three_customers(app: App) -> None:
    run(app, mail("m1@example.com"), mail("m2@example.com", sender="bob@example.org"),
        mail("m3@example.com", sender="cid@example.net"))


def lines(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "inbox.outbox.dispatcher" and r.levelno == level
            and text in r.getMessage()]


async def test_an_outage_is_told_once_and_its_end_sends_everything_at_once(
        app: App, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="inbox.outbox.dispatcher")
    three_customers(app)
    server, clock = Server(), Clock(NOW)
    d = dispatcher(app, server, clock, backoff_base_seconds=300)
    probe = d.settings.probe_seconds
    assert [a.outcome for a in await d.drain_once()] == ["retry"]
    assert server.tries == 1  # the other two were not thrown at a server that is down
    [began] = lines(caplog, logging.WARNING, "outage")
    assert "email/support" in began and DOWN in began and "3 send(s) waiting" in began

    for n in range(1, 5):  # one probe per interval, and no more warnings
        clock.now = NOW + timedelta(seconds=n * probe)
        assert [a.outcome for a in await d.drain_once()] == ["retry"]
        assert await d.drain_once() == []
    assert server.tries == 5
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 2

    server.down = False
    clock.now += timedelta(seconds=probe)
    assert [a.outcome for a in await d.drain_once()] == ["sent"] * 3
    assert {o.recipient.address for o in server.sent} == {
        "anna@example.com", "bob@example.org", "cid@example.net"}
    [over] = lines(caplog, logging.INFO, "outage over")
    assert "email/support" in over and f"after {5 * probe:.0f} s" in over
    assert "2 waiting send(s) released" in over
    assert len(lines(caplog, logging.WARNING, "outage")) == 1


async def test_probes_cost_a_send_no_attempt_before_its_own_time(app: App) -> None:
    three_customers(app)
    server, clock = Server(), Clock(NOW)
    d = dispatcher(app, server, clock, backoff_base_seconds=300, probe_seconds=5)
    for n in range(40):  # 200 s of probing, well inside the first 300 s backoff
        clock.now = NOW + timedelta(seconds=5 * n)
        await d.drain_once()
    assert server.tries == 40
    # Each send's first try counted (they were due); the probes after it did not.
    assert sorted(r.attempts for r in rows(app, Outbox)) == [1, 1, 1]
    assert all(r.state == "pending" and DOWN in (r.last_error or "") for r in rows(app, Outbox))


async def test_a_long_outage_dead_letters_no_sooner_than_the_backoff_schedule(
        app: App, caplog: pytest.LogCaptureFixture) -> None:
    """base 15 s doubling to the 1 h cap, 10 tries: the last at 7425 s, probes or not."""
    settings: OutboxSettings = app.settings.outbox
    schedule = sum(min(settings.backoff_base_seconds * 2 ** n, settings.backoff_cap_seconds)
                   for n in range(settings.max_attempts - 1))
    assert schedule == 7425
    run(app, mail("m1@example.com"))
    server, clock = Server(), Clock(NOW)
    d = dispatcher(app, server, clock, probe_seconds=60)
    died = None
    while died is None and clock.now < NOW + timedelta(hours=3):
        if any(a.outcome == "dead" for a in await d.drain_once()):
            died = clock.now
        clock.now += timedelta(seconds=60)
    assert died is not None and died >= NOW + timedelta(seconds=schedule)
    [row] = rows(app, Outbox)
    assert (row.state, row.attempts) == ("dead", settings.max_attempts)
    assert server.tries > settings.max_attempts  # it was probed all along
    assert len(lines(caplog, logging.WARNING, "outage")) == 1
    assert len(lines(caplog, logging.ERROR, "dead-lettered")) == 1


async def test_a_servers_retry_after_spaces_the_probes(app: App) -> None:
    run(app, mail("m1@example.com"))
    server, clock = Server(retry_after=60), Clock(NOW)
    d = dispatcher(app, server, clock, probe_seconds=5)
    await d.drain_once()
    for seconds in (5, 30, 59):
        clock.now = NOW + timedelta(seconds=seconds)
        assert await d.drain_once() == []
    clock.now = NOW + timedelta(seconds=60)
    assert [a.outcome for a in await d.drain_once()] == ["retry"]
    assert server.tries == 2


async def test_one_line_per_send_with_its_facts_and_never_the_body(
        app: App, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="inbox.outbox.dispatcher")
    [r] = run(app, mail("m1@example.com"))
    server = Server()
    server.down = False
    d = dispatcher(app, server, Clock(NOW))
    await d.drain_once()
    [sent] = [rec for rec in caplog.records if rec.name == "inbox.outbox.dispatcher"]
    [out] = server.sent
    assert sent.levelno == logging.INFO
    assert (sent.channel, sent.account, sent.recipient) == (  # type: ignore[attr-defined]
        "email", "support", "anna@example.com")
    assert sent.conversation == r.conversation_id  # type: ignore[attr-defined]
    assert sent.outbox_id == out.outbox_id  # type: ignore[attr-defined]
    message = sent.getMessage()
    assert "ack" in message and "anna@example.com" in message and "email/support" in message
    assert out.text.splitlines()[0] not in caplog.text
