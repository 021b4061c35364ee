"""Guarantees a planted bug once slipped past: each test here failed on such a bug.

docs/guarantees.md lists every core promise, the tests that guard it and the bugs
planted to check that they do; the tests below close the gaps that check found.
"""

from __future__ import annotations

from dataclasses import replace

from channels.base import Inbound, TransientError
from inbox.core import tokens
from inbox.ingest.ack import AckFacts, can_acknowledge
from inbox.runtime.app import App
from inbox.store.models import Message, Outbox
from tests.ingest.test_pipeline import NOW, Exploding, mail, rows, run
from tests.outbox.test_outbox import Channel, Clock, dispatcher


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


def chat(external_id: str, bot: str) -> Inbound:
    return replace(mail(external_id), channel="telegram", account=bot)


def test_dedupe_is_per_account_except_where_ids_are_global(app: App) -> None:
    """A Message-ID names one mail at every account: stored once, the other account
    recorded. A chat's ids are per bot: the same id on two bots is two messages."""
    [first] = run(app, mail("m1@x"))
    results = run(app, replace(mail("m1@x"), account="sales"), chat("m1@x", "bot-a"),
                  chat("m1@x", "bot-b"), chat("m1@x", "bot-a"))
    assert first.outcome == "stored"
    assert [r.outcome for r in results] == ["duplicate", "stored", "stored", "duplicate"]
    assert stored_ids(app) == [("email", "support", "m1@x"), ("telegram", "bot-a", "m1@x"),
                               ("telegram", "bot-b", "m1@x")]


def test_dedupe_stays_per_account_when_a_batch_is_rerun_message_by_message(
        app: App) -> None:
    """A failing message makes its batch run again without the prefetched lookups;
    the other messages must still be told apart by channel and account."""
    run(app, chat("m1@x", "bot-a"))
    ctx = replace(app.pipeline_context(), router=Exploding())
    results = run(app, mail("bad@x", text="boom"), chat("m1@x", "bot-b"),
                  chat("m1@x", "bot-a"), ctx=ctx)
    assert [r.outcome for r in results] == ["quarantined", "stored", "duplicate"]
    assert ("telegram", "bot-b", "m1@x") in stored_ids(app)


def test_a_reply_chain_never_crosses_channels(app: App) -> None:
    """A chat message replying to id "m1@x" is not a reply to the e-mail of that id."""
    [email] = run(app, mail("m1@x"))
    [talk] = run(app, replace(mail("c2@x", sender="bob@example.org", subject="Hi"),
                              channel="telegram", account="bot", references=("m1@x",)))
    [follow_up] = run(app, mail("m3@x", subject="More", references=("m1@x",)))
    assert talk.outcome == "stored" and talk.conversation_id != email.conversation_id
    assert follow_up.conversation_id == email.conversation_id


def test_a_token_signed_for_one_conversation_opens_no_other(app: App) -> None:
    """The signature binds the number: Eve, holding her own `[#1-xxxxx]`, cannot reach
    conversation 2 by changing the number and keeping her signature."""
    [eve] = run(app, mail("m1@x", sender="eve@example.org", subject="Mine"))
    [anna] = run(app, mail("m2@x", sender="anna@example.com", subject="Private"))
    assert eve.conversation_id is not None and anna.conversation_id is not None
    signature = tokens.reference(app.secret, eve.conversation_id).strip("[]").split("-")[1]
    [probe] = run(app, mail("m3@x", sender="eve@example.org",
                            subject=f"Hi [#{anna.conversation_id}-{signature}]"))
    assert probe.conversation_id != anna.conversation_id


def test_a_token_signed_by_another_deployment_is_not_ours(app: App) -> None:
    """The deployment's secret keys the signature: a reference minted with another
    secret (another installation's mail, a guessed default) joins nothing here."""
    [first] = run(app, mail("m1@x"))
    assert first.conversation_id is not None
    foreign = tokens.reference("another deployment's secret", first.conversation_id)
    assert foreign != tokens.reference(app.secret, first.conversation_id)
    [probe] = run(app, mail("m2@x", sender="eve@example.org", subject=f"Hi {foreign}"))
    assert probe.conversation_id != first.conversation_id


async def test_retries_wait_the_configured_doubling_delays_up_to_the_cap(app: App) -> None:
    """base 15 s, doubling, capped at an hour: what an operator reads in inbox.toml."""
    settings = app.settings.outbox
    assert (settings.backoff_base_seconds, settings.backoff_cap_seconds,
            settings.max_attempts) == (15, 3600, 10)
    run(app, mail("m1@example.com"))
    clock = Clock(NOW)
    d = dispatcher(app, Channel(*[TransientError("421 later")] * settings.max_attempts), clock)
    waits = []
    for _ in range(settings.max_attempts - 1):
        assert [a.outcome for a in await d.drain_once()] == ["retry"]
        [row] = rows(app, Outbox)
        waits.append((row.next_attempt_at - clock.now).total_seconds())
        clock.now = row.next_attempt_at
    assert waits == [15, 30, 60, 120, 240, 480, 960, 1920, 3600]
    assert [a.outcome for a in await d.drain_once()] == ["dead"]
