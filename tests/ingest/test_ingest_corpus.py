"""A realistic mailbox through `inbox ingest`, end to end, on SQLite and PostgreSQL.

Human first messages are acknowledged (in the customer's language where we have a
template), replies join their conversation, robots are stored but never answered with
the reason recorded, and the malformed message is kept raw and flagged. Ingesting the
same files again changes nothing.
"""

from __future__ import annotations

import hashlib
import mailbox
from pathlib import Path
from typing import Any

import pytest

from inbox.runtime.app import App
from tests import mailcorpus as mc
from tests.cli.test_cli import inbox, inbox_json

ALICE_ID = "<order-1@mail.example.com>"


def write_maildir(root: Path) -> dict[str, bytes]:
    mails = {
        "alice": mc.plain_mail(sender="Alice Customer <alice@example.com>",
                               message_id=ALICE_ID),
        "bob": mc.html_mail(sender="Bob Buyer <bob@buyers.example>"),
        "carol": mc.mixed_mail(sender="Carol <carol@example.net>"),
        "polish": mc.polish_mail(),
        "thai": mc.thai_mail(),
        "vietnamese": mc.vietnamese_mail(),
        "persian": mc.persian_mail(charset="windows-1256"),
        "alice-reply": mc.reply_mail(in_reply_to=ALICE_ID,
                                     sender="Alice Customer <alice@example.com>"),
        "out-of-office": mc.auto_reply_mail(in_reply_to="<unknown@example.com>"),
        "bounce": mc.bounce_mail(),
        "list": mc.list_post_mail(),
        "malformed": mc.malformed_mail(),
    }
    box = mailbox.Maildir(root, create=True)
    for raw in mails.values():
        box.add(raw)
    return mails


def conversations() -> list[dict[str, Any]]:
    return [inbox_json("show", str(c["id"]))
            for c in inbox_json("queue", "--status", "all", "--automated", "--limit",
                                "1000")]


def stored_state() -> list[dict[str, Any]]:
    """Everything stored, minus what moves with the clock."""
    convs = conversations()
    for c in convs:
        del c["sla"]["seconds_left"]
    return convs


def by_subject(convs: list[dict[str, Any]], words: str) -> dict[str, Any]:
    [conv] = [c for c in convs if words in c["subject"]]
    return conv


def kinds(conv: dict[str, Any]) -> list[str]:
    return [m["kind"] for m in conv["messages"]]


def suppression(conv: dict[str, Any]) -> str:
    [reason] = [e["detail"]["reason"] for e in conv["events"] if e["kind"] == "ack.suppressed"]
    return str(reason)


