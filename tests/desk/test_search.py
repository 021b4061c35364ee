"""Search: every language we serve, on both databases, through the index the migration
builds and the triggers or indexes that keep it in step (docs/search.md)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bench.common import pg_database
from channels.base import Inbound
from inbox.cli.main import cli
from inbox.core.config import load_settings
from inbox.core.vocab import Status
from inbox.desk import actions, views
from inbox.desk.search import TOO_SHORT, QueryTooShort, search
from inbox.runtime.app import App
from inbox.runtime.deployment import init_deployment
from inbox.store import batch as store
from inbox.store.db import upgrade
from inbox.store.models import Message
from tests.conftest import PG_ADMIN
from tests.ingest.test_pipeline import NOW, mail, run
from tests.store.test_migrations import (
    NAIVE_NOW,
    insert_old,
    insert_old_conversation,
    tables_as_stored,
)

EVERY_STATUS = views.QueueFilter(statuses=tuple(Status))
NFD = "NFD"

CUSTOMERS = {  # subject: (sender, name, text)
    "Thai": ("somchai@example.th", "สมชาย ใจดี", "สินค้าเสียหายระหว่างจัดส่ง ขอคืนเงิน"),
    "Persian": ("sara@example.ir", "سارا احمدی", "سفارش من هنوز نرسیده است"),
    "Vietnamese": ("an@example.vn", unicodedata.normalize(NFD, "Nguyễn Văn An"),
                   unicodedata.normalize(NFD, "Tôi chưa nhận được mã đơn hàng 7781")),
    "Polish": ("ola@example.pl", "Aleksandra Wiśniewska", "Moje zamówienie nie dotarło"),
    "Tagalog": ("jose@example.ph", "Jose Rizal", "Hindi pa dumarating ang aking padala"),
    "English": ("anna@example.com", "Anna Nowak", "My parcel arrived broken.\nPlease help"),
    "Symbols": ("max@example.de", "Max", 'It costs "50%" (OR less)* -- code 50x'),
}


def customers(**received_after: int) -> list[Inbound]:
    return [mail(f"{subject}@example.net", sender=sender, name=name, subject=subject,
                 text=text, received_at=NOW + timedelta(minutes=received_after.get(subject, 0)))
            for subject, (sender, name, text) in CUSTOMERS.items()]


def found(app: App, query: str, f: views.QueueFilter = EVERY_STATUS) -> list[str]:
    """The subjects of the conversations found, in the queue's order."""
    with Session(app.engine) as s:
        return [row["subject"] for row in search(s, query, f, NOW, app.secret)]


def test_every_language_is_found_inside_its_words(app: App) -> None:
    run(app, *customers())
    expected = {
        "เสียหาย": "Thai",  # inside a run of Thai letters with no spaces
        "ระหว่างจัด": "Thai",
        "نرسیده": "Persian",
        "nguyễn": "Vietnamese",  # typed precomposed; stored decomposed
        "NHẬN ĐƯỢC": "Vietnamese",  # two terms, upper case
        "ZAMÓWIENIE": "Polish",
        "DOTARŁO": "Polish",
        "dumarating": "Tagalog",
        "Parcel": "English",
        "broken please": "English",  # words on two lines
        "Wiśniewska": "Polish",  # the contact's name
        "jose@example": "Tagalog",  # the contact's address
        "example.ir": "Persian",
    }
    assert {q: found(app, q) for q in expected} == {q: [s] for q, s in expected.items()}


def test_every_term_must_be_in_the_conversation_somewhere(app: App) -> None:
    """Terms are ANDed across subject, messages and contact, not within one of them."""
    run(app, *customers())
    assert found(app, "anna parcel") == ["English"]  # a name and a word of the text
    assert found(app, "english broken") == ["English"]  # the subject and the text
    assert found(app, "parcel zamówienie") == []


def test_a_reply_we_sent_and_a_note_are_searched(app: App) -> None:
    [english] = [r.conversation_id for r in run(app, customers()[5])]
    assert english is not None
    assert found(app, "refund approved") == []
    with Session(app.engine) as s, s.begin():
        actions.reply(s, english, "Your refund is approved.", author="kim", now=NOW,
                      secret=app.secret, domain="shop.example")
        actions.note(s, english, "Courier blamed: DPD depot", author="kim", now=NOW)
    assert found(app, "refund approved") == ["English"]
    assert found(app, "dpd depot") == ["English"]


