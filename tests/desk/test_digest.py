"""The weekly digest to supervisors (inbox.desk.digest), on both databases, over the
history of tests/desk/test_reports.py (eight conversations in Warsaw, October 2026).

The week of Monday 26 October to Sunday 1 November, by hand (CET, UTC+1):
  new conversations  E (Sat 31 Oct 23:30) and F (Sun 1 Nov 00:30); D is a robot's: 2
  promise            A met (reply Mon 26 10:00), C broken (its late reply, Mon 26 16:00):
                     50 %
  first responses    A 2 h, C 30 h: median (rank 1 of 2) 2 h, p90 (rank 2) 30 h
  resolved           A (Mon 26 12:30): 1
  surveys            A's asked and answered 4: average 4.0, 100 % answered
  escalations        C (Mon 26 15:30): 1
The week before (19-25 October): B, C, A, H new (4); B and H met (100 %); first
responses 30 min (B) and 7 h (H): median 30 min, p90 7 h; B resolved (1); B's survey
asked, not answered (0 %, no average); no escalation. So conversations -50 %.
Open on Monday 2 November at 08:00: G (10 Sep), C, H, D, E, F: 6, all over a day old.
"""

from __future__ import annotations

import re
import threading
import tomllib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.cli.templates import samples
from inbox.core.config import load_settings
from inbox.core.vocab import Role
from inbox.desk import accounts, digest, reports, views
from inbox.desk.access import scope_of
from inbox.desk.reports import Scope
from inbox.desk.tally import Fold, catch_up
from inbox.lang.render import Renderer
from inbox.runtime.app import App, utcnow
from inbox.runtime.daemon import Daemon
from inbox.store.db import reader
from inbox.store.models import Conversation, Cursor, Event, Message, Outbox
from tests.cli.test_cli import inbox
from tests.desk.test_recurring import history
from tests.desk.test_reports import app, made, utc  # noqa: F401  (the fixture, the history)
from tests.peers import Desk, SmtpSink, merged, running, toml
from tests.web.desk_helpers import FAST

OCT26 = date(2026, 10, 26)
MONDAY_8 = utc("2026-11-02 07:00")  # 08:00 in Warsaw (CET)
MONDAY_759 = utc("2026-11-02 06:59")
PUBLIC = "https://help.example.com"


def configure(deployment: Path, **changes: object) -> App:
    """The deployment's inbox.toml with an e-mail account to send from, the desk's
    address and `changes`, loaded as the daemon and the command line load it."""
    config = deployment / "inbox.toml"
    config.write_text(toml(merged(tomllib.loads(config.read_text()), {
        "channels": {"email": {"support": {"address": "support@shop.example"}}},
        "web": {"public_url": PUBLIC}, **changes})))
    return App(load_settings(config))


def person(s: Session, name: str, role: Role, *, language: str | None = None,
           email: bool = True, enabled: bool = True) -> None:
    agent = accounts.add_agent(s, email=f"{name}@shop.example", name=name, role=role,
                               password=None, now=MONDAY_8, hasher=FAST)
    agent.language = language
    agent.email = agent.email if email else None
    agent.enabled = enabled


@pytest.fixture
def shop(app: App, deployment: Path) -> Iterator[App]:  # noqa: F811  (the history's app)
    """The history, and who reads the reports: a Polish supervisor, a Persian admin;
    not an agent, a supervisor without an address or one who left."""
    made(app)
    configured = configure(deployment)
    with Session(configured.engine) as s, s.begin():
        person(s, "ewa", Role.SUPERVISOR, language="pl")
        person(s, "dariush", Role.ADMIN, language="fa")
        person(s, "kim", Role.AGENT, language="pl")
        person(s, "nomail", Role.SUPERVISOR, email=False)
        person(s, "gone", Role.SUPERVISOR, enabled=False)
    yield configured
    configured.close()


def due(shop: App, now: datetime) -> int:
    with Session(shop.engine) as s, s.begin():
        return digest.send_due(s, now, shop.settings, shop.renderer)


def pending(shop: App, now: datetime) -> bool:
    with Session(reader(shop.engine)) as s:
        return digest.pending(s, now, shop.settings)


def mails(shop: App) -> dict[str, Message]:
    """The digests queued, by recipient."""
    with Session(shop.engine) as s:
        rows = s.execute(sa.select(Outbox, Message).join(
            Message, col(Message.id) == col(Outbox.message_id))
            .where(col(Outbox.kind) == "notify").order_by(col(Outbox.id))).all()
        return {o.recipient: m for o, m in rows}


def queued(shop: App) -> int:
    with Session(shop.engine) as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Outbox)
                        .where(col(Outbox.kind) == "notify")) or 0


