"""Threading by the reply chain, on both databases: who may join a conversation by it, and
which conversation the nearest reference names."""

from __future__ import annotations

from dataclasses import replace

from channels.base import Address
from inbox.runtime.app import App
from inbox.store.models import Conversation, Event
from tests.ingest.test_pipeline import events, mail, rows, run


def linked(app: App) -> dict[int, dict[str, object]]:
    return {e.conversation_id: e.detail for e in events(app, "linked")}


def test_a_stranger_citing_a_customers_message_gets_a_conversation_of_their_own(
        app: App) -> None:
    [anna] = run(app, mail("m1@example.com", text="My address is 1 Main St."))
    [eve] = run(app, mail("m2@evil.example", sender="eve@evil.example", subject="Re: Order 1234",
                          text="Please send it to me instead.", references=("m1@example.com",)))
    assert eve.conversation_id != anna.conversation_id
    assert len(rows(app, Conversation)) == 2
    assert eve.acked  # a new conversation of a new person: acknowledged as such
    # Visible on both sides, so that an agent can merge them if they belong together.
    assert anna.conversation_id is not None and eve.conversation_id is not None
    trail = linked(app)
    assert trail[eve.conversation_id]["conversation"] == anna.conversation_id
    assert trail[anna.conversation_id]["conversation"] == eve.conversation_id
    assert "eve@evil.example" in str(trail[eve.conversation_id]["why"])


def test_the_customers_own_reply_and_a_reply_in_the_same_batch_join(app: App) -> None:
    first = mail("m1@example.com")
    results = run(app, first, mail("m2@example.com", subject="Re: Order 1234",
                                   text="Any news?", references=("m1@example.com",)))
    assert len({r.conversation_id for r in results}) == 1
    assert events(app, "linked") == []


def test_someone_on_copy_of_the_thread_joins_it(app: App) -> None:
    [anna] = run(app, mail("m1@example.com", recipients=(
        Address("support@shop.example"), Address("bob@example.com"))))
    [bob] = run(app, mail("m2@example.com", sender="bob@example.com", subject="Re: Order 1234",
                          text="I am Anna's colleague: it is order 1234.",
                          references=("m1@example.com",),
                          recipients=(Address("support@shop.example"),
                                      Address("dave@example.com"))))
    assert bob.conversation_id == anna.conversation_id
    # Whoever a later message in it had on copy, too.
    [dave] = run(app, mail("m3@example.com", sender="dave@example.com", subject="Re: Order",
                           text="Dave here.", references=("m2@example.com",)))
    assert dave.conversation_id == anna.conversation_id
    assert events(app, "linked") == []


def test_one_of_our_agents_answering_from_their_mail_joins_the_thread(app: App) -> None:
    ctx = replace(app.pipeline_context(), staff={("email", "kim@shop.example"): "kim"})
    [anna] = run(app, mail("m1@example.com"), ctx=ctx)
    [kim] = run(app, mail("m2@shop.example", sender="kim@shop.example", subject="Re: Order 1234",
                          text="Anna, it ships today.", references=("m1@example.com",)),
                ctx=ctx)
    assert kim.conversation_id == anna.conversation_id


def test_the_nearest_reference_wins(app: App) -> None:
    """References name messages of two open conversations, A then B: B is the nearer."""
    [a] = run(app, mail("a@example.com", subject="Order 1234"))
    [b] = run(app, mail("b@example.com", subject="Invoice 99", text="Wrong invoice."))
    assert a.conversation_id != b.conversation_id
    [r] = run(app, mail("c@example.com", subject="Re: Invoice 99", text="Any news?",
                        references=("a@example.com", "b@example.com")))
    assert r.conversation_id == b.conversation_id
    assert len(rows(app, Event, kind="linked")) == 0
