"""The HTTP API (/api/v1, docs/api.md) over real HTTP against a real `inbox run` on each
database: tokens made in a shell, the queue a page at a time, a conversation, a reply
that reaches the customer once however often it is retried, notes, changes, and every
refusal as JSON a program can act on."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from inbox.runtime.app import App
from tests.peers import WAIT, free_port
from tests.web.conftest import INBOX, DeskProcess, add_agent, operator_env, peers_of
from tests.web.desk_helpers import ingest, mail
from tests.web.test_desk_pages import deployment_app

T = TypeVar("T")


def inbox(desk: DeskProcess, *args: str) -> str:
    """`inbox ARGS` in the deployment, as an admin types it; its standard output."""
    done = subprocess.run([*INBOX, *args], cwd=desk.directory, env=operator_env(),
                          capture_output=True, text=True, check=True)
    return done.stdout


def token_for(desk: DeskProcess, role: str = "agent",
              teams: tuple[str, ...] = ("support", "billing", "tech")) -> tuple[str, str]:
    """A new agent and a token made for it with `inbox token create`: (name, token)."""
    name = f"Bot{free_port()}"
    email, _ = add_agent(desk, name, role, teams)
    return name, inbox(desk, "token", "create", email, "--name", "the shop").strip()


def client(desk: DeskProcess, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"{desk.url}/api/v1", headers=headers, timeout=WAIT)


@pytest.fixture
def app(desk: DeskProcess) -> Iterator[App]:
    """The deployment as another process writes to it (customers' messages)."""
    made = deployment_app(desk)
    yield made
    made.close()


def new_conversation(app: App, api: httpx.Client, *, ago: timedelta = timedelta()) -> int:
    n = free_port()
    subject = f"Parcel {n} missing"
    ingest(app, mail(n, subject=subject, sender=f"c{n}@example.com",
                     at=datetime.now(UTC) - ago))
    found = api.get("/conversations", params={"limit": 200}).json()["conversations"]
    return int(next(c["id"] for c in found if c["subject"] == subject))


def test_a_token_made_in_a_shell_works_until_revoked(desk: DeskProcess, app: App) -> None:
    name, token = token_for(desk)
    assert token.startswith("inbox_")
    with client(desk, token) as api:
        cid = new_conversation(app, api)
        conv = api.get(f"/conversations/{cid}").json()
        assert conv["id"] == cid and conv["messages"][0]["text"] == "Hello, it did not come."
        assert "ack.queued" in [e["kind"] for e in conv["events"]]
    listed = json.loads(inbox(desk, "token", "list", "--json"))
    mine = next(t for t in listed if t["agent"] == name)
    assert mine["state"] == "active" and mine["last_used_at"] is not None
    assert token.startswith(mine["prefix"]) and token not in json.dumps(listed)
    inbox(desk, "token", "revoke", str(mine["id"]))
    with client(desk, token) as api:
        refused = api.get("/conversations")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert refused.json()["error"]["code"] == "unauthorized"
    for wrong in (None, "inbox_not-a-token", token + "x"):
        with client(desk, wrong) as api:
            assert api.get(f"/conversations/{cid}").status_code == 401


def test_the_queue_comes_a_page_at_a_time_without_repeats_or_gaps(
        desk: DeskProcess, app: App) -> None:
    _, token = token_for(desk)
    with client(desk, token) as api:
        made = [new_conversation(app, api, ago=timedelta(hours=h)) for h in (1, 5, 3, 2, 4)]
        for cid in made[:2]:  # answered: nobody waits on these any more
            assert api.post(f"/conversations/{cid}/replies",
                            json={"text": "On its way."}).status_code == 201
        whole = [c["id"] for c in api.get("/conversations", params={"limit": 200})
                 .json()["conversations"]]
        pages, cursor = [], None
        while True:
            page = api.get("/conversations", params={"limit": 2, **(
                {"cursor": cursor} if cursor else {})}).json()
            pages.append([c["id"] for c in page["conversations"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert [cid for p in pages for cid in p] == whole
    assert all(len(p) == 2 for p in pages[:-1])
    waiting = [cid for cid in whole if cid in made[2:]]
    assert waiting == [made[2 + i] for i in (2, 0, 1)]  # 4 h, 3 h, 2 h old: by time left
    assert whole.index(made[0]) > whole.index(waiting[-1])  # answered ones after


def sent_to(desk: DeskProcess, text: str) -> int:
    """How many mails the mail server accepted holding `text`, once one came."""
    peers = peers_of(desk)
    peers.mail_where(lambda m: text in m.as_string())
    return sum(text.encode() in r.data for r in peers.sink.handler.received)


def test_a_retried_reply_reaches_the_customer_once(desk: DeskProcess, app: App) -> None:
    _, token = token_for(desk)
    text = f"Your parcel {free_port()} left today."
    with client(desk, token) as api:
        cid = new_conversation(app, api)
        key = {"Idempotency-Key": f"shop-{free_port()}"}
        first = api.post(f"/conversations/{cid}/replies", json={"text": text}, headers=key)
        again = api.post(f"/conversations/{cid}/replies", json={"text": text}, headers=key)
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json() and first.json()["delivery"] == "queued"
        assert again.headers["Idempotent-Replayed"] == "true"
        other = api.post(f"/conversations/{cid}/replies", json={"text": "Other words"},
                         headers=key)
        assert other.status_code == 422 and "another request" in other.json()["error"][
            "message"]
        replies = [m for m in api.get(f"/conversations/{cid}").json()["messages"]
                   if m["kind"] == "agent"]
    assert [m["text"] for m in replies] == [text]
    assert sent_to(desk, text) == 1


def test_notes_and_changes_as_the_role_allows(desk: DeskProcess, app: App) -> None:
    name, token = token_for(desk)
    _, boss = token_for(desk, role="supervisor")
    with client(desk, token) as api, client(desk, boss) as sup:
        cid = new_conversation(app, api)
        note = api.post(f"/conversations/{cid}/notes", json={"text": "Asked the courier."})
        assert note.status_code == 201 and note.json()["kind"] == "note"
        taken = api.patch(f"/conversations/{cid}", json={"assignee": name,
                                                          "status": "pending"})
        assert taken.status_code == 200
        assert (taken.json()["assignee"], taken.json()["status"]) == (name, "pending")
        refused = api.patch(f"/conversations/{cid}", json={"team": "billing"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        moved = sup.patch(f"/conversations/{cid}", json={"team": "billing"})
        assert moved.status_code == 200 and moved.json()["team"] == "billing"
        conv = api.get(f"/conversations/{cid}").json()
        assert any(m["kind"] == "note" and m["text"] == "Asked the courier."
                   for m in conv["messages"])
        for path, body, status, code in (
                (f"/conversations/{cid + 10_000}/notes", {"text": "x"}, 404, "not_found"),
                (f"/conversations/{cid}/notes", {"text": "  "}, 422, "invalid"),
                (f"/conversations/{cid}/replies", {"text": "x", "cc": "a@b.c"}, 422,
                 "invalid")):
            answer = api.post(path, json=body)
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
        broken = api.post(f"/conversations/{cid}/notes", content=b"{not json")
        assert broken.status_code == 422 and broken.json()["error"]["code"] == "invalid"
        assert api.patch(f"/conversations/{cid}", json={"status": "gone"}).status_code == 422


def test_a_reply_after_a_colleagues_is_a_question(desk: DeskProcess, app: App) -> None:
    _, token = token_for(desk)
    _, other = token_for(desk)
    with client(desk, token) as api, client(desk, other) as colleague:
        cid = new_conversation(app, api)
        seen = max(m["id"] for m in api.get(f"/conversations/{cid}").json()["messages"])
        assert colleague.post(f"/conversations/{cid}/replies",
                              json={"text": "Sent it."}).status_code == 201
        late = api.post(f"/conversations/{cid}/replies",
                        json={"text": "Sending it.", "seen_up_to": seen})
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "collision"
    assert [m["text"] for m in late.json()["error"]["meanwhile"]] == ["Sent it."]


def until(check: Callable[[], T | None], what: str) -> T:
    """`check()`'s first answer that is not None, asked until WAIT seconds passed."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.05)  # polling a condition with a deadline, not waiting for time
    pytest.fail(f"{what}: not within {WAIT} s")


def test_an_admin_sends_a_dead_send_again_and_an_agent_may_not(
        desk: DeskProcess, app: App) -> None:
    _, admin = token_for(desk, role="admin")
    _, token = token_for(desk)
    n = free_port()
    address = f"gone{n}@example.com"
    sink = peers_of(desk).sink.handler
    sink.reject[address] = "550 5.1.1 no such mailbox"
    ingest(app, mail(n, subject=f"Refund {n}", sender=address))
    with client(desk, admin) as api, client(desk, token) as agent:
        def dead() -> dict[str, Any] | None:
            rows = api.get("/outbox", params={"state": "dead"}).json()["sends"]
            return next((r for r in rows if r["recipient"] == address), None)
        send = until(dead, "the ack to a refused address dead-lettered")
        assert "550" in send["last_error"]
        refused = agent.post(f"/outbox/{send['id']}/retry")
        assert refused.status_code == 403
        assert agent.get("/outbox").status_code == 403
        del sink.reject[address]
        again = api.post(f"/outbox/{send['id']}/retry")
        assert again.status_code == 200 and again.json()["state"] == "pending"
        assert api.post(f"/outbox/{send['id']}/retry").json()["error"]["code"] == "conflict"
    peers_of(desk).mail_where(lambda m: address in str(m["To"]))


class Stream:
    """An open /api/v1/events: its messages as (id, data), each waited for."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines, self.last_id = lines, ""

    def next(self) -> dict[str, Any]:
        data: list[str] = []
        for line in self.lines:  # the client's read timeout bounds each wait
            if line.startswith("id:"):
                self.last_id = line[3:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line and data:
                found: dict[str, Any] = json.loads("\n".join(data))
                return found
        pytest.fail("the stream ended")

    def until(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while not check(found := self.next()):
            pass
        return found


def test_the_event_stream_resumes_where_it_left_off(desk: DeskProcess, app: App) -> None:
    name, token = token_for(desk)
    with client(desk, token) as api:
        with api.stream("GET", "/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = Stream(response.iter_lines())
            cid = new_conversation(app, api)
            came = events.until(lambda e: e["conversation_id"] == cid
                                and e["type"] == "message.created")
            assert came["kind"] == "customer" and came["direction"] == "in"
            events.until(lambda e: e["type"] == "ack.queued" and e["conversation_id"] == cid)
            left_at = events.last_id
        # while the client is away: a note and a status change
        api.post(f"/conversations/{cid}/notes", json={"text": "While you were away."})
        api.patch(f"/conversations/{cid}", json={"status": "pending"})
        with api.stream("GET", "/events", headers={"Last-Event-ID": left_at}) as response:
            events, missed = Stream(response.iter_lines()), list[dict[str, Any]]()
            while not missed or missed[-1]["type"] != "status":
                missed += [e for e in [events.next()] if e["conversation_id"] == cid]
    # each once, none of what came before `left_at` again (the ack's send may fall on
    # either side of it)
    mine = [(e["type"], e.get("kind")) for e in missed if e["type"] != "ack.sent"]
    assert mine == [("message.created", "note"), ("status", None)]
    assert missed[-1]["detail"]["to"] == "pending" and missed[-1]["detail"]["by"] == name


def test_contacts_agents_teams_and_canned_answers(desk: DeskProcess, app: App) -> None:
    name, token = token_for(desk)
    _, admin = token_for(desk, role="admin")
    _, outsider = token_for(desk, teams=())
    with client(desk, token) as api, client(desk, admin) as boss, \
            client(desk, outsider) as stranger:
        cid = new_conversation(app, api)
        assert api.patch(f"/conversations/{cid}", json={"assignee": name}).status_code == 200
        boss.patch(f"/conversations/{cid}", json={"team": "billing"})
        contact_id = api.get(f"/conversations/{cid}").json()["contact"]["id"]
        person = api.get(f"/contacts/{contact_id}").json()
        assert [c["id"] for c in person["conversations"]] == [cid]
        assert person["identities"][0]["channel"] == "email"
        hidden = stranger.get(f"/contacts/{contact_id}")  # no team of theirs, not theirs
        assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
        assert name in [a["name"] for a in api.get("/agents").json()["agents"]]
        assert "billing" in [t["name"] for t in api.get("/teams").json()["teams"]]

        answer = {"name": f"late{free_port()}", "language": "pl",
                  "body": "Dzień dobry {{ customer_first_name }}, paczka jest w drodze."}
        refused = api.post("/canned-answers", json=answer)
        assert refused.status_code == 403
        made = boss.post("/canned-answers", json=answer)
        assert made.status_code == 201 and made.json()["language"] == "pl"
        aid = made.json()["id"]
        assert boss.post("/canned-answers", json=answer).json()["error"]["code"] == "conflict"
        broken = boss.patch(f"/canned-answers/{aid}", json={"body": "{{ nobody_gives_this }}"})
        assert broken.status_code == 422 and "(pl):1: unknown variable" in broken.json()[
            "error"]["message"]
        changed = boss.patch(f"/canned-answers/{aid}", json={"body": "Paczka wyszła."})
        assert changed.json()["body"] == "Paczka wyszła." and changed.json()["name"] == \
            answer["name"]
        assert any(a["id"] == aid for a in api.get("/canned-answers").json()["canned_answers"])
        assert boss.delete(f"/canned-answers/{aid}").status_code == 204
        assert api.get(f"/canned-answers/{aid}").status_code == 404


def test_a_stream_ends_when_its_token_is_revoked(desk: DeskProcess) -> None:
    _, token = token_for(desk)
    token_id = next(t["id"] for t in json.loads(inbox(desk, "token", "list", "--json"))
                    if token.startswith(t["prefix"]))
    with client(desk, token) as api, api.stream("GET", "/events") as response:
        lines = response.iter_lines()
        assert next(lines).startswith("retry:")
        inbox(desk, "token", "revoke", str(token_id))
        rest = list(lines)  # the server ends the stream: no read timeout here
    assert "event: revoked" in rest


def test_an_admin_keeps_agents_and_teams_and_a_disabled_agents_token_stops(
        desk: DeskProcess) -> None:
    name, token = token_for(desk)
    _, admin = token_for(desk, role="admin")
    n = free_port()
    with client(desk, admin) as boss, client(desk, token) as api:
        new = {"email": f"Mai{n}@helpdesk.test", "name": f"Mai{n}", "role": "supervisor",
               "teams": ["billing"]}
        assert api.post("/agents", json=new).status_code == 403
        made = boss.post("/agents", json=new)
        assert made.status_code == 201
        assert (made.json()["email"], made.json()["teams"], made.json()["can_sign_in"]) == \
            (f"mai{n}@helpdesk.test", ["billing"], False)  # no password over HTTP
        assert boss.post("/agents", json=new).json()["error"]["code"] == "conflict"
        assert boss.post("/agents", json={**new, "role": "boss"}).status_code == 422
        team = boss.post("/teams", json={"name": f"vip{n}", "agents": [new["name"], name]})
        assert team.status_code == 201 and team.json()["agents"] == [new["name"], name]
        moved = boss.patch(f"/teams/vip{n}", json={"remove": [new["name"]]})
        assert moved.json()["agents"] == [name]
        assert api.patch(f"/teams/vip{n}", json={"add": [new["name"]]}).status_code == 403
        off = boss.patch(f"/agents/{name}", json={"enabled": False})
        assert off.status_code == 200 and off.json()["enabled"] is False
        assert api.get("/conversations").status_code == 401  # its token stopped with it
        assert boss.delete(f"/agents/{new['name']}").status_code == 204
        listed = {a["name"]: a for a in boss.get("/agents").json()["agents"]}
        assert listed[new["name"]]["enabled"] is False  # kept, disabled: its name stays


def test_a_shops_contact_form_becomes_a_conversation_answered_by_email(
        desk: DeskProcess) -> None:
    """POST /inbound: stored once however often the shop retries, acknowledged and
    answered by e-mail through the support account, on the SLA clock."""
    _, token = token_for(desk)
    n = free_port()
    customer, peers = f"form{n}@example.com", peers_of(desk)
    form = {"source": "shop", "id": f"form-{n}", "from": {"email": customer, "name": "Ola"},
            "subject": f"Order {n}: wrong size", "text": "The shoes are too small.",
            "attributes": {"order": str(n)}}
    with client(desk, token) as api:
        first = api.post("/inbound", json=form)
        assert first.status_code == 201, first.text
        taken = first.json()
        assert taken["outcome"] == "stored" and taken["new_conversation"]
        assert taken["acknowledged"] is True
        again = api.post("/inbound", json=form)
        assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
        assert again.json()["conversation_id"] == taken["conversation_id"]
        cid = taken["conversation_id"]
        conv = api.get(f"/conversations/{cid}").json()
        assert (conv["channel"], conv["account"]) == ("api", "shop")
        assert conv["contact"]["address"] == customer
        assert conv["attributes"] == {"order": str(n)} and conv["sla"]["due_at"]
        assert [m["text"] for m in conv["messages"] if m["kind"] == "customer"] == [
            "The shoes are too small."]
        ack = peers.mail_where(lambda m: customer in str(m["To"]))
        assert ack["Auto-Submitted"] == "auto-replied"
        assert ack["Subject"].startswith("[#")  # e-mail's words, with our reference
        text = f"A new pair of size {n % 50} is on its way."
        assert api.post(f"/conversations/{cid}/replies", json={"text": text}).status_code == 201
        assert sent_to(desk, text) == 1
        answer = peers.mail_where(lambda m: text in m.as_string())
        assert answer["Subject"].startswith(f"Re: Order {n}: wrong size [#")
        # the customer answers the mail: it joins the shop's conversation
        peers.write_mail(f"Ola <{customer}>", f"Re: {answer['Subject']}",
                         "Thank you, size 38 please.", f"<form{n}-re@example.com>")
        until(lambda: True if "Thank you, size 38 please." in [
            m["text"].strip() for m in api.get(f"/conversations/{cid}").json()["messages"]]
            else None, "the customer's answer in the shop's conversation")
        quiet = api.post("/inbound", json={**form, "id": f"form-{n}-2", "acknowledge": False,
                                           "subject": "Gift cards?",
                                           "text": "Do you sell gift cards?"})
        assert quiet.status_code == 201 and quiet.json()["acknowledged"] is False
        assert "asked for none" in quiet.json()["not_acknowledged_because"]
        for wrong, field in (({"source": "crm"}, "source"), ({"from": {"name": "Ola"}},
                             "from.email"), ({"text": " "}, "text"), ({"id": ""}, "id")):
            refused = api.post("/inbound", json={**form, **wrong})
            assert refused.status_code == 422
            assert refused.json()["error"]["message"].startswith(field), refused.text


def test_a_supervisor_merges_two_contacts_who_are_one_person(
        desk: DeskProcess, app: App) -> None:
    _, token = token_for(desk)
    boss_name, boss = token_for(desk, role="supervisor")
    n = free_port()
    with client(desk, token) as api, client(desk, boss) as supervisor:
        home = new_conversation(app, api)
        ingest(app, mail(n, subject=f"Invoice {n}", sender=f"work{n}@example.com"))
        work = next(c for c in api.get("/conversations", params={"limit": 200}).json()[
            "conversations"] if c["subject"] == f"Invoice {n}")
        keep = api.get(f"/conversations/{home}").json()["contact"]["id"]
        other = work["contact"]["id"]
        refused = api.post(f"/contacts/{keep}/merge", json={"from": other})
        assert refused.status_code == 403
        merged = supervisor.post(f"/contacts/{keep}/merge", json={"from": other})
        assert merged.status_code == 200, merged.text
        assert merged.json()["merged"]["conversations"] == [work["id"]]
        addresses = {i["address"] for i in merged.json()["identities"]}
        assert f"work{n}@example.com" in addresses and len(addresses) == 2
        assert {c["id"] for c in merged.json()["conversations"]} >= {home, work["id"]}
        assert api.get(f"/contacts/{other}").status_code == 404
        assert supervisor.post(f"/contacts/{keep}/merge", json={"from": keep}).status_code \
            == 422
        trail = api.get(f"/conversations/{work['id']}").json()["events"]
        said = [e["detail"] for e in trail if e["kind"] == "contact.merged"]
        assert said == [{"from": other, "into": keep, "by": boss_name}]


def test_a_supervisor_streams_a_periods_messages_over_http(desk: DeskProcess, app: App) -> None:
    """More than one page (inbox.desk.export.PAGE) of rows, read line by line as the
    daemon sends them; an agent is refused."""
    _, token = token_for(desk)
    _, boss = token_for(desk, role="supervisor")
    n, since = free_port(), datetime.now(UTC) - timedelta(seconds=1)
    thai = "สินค้าเสียหายระหว่างจัดส่ง ขอคืนเงินด้วยครับ"
    ingest(app, *(mail(n * 1000 + i, subject=f"Batch {n} #{i}", text=f"{thai} {n}",
                       sender=f"b{n}-{i}@example.com") for i in range(600)))
    period = {"since": since.isoformat(), "format": "jsonl"}
    with client(desk, token) as api, client(desk, boss) as supervisor:
        assert api.get("/export/messages", params=period).status_code == 403
        with supervisor.stream("GET", "/export/messages", params=period) as got:
            assert got.status_code == 200
            assert got.headers["content-type"] == "application/x-ndjson"
            assert got.headers.get("transfer-encoding") == "chunked"  # streamed, not sized
            rows = [json.loads(line) for line in got.iter_lines() if line]
    ours = [r for r in rows if r["kind"] == "customer" and r["text"] == f"{thai} {n}"]
    assert len(ours) == 600 and len(rows) > 1000
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
