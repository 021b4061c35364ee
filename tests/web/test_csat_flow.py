"""Asking customers how it went, against a real `inbox run` on each database with surveys
on (docs/csat.md): a Polish customer's mail through Dovecot, resolved over the API, the
survey in Polish at the SMTP sink, a real click on its link in Chromium; an English
customer answering by replying "4 ..." through Dovecot; a Thai customer answering on
Telegram with a Thai digit; and never a second survey for one conversation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.peers import Dovecot, Tls, free_port
from tests.web.conftest import DATABASES, DeskProcess, Watched, peers_of, running_desk
from tests.web.test_api import client, token_for, until

POLISH = "Dzień dobry, moja paczka nadal nie dotarła. Co się dzieje z zamówieniem?"
THAI = "สวัสดีค่ะ พัสดุของฉันยังไม่มาถึงเลย ช่วยตรวจสอบให้หน่อยได้ไหมคะ"


@pytest.fixture(scope="module", params=DATABASES)
def surveyed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             dovecot: Dovecot, tls: Tls) -> Iterator[DeskProcess]:
    """A daemon of its own: surveys on, sent at the next sweep, linking to its desk."""
    directory = tmp_path_factory.mktemp(f"csat-{request.param}") / "desk"
    with running_desk(request.param, directory, dovecot, tls, lambda url: {
            "csat": {"enabled": True, "delay_minutes": 0}, "web": {"public_url": url},
            "sla": {"sweep_seconds": 0.2}}) as running:
        yield running


def conversation_of(api: httpx.Client, subject: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        rows = api.get("/conversations", params={"limit": 200}).json()["conversations"]
        return next((c for c in rows if c["subject"] == subject), None)
    return until(found, f"the conversation {subject!r}")


def answer_and_resolve(api: httpx.Client, cid: int, text: str) -> None:
    assert api.post(f"/conversations/{cid}/replies", json={"text": text}).status_code == 201
    assert api.patch(f"/conversations/{cid}", json={"status": "resolved"}).status_code == 200


def survey_of(api: httpx.Client, cid: int, state: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        csat = api.get(f"/conversations/{cid}").json()["csat"]
        return csat if csat and csat["state"] == state else None
    return until(found, f"the survey of {cid} {state}")


def plain(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def test_a_polish_customer_answers_with_a_click(surveyed: DeskProcess, page: Watched) -> None:
    peers, n = peers_of(surveyed), free_port()
    customer, subject = f"anna{n}@example.com", f"Zamówienie {n}"
    peers.write_mail(f"Anna Nowak <{customer}>", subject, POLISH, f"<csat{n}@example.com>")
    _, token = token_for(surveyed)
    with client(surveyed, token) as api:
        cid = conversation_of(api, subject)["id"]
        answer_and_resolve(api, cid, "Paczka wyszła dziś rano.")
        survey = peers.mail_where(lambda m: customer in str(m["To"])
                                  and "Jak nam poszło?" in str(m["Subject"]))
        assert survey["Auto-Submitted"] and survey["Subject"].startswith("[#")
        links = re.findall(r"(http://127\.0\.0\.1:\d+/csat/\S+)", plain(survey))
        assert len(links) == 5
        page.page.goto(links[4])  # five stars
        expect(page.page.locator("html")).to_have_attribute("lang", "pl")
        expect(page.page.get_by_role("radio", name="5 · świetnie")).to_be_checked()
        assert api.get(f"/conversations/{cid}").json()["csat"]["state"] == "sent"
        page.page.get_by_label("Chcesz coś dodać? (nieobowiązkowo)").fill("Bardzo szybko!")
        page.page.get_by_role("button", name="Wyślij").click()
        expect(page.page.get_by_role("status")).to_have_text(
            "Dziękujemy! Twoja odpowiedź do nas dotarła.")
        answered = survey_of(api, cid, "answered")
        assert (answered["score"], answered["comment"], answered["answered_via"]) == (
            5, "Bardzo szybko!", "link")
        page.page.goto(links[0])  # a second click keeps the first answer
        expect(page.page.get_by_role("status")).to_have_text(
            "Ta ankieta ma już odpowiedź. Dziękujemy!")
        conv = api.get(f"/conversations/{cid}").json()
        assert conv["status"] == "resolved" and conv["csat"]["score"] == 5
    assert page.console_errors() == []


def test_an_english_customer_answers_by_replying_with_a_digit(surveyed: DeskProcess) -> None:
    peers, n = peers_of(surveyed), free_port()
    customer, subject = f"ben{n}@example.com", f"Broken lid {n}"
    peers.write_mail(f"Ben <{customer}>", subject,
                     "Hello, the lid of my kettle arrived broken. Can you send a new one?",
                     f"<csat{n}@example.com>")
    _, token = token_for(surveyed)
    with client(surveyed, token) as api:
        cid = conversation_of(api, subject)["id"]
        answer_and_resolve(api, cid, "A new lid is on its way.")
        survey = peers.mail_where(lambda m: customer in str(m["To"])
                                  and "How did we do?" in str(m["Subject"]))
        peers.write_mail(f"Ben <{customer}>", f"Re: {survey['Subject']}",
                         "4 quick and friendly\n\n> How did we do?", f"<re{n}@example.com>")
        answered = survey_of(api, cid, "answered")
        assert (answered["score"], answered["comment"], answered["answered_via"]) == (
            4, "quick and friendly", "reply")
        conv = api.get(f"/conversations/{cid}").json()
        kinds = [e["kind"] for e in conv["events"]]
        assert conv["status"] == "resolved" and "reopened" not in kinds
        assert conv["sla"]["due_at"] is None  # nobody owes "4, thanks" an answer
        said = [e["detail"]["reason"] for e in conv["events"] if e["kind"] == "ack.suppressed"]
        assert said == ["an answer to our survey"]
        assert [m["text"].split("\n")[0] for m in conv["messages"]
                if m["direction"] == "in"][-1] == "4 quick and friendly"  # kept, shown


def test_a_thai_customer_answers_on_telegram_and_is_never_asked_twice(
        surveyed: DeskProcess) -> None:
    peers = peers_of(surveyed)
    somchai = peers.customer("สมชาย", language_code="th")
    peers.write_chat(somchai, THAI)
    _, token = token_for(surveyed)
    with client(surveyed, token) as api:
        def chat() -> dict[str, Any] | None:
            rows = api.get("/conversations", params={"limit": 200, "channel": "telegram"}
                           ).json()["conversations"]
            return next((c for c in rows if c["contact"]["address"] == str(somchai.chat_id)),
                        None)
        cid = until(chat, "the Telegram conversation")["id"]
        answer_and_resolve(api, cid, "พัสดุออกจากคลังแล้วค่ะ")
        survey = peers.chat_where(lambda s: s.chat_id == somchai.chat_id
                                  and "1 (ไม่ดี)" in s.text)
        assert "https://" not in survey.text and "http://" not in survey.text
        peers.write_chat(somchai, "๕ ดีมากค่ะ")
        answered = survey_of(api, cid, "answered")
        assert (answered["score"], answered["comment"], answered["answered_via"]) == (
            5, "ดีมากค่ะ", "reply")
        assert api.patch(f"/conversations/{cid}", json={"status": "open"}).status_code == 200
        assert api.patch(f"/conversations/{cid}", json={"status": "resolved"}
                         ).status_code == 200
        events = [e["kind"] for e in api.get(f"/conversations/{cid}").json()["events"]]
    assert [events.count(k) for k in ("csat.scheduled", "csat.queued", "csat.sent")] == [
        1, 1, 1]
