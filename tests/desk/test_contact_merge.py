"""Merging two contacts that are one person (inbox.desk.contacts, `inbox contact`), on
both databases: the kept contact lists both people's addresses and conversations, their
next messages come to it, search still finds them, the other is gone, and what cannot be
merged is refused with the error the faces turn into 404 or 422."""

from __future__ import annotations

import json
import os
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.errors import Invalid, NotFound
from inbox.desk import actions, views
from inbox.desk.contacts import MERGED, merge
from inbox.desk.words import event_words
from inbox.lang.choose import AGENT, LEARNED, ContactLanguage, combine
from inbox.runtime.app import App
from inbox.store.models import Contact, Conversation, Event, Survey
from tests.cli.test_agents import shell
from tests.web.desk_helpers import ingest, mail

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
POLISH = "Dzień dobry, moja paczka nadal nie dotarła. Co się dzieje z zamówieniem?"


def act(app: App, work: Any) -> Any:
    with Session(app.engine, expire_on_commit=False) as s, s.begin():
        return work(s)


def contact_of(app: App, conv_id: int) -> int:
    return int(act(app, lambda s: actions.get_conversation(s, conv_id).contact_id))


def shown(app: App, contact_id: int) -> Any:
    return act(app, lambda s: views.contact(s, contact_id, None))


@pytest.fixture
def two(app: App) -> tuple[int, int]:
    """Anna wrote from home (conversation 1) and from work, twice (2, 3), and on
    Telegram (4): ingest made three contacts of her. Returns (home, work)."""
    ingest(app, mail(1, subject="Where is my order?", sender="anna@home.example",
                     name="Anna Nowak", at=NOW),
           mail(2, subject="Invoice for order 1234", sender="a.nowak@work.example",
                name="", at=NOW),
           mail(3, subject="Delivery address", sender="a.nowak@work.example", name="",
                at=NOW),
           mail(4, channel="telegram", sender="777", name="Ania", at=NOW), now=NOW)
    home, work = contact_of(app, 1), contact_of(app, 2)
    assert len({home, work, contact_of(app, 4)}) == 3
    return home, work


def test_the_kept_contact_lists_both_peoples_addresses_and_conversations(
        app: App, two: tuple[int, int]) -> None:
    home, work = two
    done = act(app, lambda s: merge(s, home, work, by="ana", now=LATER))
    assert done == {"into": home, "from": work, "by": "ana",
                    "identities": [{"channel": "email", "address": "a.nowak@work.example"}],
                    "conversations": [2, 3]}
    anna = shown(app, home)
    assert anna["name"] == "Anna Nowak"
    assert [(i["channel"], i["address"]) for i in anna["identities"]] == [
        ("email", "anna@home.example"), ("email", "a.nowak@work.example")]
    assert sorted(c["id"] for c in anna["conversations"]) == [1, 2, 3]
    assert shown(app, work) is None  # the other record is gone
    with Session(app.engine) as s:
        assert s.get(Contact, work) is None
        # nothing names it any more (the foreign keys would have refused the delete)
        assert s.scalar(sa.select(sa.func.count()).select_from(Conversation).where(
            Conversation.contact_id == work)) == 0  # type: ignore[arg-type]
    conv = act(app, lambda s: views.conversation(s, 2, LATER, app.secret))
    assert conv["contact"]["id"] == home and conv["contact"]["name"] == "Anna Nowak"


def test_each_moved_conversation_says_who_merged_it_and_the_others_do_not(
        app: App, two: tuple[int, int]) -> None:
    home, work = two
    act(app, lambda s: merge(s, home, work, by="ana", now=LATER))
    with Session(app.engine) as s:
        events = s.scalars(sa.select(Event).where(Event.kind == MERGED)  # type: ignore[arg-type]
                           .order_by(Event.conversation_id)).all()  # type: ignore[arg-type]
    assert [(e.conversation_id, e.detail, e.created_at) for e in events] == [
        (2, {"from": work, "into": home, "by": "ana"}, LATER),
        (3, {"from": work, "into": home, "by": "ana"}, LATER)]
    words = event_words({"kind": MERGED, "detail": events[0].detail},
                        zoneinfo.ZoneInfo("UTC"))
    assert words == f"contact #{work} merged into #{home} by \u2068ana\u2069"


