"""E-mail bytes -> Inbound: what an agent, a rule or loop protection would see.

Covers channels.email.mime (both body engines), channels.email.mailfiles and the benchmark corpus.
"""

from __future__ import annotations

import base64
import mailbox
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.corpus import generate_corpus
from channels.base import Address, Inbound
from channels.email.mailfiles import MailFileError, count_mail_files, iter_mail_files
from channels.email.mime import parse_email
from tests import mailcorpus as mc

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
STDLIB = 1 << 62  # a threshold no message reaches: always the stdlib engine
FAST = 0  # every message goes to fast_mail_parser


def parse(raw: bytes, *, threshold: int | None = None) -> Inbound:
    if threshold is None:
        return parse_email(raw, "support", NOW)
    return parse_email(raw, "support", NOW, large_threshold=threshold)


def both(raw: bytes) -> list[Inbound]:
    return [parse(raw, threshold=STDLIB), parse(raw, threshold=FAST)]


# ------------------------------------------------------------------------ ordinary mail


def test_plain_mail_reads_as_the_sender_wrote_it() -> None:
    raw = mc.plain_mail(
        sender='"Alice  Customer" <Alice@Example.COM>',
        to="Support <support@helpdesk.example>, other@example.org",
        subject="Printer on fire",
        message_id="<  abc123@mail.example.com >",
        extra_headers=[("Cc", "Boss <BOSS@example.org>")],
    )
    inbound = parse(raw)
    assert inbound.channel == "email"
    assert inbound.account == "support"
    assert inbound.received_at == NOW
    assert inbound.sender == Address("alice@example.com", "Alice Customer")
    assert inbound.recipients == (
        Address("support@helpdesk.example", "Support"),
        Address("other@example.org"),
        Address("boss@example.org", "Boss"),
    )
    assert inbound.external_id == "abc123@mail.example.com"
    assert inbound.subject == "Printer on fire"
    assert inbound.text == "Hello,\nmy printer is on fire. Please help.\n\nAlice"
    assert inbound.html is None
    assert inbound.attachments == ()
    assert inbound.raw == raw
    assert inbound.problems == ()
    assert inbound.headers["from"] == '"Alice  Customer" <Alice@Example.COM>'
    assert inbound.headers["content-type"] == "text/plain; charset=utf-8"
    assert "return-path" not in inbound.headers


def test_missing_subject_is_none_and_folded_subject_is_unfolded() -> None:
    assert parse(mc.plain_mail(subject=None)).subject is None
    folded = parse(mc.plain_mail(subject="A long\r\n subject that\r\n\twas folded"))
    assert folded.subject == "A long subject that\twas folded"
    assert folded.headers["subject"] == "A long subject that\twas folded"


def test_html_only_mail_gets_readable_text_and_safe_html() -> None:
    inbound = parse(mc.html_mail())
    assert inbound.text == "Order #42\n\nIt's broken & late.\n\n- one\n- two\n\nOrder"
    assert inbound.html is not None
    assert "<script" not in inbound.html and "alert" not in inbound.html
    assert "onclick" not in inbound.html and "Ticket" not in inbound.html
    assert '<a href="https://example.com/o/42"' in inbound.html
    assert "<b>broken</b>" in inbound.html
    assert inbound.problems == ()


def test_hostile_html_is_defused_but_inline_images_survive() -> None:
    html = (
        '<p onmouseover="x()">Hi</p><a href="JaVaScRiPt:alert(1)">click</a>'
        '<img src="cid:logo@corpus" onerror="steal()"><iframe src="https://evil"></iframe>'
        '<form action="https://evil"><input name="pw"></form>'
    )
    inbound = parse(mc.html_mail(html=html))
    assert inbound.html is not None
    for bad in ("onmouseover", "javascript", "JaVaScRiPt", "onerror", "iframe", "<input"):
        assert bad not in inbound.html
    assert '<img src="cid:logo@corpus">' in inbound.html
    assert inbound.text == "Hi\n\nclick"


def test_multipart_alternative_gives_both_versions() -> None:
    inbound = parse(mc.alternative_mail(body="Plain words.\n", html="<p>Rich <i>words</i></p>"))
    assert inbound.text == "Plain words."
    assert inbound.html == "<p>Rich <i>words</i></p>"
    assert inbound.attachments == ()


