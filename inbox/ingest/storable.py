"""Make every value of an inbound message storable, on SQLite and PostgreSQL alike.

What a stranger sends decides what we write, so before any step runs each text is made
safe to store (`storable`):

* NUL, which PostgreSQL's text type refuses, and lone surrogates, which no UTF-8 encoder
  accepts, become U+FFFD;
* values that are indexed (external ids, references, thread keys, addresses) have a
  bounded stored form: past `MAX_KEY` characters, a stable digest `sha256:<hex>` of the
  value, so a reply that cites a giant Message-ID still finds the message it answers;
* free text is cut at a size no person writes (the whole message stays in the raw bytes).

Any change is listed in the message's `problems`, so it is flagged for a human and not
acknowledged: a message that needed this was not written by an ordinary mail client.
The raw bytes are never touched. `storable` is idempotent and cheap when nothing needs
doing (one C-speed scan per text).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from channels.base import MAX_KEY, Address, Inbound, InboundAttachment, bounded_key

MAX_NAME = 500
MAX_SUBJECT = 2000
MAX_HEADER = 16_000
MAX_TEXT = 1_000_000
MAX_HTML = 2_000_000
MAX_REFERENCES = 50  # the root and the nearest 49: what threading can use
MAX_RECIPIENTS = 500

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean(text: str) -> str:
    """The text with NUL and lone surrogates replaced by U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)


class _Fixer:
    """Cleans and bounds values, noting each kind of change once."""

    def __init__(self) -> None:
        self.problems: dict[str, None] = {}  # ordered, without repeats

    def text(self, value: str, limit: int, what: str) -> str:
        if _UNSTORABLE.search(value):
            self.problems["NUL or unpaired surrogate characters replaced with U+FFFD"] = None
            value = clean(value)
        if len(value) > limit:
            self.problems[f"{what} over {limit:,} characters cut (the raw message has all)"] \
                = None
            value = value[:limit]
        return value

    def optional(self, value: str | None, limit: int, what: str) -> str | None:
        return None if value is None else self.text(value, limit, what)

    def key(self, value: str, what: str) -> str:
        if len(value) > MAX_KEY:
            self.problems[f"{what} over {MAX_KEY} characters stored as its SHA-256"] = None
            return bounded_key(value)
        return self.text(value, MAX_KEY, what)

    def address(self, a: Address) -> Address:
        address, name = self.key(a.address, "address"), self.text(a.name, MAX_NAME, "name")
        return a if (address, name) == (a.address, a.name) else Address(address, name)

    def references(self, refs: Iterable[str]) -> tuple[str, ...]:
        found = list(dict.fromkeys(self.key(r, "referenced id") for r in refs))
        if len(found) > MAX_REFERENCES:
            self.problems[f"more than {MAX_REFERENCES} references: kept the first and "
                          "the nearest"] = None
            found = [found[0], *found[-(MAX_REFERENCES - 1):]]
        return tuple(found)

    def mapping(self, values: Mapping[str, str], limit: int) -> dict[str, str]:
        return {self.text(k, 200, "header name"): self.text(v, limit, "header")
                for k, v in values.items()}

    def attachment(self, a: InboundAttachment) -> InboundAttachment:
        fixed = (self.text(a.filename, MAX_NAME, "file name"),
                 self.text(a.content_type, MAX_KEY, "content type"),
                 self.optional(a.content_id, MAX_KEY, "content id"))
        if fixed == (a.filename, a.content_type, a.content_id):
            return a
        return dataclasses.replace(a, filename=fixed[0], content_type=fixed[1],
                                   content_id=fixed[2])


def storable(i: Inbound) -> Inbound:
    """`i` with every value safe to store; changes listed in `problems`."""
    f = _Fixer()
    earlier = tuple(f.text(p, 1000, "problem") for p in i.problems)
    recipients = i.recipients
    if len(recipients) > MAX_RECIPIENTS:
        f.problems[f"more than {MAX_RECIPIENTS} recipients: the rest are in the raw "
                   "message"] = None
        recipients = recipients[:MAX_RECIPIENTS]
    fields: dict[str, Any] = dict(
        account=f.text(i.account, MAX_KEY, "account"),
        external_id=f.key(i.external_id, "message id"),
        sender=f.address(i.sender),
        text=f.text(i.text, MAX_TEXT, "text"),
        subject=f.optional(i.subject, MAX_SUBJECT, "subject"),
        html=f.optional(i.html, MAX_HTML, "HTML body"),
        recipients=tuple(f.address(a) for a in recipients),
        references=f.references(i.references),
        thread_key=None if i.thread_key is None else f.key(i.thread_key, "thread key"),
        headers=f.mapping(i.headers, MAX_HEADER),
        attachments=tuple(f.attachment(a) for a in i.attachments),
        language=f.optional(i.language, 35, "language"),
        edit_of=None if i.edit_of is None else f.key(i.edit_of, "edited message id"),
        attributes=f.mapping(i.attributes, MAX_NAME),
    )
    if not f.problems:  # the common case: nothing built, the message itself returned
        return i
    return dataclasses.replace(i, **fields, problems=(*earlier, *f.problems))
