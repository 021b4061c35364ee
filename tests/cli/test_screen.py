"""What an agent reads on the terminal: `inbox queue` and `inbox show`, run for real.

The queue runs in a pseudo-terminal 80 cells wide, as an agent's shell runs it, on a
deployment whose customers write in Thai, Persian, Vietnamese, Polish, Tagalog, Japanese
and English. Widths are measured as the terminal does (wcwidth), never in characters.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
import time
import unicodedata
import zoneinfo
from pathlib import Path

import pytest
from wcwidth import wcswidth

from inbox.cli.render import queue_lines
from inbox.desk.words import event_words
from inbox.runtime.app import App
from tests.cli.test_cli import eml
from tests.peers import WAIT, Desk

INBOX = [sys.executable, "-m", "inbox"]
FSI, PDI = "\u2068", "\u2069"
ISOLATE = re.compile(f"{FSI}([^{PDI}]*){PDI}")

THAI_NAME = "สมศักดิ์ ใจดี"
PERSIAN_NAME, PERSIAN_SUBJECT = "مریم رضایی", "سفارش من نرسیده"
# Decomposed, as some mail clients send it: base letters with stacked combining marks.
VIETNAMESE_NAME = unicodedata.normalize("NFD", "Nguyễn Thị Hương")
LONG_THAI_SUBJECT = "สวัสดีครับ ผมสั่งซื้อสินค้าไปเมื่อสัปดาห์ที่แล้วแต่ยังไม่ได้รับเลยครับ " * 3
CUSTOMERS = [
    (THAI_NAME, "somsak@example.th", LONG_THAI_SUBJECT),
    (PERSIAN_NAME, "maryam@example.ir", PERSIAN_SUBJECT),
    (VIETNAMESE_NAME, "huong@example.vn",
     unicodedata.normalize("NFD", "Tôi chưa nhận được hàng, xin hãy kiểm tra giúp tôi")),
    ("Małgorzata Wąsowska", "gosia@example.pl", "Zwrot towaru — proszę o etykietę zwrotną"),
    ("Maria Dela Cruz", "maria@example.ph", "Hindi pa dumarating ang order ko"),
    ("田中 太郎", "taro@example.jp", "注文した商品がまだ届きません"),
    ("Anna Smith", "anna@example.com",
     "My order 1234 arrived broken and I would like a replacement or my money back, "
     "whichever is quicker, because I need it for a birthday on Saturday"),
]


@pytest.fixture
def customers(app: App, tmp_path: Path) -> Path:
    """The deployment, with one conversation from each customer."""
    for n, (name, address, subject) in enumerate(CUSTOMERS):
        eml(tmp_path / "mail", f"c{n}", sender=f"{name} <{address}>", subject=subject)
    done = subprocess.run([*INBOX, "ingest", "--no-ack", str(tmp_path / "mail")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return app.settings.base_dir


def in_terminal(args: list[str], cwd: Path, columns: int) -> str:
    """What `args` prints on a terminal `columns` cells wide (no $COLUMNS: the shell's
    own terminal size is what the command must find)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    out = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the command has closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=WAIT) == 0, out.decode(errors="replace")
    return out.decode().replace("\r\n", "\n")