def test_mixed_mail_lists_pdf_and_inline_image() -> None:
    inbound = parse(mc.mixed_mail())
    assert inbound.text == "Please see the attached invoice."
    assert inbound.html is not None and 'src="cid:logo@corpus"' in inbound.html
    logo, pdf = inbound.attachments
    assert (logo.filename, logo.content_type, logo.content_id, logo.inline) == (
        "logo.png", "image/png", "logo@corpus", True)
    assert logo.data == mc.PNG_BYTES
    assert (pdf.filename, pdf.content_type, pdf.content_id, pdf.inline) == (
        "invoice.pdf", "application/pdf", None, False)
    assert pdf.data == mc.PDF_BYTES
    assert inbound.problems == ()


def test_inline_image_without_name_gets_one() -> None:
    inbound = parse(mc.mixed_mail(image_name=None))
    assert inbound.attachments[0].filename == "part1.png"
    assert inbound.attachments[0].content_id == "logo@corpus"


@pytest.mark.parametrize("style", ["rfc2231", "encoded-word", "utf8"])
@pytest.mark.parametrize("filename", [mc.POLISH_FILENAME, mc.THAI_FILENAME, "plain.pdf"])
def test_attachment_names_are_decoded(style: str, filename: str) -> None:
    raw = mc.attachment_mail(filename=filename, name_style=style)
    for inbound in both(raw):
        (attachment,) = inbound.attachments
        assert attachment.filename == filename
        assert attachment.data == mc.PDF_BYTES
        assert attachment.content_type == "application/pdf"
        assert inbound.text == "File attached."


def test_rfc2231_name_in_a_legacy_charset_with_continuations() -> None:
    raw = mc.attachment_mail(filename="x.pdf").replace(
        b'filename="x.pdf"', b"filename*0*=iso-8859-2''%BF%F3; filename*1*=%B3w.pdf"
    )
    assert parse(raw).attachments[0].filename == "żółw.pdf"


def test_winmail_dat_is_kept_as_an_attachment() -> None:
    raw = mc.attachment_mail(filename="winmail.dat", data=b"\x78\x9f\x3e\x22tnef",
                             content_type="application/ms-tnef")
    (attachment,) = parse(raw).attachments
    assert (attachment.filename, attachment.content_type) == ("winmail.dat",
                                                              "application/ms-tnef")
    assert attachment.data == b"\x78\x9f\x3e\x22tnef"


def test_forwarded_message_is_an_eml_attachment_named_after_its_subject() -> None:
    inner = mc.polish_mail(message_id="<inner@example.pl>")
    raw = mc.attachment_mail(filename="x.pdf").replace(
        b"--att-b0undary--",
        b"--att-b0undary\r\nContent-Type: message/rfc822\r\n\r\n" + inner
        + b"\r\n--att-b0undary--",
    )
    eml = parse(raw).attachments[1]
    assert eml.filename == f"{mc.POLISH_SUBJECT}.eml"
    assert eml.content_type == "message/rfc822"
    assert parse(eml.data).external_id == "inner@example.pl"
    assert parse(eml.data).text == mc.POLISH_BODY.rstrip()


# ---------------------------------------------------------------- languages, charsets


@pytest.mark.parametrize(
    ("builder", "subject", "name", "body", "language"),
    [
        (mc.polish_mail, mc.POLISH_SUBJECT, mc.POLISH_NAME, mc.POLISH_BODY, "pl"),
        (mc.thai_mail, mc.THAI_SUBJECT, mc.THAI_NAME, mc.THAI_BODY, "th"),
        (mc.vietnamese_mail, mc.VIETNAMESE_SUBJECT, mc.VIETNAMESE_NAME,
         mc.VIETNAMESE_BODY, "vi"),
        (mc.persian_mail, mc.PERSIAN_SUBJECT, mc.PERSIAN_NAME, mc.PERSIAN_BODY, "fa"),
    ],
)
def test_languages_decode_to_exact_unicode(
    builder: Callable[[], bytes], subject: str, name: str, body: str, language: str
) -> None:
    for inbound in both(builder()):
        assert inbound.subject == subject
        assert inbound.sender.name == name
        assert inbound.text == body.rstrip()
        assert inbound.language == language
        assert inbound.problems == ()