def test_query_syntax_is_searched_as_text(app: App) -> None:
    """FTS5's operators and LIKE's wildcards in a query are plain characters."""
    run(app, *customers())
    for query in ('"50%"', '(or less)*', '"50%" (OR', "OR less", 'it costs "50'):
        assert found(app, query) == ["Symbols"], query
    for query in ('"""', "***", "(((", "NEAR(less", "less AND", "^it", "code:50x"):
        assert found(app, query) == [], query
    assert found(app, "50_") == []  # not "50x": _ is no wildcard
    assert found(app, "%%%") == []


def test_short_terms_join_their_neighbour_and_a_short_query_is_refused(app: App) -> None:
    run(app, *customers())
    assert found(app, "mã đơn") == ["Vietnamese"]  # one phrase: "mã đơn"
    assert found(app, "đơn mã") == []  # ... so the order matters
    assert found(app, "nhận hàng 77") == ["Vietnamese"]  # a short last term: "hàng 77"
    assert found(app, "من هنوز") == ["Persian"]
    assert found(app, "a b") == []  # three characters: searched as one phrase
    for query in ("ab", "a", "من", "  ", ""):
        with pytest.raises(QueryTooShort, match=TOO_SHORT):
            found(app, query)


def test_found_conversations_come_most_urgent_first_with_the_queues_filters(app: App) -> None:
    run(app, *customers(Polish=-30, English=30))
    assert found(app, "example") == ["Polish", "Thai", "Persian", "Vietnamese", "Tagalog",
                                     "Symbols", "English"]
    [polish] = [c for c in _summaries(app, "zamówienie")]
    with Session(app.engine) as s, s.begin():
        actions.set_status(s, polish["id"], Status.RESOLVED, now=NOW, by="kim",
                           policies=app.sla)
    assert found(app, "zamówienie", views.QueueFilter()) == []  # open only, as the queue
    assert found(app, "zamówienie") == ["Polish"]
    assert found(app, "example", views.QueueFilter(limit=2)) == ["Thai", "Persian"]
    with Session(app.engine) as s:  # the queue's row shape
        assert _summaries(app, "dotarło") == [
            r for r in views.queue(s, EVERY_STATUS, NOW, app.secret)
            if r["subject"] == "Polish"]


def _summaries(app: App, query: str) -> list[views.JSON]:
    with Session(app.engine) as s:
        return search(s, query, EVERY_STATUS, NOW, app.secret)


def test_the_index_follows_new_messages_edits_and_renames(app: App) -> None:
    run(app, *customers())
    assert found(app, "xylophone") == []
    [conv_id] = [r.conversation_id for r in run(app, mail(
        "late@example.net", subject="Late", text="A xylophone, in pieces",
        sender="new@example.org", name="Zuzanna"))]
    assert conv_id is not None
    assert found(app, "xylophone") == ["Late"]
    with app.engine.begin() as conn:
        [message_id] = conn.execute(sa.select(store.message.c.id).where(
            store.message.c.external_id == "late@example.net")).scalars()
        store.edit_message(conn, message_id, "A trumpet, in pieces")
        for table in (store.contact, store.identity):  # the name is on both
            conn.execute(sa.update(table).where(table.c.name == "Zuzanna")
                         .values(name="Zofia"))
    assert (found(app, "xylophone"), found(app, "trumpet")) == ([], ["Late"])
    assert (found(app, "zuzanna"), found(app, "zofia")) == ([], ["Late"])
    with Session(app.engine) as s, s.begin():
        note = actions.note(s, conv_id, "violin case", author="kim", now=NOW)
        s.flush()
        note_id = note.id
    assert found(app, "violin") == ["Late"]
    with Session(app.engine) as s, s.begin():
        s.execute(sa.delete(Message).where(Message.id == note_id))
    assert found(app, "violin") == []


