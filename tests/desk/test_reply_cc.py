"""What the reply box knows of its channel, in inbox.desk.actions on both databases:
copies (Cc) on e-mail, checked and kept; none on a chat; a chat's length limit as its
connector declares it; whom the customer copied, offered back ("reply all")."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from channels.base import TextLimit
from inbox.core.errors import Invalid
from inbox.desk import actions
from inbox.runtime.app import App
from inbox.store.models import Event, Message, Outbox
from tests.web.desk_helpers import ingest, mail

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def reply(app: App, text: str = "It left today.", conv: int = 1, **kwargs: object) -> Message:
    with Session(app.engine, expire_on_commit=False) as s, s.begin():
        return actions.reply(s, conv, text, author="kim", now=NOW, secret=app.secret,
                             domain="helpdesk.test", **kwargs)  # type: ignore[arg-type]


def outgoing(app: App) -> list[tuple[str, list[str]]]:
    with Session(app.engine) as s:
        return [(o.recipient, m.recipients) for o, m in s.execute(
            sa.select(Outbox, Message).join(Message, Message.id == Outbox.message_id)  # type: ignore[arg-type]
            .where(Outbox.kind == "reply"))]


def test_a_reply_copies_the_addresses_given_each_once(app: App) -> None:
    ingest(app, mail(1), now=NOW)
    sent = reply(app, cc=["Bob Nowak <Bob@Example.PL>, ewa@example.com",
                          "bob@example.pl; anna@example.com"])
    # the customer is the recipient, not a copy of her own answer
    assert sent.recipients == ["anna@example.com", "bob@example.pl", "ewa@example.com"]
    assert outgoing(app) == [("anna@example.com", sent.recipients)]
    with Session(app.engine) as s:
        queued = s.scalars(sa.select(Event).where(Event.kind == "reply.queued")).one()
    assert queued.detail["cc"] == ["bob@example.pl", "ewa@example.com"]


@pytest.mark.parametrize(("cc", "says"), [
    (["bob"], "'bob' is not an e-mail address (Cc)"),
    (["bob@example.pl, <script>@x"], "'<script>@x' is not an e-mail address (Cc)"),
    (["anna@exam ple.com"], "'anna@exam ple.com' is not an e-mail address"),
    ([", ".join(f"c{i}@example.com" for i in range(21))], "at most 20 addresses in Cc, not 21"),
])
def test_bad_or_too_many_copies_are_refused_before_anything_is_queued(
        app: App, cc: list[str], says: str) -> None:
    ingest(app, mail(1), now=NOW)
    with pytest.raises(Invalid, match=says.replace("(", r"\(").replace(")", r"\)")):
        reply(app, cc=cc)
    assert outgoing(app) == []


def test_a_chat_has_no_copies(app: App) -> None:
    ingest(app, mail(1, channel="telegram"), now=NOW)
    with pytest.raises(Invalid, match="a reply on telegram cannot copy anyone"):
        reply(app, cc=["bob@example.pl"])
    assert outgoing(app) == []


def test_a_reply_longer_than_a_channel_takes_in_one_message_is_refused(app: App) -> None:
    ingest(app, mail(1, channel="telegram"), now=NOW)
    one_message = {("telegram", "bot"): TextLimit(5, "graphemes")}
    with pytest.raises(Invalid, match="the reply is 8 characters long; telegram takes "
                                      "at most 5"):
        reply(app, "สวัสดีครับ👍", limits=one_message)  # 11 code points, 8 graphemes: no
    reply(app, "  สวัสดี  ", limits=one_message)  # 4 graphemes: yes (edges are not sent)
    splits = {("telegram", "bot"): replace(one_message[("telegram", "bot")], splits=True)}
    reply(app, "สวัสดีครับ, Tiếng Việt", limits=splits)  # goes out in parts
    assert len(outgoing(app)) == 2


def test_whom_the_customer_copied_is_offered_but_never_us(app: App) -> None:
    copied = replace(mail(1), headers={
        "to": "Support <support@helpdesk.test>, Ewa <ewa@example.com>",
        "cc": "Bob <BOB@example.pl>, kim@helpdesk.test, anna@example.com, ewa@example.com",
        "reply-to": "anna@example.com"})
    ingest(app, copied, now=NOW)
    ours = {"support@helpdesk.test", "kim@helpdesk.test"}
    with Session(app.engine) as s:
        assert actions.suggested_cc(s, 1, ours) == ["bob@example.pl", "ewa@example.com"]
    ingest(app, mail(2, channel="telegram"), now=NOW)
    with Session(app.engine) as s:
        assert actions.suggested_cc(s, 2, ours) == []