def test_persian_in_windows_1256() -> None:
    inbound = parse(mc.persian_mail(charset="windows-1256"))
    assert inbound.text == mc.PERSIAN_BODY.rstrip()


def test_vietnamese_windows_1258_subject_comes_out_composed() -> None:
    word = "=?windows-1258?B?" + base64.b64encode(
        mc.cp1258_encode(mc.VIETNAMESE_SUBJECT)).decode() + "?="
    assert parse(mc.plain_mail(subject=word)).subject == mc.VIETNAMESE_SUBJECT


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        # a UTF-8 character split across two words; the space between words goes
        ("=?utf-8?B?xbs=?= =?utf-8?B?w7PFgnc=?=", "Żółw"),
        ("=?UTF-8?Q?Za=C5=BC=C3=B3=C5=82=C4=87_g=C4=99?= =?UTF-8?Q?=C5=9Bl=C4=85?=",
         "Zażółć gęślą"),
        ("Re: =?iso-8859-2?q?Odp=3A_=BF=F3=B3w?= [#12]", "Re: Odp: żółw [#12]"),
        ("=?x-unknown?Q?Gr=C3=BC=C3=9Fe?=", "Grüße"),
        ("=?utf8?B?0J/RgNC40LLQtdGC?=", "Привет"),
        ("=?ks_c_5601-1987?B?" + base64.b64encode("똠방각하".encode("cp949")).decode() + "?=",
         "똠방각하"),
        ("=?gb2312?B?" + base64.b64encode("镕".encode("gbk")).decode() + "?=", "镕"),
        ("=?iso-8859-8-i?B?" + base64.b64encode("שלום".encode("iso-8859-8")).decode()
         + "?=", "שלום"),
        ("=?windows-874?B?" + base64.b64encode("สวัสดี".encode("cp874")).decode() + "?=",
         "สวัสดี"),
        ("=?utf-8?B?not*base64?= stays", "=?utf-8?B?not*base64?= stays"),
        ("no encoded words = fine?", "no encoded words = fine?"),
    ],
)
def test_encoded_word_subjects(subject: str, expected: str) -> None:
    assert parse(mc.plain_mail(subject=subject)).subject == expected


@pytest.mark.parametrize("charset", ["iso-8859-2", "utf-8"])
def test_raw_8bit_headers_are_decoded(charset: str) -> None:
    inbound = parse(mc.raw_8bit_headers_mail(charset=charset))
    assert inbound.subject == mc.POLISH_SUBJECT
    assert inbound.sender == Address("lukasz@example.pl", mc.POLISH_NAME)
    assert inbound.headers["subject"] == mc.POLISH_SUBJECT
    assert inbound.text == mc.POLISH_BODY.rstrip()
    assert inbound.problems == ()


@pytest.mark.parametrize(
    ("label", "actual", "text"),
    [
        ("iso-8859-1", "utf-8", "Grüße aus Köln – “quoted” €"),
        ("us-ascii", "utf-8", "naïve café"),
        ("utf8", "utf-8", "Zażółć"),
        ("latin1", "cp1252", "Grüße – “quoted” €"),
        ("ks_c_5601-1987", "cp949", "똠방각하 고객님"),
        ("gb2312", "gbk", "镕 您好"),
        ("iso-8859-8-i", "iso-8859-8", "שלום עולם"),
        ("tis-620", "cp874", "สวัสดีครับ"),
        ("windows-874", "cp874", "ขอบคุณครับ"),
        ("x-unknown", "utf-8", "Привет"),
        ("no-such-charset", "utf-8", "Grüße"),
        ("", "utf-8", "Grüße"),
        ("utf-8", "iso-8859-2", "Zażółć gęślą jaźń"),
    ],
)
def test_mislabelled_or_unknown_charsets_decode_well(label: str, actual: str, text: str) -> None:
    inbound = parse(mc.mislabelled_mail(label=label, actual=actual, body=text + "\n"))
    assert inbound.text == text
    assert inbound.problems == ()


def test_html_charset_from_meta_when_the_part_has_none() -> None:
    html = '<html><head><meta charset="windows-1250"></head><body><p>Žluťoučký kůň</p>'
    raw = mc.html_mail(html=html, cte="8bit").replace(
        b"charset=utf-8", b"name=x").replace(html.encode(), html.encode("cp1250"))
    assert parse(raw).text == "Žluťoučký kůň"


