"""Hand-written robot mail of the kinds that reach a helpdesk, and people who look alike.

Each robot is a whole message as its kind of sender writes it: abuse reports (ARF, RFC
5965) as multipart/report and inside multipart/mixed, DMARC aggregate reports, mailing
list managers' notices, vacation replies marked only by a vendor header or only by a
subject in one of many languages, and bounces from MTAs that do not write RFC 3464.
`why` is a fragment the suppression reason must contain, so a test failure says which
signal was missed. The people (`HUMANS`) write about auto-replies, deliveries and
vacations in their own words and must be answered like anyone else.
"""

from __future__ import annotations

import base64
import gzip
import io
import zipfile
from dataclasses import dataclass
from email.header import Header

SUPPORT = "support@shop.example"


@dataclass(frozen=True)
class Sample:
    kind: str
    name: str
    raw: bytes
    why: str  # a fragment of the reason an ack is suppressed ("" for humans)


def _mail(head: str, body: str) -> bytes:
    text = head.strip("\n") + "\n\n" + body.lstrip("\n")
    return text.replace("\n", "\r\n").encode("utf-8")


def _head(name: str, sender: str, subject: str, extra: str = "",
          ctype: str = "text/plain; charset=utf-8") -> str:
    encoded = subject if subject.isascii() else Header(subject, "utf-8").encode()
    return (f"From: {sender}\nTo: {SUPPORT}\nSubject: {encoded}\n"
            f"Date: Thu, 26 Nov 2026 08:00:00 +0000\nMessage-ID: <{name}@robots.example>\n"
            f"MIME-Version: 1.0\nContent-Type: {ctype}\n{extra}")


def _plain(kind: str, name: str, sender: str, subject: str, why: str, *, extra: str = "",
           body: str = "This message was generated automatically.\n") -> Sample:
    return Sample(kind, name, _mail(_head(name, sender, subject, extra), body), why)


# --------------------------------------------------------------------------- abuse (ARF)

_COMPLAINED = """From: Shop <news@shop.example>
To: someone@isp.example
Subject: Your order has shipped
Message-ID: <sent-1@shop.example>
Date: Wed, 25 Nov 2026 10:00:00 +0000
"""

_FEEDBACK = """Feedback-Type: abuse
User-Agent: ComplaintDesk/2.1
Version: 1
Original-Mail-From: <news@shop.example>
Arrival-Date: Wed, 25 Nov 2026 10:00:03 +0000
Source-IP: 192.0.2.25
Reported-Domain: shop.example
"""


def _arf_report() -> Sample:
    head = _head("arf-1", "Abuse Desk <complaints@isp.example>", "Abuse report",
                 ctype='multipart/report; report-type=feedback-report; boundary="AB"')
    body = (f"--AB\nContent-Type: text/plain\n\nA subscriber marked this as spam.\n"
            f"--AB\nContent-Type: message/feedback-report\n\n{_FEEDBACK}\n"
            f"--AB\nContent-Type: message/rfc822\n\n{_COMPLAINED}\nHello\n--AB--\n")
    return Sample("arf", "arf-report", _mail(head, body), "feedback-report")


def _arf_mixed() -> Sample:
    head = _head("arf-2", "Abuse Team <abuse@isp.example>",
                 "Complaint about message from 192.0.2.25",
                 ctype='multipart/mixed; boundary="MX"')
    body = (f"--MX\nContent-Type: text/plain\n\nThis is an email abuse report.\n"
            f"--MX\nContent-Type: message/feedback-report\n\n{_FEEDBACK}\n"
            f"--MX\nContent-Type: text/rfc822-headers\n\n{_COMPLAINED}\n--MX--\n")
    return Sample("arf", "arf-mixed", _mail(head, body), "feedback report")


# ---------------------------------------------------------------------------- DMARC

_AGGREGATE = (b'<?xml version="1.0"?><feedback><report_metadata><org_name>mx.example'
              b"</org_name></report_metadata><policy_published><domain>shop.example"
              b"</domain></policy_published></feedback>")


def _attached(data: bytes, ctype: str, filename: str) -> str:
    b64 = base64.encodebytes(data).decode("ascii")
    return (f"Content-Type: {ctype}; name=\"{filename}\"\n"
            f"Content-Disposition: attachment; filename=\"{filename}\"\n"
            f"Content-Transfer-Encoding: base64\n\n{b64}")


def _zipped(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, _AGGREGATE)
    return buffer.getvalue()


def _dmarc(name: str, sender: str, subject: str, attachment: str) -> Sample:
    head = _head(name, sender, subject, ctype='multipart/mixed; boundary="DM"')
    body = (f"--DM\nContent-Type: text/plain\n\nThis is an aggregate report.\n"
            f"--DM\n{attachment}--DM--\n")
    return Sample("dmarc", name, _mail(head, body), "DMARC")


