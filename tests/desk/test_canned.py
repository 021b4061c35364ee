"""Canned answers on both databases: a version per language with a fallback, answers
scoped to a team, the customer's name filled in, and bodies that cannot be filled
refused when saved, with their line (the sandbox holds)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from inbox.core.directory import UnknownName
from inbox.core.errors import Conflict, Invalid
from inbox.desk import actions, canned
from inbox.desk.canned import TemplateRefused, version
from inbox.runtime.app import App
from inbox.store.models import CannedAnswer
from tests.web.desk_helpers import ingest, mail

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def add(app: App, name: str, body: str, team: str | None = None,
        language: str | None = None) -> None:
    with Session(app.engine) as s, s.begin():
        canned.add(s, version(name, team, language), body, by="root", now=NOW,
                   directory=app.directory)


def offered(app: App, query: str, conv_id: int = 1) -> list[tuple[str, str]]:
    """(name, filled text) of what the reply box offers for "/query"."""
    with Session(app.engine) as s:
        conv = actions.get_conversation(s, conv_id)
        return [(a.name, canned.fill(s, a, conv, "Kim", secret=app.secret))
                for a in canned.search(s, query, conv.team, conv.language)]


# What a customer writes in each language the tests use: the language is detected
# from the words (docs/languages.md), the channel's hint only breaks a tie.
WORDS = {"pl": "Dzień dobry, moja paczka nadal nie dotarła. Co się dzieje?",
         "vi": "Chào shop, mình vẫn chưa nhận được hàng. Kiểm tra giúp mình nhé."}


def conversation(app: App, n: int, *, name: str, language: str | None,
                 team: str | None = None) -> int:
    said = {"text": WORDS[language]} if language in WORDS else {}
    ingest(app, replace(mail(n, name=name, sender=f"c{n}@example.com", **said),
                        language=language), now=NOW)
    with Session(app.engine) as s, s.begin():
        conv = actions.get_conversation(s, n)
        conv.team = team
        return int(conv.id or 0)


def test_the_customers_language_wins_else_the_fallback_with_their_name(app: App) -> None:
    add(app, "refund-status", "Hello {{ customer_first_name }}, your refund is on its way. "
        "{{ reference }}\n— {{ agent_name }}")
    add(app, "refund-status", "Dzień dobry, {{ customer_name }}! Zwrot jest w drodze.",
        language="pl")
    add(app, "refund-status", "Chào {{ customer_first_name }}, tiền hoàn đang được "
        "chuyển.", language="vi")
    conversation(app, 1, name="Anna Nowak", language="pl")
    conversation(app, 2, name="Nguyễn Văn An", language="vi")
    conversation(app, 3, name="Lee Smith", language="de")
    conversation(app, 4, name="", language=None)
    assert offered(app, "/ref", 1) == [
        ("refund-status", "Dzień dobry, Anna Nowak! Zwrot jest w drodze.")]
    # Vietnamese names put the family first: the customer is greeted by the last word.
    assert offered(app, "ref", 2) == [
        ("refund-status", "Chào An, tiền hoàn đang được chuyển.")]
    [(_, german)] = offered(app, "ref", 3)  # no German version: the fallback
    assert german.startswith("Hello Lee, your refund is on its way. [#3-")
    assert german.endswith("\n— Kim")
    [(_, nameless)] = offered(app, "ref", 4)
    assert nameless.startswith("Hello , your refund")  # the admin's own choice of words


def test_search_is_by_name_or_text_loosely_and_names_first(app: App) -> None:
    add(app, "zwrot", "Zwrot pieniędzy zajmie 5 dni.", language="pl")
    add(app, "delay", "Przepraszamy za opóźnienie; zamówienie wyszło dziś.", language="pl")
    add(app, "address", "Please confirm your ZAMÓWIENIE address.")
    conversation(app, 1, name="Anna", language="pl")
    assert [n for n, _ in offered(app, "/ZWROT")] == ["zwrot"]
    assert [n for n, _ in offered(app, "zamowienie")] == ["address", "delay"]
    assert [n for n, _ in offered(app, "opoznienie")] == ["delay"]
    add(app, "ack-address", "We have your address.")
    add(app, "confirm", "We confirm your address.")
    # Names that begin with it first, then names that hold it, then texts.
    assert [n for n, _ in offered(app, "addr")] == ["address", "ack-address", "confirm"]
    assert [n for n, _ in offered(app, "/")] == ["ack-address", "address", "confirm",
                                                 "delay", "zwrot"]
    assert offered(app, "nothing like this") == []


def test_a_teams_answers_are_offered_in_its_conversations_only(app: App) -> None:
    add(app, "invoice", "Your invoice is attached.", team="billing")
    add(app, "hello", "Hello from billing!", team="billing")
    add(app, "hello", "Hello!")
    add(app, "reset", "Reset your password here.", team="tech")
    conversation(app, 1, name="Anna", language=None, team="billing")
    conversation(app, 2, name="Lee", language=None, team=None)
    assert offered(app, "", 1) == [("hello", "Hello from billing!"),
                                   ("invoice", "Your invoice is attached.")]
    assert offered(app, "", 2) == [("hello", "Hello!")]
    with pytest.raises(UnknownName, match="unknown team 'billng'"):
        add(app, "x", "y", team="billng")


def test_one_version_per_name_team_and_language_even_the_fallbacks(app: App) -> None:
    add(app, "hello", "Hello!")
    add(app, "hello", "Cześć!", language="pl")
    add(app, "hello", "Hello, billing!", team="billing")
    for team, language in ((None, None), (None, "PL"), ("billing", None)):
        with pytest.raises(Conflict, match="exists already"):
            add(app, "Hello", "Again", team=team, language=language)
    with Session(app.engine) as s, s.begin():
        found = canned.find(s, version("hello", None, "pl"))
        canned.update(s, int(found.id or 0), version("hello", None, "pl"), "Dzień dobry!",
                      by="ana", now=NOW, directory=app.directory)
        assert [(a.name, a.team, a.language, a.body, a.changed_by)
                for a in canned.listing(s)] == [
            ("hello", "", "", "Hello!", "root"), ("hello", "", "pl", "Dzień dobry!", "ana"),
            ("hello", "billing", "", "Hello, billing!", "root")]
        canned.remove(s, canned.find(s, version("hello", "billing")))
        assert [a.team for a in canned.listing(s, "billing")] == ["", ""]
    for bad in ("two words", "a" * 49, "", "x<y"):
        with pytest.raises(Invalid, match="one word"):
            version(bad)
    with pytest.raises(Invalid, match="not a language code"):
        version("ok", language="Polish!")
    assert version("/ZWROT-Pieniędzy").name == "zwrot-pieniędzy"
    assert version("สวัสดี").name == "สวัสดี"  # Thai vowel signs are marks


@pytest.mark.parametrize(("body", "problem"), [
    ("Hello\n{{ customer_name }\n", "hello:2: unexpected '}'"),
    ("Hello\n\n{{ custmer_name }}", "hello:3: unknown variable 'custmer_name'"),
    ("Hi\n{% if customer_name == 'x' %}{{ order_number }}{% endif %}",
     "hello:2: unknown variable 'order_number'"),
    ("Hi\n{{ customer_name.split()[1] }}", "hello:2:"),  # fails without a full name
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "hello:1: access to attribute "
     "'__class__' of 'str' object is unsafe"),
    ("{{ 'x' * 10**9 }}", "too large"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     "loops ran over"),
])
def test_a_body_that_cannot_be_filled_is_refused_when_saved_with_its_line(
        app: App, body: str, problem: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateRefused) as refused:
        add(app, "hello", body)
    assert problem in str(refused.value)
    assert time.monotonic() - started < 3  # bounded: a second per render at most
    with Session(app.engine) as s:
        assert canned.listing(s) == []
    assert isinstance(refused.value, Invalid)


def test_customer_values_stay_one_line_and_no_larger_than_given(app: App) -> None:
    add(app, "hi", "Dear {{ customer_name }},\nthanks.")
    conversation(app, 1, name="Eve\r\nBcc: boss@example.com", language=None)
    assert offered(app, "hi") == [("hi", "Dear Eve Bcc: boss@example.com,\nthanks.")]
    with Session(app.engine) as s:
        assert s.get(CannedAnswer, 1) is not None
