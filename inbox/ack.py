"""Loop protection: one pure function decides whether a message may be acknowledged.

Answering a robot is how mail loops start, so the default is caution: any sign that the
message was sent automatically, to a list, or by us, and no acknowledgement goes out.
Every "no" carries a reason that ends up in the conversation's event trail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_ROBOT_LOCALPARTS = re.compile(
    r"^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?"
    r"|auto[-_.]?reply|autoresponder)([+-].*)?$"
)
_BULK_PRECEDENCE = {"bulk", "list", "junk", "auto_reply"}


@dataclass(frozen=True)
class AckFacts:
    """All that loop protection may look at, gathered by the pipeline."""

    sender: str
    headers: Mapping[str, str]
    external_id: str
    # True while nobody, human or robot, has answered the conversation yet.
    unanswered: bool
    conversation_acked: bool
    acks_to_sender_today: int
    daily_cap: int
    our_addresses: frozenset[str] = field(default_factory=frozenset)
    our_domain: str = ""
    enabled: bool = True
    skipped_by_rule: str | None = None


@dataclass(frozen=True)
class AckDecision:
    ok: bool
    reason: str


def can_acknowledge(facts: AckFacts) -> AckDecision:
    """Whether to send an automatic acknowledgement, and why (not)."""
    for check in (_policy, _robot, _ours, _once):
        reason = check(facts)
        if reason is not None:
            return AckDecision(False, reason)
    return AckDecision(True, "first human message of an unanswered conversation")


def _policy(f: AckFacts) -> str | None:
    if not f.enabled:
        return "acknowledgements are disabled in the configuration"
    if f.skipped_by_rule:
        return f"rule {f.skipped_by_rule!r} skips the acknowledgement"
    return None


def _robot(f: AckFacts) -> str | None:
    return automatic(f.sender, f.headers)


def automatic(sender: str, headers: Mapping[str, str]) -> str | None:
    """Why a message looks sent by a machine (None: by a person, as far as we can tell)."""
    return _robot_headers(headers) or _robot_sender(sender)


def _robot_headers(h: Mapping[str, str]) -> str | None:  # noqa: PLR0911  (one per signal)
    auto = h.get("auto-submitted", "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto} (RFC 3834: never answer automatic mail)"
    for name in ("x-autoreply", "x-autorespond", "x-auto-response-suppress"):
        if name in h:
            return f"{name} header present: sent by or for an autoresponder"
    precedence = h.get("precedence", "").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    for name in ("list-id", "list-unsubscribe"):
        if name in h:
            return f"{name} header present: mailing-list traffic"
    if h.get("return-path", "missing").strip() in ("<>", ""):
        return "empty Return-Path: a bounce or other automatic notice"
    if h.get("content-type", "").lower().startswith("multipart/report"):
        return "delivery or read report (multipart/report)"
    return None


def _robot_sender(sender: str) -> str | None:
    if not sender:
        return "no sender address"
    local = sender.rsplit("@", 1)[0].lower()
    if _ROBOT_LOCALPARTS.match(local):
        return f"sender {sender} is a robot address"
    return None


def _ours(f: AckFacts) -> str | None:
    if f.sender.lower() in f.our_addresses:
        return f"sender {f.sender} is one of our own addresses"
    # Exactly the form `pipeline.enqueue` gives our ids, 32 hex digits @ our domain: the
    # domain alone is not enough, as a customer's mail without a Message-ID gets a
    # synthetic id (channels.mime) in the default domain `inbox.invalid` too.
    local, _, domain = f.external_id.lower().rpartition("@")
    if f.our_domain and domain == f.our_domain.lower() and re.fullmatch("[0-9a-f]{32}", local):
        return "the message carries one of our own Message-IDs"
    if "x-inbox-ref" in f.headers:
        return "the message was sent by an inbox installation (X-Inbox-Ref)"
    return None


def _once(f: AckFacts) -> str | None:
    if f.conversation_acked:
        return "the conversation was already acknowledged"
    if not f.unanswered:
        return "the conversation already has an answer from us"
    if f.acks_to_sender_today >= f.daily_cap:
        return (f"{f.sender} already got {f.acks_to_sender_today} acknowledgements "
                f"in 24 hours (cap {f.daily_cap})")
    return None
