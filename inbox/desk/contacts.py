"""Contacts: two records found to be one person, merged into one (issue #15).

Ingest makes a contact for each (channel, address) it has not seen before, so a person
who writes from a second address or channel is a second contact until an agent merges
the two. A contact is named only by `identity.contact_id` and `conversation.contact_id`
(the search index, the ingest batch's lookups and the SLA notices all reach a contact
through those), so moving both and deleting the other row leaves nothing pointing at it;
the foreign keys refuse anything else on both databases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.errors import Invalid, NotFound
from inbox.core.vocab import ID_MAX
from inbox.lang.choose import ContactLanguage, combine
from inbox.store.models import Contact, Conversation, Event, Identity, Survey

JSON = dict[str, Any]
MERGED = "contact.merged"  # the event left on each conversation that changed contact


class NoContact(NotFound):
    """The contact named does not exist (or was merged into another already)."""


class SameContact(Invalid):
    """A contact named twice: it cannot be merged into itself."""


def merge(s: Session, keep: int, other: int, *, by: str, now: datetime) -> JSON:
    """Make `other` part of `keep`: its identities and conversations move over, the two
    rows are combined (`combined`), each conversation moved gets a `contact.merged` event
    and the `other` row is deleted. Returns what moved:
    {"into", "from", "by", "identities": [{"channel", "address"}], "conversations": [ids]}.

    NoContact (NotFound) when either is missing, SameContact (Invalid) when they are one.
    """
    if keep == other:
        raise SameContact(f"contact {keep} cannot be merged into itself")
    kept, gone = _lock(s, keep, other)
    identities = _move_identities(s, other, keep)
    conversations = _move_conversations(s, other, keep)
    s.execute(sa.update(Survey).where(col(Survey.contact_id) == other)
              .values(contact_id=keep))  # who was asked lately: the one person
    for name, value in combined(kept, gone).items():
        setattr(kept, name, value)
    s.delete(gone)
    s.add_all(Event(conversation_id=cid, kind=MERGED, created_at=now,
                    detail={"from": other, "into": keep, "by": by}) for cid in conversations)
    s.flush()  # a refusal (a foreign key) is raised here, inside the caller's transaction
    return {"into": keep, "from": other, "by": by, "identities": identities,
            "conversations": conversations}


def _lock(s: Session, keep: int, other: int) -> tuple[Contact, Contact]:
    """Both rows, locked in id order on PostgreSQL (SQLite's writers take turns anyway),
    so two merges naming one contact never deadlock: the second waits for the first,
    then finds the row it deleted gone. An ingest giving `other` a new conversation or
    identity meanwhile waits on the same lock (its foreign key check), is refused by the
    foreign key once `other` is gone, and runs the message again: it finds `keep`."""
    found: dict[int, Contact] = {}
    for cid in sorted((keep, other)):
        row = s.get(Contact, cid, with_for_update=True) if 0 < cid <= ID_MAX else None
        if row is None:
            raise NoContact(f"no contact {cid}")
        found[cid] = row
    return found[keep], found[other]


def _move_identities(s: Session, other: int, keep: int) -> list[JSON]:
    rows = s.execute(sa.update(Identity).where(col(Identity.contact_id) == other)
                     .values(contact_id=keep)
                     .returning(col(Identity.id), col(Identity.channel),
                                col(Identity.address))).all()
    return [{"channel": r.channel, "address": r.address} for r in sorted(rows)]


def _move_conversations(s: Session, other: int, keep: int) -> list[int]:
    # Not `updated_at`: nothing happened in them, and the queue orders idle ones by it.
    ids = s.scalars(sa.update(Conversation).where(col(Conversation.contact_id) == other)
                    .values(contact_id=keep).returning(col(Conversation.id))).all()
    return sorted(i for i in ids if i is not None)


def combined(keep: Contact, other: Contact) -> JSON:
    """The kept row's values after the merge: its name unless it has none; every tag of
    both; VIP if either was; known since the earlier; the language facts as
    inbox.lang.choose.combine joins them (an agent's preference wins, keep's first)."""
    language = combine(_language(keep), _language(other))
    return {"name": keep.name if keep.name.strip() else other.name,
            "tags": list(dict.fromkeys([*keep.tags, *other.tags])),
            "vip": keep.vip or other.vip,
            "created_at": min(keep.created_at, other.created_at),
            "language": language.preferred, "language_source": language.preferred_source,
            "last_language": language.last, "last_language_count": language.last_count}


def _language(c: Contact) -> ContactLanguage:
    return ContactLanguage(c.language, c.language_source, c.last_language,
                           c.last_language_count)
