"""Canned answers in the desk, in process on both databases: the admins' page is an
admin's alone; the reply box is offered the conversation team's answers and every
team's, filled for its customer, and nothing of a conversation the agent may not see;
a change without the CSRF token is refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.vocab import Role
from inbox.desk import accounts, canned
from inbox.runtime.app import App
from inbox.store.models import CannedAnswer, Conversation
from tests.desk.test_canned import WORDS
from tests.web.desk_helpers import agent_client, ingest, mail

POLISH = "Dzień dobry, {{ customer_first_name }}! Zwrot jest w drodze. {{ reference }}"


def teams(app: App, *names: str) -> None:
    with Session(app.engine) as s, s.begin():
        for name in names:
            accounts.add_team(s, name, datetime.now(UTC))


def stored(app: App) -> list[tuple[str, str, str, str]]:
    with Session(app.engine) as s:
        return [(a.name, a.team, a.language, a.body) for a in canned.listing(s)]


def test_an_admin_keeps_the_library_and_an_agent_may_not(app: App) -> None:
    teams(app, "billing")
    root = agent_client(app, "Root", Role.ADMIN)
    ana = agent_client(app, "Ana", teams=("billing",))
    assert 'href="/admin/canned"' in root.get("/").text  # the header's link, for admins
    assert 'href="/admin/canned"' not in ana.get("/").text
    for answer in (ana.get("/admin/canned"),
                   ana.post("/admin/canned", data={"name": "x", "body": "y"})):
        assert answer.status_code == 403
        assert "Only an admin manages canned answers." in answer.text

    added = root.post("/admin/canned", data={"name": "refund-status", "team": "",
                                             "language": "pl", "body": POLISH})
    assert (added.status_code, added.headers["location"]) == (303, "/admin/canned")
    page = root.get("/admin/canned").text
    assert '<a href="/admin/canned/1" dir="auto">/refund-status</a>' in page
    assert "Dzień dobry, {{ customer_first_name }}!" in page

    broken = root.post("/admin/canned", data={"name": "hello", "language": "",
                                              "body": "Hello\n{{ customer_name }"})
    assert broken.status_code == 422
    assert "hello:2: unexpected &#39;}&#39;" in broken.text
    assert "Hello\n{{ customer_name }</textarea>" in broken.text  # kept to correct
    twice = root.post("/admin/canned", data={"name": "Refund-Status", "language": "pl",
                                             "body": "Again"})
    assert twice.status_code == 409 and "exists already" in twice.text

    wrong = root.post("/admin/canned/1", data={"name": "refund-status", "language": "pl",
                                               "body": "{{ order }}"})
    assert wrong.status_code == 422 and 'action="/admin/canned/1"' in wrong.text
    assert "unknown variable &#39;order&#39;" in wrong.text
    edited = root.post("/admin/canned/1", data={"name": "refund-status", "team": "billing",
                                                "language": "pl", "body": "Zwrot: tak."})
    assert edited.status_code == 303
    assert ana.post("/admin/canned/1/delete").status_code == 403
    assert stored(app) == [("refund-status", "billing", "pl", "Zwrot: tak.")]
    assert root.post("/admin/canned/1/delete").status_code == 303
    assert stored(app) == []


def test_no_change_without_the_csrf_token(app: App) -> None:
    root = agent_client(app, "Root", Role.ADMIN)
    del root.headers["X-CSRF-Token"]
    refused = root.post("/admin/canned", data={"name": "hello", "body": "Hello!"})
    assert refused.status_code == 403
    assert stored(app) == []


def conversation(app: App, n: int, team: str | None, language: str | None) -> int:
    said = {"text": WORDS[language]} if language in WORDS else {}
    ingest(app, replace(mail(n, name="Anna Nowak", sender=f"c{n}@example.com", **said),
                        language=language))
    with Session(app.engine) as s, s.begin():
        conv = s.scalars(sa.select(Conversation).where(
            col(Conversation.id) == n)).one()
        conv.team = team
    return n


def test_the_reply_box_is_offered_its_teams_answers_filled(app: App) -> None:
    teams(app, "billing", "tech")
    now = datetime.now(UTC)
    with Session(app.engine) as s, s.begin():
        for name, team, language, body in (
                ("refund-status", "", "", "Hello {{ customer_first_name }}, it is on its way."),
                ("refund-status", "", "pl", POLISH),
                ("invoice", "billing", "", "Your invoice, {{ agent_name }}"),
                ("reset", "tech", "", "Reset it.")):
            s.add(CannedAnswer(name=name, team=team, language=language, body=body,
                               changed_by="root", changed_at=now))
    billing = conversation(app, 1, "billing", "pl")
    tech = conversation(app, 2, "tech", None)
    ana = agent_client(app, "Ana", teams=("billing",))

    offered = ana.get(f"/c/{billing}/canned", params={"q": ""}).json()
    assert [(o["name"], o["language"]) for o in offered] == [("invoice", None),
                                                              ("refund-status", "pl")]
    assert offered[0]["text"] == "Your invoice, Ana"
    assert offered[1]["text"].startswith("Dzień dobry, Anna! Zwrot jest w drodze. [#1-")
    assert [o["name"] for o in ana.get(f"/c/{billing}/canned?q=ref").json()] == [
        "refund-status"]
    # Another team's conversation: as if it did not exist, and nothing of its answers.
    assert ana.get(f"/c/{tech}/canned?q=").status_code == 404
    sam = agent_client(app, "Sam", Role.SUPERVISOR)
    assert [(o["name"], o["text"]) for o in sam.get(f"/c/{tech}/canned").json()] == [
        ("refund-status", "Hello Anna, it is on its way."), ("reset", "Reset it.")]
