"""Quoted text and signatures found in real-looking replies, in every language we serve:
what `fold` calls quoted is folded on the desk, what `new_words` keeps is what the
customer wrote now."""

from __future__ import annotations

import pytest

from inbox.lang.quoting import fold, new_words

# (language, the reply as a mail program writes it, the customer's new words)
REPLIES = [
    ("en-gmail",
     "Thanks, the parcel came today.\n\n"
     "On Mon, 3 Mar 2025 at 10:12, Acme Support <support@acme.test> wrote:\n"
     "> Hello Anna,\n>\n> your order left our warehouse.\n",
     "Thanks, the parcel came today."),
    ("en-gmail-wrapped",
     "Still nothing.\n\nOn Mon, 3 Mar 2025 at 10:12, Acme Support <support@acme.test>\n"
     "wrote:\n> It left today.\n",
     "Still nothing."),
    ("pl-gmail",
     "Dziękuję, paczka dotarła.\n\n"
     "W dniu pon., 3 mar 2025 o 10:12 Acme Support <support@acme.test> napisał(a):\n"
     "> Dzień dobry,\n> paczka została wysłana.\n",
     "Dziękuję, paczka dotarła."),
    ("pl-thunderbird",
     "Nadal nic nie przyszło.\n\nW dniu 3.03.2025 o 10:12, Acme Support pisze:\n"
     "> Paczka wyszła dziś.\n",
     "Nadal nic nie przyszło."),
    ("vi-gmail",
     "Cảm ơn, tôi đã nhận được hàng.\n\n"
     "Vào Th 2, 3 thg 3, 2025 vào lúc 10:12 Acme Support <support@acme.test> đã viết:\n"
     "> Xin chào,\n> đơn hàng của bạn đã được gửi.\n",
     "Cảm ơn, tôi đã nhận được hàng."),
    ("tl-gmail",
     "Salamat po, dumating na.\n\n"
     "Noong Lun, Mar 3, 2025 nang 10:12 AM, isinulat ni Acme Support "
     "<support@acme.test>:\n> Kumusta,\n> naipadala na ang order mo.\n",
     "Salamat po, dumating na."),
    ("th-gmail",
     "ขอบคุณค่ะ ได้รับของแล้ว\n\n"
     "เมื่อ จ. 3 มี.ค. 2025 เวลา 10:12 Acme Support <support@acme.test> เขียนว่า:\n"
     "> สวัสดีค่ะ\n> สินค้าของคุณถูกจัดส่งแล้ว\n",
     "ขอบคุณค่ะ ได้รับของแล้ว"),
    ("fa-gmail",
     "ممنون، بسته رسید.\n\n"
     "\u200fدر تاریخ دوشنبه ۳ مارس ۲۰۲۵، ساعت ۱۰:۱۲ Acme Support "
     "<\u200esupport@acme.test\u200e> نوشت:\u200f\n> سلام،\n> سفارش شما ارسال شد.\n",
     "ممنون، بسته رسید."),
    ("en-outlook",
     "Please call me instead.\n\n________________________________\n"
     "From: Acme Support <support@acme.test>\nSent: Monday, March 3, 2025 10:12 AM\n"
     "To: Anna <anna@example.com>\nSubject: Your order\n\nHello Anna, it left today.\n",
     "Please call me instead."),
    ("pl-outlook",
     "Proszę o telefon.\n\nOd: Acme Support <support@acme.test>\n"
     "Wysłano: poniedziałek, 3 marca 2025 10:12\nDo: Anna\nTemat: Zamówienie\n\n"
     "Dzień dobry, paczka wyszła.\n",
     "Proszę o telefon."),
    ("original-message",
     "See below.\n\n-----Original Message-----\nFrom: support@acme.test\n"
     "Sent: 3 March 2025 10:12\n\nIt left today.\n",
     "See below."),
    ("signature",
     "Where is my refund?\n\n-- \nAnna Nowak\nhttps://anna.example.com\n",
     "Where is my refund?"),
]


@pytest.mark.parametrize(("case", "text", "new"), REPLIES, ids=[r[0] for r in REPLIES])
def test_the_quoted_mail_and_signature_are_told_from_the_new_words(
        case: str, text: str, new: str) -> None:
    parts = fold(text)
    assert "".join(p.text for p in parts) == text  # nothing lost, nothing moved
    assert [p.kind for p in parts] == ["new", "quoted"], case
    assert new_words(text) == new