def _dmarc_reports() -> list[Sample]:
    gz = "mx.example!shop.example!1764028800!1764115199.xml.gz"
    zipped = "google.com!shop.example!1764028800!1764115199.zip"
    return [
        _dmarc("dmarc-gzip", "DMARC Reports <reports@mx.example>",
               "Report Domain: shop.example Submitter: mx.example Report-ID: <77b1>",
               _attached(gzip.compress(_AGGREGATE), "application/gzip", gz)),
        _dmarc("dmarc-zip", "noreply-dmarc-support@google.com",
               "Report domain: shop.example Submitter: google.com Report-ID: 1289",
               _attached(_zipped(zipped[:-4] + ".xml"), "application/zip", zipped)),
        # A reporter that names its subject in its own way: the attachment still tells.
        _dmarc("dmarc-attachment", "Reporting <rua@mail.example.net>",
               "Aggregate report for shop.example",
               _attached(gzip.compress(_AGGREGATE), "application/x-gzip", gz)),
    ]


# ------------------------------------------------------------------- list managers

def _list_notices() -> list[Sample]:
    return [
        _plain("list", "fml-not-member", "shop-admin@lists.example",
               "Re: Order 1234", "mailing-list",
               extra="X-ML-Name: shop-users\nX-ML-Count: 0\nX-MLServer: fml [fml 8.0]\n"
               "List-Subscribe: <mailto:shop-users-ctl@lists.example?body=subscribe>\n",
               body="You are not a member of this mailing list (shop-users@lists.example).\n"),
        _plain("list", "mailman-held", "shop-owner@lists.example",
               "Your message to Shop awaits moderator approval", "mailing-list",
               extra="X-Mailman-Version: 2.1.39\nX-BeenThere: shop@lists.example\n"
               "List-Help: <mailto:shop-request@lists.example?subject=help>\n",
               body="Your mail to 'Shop' is being held until the list moderator can review it.\n"),
        _plain("list", "list-post-only", "Shop Users <shop@groups.example>",
               "Weekly digest", "mailing-list",
               extra="List-Post: <mailto:shop@groups.example>\n", body="Digest of 12 messages.\n"),
        _plain("list", "listserv", "LISTSERV <listserv@lists.example.edu>",
               "Message not distributed", "mailing-list",
               extra="X-Listname: CUSTOMERS <customers@lists.example.edu>\n",
               body="Your message was not distributed to the CUSTOMERS list.\n"),
    ]


# ------------------------------------------------------------------ vacation markers

def _away(name: str, why: str, header: str, subject: str = "Thank you") -> Sample:
    # Bodies differ (the header is the point): the same text again would be a re-send.
    return _plain("vacation", name, "Bob Away <bob@example.org>", subject, why,
                  extra=header + "\n", body=f"I am away until Monday ({name}).\n")


def _vacation_headers() -> list[Sample]:
    return [
        _away("apple-vacation", "X-Apple-Action", "X-Apple-Action: VACATION",
              "Auto reply: Order 1234"),
        _away("x-autogenerated", "x-autogenerated", "X-Autogenerated: Reply"),
        _away("x-autoreply-from", "x-autoreply-from", "X-AutoReply-From: bob@example.org"),
        _away("x-mail-autoreply", "x-mail-autoreply", "X-Mail-Autoreply: yes"),
        _away("x-autoresponse", "x-autoresponse", "X-Autoresponse: vacation"),
        _away("auto-notified", "Auto-Submitted", "Auto-Submitted: auto-notified"),
        _away("auto-submitted-comment", "Auto-Submitted",
              "Auto-Submitted: Auto-Replied (vacation)"),
    ]


# ------------------------------------------------------------- auto-reply subjects

