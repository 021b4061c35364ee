"""Outgoing webhooks (docs/api.md "Webhooks") against a real `inbox run` on each database
and a receiver on 127.0.0.1 that checks every delivery with the Standard Webhooks
library, as a shop's or a CRM's endpoint would: registered over the API, each event
signed and delivered, a refusal retried, and across a receiver outage and a daemon
restart every event arrives, none of them twice."""

from __future__ import annotations

import contextlib
import json
import threading
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from inbox.runtime.app import App
from inbox.store.models import Event
from tests.peers import WAIT, free_port, merged, toml
from tests.web.conftest import (
    DATABASES,
    DeskProcess,
    make_deployment,
    new_database,
    start_desk,
)
from tests.web.desk_helpers import ingest, mail
from tests.web.test_api import client, inbox, token_for, until
from tests.web.test_desk_pages import deployment_app

Delivery = dict[str, Any]


@dataclass
class Receiver:
    """An endpoint that verifies each POST and keeps the ones it accepted; the first
    try of each event of a type in `refuse` is answered with a 503."""

    port: int = field(default_factory=free_port)
    secret: str = ""
    accepted: list[Delivery] = field(default_factory=list)
    forged: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # event types: first try refused
    refused: list[str] = field(default_factory=list)  # the ids refused once
    changed: threading.Condition = field(default_factory=threading.Condition)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/inbox"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                status = receiver.take(body, dict(self.headers.items()))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"thanks" if status == 200 else b"not now")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def take(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            event = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            with self.changed:
                self.forged.append(str(exc))
            return 401
        with self.changed:
            if event["type"] in self.refuse and event["id"] not in self.refused:
                self.refused.append(event["id"])
                return 503
            assert headers["webhook-id"] == event["id"]
            self.accepted.append(event)
            self.changed.notify_all()
        return 200

    def until(self, check: Callable[[list[Delivery]], bool], what: str) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: check(self.accepted), timeout=WAIT * 2):
                pytest.fail(f"{what}: not within {WAIT * 2} s; got "
                            f"{[(e['type'], e['id']) for e in self.accepted]}")


def configured(directory: Path, database_url: str | None) -> None:
    """Sends retried within a second (the test waits on them), on `database_url`."""
    config = directory / "inbox.toml"
    data = merged(tomllib.loads(config.read_text()), {"outbox": {
        "poll_seconds": 0.05, "backoff_base_seconds": 0.05, "backoff_cap_seconds": 0.5,
        "probe_seconds": 0.1}, **({"database_url": database_url} if database_url else {})})
    config.write_text(toml(data))


@dataclass
class Running:
    """The test's own daemon (it restarts it, which the shared one must not be)."""

    desk: DeskProcess
    port: int

    def stop(self) -> None:
        assert self.desk.stop() == 0, self.desk.output()

    def start(self) -> None:
        self.desk = start_desk(self.desk.directory, self.port, database=self.desk.database)


@pytest.fixture(params=DATABASES)
def daemon(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Running]:
    port, directory = free_port(), tmp_path / "desk"
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(new_database()) if request.param == "postgresql" else None
        make_deployment(directory, port, lambda d: configured(d, url))
        running = Running(start_desk(directory, port, database=request.param), port)
        stack.callback(running.stop)
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    made.start()
    yield made
    made.stop()


def of(deliveries: list[Delivery], cid: int) -> list[str]:
    """The types of the events of conversation `cid`, in the order they came."""
    return [d["type"] for d in deliveries if d["conversation"]["id"] == cid]


def test_every_event_reaches_the_receiver_once_through_an_outage_and_a_restart(
        daemon: Running, receiver: Receiver) -> None:
    _, admin = token_for(daemon.desk, role="admin")
    with client(daemon.desk, admin) as api:
        made = api.post("/webhooks", json={"name": "crm", "url": receiver.url, "events": [
            "conversation.created", "message.created", "conversation.updated",
            "sla.breached"]})
        assert made.status_code == 201, made.text
        hook = made.json()
        assert hook["secret"].startswith("whsec_")
        assert "secret" not in api.get(f"/webhooks/{hook['id']}").json()
    receiver.secret = hook["secret"]
    app = deployment_app(daemon.desk)
    try:
        cid = a_customer_writes(app, receiver)
        with client(daemon.desk, admin) as api:
            a_refusal_is_tried_again(api, receiver, cid, hook["id"])
            missed = changes_while_the_receiver_is_down(daemon.desk, api, receiver, cid,
                                                        hook["id"])
        later = changes_while_the_daemon_is_down_reach_it_after(daemon, app, receiver, cid)
    finally:
        app.close()
    # Every event once; in the order they happened only while nothing fails (a
    # delivery waiting out a backoff is passed by later ones: each says when, `at`).
    assert sorted(of(receiver.accepted, cid)) == sorted([
        "conversation.created", "message.created", "message.created",  # mail, ack
        "conversation.updated", *missed, "sla.breached"])
    assert sorted(of(receiver.accepted, later)) == [
        "conversation.created", "message.created", "message.created"]
    ids = [d["id"] for d in receiver.accepted]
    assert len(ids) == len(set(ids)), "an event came twice"
    assert receiver.forged == []
    with client(daemon.desk, admin) as api:
        def all_sent() -> list[Delivery] | None:
            shown: list[Delivery] = api.get(f"/webhooks/{hook['id']}/deliveries", params={
                "limit": 100}).json()["deliveries"]
            return shown if {d["state"] for d in shown} == {"sent"} else None
        shown = until(all_sent, "every delivery recorded as sent")
    assert sorted(d["event_id"] for d in shown) == sorted(ids)