def test_content_language_first_tag() -> None:
    def lang(value: str) -> str | None:
        return parse(mc.plain_mail(extra_headers=[("Content-Language", value)])).language

    assert lang("pl, en") == "pl"
    assert lang("pt-BR") == "pt-br"
    assert lang("!!") is None
    assert parse(mc.plain_mail()).language is None


# ---------------------------------------------------------------- threads and robots


def test_references_end_with_the_nearest_parent() -> None:
    raw = mc.reply_mail(in_reply_to="<c@x>", references=["<a@x>", "<b@x>", "<c@x>"])
    assert parse(raw).references == ("a@x", "b@x", "c@x")
    odd = mc.plain_mail(in_reply_to="<b@x>", references=["<a@x>", "<b@x>", "<c@x>", "<a@x>"])
    assert parse(odd).references == ("c@x", "a@x", "b@x")
    folded = mc.plain_mail(extra_headers=[("References", "<a@x>\r\n\t< b@x >"),
                                          ("In-Reply-To", "Your message <b@x> of Monday")])
    assert parse(folded).references == ("a@x", "b@x")


def test_no_message_id_gets_a_stable_synthetic_id() -> None:
    raw = mc.no_message_id_mail()
    first, again = parse(raw), parse(raw)
    assert first.external_id == again.external_id
    assert first.external_id.startswith("sha256-") and first.external_id.endswith(
        "@inbox.invalid")
    assert parse(mc.no_message_id_mail(body="other\n")).external_id != first.external_id
    assert "message-id" not in first.headers
    assert first.problems == ()


def test_auto_reply_keeps_loop_headers() -> None:
    inbound = parse(mc.auto_reply_mail(in_reply_to="<ack-1@helpdesk.example>"))
    assert inbound.headers["auto-submitted"] == "auto-replied"
    assert inbound.headers["x-autoreply"] == "yes"
    assert inbound.headers["x-auto-response-suppress"] == "All"
    assert inbound.references == ("ack-1@helpdesk.example",)
    assert inbound.problems == ()


def test_bounce_keeps_empty_return_path_and_report_type() -> None:
    original = mc.plain_mail(subject="We received your message", message_id="<ack@h>")
    inbound = parse(mc.bounce_mail(original=original))
    assert inbound.headers["return-path"] == "<>"
    assert inbound.headers["content-type"].startswith("multipart/report;")
    assert "report-type=delivery-status" in inbound.headers["content-type"]
    assert inbound.sender == Address("mailer-daemon@mx.example.net", "Mail Delivery System")
    assert inbound.text == "Your message could not be delivered to nobody@example.net."
    status, eml = inbound.attachments
    assert status.content_type == "message/delivery-status"
    assert b"Status: 5.1.1" in status.data
    assert eml.filename == "We received your message.eml"
    assert parse(eml.data).external_id == "ack@h"
    assert inbound.problems == ()


def test_list_post_and_loop_headers() -> None:
    extra = [("X-Loop", "support@helpdesk.example"), ("X-Inbox-Ref", "T-42.sig"),
             ("Delivered-To", "support@helpdesk.example"), ("Delivered-To", "a@b.example")]
    inbound = parse(mc.plain_mail(extra_headers=extra))
    assert inbound.headers["x-loop"] == "support@helpdesk.example"
    assert inbound.headers["x-inbox-ref"] == "T-42.sig"
    assert inbound.headers["delivered-to"] == "support@helpdesk.example, a@b.example"
    post = parse(mc.list_post_mail())
    assert post.headers["list-id"] == "Users of Widgets <users.widgets.example.org>"
    assert post.headers["precedence"] == "list"
    assert post.headers["list-unsubscribe"].startswith("<mailto:users-leave@")
    assert post.headers["list-post"] == "<mailto:users@widgets.example.org>"
    assert post.problems == ()


def test_return_path_absent_differs_from_empty() -> None:
    present = mc.plain_mail(extra_headers=[("Return-Path", "<>")])
    assert parse(present).headers["return-path"] == "<>"
    assert "return-path" not in parse(mc.plain_mail()).headers


# ------------------------------------------------------------------------ hostile mail


