"""A mail's HTML part served for its sandboxed frame (inbox.web.mailview): what the
sanitizer keeps and drops, and the frame's own policy; in process. The browser side
(nothing runs, no request leaves until asked) is in test_mail_html.py."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from inbox.runtime.app import App
from inbox.runtime.connectors import raw_parsers
from inbox.web.mailview import frame_policy, sanitize
from tests.web.desk_helpers import agent_client, ingest, mail

PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def test_the_sanitizer_keeps_the_mail_and_drops_what_runs_or_calls_out() -> None:
    hostile = ('<p dir="rtl" lang="fa" style="color:red">سلام <b>Anna</b></p>'
               '<script>window.pwned=1</script><img src="x" onerror="window.pwned=2">'
               '<a href="https://shop.example/track" onclick="x()">your order</a>'
               '<a href="javascript:window.pwned=3">j</a><a href="data:text/html,x">d</a>'
               '<img src="https://tracker.example/p.gif" alt="logo">'
               '<div style="background:url(https://tracker.example/bg.png)">bg</div>'
               '<form action="https://evil.example/"><input name="card"></form>'
               '<style>body{background:url(https://tracker.example/s.png)}</style>'
               '<iframe src="https://evil.example/"></iframe><svg onload="x()"></svg>')
    clean = sanitize(hostile)
    assert '<p dir="rtl" lang="fa">سلام <b>Anna</b></p>' in clean
    assert ('<a href="https://shop.example/track" target="_blank" '
            'rel="noopener noreferrer nofollow">your order</a>') in clean
    for gone in ("script", "pwned", "onerror", "onclick", "javascript:", "data:text",
                 "style", "tracker.example", "form", "input", "iframe", "svg", "evil"):
        assert gone not in clean, gone
    assert '<img alt="logo">' in clean  # the tracker's address gone, its alt text kept
    assert 'src="https://tracker.example/p.gif"' in sanitize(hostile, remote_images=True)


def test_pictures_in_the_mail_are_kept_and_cid_parts_inlined() -> None:
    png = "data:image/png;base64,AAAA"
    html = (f'<img src="{png}"><img src="data:image/svg+xml,<svg/>">'
            '<img src="cid:logo@acme"><img src="cid:unknown">')
    clean = sanitize(html, inline={"logo@acme": "data:image/gif;base64,R0lG"})
    assert clean == f'<img src="{png}"><img><img src="data:image/gif;base64,R0lG"><img>'


def test_the_frames_policy_runs_nothing_and_loads_remote_images_only_when_asked() -> None:
    blocked, shown = frame_policy(False), frame_policy(True)
    for policy in (blocked, shown):
        assert "default-src 'none'" in policy and "frame-ancestors 'self'" in policy
        assert "sandbox allow-popups allow-popups-to-escape-sandbox" in policy
        assert "allow-scripts" not in policy and "allow-same-origin" not in policy
    assert "img-src data:;" in blocked + ";" and "http" not in blocked
    assert "img-src data: https: http:" in shown


def html_mail(n: int, html: str, *, cid_png: bytes | None = None) -> bytes:
    m = EmailMessage()
    m["From"], m["To"] = "Anna <anna@example.com>", "support@helpdesk.test"
    m["Subject"], m["Message-ID"] = f"Mail {n}", f"<html{n}@example.com>"
    m.set_content("The text part.")
    m.add_alternative(html, subtype="html")
    if cid_png is not None:
        m.get_payload()[1].add_related(cid_png, "image", "png", cid="<logo@acme>")
    return bytes(m)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_route_serves_the_sanitized_mail_under_its_own_policy(app: App) -> None:
    desk = agent_client(app, "ana")
    raw = html_mail(1, '<p>Hi</p><img src="cid:logo@acme"><script>x()</script>'
                       '<img src="https://tracker.example/p.gif">', cid_png=PIXEL)
    ingest(app, raw_parsers()["email"](raw, "support", datetime.now(UTC)))
    page = desk.get("/c/1")
    [src] = re.findall(r'<iframe name="mail-\d+" src="([^"]+)" sandbox="allow-popups '
                       r'allow-popups-to-escape-sandbox"', page.text)
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    frame = desk.get(src)
    assert frame.status_code == 200 and "<p>Hi</p>" in frame.text
    # The conversation's language ("Hi" says too little: the default) marks the document.
    assert '<body dir="auto" lang="en">' in frame.text and "script" not in frame.text
    assert f'src="data:image/png;base64,{base64.b64encode(PIXEL).decode()}"' in frame.text
    assert "tracker.example" not in frame.text
    assert frame.headers["content-security-policy"] == frame_policy(False)
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    assert frame.headers["referrer-policy"] == "no-referrer"
    assert "tracker.example" in desk.get(f"{src}?images=1").text
    ingest(app, mail(2, sender="bo@example.com"))  # conversation 2, someone else's
    assert desk.get(src.replace("/c/1/", "/c/2/")).status_code == 404  # not its mail
    desk.cookies.clear()
    assert desk.get(src).status_code in (302, 303, 401)  # signed in, or nothing