def test_the_next_message_from_the_other_address_comes_to_the_kept_contact(
        app: App, two: tuple[int, int]) -> None:
    home, work = two
    act(app, lambda s: merge(s, home, work, by="ana", now=LATER))
    ingest(app, mail(5, subject="Refund?", sender="a.nowak@work.example", at=LATER),
           now=LATER)
    with Session(app.engine) as s:
        new = s.scalars(sa.select(Conversation).where(
            Conversation.subject == "Refund?")).one()  # type: ignore[arg-type]
        contacts = s.scalar(sa.select(sa.func.count()).select_from(Contact))
    assert new.contact_id == home
    assert contacts == 2  # Anna (both mail addresses) and Ania on Telegram: no new one
    assert new.id in [c["id"] for c in shown(app, home)["conversations"]]


def test_search_finds_the_moved_conversations_by_the_kept_name(
        app: App, two: tuple[int, int]) -> None:
    home, work = two

    def found(words: str) -> list[int]:
        f = views.QueueFilter(statuses=("open",), phrases=(words,))
        return sorted(c["id"] for c in act(app, lambda s: views.queue(s, f, LATER, app.secret)))

    assert found("Anna Nowak") == [1]
    act(app, lambda s: merge(s, home, work, by="ana", now=LATER))
    assert found("Anna Nowak") == [1, 2, 3]
    assert found("a.nowak@work") == [1, 2, 3]  # an address finds the whole person


def test_an_agents_language_choice_on_either_wins_and_reaches_the_next_conversation(
        app: App) -> None:
    ingest(app, mail(1, sender="anna@home.example", name="", at=NOW),
           mail(2, sender="a.nowak@work.example", name="Anna Nowak", text=POLISH, at=NOW),
           now=NOW)
    home, work = contact_of(app, 1), contact_of(app, 2)
    served = app.settings.languages.serve
    act(app, lambda s: actions.set_language(s, 2, "pl", served=served, for_contact=True,
                                            now=NOW, by="ana"))
    act(app, lambda s: merge(s, home, work, by="ana", now=LATER))
    anna = shown(app, home)
    assert (anna["name"], anna["language"], anna["language_source"]) == (
        "Anna Nowak", "pl", AGENT)  # home had no name: the other's is taken
    ingest(app, mail(3, subject="One more thing", sender="anna@home.example", at=LATER),
           now=LATER)
    conv = act(app, lambda s: views.conversation(s, 3, LATER, app.secret))
    assert (conv["contact"]["id"], conv["language"], conv["language_source"]) == (
        home, "pl", "contact")


def test_language_facts_combine() -> None:
    agent_de = ContactLanguage("de", AGENT, "en", 1)
    learned_pl = ContactLanguage("pl", LEARNED, "pl", 3)
    nothing = ContactLanguage()
    assert combine(agent_de, learned_pl) == ContactLanguage("de", AGENT, "en", 1)
    assert combine(learned_pl, agent_de) == ContactLanguage("de", AGENT, "pl", 3)
    assert combine(nothing, learned_pl) == learned_pl  # nothing known is nothing lost
    assert combine(learned_pl, ContactLanguage(None, None, "pl", 2)) == ContactLanguage(
        "pl", LEARNED, "pl", 5)  # one run of Polish, longer
    assert combine(ContactLanguage(None, None, "vi", 2), learned_pl) == ContactLanguage(
        "pl", LEARNED, "vi", 2)  # runs of two languages: the kept one stands


def test_a_contact_into_itself_or_a_missing_one_is_refused_and_nothing_changes(
        app: App, two: tuple[int, int]) -> None:
    home, work = two
    with pytest.raises(Invalid, match=f"contact {home} cannot be merged into itself"):
        act(app, lambda s: merge(s, home, home, by="ana", now=LATER))
    for keep, other in ((home, 99), (99, work), (home, 2**40), (0, work)):
        with pytest.raises(NotFound, match=r"no contact \d+"):
            act(app, lambda s, k=keep, o=other: merge(s, k, o, by="ana", now=LATER))
    assert [c["id"] for c in shown(app, work)["conversations"]] == [3, 2]
    act(app, lambda s: merge(s, home, work, by="ana", now=LATER))
    with pytest.raises(NotFound, match=f"no contact {work}"):  # merged once is gone
        act(app, lambda s: merge(s, home, work, by="ana", now=LATER))


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_merge_naming_a_contact_being_merged_waits_for_it(
        app: App, two: tuple[int, int]) -> None:
    """PostgreSQL: a merge holds both contacts until it commits; another naming either
    meanwhile waits (here it gives up at its lock timeout), and after the commit works
    on what the first left: the kept contact as it is now, the other one gone.
    (SQLite's writers take turns: the second would not even begin.)"""
    home, work = two
    telegram = contact_of(app, 4)

    def meanwhile(keep: int, other: int) -> None:
        with Session(app.engine) as second, second.begin():
            second.execute(sa.text("SET LOCAL lock_timeout = '100ms'"))
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                merge(second, keep, other, by="kim", now=LATER)

    def ingest_waits(contact_id: int) -> None:
        """What an ingest giving the contact a conversation takes: the foreign key's
        share lock, asked without waiting."""
        with (app.engine.connect() as probe, probe.begin(),
              pytest.raises(sa.exc.OperationalError, match="could not obtain lock")):
            probe.execute(sa.text("SELECT 1 FROM contact WHERE id = :id "
                                  "FOR KEY SHARE NOWAIT"), {"id": contact_id})

    with Session(app.engine) as first, first.begin():
        merge(first, home, work, by="ana", now=LATER)
        meanwhile(home, telegram)  # into the contact being kept
        meanwhile(telegram, work)  # the contact being merged away
        ingest_waits(home)
        ingest_waits(work)
    with pytest.raises(NotFound, match=f"no contact {work}"):
        act(app, lambda s: merge(s, telegram, work, by="kim", now=LATER))
    act(app, lambda s: merge(s, home, telegram, by="kim", now=LATER))
    anna = shown(app, home)
    assert sorted(c["id"] for c in anna["conversations"]) == [1, 2, 3, 4]
    assert [i["address"] for i in anna["identities"]] == [
        "anna@home.example", "a.nowak@work.example", "777"]