NORMAL_BUILDERS: list[Callable[[], bytes]] = [
    mc.plain_mail, mc.html_mail, mc.alternative_mail, mc.mixed_mail, mc.attachment_mail,
    mc.no_message_id_mail, mc.polish_mail, mc.thai_mail, mc.vietnamese_mail,
    mc.persian_mail, mc.auto_reply_mail, mc.bounce_mail, mc.list_post_mail,
    mc.raw_8bit_headers_mail, mc.mislabelled_mail, mc.large_mail,
]


@pytest.mark.parametrize("builder", NORMAL_BUILDERS, ids=lambda b: b.__name__)
def test_normal_mail_has_no_problems(builder: Callable[[], bytes]) -> None:
    raw = builder()
    for inbound in both(raw):
        assert inbound.problems == ()
        assert inbound.raw == raw


def test_malformed_mail_is_flagged_and_salvaged() -> None:
    raw = mc.malformed_mail()
    for inbound in both(raw):
        assert "multipart without boundary" in inbound.problems
        assert "no blank line between headers and body" in inbound.problems
        assert inbound.raw == raw
        assert inbound.sender == Address("broken@example.com", "Broken Sender")
        assert inbound.external_id == "malformed@example.com"
        assert "Please salvage this text." in inbound.text


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (mc.truncated_mail(), "multipart closing boundary missing"),
        (mc.bad_base64_mail(), "undecodable base64 body"),
        (mc.not_an_email(), "no parseable headers"),
        (b"", "no parseable headers"),
        (mc.plain_mail(sender="undisclosed-recipients:;"), "From header has no address"),
    ],
    # Named by the problem: the mails hold random ids, and the suite's workers must
    # collect the same names (pytest-xdist).
    ids=lambda value: value.replace(" ", "-") if isinstance(value, str) else "mail",
)
def test_broken_mail_is_flagged(raw: bytes, problem: str) -> None:
    for inbound in both(raw):
        assert problem in inbound.problems
        assert inbound.raw == raw


def test_truncated_mail_keeps_what_arrived() -> None:
    assert parse(mc.truncated_mail()).text == "The beginning survived."


def test_mail_without_from() -> None:
    raw = mc.plain_mail().replace(b"From: Alice Customer <alice@example.com>\r\n", b"")
    inbound = parse(raw)
    assert inbound.sender == Address("")
    assert inbound.problems == ("no From header",)
    assert inbound.text.startswith("Hello,")


def test_nothing_at_all_still_gives_an_inbound() -> None:
    inbound = parse(mc.not_an_email())
    assert inbound.external_id.startswith("sha256-")
    assert inbound.sender == Address("")
    assert "no From header" in inbound.problems
    assert "binary junk" in inbound.text


def test_deep_nesting_is_flagged_not_fatal() -> None:
    depth = 200
    opens = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                     for i in range(depth))
    closes = b"".join(b"\r\n--b%d--" % i for i in reversed(range(depth)))
    raw = b"From: a@b.example\r\n" + opens + b"Content-Type: text/plain\r\n\r\ndeep" + closes
    for inbound in both(raw):
        assert "MIME nesting too deep" in inbound.problems
        assert inbound.raw == raw


def test_hopelessly_nested_messages_keep_their_headers() -> None:
    nested = b"Content-Type: message/rfc822\r\n\r\n" * 3000
    raw = b"From: Nest <nest@example.com>\r\nSubject: nest\r\n" + nested + b"\r\ninner"
    for inbound in both(raw):
        assert inbound.subject == "nest"
        assert inbound.sender == Address("nest@example.com", "Nest")
        assert any("could not be read" in problem for problem in inbound.problems)


def test_hostile_whitespace_and_huge_headers_stay_linear() -> None:
    # Each of these took 20-90 s while a regular expression could backtrack.
    spaces = " \t" * 100_000
    assert parse(mc.html_mail(html=f"<pre>a{spaces}b</pre>")).text == f"a{spaces}b"
    qp = mc.plain_mail(body=f"a{spaces}b\n", cte="quoted-printable")
    assert parse(qp).text == f"a{spaces}b"
    sender = mc.plain_mail(sender=" " * 100_000 + "x@y.example")
    assert parse(sender).sender == Address("x@y.example")
    junk = b"Subject: " + b"=?x?q?" * 100_000 + b"\r\n"
    for inbound in both(junk + mc.large_mail()):
        assert inbound.subject is not None and inbound.subject.startswith("=?x?q?=?x?q?")
        assert len(inbound.attachments) == 2


