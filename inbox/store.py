"""SQL for the ingest hot path, in SQLAlchemy Core.

The pipeline touches a dozen rows per message; through the ORM's unit of work that cost
~7 ms a message. Here every statement is built once at import with bind parameters, so
each execution skips statement construction and cache-key work and goes straight to the
driver (docs/benchmarks.md). Reads and agent actions, which are not hot, use the ORM
models directly. Everything here runs on the caller's `Connection`, inside the caller's
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from inbox.models import Status

_T = SQLModel.metadata.tables
contact, identity, conversation = _T["contact"], _T["identity"], _T["conversation"]
message, attachment, outbox, event, cursor = (
    _T["message"], _T["attachment"], _T["outbox"], _T["event"], _T["cursor"])


@dataclass
class ConvState:
    """The pipeline's working copy of a conversation row; written back once per message."""

    channel: str
    account: str
    contact_id: int
    created_at: datetime
    updated_at: datetime
    id: int | None = None
    subject: str = ""
    status: str = Status.OPEN
    priority: str = "normal"
    team: str | None = None
    assignee: str | None = None
    tags: list[str] | None = None
    language: str | None = None
    thread_key: str | None = None
    sla_policy: str = "default"
    awaiting_since: datetime | None = None
    sla_due_at: datetime | None = None
    sla_warn_at: datetime | None = None
    sla_state: str | None = None
    sla_next_at: datetime | None = None
    first_response_at: datetime | None = None
    acked: bool = False


_CONV_COLUMNS = [f.name for f in fields(ConvState)]


@dataclass(frozen=True)
class ContactRef:
    id: int
    name: str
    tags: tuple[str, ...]
    vip: bool


def _p(name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name)


_INSERT = {t.name: t.insert().returning(t.c.id) for t in (contact, identity, conversation,
                                                           message, outbox)}
_MESSAGE_EXISTS = sa.select(message.c.id).where(
    message.c.channel == _p("channel"), message.c.account == _p("account"),
    message.c.external_id == _p("external_id"))
_FIND_CONTACT = (
    sa.select(contact.c.id, contact.c.name, contact.c.tags, contact.c.vip)
    .join(identity, identity.c.contact_id == contact.c.id)
    .where(identity.c.channel == _p("channel"), identity.c.address == _p("address")))
_NAME_CONTACT = sa.update(contact).where(contact.c.id == _p("cid")).values(name=_p("name"))
_LOAD_CONVERSATION = sa.select(*[conversation.c[n] for n in _CONV_COLUMNS]).where(
    conversation.c.id == _p("cid"))
_UPDATE_CONVERSATION = sa.update(conversation).where(conversation.c.id == _p("cid"))
_BY_REFERENCES = sa.select(message.c.external_id, message.c.conversation_id).where(
    message.c.channel == _p("channel"),
    message.c.external_id.in_(sa.bindparam("refs", expanding=True)),
    message.c.conversation_id.is_not(None))
_BY_THREAD_KEY = (
    sa.select(conversation.c.id)
    .where(conversation.c.channel == _p("channel"), conversation.c.account == _p("account"),
           conversation.c.thread_key == _p("key"),
           conversation.c.status.in_([Status.OPEN, Status.PENDING]))
    .order_by(conversation.c.id.desc()).limit(1))
_ACKS_SINCE = sa.select(sa.func.count()).select_from(outbox).where(
    outbox.c.recipient == _p("recipient"), outbox.c.kind == "ack",
    outbox.c.created_at > _p("since"))
_INSERT_EVENT = event.insert()
_INSERT_ATTACHMENT = attachment.insert()


def insert(conn: Connection, table: sa.Table, **values: Any) -> int:
    return int(conn.execute(_INSERT[table.name], values).scalar_one())