def test_the_week_and_the_one_before_as_worked_out_by_hand(shop: App) -> None:
    with Session(shop.engine) as s:
        data = digest.content(s, OCT26, shop.settings.report_zone, now=MONDAY_8)
    assert data["week"] == {"since": "2026-10-26", "until": "2026-11-02", "team": None,
                            "channel": None, "timezone": "Europe/Warsaw"}
    assert data["figures"] == {
        "conversations": 2, "sla_met": 1, "sla_breached": 1, "kept_percent": 50.0,
        "first_responses": 2, "first_response_p50_seconds": 2 * 3600,
        "first_response_p90_seconds": 30 * 3600, "resolved": 1, "csat_sent": 1,
        "csat_answered": 1, "csat_response_percent": 100.0, "csat_average": 4.0,
        "escalations": 1}
    assert data["before"] == {
        "conversations": 4, "sla_met": 2, "sla_breached": 0, "kept_percent": 100.0,
        "first_responses": 2, "first_response_p50_seconds": 1800,
        "first_response_p90_seconds": 7 * 3600, "resolved": 1, "csat_sent": 1,
        "csat_answered": 0, "csat_response_percent": 0.0, "csat_average": None,
        "escalations": 0}
    assert data["change_percent"] == {"conversations": -50, "resolved": 0,
                                      "escalations": None}
    assert data["backlog"] == {"at": "2026-11-02T07:00:00Z", "total": 6,
                               "older_than_24h": 6}
    assert data["rising"] == []  # "Where is it?" each time: nothing rises


def test_on_monday_at_eight_each_supervisor_gets_it_in_their_language(shop: App) -> None:
    assert not pending(shop, MONDAY_759)
    assert due(shop, MONDAY_759) == 0 and mails(shop) == {}  # not yet
    assert pending(shop, MONDAY_8)
    assert due(shop, MONDAY_8) == 2
    assert not pending(shop, MONDAY_8)  # the daemon's next rounds: a look, no lock
    got = mails(shop)
    assert sorted(got) == ["dariush@shop.example", "ewa@shop.example"]  # not kim, nomail, gone
    polish, persian = got["ewa@shop.example"], got["dariush@shop.example"]
    assert polish.subject == ("Podsumowanie tygodnia 26 października – 1 listopada 2026: "
                              "nowe rozmowy 2, odpowiedzi na czas 50%")
    for line in ("Nowe rozmowy:         2 (4, -50%)",
                 "Odpowiedzi na czas:   50% (100%)",
                 "Pierwsza odpowiedź:   mediana 2 godz., 90% w ciągu 30 godz. "
                 "(30 min, 7 godz.)",
                 "Rozwiązane:           1 (1)",
                 "Zadowolenie:          4,0 na 5, odpowiedzi na ankiety: 100% (–, 0%)",
                 "Eskalacje:            1 (0)",
                 "Otwarte teraz: 6 (w tym starsze niż 24 godziny: 6).",
                 f"Cały tydzień w panelu: {PUBLIC}/reports?since=2026-10-26&until=2026-11-02"):
        assert line in polish.text.split("\n"), polish.text
    assert persian.subject is not None and "۲۶ اکتبر تا ۱ نوامبر ۲۰۲۶" in persian.subject
    for line in ("گفتگوهای تازه: ۲ (۴، -۵۰٪)",
                 "پاسخ در مهلت وعده‌داده‌شده: ۵۰٪ (۱۰۰٪)",
                 "رضایت مشتری: میانگین ۴٫۰ از ۵، پاسخ به نظرسنجی: ۱۰۰٪ (–، ۰٪)"):
        assert line in persian.text.split("\n"), persian.text
    assert due(shop, MONDAY_8) == 0  # a second round that week: nothing
    assert due(shop, utc("2026-11-06 12:00")) == 0
    assert queued(shop) == 2


