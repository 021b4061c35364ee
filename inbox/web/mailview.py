"""A mail's HTML part as the customer's mail program drew it, safe to look at.

`GET /c/{cid}/m/{mid}/html` answers a whole small document for the conversation page's
<iframe sandbox>: the HTML sanitized again with nh3 (an allow-list for mail: no script,
no handler, no style, no form; links open a new tab with rel=noopener noreferrer), and
served under a policy of its own that stands even if the sanitizer missed something:

- `default-src 'none'`: nothing loads, no script, no style, no font, no frame, no form;
- `img-src data:`: images written into the mail (and its cid: parts, inlined here)
  only, so opening a mail tells no tracker it was read; `?images=1` ("Show remote
  images", asked per message) adds `https: http:`;
- `sandbox allow-popups allow-popups-to-escape-sandbox`: no script runs, the frame has
  an origin of its own (it cannot touch the desk, its cookies or its pages), it cannot
  navigate the desk; a link the agent clicks opens in a new, ordinary tab;
- `frame-ancestors 'self'`: only the desk may frame it.

Style attributes are not kept: the stored HTML lost them when it was read
(channels/email/mime.py), and without them the frame needs no `'unsafe-inline'`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING

import nh3
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from channels.base import Inbound
from inbox.desk.accounts import Action, can
from inbox.store.db import reader
from inbox.store.models import Agent, Attachment, Conversation, Message

if TYPE_CHECKING:
    from inbox.web.context import WebContext

# cid: images inlined as data: URLs: kinds a browser draws as pictures and nothing more
# (no SVG), and no more than this many bytes in one mail.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_INLINE = 5_000_000
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp)[;,]", re.IGNORECASE)
_REMOTE = re.compile(r"^https?:", re.IGNORECASE)
TRUNCATED = "HTML body over"  # inbox.ingest.storable's problem: the raw mail has it all

TAGS = nh3.ALLOWED_TAGS - {"area", "map"}
ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "a": {"href", "hreflang", "title"},
    "img": {"src", "alt", "width", "height", "align", "title"},
    "*": {"dir", "lang"},
}
URL_SCHEMES = {"http", "https", "mailto", "tel", "cid", "data"}


def frame_policy(remote_images: bool) -> str:
    """The frame's Content-Security-Policy."""
    images = "img-src data: https: http:" if remote_images else "img-src data:"
    return "; ".join(["default-src 'none'", images, "frame-ancestors 'self'",
                      "base-uri 'none'", "form-action 'none'",
                      "sandbox allow-popups allow-popups-to-escape-sandbox"])


FRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"  # the <iframe>'s, the same


def sanitize(html: str, *, remote_images: bool = False,
             inline: Mapping[str, str] | None = None) -> str:
    """`html` safe for the frame. `inline`: cid (without <>) -> data: URL of that part.
    Without `remote_images`, a remote image's address is dropped (its alt text stays):
    the policy would block it anyway, this way nothing even asks."""
    images = inline or {}

    def url(tag: str, attribute: str, value: str) -> str | None:
        if attribute not in ("src", "href"):
            return value
        if value[:4].lower() == "cid:":  # a part of this mail, or nothing
            return images.get(value[4:].strip("<> ")) if tag == "img" else None
        if value[:5].lower() == "data:":
            return value if tag == "img" and _DATA_IMAGE.match(value) else None
        if tag == "img" and _REMOTE.match(value) and not remote_images:
            return None
        return value

    return str(nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, attribute_filter=url,
                         clean_content_tags={"script", "style", "title", "template"},
                         url_schemes=URL_SCHEMES, link_rel="noopener noreferrer nofollow",
                         set_tag_attribute_values={"a": {"target": "_blank"}}))


