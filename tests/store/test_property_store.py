"""Property tests: whatever bytes arrive, parse -> store keeps them, on both databases.

Hypothesis feeds `parse_email` random bytes and structured random MIME (headers with
control characters, NUL, lone surrogates' worth of bad UTF-8, encoded words of random
bytes, random charsets, nested multiparts) and the pipeline stores the result. For
every input: nothing raises, the message is stored exactly once under its bounded id,
its raw bytes come back unchanged from the blob store, and every stored text is one
both databases accept (the database itself is the judge: PostgreSQL refuses NUL).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from channels.email.mime import parse_email
from inbox.ingest.pipeline import ingest_batch
from inbox.ingest.storable import storable
from inbox.runtime.app import App
from inbox.store.models import Message

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

# (CI replays the same examples every run: the "ci" profile in tests/conftest.py.)
PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

HEADER_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]),
                      max_size=80)
RAW_BYTES = st.binary(max_size=300)
CHARSETS = st.sampled_from(["utf-8", "iso-8859-1", "windows-1256", "tis-620", "cp1258",
                            "x-unknown", "utf-16", ""])


@st.composite
def encoded_word(draw: st.DrawFn) -> bytes:
    data = draw(RAW_BYTES)
    charset = draw(CHARSETS) or "utf-8"
    return b"=?" + charset.encode() + b"?B?" + base64.b64encode(data) + b"?="


@st.composite
def header_value(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.one_of(HEADER_TEXT.map(lambda t: t.encode("utf-8")),
                                    RAW_BYTES, encoded_word()), min_size=1, max_size=4))
    return b" ".join(parts)


@st.composite
def mime_part(draw: st.DrawFn, depth: int = 0) -> bytes:
    if depth < 2 and draw(st.booleans()):
        boundary = f"b{depth}x{draw(st.integers(0, 999))}".encode()
        children = draw(st.lists(mime_part(depth + 1), min_size=0, max_size=3))
        body = b"".join(b"--" + boundary + b"\r\n" + c + b"\r\n" for c in children)
        closing = b"--" + boundary + b"--\r\n" if draw(st.booleans()) else b""
        return (b"Content-Type: multipart/" + draw(st.sampled_from([b"mixed", b"alternative",
                                                                    b"related"]))
                + b'; boundary="' + boundary + b'"\r\n\r\n' + body + closing)
    ctype = draw(st.sampled_from([b"text/plain", b"text/html", b"application/pdf",
                                  b"message/rfc822", b"image/png"]))
    cte = draw(st.sampled_from([b"8bit", b"base64", b"quoted-printable", b"x-uue"]))
    charset = draw(CHARSETS).encode()
    return (b"Content-Type: " + ctype + b"; charset=" + charset + b"; name=" +
            draw(header_value()) + b"\r\nContent-Transfer-Encoding: " + cte + b"\r\n\r\n"
            + draw(RAW_BYTES))


@st.composite
def random_mime(draw: st.DrawFn) -> bytes:
    headers = [b"From: " + draw(header_value()), b"To: support@helpdesk.example",
               b"Subject: " + draw(header_value())]
    if draw(st.booleans()):
        headers.append(b"Message-ID: <" + draw(header_value()) + b">")
    if draw(st.booleans()):
        headers.append(b"References: " + draw(header_value()))
    headers.append(b"MIME-Version: 1.0")
    return b"\r\n".join(headers) + b"\r\n" + draw(mime_part())


def stored_once(app: App, raw: bytes) -> None:
    inbound = parse_email(raw, "support", NOW)
    key = storable(inbound).external_id
    with app.engine.begin() as conn:
        [result] = ingest_batch(conn, [inbound], app.pipeline_context(), NOW)
    assert result.outcome in ("stored", "duplicate"), result
    with Session(app.engine) as s:
        found = s.scalars(sa.select(Message).where(Message.external_id == key,
                                                   Message.direction == "in")).all()
    assert len(found) == 1
    assert app.blobs.get(found[0].raw_sha256 or "") == raw or result.outcome == "duplicate"
    assert "\x00" not in found[0].text + (found[0].subject or "")


@PROPERTY
@given(raw=st.binary(max_size=3000))
def test_random_bytes_are_stored_raw(app: App, raw: bytes) -> None:
    stored_once(app, raw)


@PROPERTY
@given(raw=random_mime())
def test_random_mime_is_stored_raw(app: App, raw: bytes) -> None:
    stored_once(app, raw)