def test_the_command_line_merges_and_prints_the_merged_contact(
        app: App, two: tuple[int, int]) -> None:
    home, work = two
    before = shell(app, "contact", "show", str(work))
    assert before.returncode == 0, before.stderr
    assert "a.nowak@work.example" in before.stdout and "Invoice for order 1234" in before.stdout

    done = shell(app, "contact", "merge", str(home), str(work), "--json")
    assert done.returncode == 0, done.stderr
    anna = json.loads(done.stdout)
    assert anna["id"] == home and anna["name"] == "Anna Nowak"
    assert [i["address"] for i in anna["identities"]] == ["anna@home.example",
                                                           "a.nowak@work.example"]
    assert sorted(c["id"] for c in anna["conversations"]) == [1, 2, 3]
    assert anna["merged"]["from"] == work and anna["merged"]["conversations"] == [2, 3]

    text = shell(app, "contact", "show", str(home))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"contact {home}: \u2068Anna Nowak\u2069  language -"
    assert "\u2068a.nowak@work.example\u2069" in lines[2]
    assert sum("#" in line for line in lines) == 3

    gone = shell(app, "contact", "show", str(work))
    assert (gone.returncode, gone.stderr) == (1, f"inbox: no contact {work}\n")
    again = shell(app, "contact", "merge", str(home), str(work))
    assert (again.returncode, again.stderr) == (1, f"inbox: no contact {work}\n")
    itself = shell(app, "contact", "merge", str(home), str(home))
    assert itself.returncode == 1
    assert itself.stderr == f"inbox: contact {home} cannot be merged into itself\n"


def test_the_command_line_names_who_merged(app: App, two: tuple[int, int]) -> None:
    home, work = two
    telegram = contact_of(app, 4)
    stranger = shell(app, "contact", "merge", str(home), str(telegram), "--as", "nobody")
    assert stranger.returncode == 1 and "nobody" in stranger.stderr
    done = shell(app, "contact", "merge", str(home), str(telegram))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        f"contact {telegram} merged into {home}: 1 address and 1 conversation moved\n\n"
        f"contact {home}: ")
    with Session(app.engine) as s:
        [event] = s.scalars(sa.select(Event).where(Event.kind == MERGED)).all()  # type: ignore[arg-type]
    # without --as (or $INBOX_AGENT), the login name, as `inbox assign` records it
    assert (event.conversation_id, event.detail["by"]) == (4, os.environ.get("USER", "cli"))
    assert shown(app, work)["identities"][0]["address"] == "a.nowak@work.example"


def test_who_was_asked_lately_is_the_one_person_after_a_merge(
        app: App, two: tuple[int, int]) -> None:
    """A survey sent to the work address (inbox.csat) counts for the merged contact:
    the merge moves it instead of failing on it."""
    home, work = two
    act(app, lambda s: s.add(Survey(conversation_id=2, contact_id=work, channel="email",
                                    state="sent", due_at=NOW, sent_at=NOW,
                                    created_at=NOW)))
    act(app, lambda s: merge(s, home, work, by="ana", now=LATER))
    with Session(app.engine) as s:
        assert s.scalars(sa.select(col(Survey.contact_id))).all() == [home]