def test_mutilated_mail_never_raises() -> None:
    rng = random.Random(5)
    sources = [builder() for builder in NORMAL_BUILDERS[:-1]] + [mc.malformed_mail()]
    for round_ in range(400):
        raw = bytearray(rng.choice(sources))
        action = round_ % 4
        if action == 0:
            del raw[rng.randrange(len(raw)):]
        elif action == 1:
            for _ in range(20):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        elif action == 2:
            cut = rng.randrange(len(raw))
            raw[cut:cut] = rng.randbytes(rng.randrange(1, 200))
        else:
            raw = raw.replace(b"\r\n", b"\r", rng.randrange(1, 40))
        for threshold in (STDLIB, FAST):
            inbound = parse(bytes(raw), threshold=threshold)
            assert inbound.raw == bytes(raw)
            assert inbound.external_id


# ----------------------------------------------------------------------- both engines


@pytest.mark.parametrize(
    "raw",
    [
        mc.large_mail(),
        mc.large_mail().replace(b"\r\n", b"\n"),
        mc.large_mail(filename=mc.THAI_FILENAME),
        mc.mixed_mail(pdf=random.Random(3).randbytes(300_000), name_style="encoded-word"),
        mc.bounce_mail(original=mc.large_mail()),
        mc.large_mail(extra_parts=[mc.polish_mail().partition(b"MIME-Version: 1.0\r\n")[2]]),
        mc.large_mail(extra_parts=[b"Content-Type: message/rfc822\r\n\r\n" + mc.thai_mail()]),
        *(builder() for builder in NORMAL_BUILDERS),
    ],
    ids=lambda raw: f"{len(raw)}B",
)
def test_both_engines_read_the_same_message(raw: bytes) -> None:
    stdlib, fast = both(raw)
    assert fast.text == stdlib.text
    assert fast.html == stdlib.html
    assert fast.attachments == stdlib.attachments
    assert (fast.subject, fast.sender, fast.headers) == (
        stdlib.subject, stdlib.sender, stdlib.headers)
    assert fast.problems == stdlib.problems


def test_fast_engine_decodes_legacy_charsets_exactly() -> None:
    raw = mc.large_mail(size=600_000, seed=11)
    assert len(raw) > 256 * 1024
    inbound = parse(raw)  # default threshold: the fast engine
    assert inbound.subject == mc.POLISH_SUBJECT
    # the Thai part is a second inline text part: shown after the first, as mail
    # clients do
    assert inbound.text == mc.POLISH_BODY.rstrip() + "\n\n" + mc.THAI_BODY.rstrip()
    assert inbound.html == f"<p>{mc.POLISH_BODY}</p>"
    logo, blob = inbound.attachments
    assert logo.data == mc.PNG_BYTES and logo.inline and logo.content_id == "logo@corpus"
    assert blob.filename == mc.POLISH_FILENAME
    assert blob.data == random.Random(11).randbytes(600_000)


# ----------------------------------------------------------------------------- files


def _mbox(path: Path, messages: list[bytes]) -> None:
    box = mailbox.mbox(path)
    for raw in messages:
        box.add(raw)
    box.close()


def _maildir(path: Path, new: list[bytes], cur: list[bytes]) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True)
    for index, raw in enumerate(new):
        (path / "new" / f"{index}.host").write_bytes(raw)
    for index, raw in enumerate(cur):
        (path / "cur" / f"{index}.host:2,S").write_bytes(raw)
    (path / "tmp" / "half-written").write_bytes(b"not yet")