def test_postgres_keeps_the_folded_text_in_step_with_edits_and_renames(app: App) -> None:
    """PostgreSQL searches a stored folded copy (0009): an edited Telegram message and a
    renamed contact must be refolded by the database itself, whoever writes."""
    if app.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's FTS5 triggers are tested above")
    run(app, mail("tg@example.net", subject="Edited", text="Zepsuta PRALKA",
                  sender="zz@example.org", name="Zuzanna"))
    edited, renamed = "Zepsuta LODÓWKA\n  i ZMYWARKA", "Aleksandra Wiśniewska"
    with app.engine.begin() as conn:
        [message_id] = conn.execute(sa.select(store.message.c.id).where(
            store.message.c.external_id == "tg@example.net")).scalars()
        store.edit_message(conn, message_id, edited)
        for table in (store.contact, store.identity):  # the name is on both
            conn.execute(sa.update(table).where(table.c.name == "Zuzanna")
                         .values(name=unicodedata.normalize(NFD, renamed)))
        folded = conn.execute(sa.text(
            "SELECT (SELECT search_folded FROM message WHERE id = :m),"
            " (SELECT search_folded FROM contact WHERE name LIKE 'Aleksandra%'),"
            " (SELECT search_folded FROM identity WHERE address = 'zz@example.org')"),
            {"m": message_id}).one()
    assert tuple(folded) == ("zepsuta lodówka i zmywarka", "aleksandra wiśniewska",
                             "zz@example.org aleksandra wiśniewska")
    assert (found(app, "pralka"), found(app, "LODÓWKA I")) == ([], ["Edited"])
    assert (found(app, "zuzanna"), found(app, "wiśniewska")) == ([], ["Edited"])


def test_the_command_line_searches_and_refuses_a_short_query(app: App) -> None:
    run(app, *customers())
    runner = CliRunner()
    out = runner.invoke(cli, ["queue", "--search", "ZAMÓWIENIE", "--json"])
    assert out.exit_code == 0, out.output
    assert [r["subject"] for r in json.loads(out.stdout)] == ["Polish"]
    out = runner.invoke(cli, ["queue", "--search", "เสียหาย"])
    assert out.exit_code == 0 and "Thai" in out.stdout and "Polish" not in out.stdout
    out = runner.invoke(cli, ["queue", "--search", "nothing-like-this"])
    assert (out.exit_code, out.stdout) == (0, "") and "nothing found" in out.stderr
    out = runner.invoke(cli, ["queue", "--search", "ab"])
    assert out.exit_code == 1 and TOO_SHORT in out.stderr


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    with pg_database(PG_ADMIN, prefix="inbox_test_search") as url:
        yield url


def test_upgrading_from_0004_indexes_what_is_stored(empty_url: str, tmp_path: Path) -> None:
    """The rows stored before 0005 are found after it, the last beyond the first chunks
    of ids the backfill copies; and the index follows what comes after."""
    app = App(load_settings(init_deployment(tmp_path / "desk"),
                            {"INBOX_DATABASE_URL": empty_url}))
    upgrade(app.engine, to="0004")
    with app.engine.begin() as conn:  # as 0004's code stored them
        old = tables_as_stored(conn)
        for n, (subject, (sender, name, text)) in enumerate(CUSTOMERS.items()):
            contact = insert_old(conn, old["contact"], name=name, tags=[], vip=False,
                                 created_at=NAIVE_NOW)
            insert_old(conn, old["identity"], contact_id=contact, channel="email",
                       address=sender, name=name)
            conv_id = insert_old_conversation(conn, old, contact, subject)
            far = {"id": 45_001} if subject == "Symbols" else {}  # a third chunk of ids
            insert_old(conn, old["message"], **far, conversation_id=conv_id,
                       channel="email", account="support", external_id=f"{n}@example.net",
                       direction="in", kind="customer", sender=sender, sender_name=name,
                       recipients=[], subject=subject, text=text, references=[],
                       headers={}, problems=[], delivery="none", created_at=NAIVE_NOW)
    upgrade(app.engine)
    assert found(app, "เสียหาย") == ["Thai"]
    assert found(app, "Wiśniewska") == ["Polish"]
    assert found(app, "jose@example") == ["Tagalog"]
    assert found(app, "nguyễn") == ["Vietnamese"]
    assert found(app, "(or less)") == ["Symbols"]
    run(app, mail("new@example.net", subject="New", text="นรسیده? no: a new parcel"))
    assert found(app, "parcel") == ["New", "English"]  # New's clock runs: most urgent
    app.close()
