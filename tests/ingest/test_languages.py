"""Every customer answered in their own language, on both databases: detection of the
new words, the order in which the sources win, what the contact learns, what rules see,
and the acknowledgement a customer gets (greeting, localised due time, right to left)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from inbox.core.config import ConfigError, LanguageSettings
from inbox.desk import actions
from inbox.runtime.app import App
from inbox.store.models import Contact, Conversation, Message
from tests.ingest.test_pipeline import NOW, events, mail, rows, run

SERVED = ("th", "fa", "pl", "tl", "vi", "en")
# (language, sender's display name, subject, words, what the ack must say)
CUSTOMERS = [
    ("th", "สมชาย ใจดี", "สั่งซื้อ 1234",
     "สวัสดีครับ สั่งรองเท้าไปเมื่อวันจันทร์ ยังไม่ได้รับของเลยครับ ช่วยตรวจสอบให้หน่อย",
     ["สวัสดีค่ะ คุณสมชาย", "พ.ศ. 2569"]),
    ("fa", "مریم احمدی", "سفارش ۱۲۳۴",
     "سلام، سفارشم هنوز نرسیده و پیگیری هم جواب نمی‌دهد. لطفاً بررسی کنید.",
     ["مریم احمدی گرامی، سلام", "۲۰۲۶"]),
    ("pl", "Anna Nowak", "Zamówienie 1234",
     "Dzień dobry, zamówiłam buty tydzień temu i nadal nie dotarły. Proszę o informację.",
     ["Dzień dobry, Anna Nowak", "listopada 2026"]),
    ("tl", "Jose Santos", "Order 1234",
     "Magandang araw po, hindi pa dumarating ang order ko. Kailan po ba ito darating?",
     ["Magandang araw, Jose!"]),
    ("vi", "Nguyễn Văn An", "Đơn hàng 1234",
     "Chào shop, mình đặt đôi giày tuần trước mà vẫn chưa nhận được hàng. Kiểm tra giúp mình.",
     ["Chào bạn An,", "tháng 11"]),
    ("en", "Mary Jones", "Order 1234",
     "Hello, I ordered shoes a week ago and they still have not arrived. Can you check?",
     ["Hello Mary,", "November 2026"]),
]


def _ack(app: App, conversation_id: int | None) -> Message:
    [ack] = [m for m in rows(app, Message, kind="auto-ack")
             if m.conversation_id == conversation_id]
    return ack


def test_each_language_is_detected_and_answered_in_its_own_words(app: App) -> None:
    for n, (language, name, subject, words, says) in enumerate(CUSTOMERS):
        [r] = run(app, mail(f"{language}@x", sender=f"c{n}@example.com", name=name,
                            subject=subject, text=words))
        [conv] = rows(app, Conversation, id=r.conversation_id)
        assert (conv.language, conv.language_source) == (language, "detected"), language
        ack = _ack(app, r.conversation_id)
        for text in says:
            assert text in ack.text, (language, ack.text)
        [msg] = rows(app, Message, external_id=f"{language}@x")
        assert msg.language == language and (msg.language_confidence or 0) >= 0.8
    # The audit: what was detected, how sure, and why the conversation took it.
    chosen = {e.detail["language"]: e.detail for e in events(app, "language")}
    assert set(chosen) == set(SERVED)
    assert chosen["pl"]["source"] == "detected" and chosen["pl"]["detected"] == "pl"


def test_a_persian_mail_reads_right_to_left(app: App) -> None:
    [r] = run(app, mail("fa@x", name="مریم احمدی", subject="سفارش",
                        text="سلام، سفارشم هنوز نرسیده است. لطفاً پیگیری کنید."))
    ack = _ack(app, r.conversation_id)
    assert ack.html is not None and '<html lang="fa" dir="rtl">' in ack.html
    # The reference line starts with Latin letters: a mark keeps it right to left.
    [line] = [ln for ln in ack.text.splitlines() if "[#" in ln]
    assert line.startswith("\u200f") or line.lstrip("\u200f")[0] > "\u0600"
    english = _ack(app, run(app, mail("en@x", sender="b@example.com"))[0].conversation_id)
    assert english.html is None  # left to right: the text part alone


def test_the_due_time_is_in_the_customers_zone_when_their_mail_says_it(app: App) -> None:
    tehran = mail("fa@x", name="مریم احمدی", subject="سفارش",
                  text="سلام، سفارشم هنوز نرسیده است. لطفاً پیگیری کنید.",
                  headers={"date": "Thu, 26 Nov 2026 12:30:00 +0330"})
    ack = _ack(app, run(app, tehran)[0].conversation_id)
    # Due 24 hours after 09:00 UTC: 12:30 in Tehran, in Persian digits.
    assert "۱۲:۳۰" in ack.text and "۰۹:۰۰" not in ack.text


def test_a_detection_wins_over_the_channels_hint_and_the_hint_over_nothing(app: App) -> None:
    [english] = run(app, mail("m1@x", text="Where is my order? It is a week late.",
                              language="pl"))
    [okay] = run(app, mail("m2@x", sender="b@example.com", text="ok", subject="",
                           language="pl"))
    [bare] = run(app, mail("m3@x", sender="c@example.com", text="#12345", subject=""))
    got = {c.id: (c.language, c.language_source) for c in rows(app, Conversation)}
    assert got[english.conversation_id] == ("en", "detected")
    assert got[okay.conversation_id] == ("pl", "channel")
    assert got[bare.conversation_id] == ("en", "default")
    [unknown] = [e for e in events(app, "language")
                 if e.conversation_id == bare.conversation_id]
    assert unknown.detail["why"] == "too few letters"


def test_a_reply_above_a_quoted_english_thread_is_answered_in_its_own_language(
        app: App) -> None:
    quoted = ("Dzień dobry, paczka nadal nie dotarła, proszę o pilny kontakt.\n\n"
              "On Tue, 24 Nov 2026 at 10:00, Support <help@shop.example> wrote:\n"
              "> Hello Anna, thank you for writing to Support. Your message has reached\n"
              "> us and a person from our team will answer by Wednesday at the latest.\n")
    [r] = run(app, mail("m1@x", subject="Re: Order 1234", text=quoted))
    [conv] = rows(app, Conversation, id=r.conversation_id)
    assert conv.language == "pl"


def test_the_contacts_history_then_their_learned_preference(app: App) -> None:
    polish = "Dzień dobry, czy mogę zmienić adres dostawy zamówienia?"
    run(app, mail("p1@x", text=polish))
    # Their next conversation says nothing a detector can read: their last language.
    [ok] = run(app, mail("ok1@x", text="ok", subject="", received_at=NOW + timedelta(1)))
    [conv] = rows(app, Conversation, id=ok.conversation_id)
    assert (conv.language, conv.language_source) == ("pl", "history")
    run(app, mail("p2@x", text=polish, subject="Adres", references=()),
        mail("p3@x", text="Dziękuję bardzo, czekam na odpowiedź w sprawie faktury.",
             subject="Faktura"))
    [contact] = rows(app, Contact)
    assert (contact.language, contact.language_source) == ("pl", "learned")
    # Learned: a preference beats even a confident English message now.
    [r] = run(app, mail("e1@x", text="Where is my order? It is a week late.",
                        subject="Late order", received_at=NOW + timedelta(2)))
    [conv] = rows(app, Conversation, id=r.conversation_id)
    assert (conv.language, conv.language_source) == ("pl", "contact")


def test_an_agents_choice_is_never_overridden(app: App) -> None:
    [r] = run(app, mail("m1@x", text="Where is my order? It is a week late."))
    with Session(app.engine) as s, s.begin():
        actions.set_language(s, r.conversation_id or 0, "vi", served=SERVED,
                             for_contact=True, now=NOW, by="kim")
    run(app, mail("m2@x", text="Dzień dobry, nadal czekam na odpowiedź w tej sprawie.",
                  references=("m1@x",)))
    [conv] = rows(app, Conversation)
    assert (conv.language, conv.language_source) == ("vi", "agent")
    [contact] = rows(app, Contact)
    assert (contact.language, contact.language_source) == ("vi", "agent")
    [r2] = run(app, mail("m3@x", text="Hello, another question about my invoice please.",
                         subject="Invoice", received_at=NOW + timedelta(1)))
    [conv2] = rows(app, Conversation, id=r2.conversation_id)
    assert (conv2.language, conv2.language_source) == ("vi", "contact")
    assert "Chào bạn" in _ack(app, r2.conversation_id).text


def test_a_robots_words_teach_the_contact_nothing(app: App) -> None:
    robot = mail("r1@x", sender="noreply@example.com", text="Dzień dobry, to jest "
                 "automatyczna odpowiedź, prosimy nie odpowiadać na tę wiadomość.")
    run(app, robot)
    [msg] = rows(app, Message, external_id="r1@x")
    assert msg.language is None
    [contact] = rows(app, Contact)
    assert contact.last_language is None


def test_rules_match_the_language_including_unknown(app: App, deployment: Path) -> None:
    (deployment / "rules" / "05-languages.yaml").write_text(
        "- name: nobody could tell\n"
        "  when: {language: unknown}\n"
        "  then: {add_tags: [language-unknown]}\n"
        "- name: polish speakers\n"
        "  when: {language: pl}\n"
        "  then: {add_tags: [polish]}\n")
    app2 = App(app.settings)
    [pl] = run(app2, mail("m1@x", text="Dzień dobry, czy mogę zwrócić buty?"))
    [bare] = run(app2, mail("m2@x", sender="b@example.com", text="#12345", subject=""))
    tags = {c.id: c.tags for c in rows(app2, Conversation)}
    assert "polish" in tags[pl.conversation_id]
    assert "language-unknown" not in tags[pl.conversation_id]
    assert "language-unknown" in tags[bare.conversation_id]
    app2.engine.dispose()


def test_a_language_nobody_can_detect_is_refused_at_start(app: App) -> None:
    settings = app.settings.model_copy(update={
        "languages": LanguageSettings(serve=["pl", "xx"])})
    with pytest.raises(ConfigError, match=r"languages.serve: .*\['xx'\]"):
        App(settings).pipeline_context()