def test_answers_between_quotes_stay_new() -> None:
    text = ("> Which size did you order?\n\nSize 42.\n\n"
            "> And the colour?\n>\n> (we have red and blue)\n\nBlue, please.\n"
            "-- \nAnna\n")
    parts = fold(text)
    assert [p.kind for p in parts] == ["quoted", "new", "quoted", "new", "quoted"]
    assert parts[2].text == "> And the colour?\n>\n> (we have red and blue)\n"
    assert new_words(text) == "Size 42.\n\n\nBlue, please."


def test_a_message_without_quotes_is_one_new_part() -> None:
    for text in ("", "Hello", "Sizes -- 42 or 43 --\n", "On Monday I wrote to you.\n",
                 "From: a list of what I need\n- shoes\n- a date: soon\n"):
        assert [(p.kind, p.text) for p in fold(text)] == [("new", text)], text


# (case, the message, the customer's new words): what a mail program adds below the
# answer is not the customer's words, whatever language it is in
ADDED = [
    ("en-iphone", "Where is my parcel?\n\nSent from my iPhone\n", "Where is my parcel?"),
    ("en-outlook-app", "Refund please.\n\nGet Outlook for Android\n", "Refund please."),
    ("pl-iphone", "Gdzie jest moja paczka?\n\nWysłane z iPhone'a\n",
     "Gdzie jest moja paczka?"),
    ("pl-poczta", "Proszę o fakturę.\n\nWysłano z aplikacji Poczta dla Windows\n",
     "Proszę o fakturę."),
    ("vi-iphone", "Đơn hàng của tôi đâu rồi?\n\nGửi từ iPhone của tôi\n",
     "Đơn hàng của tôi đâu rồi?"),
    ("th-iphone", "พัสดุของฉันอยู่ที่ไหนคะ\n\nส่งจาก iPhone ของฉัน\n",
     "พัสดุของฉันอยู่ที่ไหนคะ"),
    ("fa-iphone", "بسته من کجاست؟\n\nارسال شده از iPhone من\n", "بسته من کجاست؟"),
    ("fa-zwnj", "بسته من کجاست؟\n\nارسال\u200cشده از گوشی سامسونگ\n", "بسته من کجاست؟"),
    ("tl-iphone", "Nasaan na po ang order ko?\n\nIpinadala mula sa aking iPhone\n",
     "Nasaan na po ang order ko?"),
    ("en-disclaimer",
     "Please send the invoice again.\n\nJohn\n\nThis e-mail and any attachments are "
     "confidential and may be privileged. If you are not the intended recipient, "
     "please delete it.\n",
     "Please send the invoice again.\n\nJohn"),
    ("pl-disclaimer",
     "Proszę o korektę faktury.\n\n____\nTa wiadomość i wszelkie załączniki są poufne i "
     "przeznaczone wyłącznie dla adresata.\n",
     "Proszę o korektę faktury."),
    ("vi-disclaimer",
     "Cho tôi xin hóa đơn.\n\nEmail này và các tệp đính kèm chứa thông tin mật.\n",
     "Cho tôi xin hóa đơn."),
    ("iphone-above-thread",
     "Dziękuję!\n\nWysłane z mojego iPhone'a\n\nW dniu 3.03.2025 o 10:12, Acme pisze:\n"
     "> Paczka wyszła.\n",
     "Dziękuję!"),
]


@pytest.mark.parametrize(("case", "text", "new"), ADDED, ids=[r[0] for r in ADDED])
def test_device_lines_and_disclaimers_are_not_new_words(case: str, text: str,
                                                         new: str) -> None:
    parts = fold(text)
    assert "".join(p.text for p in parts) == text
    assert parts[-1].kind == "quoted", case
    assert new_words(text) == new


def test_a_customer_saying_sent_from_or_confidential_keeps_their_words() -> None:
    for text in ("Sent from Hanoi on Monday, still not here.\n",
                 "Gửi từ Hà Nội hôm thứ Hai.\n",
                 "Hello,\nthis message is confidential: my new address is below.\n"
                 "Main St 5\n",
                 "Wysłane z magazynu w poniedziałek?\n"):
        assert [(p.kind, p.text) for p in fold(text)] == [("new", text)], text
