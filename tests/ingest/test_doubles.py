"""One customer mail is one message: doubles across our accounts, re-sends, no Message-ID.

On both databases through the pipeline, through `inbox ingest`, and through the daemon
on a real Dovecot with two accounts.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from channels.base import Address, Inbound
from channels.email.mime import parse_email
from inbox.ingest.pipeline import ingest_batch
from inbox.ingest.work import Result
from inbox.runtime.app import App
from inbox.runtime.daemon import Daemon
from inbox.store.models import Conversation, Message, Outbox
from tests import mailcorpus as mc
from tests.cli.test_cli import eml, inbox_json
from tests.ingest.test_pipeline import NOW, events, mail, rows, run
from tests.peers import Desk, running


def customer_messages(app: App) -> list[Message]:
    return rows(app, Message, direction="in")


@pytest.mark.parametrize("together", [False, True], ids=["apart", "one batch"])
def test_one_mail_to_two_of_our_accounts_is_one_message_acked_once(
        app: App, together: bool) -> None:
    to_support = mail("m1@example.com")
    to_sales = replace(to_support, account="sales")
    results = (run(app, to_support, to_sales) if together
               else [*run(app, to_support), *run(app, to_sales)])
    assert [r.outcome for r in results] == ["stored", "duplicate"]
    [conv] = rows(app, Conversation)
    assert results[1].conversation_id == conv.id
    [stored] = customer_messages(app)
    assert stored.account == "support"
    assert len(rows(app, Outbox)) == 1
    [also] = events(app, "also-received")
    assert also.conversation_id == conv.id and also.message_id == stored.id
    assert also.detail["account"] == "sales"

    # Fetched again (a replay after a crash): nothing new, not even an event.
    again = run(app, to_support, to_sales)
    assert [r.outcome for r in again] == ["duplicate", "duplicate"]
    assert len(events(app, "also-received")) == 1
    assert len(customer_messages(app)) == 1 and len(rows(app, Outbox)) == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite: one writer
def test_two_accounts_ingesting_one_mail_at_the_same_moment_store_it_once(app: App) -> None:
    """Two daemons' (or connector loops') batches on PostgreSQL, each in its transaction."""
    run(app, mail("m0@example.com", subject="Earlier", text="Another question."))
    to_support = mail("m1@example.com")  # from a customer we know: no new rows to clash
    ctx = app.pipeline_context()
    other: list[Result] = []
    sales = threading.Thread(target=lambda: other.extend(run(app, replace(to_support,
                                                                         account="sales"))))
    with app.engine.connect() as conn, app.engine.connect() as watcher:
        with conn.begin():
            [first] = ingest_batch(conn, [to_support], ctx, NOW)
            sales.start()
            deadline = time.monotonic() + 10
            while sales.is_alive() and not _waiting_for_a_lock(watcher):
                assert time.monotonic() < deadline, "the other batch neither ended nor waited"
                sales.join(timeout=0.02)
        sales.join(timeout=10)
    assert first.outcome == "stored"
    assert [r.outcome for r in other] == ["duplicate"]
    assert len(customer_messages(app)) == 2 and len(rows(app, Outbox)) == 2


def _waiting_for_a_lock(conn: sa.Connection) -> bool:
    query = sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    waiting = conn.execute(query).scalar_one()
    conn.rollback()
    return bool(waiting)


def test_every_other_account_a_mail_reached_is_recorded(app: App) -> None:
    first = mail("m1@example.com")
    run(app, first, replace(first, account="sales"), replace(first, account="billing"))
    assert sorted(e.detail["account"] for e in events(app, "also-received")) == [
        "billing", "sales"]
    assert len(rows(app, Outbox)) == 1


def test_chat_message_ids_are_per_bot_so_equal_ids_are_two_messages(app: App) -> None:
    """Telegram numbers messages per bot: message 7 on two bots are two messages."""
    def chat(bot: str) -> Inbound:
        return Inbound(channel="telegram", account=bot, external_id="7",
                       sender=Address("1001", "Anna"), received_at=NOW, text="Hello",
                       thread_key="1001", reachable=True)
    results = run(app, chat("shop_bot"), chat("help_bot"))
    assert [r.outcome for r in results] == ["stored", "stored"]
    assert len(customer_messages(app)) == 2
    assert events(app, "also-received") == []


@pytest.mark.usefixtures("app")
def test_ingesting_one_corpus_under_two_accounts_stores_and_acks_it_once(
        tmp_path: Path) -> None:
    mails = tmp_path / "mail"
    eml(mails, "a1")
    eml(mails, "b1", sender="Bob <bob@example.org>", subject="Delivery time")
    first = inbox_json("ingest", "--account", "support", str(mails))
    second = inbox_json("ingest", "--account", "sales", str(mails))
    assert (first["stored"], first["acks_queued"]) == (2, 2)
    assert (second["stored"], second["duplicates"], second["acks_queued"]) == (0, 2, 0)
    assert len(inbox_json("queue")) == 2 and len(inbox_json("outbox")) == 2


async def test_a_mail_to_support_with_sales_on_cc_is_acknowledged_once(desk: Desk) -> None:
    sales = desk.dovecot.add_user(desk.support.replace("support-", "sales-"))
    app = desk.configure({"support": desk.account(), "sales": desk.account(sales)},
                         addresses=[desk.support, sales])
    connectors = desk.connectors(app)
    raw = mc.plain_mail(sender=f"Anna Nowak <{desk.customer}>", to=desk.support,
                        extra_headers=[("Cc", sales)], message_id="<both-1@example.com>")
    async with running(Daemon(app, dict(connectors))):
        for watched in connectors.values():
            await watched.watching()
        desk.dovecot.append(desk.support, raw)
        desk.dovecot.append(sales, raw)
        await desk.sink.arrived(1, timeout=8.0)
        for watched in connectors.values():
            await watched.committed("both-1@example.com")
    assert len(rows(app, Conversation)) == 1 and len(customer_messages(app)) == 1
    assert len(rows(app, Outbox)) == 1
    [also] = events(app, "also-received")
    [stored] = customer_messages(app)
    assert {stored.account, also.detail["account"]} == {"support", "sales"}


# --- A customer who sends the same mail again ------------------------------------------

def test_a_resend_within_minutes_joins_the_open_conversation_without_a_second_ack(
        app: App) -> None:
    [first] = run(app, mail("m1@example.com", text="Where is my order?\n"))
    # "Send again" in a mail client: a new Message-ID, the same words (re-wrapped).
    [again] = run(app, mail("m2@example.com", subject=" order 1234", text="Where is\nmy order?",
                            received_at=NOW + timedelta(minutes=5)),
                  now=NOW + timedelta(minutes=5))
    assert again.outcome == "stored" and not again.acked
    assert again.conversation_id == first.conversation_id
    assert len(customer_messages(app)) == 2 and len(rows(app, Outbox)) == 1
    [repeat] = events(app, "repeat")
    assert repeat.conversation_id == first.conversation_id
    assert repeat.detail["of"] == "m1@example.com"
    assert repeat.detail["message"] == "m2@example.com"
    [suppressed] = events(app, "ack.suppressed")
    assert "already acknowledged" in suppressed.detail["reason"]


def test_resends_in_one_batch_fold_too(app: App) -> None:
    results = run(app, mail("m1@example.com"), mail("m2@example.com"), mail("m3@example.com"))
    assert len({r.conversation_id for r in results}) == 1
    assert [r.acked for r in results] == [True, False, False]
    assert len(events(app, "repeat")) == 2


@pytest.mark.parametrize("change", ["later", "other text", "other sender", "other subject"])
def test_what_is_not_a_resend_opens_its_own_conversation(app: App, change: str) -> None:
    window = app.pipeline_context().repeat_window
    assert window == timedelta(minutes=15)  # the default
    kw: dict[str, object] = {
        "later": {"received_at": NOW + window + timedelta(seconds=1)},
        "other text": {"text": "Where is my other order?"},
        "other sender": {"sender": "bob@example.org"},
        "other subject": {"subject": "Order 1235"},
    }[change]  # type: ignore[assignment]
    [first] = run(app, mail("m1@example.com"))
    [second] = run(app, mail("m2@example.com", **kw), now=NOW + window)
    assert second.conversation_id != first.conversation_id and second.acked
    assert events(app, "repeat") == []


def test_the_resend_window_is_configurable(app: App) -> None:
    ctx = replace(app.pipeline_context(), repeat_window=timedelta(0))  # 0: never fold
    [first] = run(app, mail("m1@example.com"), ctx=ctx)
    [second] = run(app, mail("m2@example.com"), ctx=ctx)
    assert second.conversation_id != first.conversation_id


# --- A mail without a Message-ID ------------------------------------------------------

def test_a_mail_without_message_id_is_acknowledged_under_the_default_domain(
        app: App) -> None:
    ctx = app.pipeline_context()
    assert ctx.our_domain == "inbox.invalid"  # what `inbox init` writes
    raw = mc.no_message_id_mail()
    inbound = parse_email(raw, "support", NOW)
    assert not inbound.problems
    [r] = run(app, inbound)
    assert r.outcome == "stored" and r.acked, events(app, "ack.suppressed")
    # And the same bytes again are the same message.
    [again] = run(app, parse_email(raw, "support", NOW))
    assert again.outcome == "duplicate" and len(rows(app, Outbox)) == 1


def test_our_own_message_ids_are_still_recognised(app: App) -> None:
    [r] = run(app, mail("m1@example.com"))
    [ack] = rows(app, Message, kind="auto-ack")
    assert ack.external_id.endswith("@inbox.invalid")
    # A Message-ID of ours on mail we have not stored (another installation's copy of
    # ours, say, sent under the same default domain): never answered.
    ours = f"{uuid.uuid4().hex}@inbox.invalid"
    [looped] = run(app, mail(ours, sender="someone@example.net", subject="Fwd: ack"))
    assert r.acked and not looped.acked
    reasons = [e.detail["reason"] for e in events(app, "ack.suppressed")]
    assert any("our own Message-IDs" in reason for reason in reasons)