def starts(line: str) -> list[int]:
    """The cell at which each isolated (customer-text) cell of a line begins."""
    return [wcswidth(line[:m.start()]) for m in ISOLATE.finditer(line)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
def test_the_queue_fits_an_80_cell_terminal_in_every_script(customers: Path) -> None:
    lines = in_terminal([*INBOX, "queue"], customers, columns=80).rstrip("\n").split("\n")
    header, rows = lines[0], lines[1:]
    assert header.split() == ["ID", "CHANNEL", "SLA", "STATUS", "AGENT", "CONTACT", "SUBJECT"]
    assert len(rows) == len(CUSTOMERS)
    assert all(0 <= wcswidth(line) <= 80 for line in lines), lines
    # The contact and the subject begin under their titles on every row, whatever the
    # script before them: cells, not characters (Thai marks take none, Japanese two).
    contact, subject = (wcswidth(header[:header.index(t)]) for t in ("CONTACT", "SUBJECT"))
    for line in rows:
        assert starts(line)[-2:] == [contact, subject], line
    shown = {row: [m.group(1) for m in ISOLATE.finditer(row)] for row in rows}
    cells = [texts[-2:] for texts in shown.values()]
    assert [PERSIAN_NAME, PERSIAN_SUBJECT] in cells  # each in an isolate of its own
    assert any(texts[0] == THAI_NAME for texts in cells)  # 13 characters, 9 cells: whole
    assert any(unicodedata.normalize("NFC", texts[0]) == unicodedata.normalize(
        "NFC", VIETNAMESE_NAME) for texts in cells)
    [thai] = [texts[1] for texts in cells if texts[0] == THAI_NAME]
    kept = thai.removesuffix("…")
    assert kept != thai and LONG_THAI_SUBJECT.startswith(kept)
    # cut between grapheme clusters: no vowel or tone mark left behind its consonant
    assert not unicodedata.category(LONG_THAI_SUBJECT[len(kept)]).startswith("M")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_piped_queue_is_cut_only_when_columns_says_so(customers: Path) -> None:
    def piped(**env: str) -> list[str]:
        base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        done = subprocess.run([*INBOX, "queue"], cwd=customers, env={**base, **env},
                              capture_output=True, text=True, check=True)
        return done.stdout.splitlines()

    whole = piped()  # for grep: every subject whole
    assert any(LONG_THAI_SUBJECT.strip() in line for line in whole)
    assert max(wcswidth(line) for line in whole) > 80
    assert max(wcswidth(line) for line in piped(COLUMNS="80")) <= 80


def inbox_run(desk: Desk, *args: str) -> str:
    done = subprocess.run([*INBOX, *args], cwd=desk.deployment, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_show_tells_the_story_in_words_and_a_recovered_send_is_just_sent(
        desk: Desk, tmp_path: Path) -> None:
    desk.configure()
    desk.sink.handler.data_replies.append("451 4.3.0 try again later")
    mail = eml(tmp_path, "m1", sender=f"Anna Nowak <{desk.customer}>", subject="Order 1234")
    inbox_run(desk, "ingest", str(mail))
    inbox_run(desk, "run", "--once")  # the first try meets the refusal

    failing = inbox_run(desk, "show", "1")
    assert f"message from {FSI}Anna Nowak{PDI}" in failing and "received" in failing
    assert "(none)" not in failing
    assert re.search(r"acknowledgement to .* failed once - will retry .*451 4.3.0", failing)

    deadline = time.monotonic() + WAIT
    while "sent" not in inbox_run(desk, "outbox", "--state", "sent"):  # after its backoff
        assert time.monotonic() < deadline, inbox_run(desk, "outbox", "--state", "all")
        inbox_run(desk, "run", "--once")

    shown = inbox_run(desk, "show", "1")
    events = shown.split("\nevents:\n")[1].splitlines()
    assert events and not any("{" in e or "}" in e for e in events), events
    assert any(e.endswith(f"ack sent to {FSI}{desk.customer}{PDI} after 2 tries")
               for e in events), events
    assert f"ack queued to {FSI}{desk.customer}{PDI} (template " in shown
    assert re.search(r"acknowledgement to .* · sent \d{4}-\d\d-\d\d .* after 2 tries", shown)
    assert "451" not in shown and "451" not in inbox_run(desk, "outbox", "--state", "all")
    data = json.loads(inbox_run(desk, "show", "1", "--json"))
    [send] = [m["send"] for m in data["messages"] if m["send"]]
    assert (send["state"], send["attempts"], send["error"]) == ("sent", 2, None)


def test_what_a_customer_typed_cannot_repaint_the_screen_or_leave_its_cell() -> None:
    row = {"id": 9, "channel": "telegram", "status": "open", "assignee": None,
           "sla": {"seconds_left": 3600.0},
           "contact": {"name": f"Eve{PDI}\u202e evil", "address": None},
           "subject": "line one\nline two\x1b[2J\x1b]0;owned\x07"}
    _, line = queue_lines([row], 80)
    assert "\x1b" not in line and "\n" not in line and "\x07" not in line
    assert "\u202e" not in line
    assert [m.group(1) for m in ISOLATE.finditer(line)][-2:] == [
        "Eve evil", "line one line two\ufffd[2J\ufffd]0;owned\ufffd"]
    assert line.count(FSI) == line.count(PDI) == 3  # ours only: agent, contact, subject


def test_a_narrow_terminal_loses_the_right_of_the_table_not_its_width() -> None:
    row = {"id": 12345, "channel": "telegram", "status": "snoozed", "assignee": "kim",
           "sla": {"seconds_left": -93784.0},
           "contact": {"name": "สมศักดิ์ ใจดี", "address": None}, "subject": "ช่วยด้วย"}
    for width in (80, 50, 30, 12, 1):
        assert all(wcswidth(line) <= width for line in queue_lines([row], width)), width
    assert "overdue 1d 2h" in queue_lines([row], 80)[1]


def test_an_event_of_a_kind_this_version_does_not_know_still_reads() -> None:
    zone = zoneinfo.ZoneInfo("UTC")
    said = event_words({"kind": "survey.answered", "detail": {"score": 5, "tags": ["a", "b"],
                                                              "by": None}}, zone)
    assert said == f"survey.answered score={FSI}5{PDI} tags={FSI}a{PDI},{FSI}b{PDI} by=-"
    assert event_words({"kind": "ack.suppressed",
                        "detail": {"reason": "automated (List-Id)"}}, zone) == (
        "ack suppressed: automated (List-Id)")
