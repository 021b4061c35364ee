"""The ingest pipeline on both databases: threading, dedupe, acks, SLA, quarantine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from channels.base import Address, Inbound, InboundAttachment
from inbox.core import tokens
from inbox.core.routing import RouteDecision, RouteFacts
from inbox.core.vocab import Status
from inbox.ingest.pipeline import ingest, ingest_batch
from inbox.ingest.work import PipelineContext, Result
from inbox.runtime.app import App
from inbox.store import batch as store
from inbox.store.models import Conversation, Cursor, Event, Message, Outbox

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def mail(external_id: str, sender: str = "anna@example.com", subject: str = "Order 1234",
         text: str = "Where is my order?", **kw: object) -> Inbound:
    fields: dict[str, object] = {"return-path": f"<{sender}>"}
    fields.update(kw.pop("headers", {}))  # type: ignore[call-overload]
    return Inbound(channel="email", account="support", external_id=external_id,
                   sender=Address(sender, kw.pop("name", "Anna Nowak")),  # type: ignore[arg-type]
                   received_at=kw.pop("received_at", NOW),  # type: ignore[arg-type]
                   subject=subject, text=text, headers=fields, raw=b"raw " + external_id.encode(),
                   **kw)  # type: ignore[arg-type]


def run(app: App, *items: Inbound, ctx: PipelineContext | None = None,
        now: datetime = NOW, cursor: tuple[str, str, str] | None = None) -> list[Result]:
    with app.engine.begin() as conn:
        return ingest_batch(conn, list(items), ctx or app.pipeline_context(), now, cursor=cursor)


def rows(app: App, model: type, **where: object) -> list:  # type: ignore[type-arg]
    with Session(app.engine) as s:
        q = sa.select(model).filter_by(**where)
        return list(s.scalars(q).all())


def events(app: App, kind: str) -> list[Event]:
    return rows(app, Event, kind=kind)


def test_new_message_opens_a_conversation_acks_it_and_starts_the_clock(app: App) -> None:
    [r] = run(app, mail("m1@example.com"))
    assert r.outcome == "stored" and r.acked
    [conv] = rows(app, Conversation)
    assert conv.subject == "Order 1234" and conv.status == "open"
    assert conv.sla_due_at == NOW + timedelta(hours=24)
    [out] = rows(app, Outbox)
    assert out.kind == "ack" and out.recipient == "anna@example.com" and out.state == "pending"
    [ack] = rows(app, Message, kind="auto-ack")
    assert ack.text.startswith("Hello Anna,")  # English greets by the first name
    assert tokens.reference(app.secret, conv.id) in (ack.subject or "")
    assert ack.headers["in-reply-to"] == "m1@example.com"


def test_same_message_twice_changes_nothing(app: App) -> None:
    run(app, mail("m1@example.com"))
    [again] = run(app, mail("m1@example.com"))
    assert again.outcome == "duplicate"
    assert len(rows(app, Message)) == 2  # the customer's and our ack
    assert len(rows(app, Outbox)) == 1


def test_reply_to_the_ack_joins_the_conversation_without_a_second_ack(app: App) -> None:
    run(app, mail("m1@example.com"))
    [ack] = rows(app, Message, kind="auto-ack")
    [r] = run(app, mail("m2@example.com", subject="Re: anything",
                        references=("m1@example.com", ack.external_id)))
    assert len(rows(app, Conversation)) == 1 and not r.acked
    assert len(rows(app, Outbox)) == 1
    [reason] = events(app, "ack.suppressed")
    assert "already" in reason.detail["reason"]


def test_signed_reference_threads_and_a_forged_one_does_not(app: App) -> None:
    [first] = run(app, mail("m1@example.com"))
    assert first.conversation_id is not None
    good = tokens.reference(app.secret, first.conversation_id)
    forged = f"[#{first.conversation_id}-aaaaa]"
    [r1] = run(app, mail("m2@example.com", sender="bob@example.org", subject=f"Hi {good}"))
    [r2] = run(app, mail("m3@example.com", sender="eve@example.org", subject=f"Hi {forged}"))
    assert r1.conversation_id == first.conversation_id
    assert r2.conversation_id != first.conversation_id


def test_same_subject_alone_never_threads(app: App) -> None:
    [a] = run(app, mail("m1@example.com", sender="a@example.com", subject="Invoice"))
    [b] = run(app, mail("m2@example.com", sender="b@example.com", subject="Invoice"))
    [c] = run(app, mail("m3@example.com", sender="a@example.com", subject="Re: Invoice"))
    assert len({a.conversation_id, b.conversation_id, c.conversation_id}) == 3


def test_robots_are_stored_but_never_acknowledged(app: App) -> None:
    robots = [
        mail("r1@x", headers={"auto-submitted": "auto-replied"}),
        mail("r2@x", sender="b@example.com", headers={"precedence": "bulk"}),
        mail("r3@x", sender="c@example.com", headers={"list-id": "<dev.lists.example.com>"}),
        mail("r4@x", sender="mailer-daemon@example.com"),
        mail("r5@x", sender="d@example.com", headers={"return-path": "<>"}),
        mail("r6@x", sender="e@example.com",
             headers={"content-type": "multipart/report; report-type=delivery-status"}),
        mail("r7@x", sender="support@ourshop.example"),
    ]
    ctx = replace(app.pipeline_context(), our_addresses=frozenset({"support@ourshop.example"}))
    results = run(app, *robots, ctx=ctx)
    assert all(r.outcome == "stored" and not r.acked for r in results)
    assert rows(app, Outbox) == []
    reasons = " | ".join(e.detail["reason"] for e in events(app, "ack.suppressed"))
    for word in ("Auto-Submitted", "Precedence: bulk", "list-id", "robot address",
                 "Return-Path", "multipart/report", "our own addresses"):
        assert word in reasons


def test_acks_per_sender_are_capped_per_day(app: App) -> None:
    msgs = [mail(f"m{i}@x", subject=f"Question {i}") for i in range(5)]
    results = run(app, *msgs)
    assert [r.acked for r in results] == [True, True, True, False, False]
    later = run(app, mail("m9@x", subject="Next day"), now=NOW + timedelta(days=1, minutes=1))
    assert later[0].acked


def test_no_ack_mode_stores_and_routes_but_queues_nothing(app: App) -> None:
    [r] = run(app, mail("m1@x"), ctx=app.pipeline_context(send_acks=False))
    assert r.outcome == "stored" and not r.acked and rows(app, Outbox) == []


class Exploding:
    def route(self, inbound: Inbound, facts: RouteFacts) -> RouteDecision:
        if "boom" in inbound.text:
            raise RuntimeError("rule engine failed")
        return RouteDecision(team="billing")


def test_a_message_that_breaks_the_pipeline_is_quarantined_alone(app: App) -> None:
    ctx = replace(app.pipeline_context(), router=Exploding())
    results = run(app, mail("ok1@x", sender="a@x.com"), mail("bad@x", text="boom"),
                  mail("ok2@x", sender="b@x.com"), ctx=ctx)
    assert [r.outcome for r in results] == ["stored", "quarantined", "stored"]
    [bad] = rows(app, Message, external_id="bad@x")
    assert bad.raw_sha256 and any("rule engine failed" in p for p in bad.problems)
    conv = rows(app, Conversation, id=bad.conversation_id)[0]
    assert "needs-attention" in conv.tags
    assert {c.team for c in rows(app, Conversation)} == {"billing", None}
    # A replay of the same batch is harmless: all three are already there.
    again = run(app, mail("ok1@x", sender="a@x.com"), mail("bad@x", text="boom"), ctx=ctx)
    assert [r.outcome for r in again] == ["duplicate", "duplicate"]


def test_flagged_message_is_kept_raw_and_not_acknowledged(app: App) -> None:
    [r] = run(app, mail("m1@x", problems=("multipart without boundary",)))
    assert r.outcome == "stored" and not r.acked
    [msg] = rows(app, Message, kind="customer")
    assert msg.problems == ["multipart without boundary"]
    assert app.blobs.get(msg.raw_sha256) == b"raw m1@x"
    assert events(app, "flagged")


def test_a_broken_template_costs_neither_the_message_nor_the_ack(app: App,
                                                                  deployment: Path) -> None:
    (deployment / "templates" / "ack" / "email.txt").write_text("Hello {{ no_such_thing }}\n")
    [r] = run(app, mail("m1@x"))
    assert r.outcome == "stored" and r.acked  # in the built-in words (templates/README.md)
    [e] = events(app, "ack.template-error")
    assert "no_such_thing" in e.detail["error"]


def test_cursor_is_saved_with_the_batch(app: App) -> None:
    run(app, mail("m1@x"), cursor=("email", "support", "uid:42"))
    [c] = rows(app, Cursor)
    assert (c.channel, c.account, c.value) == ("email", "support", "uid:42")


def test_language_picks_the_customer_language_template(app: App) -> None:
    """Words no detector can read ("ok"): the channel's hint (Content-Language) decides;
    tests/ingest/test_languages.py has the rest of the order."""
    run(app, mail("m1@x", language="pl", text="ok", subject=""))
    [ack] = rows(app, Message, kind="auto-ack")
    assert "Dzień dobry, Anna Nowak" in ack.text


def test_backfilled_history_is_stored_but_not_acknowledged(app: App) -> None:
    [r] = run(app, mail("old@x", backfill=True))
    assert r.outcome == "stored" and not r.acked
    [e] = events(app, "ack.suppressed")
    assert "history" in e.detail["reason"]


def test_attachments_are_found_again_by_their_content_hash(app: App) -> None:
    from channels.email.mime import parse_email
    from inbox.store.blobs import attachment_data
    from inbox.store.models import Attachment
    from tests import mailcorpus as mc

    email_msg = parse_email(mc.mixed_mail(sender="carol@example.net"), "support", NOW)
    chat_msg = mail("chat-1", sender="tg-user", attachments=(
        InboundAttachment("photo.jpg", "image/jpeg", b"\xff\xd8 a photo"),))
    chat_msg = replace(chat_msg, raw=None, channel="telegram")
    run(app, email_msg, chat_msg)
    stored = {a.filename: a for a in rows(app, Attachment)}
    [pdf] = [a for a in stored.values() if a.content_type == "application/pdf"]
    [email_row] = rows(app, Message, external_id=email_msg.external_id)
    assert not pdf.stored  # inside the raw message, not written twice
    assert attachment_data(app.blobs, pdf.sha256, pdf.stored, email_row.raw_sha256,
                           parse_email) == mc.PDF_BYTES
    photo = stored["photo.jpg"]
    assert photo.stored and photo.size == len(b"\xff\xd8 a photo")
    assert attachment_data(app.blobs, photo.sha256, True, None) == b"\xff\xd8 a photo"


class CountingRouter:
    """Records how many other open conversations each message's contact had."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def route(self, inbound: Inbound, facts: RouteFacts) -> RouteDecision:
        self.seen.append(facts.open_count())
        return RouteDecision()