def test_eml_mbox_and_maildir_are_read(tmp_path: Path) -> None:
    one, two, three = (mc.plain_mail(message_id=f"<m{i}@x>") for i in range(3))
    (tmp_path / "single.eml").write_bytes(one)
    body_from = mc.plain_mail(message_id="<from@x>", body="From here on\nit is fine\n")
    _mbox(tmp_path / "box.mbox", [two, body_from, three])
    _maildir(tmp_path / "Maildir", new=[three], cur=[one, two])
    found = list(iter_mail_files([tmp_path / "single.eml", tmp_path / "box.mbox",
                                  tmp_path / "Maildir"]))
    labels = [label for label, _ in found]
    assert labels == [
        str(tmp_path / "single.eml"),
        f"{tmp_path / 'box.mbox'}#1", f"{tmp_path / 'box.mbox'}#2",
        f"{tmp_path / 'box.mbox'}#3",
        str(tmp_path / "Maildir" / "new" / "0.host"),
        str(tmp_path / "Maildir" / "cur" / "0.host:2,S"),
        str(tmp_path / "Maildir" / "cur" / "1.host:2,S"),
    ]
    ids = [parse(raw).external_id for _, raw in found]
    assert ids == ["m0@x", "m1@x", "from@x", "m2@x", "m2@x", "m0@x", "m1@x"]
    assert parse(found[2][1]).text.endswith("it is fine")
    assert count_mail_files([tmp_path / "single.eml", tmp_path / "box.mbox",
                             tmp_path / "Maildir"]) == 7


def test_directories_are_walked_in_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "deeper").mkdir(parents=True)
    (tmp_path / "b" / "x.eml").write_bytes(mc.plain_mail(message_id="<b@x>"))
    (tmp_path / "a" / "deeper" / "y.eml").write_bytes(mc.plain_mail(message_id="<ay@x>"))
    (tmp_path / "a" / "z").write_bytes(mc.plain_mail(message_id="<az@x>"))
    (tmp_path / "a" / ".DS_Store").write_bytes(b"\x00junk")
    _maildir(tmp_path / "c" / "Maildir", new=[], cur=[mc.plain_mail(message_id="<c@x>")])
    sub = tmp_path / "c" / "Maildir" / ".Sent"
    _maildir(sub, new=[mc.plain_mail(message_id="<sent@x>")], cur=[])
    _mbox(tmp_path / "d.mbox", [mc.plain_mail(message_id="<d@x>")])
    found = list(iter_mail_files([tmp_path]))
    assert [parse(raw).external_id for _, raw in found] == [
        "ay@x", "az@x", "b@x", "c@x", "sent@x", "d@x"]
    assert count_mail_files([tmp_path]) == 6


def test_unreadable_paths_raise_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MailFileError) as missing:
        list(iter_mail_files([tmp_path / "nope.eml"]))
    assert missing.value.path == tmp_path / "nope.eml"
    assert "nope.eml" in str(missing.value)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "broken.eml").symlink_to(tmp_path / "gone")
    with pytest.raises(MailFileError):
        list(iter_mail_files([tmp_path / "dir"]))
    with pytest.raises(MailFileError):
        count_mail_files([tmp_path / "dir"])


# ---------------------------------------------------------------------- bench corpus


def test_bench_corpus_is_deterministic_and_clean(tmp_path: Path) -> None:
    first = generate_corpus(tmp_path / "one", count=60, seed=3)
    again = generate_corpus(tmp_path / "two", count=60, seed=3)
    raws = [raw for _, raw in iter_mail_files([first])]
    assert raws == [raw for _, raw in iter_mail_files([again])]
    assert count_mail_files([first]) == 60
    parsed = [parse(raw) for raw in raws]
    assert all(inbound.problems == () for inbound in parsed)
    ids = {inbound.external_id for inbound in parsed}
    assert len(ids) == 60
    replies = [inbound for inbound in parsed if inbound.references]
    assert replies and all(inbound.references[-1] in ids for inbound in replies)
    assert {inbound.language for inbound in parsed} >= {"en", "pl", "th"}
    big = [a for inbound in parsed for a in inbound.attachments if len(a.data) >= 200_000]
    assert big


def test_maildir_messages_come_in_delivery_order(tmp_path: Path) -> None:
    from channels.email.mailfiles import iter_mail_files

    box = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    # Same second; as text "M99" sorts after "M123456", but it was delivered first.
    names = {"new/1700000000.M99P1Q1.host": b"first", "cur/1700000000.M123456P1Q2.host:2,S":
             b"second", "new/1700000001.M5P1Q3.host": b"third"}
    for name, data in names.items():
        (box / name).write_bytes(data)
    assert [raw for _, raw in iter_mail_files([box])] == [b"first", b"second", b"third"]