def frame_document(body: str, language: str | None) -> str:
    """The frame's page: the sanitized body, its direction from its own words."""
    lang = f' lang="{language}"' if language and re.fullmatch(r"[A-Za-z-]{2,35}",
                                                            language) else ""
    return ("<!doctype html><html><head><meta charset=\"utf-8\">"
            "<meta name=\"referrer\" content=\"no-referrer\"><title>Mail</title></head>"
            f"<body dir=\"auto\"{lang}>{body}</body></html>")


def data_url(content_type: str, data: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass(frozen=True)
class Found:
    html: str
    inline: dict[str, str]
    language: str | None


# A request handler, as Starlette calls one.
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class MailView:
    ctx: WebContext

    def routes(self, seen: Callable[[Endpoint], Endpoint] = lambda e: e) -> list[BaseRoute]:
        """`seen` guards a conversation's pages (inbox.web.pages.Desk.seen: only agents
        who may see the conversation)."""
        return [Route("/c/{cid:int}/m/{mid:int}/html", seen(self.html))]

    async def html(self, request: Request) -> Response:
        agent: Agent = request.state.signed.agent
        if not can(agent, Action.WORK_QUEUE):
            return PlainTextResponse("your account may not see conversations", 403)
        cid, mid = request.path_params["cid"], request.path_params["mid"]
        found = await run_in_threadpool(self._read, cid, mid)
        if found is None:
            return PlainTextResponse("no such mail", 404)
        remote = request.query_params.get("images") == "1"
        page = frame_document(sanitize(found.html, remote_images=remote,
                                       inline=found.inline), found.language)
        return HTMLResponse(page, headers={
            "Content-Security-Policy": frame_policy(remote),
            "X-Frame-Options": "SAMEORIGIN",  # the desk's default is DENY
            "Referrer-Policy": "no-referrer",  # a remote image learns nothing of the desk
            "Cross-Origin-Resource-Policy": "same-origin"})

    def _read(self, cid: int, mid: int) -> Found | None:
        with Session(reader(self.ctx.engine)) as s:
            m = s.get(Message, mid)
            if m is None or m.conversation_id != cid or m.html is None:
                return None
            parts = list(s.scalars(sa.select(Attachment).where(
                col(Attachment.message_id) == mid)))
            conv = s.get(Conversation, cid)
        reread = _rereader(self.ctx, m)
        html = m.html
        if any(p.startswith(TRUNCATED) for p in m.problems) and (whole := reread()):
            html = whole.html or html
        return Found(html, self._inline(parts, reread), conv.language if conv else None)

    def _inline(self, parts: list[Attachment],
                reread: Callable[[], Inbound | None]) -> dict[str, str]:
        """cid -> data: URL for the mail's pictures, as far as MAX_INLINE goes."""
        wanted = [a for a in parts if a.content_id and a.content_type in INLINE_TYPES
                  and a.size <= MAX_INLINE]
        if not wanted:
            return {}
        blobs = self.ctx.blobs
        inside = {} if all(a.stored for a in wanted) else _by_digest(reread())
        out: dict[str, str] = {}
        budget = MAX_INLINE
        for a in wanted:
            data = (blobs.get(a.sha256) if a.stored and blobs else inside.get(a.sha256))
            if data is None or len(data) > budget:
                continue
            budget -= len(data)
            out[(a.content_id or "").strip("<> ")] = data_url(a.content_type, data)
        return out


def _rereader(ctx: WebContext, m: Message) -> Callable[[], Inbound | None]:
    """Reads the stored raw mail again, once, when first asked."""
    done: list[Inbound | None] = []

    def read() -> Inbound | None:
        if not done:
            parse, blobs, digest = ctx.parsers.get(m.channel), ctx.blobs, m.raw_sha256
            done.append(None if parse is None or blobs is None or digest is None else
                        parse(blobs.get(digest), m.account, m.created_at.replace(tzinfo=UTC)))
        return done[0]
    return read


def _by_digest(parsed: Inbound | None) -> dict[str, bytes]:
    if parsed is None:
        return {}
    return {hashlib.sha256(a.data).hexdigest(): a.data for a in parsed.attachments}