@pytest.mark.usefixtures("app")
def test_a_realistic_mailbox(tmp_path: Path) -> None:
    mails = write_maildir(tmp_path / "Maildir")
    summary = inbox_json("ingest", str(tmp_path / "Maildir"))
    assert summary == {"stored": 12, "duplicates": 0, "quarantined": 0, "flagged": 1,
                       "acks_queued": 7}
    convs = conversations()
    assert len(convs) == 11  # the reply joined Alice's conversation

    alice = by_subject(convs, "Printer on fire")
    assert kinds(alice) == ["customer", "auto-ack", "customer"]
    assert alice["messages"][2]["text"].startswith("Thanks, but it is still broken.")

    polish = by_subject(convs, mc.POLISH_SUBJECT)
    assert polish["contact"]["name"] == mc.POLISH_NAME and polish["language"] == "pl"
    assert polish["messages"][0]["text"].strip() == mc.POLISH_BODY.strip()
    assert f"Dzień dobry, {mc.POLISH_NAME}" in polish["messages"][1]["text"]
    thai = by_subject(convs, mc.THAI_SUBJECT)
    assert thai["messages"][0]["text"].strip() == mc.THAI_BODY.strip()
    assert thai["language"] == "th"  # its Content-Language; Thai greets by given name
    assert f"คุณ{mc.THAI_NAME.split()[0]}" in thai["messages"][1]["text"]
    for words, body in ((mc.VIETNAMESE_SUBJECT, mc.VIETNAMESE_BODY),
                        (mc.PERSIAN_SUBJECT, mc.PERSIAN_BODY)):
        conv = by_subject(convs, words)
        assert conv["messages"][0]["text"].strip() == body.strip()
        assert kinds(conv) == ["customer", "auto-ack"]

    carol = next(c for c in convs if c["contact"]["address"] == "carol@example.net")
    files = {a["filename"]: a for a in carol["messages"][0]["attachments"]}
    assert any(a["content_type"] == "application/pdf" and
               a["sha256"] == hashlib.sha256(mc.PDF_BYTES).hexdigest() for a in files.values())

    bob = next(c for c in convs if c["contact"]["address"] == "bob@buyers.example")
    assert kinds(bob) == ["customer", "auto-ack"] and bob["messages"][0]["text"].strip()

    [flagged] = [c for c in convs if c["messages"][0]["problems"]]
    assert "needs-attention" in flagged["tags"]
    assert "could not be read reliably" in suppression(flagged)
    assert flagged["messages"][0]["raw_sha256"] == hashlib.sha256(
        mails["malformed"]).hexdigest()
    silent = {c["contact"]["address"]: suppression(c) for c in convs
              if "auto-ack" not in kinds(c)}
    assert len(silent) == 4  # out-of-office, bounce, list post, malformed
    assert "Auto-Submitted: auto-replied" in silent["bob@example.org"]
    assert "Auto-Submitted" in silent["mailer-daemon@mx.example.net"]
    [list_reason] = [r for a, r in silent.items() if a not in (
        "bob@example.org", "mailer-daemon@mx.example.net") and "reliably" not in r]
    assert "list-id" in list_reason or "Precedence: list" in list_reason

    before = stored_state()
    again = inbox_json("ingest", str(tmp_path / "Maildir"))
    assert again["duplicates"] == 12 and again["stored"] == 0 and again["acks_queued"] == 0
    assert stored_state() == before
    assert len(inbox_json("outbox")) == 7


@pytest.mark.usefixtures("app")
def test_mbox_and_single_files_feed_the_same_pipeline(tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "archive.mbox")
    box.add(mc.plain_mail(sender="dana@example.com", subject="From the archive"))
    box.close()
    single = tmp_path / "one.eml"
    single.write_bytes(mc.plain_mail(sender="erik@example.com", subject="Single file"))
    summary = inbox_json("ingest", "--no-ack", str(tmp_path / "archive.mbox"), str(single))
    assert summary["stored"] == 2 and summary["acks_queued"] == 0
    subjects = {c["subject"] for c in inbox_json("queue")}
    assert subjects == {"From the archive", "Single file"}
    assert inbox("outbox", ok=True).stderr.strip() == "the outbox is empty"


def test_our_copy_of_a_maildir_message_outlives_changes_to_its_file(app: App,
                                                                    tmp_path: Path) -> None:
    """The Maildir is the customer's mail server's, not ours: whatever later happens to
    its files (a client rewriting a message, a truncating restore), what we stored stays."""
    mails = write_maildir(tmp_path / "Maildir")
    assert inbox_json("ingest", str(tmp_path / "Maildir"))["stored"] == len(mails)
    sources = [p for sub in ("new", "cur") for p in (tmp_path / "Maildir" / sub).iterdir()]
    assert len(sources) == len(mails)
    for source in sources:
        with source.open("r+b") as handle:  # in place: the same inode, new bytes
            handle.truncate(0)
            handle.write(b"From: someone@else.example\r\n\r\nrewritten\r\n")
    for raw in mails.values():
        assert app.blobs.get(hashlib.sha256(raw).hexdigest()) == raw
    bob = next(c for c in conversations() if c["contact"]["address"] == "bob@buyers.example")
    assert bob["messages"][0]["raw_sha256"] == hashlib.sha256(mails["bob"]).hexdigest()
