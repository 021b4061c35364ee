"""What a stranger writes is shown, never run: script in a subject, a contact's name, a
message's text and HTML part, an attachment's file name, checked in Chromium against a
real `inbox run` (a payload that would set a global or fetch from another host does
neither), not by looking for strings. Two walls stand: every value is escaped (so the
markup is shown as text) and the CSP refuses inline script and handlers; the test sees
both: the text on screen, and nothing run."""

from __future__ import annotations

import re
import subprocess
from email.message import EmailMessage
from pathlib import Path

from playwright.sync_api import expect

from tests.peers import free_port
from tests.web.conftest import INBOX, DeskProcess, Watched, opened_live, operator_env

SUBJECT = '<img src=x onerror="window.pwned=1"> Refund {{7*7}}'
NAME = "<script>window.pwned=2</script>Mallory"
TEXT = '<svg onload="window.pwned=3"></svg> javascript:window.pwned=4'
HTML = ('<p>Hi</p><script>window.pwned=5</script><img src="http://evil.example/t.png">'
        '<iframe src="javascript:window.top.pwned=6"></iframe>')
FILENAME = '"><img src=x onerror=window.pwned=7>.html'


def hostile_mail(directory: Path) -> tuple[Path, str]:
    tag = str(free_port())
    m = EmailMessage()
    m["From"] = f'"{NAME}" <mallory{tag}@example.net>'
    m["To"] = "support@helpdesk.test"
    m["Subject"] = f"{SUBJECT} {tag}"
    m["Message-ID"] = f"<hostile{tag}@example.net>"
    m.set_content(TEXT)
    m.add_alternative(HTML, subtype="html")
    m.add_attachment(b"<script>window.pwned=8</script>", maintype="text", subtype="html",
                     filename=FILENAME)
    path = directory / f"hostile{tag}.eml"
    path.write_bytes(bytes(m))
    return path, tag


def test_hostile_mail_is_shown_inert_in_the_queue_and_the_conversation(
        desk: DeskProcess, agent_page: Watched, tmp_path: Path) -> None:
    path, tag = hostile_mail(tmp_path)
    subprocess.run([*INBOX, "ingest", "--no-ack", str(path)], cwd=desk.directory,
                   env=operator_env(), check=True, capture_output=True)
    page = agent_page.page
    page.goto(f"{desk.url}/")
    row = page.get_by_role("link", name=f"{SUBJECT} {tag}")
    expect(row).to_be_visible()  # the subject, as text, markup and all
    opened_live(page, row.click)  # the refresh as the live stream connects: done
    expect(page.locator("#conv-title")).to_contain_text(SUBJECT)  # escaped, so shown
    page.get_by_text("Text version").click()  # an HTML mail is shown as written first
    expect(page.get_by_text(TEXT)).to_be_visible()
    expect(page.get_by_text(NAME).first).to_be_visible()
    # (the mail's own quoting eats the leading quote mark; the rest is the file's name)
    expect(page.get_by_role("link", name=re.compile(r"<img src=x onerror=window\.pwned=7>")
                            )).to_be_visible()
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert agent_page.hosts() == {desk.url.removeprefix("http://")}  # nothing fetched elsewhere
    assert agent_page.errors == []
