"""Mastodon statuses as the core's `Inbound` values: pure functions, no network.

A status's `content` is HTML (paragraphs, line breaks, links, mention and hashtag
spans); agents read plain text with its line breaks kept. The leading mention of our own
account, which every mention starts with, says nothing to an agent and is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from channels.base import Address, Inbound

CHANNEL = "mastodon"
VISIBILITIES = ("public", "unlisted", "private", "direct")


@dataclass(frozen=True, slots=True)
class Me:
    """Our own account on the instance, and what the instance allows."""

    id: str
    username: str
    domain: str  # the instance's own domain: local accounts' acct has no host
    max_characters: int = 500

    def full(self, acct: str) -> str:
        """`user@host` for any acct (a local account's acct is just `user`)."""
        return acct if "@" in acct else f"{acct}@{self.domain}"


class _Text(HTMLParser):
    """Mastodon's status HTML as text: <p> paragraphs, <br> lines, links as their text
    (Mastodon shortens a long link's text with invisible spans: the whole URL is kept)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("\n")
        elif tag == "p" and self.out:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def html_to_text(content: str) -> str:
    parser = _Text()
    parser.feed(content)
    parser.close()
    lines = "".join(parser.out).split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def without_our_mention(text: str, me: Me) -> str:
    """The text less its leading mention(s) of us (`@support` or `@support@host`)."""
    ours = re.compile(rf"^\s*@{re.escape(me.username)}(?:@{re.escape(me.domain)})?(?![\w@.-])",
                      re.IGNORECASE)
    while (match := ours.match(text)) is not None:
        text = text[match.end():]
    return text.strip()


def _media(items: Sequence[Mapping[str, Any]]) -> str:
    """Media as a list an agent can open: type, description, link (not downloaded)."""
    lines = []
    for m in items:
        what = str(m.get("type") or "media")
        said = str(m.get("description") or "").strip()
        link = str(m.get("url") or m.get("remote_url") or "")
        lines.append(f"[{what}{': ' + said if said else ''}] {link}".rstrip())
    return "\n".join(lines)


def preview(text: str) -> str:
    """A subject for the queue: statuses have none, so the start of the first line."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= 60 else line[:59].rstrip() + "…"


def when(value: object, default: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return default


def inbound(status: Mapping[str, Any], *, account: str, me: Me, root: str,
            now: datetime, backfill: bool = False) -> Inbound:
    """One mention as the pipeline takes it; `root`: the id of its thread's first status,
    so that one customer's thread is one conversation. The author is part of the thread
    key: anyone may answer a public thread, and another customer joining it gets a
    conversation of their own (an agent answering one never writes to the other)."""
    author: Mapping[str, Any] = status.get("account") or {}
    acct = me.full(str(author.get("acct") or ""))
    text = without_our_mention(html_to_text(str(status.get("content") or "")), me)
    warning = str(status.get("spoiler_text") or "").strip()
    if warning:  # a content warning is the customer's own headline
        text = f"CW: {warning}\n\n{text}"
    media = _media(status.get("media_attachments") or ())
    if media:
        text = f"{text}\n\n{media}".strip()
    visibility = str(status.get("visibility") or "public")
    headers = {"mastodon-visibility": visibility,
               "mastodon-url": str(status.get("url") or status.get("uri") or "")}
    robot = _robot(author, me)
    if robot:  # the loop guard (inbox.ingest.ack) never answers these
        headers["auto-submitted"] = f"auto-generated ({robot})"
    parent = status.get("in_reply_to_id")
    return Inbound(
        channel=CHANNEL, account=account, external_id=str(status["id"]),
        sender=Address(acct, str(author.get("display_name") or author.get("username") or "")),
        received_at=when(status.get("created_at"), now), text=text, subject=preview(text),
        references=(str(parent),) if parent else (), thread_key=f"{CHANNEL}:{root}:{acct}",
        headers=headers, language=str(status["language"]) if status.get("language") else None,
        attributes={"visibility": visibility}, backfill=backfill)


def for_us(status: Mapping[str, Any], me: Me) -> bool:
    """True for a status that mentions us and is not our own: an edit of any other
    (a followed account's post in our home feed) is none of the desk's business."""
    author: Mapping[str, Any] = status.get("account") or {}
    mentioned = {str(m.get("id")) for m in status.get("mentions") or ()}
    return me.id in mentioned and str(author.get("id")) != me.id


def edit(status: Mapping[str, Any], *, account: str, me: Me, root: str,
         now: datetime) -> Inbound:
    """An edited status as the pipeline's edit of the stored one: one id per version
    (its `edited_at`), so a version told twice is one edit."""
    item = inbound(status, account=account, me=me, root=root, now=now)
    edited = when(status.get("edited_at"), now)
    return replace(item, external_id=f"{item.external_id}/edit/{edited.isoformat()}",
                   edit_of=item.external_id, received_at=edited)


def deletion(status_id: str, *, account: str, now: datetime) -> Inbound:
    """A deleted status: its id is all Mastodon says (the pipeline knows the rest)."""
    return Inbound(channel=CHANNEL, account=account, external_id=f"{status_id}/deleted",
                   sender=Address(""), received_at=now, edit_of=status_id, deleted=True)


def _robot(author: Mapping[str, Any], me: Me) -> str | None:
    if str(author.get("id")) == me.id:
        return "our own Mastodon account"
    if author.get("bot"):
        return "a bot account on Mastodon"
    return None


def mention_length(text: str) -> int:
    """A status's length as Mastodon counts it: a mention by its username alone (the
    `@host` part is free), any link as 23 characters."""
    text = re.sub(r"https?://\S+", "x" * 23, text)
    return len(re.sub(r"(@[\w.-]+)@[\w.-]+\w", r"\1", text))