def add_attachments(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(_INSERT_ATTACHMENT, rows)


def message_exists(conn: Connection, channel: str, account: str, external_id: str) -> bool:
    params = {"channel": channel, "account": account, "external_id": external_id}
    return conn.execute(_MESSAGE_EXISTS, params).first() is not None


def find_contact(conn: Connection, channel: str, address: str) -> ContactRef | None:
    row = conn.execute(_FIND_CONTACT, {"channel": channel, "address": address}).first()
    return ContactRef(row.id, row.name, tuple(row.tags or ()), row.vip) if row else None


def create_contact(conn: Connection, channel: str, address: str, name: str,
                   now: datetime) -> ContactRef:
    contact_id = insert(conn, contact, name=name, tags=[], vip=False, created_at=now)
    insert(conn, identity, contact_id=contact_id, channel=channel, address=address, name=name)
    return ContactRef(contact_id, name, (), False)


def name_contact(conn: Connection, contact_id: int, name: str) -> None:
    conn.execute(_NAME_CONTACT, {"cid": contact_id, "name": name})


def load_conversation(conn: Connection, conv_id: int) -> ConvState | None:
    row = conn.execute(_LOAD_CONVERSATION, {"cid": conv_id}).first()
    return ConvState(**row._mapping) if row else None


def save_conversation(conn: Connection, conv: ConvState) -> None:
    values = {n: getattr(conv, n) for n in _CONV_COLUMNS if n != "id"}
    values["tags"] = values["tags"] or []
    if conv.id is None:
        conv.id = insert(conn, conversation, **values)
    else:
        conn.execute(_UPDATE_CONVERSATION, {"cid": conv.id, **values})


def conversation_by_references(conn: Connection, channel: str,
                               references: tuple[str, ...]) -> int | None:
    """The conversation of the nearest referenced message we know (the last one wins)."""
    rows = conn.execute(_BY_REFERENCES, {"channel": channel, "refs": list(references)}).all()
    by_id = {r.external_id: r.conversation_id for r in rows}
    return next((by_id[r] for r in reversed(references) if r in by_id), None)


def conversation_by_thread_key(conn: Connection, channel: str, account: str,
                               key: str) -> int | None:
    params = {"channel": channel, "account": account, "key": key}
    found: int | None = conn.execute(_BY_THREAD_KEY, params).scalar()
    return found


def acks_since(conn: Connection, recipient: str, since: datetime) -> int:
    return int(conn.execute(_ACKS_SINCE, {"recipient": recipient, "since": since}).scalar_one())


def add_event(conn: Connection, kind: str, now: datetime, *, conversation_id: int | None,
              message_id: int | None = None, **detail: Any) -> None:
    conn.execute(_INSERT_EVENT, {"conversation_id": conversation_id, "message_id": message_id,
                                 "kind": kind, "detail": detail, "created_at": now})


def save_cursor(conn: Connection, channel: str, account: str, value: str, *,
                now: datetime, key: str = "") -> None:
    """Insert or move a connector's cursor (an upsert on both databases)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(cursor).values(channel=channel, account=account, key=key,
                                         value=value, updated_at=now)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["channel", "account", "key"],
        set_={"value": value, "updated_at": now}))


_EXISTING_IDS = sa.select(message.c.channel, message.c.account, message.c.external_id).where(
    message.c.external_id.in_(sa.bindparam("ids", expanding=True)))
_CONTACTS_BY_ADDRESS = (
    sa.select(identity.c.channel, identity.c.address, contact.c.id, contact.c.name,
              contact.c.tags, contact.c.vip)
    .join(contact, identity.c.contact_id == contact.c.id)
    .where(identity.c.address.in_(sa.bindparam("addresses", expanding=True))))
_ACK_COUNTS = (
    sa.select(outbox.c.recipient, sa.func.count())
    .where(outbox.c.recipient.in_(sa.bindparam("recipients", expanding=True)),
           outbox.c.kind == "ack", outbox.c.created_at > _p("since"))
    .group_by(outbox.c.recipient))

MessageKey = tuple[str, str, str]  # (channel, account, external_id)
ContactKey = tuple[str, str]  # (channel, address)


class Batch:
    """The store as one ingest batch sees it: lookups answered from memory, appends deferred.

    `prefetch` asks the database once for everything a batch of messages will look up
    (which are already stored, who the senders are, how many acks each got today);
    events and attachment rows are written together by `flush`. That turns a dozen
    round trips per message into about six, which is what PostgreSQL's throughput
    depends on. Without `prefetch` (the per-message retry path after a failure) every
    call goes straight to the database, so a rolled-back SAVEPOINT leaves nothing stale.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.cached = False
        self.seen: set[MessageKey] = set()
        self.contacts: dict[ContactKey, ContactRef] = {}
        self.acks: dict[str, int] = {}
        self.events: list[dict[str, Any]] = []
        self.attachments: list[dict[str, Any]] = []

    def prefetch(self, keys: list[MessageKey], senders: list[ContactKey],
                 recipients: list[str], since: datetime) -> None:
        ids = sorted({k[2] for k in keys})
        self.seen = {(r.channel, r.account, r.external_id)
                     for r in self.conn.execute(_EXISTING_IDS, {"ids": ids})}
        wanted = set(senders)
        rows = self.conn.execute(_CONTACTS_BY_ADDRESS,
                                 {"addresses": sorted({a for _, a in senders})})
        self.contacts = {(r.channel, r.address): ContactRef(r.id, r.name, tuple(r.tags or ()),
                                                            r.vip)
                         for r in rows if (r.channel, r.address) in wanted}
        counts = self.conn.execute(_ACK_COUNTS, {"recipients": sorted(set(recipients)),
                                                 "since": since})
        self.acks = {r[0]: int(r[1]) for r in counts}
        self.cached = True

    def message_exists(self, key: MessageKey) -> bool:
        return key in self.seen if self.cached else message_exists(self.conn, *key)

    def saw(self, key: MessageKey) -> None:
        self.seen.add(key)

    def contact(self, channel: str, address: str) -> ContactRef | None:
        if self.cached:
            return self.contacts.get((channel, address))
        return find_contact(self.conn, channel, address)

    def new_contact(self, channel: str, address: str, name: str, now: datetime) -> ContactRef:
        ref = create_contact(self.conn, channel, address, name, now)
        self.contacts[(channel, address)] = ref
        return ref

    def name_contact(self, channel: str, address: str, ref: ContactRef,
                     name: str) -> ContactRef:
        name_contact(self.conn, ref.id, name)
        self.contacts[(channel, address)] = renamed = ContactRef(ref.id, name, ref.tags,
                                                                 ref.vip)
        return renamed

    def acks_today(self, recipient: str, since: datetime) -> int:
        if self.cached:
            return self.acks.get(recipient, 0)
        return acks_since(self.conn, recipient, since)

    def acked(self, recipient: str) -> None:
        self.acks[recipient] = self.acks.get(recipient, 0) + 1

    def add_event(self, kind: str, now: datetime, *, conversation_id: int | None,
                  message_id: int | None = None, **detail: Any) -> None:
        row = {"conversation_id": conversation_id, "message_id": message_id, "kind": kind,
               "detail": detail, "created_at": now}
        if self.cached:
            self.events.append(row)
        else:
            self.conn.execute(_INSERT_EVENT, row)

    def add_attachments(self, rows: list[dict[str, Any]]) -> None:
        if self.cached:
            self.attachments += rows
        else:
            add_attachments(self.conn, rows)

    def flush(self) -> None:
        if self.events:
            self.conn.execute(_INSERT_EVENT, self.events)
        if self.attachments:
            add_attachments(self.conn, self.attachments)
        self.events, self.attachments = [], []
