"""Guarantees a planted bug once slipped past: each test here failed on such a bug.

docs/guarantees.md lists every core promise, the tests that guard it and the bugs
planted to check that they do; the tests below close the gaps that check found.
"""

from __future__ import annotations

from dataclasses import replace

from inbox.ack import AckFacts, can_acknowledge
from inbox.app import App
from inbox.models import Message
from tests.test_pipeline import Exploding, mail, rows, run


def test_an_empty_return_path_is_a_robot_and_not_answered() -> None:
    """RFC 5321 null sender: some servers write it as an empty header, not `<>`."""
    for value in ("", "   "):
        decision = can_acknowledge(AckFacts(
            sender="anna@example.com", headers={"return-path": value},
            external_id="abc@mail.example.com", unanswered=True, conversation_acked=False,
            acks_to_sender_today=0, daily_cap=3))
        assert not decision.ok and "Return-Path" in decision.reason


def stored_ids(app: App) -> list[tuple[str, str, str]]:
    return sorted((m.channel, m.account, m.external_id)
                  for m in rows(app, Message, kind="customer"))


def test_a_message_id_seen_on_another_account_or_channel_is_a_new_message(app: App) -> None:
    """Dedupe is per (channel, account): two mailboxes may well hold the same mail."""
    [first] = run(app, mail("m1@x"))
    sales = replace(mail("m1@x"), account="sales")
    chat = replace(mail("m1@x"), channel="telegram", account="bot")
    results = run(app, sales, chat, replace(mail("m1@x"), account="sales"))
    assert first.outcome == "stored"
    assert [r.outcome for r in results] == ["stored", "stored", "duplicate"]
    assert stored_ids(app) == [("email", "sales", "m1@x"), ("email", "support", "m1@x"),
                               ("telegram", "bot", "m1@x")]


def test_dedupe_stays_per_account_when_a_batch_is_rerun_message_by_message(
        app: App) -> None:
    """A failing message makes its batch run again without the prefetched lookups;
    the other messages must still be told apart by channel and account."""
    run(app, mail("m1@x"))
    ctx = replace(app.pipeline_context(), router=Exploding())
    results = run(app, mail("bad@x", text="boom"), replace(mail("m1@x"), account="sales"),
                  mail("m1@x"), ctx=ctx)
    assert [r.outcome for r in results] == ["quarantined", "stored", "duplicate"]
    assert ("email", "sales", "m1@x") in stored_ids(app)


def test_a_reply_chain_never_crosses_channels(app: App) -> None:
    """A chat message replying to id "m1@x" is not a reply to the e-mail of that id."""
    [email] = run(app, mail("m1@x"))
    [chat] = run(app, replace(mail("c2@x", sender="bob@example.org", subject="Hi"),
                              channel="telegram", account="bot", references=("m1@x",)))
    [follow_up] = run(app, mail("m3@x", sender="bob@example.org", references=("m1@x",)))
    assert chat.outcome == "stored" and chat.conversation_id != email.conversation_id
    assert follow_up.conversation_id == email.conversation_id
