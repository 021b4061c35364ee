"""Asking customers how it went (inbox.csat, docs/csat.md), on both databases, through
the desk in process: resolved by an agent, the survey goes after its delay in the
customer's language, with signed links that ask before they answer, answer once, and
refuse a forged or expired link; a reply with a digit answers without reopening; never
twice, never to robots, and a customer who wrote again is not asked."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from channels.base import Address, Inbound
from inbox.core import tokens
from inbox.core.config import load_settings
from inbox.core.vocab import Status
from inbox.csat.surveys import parse_reply, send_due
from inbox.desk import actions
from inbox.runtime.app import App
from inbox.store.db import upgrade
from inbox.store.models import Conversation, Event, Message, Outbox, Survey
from tests.peers import merged, toml
from tests.web.desk_helpers import Client, agent_client, in_own_loop, ingest, mail


@pytest.fixture
def app(deployment: Path) -> Iterator[App]:
    """The deployment with surveys on, sent at once, and the desk's public address."""
    config = deployment / "inbox.toml"
    config.write_text(toml(merged(tomllib.loads(config.read_text()), {
        "csat": {"enabled": True, "delay_minutes": 0},
        "web": {"public_url": "https://help.example.com"}})))
    made = App(load_settings(config))
    upgrade(made.engine)
    yield made
    made.engine.dispose()


def customer(app: App, n: int, *, text: str = "Hello, it did not come.",
             sender: str | None = None, language: str | None = None) -> int:
    ingest(app, mail(n, subject=f"Parcel {n}", text=text,
                     sender=sender or f"c{n}@example.com"))
    with Session(app.engine) as s:
        conv = s.scalars(sa.select(Conversation).where(
            col(Conversation.subject) == f"Parcel {n}")).one()
        if language:
            conv.language = language
            s.commit()
        assert conv.id is not None
        return conv.id


def answered_and_resolved(app: App, desk: Client, cid: int) -> None:
    """An agent answers, then resolves it in the desk."""
    with Session(app.engine) as s, s.begin():
        actions.reply(s, cid, "It left today.", author="Ana", now=datetime.now(UTC),
                      secret=app.secret, domain="helpdesk.test")
    assert desk.post(f"/c/{cid}/status", data={"status": "resolved"}).status_code == 200


def survey_of(app: App, cid: int) -> Survey | None:
    with Session(app.engine) as s:
        return s.scalar(sa.select(Survey).where(col(Survey.conversation_id) == cid))


def sent(app: App, cid: int) -> Message:
    """The survey message queued for the customer, after the sweep's send."""
    with Session(app.engine) as s, s.begin():
        send_due(s, datetime.now(UTC), app.asking)
    with Session(app.engine) as s:
        row = s.scalars(sa.select(Outbox).where(col(Outbox.conversation_id) == cid,
                                                col(Outbox.kind) == "csat")).one()
        msg = s.get(Message, row.message_id)
        assert msg is not None
        return msg


def visit(app: App, method: str, path: str, **kwargs: object) -> httpx.Response:
    """The survey page as a customer's browser asks for it: no session, no cookies."""
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.desk({})),
                                     base_url="https://help.example.com") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    return in_own_loop(go())


def test_a_resolved_conversation_is_asked_once_and_a_link_answers_once(app: App) -> None:
    desk = agent_client(app, "Ana")
    cid = customer(app, 1, language="pl")
    answered_and_resolved(app, desk, cid)
    survey = survey_of(app, cid)
    assert survey is not None and survey.state == "scheduled"
    message = sent(app, cid)
    assert message.subject is not None and "Jak nam poszło?" in message.subject
    links = re.findall(r"https://help\.example\.com(/csat/\S+)", message.text)
    assert len(links) == 5 and links[3].endswith("score=4")
    asked = visit(app, "GET", links[3])  # a mail scanner opening it answers nothing
    assert asked.status_code == 200 and 'lang="pl"' in asked.text
    assert 'value="4" required checked' in asked.text
    assert survey_of(app, cid).state == "sent"  # type: ignore[union-attr]
    form = links[3].split("?")[0]
    done = visit(app, "POST", form, data={"score": "4", "comment": "Szybko, dziękuję"})
    assert done.status_code == 200 and "Dziękujemy!" in done.text
    answer = survey_of(app, cid)
    assert answer is not None and (answer.score, answer.comment, answer.answered_via) == (
        4, "Szybko, dziękuję", "link")
    again = visit(app, "POST", form, data={"score": "1"})
    assert "Ta ankieta ma już odpowiedź" in again.text
    assert survey_of(app, cid).score == 4  # type: ignore[union-attr]
    page = desk.get(f"/c/{cid}").text  # what the agent sees
    assert "★★★★☆" in page and "Szybko, dziękuję" in page
    with Session(app.engine) as s:
        assert s.get(Conversation, cid).status == Status.RESOLVED  # type: ignore[union-attr]
        kinds = [e.kind for e in s.scalars(sa.select(Event).where(
            col(Event.conversation_id) == cid))]
    assert kinds.count("csat.answered") == 1 and kinds.count("csat.queued") == 1


