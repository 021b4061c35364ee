"""A status its author deleted (or edited) changes the stored message, on both databases:
the text is kept, the message is marked for agents, nothing is answered, the clock keeps
its deadline."""

from __future__ import annotations

import zoneinfo
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from channels.base import Address, Inbound
from inbox.desk import views
from inbox.desk.words import event_words
from inbox.runtime.app import App
from inbox.store.models import Conversation, Message, Outbox
from tests.ingest.test_pipeline import events, rows, run

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


def status(external_id: str, text: str = "My parcel 1234 is late") -> Inbound:
    return Inbound(channel="mastodon", account="support", external_id=external_id,
                   sender=Address("ana@elsewhere.test", "Ana"), received_at=NOW, text=text,
                   subject=text, thread_key=f"mastodon:{external_id}")


def deletion(of: str) -> Inbound:
    """As the connector hands over a `delete` event: the status id is all it says."""
    return Inbound(channel="mastodon", account="support", external_id=f"{of}/deleted",
                   sender=Address(""), received_at=LATER, edit_of=of, deleted=True)


def test_a_deleted_status_keeps_its_text_is_marked_and_answers_nothing(app: App) -> None:
    run(app, status("111"))
    [conv] = rows(app, Conversation)
    due, outbox = conv.sla_due_at, len(rows(app, Outbox))

    [r] = run(app, deletion("111"), now=LATER)
    assert r.outcome == "deleted"
    [msg] = rows(app, Message, direction="in")
    assert msg.text == "My parcel 1234 is late"
    assert msg.problems == ["deleted by its author on Mastodon"]
    [gone] = events(app, "deleted")
    assert (gone.message_id, gone.detail["by"]) == (msg.id, "ana@elsewhere.test")
    assert gone.detail["deleted_at"] == LATER.isoformat()
    assert [c.sla_due_at for c in rows(app, Conversation)] == [due]
    assert len(rows(app, Outbox)) == outbox  # no ack, nothing sent

    with Session(app.engine) as s:  # what an agent sees on the conversation
        shown = views.conversation(s, conv.id, LATER, app.secret)
    assert shown is not None
    [seen] = [m for m in shown["messages"] if m["direction"] == "in"]
    assert seen["problems"] == ["deleted by its author on Mastodon"]
    said = [event_words(e, zoneinfo.ZoneInfo("UTC")) for e in shown["events"]
            if e["kind"] == "deleted"]
    assert said == ["\u2068ana@elsewhere.test\u2069 deleted the message at 2026-11-26 "
                    "09:05 UTC (its text is kept here)"]  # the name isolated, as all are


def test_a_deletion_told_twice_or_of_an_unknown_status_changes_nothing(app: App) -> None:
    run(app, status("111"))
    run(app, deletion("111"), now=LATER)
    [again] = run(app, deletion("111"), now=LATER)
    assert again.outcome == "duplicate" and len(events(app, "deleted")) == 1
    [unknown] = run(app, deletion("999"), now=LATER)
    assert unknown.outcome == "duplicate"
    assert [m.external_id for m in rows(app, Message, direction="in")] == ["111"]


def test_an_edited_status_changes_the_text_and_keeps_the_first(app: App) -> None:
    run(app, status("111"))
    edit = replace(status("111", "My parcel 1243 is late"), external_id="111/edit/1",
                   received_at=LATER, edit_of="111")
    [r] = run(app, edit, now=LATER)
    assert r.outcome == "edited"
    [msg] = rows(app, Message, direction="in")
    assert msg.text == "My parcel 1243 is late"
    assert [e.detail["previous"] for e in events(app, "edited")] == ["My parcel 1234 is late"]
    # An edit after a deletion still keeps the mark.
    run(app, deletion("111"), now=LATER)
    run(app, replace(edit, text="again", external_id="111/edit/2"), now=LATER)
    [msg] = rows(app, Message, direction="in")
    assert msg.problems == ["deleted by its author on Mastodon"]
