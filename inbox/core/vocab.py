"""The store's closed vocabularies (conversation statuses, message kinds, directions,
delivery and outbox states) and how listings write a time.

Kept apart from the tables so that light commands (`inbox sla`, `inbox --help`) can name
them without loading SQLAlchemy.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

# Ids are INTEGER columns, 32 bits on PostgreSQL: a larger id names nothing, and asking
# for it would be the database's error, not a "not found".
ID_MAX = 2**31 - 1


def iso(value: datetime | None) -> str | None:
    """A time in a `--json` listing (docs/cli-json.md): ISO 8601 UTC with a Z."""
    return value.isoformat().replace("+00:00", "Z") if value else None


class Status(StrEnum):
    OPEN = "open"
    PENDING = "pending"  # waiting on the customer: the SLA clock is paused
    SNOOZED = "snoozed"  # put aside until `snoozed_until`: the SLA clock is paused
    RESOLVED = "resolved"
    CLOSED = "closed"


class Kind(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    AUTO_ACK = "auto-ack"
    NOTE = "note"
    SYSTEM = "system"
    SURVEY = "survey"  # how did it go? (inbox.csat), sent to the customer


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class Delivery(StrEnum):
    """Delivery state of an outgoing message, mirrored from its outbox row."""

    NONE = "none"  # inbound messages and notes
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # a try failed, another will come
    DEAD = "dead"


class OutboxState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


# The tag of a conversation only robots have written to: it stays out of the default queue.
AUTOMATED = "automated"
# Channels whose messages to the customer go out as e-mail (`api`: through its relay):
# they carry a Subject with our reference, an HTML part, and e-mail's templates.
MAIL_CHANNELS = frozenset({"email", "api"})


def template_channel(channel: str) -> str:
    """Which channel's templates a customer's message on `channel` is written from."""
    return "email" if channel in MAIL_CHANNELS else channel


NO_CSAT = "no-csat"  # a conversation never surveyed (rule action `skip_csat`, or by hand)


class Role(StrEnum):
    """What an agent may do (inbox.desk.accounts.can): each role adds to the one before."""

    AGENT = "agent"  # works the queue
    SUPERVISOR = "supervisor"  # also sees every team, reassigns, receives escalations
    ADMIN = "admin"  # also manages agents, teams, canned answers; retries dead sends