def test_the_digests_are_kept_in_one_closed_conversation_agents_do_not_see(
        shop: App) -> None:
    due(shop, MONDAY_8)
    due(shop, utc("2026-11-09 07:00"))
    with Session(shop.engine) as s:
        [holder] = s.scalars(sa.select(Conversation).where(
            col(Conversation.team) == digest.SUPERVISORS)).all()
        events = s.scalars(sa.select(Event).where(
            col(Event.conversation_id) == holder.id).order_by(col(Event.id))).all()
        cursor = s.get(Cursor, ("report", "", "digest"))
    assert (holder.status, holder.tags) == ("closed", ["automated"])
    assert [(e.kind, e.detail["week"]) for e in events] == [
        ("digest.queued", "2026-10-26"), ("digest.queued", "2026-11-02")]
    assert cursor is not None and cursor.value == f"2026-11-02 {holder.id}"
    assert queued(shop) == 4  # one each week, to each of the two
    with Session(shop.engine) as s:
        kim, ewa = accounts.find_agent(s, "kim"), accounts.find_agent(s, "ewa")
        assert not scope_of(s, kim).sees(holder.team, holder.assignee)
        assert scope_of(s, ewa).sees(holder.team, holder.assignee)
        queue = views.queue(s, views.QueueFilter(statuses=("open", "closed"),
                                                 automated=True), MONDAY_8, shop.secret)
        assert holder.id in [row["id"] for row in queue]  # a supervisor finds it
        assert holder.id not in [row["id"] for row in views.queue(
            s, views.QueueFilter(), MONDAY_8, shop.secret)]
        page = views.conversation(s, holder.id or 0, MONDAY_8, shop.secret)
        assert page["subject"] == "Weekly digest to supervisors"
        assert len(page["messages"]) == 4  # the digests, as sent
    catch_up(shop.engine, Fold(), shop.sla, shop.settings.report_zone, MONDAY_8)
    with Session(shop.engine) as s:  # no report counts it
        week = reports.volume(s, Scope(date(2026, 11, 2), date(2026, 11, 9)))
    assert week["total"] == {"conversations": 0, "automated": 0, "messages": 0}


def test_a_daemon_down_on_monday_sends_that_week_never_an_older_one(shop: App) -> None:
    assert due(shop, utc("2026-11-04 15:00")) == 2  # Wednesday: the week of 26 Oct
    with Session(shop.engine) as s:
        cursor = s.get(Cursor, ("report", "", "digest"))
        assert cursor is not None and cursor.value.startswith("2026-10-26 ")
    # Down from then until Tuesday 17 November: the weeks of 2 and 9 November are gone
    # by; only the one that just ended is sent.
    assert due(shop, utc("2026-11-17 09:00")) == 2
    with Session(shop.engine) as s:
        weeks = [e.detail["week"] for e in s.scalars(sa.select(Event).where(
            col(Event.kind) == "digest.queued").order_by(col(Event.id)))]
    assert weeks == ["2026-10-26", "2026-11-09"]


def test_two_daemons_at_once_send_it_once(shop: App) -> None:
    """One holds the cursor (its transaction open) while the other looks: on PostgreSQL
    the other skips the locked row, on SQLite it waits for the first to commit; either
    way it finds the week sent."""
    assert due(shop, utc("2026-10-28 12:00")) == 2  # the week before's, last Wednesday
    other: list[int] = []
    with Session(shop.engine) as s, s.begin():
        assert digest.send_due(s, MONDAY_8, shop.settings, shop.renderer) == 2
        looking = threading.Thread(target=lambda: other.append(due(shop, MONDAY_8)))
        looking.start()
        looking.join(0.5 if shop.engine.dialect.name == "sqlite" else 10)
        if shop.engine.dialect.name == "postgresql":
            assert other == [0]  # skipped the locked row at once
        else:
            assert looking.is_alive()  # waits for the write lock
    looking.join(10)
    assert other == [0] and queued(shop) == 4


def test_a_broken_template_still_sends_the_figures(shop: App) -> None:
    broken = shop.settings.path(shop.settings.templates_dir) / "digest" / "email.pl.txt"
    broken.write_text("Subject: {{ nonsense }}\n\n{{ 1/0 }}\n")
    assert due(shop, MONDAY_8) == 2
    polish = mails(shop)["ewa@shop.example"]
    assert polish.subject is not None and polish.subject.startswith("Weekly digest, Oct 26")
    assert "New conversations: 2 (the week before: 4)" in polish.text
    with Session(shop.engine) as s:
        [failed] = s.scalars(sa.select(Event).where(
            col(Event.kind) == "digest.template-error")).all()
    assert "digest/email.pl.txt" in failed.detail["error"]
    assert mails(shop)["dariush@shop.example"].subject != polish.subject  # Persian works


def test_turned_off_nothing_is_sent(shop: App, deployment: Path) -> None:
    off = configure(deployment, reports={"digest": False})
    assert due(off, MONDAY_8) == 0 and mails(off) == {}
    off.close()


def test_another_day_and_hour(shop: App, deployment: Path) -> None:
    later = configure(deployment, reports={"digest_day": "Tuesday", "digest_hour": 17})
    assert due(later, utc("2026-11-03 15:59")) == 0  # Tue 16:59 in Warsaw
    assert due(later, utc("2026-11-03 16:00")) == 2
    later.close()


