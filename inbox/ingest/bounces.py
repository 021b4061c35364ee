"""Delivery reports about mail we sent: the address is marked unreachable.

A bounce (RFC 3464 DSN: multipart/report with a message/delivery-status part) that
cites one of our own Message-IDs tells us a customer's address does not work. The
pipeline step `record_bounce` runs before threading: it files the report in the
conversation of the mail it is about, as a system message (so the agent sees it there,
not as a new conversation from MAILER-DAEMON, and a reply never goes to the robot),
marks each failed recipient's identity unreachable so that nobody queues replies into
the void, and leaves a `bounce` event. A report about mail that is not ours goes on
through the pipeline like any other robot's message (stored, never acknowledged).

Only recipients of the cited message are marked: a forged report cannot make us give up
on an address we never wrote to in that message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import TYPE_CHECKING

import sqlalchemy as sa

from channels.base import Inbound
from inbox.core.vocab import Delivery, Direction, Kind
from inbox.store import batch as store
from inbox.store.blobs import offload

if TYPE_CHECKING:
    from inbox.ingest.work import Work

_STATUS_PARTS = ("message/delivery-status", "message/global-delivery-status")
_ORIGINAL_PARTS = ("message/rfc822", "text/rfc822-headers", "message/global",
                   "message/global-headers")
_BLOCKS = re.compile(rb"\r?\n[ \t]*\r?\n")

_SENT = sa.select(store.message.c.conversation_id, store.message.c.recipients).where(
    store.message.c.channel == sa.bindparam("channel"),
    store.message.c.external_id == sa.bindparam("external_id"),
    store.message.c.direction == Direction.OUT)
# Bind names differ from the column names: UPDATE reserves those for its SET values.
_UNREACHABLE = sa.update(store.identity).where(
    store.identity.c.channel == sa.bindparam("in_channel"),
    store.identity.c.address == sa.bindparam("the_address")).values(
    unreachable=sa.bindparam("why"))


@dataclass(frozen=True)
class Failure:
    address: str
    reason: str


@dataclass(frozen=True)
class Report:
    original: str | None  # the Message-ID of the mail the report is about
    failures: tuple[Failure, ...]


def read_report(inbound: Inbound) -> Report | None:
    """What a delivery report says, or None when the message is not one."""
    if not inbound.headers.get("content-type", "").lower().startswith("multipart/report"):
        return None
    failures: list[Failure] = []
    original = None
    for part in inbound.attachments:
        ctype = part.content_type.lower()
        if ctype in _STATUS_PARTS:
            failures += _failures(part.data)
        elif ctype in _ORIGINAL_PARTS and original is None:
            original = _message_id(part.data)
    if not failures and "x-failed-recipients" in inbound.headers:  # Exim's own header
        failures = [Failure(addr.lower(), "bounced")
                    for _, addr in getaddresses([inbound.headers["x-failed-recipients"]])
                    if "@" in addr]
    return Report(original, tuple(failures))


def _failures(data: bytes) -> list[Failure]:
    """Recipients whose Action is `failed` (not `delayed`, `relayed`, `delivered`)."""
    found = []
    for block in _BLOCKS.split(data.strip()):  # per-message fields carry no Action
        fields = BytesHeaderParser(policy=compat32).parsebytes(block.strip() + b"\n")
        if str(fields.get("action", "")).strip().lower() != "failed":
            continue
        recipient = str(fields.get("final-recipient") or fields.get("original-recipient")
                        or "")
        address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
        if "@" not in address:
            continue
        status = str(fields.get("status", "")).strip()
        diagnostic = " ".join(str(fields.get("diagnostic-code", "")).split())
        reason = " ".join(p for p in ("bounced:", status, diagnostic) if p)
        found.append(Failure(address, reason[:500]))
    return found


def _message_id(data: bytes) -> str | None:
    end = re.search(rb"\r?\n\r?\n", data)
    headers = BytesHeaderParser(policy=compat32).parsebytes(data[: end.start()] if end
                                                            else data)
    ids = re.findall(r"<([^<>\s]+)>", str(headers.get("message-id", "")))
    return ids[0] if ids else None


def record_bounce(w: Work) -> None:
    """Pipeline step: a report about our mail is filed in that mail's conversation as a
    system message, and the addresses it proves dead are marked unreachable.

    The run ends here: a report is not the customer talking, so it neither starts the
    SLA clock nor becomes what an agent's reply answers, and it is never acknowledged.
    """
    report = read_report(_with_parts(w))
    if report is None or report.original is None:
        return
    sent = w.conn.execute(_SENT, {"channel": w.inbound.channel,
                                  "external_id": report.original}).first()
    if sent is None:
        return  # not about our mail: an ordinary (robot) message
    w.conversation = w.db.load_conversation(sent.conversation_id)
    w.message_id = _store_report(w, sent.conversation_id, report.original)
    for failure in _ours(report.failures, sent.recipients or ()):
        w.conn.execute(_UNREACHABLE, {"in_channel": w.inbound.channel,
                                      "the_address": failure.address,
                                      "why": failure.reason})
        w.db.add_event("bounce", w.now, conversation_id=sent.conversation_id,
                       message_id=w.message_id, recipient=failure.address,
                       reason=failure.reason, about=report.original)
    w.done = True


def _with_parts(w: Work) -> Inbound:
    """The message with its parts' bytes: connectors and the importer hand the pipeline
    messages whose bytes are already in the blob store; a report is read again from there
    (reports are rare, and only their small parts matter)."""
    i = w.inbound
    if (i.raw is None and i.raw_sha256 is not None and i.attachments
            and not any(a.data for a in i.attachments)
            and i.headers.get("content-type", "").lower().startswith("multipart/report")
            and (parse := w.ctx.parsers.get(i.channel)) is not None):
        return parse(w.ctx.blobs.get(i.raw_sha256), i.account, i.received_at)
    return i


def _store_report(w: Work, conversation_id: int, original: str) -> int:
    i = w.inbound = offload(w.inbound, w.ctx.blobs, w.ctx.max_attachment_bytes)
    message_id = store.insert(
        w.conn, store.message, conversation_id=conversation_id, channel=i.channel,
        account=i.account, external_id=i.external_id, direction=Direction.IN,
        kind=Kind.SYSTEM, sender=i.sender.address, sender_name=i.sender.name,
        recipients=[a.address for a in i.recipients], subject=i.subject, text=i.text,
        html=i.html, references=[*i.references, original], headers=dict(i.headers),
        raw_sha256=i.raw_sha256, problems=list(i.problems), delivery=Delivery.NONE,
        created_at=i.received_at)
    w.db.saw(w.key)
    return message_id


def _ours(failures: Iterable[Failure], recipients: Iterable[str]) -> list[Failure]:
    wrote_to = {r.lower() for r in recipients}
    return [f for f in failures if f.address in wrote_to]