def a_customer_writes(app: App, receiver: Receiver) -> int:
    """The conversation, the customer's message and the acknowledgement come, signed."""
    ingest(app, mail(free_port(), subject="Where is parcel 7?"))
    receiver.until(lambda got: "conversation.created" in [d["type"] for d in got],
                   "conversation.created")
    cid = int(next(d["conversation"]["id"] for d in receiver.accepted))
    receiver.until(lambda got: of(got, cid).count("message.created") == 2,
                   "the customer's message and the acknowledgement")
    created, message = receiver.accepted[:2]
    assert (created["type"], message["type"]) == ("conversation.created", "message.created")
    assert created["conversation"]["subject"] == "Where is parcel 7?"
    assert message["message"]["text"] == "Hello, it did not come."
    assert message["message"]["direction"] == "in"
    return cid


def a_refusal_is_tried_again(api: httpx.Client, receiver: Receiver, cid: int,
                             hook: int) -> None:
    """A 503 is tried again; the hook's deliveries show what the receiver answered."""
    receiver.refuse.add("conversation.updated")
    assert api.patch(f"/conversations/{cid}", json={"status": "pending"}).status_code == 200
    receiver.until(lambda got: "conversation.updated" in of(got, cid), "the status change")
    update = next(d for d in receiver.accepted if d["type"] == "conversation.updated")
    assert update["change"]["kind"] == "status"
    assert update["change"]["detail"]["to"] == "pending"
    assert update["conversation"]["status"] == "pending"
    assert receiver.refused == [update["id"]]

    def recorded() -> Delivery | None:  # the receiver may have answered before we wrote
        shown = api.get(f"/webhooks/{hook}/deliveries").json()["deliveries"]
        found = next(d for d in shown if d["event_id"] == update["id"])
        return found if found["state"] == "sent" else None
    tried = until(recorded, "the delivery recorded as sent")
    assert tried["attempts"] == 2 and tried["last_error"] == "HTTP 503: not now"
    assert tried["response"] == "HTTP 200: thanks"


def changes_while_the_receiver_is_down(desk: DeskProcess, api: httpx.Client,
                                       receiver: Receiver, cid: int, hook: int) -> list[str]:
    """A note and a change while nobody listens: queued, tried, kept."""
    receiver.stop()
    api.post(f"/conversations/{cid}/notes", json={"text": "Asked the courier."})
    api.patch(f"/conversations/{cid}", json={"status": "open"})

    def failing() -> bool | None:
        shown = api.get(f"/webhooks/{hook}/deliveries").json()["deliveries"]
        waiting = [d for d in shown if d["state"] != "sent"]
        return True if len(waiting) == 2 and all(d["last_error"] for d in waiting) else None
    until(failing, "both deliveries tried while the receiver is down")
    # the operator's view: failing and to be tried again, not blocked (a hook serves them)
    listed = json.loads(inbox(desk, "outbox", "--json"))
    waiting = [r for r in listed if r["channel"] == "webhook"]
    assert [(r["account"], r["blocked"]) for r in waiting] == [("crm", None)] * 2
    assert {r["state"] for r in waiting} <= {"failed", "sending"}  # a probe may be on
    return ["message.created", "conversation.updated"]


def changes_while_the_daemon_is_down_reach_it_after(daemon: Running, app: App,
                                                    receiver: Receiver, cid: int) -> int:
    """What happened while the daemon was stopped (mail taken in by `inbox ingest`, an
    SLA breach the sweep recorded) is told once it runs again."""
    daemon.stop()  # with the two deliveries waiting in its outbox
    with Session(app.engine) as s, s.begin():
        s.add(Event(conversation_id=cid, kind="sla.breached", created_at=datetime.now(UTC),
                    detail={"from": "at-risk", "policy": "default"}))
    ingest(app, mail(free_port(), subject="And parcel 8?", sender="ben@example.com"))
    daemon.start()
    receiver.start()
    receiver.until(lambda got: "sla.breached" in of(got, cid), "the breach")
    receiver.until(lambda got: any(d["conversation"]["subject"] == "And parcel 8?"
                                   for d in got), "the second customer's conversation")
    later = next(d["conversation"]["id"] for d in receiver.accepted
                 if d["conversation"]["subject"] == "And parcel 8?")
    receiver.until(lambda got: of(got, later).count("message.created") == 2,
                   "the second customer's message and its acknowledgement")
    return int(later)