def test_the_command_prints_it_and_sends_it(shop: App) -> None:
    shown = inbox("report", "digest", "--week", "2026-10-28", "--language", "pl").stdout
    assert shown.startswith("Subject: Podsumowanie tygodnia 26 października – 1 listopada")
    assert "Nowe rozmowy:         2 (4, -50%)" in shown and mails(shop) == {}
    figures = inbox("report", "digest", "--week", "2026-10-26", "--json").stdout
    assert '"kept_percent": 50.0' in figures
    sent = inbox("report", "digest", "--week", "2026-10-26", "--send")
    assert "queued for email:dariush@shop.example, email:ewa@shop.example" in sent.stderr
    assert queued(shop) == 2
    # The last whole week sent by hand is not sent again by the daemon.
    inbox("report", "digest", "--send")
    assert due(shop, utcnow()) == 0 and queued(shop) == 4
    refused = inbox("report", "digest", "--week", "2099-01-05", "--send", ok=False)
    assert refused.exit_code == 1 and "has not ended yet" in refused.stderr
    assert inbox("report", "digest", "--week", "26.10", ok=False).exit_code == 1


# ------------------------------------------------------------- the daemon, through SMTP

@pytest.fixture
def mailed(desk: Desk) -> App:
    """A deployment sending through the SMTP sink, with a supervisor who reads mail and
    a digest due from Monday 00:00: whenever the test runs, last week's is due."""
    configured = desk.configure(reports={"digest_hour": 0}, web={"public_url": PUBLIC})
    with Session(configured.engine) as s, s.begin():
        person(s, "lead", Role.SUPERVISOR, language="pl")
    return configured


async def test_the_daemon_mails_the_digest(mailed: App, desk: Desk,
                                           smtp_sink: SmtpSink) -> None:
    async with running(Daemon(mailed, desk.connectors(mailed))):
        [received] = await smtp_sink.arrived(1)
    message = BytesParser(policy=default).parsebytes(received.data)
    week = digest.last_week(datetime.now(UTC), mailed.settings.report_zone)
    assert message["To"] == "lead@shop.example"
    assert message["Subject"].startswith("Podsumowanie tygodnia ")
    assert f"{PUBLIC}/reports?since={week.isoformat()}" in message.get_content()


def test_the_terms_rising_in_customers_words(app: App, deployment: Path) -> None:  # noqa: F811
    """tests/desk/test_recurring.py's two weeks: "refund" in 1 conversation, then in 4;
    Thai "สินค้า" (goods) in 1, then 3; Persian "پیگیری" twice, too few to rise."""
    history(app)
    shop = configure(deployment)
    with Session(shop.engine) as s, s.begin():
        person(s, "ewa", Role.SUPERVISOR, language="pl")
    with Session(shop.engine) as s:
        data = digest.content(s, date(2026, 11, 23), shop.settings.report_zone,
                              now=utc("2026-11-30 07:00"))
    assert data["rising"] == [
        {"term": "refund", "language": "en", "n": 4, "before": 1, "change_percent": 300},
        {"term": "สินค้า", "language": "th", "n": 3, "before": 1, "change_percent": 200}]
    assert due(shop, utc("2026-11-30 07:00")) == 1
    text = mails(shop)["ewa@shop.example"].text.split("\n")
    assert text[text.index("Coraz częściej w wiadomościach klientów:") + 1:][:2] == [
        "  refund: 4 (1)", "  สินค้า: 3 (1)"]
    shop.close()


SHIPPED = Renderer(Path(__file__).resolve().parents[2] / "templates")
# What the English digest says that a translated one must say in its own words.
ENGLISH = re.compile(r"\b(Weekly|digest|week|New|conversations|Promise|kept|First|"
                     r"response|median|within|Resolved|Satisfaction|Escalations|Open|"
                     r"Rising|whole)\b")


@pytest.mark.parametrize("language", ["th", "fa", "pl", "tl", "vi", "en"])
def test_every_language_has_its_own_digest(language: str) -> None:
    for label, values in samples("digest", "email", language).items():
        shown = SHIPPED.render("digest", "email", language, values)
        assert shown.name == ("digest/email.txt" if language == "en"
                              else f"digest/email.{language}.txt")
        assert shown.subject and "\n" not in shown.subject
        text = f"{shown.subject}\n{shown.body}"
        if language != "en":  # Tagalog says "median" too, as statistics there does
            own = text.replace("Support", "").replace("median" if language == "tl" else "", "")
            assert not ENGLISH.search(own), text
        if label == "usual":
            assert "https://help.example.com/reports?since=2026-12-28&until=2027-01-04" in text
        if label == "hostile":  # a customer's words cannot add a line or turn one around
            assert "\u202e" not in text
            assert not any(line.lstrip().startswith("Bcc") for line in text.split("\n"))