AUTO_REPLY_SUBJECTS = (
    "Automatic reply: Order 1234", "Auto reply: Order 1234", "Auto-Reply: Order 1234",
    "Autoreply: Order 1234", "Out of Office", "Out of Office: Order 1234",
    "Out of the office: Order 1234", "Out of Office AutoReply: Order 1234",
    "Auto Response: Order 1234", "AUTO: Bob Away is out of the office",
    "Autosvar: Order 1234", "Automatisk svar: Order 1234", "Fraværsmelding: Ordre 1234",
    "Frånvaromeddelande: Order 1234", "Abwesenheitsnotiz: Bestellung 1234",
    "Automatische Antwort: Bestellung 1234", "Automatisch antwoord: Bestelling 1234",
    "Afwezigheidsbericht: Bestelling 1234", "Réponse automatique : Commande 1234",
    "Absence du bureau : Commande 1234", "Respuesta automática: Pedido 1234",
    "Fuera de la oficina", "Resposta automática: Pedido 1234",
    "Fora do escritório: Pedido 1234", "Risposta automatica: Ordine 1234",
    "Fuori sede: Ordine 1234", "Odpowiedź automatyczna: Zamówienie 1234",
    "Automaattinen vastaus: Tilaus 1234", "Automatická odpověď: Objednávka 1234",
    "Automatikus válasz: Rendelés 1234", "Otomatik yanıt: Sipariş 1234",
    "Автоматический ответ: Заказ 1234", "Αυτόματη απάντηση: Παραγγελία 1234",
    "ตอบกลับอัตโนมัติ: คำสั่งซื้อ 1234", "Trả lời tự động: Đơn hàng 1234",
    "自动回复: 订单 1234", "自動回覆：訂單 1234", "自動応答: 注文 1234",
    "자동 응답: 주문 1234", "Balasan otomatis: Pesanan 1234",
)


def _auto_reply_subjects() -> list[Sample]:
    return [_plain("subject", f"subject-{n}", "Bob Away <bob@example.org>", subject,
                   "auto-reply subject", body="I am away until Monday.\n")
            for n, subject in enumerate(AUTO_REPLY_SUBJECTS)]


# ---------------------------------------------------------------------- bounces

BOUNCE_SUBJECTS = (
    "Delivery Status Notification (Failure)", "Delivery Status Notification (Delay)",
    "Undelivered Mail Returned to Sender", "Mail delivery failed: returning message to sender",
    "Returned mail: see transcript for details", "failure notice",
    "Undeliverable: Order 1234", "Unzustellbar: Bestellung 1234", "Non remis : Commande 1234",
    "Onbestelbaar: Bestelling 1234", "No se puede entregar: Pedido 1234",
    "Warning: could not send message for past 4 hours", "Mail System Error - Returned Mail",
)


def _bounces() -> list[Sample]:
    by_subject = [_plain("bounce", f"dsn-subject-{n}", "Mail System <mail@mx.example.net>",
                         subject, "delivery-failure subject",
                         body="Your message could not be delivered.\n")
                  for n, subject in enumerate(BOUNCE_SUBJECTS)]
    senders = ("Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
               "Mailer_Daemon@mx.example.net", "MAILER.DAEMON@mx.example.net",
               "Mail-Daemon@mx.example.net", "MDaemon@mx.example.net",
               "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@shop.example",
               "postmaster@mx.example.net")
    by_sender = [_plain("bounce", f"daemon-{n}", sender, "Your message", "robot address",
                        body="Hi. This is the qmail-send program.\n")
                 for n, sender in enumerate(senders)]
    exim = _plain("bounce", "exim-failed-recipients", "Mail System <mail@mx.example.net>",
                  "Your message", "x-failed-recipients",
                  extra="X-Failed-Recipients: nobody@example.net\n", body="Delivery failed.\n")
    return [*by_subject, *by_sender, exim]


ROBOTS: tuple[Sample, ...] = (_arf_report(), _arf_mixed(), *_dmarc_reports(), *_list_notices(),
                              *_vacation_headers(), *_auto_reply_subjects(), *_bounces())
KINDS = ("arf", "dmarc", "list", "vacation", "subject", "bounce")


# ---------------------------------------------------------------------- humans

def _human(name: str, subject: str, body: str) -> Sample:
    return _plain("human", name, f"Carla Client <{name}@customers.example>", subject, "",
                  extra=f"Return-Path: <{name}@customers.example>\n", body=body)


_PEOPLE = (
    ("carla", "My auto reply is broken",
     "Hello, the automatic reply in my account says Out of Office all the time.\n"),
    ("dora", "Delivery failed for order 1234",
     "The courier says delivery failed. Where is my parcel?\n"),
    ("emil", "Out of office hours support?",
     "Can I call you on Sundays?\nAuto-Submitted: auto-replied\n"),
    ("fred", "Vacation rental booking", "I booked for my vacation and need a receipt.\n"),
    ("gina", "Re: Automatic reply: Order 1234",
     "Your colleague is away, so I am writing again about my order.\n"),
    ("hugo", "Report domain change", "Please change the domain on my report to hugo.example.\n"),
    ("iris", "Undeliverable address on my account",
     "My address is marked undeliverable, please fix it.\n"),
)
HUMAN_SUBJECTS = tuple(subject for _, subject, _ in _PEOPLE)
HUMANS: tuple[Sample, ...] = tuple(_human(*person) for person in _PEOPLE)