def test_a_forged_or_expired_link_is_refused_in_the_customers_language(app: App) -> None:
    desk = agent_client(app, "Ana")
    cid = customer(app, 2, language="fa")
    answered_and_resolved(app, desk, cid)
    message = sent(app, cid)
    assert 'dir="rtl"' in (message.html or "")  # a Persian survey reads right to left
    link = re.findall(r"(/csat/[^?\s]+)", message.text)[0]
    survey_id = int(link.split("/")[2].split(".")[0])
    forged = link[:-2] + ("AA" if not link.endswith("AA") else "BB")
    assert visit(app, "GET", forged).status_code == 404
    assert visit(app, "POST", forged, data={"score": "5"}).status_code == 404
    past = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())
    old = f"/csat/{tokens.survey_token(app.secret, survey_id, past)}"
    expired = visit(app, "POST", old, data={"score": "5"})
    assert expired.status_code == 410 and 'dir="rtl"' in expired.text
    assert "منقضی" in expired.text
    assert survey_of(app, cid).state == "sent"  # type: ignore[union-attr]
    assert "no answer yet" in desk.get(f"/c/{cid}").text


def test_a_reply_with_a_digit_answers_without_reopening(app: App) -> None:
    desk = agent_client(app, "Ana")
    cid = customer(app, 3)
    answered_and_resolved(app, desk, cid)
    survey_mail = sent(app, cid)
    ingest(app, Inbound(
        channel="email", account="support", external_id="answer3@example.com",
        sender=Address("c3@example.com", "Anna"), received_at=datetime.now(UTC),
        subject=f"Re: {survey_mail.subject}", text="5 - very quick!\n\n> How did we do?",
        references=(survey_mail.external_id,), headers={"in-reply-to":
                                                          survey_mail.external_id}))
    answer = survey_of(app, cid)
    assert answer is not None and (answer.score, answer.comment, answer.answered_via) == (
        5, "very quick!", "reply")
    with Session(app.engine) as s:
        conv = s.get(Conversation, cid)
        assert conv is not None and conv.status == Status.RESOLVED
        assert conv.sla_due_at is None  # nobody owes an answer to "5, thanks"
        acks = s.scalar(sa.select(sa.func.count()).select_from(Outbox).where(
            col(Outbox.conversation_id) == cid, col(Outbox.kind) == "ack"))
    assert acks == 1  # the first message's only


def test_never_twice_never_to_robots_and_not_after_the_customer_wrote_again(
        app: App) -> None:
    desk = agent_client(app, "Ana")
    cid = customer(app, 4)
    answered_and_resolved(app, desk, cid)
    sent(app, cid)
    desk.post(f"/c/{cid}/status", data={"status": "open"})
    desk.post(f"/c/{cid}/status", data={"status": "resolved"})
    with Session(app.engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Survey).where(
            col(Survey.conversation_id) == cid)) == 1
    robot = customer(app, 5, sender="noreply@shop.example")
    answered_and_resolved(app, desk, robot)
    assert survey_of(app, robot).state == "skipped"  # type: ignore[union-attr]
    thanked = customer(app, 6)
    answered_and_resolved(app, desk, thanked)
    ingest(app, Inbound(channel="email", account="support", external_id="m60@example.com",
                        sender=Address("c6@example.com"), received_at=datetime.now(UTC),
                        subject="Re: Parcel 6", text="Thanks!",
                        references=("m6@example.com",)))
    with Session(app.engine) as s, s.begin():
        send_due(s, datetime.now(UTC), app.asking)
    survey = survey_of(app, thanked)
    assert survey is not None and survey.state == "cancelled"


@pytest.mark.parametrize("text, expected", [
    ("4", (4, "")), ("5 thanks!", (5, "thanks!")), ("3. slow but fine", (3, "slow but fine")),
    ("۴ خوب بود", (4, "خوب بود")), ("๕ ดีมาก", (5, "ดีมาก")), ("  2", (2, "")),
    ("10 out of 10", None), ("45", None), ("thanks", None), ("0", None), ("6", None)])
def test_what_a_reply_with_a_digit_means(text: str, expected: tuple[int, str] | None) -> None:
    assert parse_reply(text) == expected


def test_a_rule_says_never_to_ask(app: App, deployment: Path) -> None:
    """`skip_csat: true`: the conversation is tagged no-csat and its survey skipped."""
    (deployment / "rules" / "60-no-survey.yaml").write_text(
        "- name: legal matters are not surveyed\n"
        "  when: {subject: {words: [lawyer]}}\n"
        "  then: {skip_csat: true}\n")
    desk = agent_client(app, "Ana")
    ingest(app, mail(7, subject="A letter from my lawyer", sender="c7@example.com"))
    with Session(app.engine) as s:
        conv = s.scalars(sa.select(Conversation).where(
            col(Conversation.subject) == "A letter from my lawyer")).one()
    assert conv.id is not None and "no-csat" in conv.tags
    answered_and_resolved(app, desk, conv.id)
    survey = survey_of(app, conv.id)
    assert survey is not None and survey.state == "skipped"
    assert survey.reason is not None and "skip_csat" in survey.reason
