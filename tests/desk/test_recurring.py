"""What keeps coming back (docs/reports.md "Recurring problems"), on both databases:
two weeks of customers' messages through the pipeline, counted by the daemon's fold,
and the second week compared with the first by hand: "refund" in 1 conversation, then
in 4 (up 300%); Thai "สินค้า" (goods), found inside words written without spaces, in 1
then 3; Persian "پیگیری" typed with and without its zero-width non-joiner, one term;
and the customer who asked three times about a refund."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.cli.reports import _csv as write_csv
from inbox.desk import reports
from inbox.desk.accounts import Role
from inbox.desk.reports import Scope
from inbox.desk.tally import Fold, catch_up
from inbox.desk.terms import terms
from inbox.runtime.app import App
from inbox.store.models import Conversation
from tests.web.desk_helpers import agent_client, ingest, mail

WEEK1 = "2026-11-17 10:00"
WEEK2 = "2026-11-24 10:00"
SAID = [  # (when, sender, text)
    (WEEK1, "a@example.com", "Hello, I need a refund for the order I placed last month."),
    (WEEK1, "t1@example.com", "สินค้ายังไม่มาถึงเลยค่ะ รอมาสองอาทิตย์แล้ว ช่วยตรวจสอบให้หน่อยนะคะ"),
    (WEEK2, "r@example.com", "Hello, the parcel arrived broken and I would like a refund please."),
    (WEEK2, "r@example.com", "I am still waiting for my refund, nobody answered my e-mail."),
    (WEEK2, "r@example.com", "Where is my refund? This is the third time I write to you."),
    (WEEK2, "b@example.com", "Please send a refund for the order, the size is wrong."),
    (WEEK2, "t2@example.com", "สินค้าเสียหายระหว่างขนส่งค่ะ กล่องบุบและของข้างในแตก"),
    (WEEK2, "t3@example.com", "สินค้าไม่ตรงกับรูปที่ลงไว้ในร้านเลยครับ ขอเปลี่ยนได้ไหมครับ"),
    (WEEK2, "t4@example.com", "สินค้ายังไม่มาส่งเลยค่ะ สั่งไปตั้งแต่วันจันทร์แล้วนะคะ"),
    (WEEK2, "f1@example.com", "سلام، لطفا پی‌گیری سفارش من را انجام دهید، هنوز به دستم نرسیده است."),
    (WEEK2, "f2@example.com", "سلام وقت بخیر، پیگیری سفارش شماره من چه شد؟ خیلی وقت است منتظرم."),
]


def history(app: App) -> dict[str, list[int]]:
    for n, (at, sender, text) in enumerate(SAID, start=1):
        when = datetime.fromisoformat(at).replace(tzinfo=UTC)
        ingest(app, mail(n, subject=f"Question {n}", text=text, sender=sender, at=when),
               now=when)
    catch_up(app.engine, Fold(), app.sla, app.settings.report_zone,
             datetime(2026, 11, 30, tzinfo=UTC))
    with Session(app.engine) as s:
        rows = s.execute(sa.select(col(Conversation.language), col(Conversation.id))
                         .order_by(col(Conversation.id))).all()
    found: dict[str, list[int]] = {}
    for language, cid in rows:
        found.setdefault(language or "", []).append(cid)
    return found


def read(app: App) -> dict[str, Any]:
    with Session(app.engine) as s:
        return reports.recurring(s, Scope(date(2026, 11, 23), date(2026, 11, 30)),
                                 app.settings.report_zone)


def frequent(part: dict[str, Any], term: str) -> dict[str, Any]:
    return next(t for t in part["frequent"] if t["term"] == term)


def test_the_second_week_against_the_first(app: App) -> None:
    languages = history(app)
    assert {k: len(v) for k, v in languages.items()} == {"en": 5, "th": 4, "fa": 2}
    found = read(app)
    assert found["before"]["since"] == "2026-11-16"
    english = found["languages"]["en"]["terms"]
    assert english["frequent"][0] == {"term": "refund", "n": 4, "before": 1,
                                      "change_percent": 300}
    assert english["rising"][0]["term"] == "refund"
    thai = found["languages"]["th"]["terms"]
    assert frequent(thai, "สินค้า") == {"term": "สินค้า", "n": 3, "before": 1,
                                        "change_percent": 200}
    persian = found["languages"]["fa"]
    assert frequent(persian["terms"], "پیگیری")["n"] == 2  # with and without the ZWNJ
    assert frequent(persian["phrases"], "پیگیری سفارش")["n"] == 2
    # rules/20-billing.yaml tags money questions and counts as a rule hit
    assert frequent({"frequent": found["tags"]["frequent"]}, "billing")["n"] == 4
    assert frequent({"frequent": found["rules"]["frequent"]}, "billing")["before"] == 1
    [repeat] = found["repeat_contacts"]
    assert len(repeat["conversations"]) == 3 and "refund" in repeat["about"]


def test_words_in_each_language_are_what_a_person_would_pick() -> None:
    assert terms("Hello, I want a refund for my order 12345!\n\n> old quoted text", "en") == (
        ["refund", "order"], [])
    words, phrases = terms("Chào shop, tôi muốn hoàn tiền cho đơn hàng này", "vi")
    assert "hoàn tiền" in phrases and "đơn hàng" in phrases and "shop" not in words
    assert terms("Gusto ko po ng refund, hindi dumating ang order ko", "tl")[0] == [
        "refund", "dumating", "order"]
    thai, _ = terms("สินค้ายังไม่มาถึงเลยค่ะ", "th")
    assert thai[0] == "สินค้า" and "ค่ะ" not in thai


def test_the_desk_shows_the_change_and_a_term_leads_to_its_conversations(app: App) -> None:
    history(app)
    lead = agent_client(app, "Lead", Role.SUPERVISOR)
    page = html.unescape(lead.get("/reports?since=2026-11-23&until=2026-11-30").text)
    row = re.search(r'<a href="(/\?q=refund[^"]*)">refund</a></th>\s*'
                    r"<td>(\d+)</td><td>(\d+)</td>\s*<td>([^<]+)</td>", page)
    assert row is not None and row.groups()[1:] == ("4", "1", "+300%")
    assert 'lang="th"' in page and "สินค้า" in page
    found = lead.get(row.group(1)).text  # the queue, searching every status
    assert len(re.findall(r"Question \d+", found)) == 5


def test_a_name_that_looks_like_a_formula_stays_text_in_the_csv(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Team, tag and rule names are admins' text, terms customers': in `--csv` none is
    run by a spreadsheet (the guard of inbox export)."""
    write_csv([{"what": "tag", "term": '=HYPERLINK("http://evil.example","x")', "n": 2},
               {"what": "rule", "term": "@SUM(A1)", "n": 1}])
    cells = [row["term"] for row in csv.DictReader(io.StringIO(capsys.readouterr().out))]
    assert cells == ['\'=HYPERLINK("http://evil.example","x")', "'@SUM(A1)"]