def test_open_conversations_are_counted_within_a_batch_too(app: App) -> None:
    router = CountingRouter()
    ctx = replace(app.pipeline_context(), router=router)
    run(app, mail("a@x", subject="One"), mail("b@x", subject="Two"), ctx=ctx)
    run(app, mail("c@x", subject="Three"), mail("d@x", subject="Re: One",
                                                  references=("a@x",)), ctx=ctx)
    assert router.seen == [0, 1, 2, 2]


def test_a_signed_plus_address_threads_like_the_subject_token(app: App) -> None:
    [first] = run(app, mail("m1@example.com"))
    assert first.conversation_id is not None
    signed = tokens.reference(app.secret, first.conversation_id).strip("[#]")
    [r] = run(app, mail("m2@example.com", sender="bob@example.org", subject="New words",
                        recipients=(Address(f"support+{signed}@shop.example"),)))
    assert r.conversation_id == first.conversation_id


@pytest.mark.parametrize("together", [False, True], ids=["apart", "one batch"])
def test_a_message_arriving_after_its_reply_joins_the_replys_conversation(
        app: App, together: bool) -> None:
    """A delayed first mail: the customer's follow-up ("did you get it?") came first."""
    first = mail("first@example.com", text="My order never came.")
    follow_up = mail("second@example.com", subject="Re: Order 1234", text="Did you get it?",
                     references=("first@example.com",), received_at=NOW + timedelta(hours=1))
    results = run(app, follow_up, first) if together else [*run(app, follow_up),
                                                             *run(app, first)]
    assert results[0].conversation_id == results[1].conversation_id
    assert len(rows(app, Conversation)) == 1
    assert len(rows(app, Outbox)) == 1  # acknowledged once


def test_read_backwards_only_after_every_forward_way(app: App) -> None:
    """A closed conversation is not continued backwards either: a new one starts."""
    [reply] = run(app, mail("second@example.com", references=("first@example.com",)))
    with app.engine.begin() as conn:
        conn.execute(sa.update(Conversation).values(status=Status.CLOSED))
    [late] = run(app, mail("first@example.com"))
    assert late.conversation_id != reply.conversation_id


def test_the_per_message_path_reads_backwards_too(app: App) -> None:
    [reply] = run(app, mail("second@example.com", references=("first@example.com",)))
    with app.engine.begin() as conn:  # no prefetch: the retry path after a failed batch
        late = ingest(store.Batch(conn), mail("first@example.com"), app.pipeline_context(),
                      NOW)
    assert late.conversation_id == reply.conversation_id
